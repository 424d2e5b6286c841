#!/usr/bin/env bash
# cli-pg.sh - the abuse desk's command on a PostgreSQL database: db init and
# migrate, subscribers and leases import, events from two sources giving one
# incident, attribution by lease, incidents list/show, allowlist, stats.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/cli.sh"
. "$top_srcdir/t/lib/pg.sh"

grep -q '^#define HAVE_POSTGRESQL 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without PostgreSQL (configure --with-postgresql)"
PG_OPTS="-c fsync=off"
pg_start

# the same helpers as t/lib/cli.sh, on the server
bs() {
  local o e
  o=$T/.out; e=$T/.err
  "$BOTSENTRY" -c "$CONF" -d "$PG_URI" "$@" >"$o" 2>"$e"
  RC=$?
  OUT=$(cat "$o"); ERR=$(cat "$e")
  return 0
}
db() { pg_psql "$1"; }

bs db init
is "$RC" 0 "db init succeeds"
like "$OUT$ERR" "created|version" "db init reports what it did"
latest=$(db "SELECT max(version) FROM schema_version")
is "$latest" 5 "every PostgreSQL migration applied"
bs db migrate
is "$RC" 0 "db migrate on a current database"
like "$OUT" "schema is current: version $latest" "db migrate reports the version"
bs db version --json
is "$(jq_py 'j["version"] == j["latest"] and j["current"]')" true "db version --json"

cat >"$T/subs.csv" <<'CSV'
id,email,name,login
alice,alice@example.net,Alice Example,alice.login
bob,bob@example.net,"Bob, Jr.",
CSV
bs subscribers import "$T/subs.csv"
is "$RC" 0 "subscribers import"
is "$(db "SELECT count(*) FROM subscribers")" 2 "two subscribers stored"
cat >"$T/leases.csv" <<'CSV'
prefix,subscriber,valid_from,valid_to
100.64.1.10,alice,2026-01-01T00:00:00Z,2026-12-31T00:00:00Z
100.64.2.20/32,bob,2026-01-01,
CSV
bs leases import --format csv "$T/leases.csv"
is "$RC" 0 "leases import csv"
is "$(db "SELECT count(*) FROM leases")" 2 "two leases stored"

now=$(date +%s)
bs event add --subscriber alice --source milter --kind rate --score 12 --time $((now - 60)) \
  --evidence '{"messages":140,"window":"10m"}' --json
is "$RC" 0 "event add (milter)"
inc=$(jq_py 'j["incident_id"]')
is "$(jq_py 'j["new_incident"], j["level"]')" "(True, 1)" "first event opens an incident at level 1"
bs event add --subscriber alice --source flow --kind direct_mx --score 25 --json
is "$(jq_py 'j["incident_id"]')" "$inc" "second source joins the same incident"
is "$(jq_py 'j["level_before"], j["level"]')" "(1, 2)" "level rises 1 -> 2"
is "$(db "SELECT count(*) FROM notifications WHERE incident_id=$inc")" 2 "one outbox row per level change"
bs event add --ip 100.64.2.20 --source logwatch --kind auth_bruteforce --score 5 --json
is "$(jq_py 'j["subscriber"], j["attributed_by"]')" "('bob', 'lease')" "event by IP attributed through the lease"

bs incidents list --json
is "$RC" 0 "incidents list --json"
is "$(jq_py 'len(j)')" 2 "two incidents listed"
is "$(jq_py '[i for i in j if i["id"]=='"$inc"'][0]["kinds"]')" "['direct_mx', 'rate']" "kinds as a sorted list"
bs incidents list --kind direct_mx --json
is "$(jq_py '[i["id"] for i in j]')" "[$inc]" "filter by kind"
bs incidents show "$inc" --json
is "$RC" 0 "incidents show --json"
is "$(jq_py 'len(j["events"]), j["events"][0]["evidence"]["messages"], j["subscriber"]["email"]')" "(2, 140, 'alice@example.net')" "events with evidence, subscriber contact"

bs allowlist add --subscriber bob --reason "test account"
is "$RC" 0 "allowlist add"
bs allowlist list --json
is "$(jq_py 'len(j)')" 1 "allowlist list shows the entry"
bs stats --json
is "$RC" 0 "stats on PostgreSQL"

done_testing
