#!/usr/bin/env bash
# sensors-pg.sh - the flow collector and the log watcher recording into a
# shared PostgreSQL, as on the scaled-out layout (README, "Scaling out"):
# botsentry-flowd reads the generated pcap fixture, botsentry-logwatch a
# Postfix log with password guessing, once into SQLite and once into
# PostgreSQL.  Both backends must end with the same events (time, source,
# kind, subscriber, address, score) and the same incidents.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/flowd.sh"
. "$top_srcdir/t/lib/pg.sh"
need_cmd sqlite3 python3
[ -x "$BOTSENTRY_FLOWD" ] || skip_all "botsentry-flowd not built"
[ -x "$BOTSENTRY_LOGWATCH" ] || skip_all "botsentry-logwatch not built"
grep -q "^#define HAVE_PCAP 1" "$top_builddir/config.h" || skip_all "built without libpcap"
grep -q '^#define HAVE_POSTGRESQL 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without PostgreSQL (configure --with-postgresql)"
pg_start

$PCAPGEN fixture "$T/fixture.pcap"; ok $? "pcapgen wrote the flow fixture"
# 400 failed logins from 8 addresses, one every 3 seconds
for i in $(seq 1 400); do
  printf 'Nov 26 14:%02d:%02d smarthost postfix/submission/smtpd[77]: warning: unknown[198.51.100.%d]: SASL PLAIN authentication failed: authentication failure, sasl_username=user-%d\n' \
    $(( (i * 3 / 60) % 60 )) $(( i * 3 % 60 )) $(( i % 8 + 1 )) "$i"
done >"$T/mail.log"

# run BACKEND DATABASE_URI: both sensors into that database
run() {
  local b=$1 uri=$2 conf=$T/$1.conf
  flowd_conf "$conf" "unused"
  sed -i "s|^database = .*|database = \"$uri\"|" "$conf"
  printf 'logwatch {\n  timezone = "UTC"\n  auth_bruteforce { failures = 20 }\n}\n' >>"$conf"
  "$BOTSENTRY" -c "$conf" db init >"$T/$b.init" 2>&1 || { cat "$T/$b.init" >&2; return 1; }
  cat >"$T/leases.csv" <<'CSV'
prefix,subscriber,valid_from,valid_to
100.64.2.20/32,bob,2023-11-14T00:00:00Z,2023-11-14T23:00:00Z
100.64.2.20/32,mallory,2023-11-14T23:00:00Z,
2001:db8:0:100::/56,carol,2023-11-01T00:00:00Z,
CSV
  "$BOTSENTRY" -c "$conf" leases import --format csv "$T/leases.csv" >>"$T/$b.init" 2>&1 || return 1
  "$BOTSENTRY_FLOWD" -c "$conf" -r "$T/fixture.pcap" >"$T/$b.flowd" 2>&1 || { cat "$T/$b.flowd" >&2; return 1; }
  "$BOTSENTRY_LOGWATCH" -c "$conf" -r "$T/mail.log" >"$T/$b.logwatch" 2>&1 || { cat "$T/$b.logwatch" >&2; return 1; }
}
EV_SQL="SELECT ts_ms || '|' || source || '|' || kind || '|' || subscriber || '|' || coalesce(client_ip, '') || '|' ||
  CAST(round(score * 1000) AS integer) FROM events ORDER BY ts_ms, source, kind, client_ip"
INC_SQL="SELECT subscriber || '|' || state || '|' || level || '|' || event_count || '|' || sources
  FROM incidents ORDER BY subscriber"

run sqlite "sqlite:$T/bs.db"; ok $? "flowd and logwatch recorded into SQLite"
run pg "$PG_URI"; ok $? "flowd and logwatch recorded into PostgreSQL"
sqlite3 -batch -noheader "$T/bs.db" "$EV_SQL" >"$T/ev.sqlite"
pg_psql "$EV_SQL" >"$T/ev.pg"
sqlite3 -batch -noheader "$T/bs.db" "$INC_SQL" >"$T/inc.sqlite"
pg_psql "$INC_SQL" >"$T/inc.pg"

is "$(grep -c '|flow|direct_mx|' "$T/ev.pg")" 2 "PostgreSQL: flowd's two bots (bob and carol)"
n=$(grep -c '|logwatch|auth_bruteforce|' "$T/ev.pg")
[ "$n" -ge 8 ]; ok $? "PostgreSQL: logwatch's password guessers, one per address at least ($n events)"
is "$(cut -d'|' -f2- "$T/ev.pg" | grep -c '^flow|direct_mx|bob|100.64.2.20|')" 1 \
  "bob's event attributed through the lease history at traffic time"
if cmp -s "$T/ev.sqlite" "$T/ev.pg"; then ok 0 "the same $(wc -l <"$T/ev.pg") events in both databases"
else ok 1 "the same events in both databases"; diff "$T/ev.sqlite" "$T/ev.pg" | head -20 | sed 's/^/# /'; fi
if cmp -s "$T/inc.sqlite" "$T/inc.pg"; then ok 0 "the same $(wc -l <"$T/inc.pg") incidents in both databases"
else ok 1 "the same incidents in both databases"; diff "$T/inc.sqlite" "$T/inc.pg" | head -20 | sed 's/^/# /'; fi

# flowd -r against a database that does not answer: it reads the file, waits
# the writer's 30 s for the database at exit, says what it could not
# record, and exits 75 (EX_TEMPFAIL); the retries sleep while it waits
sed "s|^database = .*|database = \"postgresql://postgres@127.0.0.1:$(free_port)/none\"|" "$T/pg.conf" >"$T/away.conf"
"$BOTSENTRY_FLOWD" -c "$T/away.conf" -r "$T/fixture.pcap" >"$T/away.out" 2>&1
is "$?" 75 "flowd -r with the database away exits 75 after its flush timeout"
like "$(cat "$T/away.out")" "2 events of the last batch and 0 queued events not recorded" "... saying how many events it gave up"
like "$(cat "$T/away.out")" "kind=direct_mx" "... which are in its log"
n=$(wc -l <"$T/away.out")
[ "$n" -lt 60 ]; ok $? "no retry storm while stopping ($n log lines)"

done_testing
