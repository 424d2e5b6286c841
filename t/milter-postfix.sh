#!/bin/bash
# t/milter-postfix.sh - botsentry-milter behind a real, private Postfix.
#
# Postfix (t/lib/postfix.sh) listens on 127.0.0.1 with SASL AUTH on a
# submission port (Cyrus sasldb), relays to an smtp-sink, and has
# smtpd_milters = { unix:SOCKET, default_action=accept }.  Real clients
# drive it: swaks for dialogues (one source address per subscriber with
# --local-interface 127.0.0.N), smtp-source for volume.
#
#   well-behaved: alice (SASL), carol-shop (by lease, its own domain)
#   bot-like:     "bot" (SASL; a new random HELO every connection, forged
#                 senders, many recipient domains), "bulkbot" (by lease;
#                 a burst from smtp-source)
# Then: the bot has an incident whose events name the right detectors and
# the good ones raise nothing; with the bot's state set to throttle, its
# next message gets 451 4.7.1 and alice's do not; SIGUSR1 reloads; SIGTERM
# flushes the queue; with the milter gone Postfix still accepts mail
# (default_action=accept).
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/postfix.sh"
. "$top_srcdir/t/lib/milter.sh"

need_root
need_cmd postfix swaks smtp-source smtp-sink saslpasswd2 sqlite3 python3
[ -x "$BOTSENTRY_MILTER" ] || skip_all "botsentry-milter not built"

S=$T/state
milter_state "$S"
mkdir -p "$T/run" && chmod 755 "$T/run"
DB=$S/botsentry.db
CONF=$S/botsentry.conf
cat > "$CONF" <<EOF
node_name = "smarthost-test"
database = "sqlite:$DB"
state_dir = "$S"
secret_file = "$S/secret"
log_level = "info"
scoring {
	mitigation = "monitor"      # the test sets the throttle itself
}
leases {
	static "127.0.0.1/32" { subscriber = "bulkbot" }
	static "127.0.0.3/32" { subscriber = "carol-shop" }
}
milter {
	socket = "unix:$T/run/milter.sock"
	socket_mode = 0666
	pid_file = "$T/run/milter.pid"
	mode = "enforce"
	state_refresh = 1s
	add_header = true
	throttle_url = "https://isp.example/abuse/why"
	own_domains = { "isp.example", "test.example" }
	hostnames = { "smarthost.test.example" }
	rate {
		action = "monitor"      # throttling comes from the subscriber state
		max_messages_1m = 8
	}
	sender { spf = false }      # no DNS in tests
	subscriber "carol-shop" { domains = { "carolshop.example" } }
}
EOF

milter_db_init "$CONF" "$DB"; ok $? "database created"
MILTER_LOG=$S/milter.log
milter_start "$CONF"; ok $? "botsentry-milter listens on $MILTER_SOCK"
[ "$(stat -c %a "$MILTER_SOCK")" = 666 ]; ok $? "socket mode from milter|socket_mode"

PORT=$(free_port); SUBPORT=$(free_port)
PF_SINK_DUMP=1
postfix_setup "$T/pf" "$PORT" "$SUBPORT" "unix:$MILTER_SOCK"
postfix_adduser alice pw-alice
postfix_adduser bot pw-bot
postfix_start; ok $? "private Postfix on 127.0.0.1:$PORT (submission $SUBPORT)"

sub() {   # sub LOCAL-IP HELO USER PASS FROM TO [swaks args]
  local ip=$1 helo=$2 user=$3 pass=$4 from=$5 to=$6; shift 6
  swaks --server 127.0.0.1 --port "$SUBPORT" --local-interface "$ip" --helo "$helo" \
    --auth PLAIN --auth-user "$user" --auth-password "$pass" \
    --from "$from" --to "$to" --timeout 20 "$@" 2>&1
}

# --- well-behaved subscribers
good_ok=0
for i in 1 2 3; do
  out=$(sub 127.0.0.2 alice-laptop alice pw-alice alice@isp.example "friend$i@example.org" \
    --header "Subject: holiday photos $i")
  echo "$out" | grep -q '^<-  250 2.0.0 Ok: queued' && good_ok=$((good_ok + 1))
done
is "$good_ok" 3 "alice's three messages accepted"
out=$(swaks --server 127.0.0.1 --port "$PORT" --local-interface 127.0.0.3 --helo mail.carolshop.example \
  --from orders@carolshop.example --to customer@example.net --timeout 20 2>&1)
like "$out" '250 2.0.0 Ok: queued' "carol-shop's message (port 25, by lease) accepted"

# --- a bot on a stolen login: random HELOs, forged senders, many domains
bot_ok=0
for i in $(seq 1 10); do
  rc=""
  for d in 1 2 3 4 5 6; do rc="${rc:+$rc,}u$i.$d@dest$((i * 10 + d)).example"; done
  out=$(sub 127.0.0.9 "WIN-$RANDOM$i" bot pw-bot "security$i@paypa1-alerts.example" "$rc" \
    --header "From: PayPal <service@paypal.example>" --header "Subject: account limited")
  echo "$out" | grep -q '250 2.0.0 Ok: queued' && bot_ok=$((bot_ok + 1))
done
ok $([ "$bot_ok" -ge 8 ]; echo $?) "the bot's burst went through while monitoring ($bot_ok/10)"

