#!/bin/bash
# The abuse desk's day, end to end on a real SQLite file: incidents list
# (filters, sorting, limit, CSV, JSON), show, ack/resolve/false-positive
# with the actor in the audit log, false-positive --allowlist, subscribers
# show/mitigate/release (by id, login, IP at a time), report (ARF), stats,
# audit and prune.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/cli.sh"

bs db init
printf 'alice,alice@example.net,Alice,alice.login\nbob,bob@example.net,Bob\ncarol,carol@example.net,Carol\n' >"$T/s.csv"
bs subscribers import "$T/s.csv"
printf '100.64.1.10,alice,2026-01-01,\n100.64.2.20,bob,2026-01-01,2026-06-01\n100.64.2.20,carol,2026-06-01,\n' >"$T/l.csv"
bs leases import --format csv "$T/l.csv"
is "$RC" 0 "setup: subscribers and leases"

now=$(date +%s)
bs event add --subscriber alice --source milter --kind rate --score 40 --time $((now - 7200)) --json
A=$(jq_py 'j["incident_id"]')
bs event add --ip 100.64.1.10 --source flow --kind direct_mx --score 30 --time $((now - 3600)) \
  --evidence '{"connections":420,"destinations":["203.0.113.5","203.0.113.9"],"window":"10m"}'
bs event add --subscriber bob --source logwatch --kind auth_bruteforce --score 12 --time $((now - 600)) --json
B=$(jq_py 'j["incident_id"]')
bs event add --subscriber carol --source milter --kind helo --score 35 --json
C=$(jq_py 'j["incident_id"]')

# --- list: filters, sort, limit, csv
bs incidents list --json
is "$(jq_py 'len(j)')" 3 "three incidents"
bs incidents list --level 2 --json
is "$(jq_py 'sorted(i["subscriber"] for i in j)')" "['alice', 'carol']" "--level 2 keeps levels >= 2"
is "$(bs incidents list --level 3 --json; jq_py 'j[0]["subscriber"]')" alice "--level 3: alice (score 70, level 3)"
bs incidents list --kind direct_mx --json
is "$(jq_py '[i["id"] for i in j]')" "[$A]" "--kind direct_mx"
bs incidents list --source logwatch --json
is "$(jq_py '[i["id"] for i in j]')" "[$B]" "--source logwatch"
bs incidents list --subscriber carol --json
is "$(jq_py '[i["id"] for i in j]')" "[$C]" "--subscriber carol"
bs incidents list --sort -score --limit 2 --json
is "$(jq_py '[i["subscriber"] for i in j]')" "['alice', 'carol']" "--sort -score --limit 2"
bs incidents list --sort score --json
is "$(jq_py '[i["subscriber"] for i in j]')" "['bob', 'carol', 'alice']" "--sort score ascending"
bs incidents list --since -30m --json
is "$(jq_py 'sorted(i["subscriber"] for i in j)')" "['bob', 'carol']" "--since -30m"
bs incidents list --until -30m --json
is "$(jq_py '[i["subscriber"] for i in j]')" "['alice']" "--until -30m"
bs incidents list --csv
is "$(printf '%s\n' "$OUT" | head -1 | tr -d '\r')" "ID,STATE,LEVEL,SCORE,SUBSCRIBER,OPENED,UPDATED,EVENTS,KINDS,SOURCES,TICKET" "CSV header"
like "$(printf '%s\n' "$OUT" | grep "^$A,")" "^$A,open,3,[0-9.]+,alice,.*,2,\"direct_mx,rate\",\"flow,milter\",-" "CSV quotes the comma lists"
bs incidents list
is "$(printf '%s\n' "$OUT" | wc -l)" 4 "table through a pipe: header and three rows"

# --- state changes, audited with the actor
bs incidents ack "$B" --note "looking at it"
is "$RC" 0 "ack"
like "$OUT" "incident $B: open -> acknowledged" "ack says what changed"
"$BOTSENTRY" -c "$CONF" -d "sqlite:$DB" -a desk.anna incidents resolve "$B" --note "customer cleaned the PC" >/dev/null
is "$?" 0 "resolve with -a"
is "$(db "SELECT actor || '|' || detail FROM audit WHERE object='incident:$B' ORDER BY id DESC LIMIT 1")" \
  "desk.anna|from=acknowledged to=resolved note=customer cleaned the PC" "audit row has the actor and the note"
bs --actor desk.ben incidents ack "$A"
bs incidents ack "$A" --actor desk.ben
is "$(db "SELECT actor FROM audit WHERE object='incident:$A' ORDER BY id DESC LIMIT 1")" desk.ben "--actor after the command"
bs incidents ack "$A"
is "$RC" 1 "ack twice: nothing to do, exit 1"
bs incidents ack "$B"
is "$RC" 2 "ack of a resolved incident refused"
like "$ERR" "cannot go from resolved to acknowledged" "and says why"
is "$(db "SELECT count(*) FROM notifications WHERE incident_id=$B AND kind='resolved'")" 1 "resolving enqueued a resolved notice"

