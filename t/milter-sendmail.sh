#!/bin/bash
# t/milter-sendmail.sh - botsentry-milter behind a real Sendmail.
#
# Debian's sendmail-bin conflicts with postfix as a package, so the test
# unpacks it (apt-get download + dpkg -x, no install) into a folder of the
# build tree and runs that binary with its own sendmail.cf (made with m4
# from sendmail-cf): a daemon on 127.0.0.1, promiscuous relay to an
# smtp-sink, queue in the test folder, no DNS (service switch: files), and
# INPUT_MAIL_FILTER without F= (fail open).  Subscribers are told apart by
# lease (swaks --local-interface 127.0.0.N); the scenario is the Postfix
# test's without SASL: the ordinary subscriber raises nothing, the bot gets
# an incident naming the right detectors, and once throttled its next
# message gets 451 4.7.1 while the ordinary one's does not.  Skips when the
# packages cannot be fetched.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/milter.sh"

need_root
need_cmd swaks smtp-sink sqlite3 m4 dpkg apt-get
[ -x "$BOTSENTRY_MILTER" ] || skip_all "botsentry-milter not built"

SMROOT=${SENDMAIL_ROOT:-$top_builddir/t/sendmail-root}
SENDMAIL=$SMROOT/usr/libexec/sendmail/sendmail
if [ ! -x "$SENDMAIL" ]; then
  mkdir -p "$T/debs"
  ( cd "$T/debs" && apt-get download sendmail-bin sendmail-cf >/dev/null 2>&1 ) \
    || skip_all "cannot fetch sendmail-bin/sendmail-cf from the apt archive"
  mkdir -p "$SMROOT"
  for d in "$T"/debs/*.deb; do dpkg -x "$d" "$SMROOT"; done
fi
[ -x "$SENDMAIL" ] || skip_all "no sendmail binary in $SMROOT"
ldd "$SENDMAIL" | grep -q 'not found' && skip_all "sendmail needs libraries: $(ldd "$SENDMAIL" | grep 'not found' | tr -d '\t')"

S=$T/state
milter_state "$S"
# Sendmail refuses a milter socket below a world-writable folder (/tmp)
RUN=$(mktemp -d /run/bs-sm.XXXXXX); chmod 755 "$RUN"
at_exit "rm -rf '$RUN'"
SINK=$(free_port); SMPORT=$(free_port)
DB=$S/botsentry.db
CONF=$S/botsentry.conf
cat > "$CONF" <<EOF
node_name = "smarthost-test"
database = "sqlite:$DB"
state_dir = "$S"
secret_file = "$S/secret"
log_level = "info"
scoring { mitigation = "monitor" }
leases {
	static "127.0.0.2/32" { subscriber = "alice" }
	static "127.0.0.9/32" { subscriber = "bot" }
}
milter {
	socket = "unix:$RUN/milter.sock"
	pid_file = "$RUN/milter.pid"
	mode = "enforce"
	state_refresh = 1s
	own_domains = { "isp.example" }
	rate { action = "monitor"  max_messages_1m = 8 }
	sender { spf = false }
}
EOF
milter_db_init "$CONF" "$DB"; ok $? "database created"
MILTER_LOG=$S/milter.log
milter_start "$CONF"; ok $? "botsentry-milter started"

mkdir -p "$T/sm/q"; chmod 700 "$T/sm/q"
printf 'hosts files\naliases files\n' > "$T/sm/service.switch"
cat > "$T/sm/test.mc" <<EOF
divert(-1)
include(\`$SMROOT/usr/share/sendmail/cf/m4/cf.m4')
divert(0)dnl
VERSIONID(\`botsentry test')dnl
OSTYPE(\`linux')dnl
define(\`confSERVICE_SWITCH_FILE', \`$T/sm/service.switch')dnl
define(\`QUEUE_DIR', \`$T/sm/q')dnl
define(\`STATUS_FILE', \`$T/sm/q/statistics')dnl
define(\`ALIAS_FILE', \`')dnl
define(\`confPID_FILE', \`$T/sm/q/sendmail.pid')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDOMAIN_NAME', \`smarthost.test.example')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`SMART_HOST', \`[127.0.0.1]')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SINK')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK')dnl
define(\`confDELIVERY_MODE', \`queueonly')dnl
FEATURE(\`promiscuous_relay')dnl
FEATURE(\`accept_unresolvable_domains')dnl
DAEMON_OPTIONS(\`Port=$SMPORT, Addr=127.0.0.1, Name=MTA')dnl
INPUT_MAIL_FILTER(\`botsentry', \`S=unix:$RUN/milter.sock, T=C:10s;S:10s;R:10s;E:5m')dnl
define(\`confMILTER_MACROS_CONNECT', \`j, _, {daemon_name}, {client_addr}, {client_name}')dnl
define(\`confMILTER_MACROS_ENVFROM', \`i, {auth_type}, {auth_authen}, {mail_addr}, {client_addr}')dnl
MAILER(\`smtp')dnl
EOF
m4 "$T/sm/test.mc" > "$T/sm/test.cf" 2>/dev/null; ok $? "sendmail.cf built with m4"
( setsid smtp-sink -u postfix -c 127.0.0.1:"$SINK" 64 >/dev/null 2>&1 </dev/null & echo $! > "$T/sink.pid" )
at_exit "kill \$(cat '$T/sink.pid') 2>/dev/null"
# Sendmail looks up its own host name at start: through DNS (leaving the
# machine) unless /etc/hosts answers, and it sleeps 60 s when the name is
# not qualified.  So it runs in a private mount namespace where
# nsswitch.conf says "hosts: files" and /etc/hosts has a qualified name.
command -v unshare >/dev/null || skip_all "needs unshare (util-linux)"
printf 'passwd: files\ngroup: files\nhosts: files\nservices: files\n' > "$T/sm/nsswitch.conf"
{ cat /etc/hosts; echo "127.0.0.1 $(hostname).test.example $(hostname)"; } > "$T/sm/hosts"
sm() {
  unshare -m sh -c 'mount --bind "$1" /etc/nsswitch.conf && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"' \
    sh "$T/sm/nsswitch.conf" "$T/sm/hosts" "$SENDMAIL" -C "$T/sm/test.cf" "$@"
}
ver=$(sm -d0.1 -bt </dev/null 2>/dev/null | sed -n 's/^Version //p')
[ -n "$ver" ] || skip_all "cannot run sendmail in a private mount namespace (unshare -m)"
sm -bd -q1m >"$T/sm/start.log" 2>&1
ok $? "Sendmail $ver started on 127.0.0.1:$SMPORT"
at_exit "kill \$(head -1 '$T/sm/q/sendmail.pid' 2>/dev/null) 2>/dev/null"
sm_up() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $SMPORT), 1).close()"; }
wait_for sm_up; ok $? "Sendmail answers"

send() {  # send IP HELO FROM TO [swaks args]
  local ip=$1 helo=$2 from=$3 to=$4; shift 4
  swaks --server 127.0.0.1 --port "$SMPORT" --local-interface "$ip" --helo "$helo" \
    --from "$from" --to "$to" --timeout 20 "$@" 2>&1
}

n=0
for i in 1 2 3; do
  send 127.0.0.2 alice-laptop alice@isp.example "friend$i@example.org" | grep -q '250 2.0.0 .* Message accepted' && n=$((n + 1))
done
is "$n" 3 "alice's messages accepted"
n=0
for i in $(seq 1 10); do
  rc=""
  for d in 1 2 3 4 5 6; do rc="${rc:+$rc,}u$i.$d@dest$((i * 10 + d)).example"; done
  send 127.0.0.9 "WIN-$RANDOM$i" "security$i@paypa1-alerts.example" "$rc" \
    --header "From: PayPal <service@paypal.example>" | grep -q '250 2.0.0' && n=$((n + 1))
done
ok $([ "$n" -ge 8 ]; echo $?) "the bot's burst went through while monitoring ($n/10)"
sleep 1.5

is "$(q "$DB" "SELECT count(*) FROM events WHERE subscriber = 'alice'")" 0 "alice raised no event"
kinds=$(q "$DB" "SELECT kinds FROM incidents WHERE subscriber = 'bot'")
like "$kinds" 'fanout' "the bot's incident has fanout ($kinds)"
like "$kinds" 'helo' "... helo"
like "$kinds" 'sender_forgery' "... sender_forgery"
like "$kinds" 'rate' "... rate"
grep -qE 'info: [0-9A-Za-z]{14}: stage=eom action=continue subscriber=bot by=lease' "$MILTER_LOG"
ok $? "decision lines carry Sendmail's queue id"

now=$(date +%s)000
q "$DB" "INSERT OR IGNORE INTO subscribers (id, mitigation, created_ms) VALUES ('bot', 'monitor', $now);
         UPDATE subscribers SET mitigation = 'throttle', mitigation_since = $now WHERE id = 'bot';"
sleep 2.5
like "$(send 127.0.0.9 "WIN-$RANDOM" x@paypa1-alerts.example v@dest999.example)" '451 4.7.1 Too much mail' \
  "the throttled bot gets 451 4.7.1 through Sendmail"
like "$(send 127.0.0.2 alice-laptop alice@isp.example friend9@example.org)" '250 2.0.0' "alice does not"

milter_stop
grep -q 'stats: why=exit' "$MILTER_LOG"; ok $? "milter stopped cleanly"
like "$(send 127.0.0.2 alice-laptop alice@isp.example friend10@example.org)" '250 2.0.0' \
  "milter down: Sendmail without F= accepts (fail open)"
milter_log_clean; ok $? "no sanitizer report in the milter's log"
done_testing
