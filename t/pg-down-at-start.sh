#!/usr/bin/env bash
# pg-down-at-start.sh - a smarthost that boots while the shared PostgreSQL
# is away (maintenance, a network not up yet): botsentry-milter and
# botsentry-logwatch start all the same, the milter answers mail, both
# queue their events, and when the server comes up the events are recorded
# (the milter's rate event and the watcher's password guesser), the
# milter's lease history is loaded, and the logins are looked up again.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/milter.sh"
. "$top_srcdir/t/lib/pg.sh"
[ -x "$BOTSENTRY_MILTER" ] || skip_all "botsentry-milter not built"
[ -x "$BOTSENTRY_LOGWATCH" ] || skip_all "botsentry-logwatch not built"
[ -x "$BS_MILTER_REPLAY" ] || skip_all "bs-milter-replay not built"
grep -q '^#define HAVE_POSTGRESQL 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without PostgreSQL (configure --with-postgresql)"
pg_start
milter_state "$T/s"

cat >"$T/s/botsentry.conf" <<EOF
node_name = "smarthost-boot"
database = "$PG_URI"
state_dir = "$T/s"
secret_file = "$T/s/secret"
log_level = "info"
milter {
	socket = "unix:$T/s/milter.sock"
	pid_file = "$T/s/milter.pid"
	state_refresh = 1s
	own_domains = { "isp.example" }
	hostnames = { "smarthost.test.example" }
	rate {
		action = "monitor"
		max_messages_1m = 8
	}
	sender { spf = false }
}
logwatch {
	timezone = "UTC"
	poll_interval_ms = 50
	auth_bruteforce { failures = 20 }
}
EOF
"$BOTSENTRY" -c "$T/s/botsentry.conf" db init >"$T/init.log" 2>&1
ok $? "botsentry db init on PostgreSQL"
printf '100.64.7.7,dora,2026-01-01,\n' >"$T/leases.csv"
"$BOTSENTRY" -c "$T/s/botsentry.conf" leases import --format csv "$T/leases.csv" >>"$T/init.log" 2>&1
ok $? "a lease for dora imported"

_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
ok $? "PostgreSQL stopped before the sensors start"

# --- the milter starts and answers mail without the database
MILTER_LOG=$T/s/milter.log
milter_start "$T/s/botsentry.conf"
ok $? "botsentry-milter starts and listens while PostgreSQL is down"
like "$(cat "$MILTER_LOG")" "does not answer .*starting without it; events are queued" \
  "it says it started without the database"
cat >"$T/burst.txt" <<'EOF'
session ip=100.64.7.7 helo=dora-pc.isp.example
mail*12 from=dora@isp.example to=friend{n}@example.org
end
EOF
milter_replay "$T/burst.txt" >"$T/burst.out" 2>&1
ok $? "12 messages from 100.64.7.7 answered while the database is away"
like "$(cat "$T/burst.out")" "total: sessions=1 messages=12 accepted=12 tempfail=0" "... every one accepted"

# --- the log watcher starts too, and reads a password guesser
: >"$T/mail.log"
"$BOTSENTRY_LOGWATCH" -c "$T/s/botsentry.conf" -f -s "$T/s/lw.state" "$T/mail.log" 2>"$T/lw.log" &
LW=$!
at_exit "kill -TERM $LW 2>/dev/null"
wait_for grep -q "following $T/mail.log" "$T/lw.log"
for i in $(seq 1 30); do
  printf 'Nov 27 03:%02d:%02d smarthost postfix/submission/smtpd[77]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: authentication failure, sasl_username=guess-%d\n' \
    $((i / 60)) $((i % 60)) "$i" >>"$T/mail.log"
done
sleep 1
kill -0 $LW 2>/dev/null
ok $? "botsentry-logwatch is running while PostgreSQL is down"
like "$(cat "$T/lw.log")" "does not answer .*starting without it" "it says it started without the database"

# --- the server comes back: the queued events are recorded
_pg_start_server
ok $? "PostgreSQL started again"
has() { [ "$(pg_psql "$1")" -ge 1 ] 2>/dev/null; }
wait_for has "SELECT count(*) FROM events WHERE source = 'milter' AND kind = 'rate'"
ok $? "the milter's queued rate event is recorded"
is "$(pg_psql "SELECT '[' || subscriber || '] ' || client_ip FROM events WHERE source = 'milter' AND kind = 'rate' LIMIT 1")" \
  "[] 100.64.7.7" "... for the bare address: the lease history was not there when it was raised"
