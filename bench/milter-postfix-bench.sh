#!/bin/bash
# bench/milter-postfix-bench.sh - end to end: smtp-source through a private
# Postfix (t/lib/postfix.sh) to smtp-sink, 1 KiB messages, with no milter,
# with the null milter (answering every step) and with botsentry-milter,
# each on a unix socket, in the same run.  Needs root and Debian's postfix.
#
#   bench/milter-postfix-bench.sh [BUILD_DIR] [MESSAGES] [SESSIONS] [ROUNDS]
#
# Prints messages/s per setup (best of ROUNDS, default 3, to damp the noise
# of a shared machine) and the ratios.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$here/_build/milter}" && pwd)
MSGS=${2:-2000}
SESS=${3:-20}
ROUNDS=${4:-3}
top_srcdir=$here top_builddir=$B
export top_srcdir top_builddir
. "$here/t/lib/common.sh"
. "$here/t/lib/postfix.sh"
. "$here/t/lib/milter.sh"
need_root
make -C "$B" -s bench/null-milter milter/botsentry-milter >/dev/null || exit 1

S=$T/state
milter_state "$S"
CONF=$S/botsentry.conf
cat > "$CONF" <<EOF
node_name = "bench"
database = "sqlite:$S/botsentry.db"
state_dir = "$S"
secret_file = "$S/secret"
log_level = "notice"
milter {
	socket = "unix:$S/botsentry.sock"
	socket_mode = 0666
	pid_file = "$S/milter.pid"
	own_domains = { "isp.example" }
	sender { spf = false }
}
EOF
milter_db_init "$CONF" "$S/botsentry.db" || exit 1
MILTER_LOG=$S/milter.log
milter_start "$CONF" || exit 1
"$B/bench/null-milter" -p "unix:$S/null.sock" & NPID=$!
at_exit "kill $NPID 2>/dev/null; wait $NPID 2>/dev/null"
wait_for test -S "$S/null.sock" || exit 1
chmod 666 "$S/null.sock"

postfix_setup "$T/pf" "$(free_port)" "$(free_port)" ""
postfix_conf "default_process_limit = 100" "smtpd_client_connection_count_limit = 0"
postfix_start || exit 1

run() {   # run MILTER-SPEC -> best msg/s
  local spec=$1 best=0 i t0 t1 r
  postfix_conf "smtpd_milters = $spec"
  postfix_reload; sleep 1
  for i in $(seq 1 "$ROUNDS"); do
    postfix_wait_idle 120
    t0=$(date +%s.%N)
    smtp-source -s "$SESS" -m "$MSGS" -l 1024 -f sender@isp.example -t rcpt@far.example \
      "127.0.0.1:$PF_PORT" >/dev/null 2>&1
    t1=$(date +%s.%N)
    r=$(awk "BEGIN { printf \"%.0f\", $MSGS / ($t1 - $t0) }")
    [ "$r" -gt "$best" ] && best=$r
  done
  echo "$best"
}
none=$(run "")
null=$(run "{ unix:$S/null.sock, default_action=accept }")
bs=$(run "{ unix:$S/botsentry.sock, default_action=accept }")
postfix_wait_idle 120
echo "| setup | msg/s (best of $ROUNDS, $MSGS msgs, $SESS sessions) | vs no milter | vs null milter |"
echo "|---|---:|---:|---:|"
echo "| no milter | $none | 1.00x | |"
echo "| null milter (unix) | $null | $(awk "BEGIN { printf \"%.2fx\", $null / $none }") | 1.00x |"
echo "| botsentry-milter (unix) | $bs | $(awk "BEGIN { printf \"%.2fx\", $bs / $none }") | $(awk "BEGIN { printf \"%.2fx\", $bs / $null }") |"
grep -c 'status=sent' "$PF_LOG" | sed 's/^/relayed: /'