# --- false positive with allowlist in one step
bs incidents false-positive "$C" --allowlist --expires 30d --note "HELO is their NAS"
is "$RC" 0 "false-positive --allowlist"
like "$OUT" "allowlisted subscriber carol for helo" "says what it allowlisted"
is "$(db "SELECT type || ' ' || subject || ' ' || scope || ' ' || owner FROM allowlist")" "subscriber carol helo $(id -un)" "allowlist entry: subscriber, detectors that fired, owner"
is "$(db "SELECT state FROM incidents WHERE id=$C")" false_positive "incident closed as false positive"
is "$(db "SELECT count(*) FROM audit WHERE action='allowlist.add'")" 1 "allowlist addition audited"
bs allowlist check --subscriber carol --kind helo
is "$RC" 0 "carol is now allowlisted for helo"
bs allowlist check --subscriber carol --kind rate
is "$RC" 1 "but not for rate"

# --- incidents show text
bs incidents show "$A"
like "$OUT" "incident $A  acknowledged  level 3" "show: header"
like "$OUT" "connections=420, destinations=203.0.113.5,203.0.113.9, window=10m" "show: readable evidence"
like "$OUT" "audit trail \(2\)" "show: audit trail (the state change and the mitigation)"
like "$OUT" "correlation	mitigation	action=throttle incident=$A" "show: the automatic mitigation is in the trail"
like "$OUT" "mitigation throttle" "show: level 3 set the subscriber's mitigation"

# --- subscribers show / mitigate / release
bs subscribers show alice --json
is "$RC" 0 "subscribers show by id"
is "$(jq_py 'j["id"], j["found_by"], j["mitigation"], j["mitigation_by"]')" "('alice', 'id', 'throttle', 'correlation')" "mitigation set by correlation"
is "$(jq_py 'sorted(j.keys())')" "['allowlist', 'email', 'found_by', 'id', 'incidents', 'known', 'leases', 'mitigation', 'mitigation_by', 'mitigation_since', 'name']" "subscriber JSON fields"
is "$(jq_py 'len(j["leases"]), len(j["incidents"])')" "(1, 1)" "leases and incidents listed"
bs subscribers show --login alice.login --json
is "$(jq_py 'j["id"], j["found_by"]')" "('alice', 'login')" "lookup by login"
bs subscribers show --ip 100.64.2.20 --at 2026-03-01 --json
is "$(jq_py 'j["id"], j["found_by"]')" "('bob', 'lease')" "lookup by IP at a time (bob in March)"
bs subscribers show --ip 100.64.2.20 --at 2026-07-01 --json
is "$(jq_py 'j["id"]')" carol "same IP in July: carol"
bs subscribers show --ip 100.64.2.20 --at 2025-07-01
is "$RC" 1 "nobody held it in 2025: exit 1"
like "$ERR" "nobody held 100.64.2.20" "and says so"
bs subscribers show nosuch
is "$RC" 1 "unknown subscriber: exit 1"
bs subscribers mitigate bob --action quarantine --note "spamming"
is "$RC" 0 "mitigate by hand"
is "$(db "SELECT mitigation || ' ' || mitigation_by FROM subscribers WHERE id='bob'")" "quarantine $(id -un)" "mitigation stored with the actor"
is "$(db "SELECT action || ' ' || object FROM audit ORDER BY id DESC LIMIT 1")" "subscriber.mitigate subscriber:bob" "mitigation audited"
bs subscribers release bob --note "clean"
is "$(db "SELECT mitigation FROM subscribers WHERE id='bob'")" monitor "release lifts it"
bs subscribers release bob
is "$RC" 1 "release twice: nothing to do"
bs subscribers mitigate --ip 100.64.2.20 --at 2026-07-01 --action reject
is "$RC" 0 "mitigate by address at a time"
like "$OUT" "address 100.64.2.20 is subscriber carol" "says who the address was"
is "$(db "SELECT mitigation FROM subscribers WHERE id='carol'")" reject "carol rejected"
bs subscribers release --login alice.login --note "by login"
is "$(db "SELECT mitigation FROM subscribers WHERE id='alice'")" monitor "release by login"
bs subscribers mitigate bob --action explode
is "$RC" 2 "unknown action: usage error"

# --- report: a valid ARF message
bs report "$A" --to abuse@upstream.example
is "$RC" 0 "report"
printf '%s' "$OUT" >"$T/report.eml"
python3 - "$T/report.eml" <<'PY' >"$T/report.check"
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'))
parts = m.get_payload()
print(m.get_content_type(), m.get_param('report-type'), len(parts))
print(','.join(p.get_content_type() for p in parts))
fb = parts[1].get_payload()[0] if parts[1].is_multipart() else email.message_from_string(parts[1].get_payload())
print(fb['Feedback-Type'], fb['Source-IP'], fb['Version'], fb['X-Botsentry-Incident'])
print(m['To'])
PY
is "$(sed -n 1p "$T/report.check")" "multipart/report feedback-report 3" "report: multipart/report with three parts"
is "$(sed -n 2p "$T/report.check")" "text/plain,message/feedback-report,text/rfc822-headers" "report: the three RFC 5965 parts"
is "$(sed -n 3p "$T/report.check")" "abuse 100.64.1.10 1 $A" "report: Feedback-Type, Source-IP, Version, incident"
is "$(sed -n 4p "$T/report.check")" "abuse@upstream.example" "report: To"
if grep -q "alice" "$T/report.eml"; then ok 1 "report does not name the subscriber"; else ok 0 "report does not name the subscriber"; fi
bs report 9999
is "$RC" 1 "report of an unknown incident: exit 1"

