#!/bin/bash
# t/milter-badinput.sh - hostile input through the milter protocol.
#
# Runs botsentry-milter (under ASan/UBSan in a sanitizer build) and plays
# t/milter-badclient against it: an empty and a 10 kB HELO, NUL, CRLF and
# escape bytes in arguments, 5000 recipients, a 60 kB and a 1 MB header,
# malformed packets.  The filter must answer a normal session after each,
# log a clear line for what it refused or cut, not crash, and exit cleanly
# with no sanitizer report (leaks included).
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/milter.sh"

[ -x "$BOTSENTRY_MILTER" ] || skip_all "botsentry-milter not built"
need_cmd sqlite3
CLIENT=$top_builddir/t/milter-badclient
[ -x "$CLIENT" ] || skip_all "t/milter-badclient not built"

S=$T/state
milter_state "$S"
CONF=$S/botsentry.conf
cat > "$CONF" <<CONFEOF
node_name = "smarthost-test"
database = "sqlite:$S/botsentry.db"
state_dir = "$S"
secret_file = "$S/secret"
log_level = "info"
milter {
	socket = "unix:$S/milter.sock"
	pid_file = "$S/milter.pid"
	mode = "monitor"
	add_header = true
	own_domains = { "isp.example" }
	sender { spf = false }
	dkim { key_file = "$S/dkim-keys" }    # no DNS: keys from a file (none)
}
CONFEOF
: > "$S/dkim-keys"
milter_db_init "$CONF" "$S/botsentry.db"; ok $? "database created"

# start-up refusals: every one names what is wrong
"$BOTSENTRY_MILTER" -n -c "$CONF" >/dev/null 2>&1; is $? 0 "-n: the configuration checks out"
sed 's/mode = "monitor"/mode = "sometimes"/' "$CONF" > "$S/bad.conf"
out=$("$BOTSENTRY_MILTER" -n -c "$S/bad.conf" 2>&1); rc=$?
is "$rc" 78 "-n: a bad value exits 78"
like "$out" 'bad.conf(:[0-9]+)?: .*milter\|mode' "... naming the file and the key"
chmod 644 "$S/secret"
out=$("$BOTSENTRY_MILTER" -f -c "$CONF" 2>&1); rc=$?
is "$rc" 78 "a secret readable by others is refused"
like "$out" 'secret' "... with a message naming the secret file"
chmod 600 "$S/secret"
out=$("$BOTSENTRY_MILTER" -f -c "$CONF" -p "tcp:25" 2>&1); rc=$?
ok $([ "$rc" -ne 0 ]; echo $?) "-p with a malformed socket is refused ($out)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
MILTER_LOG=$S/milter.log
milter_start "$CONF"; ok $? "botsentry-milter started"

out=$("$CLIENT" "unix:$MILTER_SOCK" 2>&1); rc=$?
echo "$out" | grep -E '^(not )?ok' | sed 's/^/# client: /'
is "$rc" 0 "every hostile session handled, the filter answered after each"

# the milter logs a decision just after it answers: give the last one a moment
wait_for grep -q 'helo=second.example' "$MILTER_LOG"
log=$(cat "$MILTER_LOG")
like "$log" 'bad input: HELO of 10240 bytes' "log: the 10 kB HELO is named"
like "$log" 'event kind=helo score=[0-9.]+ subscriber=mallory .*"check":"too_long"' \
  "the long HELO raises a helo event"
like "$log" 'event kind=helo .*"check":"empty"' "the empty HELO raises a helo event"
like "$log" 'bad input: header X-Big of 61440 bytes' "log: the 60 kB header is named"
like "$log" 'bad input: RCPT TO' "log: a malformed recipient is named"
like "$log" 'rcpts=5000 domains=3000' "5000 recipients counted, 3000 distinct domains"
! echo "$log" | grep -qP '[\x00-\x08\x0b-\x1f]'; ok $? "no control bytes reach the log"
! echo "$log" | grep -q 'X-Forged: yes$'; ok $? "CRLF in a header cannot forge a log line"
like "$log" 'subscriber=mal\\x0d\\x0alory' "a login with CRLF is logged escaped"

like "$log" 'event kind=dkim_replay .*"d":"paypal.example"' "a third-party DKIM signature is judged"
like "$log" 'stage=eom action=continue subscriber=bob by=auth ip=100.64.66.7 helo=second.example' \
  "after QUIT_NC the new session has its own address and subscriber"
milter_stop
is "$MILTER_RC" 0 "clean exit"
like "$(grep 'stats: why=exit' "$MILTER_LOG")" 'dkim_verified=1' "the body was read for DKIM (not skipped)"
! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$MILTER_LOG"
ok $? "no sanitizer report (leaks, overflows, undefined behaviour)"
grep -q 'stats: why=exit' "$MILTER_LOG"; ok $? "final counters logged"
done_testing
