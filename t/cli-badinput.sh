#!/bin/bash
# Bad input gets a clear error naming the place and stores nothing:
# malformed CSV rows, lease files and events; usage errors (2), not found
# (1), store errors (3) and a bad configuration (78).
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/cli.sh"

bs db init
is "$RC" 0 "db init"
audit0=$(db "SELECT count(*) FROM audit")

# subscribers: one bad row refuses the whole file, every bad row named
cat >"$T/subs.csv" <<'CSV'
alice,alice@example.net,Alice
bob,not-an-address,Bob
carol,carol@example.net
"dave,dave@example.net,Dave
eve x,eve@example.net,Eve
CSV
bs subscribers import "$T/subs.csv"
is "$RC" 2 "bad subscribers CSV: exit 2"
like "$ERR" "subs.csv:2: field 2 \(email\)" "names line 2 and the email field"
like "$ERR" "subs.csv:3: expected 3 or 4 fields" "names line 3 (too few fields)"
like "$ERR" "subs.csv:4: unterminated quoted field" "names line 4 (broken quote)"
like "$ERR" "subs.csv:5: field 1 \(id\)" "names line 5 (blank in the id)"
like "$ERR" "nothing was imported" "says nothing was imported"
is "$(db "SELECT count(*) FROM subscribers")" 0 "no subscriber stored (not even the good line)"

# leases: a bad line refuses every file
printf 'prefix,subscriber,valid_from,valid_to\n100.64.1.10,alice,2026-01-01,\n' >"$T/good.csv"
printf 'prefix,subscriber,valid_from,valid_to\n100.64.1.11,bob,2026-01-01,\n300.1.1.1,carol,2026-01-01,\n' >"$T/bad.csv"
bs leases import --format csv "$T/good.csv" "$T/bad.csv"
is "$RC" 2 "bad lease file: exit 2"
like "$ERR" "bad.csv:3:" "names bad.csv line 3"
like "$ERR" "nothing was imported" "says nothing was imported"
is "$(db "SELECT count(*) FROM leases")" 0 "no lease stored from either file"
printf 'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\nnot-an-ip,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,0,\n' >"$T/kea.csv"
bs leases import --format kea "$T/kea.csv"
is "$RC" 2 "bad kea line: exit 2"
like "$ERR" "kea.csv:2:" "names kea.csv line 2"
bs leases import --format nope "$T/good.csv"
is "$RC" 2 "unknown --format: usage error"
bs leases import "$T/missing.csv"
is "$RC" 1 "missing lease file: exit 1"
like "$ERR" "cannot open .*missing.csv" "names the missing file"

# events
bs event add --subscriber alice --source milter --kind rate --score lots
is "$RC" 2 "non-numeric score: exit 2"
like "$ERR" "score" "names the score"
bs event add --subscriber alice --source martians --kind rate --score 1
is "$RC" 2 "unknown source: exit 2"
like "$ERR" "field 'source'" "names the source field"
bs event add --subscriber alice --source milter --kind Rate! --score 1
like "$ERR" "field 'kind'" "bad kind named"
bs event add --subscriber alice --source milter --kind rate --score 5000
like "$ERR" "score" "score out of range named"
bs event add --subscriber alice --source milter --kind rate --score 1 --evidence '{"a":'
is "$RC" 2 "broken evidence JSON: exit 2"
like "$ERR" "evidence: not JSON" "evidence named"
bs event add --subscriber alice --source milter --kind rate --score 1 --evidence '[1,2]'
like "$ERR" "expected a JSON object" "evidence must be an object"
bs event add --subscriber alice --source milter --kind rate --score 1 --time 2099-01-01
is "$RC" 2 "event far in the future: exit 2"
bs event add --ip 999.1.1.1 --source milter --kind rate --score 1
like "$ERR" "not an IP address" "bad --ip named"
bs event add --source milter --kind rate --score 1
like "$ERR" "--subscriber or --ip is needed" "missing subject explained"
bs event add --subscriber alice --source milter --kind rate --score 1 --time yesterday-ish
like "$ERR" "--time: cannot read the time" "bad --time named"
is "$(db "SELECT count(*) FROM events")" 0 "no event stored by any bad call"
is "$(db "SELECT count(*) FROM audit")" "$audit0" "no audit row either"

# usage, not found, store error, bad config
bs frobnicate
is "$RC" 2 "unknown command: exit 2"
like "$ERR" "unknown command 'frobnicate'" "names the command"
bs incidents frob
is "$RC" 2 "unknown verb: exit 2"
like "$ERR" "takes: list show ack resolve false-positive" "lists the verbs"
bs incidents list --state bogus
is "$RC" 2 "bad --state: exit 2"
like "$ERR" "usage: botsentry incidents list" "prints the synopsis"
bs incidents list --help
is "$RC" 0 "--help after a command"
like "$OUT" "usage: botsentry incidents list" "--help prints the synopsis"
bs incidents ack 12345 --note x
is "$RC" 1 "ack of an unknown incident: exit 1"
bs incidents ack abc
is "$RC" 2 "non-numeric id: exit 2"
"$BOTSENTRY" -c "$CONF" -d "sqlite:$T/nonexistent/dir/x.db" incidents list >/dev/null 2>"$T/e3"
is "$?" 3 "unopenable store: exit 3"
like "$(cat "$T/e3")" "cannot open the store" "says why"
mkdir -p "$T/empty"
"$BOTSENTRY" -c "$CONF" -d "sqlite:$T/empty/x.db" incidents list >/dev/null 2>"$T/e4"
is "$?" 3 "store without schema: exit 3"
like "$(cat "$T/e4")" "db init" "suggests db init"
printf 'no_such_key = 1\n' >"$T/bad.conf"
"$BOTSENTRY" -c "$T/bad.conf" -d "sqlite:$DB" incidents list >/dev/null 2>"$T/e5"
is "$?" 78 "bad configuration: exit 78"
like "$(cat "$T/e5")" "bad.conf:1" "names file and line"
done_testing
