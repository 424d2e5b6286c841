#!/usr/bin/env bash
# botsentry-notifyd end to end: events from two sources for one subscriber
# -> one incident -> a subscriber notice delivered by a real private Postfix
# (its sendmail binary, -C its config) into a Maildir the test reads, an ARF
# report that Python's email package splits into the three RFC 5965 parts, a
# signed webhook checked by a local HTTP receiver, and an exec hook that ran
# with the right arguments, environment and input.  The evidence is hostile
# (CRLF + Bcc, quotes, $(...), NUL, 10 kB): nothing may leak into headers,
# JSON or a shell.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/notify.sh"
. "$top_srcdir/t/lib/postfix.sh"
need_root
need_cmd postfix postconf sqlite3 python3
[ -x "$BOTSENTRY_NOTIFYD" ] || skip_all "botsentry-notifyd not built"

# ---------------------------------------------------------------- Postfix
postfix_setup "$T/pf" "$(free_port)" "$(free_port)" "" || skip_all "postfix setup failed"
mkdir -p "$T/pf/mail"
chown nobody:nogroup "$T/pf/mail"
postfix_conf "virtual_mailbox_domains = isp.test desk.test" \
  "virtual_mailbox_base = $T/pf/mail" "virtual_mailbox_maps = static:box/" \
  "virtual_uid_maps = static:$(id -u nobody)" "virtual_gid_maps = static:$(id -g nobody)" \
  "virtual_minimum_uid = 1"
postconf -c "$PF_ETC" -M "virtual/unix=virtual unix - n n - - virtual"
postfix_start || { echo "not ok - postfix did not start"; exit 1; }
MAILDIR=$T/pf/mail/box

maildir_count() { find "$MAILDIR/new" -type f 2>/dev/null | wc -l | tr -d ' '; }
wait_mail() {  # wait_mail N
  local i
  for i in $(seq 1 150); do [ "$(maildir_count)" -ge "$1" ] && return 0; sleep 0.1; done
  return 1
}

# ---------------------------------------------------------------- botsentry
nd_db || { echo "not ok - db init"; exit 1; }
HOOKPORT=$(free_port)
sink_start hook "$HOOKPORT"
cat > "$T/hook.sh" <<EOF
#!/bin/sh
# the exec channel's program: keeps its input, arguments and environment
n=\$(find "$T/exec" -name '*.json' | wc -l)
cat > "$T/exec/\$n.json"
env > "$T/exec/\$n.env"
printf '%s\n' "\$@" > "$T/exec/\$n.args"
EOF
chmod 755 "$T/hook.sh"
mkdir -p "$T/exec"
nd_conf "$T/notify.conf" <<EOF
  sendmail = "/usr/sbin/sendmail"
  sendmail_args = {"-C", "$PF_ETC"}
  subscriber_interval = 1h
  email {
    enabled = true
    from = "Test ISP abuse desk <abuse@isp.test>"
    reply_to = "Test ISP help <help@isp.test>"
  }
  arf {
    enabled = true
    levels = {2, 3}
    to = "reports@desk.test"
    from = "botsentry <abuse@isp.test>"
    reported_domain = "isp.test"
  }
  webhook {
    enabled = true
    url = "http://127.0.0.1:$HOOKPORT/botsentry"
    secret_file = "$HOOK_SECRET"
  }
  exec {
    enabled = true
    levels = {1, 2, 3}
    kinds = {new, update, mitigation}
    command = {"$T/hook.sh", "arg one", "\$(touch $T/pwned)"}
  }
EOF
"$BOTSENTRY_NOTIFYD" -c "$T/notify.conf" -n >/dev/null 2>&1
ok $? "the test configuration is valid (-n)"

