# t/lib/notify.sh - helpers for botsentry-notifyd's integration tests.
# Source after t/lib/common.sh.
#
#   nd_db                      create $T/bs.db (botsentry db init) and the
#                              subscribers alice, bob, carol (CSV import)
#   nd_conf FILE <<EOF ... EOF write a config: the core part (database,
#                              secret, templates, fast backoff) + stdin as
#                              the body of the notify section
#   nd_once CONF [args]        run botsentry-notifyd --once, log in $T/notifyd.log
#   nd_event SUB SOURCE KIND SCORE [EVIDENCE_JSON [IP]]
#   sink_start NAME PORT [http_sink.py options]   a webhook receiver, files
#                              in $T/NAME; pid in SINK_PID_<NAME>
#   sink_stop NAME
#   sink_count NAME            requests received
#   dq SQL                     sqlite3 query on $T/bs.db
NDB=$T/bs.db
HOOK_SECRET=$T/hook.secret

nd_db() {
  printf 'webhook-secret-%s\n' "$RANDOM$RANDOM" > "$HOOK_SECRET"
  chmod 600 "$HOOK_SECRET"
  cat > "$T/core.conf" <<EOF
database = "sqlite:$NDB"
state_dir = "$T"
secret_file = "$T/site.secret"
log_level = "info"
EOF
  "$BOTSENTRY" -c "$T/core.conf" db init >"$T/dbinit.log" 2>&1 || { cat "$T/dbinit.log" >&2; return 1; }
  cat > "$T/subs.csv" <<EOF
alice,alice@isp.test,Alice Example
bob,bob@isp.test,Bob Example
carol,carol@isp.test,Carol Example
EOF
  "$BOTSENTRY" -c "$T/core.conf" subscribers import "$T/subs.csv" >>"$T/dbinit.log" 2>&1 \
    || { cat "$T/dbinit.log" >&2; return 1; }
}

nd_conf() {
  local f=$1
  {
    cat "$T/core.conf"
    echo "notify {"
    echo "  template_dir = \"$top_srcdir/conf/templates\""
    echo "  organization = \"Test ISP\""
    echo "  help_url = \"https://help.isp.test/bots\""
    echo "  help_contact = \"Call 0800 123 456, every day 8:00-20:00\""
    echo "  backoff_initial = 1s"
    echo "  backoff_max = 2s"
    cat
    echo "}"
  } > "$f"
}

nd_once() {
  local conf=$1; shift
  "$BOTSENTRY_NOTIFYD" -c "$conf" --once "$@" >>"$T/notifyd.log" 2>&1
}

nd_event() {
  local sub=$1 src=$2 kind=$3 score=$4 ev=${5:-'{}'} ip=${6:-}
  "$BOTSENTRY" -c "$T/core.conf" event add --subscriber "$sub" --source "$src" --kind "$kind" \
    --score "$score" --evidence "$ev" --node "smarthost1" ${ip:+--ip "$ip"} >>"$T/events.log" 2>&1
}

sink_start() {
  local name=$1 port=$2; shift 2
  mkdir -p "$T/$name"
  rm -f "$T/$name/port"
  setsid python3 "$top_srcdir/t/lib/http_sink.py" --port "$port" --secret-file "$HOOK_SECRET" \
    --out "$T/$name" "$@" >"$T/$name.log" 2>&1 </dev/null &
  eval "SINK_PID_$name=$!"
  at_exit "kill $! 2>/dev/null"
  wait_for test -f "$T/$name/port"
}

sink_stop() {
  local v="SINK_PID_$1"
  [ -n "${!v:-}" ] && kill "${!v}" 2>/dev/null && wait "${!v}" 2>/dev/null
  eval "SINK_PID_$1="
  return 0
}

sink_count() { find "$T/$1" -name '[0-9]*.json' 2>/dev/null | wc -l | tr -d ' '; }

dq() { sqlite3 -batch -noheader "$NDB" "$1"; }
