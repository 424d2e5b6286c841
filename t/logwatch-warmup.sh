#!/usr/bin/env bash
# botsentry-logwatch restarted in the middle of a password-guessing run:
# the detectors' windows are rebuilt from the lines before the saved
# position (logwatch.warm_up_bytes), so a guesser 15 failures into a window
# of 20 is caught by 10 more after the restart, and an address that was
# already reported before the stop is not reported again.  With
# warm_up_bytes = 0 the same traffic goes unseen (the windows start empty),
# which shows what the warm-up is for.  A warm-up that starts inside a line
# skips that line instead of taking its end for a line.
. "$top_srcdir/t/lib/common.sh"
need_cmd sqlite3
[ -x "$BOTSENTRY_LOGWATCH" ] || skip_all "botsentry-logwatch not built"
[ -x "$BOTSENTRY" ] || skip_all "botsentry (CLI) not built"

# conf FILE DB [extra logwatch lines]
conf() {
  local f=$1 db=$2; shift 2
  {
    echo "database = \"sqlite:$db\""
    echo "state_dir = \"$T\""
    echo "node_name = \"warmup-test\""
    echo "logwatch {"
    echo "  timezone = \"UTC\""
    echo "  poll_interval_ms = 30"
    echo "  checkpoint_interval = 1s"
    echo "  auth_bruteforce { failures = 20  logins = 1000  window = 10m }"
    local l; for l in "$@"; do echo "  $l"; done
    echo "}"
  } >"$f"
}

# fail LOG IP N FROM_SECOND: N failed logins from IP, one a second
fail() {
  local log=$1 ip=$2 n=$3 s=$4 i
  for ((i = 0; i < n; i++)); do
    printf 'Nov 26 14:%02d:%02d smarthost postfix/submission/smtpd[77]: warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=guess%d@isp.example\n' \
      $(( (s + i) / 60 )) $(( (s + i) % 60 )) "$ip" "$i" >>"$log"
  done
}

WPID=""
at_exit 'kill -KILL $WPID 2>/dev/null'
# run CONF LOG STATE TRACE STDERR
start() { "$BOTSENTRY_LOGWATCH" -c "$1" -f -b -s "$3" -T "$4" -S "$2" 2>>"$5" & WPID=$!; }
stop() { kill -TERM "$WPID" 2>/dev/null; wait "$WPID"; }
traced() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
wait_lines() { local i; for i in $(seq 1 200); do [ "$(traced "$1")" -ge "$2" ] && return 0; sleep 0.05; done; return 1; }
events_of() { q "$1" "select count(*) from events where kind='auth_bruteforce' and client_ip='$2'"; }
wait_event() { local i; for i in $(seq 1 100); do [ "$(events_of "$1" "$2")" -ge 1 ] && return 0; sleep 0.05; done; return 1; }

# --- 1. warm-up on (the default) -------------------------------------------
DB=$T/on.db LOG=$T/on.log ST=$T/on.state TR=$T/on.trace ERR=$T/on.err
conf "$T/on.conf" "$DB"
"$BOTSENTRY" -c "$T/on.conf" db init >/dev/null 2>&1; ok $? "database initialised"
: >"$LOG"
fail "$LOG" 198.51.100.7 15 0      # A: 15 failures, below the threshold
fail "$LOG" 198.51.100.8 25 20     # B: 25, reported before the stop
start "$T/on.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_lines "$TR" 40; ok $? "first run read the 40 lines"
wait_event "$DB" 198.51.100.8; ok $? "B (25 failures) reported in the first run"
stop; is "$?" 0 "first run stops cleanly"
is "$(events_of "$DB" 198.51.100.7)" 0 "A (15 failures) not reported yet"

fail "$LOG" 198.51.100.7 10 60     # A: 10 more, same window
fail "$LOG" 198.51.100.8 5 70      # B: 5 more, still above, same window
: >"$TR"
start "$T/on.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_lines "$TR" 15; ok $? "second run read only the 15 new lines"
wait_event "$DB" 198.51.100.7; ok $? "A reported after the restart: 15 before it and 10 after, one window"
sleep 0.5
stop; is "$?" 0 "second run stops cleanly"
is "$(traced "$TR")" 15 "re-read lines are not handed on as new (trace holds 15)"
is "$(events_of "$DB" 198.51.100.7)" 1 "A reported once"
is "$(events_of "$DB" 198.51.100.8)" 1 "B not reported again (its event from the re-read lines is dropped)"
like "$(cat "$ERR")" "warm-up: 40 lines re-read \(offsets 0 to [0-9]+\) in [0-9]+ ms; 1 events they raise were stored before the restart" \
  "the warm-up is logged with what it re-read and dropped"
like "$(cat "$ERR")" "^lines=15 .*auth_fail=15 .*warm_lines=40 warm_events=1" \
  "statistics keep re-read lines apart (lines=15, warm_lines=40)"