# --- volume from one address (lease -> bulkbot)
smtp-source -s 4 -m 60 -l 1024 -f deals@bulk-deals.example -t buyer@far.example "127.0.0.1:$PORT" \
  >/dev/null 2>&1
ok $? "smtp-source sent 60 messages"
postfix_wait_idle 30; ok $? "Postfix relayed everything to the sink"
sleep 1.5    # the writer commits every 200 ms

q1() { q "$DB" "$1"; }
is "$(q1 "SELECT count(*) FROM events WHERE subscriber LIKE 'alice%'")" 0 "alice raised no event"
is "$(q1 "SELECT count(*) FROM events WHERE subscriber = 'carol-shop'")" 0 "carol-shop raised no event"
BOT=$(q1 "SELECT DISTINCT subscriber FROM events WHERE subscriber LIKE 'bot%' LIMIT 1")
like "$BOT" '^bot(@test\.example)?$' "the bot is named by its SASL login ($BOT)"
kinds=$(q1 "SELECT kinds FROM incidents WHERE subscriber = '$BOT'")
like "$kinds" 'helo' "the bot's incident has helo events ($kinds)"
like "$kinds" 'fanout' "... fanout events"
like "$kinds" 'sender_forgery' "... sender_forgery events"
like "$kinds" 'rate' "... rate events"
ev=$(q1 "SELECT evidence FROM events WHERE subscriber = '$BOT' AND kind = 'helo' LIMIT 1")
like "$ev" 'churn|WIN-' "helo evidence is readable ($ev)"
like "$(q1 "SELECT group_concat(DISTINCT kind) FROM events WHERE subscriber = 'bulkbot'")" 'rate' \
  "the smtp-source burst is attributed by lease to bulkbot and raises rate"
grep -q 'by=auth.*ip=127.0.0.9' "$MILTER_LOG"; ok $? "log: the bot attributed by auth from 127.0.0.9"
grep -q 'subscriber=carol-shop by=lease' "$MILTER_LOG"; ok $? "log: carol-shop attributed by lease"
grep -qE '^[^ ]+ [^ ]+ info: [0-9A-F]{6,}: stage=eom action=continue' "$MILTER_LOG"
ok $? "log: decision lines start with Postfix's queue id"
n=$(grep -l '^X-Botsentry: score=' "$T/pf/sink"/* 2>/dev/null | wc -l)
ok $([ "$n" -ge 3 ]; echo $?) "X-Botsentry header on the relayed messages ($n)"
! grep -qE 'milter .* (unavailable|error)' "$PF_LOG"; ok $? "Postfix saw no milter errors"

# --- throttle the bot
now=$(date +%s)000
q1 "INSERT OR IGNORE INTO subscribers (id, mitigation, created_ms) VALUES ('$BOT', 'monitor', $now);
    UPDATE subscribers SET mitigation = 'throttle', mitigation_since = $now, mitigation_by = 'test' WHERE id = '$BOT';"
sleep 2.5    # milter|state_refresh = 1s
out=$(sub 127.0.0.9 "WIN-$RANDOM" bot pw-bot "x@paypa1-alerts.example" "v@dest999.example")
like "$out" '451 4.7.1 Too much mail' "the throttled bot gets 451 4.7.1"
like "$out" 'isp.example/abuse/why' "... with the URL to learn why"
out=$(sub 127.0.0.2 alice-laptop alice pw-alice alice@isp.example friend9@example.org)
like "$out" '250 2.0.0 Ok: queued' "alice is not throttled"
grep -q 'milter-reject: MAIL from.*451 4.7.1' "$PF_LOG"; ok $? "Postfix logs the milter's 451"
grep -q 'stage=mail action=tempfail subscriber=bot' "$MILTER_LOG"; ok $? "the milter logs the decision"

# --- reload keeps the counters and the connection flow
kill -USR1 "$MILTER_PID"
wait_for grep -q 'reload: configuration' "$MILTER_LOG"; ok $? "SIGUSR1 reloads"
out=$(sub 127.0.0.9 "WIN-$RANDOM" bot pw-bot "x@paypa1-alerts.example" "v@dest998.example")
like "$out" '451 4.7.1' "after the reload the bot is still throttled (counters kept)"

# --- stop: the queue is flushed
milter_stop
grep -q 'stats: why=exit' "$MILTER_LOG"; ok $? "SIGTERM stops cleanly"
line=$(grep 'writer: stopped' "$MILTER_LOG" | tail -1)
sub_n=$(echo "$line" | sed -n 's/.*submitted=\([0-9]*\).*/\1/p')
com_n=$(echo "$line" | sed -n 's/.*committed=\([0-9]*\).*/\1/p')
ok $([ -n "$sub_n" ] && [ "$sub_n" = "$com_n" ]; echo $?) "every queued event committed at exit ($com_n/$sub_n)"
is "$(q1 "SELECT count(*) FROM events")" "$com_n" "the events are in the database"

# --- milter gone: Postfix applies default_action=accept
out=$(sub 127.0.0.2 alice-laptop alice pw-alice alice@isp.example friend10@example.org)
like "$out" '250 2.0.0 Ok: queued' "with the milter down, mail still flows (default_action=accept)"

milter_log_clean; ok $? "no sanitizer report in the milter's log"
done_testing
