# t/lib/redis.sh - a throwaway Redis for a test.  Source after common.sh,
# then `redis_start` (skips the test when redis-server is not installed).
# It listens on 127.0.0.1 at a free port, keeps nothing on disk (its folder
# is $T/redis), and is stopped at exit.  Sets REDIS_URL, REDIS_PORT,
# REDIS_PID.  redis_kill stops it at once (SIGKILL); redis_start again
# starts a fresh one on the same port.

redis_start() {
  command -v redis-server >/dev/null 2>&1 ||
    skip_all "redis-server is not installed (apt-get install redis-server)"
  : "${REDIS_PORT:=$(free_port)}"
  mkdir -p "$T/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$T/redis" \
    --save '' --appendonly no --daemonize no --logfile "$T/redis/redis.log" &
  REDIS_PID=$!
  at_exit "kill -9 $REDIS_PID"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  export REDIS_URL REDIS_PORT
  wait_for redis_ping || skip_all "redis-server did not start"
}

redis_ping() {
  [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

redis_kill() {
  kill -9 "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  return 0
}
