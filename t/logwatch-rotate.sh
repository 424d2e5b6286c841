#!/usr/bin/env bash
# botsentry-logwatch follows a log while a writer appends numbered lines and
# the log is rotated both ways (mv + create, copytruncate), also while the
# watcher is stopped, and the watcher is restarted.  Every line is read
# exactly once (checked with -T, which appends each line read to a trace
# file), and the events reach the database.  Then a kill -9: after the
# restart no line is missing (the lines after the last saved position may be
# read twice; that is the documented at-least-once edge).
. "$top_srcdir/t/lib/common.sh"
need_cmd sqlite3
[ -x "$BOTSENTRY_LOGWATCH" ] || skip_all "botsentry-logwatch not built"
[ -x "$BOTSENTRY" ] || skip_all "botsentry (CLI) not built"

LOG=$T/mail.log
STATE=$T/logwatch.state
TRACE=$T/trace
DB=$T/bs.db
cat >"$T/bs.conf" <<EOF
database = "sqlite:$DB"
state_dir = "$T"
node_name = "rotate-test"
logwatch {
  timezone = "UTC"
  poll_interval_ms = 30
  checkpoint_interval = 1s
  auth_bruteforce { failures = 20 }
}
EOF
"$BOTSENTRY" -c "$T/bs.conf" db init >/dev/null 2>&1
ok $? "database initialised"

# the section's checks: every error reported, exit 78
printf 'logwatch {\n  timezone = "Mars/Olympus"\n  start_at = "middle"\n  bounce_ratio {\n    ratio = 1.5\n  }\n}\n' >"$T/bad.conf"
out=$("$BOTSENTRY_LOGWATCH" -n -c "$T/bad.conf" 2>&1); st=$?
is "$st" "78" "-n on a bad logwatch section exits 78"
like "$out" 'start_at must be "end" or "beginning"' "names the bad start_at"
like "$out" 'timezone "Mars/Olympus"' "names the bad time zone"
like "$out" 'ratio must be above 0 and at most 1' "names the bad ratio"
"$BOTSENTRY_LOGWATCH" -n -c "$T/bs.conf" >/dev/null 2>&1
ok $? "-n accepts the test configuration"

# line N: a failed login from one of 40 addresses, so that events happen too
line() { printf 'Nov 26 14:%02d:%02d smarthost postfix/submission/smtpd[77]: warning: unknown[198.51.100.%d]: SASL PLAIN authentication failed: authentication failure, sasl_username=user-%d\n' $(( ($1 / 60) % 60 )) $(( $1 % 60 )) $(( $1 % 40 + 1 )) "$1"; }

# the writer: lines FROM..TO, each opened O_APPEND like a syslog daemon would
write_lines() {
  local i
  for ((i = $1; i <= $2; i++)); do line "$i" >>"$LOG"; [ $((i % 25)) -eq 0 ] && sleep 0.01; done
}

WPID=""
start_watcher() {
  "$BOTSENTRY_LOGWATCH" -c "$T/bs.conf" -f -b -s "$STATE" -T "$TRACE" -S "$LOG" 2>>"$T/watcher.log" &
  WPID=$!
}
BADSTOPS=0
stop_watcher() {
  local st
  kill -TERM "$WPID" 2>/dev/null; wait "$WPID"; st=$?
  [ "$st" -eq 0 ] || { BADSTOPS=$((BADSTOPS + 1)); echo "# watcher exited $st" >&2; }
  return "$st"
}
at_exit 'kill -KILL $WPID 2>/dev/null'
traced() { [ -f "$TRACE" ] && wc -l <"$TRACE" || echo 0; }
wait_traced() { local n=$1 i; for i in $(seq 1 200); do [ "$(traced)" -ge "$n" ] && return 0; sleep 0.05; done; return 1; }

: >"$LOG"
start_watcher
write_lines 1 400
wait_traced 400; ok $? "first 400 lines read"

# 1. rename rotation while the writer goes on
write_lines 401 600 &
BG=$!
sleep 0.1
mv "$LOG" "$LOG.1"
wait $BG
write_lines 601 800
wait_traced 800; ok $? "lines 401-800 read across a mv rotation"

