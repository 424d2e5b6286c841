# t/lib/milter.sh - start and stop botsentry-milter for tests and demos.
#
# Source after t/lib/common.sh.
#
#   milter_state DIR            make DIR with a fresh site secret (0600)
#   milter_db_init CONF DB      create the database: `botsentry db init`,
#                               or the SQL migrations with sqlite3 when the
#                               CLI cannot (yet)
#   milter_start CONF [ARGS]    run botsentry-milter -f in the background
#                               (log in $MILTER_LOG), wait for its socket
#                               ($MILTER_SOCK, read from the config's
#                               socket = "unix:..." line); registers
#                               milter_stop with at_exit
#   milter_stop                 SIGTERM and wait (libmilter takes ~5 s)
#   milter_replay FILE          bs-milter-replay against $MILTER_SOCK
#   milter_log_clean            0 when $MILTER_LOG holds no sanitizer report
BS_MILTER_REPLAY=${BS_MILTER_REPLAY:-$top_builddir/milter/bs-milter-replay}

milter_state() {
  local dir=$1
  mkdir -p "$dir"
  chmod 755 "$dir"
  if [ ! -f "$dir/secret" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/secret")
  fi
}

milter_db_init() {
  local conf=$1 db=$2 f v
  if [ -x "$BOTSENTRY" ] && "$BOTSENTRY" -c "$conf" -d "sqlite:$db" db init >/dev/null 2>&1; then
    return 0
  fi
  # fallback: the migrations as the store applies them
  rm -f "$db"
  for f in "$top_srcdir"/db/sqlite/[0-9][0-9][0-9]-*.sql; do
    v=$(basename "$f" | sed 's/^0*\([0-9]*\)-.*/\1/')
    { echo "BEGIN;"; cat "$f"; echo "INSERT INTO schema_version VALUES ($v, $(date +%s)000); COMMIT;"; } \
      | sqlite3 -batch "$db" || return 1
  done
  chmod 600 "$db"
}

_milter_sock_up() { [ -S "$MILTER_SOCK" ]; }

milter_start() {
  local conf=$1; shift
  MILTER_SOCK=$(sed -n 's/^[[:space:]]*socket[[:space:]]*=[[:space:]]*"unix:\(.*\)".*/\1/p' "$conf" | head -1)
  MILTER_LOG=${MILTER_LOG:-$(dirname "$conf")/milter.log}
  rm -f "$MILTER_SOCK"
  "$BOTSENTRY_MILTER" -c "$conf" -f "$@" >>"$MILTER_LOG" 2>&1 &
  MILTER_PID=$!
  if declare -F at_exit >/dev/null; then at_exit milter_stop; fi
  if ! wait_for _milter_sock_up; then
    echo "# botsentry-milter did not open $MILTER_SOCK:" >&2
    sed 's/^/#   /' "$MILTER_LOG" >&2
    return 1
  fi
}

milter_stop() {
  local i
  [ -n "${MILTER_PID:-}" ] || return 0
  kill -TERM "$MILTER_PID" 2>/dev/null
  for i in $(seq 1 200); do kill -0 "$MILTER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$MILTER_PID" 2>/dev/null
  wait "$MILTER_PID" 2>/dev/null
  MILTER_RC=$?
  MILTER_PID=
  return 0
}

milter_replay() {
  "$BS_MILTER_REPLAY" -s "unix:$MILTER_SOCK" "$@"
}

milter_log_clean() {
  ! grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$MILTER_LOG"
}
