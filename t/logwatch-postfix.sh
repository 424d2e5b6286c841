#!/usr/bin/env bash
# Real Postfix lines: a private Postfix (t/lib/postfix.sh) with SASL AUTH on
# its submission port relays to a small "remote" SMTP server on loopback that
# refuses some recipients (unknown user, blocklist).  swaks makes failed and
# successful logins from distinct 127.0.0.N addresses; Postfix's own
# maillog_file is then fed to botsentry-logwatch -r, and the events in the
# database must match what was done:
#   127.0.0.23 tries 6 login names          -> auth_bruteforce for the
#                                              address's subscriber (lease)
#   bob fails from 3 addresses, then in     -> credential_abuse (bob)
#   carol logs in from 4 addresses          -> credential_abuse (carol)
#   mallory mails 10 recipients, 8 refused  -> bounce_ratio (mallory)
#   alice: one clean login and message      -> nothing
. "$top_srcdir/t/lib/common.sh"
need_root
need_cmd postfix swaks saslpasswd2 smtp-sink sqlite3 python3
[ -f "$top_srcdir/t/lib/postfix.sh" ] || skip_all "t/lib/postfix.sh missing"
. "$top_srcdir/t/lib/postfix.sh"
[ -x "$BOTSENTRY_LOGWATCH" ] || skip_all "botsentry-logwatch not built"
[ -x "$BOTSENTRY" ] || skip_all "botsentry (CLI) not built"

PORT=$(free_port); SUB=$(free_port); SINK=$(free_port); REMOTE=$(free_port)
postfix_setup "$T/pf" "$PORT" "$SUB" "" "$SINK" || skip_all "postfix_setup failed"

# the "remote" MX: 550 5.1.1 for nouser*, 554 5.7.1 for blocked*, else 250
cat >"$T/remote.py" <<'EOF'
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(16)
def serve(c):
    f = c.makefile("rb"); w = lambda s: c.sendall(s.encode() + b"\r\n")
    w("220 remote.example ESMTP")
    data = False
    for raw in f:
        line = raw.decode("latin-1").rstrip("\r\n")
        if data:
            if line == ".": data = False; w("250 2.0.0 Ok: queued")
            continue
        cmd = line[:4].upper()
        if cmd in ("EHLO", "HELO"): w("250 remote.example")
        elif cmd == "MAIL": w("250 2.1.0 Ok")
        elif cmd == "RCPT":
            addr = line.split(":", 1)[1].strip().strip("<>").lower()
            if addr.startswith("nouser"): w("550 5.1.1 <%s>: Recipient address rejected: User unknown" % addr)
            elif addr.startswith("blocked"): w("554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.example")
            else: w("250 2.1.5 Ok")
        elif cmd == "DATA": data = True; w("354 go ahead")
        elif cmd == "RSET": w("250 Ok")
        elif cmd == "QUIT": w("221 bye"); break
        else: w("502 5.5.2 no")
    c.close()
while True:
    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
python3 "$T/remote.py" "$REMOTE" >"$T/remote.log" 2>&1 &
RPID=$!
at_exit "kill $RPID"
postfix_conf "relayhost = [127.0.0.1]:$REMOTE" "smtp_skip_5xx_greeting = no"
for u in alice bob carol mallory; do postfix_adduser "$u" "pw-$u"; done
postfix_start || skip_all "postfix did not start"

sw() {   # sw ADDRESS USER PASSWORD [swaks args...]
  local ip=$1 user=$2 pass=$3; shift 3
  swaks --server 127.0.0.1 --port "$SUB" --local-interface "$ip" --auth LOGIN \
    --auth-user "$user" --auth-password "$pass" --from "$user@$PF_REALM" \
    --helo "pc-$ip.example" "$@" >>"$T/swaks.log" 2>&1
}

# brute force from one subscriber's address
for u in admin info sales test webmaster postmaster; do
  sw 127.0.0.23 "$u" wrong --to x@remote.example --quit-after AUTH
done
# bob's password guessed from a botnet
for n in 31 32 33; do sw 127.0.0.$n bob wrong --to x@remote.example --quit-after AUTH; done
sw 127.0.0.34 bob pw-bob --to friend@remote.example
ok $? "bob's successful login sent a message"
# carol's password shared: logins from four addresses
for n in 41 42 43 44; do sw 127.0.0.$n carol pw-carol --to pal$n@remote.example; done
# mallory mails a harvested list: 10 recipients, 8 refused
sw 127.0.0.66 mallory pw-mallory \
  --to nouser1@remote.example,nouser2@remote.example,nouser3@remote.example,nouser4@remote.example,nouser5@remote.example,blocked1@remote.example,blocked2@remote.example,blocked3@remote.example,real1@remote.example,real2@remote.example
