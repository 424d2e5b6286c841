#!/bin/bash
# The foundation scenario through the CLI on a real SQLite file: db init
# (database and secret), subscribers and leases import, events from two
# sources for one subscriber giving one incident with the right level and
# one outbox row per level change, attribution by lease, and the JSON of
# incidents list/show.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/cli.sh"

# db init: database and secret, 0600, and it says so
bs db init
is "$RC" 0 "db init succeeds"
like "$OUT" "created the database" "db init says it created the database"
like "$OUT" "created a fresh secret file $T/secret \(mode 0600\)" "db init says it created the secret"
is "$(stat -c %a "$DB")" 600 "database file is mode 0600"
is "$(stat -c %a "$T/secret")" 600 "secret file is mode 0600"
latest=$(db "SELECT max(version) FROM schema_version")
bs db init
is "$RC" 0 "db init again succeeds"
like "$OUT" "exists and is current" "db init again changes nothing"
like "$OUT" "secret file .* exists" "and keeps the secret"
bs db migrate
is "$RC" 0 "db migrate on a current database"
like "$OUT" "schema is current: version $latest" "db migrate reports the version"
bs db version --json
is "$(jq_py 'j["version"] == j["latest"] and j["current"]')" true "db version --json"
db "SELECT 1 FROM allowlist LIMIT 0; SELECT 1 FROM fbl_complaints LIMIT 0" >/dev/null
ok $? "the desk migration created its tables"

# subscribers and leases
cat >"$T/subs.csv" <<'CSV'
id,email,name,login
alice,alice@example.net,Alice Example,alice.login
bob,bob@example.net,"Bob, Jr.",
CSV
bs subscribers import "$T/subs.csv"
is "$RC" 0 "subscribers import"
is "$(db "SELECT count(*) FROM subscribers")" 2 "two subscribers stored"
is "$(db "SELECT name FROM subscribers WHERE id='bob'")" "Bob, Jr." "quoted CSV field kept whole"

cat >"$T/leases.csv" <<'CSV'
prefix,subscriber,valid_from,valid_to
100.64.1.10,alice,2026-01-01T00:00:00Z,2026-12-31T00:00:00Z
100.64.2.20/32,bob,2026-01-01,
CSV
bs leases import --format csv "$T/leases.csv"
is "$RC" 0 "leases import csv"
like "$OUT" "imported 2 lease" "leases import reports the count"
is "$(db "SELECT count(*) FROM leases")" 2 "two leases stored"

# Kea memfile
cat >"$T/kea.csv" <<'CSV'
address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context
100.64.3.30,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,0,{ "sub": "carol" }
CSV
bs leases import --subscriber-from user_context:sub "$T/kea.csv"
is "$RC" 0 "leases import kea (auto-detected)"
is "$(db "SELECT subscriber || ' ' || source FROM leases WHERE prefix LIKE '100.64.3.30%'")" "carol kea" "kea lease attributed by user_context"

# events from two sources for one subscriber: one incident, right level,
# one outbox row per level change
now=$(date +%s)
bs event add --subscriber alice --source milter --kind rate --score 12 --time $((now - 60)) \
  --evidence '{"messages":140,"window":"10m","helo":["pc.local"]}' --json
is "$RC" 0 "event add (milter)"
inc=$(jq_py 'j["incident_id"]')
is "$(jq_py 'j["new_incident"]')" true "first event opens an incident"
is "$(jq_py 'j["level"]')" 1 "score 12 is level 1"
bs event add --subscriber alice --source flow --kind direct_mx --score 25 --json
is "$(jq_py 'j["incident_id"]')" "$inc" "second source joins the same incident"
is "$(jq_py 'j["level_before"], j["level"]')" "(1, 2)" "level rises 1 -> 2"
bs event add --subscriber alice --source flow --kind direct_mx --score 1
like "$OUT" "^event [0-9]+ -> incident $inc, level 2, score" "a small event keeps the level (text output)"
is "$(db "SELECT count(*) FROM incidents")" 1 "one incident"
is "$(db "SELECT count(*) FROM incidents WHERE subscriber='alice' AND level=2")" 1 "incident is alice's at level 2"
is "$(db "SELECT count(*) FROM notifications WHERE incident_id=$inc")" 2 "one outbox row per level change (2)"
is "$(db "SELECT group_concat(level) FROM (SELECT level FROM notifications WHERE incident_id=$inc ORDER BY id)")" "1,2" "outbox rows for levels 1 and 2"

# attribution by lease at the event's time; unattributed otherwise
bs event add --ip 100.64.2.20 --source logwatch --kind auth_bruteforce --score 5 --json
is "$(jq_py 'j["subscriber"], j["attributed_by"]')" "('bob', 'lease')" "event by IP attributed through the lease"
bs event add --ip 100.64.1.10 --time 2025-06-01T00:00:00Z --source flow --kind direct_mx --score 5 --json
is "$(jq_py 'j["subscriber"], j["attributed_by"]')" "('', 'unattributed')" "outside the lease's time: unattributed"
is "$(db "SELECT subscriber FROM incidents WHERE id=$(jq_py 'j["incident_id"]')")" "ip:100.64.1.10" "unattributed incident keyed by IP"

# incidents list / show, JSON shape
bs incidents list --json
is "$RC" 0 "incidents list --json"
is "$(jq_py 'len(j)')" 3 "three incidents listed"
is "$(jq_py 'sorted(j[0].keys()) == sorted(["id","subscriber","state","level","score","opened","opened_ms","updated","updated_ms","closed","closed_ms","event_count","kinds","sources","ticket"])')" true "incident JSON has exactly the documented fields"
is "$(jq_py '[i for i in j if i["id"]=='"$inc"'][0]["kinds"]')" "['direct_mx', 'rate']" "kinds as a sorted list"
bs incidents show "$inc" --json
is "$RC" 0 "incidents show --json"
is "$(jq_py 'sorted(j.keys())')" "['audit', 'events', 'incident', 'notifications', 'score_timeline', 'subscriber']" "show JSON sections"
is "$(jq_py 'len(j["events"]), j["events"][0]["evidence"]["messages"], j["subscriber"]["email"]')" "(3, 140, 'alice@example.net')" "events with evidence, subscriber contact"
is "$(jq_py '[t["level"] for t in j["score_timeline"]]')" "[1, 2, 2]" "score over time follows the levels"
is "$(jq_py 'sorted(j["notifications"][0].keys())')" "['attempts', 'channel', 'created', 'id', 'kind', 'last_error', 'level', 'next_attempt', 'status']" "notification JSON fields"
is "$(jq_py 'sorted(j["events"][0].keys())')" "['client_ip', 'evidence', 'id', 'kind', 'node', 'score', 'source', 'time', 'time_ms']" "event JSON fields"
bs incidents show "$inc"
like "$OUT" "helo=pc.local, messages=140, window=10m" "text show renders evidence readably"
like "$OUT" "notifications \(2\)" "text show lists the notifications"
bs incidents show 999
is "$RC" 1 "unknown incident: exit 1"
like "$ERR" "no incident 999" "and says so"
done_testing