# --- 1b. a restart that changes the threshold --------------------------------
# 25 failures under failures = 30 raised nothing; after a restart with 20
# the re-read lines cross it: that event was never stored, so it is not
# dropped (the settings saved with the position differ)
DB=$T/chg.db LOG=$T/chg.log ST=$T/chg.state TR=$T/chg.trace ERR=$T/chg.err
conf "$T/chg30.conf" "$DB"
conf "$T/chg20.conf" "$DB"
sed -i 's/failures = 20  logins/failures = 30  logins/' "$T/chg30.conf"
"$BOTSENTRY" -c "$T/chg30.conf" db init >/dev/null 2>&1
: >"$LOG"
fail "$LOG" 198.51.100.10 25 0
start "$T/chg30.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_lines "$TR" 25; sleep 0.3; stop
is "$(events_of "$DB" 198.51.100.10)" 0 "25 failures under a threshold of 30: no event"
like "$(cat "$ST")" "^tag 1 bf=1,600000,30," "the settings are saved with the position"
fail "$LOG" 198.51.100.10 1 30
start "$T/chg20.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_event "$DB" 198.51.100.10; ok $? "after a restart with a threshold of 20 the address is reported"
stop
is "$(events_of "$DB" 198.51.100.10)" 1 "once"
like "$(cat "$ERR")" "warm-up: the detector settings differ" "the warm-up says why it records what it raises"

# --- 2. warm-up off: the same traffic goes unseen ---------------------------
DB=$T/off.db LOG=$T/off.log ST=$T/off.state TR=$T/off.trace ERR=$T/off.err
conf "$T/off.conf" "$DB" "warm_up_bytes = 0"
"$BOTSENTRY" -c "$T/off.conf" db init >/dev/null 2>&1
: >"$LOG"
fail "$LOG" 198.51.100.7 15 0
start "$T/off.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_lines "$TR" 15; stop
fail "$LOG" 198.51.100.7 10 60
start "$T/off.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_lines "$TR" 25; ok $? "warm_up_bytes = 0: the lines after the restart are read"
sleep 0.5; stop
is "$(events_of "$DB" 198.51.100.7)" 0 "warm_up_bytes = 0: 15 + 10 across a restart are not seen as one window"
unlike "$(cat "$ERR")" "warm-up:" "no warm-up when it is off"

# --- 3. a warm-up that starts inside a line --------------------------------
DB=$T/mid.db LOG=$T/mid.log ST=$T/mid.state TR=$T/mid.trace ERR=$T/mid.err
len=$(fail /dev/stdout 198.51.100.9 1 0 | wc -c)
conf "$T/mid.conf" "$DB" "warm_up_bytes = $(( len * 4 + len / 2 ))"
"$BOTSENTRY" -c "$T/mid.conf" db init >/dev/null 2>&1
: >"$LOG"
fail "$LOG" 198.51.100.9 10 0
start "$T/mid.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_lines "$TR" 10; stop
start "$T/mid.conf" "$LOG" "$ST" "$TR" "$ERR"
sleep 0.5; stop
like "$(cat "$ERR")" "warm-up: 4 lines re-read" "4.5 lines' worth of bytes: the cut line is skipped, 4 re-read"
unlike "$(cat "$ERR")" "malformed [a-z]" "no half line taken for a malformed one"

# --- 4. the file of the saved position is gone ------------------------------
mv "$LOG" "$T/elsewhere.log"
fail "$LOG" 198.51.100.9 3 100
: >"$ERR"
start "$T/mid.conf" "$LOG" "$ST" "$TR" "$ERR"
sleep 0.5; stop
like "$(cat "$ERR")" "warm-up: the file of the saved position is gone" "a missing file is said, and the run goes on"
like "$(cat "$ERR")" "^lines=3 " "and the new file is read from its start"
# --- 5. stopped during the warm-up, with a rotated file's rest pending -----
# the position must stay in the rotated file: nothing of it may be lost
DB=$T/stop.db LOG=$T/stop.log ST=$T/stop.state TR=$T/stop.trace ERR=$T/stop.err
conf "$T/stop.conf" "$DB"
"$BOTSENTRY" -c "$T/stop.conf" db init >/dev/null 2>&1
python3 - "$LOG" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], 'w') as f:
    for n in range(250000):
        s = n // 100
        f.write("Nov 26 13:%02d:%02d smarthost postfix/submission/smtpd[77]: warning: unknown[198.18.%d.%d]: "
                "SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=u%d@isp.example\n"
                % ((s // 60) % 60, s % 60, random.randint(0, 255), random.randint(1, 254), random.randint(1, 200000)))
PY
start "$T/stop.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_lines "$TR" 250000 || sleep 10
wait_lines "$TR" 250000; ok $? "a 40 MB log read to its end"
stop
before=$(cat "$ST")
for i in $(seq 1 100); do printf 'Nov 26 14:50:00 smarthost postfix/submission/smtpd[77]: warning: unknown[198.51.100.77]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=rest%d@isp.example\n' "$i" >>"$LOG"; done
mv "$LOG" "$LOG.1"
for i in $(seq 1 10); do printf 'Nov 26 14:51:00 smarthost postfix/submission/smtpd[77]: warning: unknown[198.51.100.78]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=new%d@isp.example\n' "$i" >>"$LOG"; done
: >"$TR" ; : >"$ERR"
start "$T/stop.conf" "$LOG" "$ST" "$TR" "$ERR"
for i in $(seq 1 100); do grep -q 'warm-up: re-reading' "$ERR" 2>/dev/null && break; sleep 0.02; done
sleep 0.2
stop; is "$?" 0 "stopped during the warm-up, cleanly"
like "$(cat "$ERR")" "stopped before following .*the saved position is kept" "stopped before reading on: says so"
is "$(cat "$ST")" "$before" "the state file is left as it was"
start "$T/stop.conf" "$LOG" "$ST" "$TR" "$ERR"
wait_lines "$TR" 110; sleep 0.3; stop
is "$(grep -c 'sasl_username=rest' "$TR")" 100 "the rotated file's rest is read after the next start (100 lines)"
is "$(grep -c 'sasl_username=new' "$TR")" 10 "then the new file (10 lines)"
done_testing