ok $? "mallory's message was accepted by the smarthost"
# alice behaves
sw 127.0.0.10 alice pw-alice --to mum@remote.example,dad@remote.example
ok $? "alice's message was accepted"

postfix_wait_idle 30; ok $? "the queue drained"
# the bounce for mallory's refused recipients is a message of its own: wait
# until the delivery lines of her recipients are all logged
for i in $(seq 1 100); do
  [ "$(grep -c 'to=<\(nouser\|blocked\|real\)' "$PF_LOG")" -ge 10 ] && break; sleep 0.1
done

like "$(cat "$PF_LOG")" "SASL LOGIN authentication failed" "Postfix logged the failed logins"
like "$(cat "$PF_LOG")" "sasl_username=bob" "Postfix logged bob's login"

DB=$T/bs.db
cat >"$T/bs.conf" <<EOF
database = "sqlite:$DB"
state_dir = "$T"
node_name = "pf-test"
leases {
  static "127.0.0.23/32" {
    subscriber = "cust-23"
  }
}
logwatch {
  timezone = "localtime"
  login_realm = "@$PF_REALM"
  auth_bruteforce {
    failures = 100
    logins = 5
  }
  credential_abuse {
    failed_addresses = 3
    success_addresses = 4
  }
  bounce_ratio {
    min_recipients = 10
    ratio = 0.6
  }
}
EOF
"$BOTSENTRY" -c "$T/bs.conf" db init >/dev/null 2>&1; ok $? "database initialised"
out=$("$BOTSENTRY_LOGWATCH" -c "$T/bs.conf" -S -r "$PF_LOG" 2>&1); st=$?
ok $st "botsentry-logwatch -r read Postfix's log"
like "$out" "malformed=0 " "no malformed lines in Postfix's own log"
like "$out" " auth_fail=9 auth_ok=[0-9]+ " "the 9 failed logins were parsed"

ev() { q "$DB" "select $1 from events where source='logwatch' and $2"; }
is "$(ev 'count(*)' "kind='auth_bruteforce'")" "1" "one auth_bruteforce event"
is "$(ev "subscriber||' '||client_ip" "kind='auth_bruteforce'")" "cust-23 127.0.0.23" \
  "it belongs to the subscriber holding 127.0.0.23 (lease)"
like "$(ev evidence "kind='auth_bruteforce'")" '"distinct_logins":5' "evidence counts the login names"
like "$(ev evidence "kind='auth_bruteforce'")" '"sample_logins":\["admin' "evidence samples the login names"

is "$(ev 'count(*)' "kind='credential_abuse' and subscriber='bob'")" "1" "credential_abuse for bob"
like "$(ev evidence "kind='credential_abuse' and subscriber='bob'")" \
  '"pattern":"failed_then_succeeded"' "bob: failed from many addresses, then in"
is "$(ev client_ip "kind='credential_abuse' and subscriber='bob'")" "127.0.0.34" "bob: the address that got in"

is "$(ev 'count(*)' "kind='credential_abuse' and subscriber='carol'")" "1" "credential_abuse for carol"
like "$(ev evidence "kind='credential_abuse' and subscriber='carol'")" '"pattern":"many_sources".*' \
  "carol: logins from many addresses"

is "$(ev 'count(*)' "kind='bounce_ratio'")" "1" "one bounce_ratio event"
is "$(ev subscriber "kind='bounce_ratio'")" "mallory" "it belongs to mallory (SASL login of the queue id)"
like "$(ev evidence "kind='bounce_ratio'")" '"recipients":10,"refused":8' "evidence: 8 of 10 refused"
like "$(ev evidence "kind='bounce_ratio'")" '5\.1\.1 remote\.example' "evidence samples the DSN and domain"
unlike=$(ev evidence "kind='bounce_ratio'" | grep -c 'nouser1@' || true)
is "$unlike" "0" "no recipient address in the evidence"

is "$(ev 'count(*)' "subscriber='alice'")" "0" "nothing for alice"
is "$(ev 'count(*)' "1")" "4" "four events in all"
is "$(q "$DB" "select count(*) from incidents where subscriber in ('cust-23','bob','carol','mallory')")" "4" \
  "the events were correlated into incidents"

# replaying the same log into a fresh database gives the same events (-p)
n=$("$BOTSENTRY_LOGWATCH" -c "$T/bs.conf" -p -r "$PF_LOG" 2>/dev/null | wc -l)
is "$n" "4" "-p prints the same four events as JSON lines"
done_testing
