# t/lib/common.sh - shared helpers for shell integration tests.
# Source it first thing: `. "$top_srcdir/t/lib/common.sh"`.
#
# Gives: TAP output (plan, ok, is, like, skip_all, done_testing), a private
# temporary folder $T removed at exit (kept when KEEP=1), paths to the built
# programs ($BOTSENTRY, $BOTSENTRY_MILTER, ...), and cleanup hooks.
set -u
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

BOTSENTRY=$top_builddir/cli/botsentry
BOTSENTRY_MILTER=$top_builddir/milter/botsentry-milter
BOTSENTRY_FLOWD=$top_builddir/flow/botsentry-flowd
BOTSENTRY_LOGWATCH=$top_builddir/logwatch/botsentry-logwatch
BOTSENTRY_NOTIFYD=$top_builddir/notify/botsentry-notifyd

_tap_n=0
_tap_fail=0
_cleanups=()

T=$(mktemp -d "${TMPDIR:-/tmp}/bs-test.XXXXXX")
chmod 755 "$T"

at_exit() { _cleanups+=("$*"); }
_run_cleanups() {
  local i
  for (( i=${#_cleanups[@]}-1; i>=0; i-- )); do eval "${_cleanups[$i]}" >/dev/null 2>&1 || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $T" >&2; else rm -rf "$T"; fi
}
trap _run_cleanups EXIT

ok() {   # ok COND-EXIT-STATUS DESCRIPTION  (use: ok $? "desc", or test ... ; ok $? ...)
  local st=$1; shift
  _tap_n=$((_tap_n + 1))
  if [ "$st" -eq 0 ]; then echo "ok $_tap_n - $*"; else echo "not ok $_tap_n - $*"; _tap_fail=$((_tap_fail + 1)); fi
}
is() {   # is GOT WANT DESCRIPTION
  local got=$1 want=$2; shift 2
  if [ "$got" = "$want" ]; then ok 0 "$*"; else ok 1 "$*"; echo "#   got:  '$got'"; echo "#   want: '$want'"; fi
}
like() { # like GOT REGEX DESCRIPTION
  local got=$1 re=$2; shift 2
  if printf '%s' "$got" | grep -qE -- "$re"; then ok 0 "$*"; else ok 1 "$*"; echo "#   got:  '$(printf '%s' "$got" | head -c 600)'"; echo "#   want match: $re"; fi
}
unlike() { # unlike GOT REGEX DESCRIPTION
  local got=$1 re=$2; shift 2
  if printf '%s' "$got" | grep -qE -- "$re"; then ok 1 "$*"; echo "#   matched: $(printf '%s' "$got" | grep -E -- "$re" | head -c 600)"; else ok 0 "$*"; fi
}
skip_all() { echo "1..0 # SKIP $*"; exit 77; }
done_testing() {
  echo "1..$_tap_n"
  echo "$((_tap_n - _tap_fail)) passed, $_tap_fail failed"
  [ "$_tap_fail" -eq 0 ]
}
need_root() { [ "$(id -u)" -eq 0 ] || skip_all "needs root"; }
need_cmd() { local c; for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip_all "needs $c"; done; }

# wait_for CMD... : retry up to 10 s
wait_for() {
  local i
  for i in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# sqlite3 query on a test database
q() { sqlite3 -batch -noheader "$1" "$2"; }
