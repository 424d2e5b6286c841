#!/bin/bash
# Terminal output: under a pseudo-terminal the tables are aligned with
# spaces and coloured; through a pipe they are plain tab-separated text
# with no escape codes; NO_COLOR keeps the alignment and drops the colour.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/cli.sh"

bs db init
bs event add --subscriber alice --source milter --kind rate --score 70
bs event add --subscriber bob-with-a-long-name --source flow --kind direct_mx --score 12
bs allowlist add --subscriber alice --scope rate --reason "test entry"

# run_pty OUTFILE ARGS...: run botsentry under a pseudo-terminal
run_pty() {
  local out=$1; shift
  python3 - "$out" "$BOTSENTRY" -c "$CONF" -d "sqlite:$DB" "$@" <<'PY'
import os, pty, sys
out = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
data = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
_, status = os.waitpid(pid, 0)
open(out, "wb").write(data)
sys.exit(os.waitstatus_to_exitcode(status))
PY
}

for cmd in "incidents list" "allowlist list" "stats" "incidents show 1"; do
  # shellcheck disable=SC2086
  run_pty "$T/tty.out" $cmd
  is "$?" 0 "$cmd under a pty"
  if grep -q $'\033\[' "$T/tty.out"; then ok 0 "$cmd: colour on a terminal"; else ok 1 "$cmd: colour on a terminal"; fi
  # shellcheck disable=SC2086
  "$BOTSENTRY" -c "$CONF" -d "sqlite:$DB" $cmd >"$T/pipe.out" 2>/dev/null
  if grep -q $'\033' "$T/pipe.out"; then ok 1 "$cmd: no escape codes in a pipe"; else ok 0 "$cmd: no escape codes in a pipe"; fi
done

run_pty "$T/tty.out" incidents list
tr -d '\r' <"$T/tty.out" | sed 's/\x1b\[[0-9;]*m//g' >"$T/tty.plain"
if grep -q $'\t' "$T/tty.plain"; then ok 1 "terminal table uses no tabs"; else ok 0 "terminal table uses no tabs"; fi
# the SUBSCRIBER column starts at the same place on every line
cols=$(awk '{ print index($0, ($5 == "" ? "x" : $5)) }' "$T/tty.plain" | sort -u | wc -l)
is "$cols" 1 "terminal table columns are aligned"
like "$(head -1 "$T/tty.plain")" "^ID  STATE  LEVEL  SCORE  SUBSCRIBER +OPENED" "header padded to the widest cell"

"$BOTSENTRY" -c "$CONF" -d "sqlite:$DB" incidents list >"$T/pipe.out"
is "$(head -1 "$T/pipe.out")" "$(printf 'ID\tSTATE\tLEVEL\tSCORE\tSUBSCRIBER\tOPENED\tUPDATED\tEVENTS\tKINDS\tSOURCES\tTICKET')" "pipe: tab-separated header"
is "$(awk -F'\t' '{ print NF }' "$T/pipe.out" | sort -u)" 11 "pipe: every line has 11 tab-separated fields"
if grep -q '  ' "$T/pipe.out"; then ok 1 "pipe: no alignment padding"; else ok 0 "pipe: no alignment padding"; fi

NO_COLOR=1 run_pty "$T/nocolor.out" incidents list
if grep -q $'\033' "$T/nocolor.out"; then ok 1 "NO_COLOR: no escape codes"; else ok 0 "NO_COLOR: no escape codes"; fi
like "$(head -1 "$T/nocolor.out")" "^ID  STATE" "NO_COLOR: still aligned"

# --json is the same on a terminal and through a pipe
run_pty "$T/tty.json" incidents list --json
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/tty.json"
ok $? "--json under a pty is plain JSON"

# hostile strings never reach the terminal raw
bs event add --subscriber alice --source milter --kind helo --score 1 --evidence '{"helo":"evil\u001b[31mred"}'
run_pty "$T/tty.out" incidents show 1
if grep -q $'evil\033' "$T/tty.out"; then ok 1 "escape in evidence neutralised"; else ok 0 "escape in evidence neutralised"; fi
like "$(cat "$T/tty.out")" 'evil\\x1b\[31mred' "shown as \\x1b"
done_testing
