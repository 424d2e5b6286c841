#!/bin/bash
# ingest-arf on the fixture reports: attribution by Source-IP at the
# Arrival-Date, by the Received trace when Source-IP is missing, base64
# parts, a wrapped report, an mbox of several, unattributable reports kept,
# duplicates counted once, broken ones named; complaints list; --dry-run.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/cli.sh"
F=$top_srcdir/t/fixtures/arf

bs db init
printf 'alice,alice@example.net,Alice\nbob,bob@example.net,Bob\n' >"$T/s.csv"
bs subscribers import "$T/s.csv"
cat >"$T/l.csv" <<'CSV'
100.64.1.10,alice,2026-11-01,2026-12-01
100.64.2.20,bob,2026-11-01,2026-12-01
2001:db8:1::/48,bob,2026-11-01,
CSV
bs leases import --format csv "$T/l.csv"

bs ingest-arf "$F/01-multipart-report.eml" --json
is "$RC" 0 "classic report ingested"
is "$(jq_py 'j["attributed"], j["reports"][0]["subscriber"], j["reports"][0]["attributed_by"]')" "(1, 'alice', 'source_ip')" "attributed by Source-IP"
is "$(jq_py 'sorted(j.keys())')" "['allowlisted', 'attributed', 'dry_run', 'duplicate', 'file', 'invalid', 'messages', 'reports', 'unattributed']" "ingest JSON sections"
is "$(jq_py 'sorted(j["reports"][0].keys())')" "['arrival', 'attributed_at', 'attributed_by', 'attributed_ip', 'error', 'event_id', 'feedback_type', 'incident_id', 'index', 'level', 'line', 'note', 'reporter', 'source_ip', 'status', 'subscriber', 'user_agent', 'warning']" "report JSON fields"
is "$(db "SELECT source || ' ' || kind || ' ' || subscriber || ' ' || client_ip FROM events")" "fbl fbl_complaint alice 100.64.1.10" "fbl_complaint event recorded"
like "$(db "SELECT evidence FROM events")" '"reporter":"fbl-noreply@fbl.bigmail.example"' "evidence names the reporter"
if db "SELECT evidence FROM events" | grep -q "victim@"; then ok 1 "recipient not stored"; else ok 0 "recipient not stored"; fi

bs ingest-arf "$F/01-multipart-report.eml" --json
is "$(jq_py 'j["duplicate"], j["attributed"]')" "(1, 0)" "the same report again is a duplicate"
is "$(db "SELECT count(*) FROM events")" 1 "and records no second event"

bs ingest-arf "$F/02-no-source-ip.eml" --json
is "$(jq_py 'j["reports"][0]["subscriber"], j["reports"][0]["attributed_by"], j["reports"][0]["attributed_ip"]')" "('alice', 'received', '100.64.1.10')" "no Source-IP: attributed through the Received trace"
if db "SELECT * FROM fbl_complaints" | grep -q "Dear winner"; then ok 1 "body not stored"; else ok 0 "body not stored"; fi

bs ingest-arf "$F/03-base64.eml" --json
is "$(jq_py 'j["reports"][0]["subscriber"], j["reports"][0]["arrival"]')" "('alice', '2026-11-14T10:00:00Z')" "base64 parts decoded, zone applied"

bs ingest-arf "$F/04-mixed-wrapper-qp.eml" --json
is "$(jq_py 'j["reports"][0]["subscriber"], j["reports"][0]["feedback_type"]')" "('bob', 'fraud')" "wrapped report, IPv6 Source-IP in a /48 lease"

bs ingest-arf "$F/05-unattributable.eml" --json
is "$RC" 0 "unattributable report is not an error"
is "$(jq_py 'j["unattributed"], j["reports"][0]["status"]')" "(1, 'unattributed')" "listed as unattributed"
is "$(db "SELECT count(*) FROM fbl_complaints WHERE status='unattributed' AND source_ip='192.0.2.99'")" 1 "and kept in the complaints table"

bs ingest-arf "$F/06-three.mbox"
is "$RC" 0 "mbox of three"
like "$OUT" "3 messages: 2 attributed, 1 unattributed, 0 duplicate, 0 invalid" "summary line"
like "$OUT" "complaints list --unattributed" "points at the kept ones"