# Hostile evidence: header injection, quotes, command substitution, 10 kB.
BIG=$(head -c 10240 /dev/zero | tr '\0' 'B')
HELO='evil.example\r\nBcc: victim@example.org\r\n\r\n\"quoted\" $(touch '"$T"'/pwned) `id`'
nd_event alice milter helo 15 "{\"helo\":\"$HELO\",\"sender\":\"$BIG\"}" 100.64.1.10
ok $? "event 1 (milter, helo) recorded"
nd_event alice flow direct_mx 20 '{"destinations":12,"window":"10m"}' 100.64.1.10
ok $? "event 2 (flow, direct_mx) recorded"
# a NUL byte inside stored evidence (not valid JSON any more)
dq "UPDATE events SET evidence = '{\"x\":\"a' || char(0) || 'b\"}' WHERE id = 2"
is "$(dq "SELECT count(*) FROM incidents")" 1 "two sources, one incident"
is "$(dq "SELECT group_concat(kind || ':' || level, ' ') FROM notifications ORDER BY id")" \
  "new:1 update:2" "correlation enqueued a new (level 1) and an update (level 2)"

nd_once "$T/notify.conf"
ok $? "notifyd --once drained the outbox"
wait_mail 2
ok $? "Postfix delivered two messages into the Maildir"
postfix_wait_idle 10

# ---------------------------------------------------------------- the notice
out=$(python3 - "$MAILDIR" <<'EOF'
import email, email.policy, glob, sys
msgs = [email.message_from_binary_file(open(f, "rb"), policy=email.policy.default)
        for f in sorted(glob.glob(sys.argv[1] + "/new/*"))]
n = [m for m in msgs if m["To"] and "alice@isp.test" in m["To"]]
print("count=%d" % len(n))
m = n[0]
allowed = {"return-path", "delivered-to", "received", "from", "to", "reply-to", "subject",
           "date", "message-id", "mime-version", "content-type", "content-transfer-encoding",
           "auto-submitted", "x-botsentry-incident", "x-original-to"}
names = {k.lower() for k in m.keys()}
print("extra_headers=%s" % ",".join(sorted(names - allowed)))
print("bcc=%s" % ("bcc" in names))
print("msgid=%s" % m["Message-ID"])
print("from=%s" % m["From"])
print("replyto=%s" % m["Reply-To"])
print("ctype=%s charset=%s" % (m.get_content_type(), m.get_content_charset()))
print("date=%s" % bool(m["Date"]))
body = m.get_content()
for w in ["What to do now", "0800 123 456", "incident number 1", "Test ISP",
          "evil.example Bcc: victim@example.org", "$(touch", "directly to other providers"]:
    print("has[%s]=%s" % (w, w in body))
print("longest_line=%d" % max(len(l) for l in body.splitlines()))
print("crlf_in_body=%s" % ("\r" in body))
a = [m for m in msgs if m["To"] and "reports@desk.test" in m["To"]]
print("arf_count=%d" % len(a))
r = a[0]
print("arf_type=%s report_type=%s" % (r.get_content_type(), r.get_param("report-type")))
parts = list(r.iter_parts())
print("arf_parts=%s" % ",".join(p.get_content_type() for p in parts))
fb = parts[1]
payload = fb.get_payload()
if isinstance(payload, list):           # message/* parts parse into messages
    fields = {}
    for sub in payload:
        fields.update({k.lower(): str(v) for k, v in sub.items()})
else:
    fields = {}
    for line in payload.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
for k in ["feedback-type", "user-agent", "version", "source-ip", "arrival-date", "reported-domain",
          "x-botsentry-incident"]:
    print("fb[%s]=%s" % (k, fields.get(k)))
evid = [str(v) for k, v in (payload[0].items() if isinstance(payload, list) else [])
        if k.lower() == "x-botsentry-evidence"]
if not isinstance(payload, list):
    evid = [l.split(":", 1)[1] for l in payload.splitlines() if l.lower().startswith("x-botsentry-evidence:")]
print("fb_evidence=%d helo_in_evidence=%s" % (len(evid), any("evil.example" in e for e in evid)))
third = parts[2]
raw = third.as_string() if hasattr(third, "as_string") else str(third)
hdrs = raw.split("\n\n", 1)[1] if "\n\n" in raw else ""
print("third_has_body=%s" % (hdrs.strip().count("\n\n") > 0))
print("third_received=%s" % ("Received: from" in hdrs and "100.64.1.10" in hdrs))
print("third_no_bcc_line=%s" % (not any(l.startswith("Bcc:") for l in hdrs.splitlines())))
EOF
)
echo "$out" | sed 's/^/# /' | head -60
like "$out" "count=1" "exactly one notice to the subscriber (the update waits for the notice interval)"
like "$out" "extra_headers=$" "no header in the notice other than ours and Postfix's"
like "$out" "bcc=False" "the hostile HELO did not inject a Bcc header"
like "$out" "msgid=<inc-1-lvl-1-email@isp.test>" "Message-ID carries the idempotency key"
like "$out" 'from="?Test ISP abuse desk"? <abuse@isp.test>' "configured From"
like "$out" 'replyto="?Test ISP help"? <help@isp.test>' "configured Reply-To"
like "$out" "ctype=text/plain charset=utf-8" "text/plain; charset=utf-8"
like "$out" "has\[What to do now\]=True" "the notice says what to do"
like "$out" "has\[0800 123 456\]=True" "the notice says where to get help"
like "$out" "has\[directly to other providers\]=True" "the notice explains what was seen in plain words"
like "$out" "has\[evil.example Bcc: victim@example.org\]=True" "the hostile HELO appears as flat text in the body"
like "$out" "crlf_in_body=False" "no stray CR in the decoded body"
like "$out" "arf_count=1" "one ARF report to the abuse desk (arf fires at levels 2 and 3)"
like "$out" "arf_type=multipart/report report_type=feedback-report" "ARF: multipart/report; report-type=feedback-report"
like "$out" "arf_parts=text/plain,message/feedback-report,text/rfc822-headers" "ARF: the three RFC 5965 parts"
like "$out" "fb\[feedback-type\]=abuse" "ARF: Feedback-Type"
like "$out" "fb\[user-agent\]=botsentry/" "ARF: User-Agent"
like "$out" "fb\[version\]=1" "ARF: Version"
like "$out" "fb\[source-ip\]=100.64.1.10" "ARF: Source-IP"
like "$out" "fb\[arrival-date\]=[A-Z][a-z]{2}, " "ARF: Arrival-Date"
like "$out" "fb\[reported-domain\]=isp.test" "ARF: Reported-Domain"
like "$out" "fb_evidence=2 helo_in_evidence=True" "ARF: the evidence in the machine-readable part"
like "$out" "third_has_body=False" "ARF: third part holds headers only"
like "$out" "third_received=True" "ARF: third part names the source address"
like "$out" "third_no_bcc_line=True" "ARF: the hostile HELO did not add a header line"

