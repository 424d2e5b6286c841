#!/bin/bash
# allowlist add|remove|list|check end to end: subjects of every type,
# scopes, expiry, the audit trail, the JSON shape, and check explaining
# why an entry does not match.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/cli.sh"

bs db init
printf '100.64.1.10,alice,2026-01-01,\n' >"$T/l.csv"
bs leases import --format csv "$T/l.csv"

bs allowlist add --subscriber alice --scope rate,fanout --reason "newsletter sender" --json
is "$RC" 0 "add subscriber entry"
is "$(jq_py 'j["type"], j["subject"], j["scope"], j["expires"], j["expired"]')" "('subscriber', 'alice', ['fanout', 'rate'], None, False)" "entry JSON, scope sorted"
is "$(jq_py 'sorted(j.keys())')" "['created', 'expired', 'expires', 'id', 'owner', 'reason', 'scope', 'subject', 'type']" "allowlist JSON fields"
bs allowlist add --ip 100.64.7.99/24 --scope direct_mx --expires 7d --reason "business MX" --owner noc
is "$RC" 0 "add IP entry with expiry"
like "$OUT" "ip 100.64.7.0/24, detectors direct_mx, expires" "prefix normalised"
bs allowlist add --domain @Shop.Example --reason "shop newsletters"
is "$RC" 0 "add domain entry (all detectors)"
bs allowlist add --sender bulk@lists.example --scope rate --reason "list server"
is "$RC" 0 "add sender entry"
bs allowlist add --subscriber bob --scope helo --reason "old" --expires 2027-01-01
is "$RC" 0 "add entry with a date expiry"
db "UPDATE allowlist SET expires_ms = 1000 WHERE subject='bob'"

# refusals
bs allowlist add --ip 300.1.1.1 --reason x
is "$RC" 2 "bad IP refused"
like "$ERR" "not an IP address or CIDR prefix" "says why"
bs allowlist add --subscriber x --reason ""
like "$ERR" "--reason is needed" "reason required"
bs allowlist add --subscriber x --ip 1.2.3.4 --reason y
like "$ERR" "exactly one of" "one subject only"
bs allowlist add --subscriber x --scope "Rate!" --reason y
like "$ERR" "not a detector kind" "bad scope refused"
bs allowlist add --subscriber x --expires -1d --reason y
is "$RC" 2 "expiry in the past refused"

# list
bs allowlist list --json
is "$(jq_py 'len(j)')" 4 "list hides the expired entry"
bs allowlist list --all --json
is "$(jq_py 'len(j), [e["expired"] for e in j if e["subject"]=="bob"]')" "(5, [True])" "--all shows it, marked expired"
bs allowlist list --csv
is "$(printf '%s\n' "$OUT" | head -1 | tr -d '\r')" "ID,TYPE,SUBJECT,SCOPE,EXPIRES,OWNER,REASON" "CSV header"

# check: matches and near misses
bs allowlist check --subscriber alice --kind rate --json
is "$RC" 0 "alice/rate allowlisted"
is "$(jq_py 'j["allowlisted"], j["match"]["subject"]')" "(True, 'alice')" "match named"
is "$(jq_py 'sorted(j.keys())')" "['allowlisted', 'considered', 'match', 'query']" "check JSON sections"
bs allowlist check --subscriber alice --kind helo --json
is "$RC" 1 "alice/helo not allowlisted: exit 1"
is "$(jq_py '[(c["entry"]["subject"], c["verdict"]) for c in j["considered"]]')" "[('alice', 'out_of_scope')]" "explains: out of scope"
bs allowlist check --subscriber alice --kind helo
like "$OUT" "not allowlisted" "text: not allowlisted"
like "$OUT" "the detector is not in its scope" "text: why"
bs allowlist check --subscriber bob --kind helo --json
is "$(jq_py '[c["verdict"] for c in j["considered"]]')" "['expired']" "explains: expired"
bs allowlist check --ip 100.64.7.12 --kind direct_mx --json
is "$(jq_py 'j["allowlisted"], j["match"]["owner"]')" "(True, 'noc')" "IP inside the prefix"
bs allowlist check --ip 100.64.1.10 --kind fanout --json
is "$(jq_py 'j["query"]["subscriber"], j["query"]["subscriber_from_lease"], j["allowlisted"]')" "('alice', True, True)" "IP resolved to its subscriber through the lease"
bs allowlist check --sender News@mail.shop.example --kind helo --json
is "$(jq_py 'j["match"]["type"]')" domain "sender in an allowlisted domain"
bs allowlist check --sender bulk@lists.example --kind fanout --json
is "$(jq_py 'j["allowlisted"], [c["verdict"] for c in j["considered"]]')" "(False, ['out_of_scope'])" "sender entry out of scope"
bs allowlist check --kind rate
is "$RC" 2 "check needs a subject"

# remove, audited
id=$(db "SELECT id FROM allowlist WHERE subject='alice'")
bs allowlist remove "$id" --note "stopped the newsletter"
is "$RC" 0 "remove"
is "$(db "SELECT count(*) FROM allowlist WHERE id=$id")" 0 "row gone"
like "$(db "SELECT detail FROM audit WHERE action='allowlist.remove'")" "subject=alice scope=fanout,rate .*note=stopped the newsletter" "removal audited with what it was"
bs allowlist remove "$id"
is "$RC" 1 "remove twice: exit 1"
is "$(db "SELECT count(*) FROM audit WHERE action='allowlist.add'")" 5 "every addition audited"
done_testing