bs complaints list --unattributed --json
is "$(jq_py 'sorted(c["source_ip"] for c in j)')" "['192.0.2.200', '192.0.2.99']" "complaints list --unattributed"
bs complaints list --json
is "$(jq_py 'len(j)')" 8 "every report read is kept (5 files and an mbox of 3)"
is "$(db "SELECT count(*) FROM events WHERE kind='fbl_complaint'")" 6 "six complaint events (all but the two unattributable)"
is "$(db "SELECT count(DISTINCT incident_id) FROM events WHERE kind='fbl_complaint'")" 2 "in alice's and bob's incidents"

# bytes that are not UTF-8 in the fields: stored, shown and given as JSON safely
bs ingest-arf "$F/07-latin1.eml" --json
is "$RC" 0 "Latin-1 report ingested"
is "$(jq_py 'j["reports"][0]["subscriber"], j["reports"][0]["feedback_type"], j["reports"][0]["user_agent"]')" "('alice', 'ab_se', 'Caf?/1')" "odd bytes made safe in JSON"
like "$(db "SELECT evidence FROM events ORDER BY id DESC LIMIT 1")" '"reporter":"fbl@latin1.example"' "evidence recorded"
bs complaints list --json
is "$(jq_py 'len(j)')" 9 "complaints list still valid JSON"
bs stats --json
is "$(jq_py 'j["complaints"]["by_status"]["attributed"]["ab_se"]')" 1 "stats JSON keys are UTF-8"
bs incidents show "$(db "SELECT incident_id FROM events ORDER BY id DESC LIMIT 1")" --json
is "$RC" 0 "incidents show --json with such evidence"

# broken ones: named, the rest of an mbox still read
cat "$F/06-three.mbox" >"$T/mixed.mbox"
printf 'From x@y Mon Nov 16 10:00:00 2026\n' >>"$T/mixed.mbox"
cat "$F/bad-no-feedback-type.eml" >>"$T/mixed.mbox"
printf '\n' >>"$T/mixed.mbox"
bs ingest-arf "$T/mixed.mbox" --dry-run
is "$RC" 2 "an invalid report: exit 2"
like "$ERR" "mixed.mbox: message 4 \(line 92\): .*missing the required Feedback-Type" "names message and line"
like "$OUT" "4 messages: 2 attributed, 1 unattributed, 0 duplicate, 1 invalid" "the others are still read"
for f in bad-no-boundary.eml bad-not-arf.eml bad-truncated.eml bad-dsn.eml bad-garbage.bin; do
  bs ingest-arf "$F/$f"
  is "$RC" 2 "$f refused"
done
like "$ERR" "message 1" "garbage refused with a place"
bs ingest-arf "$T/nonexistent"
is "$RC" 1 "missing file: exit 1"
printf '' >"$T/empty"
bs ingest-arf "$T/empty"
is "$RC" 1 "empty input: nothing to do"

# dry run writes nothing; stdin works
before=$(db "SELECT count(*) FROM fbl_complaints")
"$BOTSENTRY" -c "$CONF" -d "sqlite:$DB" ingest-arf --dry-run - <"$F/03-base64.eml" >"$T/o" 2>&1
is "$?" 0 "ingest from stdin, dry run"
like "$(cat "$T/o")" "dry run" "says it is a dry run"
is "$(db "SELECT count(*) FROM fbl_complaints")" "$before" "dry run stored nothing"