# ---------------------------------------------------------------- webhook
out=$(python3 - "$T/hook" "$T" <<'EOF'
import glob, json, sys
recs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/0*.json"))]
print("n=%d" % len(recs))
print("sig_ok=%s" % all(r["signature_ok"] for r in recs))
print("json_ok=%s" % all(r["json_ok"] for r in recs))
print("ctype=%s" % recs[0]["content_type"])
print("deliveries=%s" % ",".join(r["delivery"] for r in recs))
b = recs[0]["body"]
print("kind=%s level=%s incident=%s" % (b["kind"], b["level"], b["incident"]["id"]))
print("body_delivery_matches=%s" % all(r["delivery"] == r["body"]["delivery"] for r in recs))
helo = [e["evidence"].get("helo") for e in b["events"] if isinstance(e["evidence"], dict)]
want = ("evil.example\r\nBcc: victim@example.org\r\n\r\n\"quoted\" $(touch " + sys.argv[2]
        + "/pwned) `id`")
print("helo_roundtrip=%s" % (want in helo))
print("big=%d" % max(len(e["evidence"].get("sender", "")) for e in b["events"]
                     if isinstance(e["evidence"], dict)))
EOF
)
echo "$out" | sed 's/^/# /'
like "$out" "n=2" "webhook: two posts (new, update)"
like "$out" "sig_ok=True" "webhook: every HMAC-SHA256 signature checks out"
like "$out" "json_ok=True" "webhook: every body is a JSON object"
like "$out" "ctype=application/json" "webhook: Content-Type application/json"
like "$out" "deliveries=inc-1-lvl-1-webhook,inc-1-lvl-2-webhook" "webhook: X-Botsentry-Delivery idempotency keys"
like "$out" "kind=new level=1 incident=1" "webhook: the first post is the new incident"
like "$out" "body_delivery_matches=True" "webhook: header and body name the same delivery"
like "$out" "helo_roundtrip=True" "webhook: the hostile HELO survives JSON intact"
like "$out" "big=10240" "webhook: the 10 kB evidence value is carried whole"

