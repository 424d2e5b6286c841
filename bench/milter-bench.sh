#!/bin/bash
# bench/milter-bench.sh - botsentry-milter against a null libmilter milter,
# in the same run, over unix sockets.
#
#   bench/milter-bench.sh [BUILD_DIR] [SECS]
#
# BUILD_DIR is a configured build folder (default _build/milter); the
# programs are built with `make bench/milter-load bench/null-milter
# milter/botsentry-milter` first.  Each cell runs SECS seconds (default 2)
# after a short warm-up.  Three filters:
#   null-all   null milter answering every step (the issue's baseline)
#   null-same  null milter negotiating what botsentry negotiates
#   botsentry  botsentry-milter, mode monitor, log_level notice, every
#              detector on except SPF (no DNS here), SUBS subscribers
#              (default 100000: most subscribers send a little)
# Prints a Markdown table: messages/s, p50/p99 latency of a transaction
# (MAIL to end of message), CPU microseconds per message of the filter
# process, and botsentry's ratios against both baselines.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$here/_build/milter}
SECS=${2:-2}
B=$(cd "$B" && pwd)
top_srcdir=$here top_builddir=$B
export top_srcdir top_builddir
. "$here/t/lib/common.sh"
. "$here/t/lib/milter.sh"

make -C "$B" -s bench/milter-load bench/null-milter milter/botsentry-milter >/dev/null || exit 1
LOAD=$B/bench/milter-load
NULL=$B/bench/null-milter

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
	pid_file = "$S/milter.pid"
	own_domains = { "isp.example" }
	sender { spf = false }
}
EOF
milter_db_init "$CONF" "$S/botsentry.db" || exit 1
MILTER_LOG=$S/milter.log
milter_start "$CONF" || exit 1
BS_PID=$MILTER_PID

"$NULL" -p "unix:$S/null-all.sock" & NA_PID=$!
"$NULL" -s -p "unix:$S/null-same.sock" & NS_PID=$!
at_exit "kill $NA_PID $NS_PID 2>/dev/null; wait $NA_PID $NS_PID 2>/dev/null"
wait_for test -S "$S/null-all.sock" -a -S "$S/null-same.sock" || exit 1

run() {   # run SOCK PID CONNS MSGS BASE -> "rate p50 p99 cpu errors"
  # every run gets subscribers of its own (BASE), so that no run inherits
  # the previous one's counts (which would make them all look like bots)
  "$LOAD" -s "unix:$1" -P "$2" -c "$3" -m "$4" -t "$SECS" -w 0.5 -S "${SUBS:-100000}" -B "$5" -r 3 \
    | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
             printf "%s %s %s %s %s\n", v["msg_per_s"], v["p50_us"], v["p99_us"], v["cpu_us_per_msg"], v["errors"] }'
}

echo "| conns | msgs/session | null-all msg/s | null-same msg/s | botsentry msg/s | vs null-all | vs null-same | p50/p99 µs null-all | p50/p99 µs null-same | p50/p99 µs botsentry | CPU µs/msg null-all / null-same / botsentry |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
base=0
for m in 1 10; do
  for c in 1 4 16 64; do
    base=$((base + 1000000))
    read -r ra pa qa ca ea < <(run "$S/null-all.sock" "$NA_PID" "$c" "$m" "$base")
    read -r rs ps qs cs es < <(run "$S/null-same.sock" "$NS_PID" "$c" "$m" "$base")
    read -r rb pb qb cb eb < <(run "$MILTER_SOCK" "$BS_PID" "$c" "$m" "$base")
    printf '| %d | %d | %s | %s | %s | %.2fx | %.2fx | %s / %s | %s / %s | %s / %s | %s / %s / %s |\n' \
      "$c" "$m" "$ra" "$rs" "$rb" "$(awk "BEGIN { print $rb / $ra }")" "$(awk "BEGIN { print $rb / $rs }")" \
      "$pa" "$qa" "$ps" "$qs" "$pb" "$qb" "$ca" "$cs" "$cb"
    if [ "$ea$es$eb" != 000 ]; then echo "  (errors: null-all $ea, null-same $es, botsentry $eb)"; fi
  done
done
kill -USR2 "$BS_PID"; sleep 0.5
echo
echo "botsentry-milter counters after the run:"
grep 'stats: why=SIGUSR2' "$MILTER_LOG" | tail -1 | sed 's/.*stats: /  /' | fold -w 160
milter_stop