# allowlisted subscribers: complaint kept, no event
bs allowlist add --subscriber bob --scope fbl_complaint --reason "test"
sed 's/mbox-2@/mbox-2b@/' "$F/06-three.mbox" | sed -n '/^From fbl@feedback.example Mon Nov 16 09:00:02/,/^From fbl@feedback.example Mon Nov 16 09:00:03/p' | sed '$d' >"$T/bob.mbox"
bs ingest-arf "$T/bob.mbox" --json
is "$(jq_py 'j["allowlisted"], j["reports"][0]["event_id"]')" "(1, None)" "allowlisted: no event"
like "$(jq_py 'j["reports"][0]["note"]')" "allowlisted by entry" "and says by which entry"
is "$(db "SELECT count(*) FROM audit WHERE action='complaints.ingest'")" 14 "every ingestion run that read messages is audited (not dry runs)"
# RFC 2047 encoded-words (Latin-1, UTF-8 B and Q, Windows-1252, ISO-8859-15,
# one in an unknown charset): decoded where the desk sees them, the one that
# cannot be decoded kept and warned about with the file, message and line
bs ingest-arf "$F/08-encoded-words.eml" --json
is "$RC" 0 "report with encoded-words ingested"
is "$(jq_py 'j["reports"][0]["subscriber"]')" "alice" "attributed"
is "$(jq_py 'j["reports"][0]["user_agent"]')" "GroßePost-FBL/3.0" "User-Agent decoded (UTF-8, Q)"
is "$(jq_py 'j["reports"][0]["reporter"]')" "fbl@grosse-post.example" "reporter: the address behind an encoded display name"
like "$ERR" '08-encoded-words\.eml: message 1 \(line 1\): warning: line 32: Subject of the reported message: 1 encoded-word left as it was \(unknown charset "x-klingon"\)' "undecodable word: file, message, line and field named"
bs complaints list --json
is "$(jq_py '[c["reporter"] for c in j if c["source_ip"] == "100.64.1.10" and "klingon" in (c["detail"] or "")]')" "['fbl@grosse-post.example']" "complaints list shows it with the warning"
is "$(db "SELECT user_agent FROM fbl_complaints WHERE reporter='fbl@grosse-post.example'")" "GroßePost-FBL/3.0" "stored decoded"
is "$(jq_py '[c["user_agent"] for c in j if c["reporter"] == "fbl@grosse-post.example"]')" "['GroßePost-FBL/3.0']" "complaints list --json gives the User-Agent"
is "$(db "SELECT json_extract(evidence, '\$.user_agent') FROM events ORDER BY id DESC LIMIT 1")" "GroßePost-FBL/3.0" "event evidence decoded"
if db "SELECT * FROM fbl_complaints; SELECT evidence FROM events" | grep -q -e "Nur heute" -e "Uhren" -e "ISO-8859-15"; then ok 1 "reported message's Subject and From not stored"; else ok 0 "reported message's Subject and From not stored"; fi
# in an mbox the line is the file's
{ printf 'From a@b Mon Nov 16 10:00:00 2026\n'; cat "$F/01-multipart-report.eml"; printf '\nFrom a@b Mon Nov 16 10:00:01 2026\n'; cat "$F/08-encoded-words.eml"; } >"$T/enc.mbox"
bs ingest-arf --dry-run "$T/enc.mbox"
is "$RC" 0 "mbox with encoded-words"
like "$ERR" 'enc\.mbox: message 2 \(line 52\): warning: line 83: Subject of the reported message' "the warning names the mbox's line"
# encoded control characters and invalid bytes never reach the table
sed -e 's/^User-Agent: .*/User-Agent: =?UTF-8?Q?evil=1B[2J=0D=0AX?= =?UTF-8?Q?=C3=28?=/' \
    -e 's/fbl-8-20261113@/fbl-8b@/' "$F/08-encoded-words.eml" >"$T/ctl.eml"
bs ingest-arf "$T/ctl.eml" --json
is "$RC" 0 "report with encoded control characters ingested"
is "$(jq_py 'j["reports"][0]["user_agent"]')" "evil [2J X =?UTF-8?Q?=C3=28?=" "controls made blanks, invalid UTF-8 word kept"
like "$(jq_py 'j["reports"][0]["warning"]')" "User-Agent: 1 encoded-word left as it was \(bytes not valid in UTF-8\)" "and warned about"
if db "SELECT user_agent FROM fbl_complaints" | LC_ALL=C grep -q "$(printf '\033')"; then ok 1 "no escape stored"; else ok 0 "no escape stored"; fi
bs ingest-arf "$T/ctl.eml"
like "$OUT" "duplicate" "table output fine"
done_testing
