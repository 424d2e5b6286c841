#!/bin/bash
# bench/milter-redis-bench.sh - botsentry-milter with its counters in Redis
# against the same milter with local counters (the baseline), in the same
# run, over unix sockets, driven by bench/milter-load.
#
#   bench/milter-redis-bench.sh [BUILD_DIR] [SECS]
#
# BUILD_DIR is a configured build folder with Redis support (default
# _build/pg); each cell runs SECS seconds (default 2) after a warm-up.  Both
# milters run at once on one SQLite database, mode monitor, every detector on
# except SPF; the Redis one talks to a throwaway redis-server on 127.0.0.1
# (t/lib/redis.sh).  Prints a Markdown table: messages/s, p50/p99 latency
# of a transaction (MAIL to end of message), CPU µs per message of the
# milter process, the ratio Redis/local, and the Redis round trips per
# message the Redis milter made (its redis_updates over its messages, from
# its statistics; the issue allows at most 1).  MSGS="1 10" (the default)
# are the messages per SMTP session.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$here/_build/pg}
SECS=${2:-2}
B=$(cd "$B" && pwd)
top_srcdir=$here top_builddir=$B
export top_srcdir top_builddir
. "$here/t/lib/common.sh"
. "$here/t/lib/milter.sh"
. "$here/t/lib/redis.sh"

make -C "$B" -s bench/milter-load milter/botsentry-milter >/dev/null || exit 1
LOAD=$B/bench/milter-load
redis_start

S=$T/state
milter_state "$S"
for k in local redis; do
  cat > "$S/$k.conf" <<EOF
node_name = "bench-$k"
database = "sqlite:$S/botsentry.db"
state_dir = "$S"
secret_file = "$S/secret"
log_level = "notice"
counters {
	backend = "$k"
	redis_url = "$REDIS_URL"
	prefix = "bench"
}
milter {
	socket = "unix:$S/$k.sock"
	pid_file = "$S/$k.pid"
	own_domains = { "isp.example" }
	sender { spf = false }
}
EOF
done
milter_db_init "$S/local.conf" "$S/botsentry.db" || exit 1
MILTER_LOG=$S/local.log; milter_start "$S/local.conf" || exit 1; L_PID=$MILTER_PID
MILTER_LOG=$S/redis.log; MILTER_PID=; milter_start "$S/redis.conf" || exit 1; R_PID=$MILTER_PID
at_exit "kill -TERM $L_PID $R_PID 2>/dev/null"

run() {   # run SOCK PID CONNS MSGS BASE -> "rate p50 p99 cpu errors"
  "$LOAD" -s "unix:$1" -P "$2" -c "$3" -m "$4" -t "$SECS" -w 0.5 -S "${SUBS:-100000}" -B "$5" -r 3 \
    | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
             printf "%s %s %s %s %s\n", v["msg_per_s"], v["p50_us"], v["p99_us"], v["cpu_us_per_msg"], v["errors"] }'
}

# the Redis milter's own count of messages and Redis updates (round trips),
# from a statistics dump: "MESSAGES UPDATES"
rstats() {
  local n
  n=$(grep -c 'stats: why=SIGUSR2' "$S/redis.log")
  kill -USR2 "$R_PID"
  for _ in $(seq 50); do
    [ "$(grep -c 'stats: why=SIGUSR2' "$S/redis.log")" -gt "$n" ] && break
    sleep 0.05
  done
  grep 'stats: why=SIGUSR2' "$S/redis.log" | tail -1 |
    sed -n 's/.* messages=\([0-9]*\) .*redis_updates=\([0-9]*\).*/\1 \2/p'
}

echo "| conns | msgs/session | local msg/s | redis msg/s | redis/local | p50/p99 µs local | p50/p99 µs redis | CPU µs/msg local / redis | Redis round trips/msg |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
base=0
for m in ${MSGS:-1 10}; do
  for c in 1 4 16; do
    base=$((base + 1000000))
    read -r rl pl ql cl el < <(run "$S/local.sock" "$L_PID" "$c" "$m" "$base")
    read -r m0 u0 < <(rstats)
    read -r rr pr qr cr er < <(run "$S/redis.sock" "$R_PID" "$c" "$m" "$((base + 500000))")
    read -r m1 u1 < <(rstats)
    printf '| %d | %d | %s | %s | %.2f | %s / %s | %s / %s | %s / %s | %.3f |\n' \
      "$c" "$m" "$rl" "$rr" "$(awk "BEGIN { print $rr / $rl }")" "$pl" "$ql" "$pr" "$qr" "$cl" "$cr" \
      "$(awk "BEGIN { print ($u1 - $u0) / ($m1 - $m0) }")"
    if [ "$el$er" != 00 ]; then echo "  (errors: local $el, redis $er)"; fi
  done
done
kill -USR2 "$R_PID"; sleep 0.5
echo
echo "redis milter statistics after the run:"
grep 'stats: why=SIGUSR2' "$S/redis.log" | tail -1 | grep -o 'counters_redis=[^ ]* redis_[^ ]* redis_[^ ]* redis_[^ ]*'
echo
echo "Redis' own time per call, over the whole run (INFO commandstats; a command"
echo "the script runs is counted under its own name, inside the EVALSHA time):"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info commandstats | tr -d '\r' |
  sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\),usec_per_call=\([0-9.]*\).*/\1 \2 \3 \4/p' |
  sort -k3 -n -r |
  awk 'NR == 1 { e = $2 } { printf "  %-10s %9d calls (%5.2f per message) %8.2f µs/call %8.1f µs/message\n", $1, $2, $2 / e, $4, $3 / e }'
MILTER_PID=$L_PID; milter_stop
MILTER_PID=$R_PID; milter_stop