# ---------------------------------------------------------------- exec
is "$(find "$T/exec" -name '*.json' | wc -l | tr -d ' ')" 2 "exec: the hook ran twice (new, update)"
is "$(cat "$T/exec/0.args")" "arg one
\$(touch $T/pwned)" "exec: arguments passed as configured, one word each, no shell"
grep -qx 'BOTSENTRY_INCIDENT_ID=1' "$T/exec/0.env"; ok $? "exec: BOTSENTRY_INCIDENT_ID"
grep -qx 'BOTSENTRY_SUBSCRIBER=alice' "$T/exec/0.env"; ok $? "exec: BOTSENTRY_SUBSCRIBER"
grep -qx 'BOTSENTRY_LEVEL=1' "$T/exec/0.env"; ok $? "exec: BOTSENTRY_LEVEL"
grep -qx 'BOTSENTRY_KIND=new' "$T/exec/0.env"; ok $? "exec: BOTSENTRY_KIND"
grep -qx 'BOTSENTRY_KIND=update' "$T/exec/1.env"; ok $? "exec: the second run is the update"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["incident"]["id"]==1 and d["kind"]=="new" and d["incident"]["subscriber"]=="alice" else 1)' "$T/exec/0.json"
ok $? "exec: the incident as JSON on standard input"
[ ! -e "$T/pwned" ]; ok $? "no \$(...) from the evidence or the config was ever run by a shell"

# ---------------------------------------------------------------- outbox state
is "$(dq "SELECT state FROM incidents WHERE id = 1")" notified \
  "the subscriber notice moved the incident from open to notified"
is "$(dq "SELECT actor || ' ' || action || ' ' || detail FROM audit WHERE object = 'incident:1' AND action = 'incident.state'")" \
  "notifyd incident.state from=open to=notified note=subscriber notice sent (delivery $(dq "SELECT id FROM notify_deliveries WHERE idem_key = 'inc-1-lvl-1-email'"))" \
  "... and the audit says who and why"
is "$(dq "SELECT status FROM notifications WHERE idem_key = 'inc-1-lvl-1'")" sent "outbox row 1 is sent"
is "$(dq "SELECT status FROM notify_deliveries WHERE idem_key = 'inc-1-lvl-2-email'")" pending \
  "the update notice waits for the subscriber notice interval"
like "$(dq "SELECT last_error FROM notifications WHERE idem_key = 'inc-1-lvl-2'")" "notice interval" \
  "the outbox row tells the desk why"
like "$("$BOTSENTRY" -c "$T/core.conf" incidents show 1 2>&1)" "notice interval|sending" \
  "botsentry incidents show lists the notifications"

# running again sends nothing twice
nd_once "$T/notify.conf"
sleep 0.5
is "$(maildir_count)" 2 "a second run sends no mail again"
is "$(sink_count hook)" 2 "a second run posts nothing again"