# --- stats
bs stats --json
is "$RC" 0 "stats --json"
is "$(jq_py 'sorted(j.keys())')" "['complaints', 'events', 'incidents', 'notifications', 'now', 'since']" "stats sections"
is "$(jq_py 'j["incidents"]["by_state"]')" "{'acknowledged': 1, 'false_positive': 1, 'resolved': 1}" "incidents by state"
is "$(jq_py 'j["incidents"]["by_kind"]["direct_mx"], j["events"]["by_kind"]["rate"]["milter"]')" "(1, 1)" "by kind"
is "$(jq_py 'sum(v for d in j["incidents"]["open_by_age"].values() for v in d.values())')" 1 "one incident still active"
is "$(jq_py 'sum(j["incidents"]["by_day"].values())')" 3 "incidents by day"
bs stats
like "$OUT" "incidents still active, by age and level \(1\)" "stats text"

# --- audit
bs audit --json
is "$(jq_py 'sorted(j[0].keys())')" "['action', 'actor', 'detail', 'id', 'object', 'time', 'time_ms']" "audit JSON fields"
bs audit --actor desk.anna --json
is "$(jq_py 'len(j)')" 1 "audit --actor"
bs audit --action incident --json
is "$(jq_py 'len(j) >= 4 and all(a["action"].startswith("incident.") for a in j)')" true "audit --action prefix"
bs audit --object "incident:$B" --csv
is "$(printf '%s\n' "$OUT" | wc -l)" 3 "audit --object --csv: header and two rows"
bs audit --limit 2 --json
is "$(jq_py 'len(j)')" 2 "audit --limit"

# --- prune: retention from the config; audited
db "UPDATE events SET ts_ms = ts_ms - 200*86400000; UPDATE incidents SET closed_ms = closed_ms - 400*86400000 WHERE id=$B"
db "INSERT INTO notify_notices (subscriber, last_ms, count) VALUES ('gone-sub', 1000, 1)"
db "INSERT INTO leases (prefix, subscriber, valid_from, valid_to, source, imported_ms) VALUES ('198.51.100.1/32', 'gone-sub', 1000, 2000, 'csv', 2000)"
ended=$(db "SELECT count(*) FROM leases WHERE valid_to < $(( $(date +%s) * 1000 - 90 * 86400000 ))")
bs prune --dry-run --json
is "$(jq_py 'j["dry_run"], j["events_deleted"] > 0, j["notices_deleted"], j["leases_deleted"]')" "(True, True, 1, $ended)" \
  "prune --dry-run counts (events, notice times, ended leases)"
is "$(db "SELECT count(*) FROM events")" 4 "dry run deleted nothing"
bs prune
is "$RC" 0 "prune"
like "$OUT" "1 closed incident .* anonymized .* 1 notice time and $ended leases? deleted" "prune reports what it did"
is "$(db "SELECT count(*) FROM leases WHERE subscriber = 'gone-sub'") $(db "SELECT count(*) FROM notify_notices WHERE subscriber = 'gone-sub'")" "0 0" \
  "the ended lease and the old notice time are gone"
is "$(db "SELECT subscriber FROM incidents WHERE id=$B")" "anonymized-$B" "old closed incident anonymized"
is "$(db "SELECT count(*) FROM events WHERE incident_id=$A")" 2 "events of active incidents kept"
is "$(db "SELECT actor FROM audit WHERE action='prune'")" "$(id -un)" "prune audited with the actor"

# --- prune keeps the notice times still spacing notices, when events go sooner
printf 'retention {\n\tevents = 1d\n}\nnotify {\n\tsubscriber_interval = 3d\n}\n' >>"$CONF"
nowms=$(( $(date +%s) * 1000 ))
db "INSERT INTO notify_notices (subscriber, last_ms, count) VALUES ('told-2d', $((nowms - 2 * 86400000)), 1), ('told-4d', $((nowms - 4 * 86400000)), 1)"
bs prune --json
is "$RC $(jq_py 'j["notices_deleted"]')" "0 1" "prune with events kept 1d and notices spaced 3d deletes one notice time"
is "$(db "SELECT group_concat(subscriber) FROM notify_notices WHERE subscriber LIKE 'told-%'")" "told-2d" \
  "the subscriber told two days ago keeps the notice time"
done_testing
