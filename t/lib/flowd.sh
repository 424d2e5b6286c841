# t/lib/flowd.sh - helpers for botsentry-flowd's integration tests.
# Source after t/lib/common.sh.  Gives:
#   PCAPGEN                          the fixture writer (t/pcapgen.py)
#   flowd_conf FILE DB [EXTRA...]    a botsentry.conf for the fixture's scope;
#                                    EXTRA lines go into the flow section
#   flowd_db DB CONF                 a fresh database with the fixture's leases
#   events DB                        "client_ip|subscriber|kind" per event, sorted
PCAPGEN="python3 $top_srcdir/t/pcapgen.py"
: "${BOTSENTRY_FLOWD:=$top_builddir/flow/botsentry-flowd}"

flowd_conf() {
  local file=$1 db=$2; shift 2
  {
    echo "database = \"sqlite:$db\""
    echo "state_dir = \"$T\""
    echo "secret_file = \"$T/secret\""
    echo "log_level = \"info\""
    echo "flow {"
    echo "  subscriber_prefixes = {\"100.64.0.0/10\", \"2001:db8::/32\"}"
    echo "  exclude = {\"100.64.9.0/24\"}"
    echo "  smarthosts = {\"198.51.100.25\"}"
    echo "  min_attempts = 20   # the fixtures cross at 20 (the default is 10)"
    local l; for l in "$@"; do echo "  $l"; done
    echo "}"
  } > "$file"
}

# Leases: 100.64.2.20 was bob's at the fixture's time (2023-11-14 22:20Z)
# and is mallory's since 23:00 that day, i.e. also now: an event attributed
# to bob proves attribution at the traffic time.
flowd_db() {
  local db=$1 conf=$2
  rm -f "$db" "$db-wal" "$db-shm"
  "$BOTSENTRY" -c "$conf" db init >/dev/null || return 1
  cat > "$T/leases.csv" <<'CSV'
prefix,subscriber,valid_from,valid_to
100.64.2.20/32,bob,2023-11-14T00:00:00Z,2023-11-14T23:00:00Z
100.64.2.20/32,mallory,2023-11-14T23:00:00Z,
100.64.2.21/32,dave,2023-11-01T00:00:00Z,
100.64.1.10/32,alice,2023-11-01T00:00:00Z,
2001:db8:0:100::/56,carol,2023-11-01T00:00:00Z,
CSV
  "$BOTSENTRY" -c "$conf" leases import --format csv "$T/leases.csv" >/dev/null 2>&1
}

events() {
  sqlite3 -batch -noheader "$1" "select client_ip || '|' || subscriber || '|' || kind from events order by client_ip" 2>/dev/null
}

# has_events DB N: true when DB holds at least N events (for wait_for)
has_events() {
  [ "$(sqlite3 -batch -noheader "$1" "select count(*) from events" 2>/dev/null)" -ge "$2" ] 2>/dev/null
}