# ---------------------------------------------------------------- level 3
nd_event alice milter rate 40 '{"messages":400,"window":"10m"}' 100.64.1.10
is "$(dq "SELECT mitigation FROM subscribers WHERE id = 'alice'")" throttle "level 3 set the mitigation"
nd_once "$T/notify.conf"
grep -lx 'BOTSENTRY_KIND=mitigation' "$T"/exec/*.env >/dev/null; ok $? "exec: ran for the mitigation"
grep -hx 'BOTSENTRY_MITIGATION=throttle' "$T"/exec/*.env >/dev/null; ok $? "exec: BOTSENTRY_MITIGATION=throttle"
wait_mail 3
ok $? "an ARF report for level 3 arrived"
is "$(dq "SELECT count(*) FROM notify_deliveries WHERE channel = 'email' AND status = 'pending'")" 3 \
  "the level 3 and mitigation notices also wait for the interval (never dropped)"

# the interval passes: the waiting update notices are superseded by the
# mitigation notice, which goes out alone
dq "UPDATE notify_deliveries SET next_attempt_ms = 0 WHERE channel = 'email' AND status = 'pending'"
dq "UPDATE notify_notices SET last_ms = last_ms - 7200000"
nd_once "$T/notify.conf"
is "$(dq "SELECT group_concat(kind || ':' || status, ' ') FROM notify_deliveries WHERE channel = 'email' ORDER BY id")" \
  "new:sent update:skipped update:skipped mitigation:sent" \
  "waiting updates are superseded; the mitigation notice goes out once"
wait_mail 4
out=$(python3 - "$MAILDIR" <<'EOF'
import email, email.policy, glob, sys
msgs = [email.message_from_binary_file(open(f, "rb"), policy=email.policy.default)
        for f in sorted(glob.glob(sys.argv[1] + "/new/*"))]
for m in msgs:
    if "alice@isp.test" in str(m["To"]) and "restricted" in str(m["Subject"]):
        b = m.get_content()
        print("subject=%s" % m["Subject"])
        print("slowed=%s" % ("slowed down" in b))
EOF
)
like "$out" "subject=Important: email from your Test ISP connection is restricted" "the mitigation notice reached the mailbox"
like "$out" "slowed=True" "it says what the restriction means (throttle)"

# an unattributed incident: nobody to write to, and the desk sees why
"$BOTSENTRY" -c "$T/core.conf" event add --ip 100.64.9.9 --source flow --kind direct_mx --score 15 \
  >>"$T/events.log" 2>&1
nd_once "$T/notify.conf"
like "$(dq "SELECT status || ' ' || last_error FROM notifications WHERE subscriber = 'ip:100.64.9.9'")" \
  "^sent email: skipped: unattributed incident" "unattributed: the notice is skipped, and the outbox row says why"

# ---------------------------------------------------------------- SMTP relay
# the same notice through Postfix's smtpd with libcurl instead of sendmail
sed -e "s|^  sendmail_args = .*|  smtp_url = \"smtp://127.0.0.1:$PF_PORT\"|" "$T/notify.conf" > "$T/smtp.conf"
before=$(maildir_count)
nd_event bob milter helo 15 '{"helo":"relay.test"}' 100.64.1.11
nd_once "$T/smtp.conf"
wait_mail $((before + 1))
ok $? "a notice relayed over SMTP (libcurl) reached the Maildir"
bobinc=$(dq "SELECT id FROM incidents WHERE subscriber = 'bob'")
like "$(dq "SELECT note FROM notify_deliveries WHERE idem_key = 'inc-$bobinc-lvl-1-email'")" \
  "relayed through smtp://127.0.0.1" "recorded as relayed"
grep -lq "Message-ID: <inc-$bobinc-lvl-1-email@isp.test>" "$MAILDIR"/new/*; ok $? "with its Message-ID"

# ---------------------------------------------------------------- resolve
"$BOTSENTRY" -c "$T/core.conf" -a desk incidents resolve 1 >/dev/null 2>&1
ok $? "the desk resolves the incident"
nd_once "$T/notify.conf"
python3 - "$T/hook" <<'EOF'
import glob, json, sys
kinds = [json.load(open(f))["body"]["kind"] for f in sorted(glob.glob(sys.argv[1] + "/0*.json"))]
sys.exit(0 if kinds[-1] == "resolved" else 1)
EOF
ok $? "webhook: the resolution was posted"

! grep -qE 'Sanitizer|runtime error' "$T"/notifyd.log "$T"/daemon.log 2>/dev/null
ok $? "no sanitizer report from botsentry-notifyd"

done_testing