# 2. restart (clean stop saves the position)
stop_watcher
ok $? "watcher stops cleanly on SIGTERM"
[ -s "$STATE" ]; ok $? "state file written"
like "$(cat "$STATE")" "^botsentry-logwatch-state 1" "state file has its header"
write_lines 801 900
start_watcher
write_lines 901 1000
wait_traced 1000; ok $? "resumed after the restart"

# 3. copytruncate (the writer paused over copy and truncate, as a careful
# rotator would; the watcher may not have read everything before it)
write_lines 1001 1100
cp "$LOG" "$LOG.1" && : >"$LOG"
write_lines 1101 1300
wait_traced 1300; ok $? "lines read across a copytruncate"

# 4. rotation while the watcher is stopped, both ways
stop_watcher
write_lines 1301 1400
mv "$LOG" "$LOG.1"
write_lines 1401 1500
start_watcher
wait_traced 1500; ok $? "rename rotation while stopped: the rest of .1, then the new file"
stop_watcher
write_lines 1501 1600
cp "$LOG" "$LOG.1" && : >"$LOG"
write_lines 1601 1700
start_watcher
wait_traced 1700; ok $? "copytruncate while stopped: the rest of the copy, then the new file"
stop_watcher

# exactly once
dups=$(sed -n 's/.*sasl_username=user-//p' "$TRACE" | sort -n | uniq -d | wc -l)
is "$dups" "0" "no line read twice"
got=$(sed -n 's/.*sasl_username=user-//p' "$TRACE" | sort -n | uniq | wc -l)
is "$got" "1700" "every one of the 1700 lines read"
is "$(wc -l <"$TRACE")" "1700" "the trace holds 1700 lines"
# -S at each stop: the counters of the instances add up to the lines written
sum=$(sed -n 's/^lines=\([0-9]*\) .*/\1/p' "$T/watcher.log" | awk '{s+=$1} END {print s+0}')
is "$sum" "1700" "-S counters of all runs add up to 1700"
like "$(cat "$T/watcher.log")" "rotations_rename=1" "a rename rotation was seen live"
like "$(cat "$T/watcher.log")" "rotations_truncate=1" "a copytruncate was seen live"
like "$(cat "$T/watcher.log")" "rotated from|rotated while stopped" "a rotation while stopped was handled"
n=$(q "$DB" "select count(*) from events where source='logwatch' and kind='auth_bruteforce'")
[ "$n" -gt 0 ]; ok $? "auth_bruteforce events stored ($n)"
is "$(q "$DB" "select count(distinct client_ip) from events where kind='auth_bruteforce'")" "40" \
  "one event per hammering address (40 addresses)"

# kill -9: at least once, nothing missing
start_watcher
write_lines 1701 1900
wait_traced 1900
sleep 1.5    # let a checkpoint happen
write_lines 1901 2000
wait_traced 2000
kill -KILL "$WPID"; wait "$WPID" 2>/dev/null
write_lines 2001 2100
start_watcher
for i in $(seq 1 100); do
  [ "$(sed -n 's/.*sasl_username=user-//p' "$TRACE" | sort -un | wc -l)" -ge 2100 ] && break; sleep 0.05
done
stop_watcher
got=$(sed -n 's/.*sasl_username=user-//p' "$TRACE" | sort -un | wc -l)
is "$got" "2100" "after kill -9 and a restart no line is missing"
is "$BADSTOPS" "0" "every SIGTERM stop exited 0 (no sanitizer reports)"
again=$(( $(wc -l <"$TRACE") - 2100 ))
# a state file that is not ours is an error, not a silent fresh start
echo "garbage" >"$T/bad.state"
out=$("$BOTSENTRY_LOGWATCH" -c "$T/bs.conf" -f -s "$T/bad.state" "$LOG" 2>&1); st=$?
is "$st" "65" "a foreign state file stops the start (exit 65)"
like "$out" "bad.state:1: not a botsentry-logwatch state file" "and says which file and line"
# an over-long line is cut, counted, and the next line is read normally
{ head -c 20000 /dev/zero | tr '\0' 'x'; echo; line 99999; } >"$T/long.log"
out=$("$BOTSENTRY_LOGWATCH" -c "$T/bs.conf" -p -S -r "$T/long.log" 2>&1 >/dev/null)
like "$out" "^lines=2 .*long_lines=1 .*auth_fail=1 " "a 20000-byte line is cut and counted; the next one parses"
[ "$again" -le 100 ]; ok $? "only lines after the last saved position were read again ($again)"
done_testing