wait_for has "SELECT count(*) FROM events WHERE source = 'logwatch' AND kind = 'auth_bruteforce' AND client_ip = '203.0.113.9'"
ok $? "the watcher's queued auth_bruteforce event is recorded"
like "$(cat "$MILTER_LOG")" "connected to botsentry \\(it did not answer at start\\)" "the milter's writer connected"
wait_for grep -q "lease history is loaded from the store now that it answers" "$MILTER_LOG"
ok $? "the milter loads the lease history once the database answers"
wait_for grep -q "policy: the store answers again after [0-9]* failed refreshes" "$MILTER_LOG"
ok $? "the mitigation states are read again, and the recovery logged"
is "$(grep -c 'policy: cannot open the store' "$MILTER_LOG")" 1 \
  "the failing refresh (every second here) was logged once, not at every try"
# a new burst is now attributed through the lease
milter_replay "$T/burst.txt" >"$T/burst2.out" 2>&1
has_dora() { [ "$(pg_psql "SELECT count(*) FROM events WHERE subscriber = 'dora'")" -ge 1 ] 2>/dev/null; }
wait_for has_dora
ok $? "after that, the same traffic is attributed to dora through her lease"

kill -TERM $LW; wait $LW
is "$?" 0 "the watcher stops cleanly"

# --- the server comes back empty (a new database host not yet set up):
# the events wait in the queue until botsentry db init has run
_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
"$BOTSENTRY_LOGWATCH" -c "$T/s/botsentry.conf" -f -s "$T/s/lw.state" "$T/mail.log" 2>"$T/lw2.log" &
LW=$!
at_exit "kill -TERM $LW 2>/dev/null"
wait_for grep -q "following $T/mail.log" "$T/lw2.log"
_pg_start_server
pg_psql "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
for i in $(seq 1 30); do
  printf 'Nov 27 04:%02d:%02d smarthost postfix/submission/smtpd[77]: warning: unknown[203.0.113.77]: SASL LOGIN authentication failed: authentication failure, sasl_username=again-%d\n' \
    $((i / 60)) $((i % 60)) "$i" >>"$T/mail.log"
done
wait_for grep -q "not initialised: run botsentry db init; events wait in the queue" "$T/lw2.log"
ok $? "an empty database: the watcher says so, once, and keeps the event queued"
is "$(grep -c 'not initialised' "$T/lw2.log")" 1 "... said once"
"$BOTSENTRY" -c "$T/s/botsentry.conf" db init >>"$T/init.log" 2>&1
ok $? "botsentry db init"
wait_for has "SELECT count(*) FROM events WHERE client_ip = '203.0.113.77'"
ok $? "then the queued event is recorded"
kill -TERM $LW; wait $LW
is "$?" 0 "the watcher stops cleanly"
milter_stop
is "$MILTER_RC" 0 "the milter stops cleanly"
ok "$(milter_log_clean && echo 0 || echo 1)" "no sanitizer report in the milter's log"

# --- a server that answers but refuses us is a mistake to fix, not an outage
sed "s|^database = .*|database = \"${PG_URI%/*}/nosuchdb\"|" "$T/s/botsentry.conf" >"$T/s/nodb.conf"
timeout 60 "$BOTSENTRY_MILTER" -c "$T/s/nodb.conf" -f >"$T/nodb.log" 2>&1
is "$?" 69 "a database that does not exist stops the milter at start (exit 69)"
like "$(cat "$T/nodb.log")" 'database "nosuchdb" does not exist' "... with the server's reason"
sed "s|^database = .*|database = \"postgresql://%zz@127.0.0.1/x\"|" "$T/s/botsentry.conf" >"$T/s/baduri.conf"
timeout 60 "$BOTSENTRY_LOGWATCH" -c "$T/s/baduri.conf" -r "$T/mail.log" >"$T/baduri.log" 2>&1
is "$?" 69 "a URI libpq cannot read stops logwatch at start (exit 69)"
like "$(cat "$T/baduri.log")" "bad connection URI" "... saying so"

done_testing
