# t/lib/cli.sh - helpers for the botsentry CLI tests (t/cli-*.sh); source
# after t/lib/common.sh.  Gives a fresh config and database in $T, and:
#   bs ARGS...        run botsentry on them; output in $OUT, stderr in $ERR,
#                     exit status in $RC
#   jq_py EXPR        evaluate a Python expression on $OUT parsed as JSON
#                     (the value is bound to j); prints the result
[ -x "$BOTSENTRY" ] || skip_all "botsentry is not built"
need_cmd sqlite3 python3

# the actor is the login name unless sudo says otherwise; colour unless NO_COLOR
unset SUDO_USER NO_COLOR

CONF=$T/botsentry.conf
DB=$T/db/botsentry.db
cat >"$CONF" <<CONF
node_name = "smarthost1"
secret_file = "$T/secret"
scoring {
	half_life = 1d
	level1 = 10
	level2 = 30
	level3 = 60
	mitigation = "throttle"
	# these tests check levels against plain score thresholds; the volume
	# rule has its own tests (t/test_correlate, t/replay-short.sh)
	volume_max_level = 3
}
CONF

bs() {
  local o e
  o=$T/.out; e=$T/.err
  "$BOTSENTRY" -c "$CONF" -d "sqlite:$DB" "$@" >"$o" 2>"$e"
  RC=$?
  OUT=$(cat "$o"); ERR=$(cat "$e")
  return 0
}
jq_py() {
  printf '%s' "$OUT" | python3 -c "import json,sys; j=json.load(sys.stdin); r=($1); print(r if not isinstance(r,bool) else str(r).lower())" 2>&1
}
db() { sqlite3 -batch -noheader "$DB" "$1"; }
