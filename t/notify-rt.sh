#!/usr/bin/env bash
# botsentry-notifyd against a real Request Tracker 5 (Debian's
# request-tracker5 with SQLite, its own PSGI app under Starlet on 127.0.0.1;
# nothing under /etc is touched, see API-NOTES.md B8):
#   - a level change creates one ticket in the queue, kept on the incident;
#   - later changes comment on it (no second ticket);
#   - resolving the ticket in RT resolves the incident (actor rt);
#   - a false positive marked in botsentry comments on and resolves the ticket;
#   - resolving in botsentry comments on and resolves the ticket.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/notify.sh"
need_cmd sqlite3 python3 curl perl
[ -x /usr/sbin/rt-setup-database ] && [ -f /usr/share/request-tracker5/libexec/rt-server ] \
  && command -v plackup >/dev/null \
  || skip_all "needs request-tracker5 and rt5-db-sqlite (tools/deps test)"
[ -x "$BOTSENTRY_NOTIFYD" ] || skip_all "botsentry-notifyd not built"

# ---------------------------------------------------------------- RT
RT=$T/rt
RTPORT=$(free_port)
mkdir -p "$RT/site.d" "$RT/mason" "$RT/sessions"
cat > "$RT/RT_SiteConfig.pm" <<EOF
Set(\$rtname, 'rt.test'); Set(\$Organization, 'test');
Set(\$CorrespondAddress, 'rt@localhost'); Set(\$CommentAddress, 'rt-comment@localhost');
Set(\$WebDomain, '127.0.0.1'); Set(\$WebPort, $RTPORT); Set(\$WebPath, '');
Set(\$WebBaseURL, 'http://127.0.0.1:$RTPORT');
Set(\$DatabaseType, 'SQLite'); Set(\$DatabaseName, '$RT/rt.db');
Set(\$Timezone, 'UTC'); Set(\$LogToSyslog, undef); Set(\$LogToFile, undef); Set(\$LogToSTDERR, 'warning');
Set(\$BcryptCost, 4);
Set(\$MailCommand, sub { 1 });
1;
EOF
cat > "$RT/rt.psgi" <<EOF
use lib '/usr/share/request-tracker5/lib';
require RT;
\$RT::MasonDataDir = '$RT/mason'; \$RT::MasonSessionDir = '$RT/sessions';
my \$app = do '/usr/share/request-tracker5/libexec/rt-server';
die "rt-server: \$@" unless \$app; \$app;
EOF
export RT_SITE_CONFIG=$RT/RT_SiteConfig.pm RT_SITE_CONFIG_DIR=$RT/site.d
echo 'S3cret-pass' > "$RT/rootpw"
t0=$(date +%s)
/usr/sbin/rt-setup-database --action init --root-password-file "$RT/rootpw" >"$RT/setup.log" 2>&1 \
  || { sed 's/^/# /' "$RT/setup.log" | tail -20; echo "not ok 1 - RT database setup"; exit 1; }
TOKEN=$(perl -I/usr/share/request-tracker5/lib -e 'use RT; RT::LoadConfig(); RT::Init();
  my $u = RT::User->new(RT->SystemUser); $u->Load("root") or die "no root\n";
  my ($id, $msg, $auth) = RT::AuthToken->new(RT::CurrentUser->new($u))
      ->Create(Owner => $u->Id, Description => "botsentry test");
  die "$msg\n" unless $id; print $auth' 2>>"$RT/setup.log")
[ -n "$TOKEN" ] || { sed 's/^/# /' "$RT/setup.log" | tail -20; echo "not ok 1 - RT token"; exit 1; }
(cd "$RT" && exec setsid plackup -E deployment -s Starlet --host 127.0.0.1 --port "$RTPORT" \
  --max-workers 2 "$RT/rt.psgi" >"$RT/server.log" 2>&1 </dev/null) &
RTPID=$!
at_exit "kill -TERM -$RTPID 2>/dev/null; kill -TERM $RTPID 2>/dev/null; sleep 0.5; kill -KILL -$RTPID 2>/dev/null"
rt_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: token $TOKEN" \
  "http://127.0.0.1:$RTPORT/REST/2.0/rt")" = 200 ]; }
up=1
for i in $(seq 1 300); do rt_up && { up=0; break; }; sleep 0.1; done
ok $up "a real RT 5 answers on 127.0.0.1 (setup and start took $(( $(date +%s) - t0 )) s)"
[ $up -eq 0 ] || { sed 's/^/# /' "$RT/server.log" | tail -20; done_testing; exit 1; }

rtget() { curl -s -H "Authorization: token $TOKEN" "http://127.0.0.1:$RTPORT/REST/2.0$1"; }
rtput() { curl -s -X PUT -H "Authorization: token $TOKEN" -H 'Content-Type: application/json' \
  -d "$2" "http://127.0.0.1:$RTPORT/REST/2.0$1"; }
jfield() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# ---------------------------------------------------------------- botsentry
nd_db || { echo "not ok - db init"; exit 1; }
printf '%s\n' "$TOKEN" > "$T/rt.token"
chmod 600 "$T/rt.token"
nd_conf "$T/notify.conf" <<EOF
  rt {
    enabled = true
    levels = {1, 2, 3}
    url = "http://127.0.0.1:$RTPORT/REST/2.0"
    token_file = "$T/rt.token"
    queue = "General"
    poll_interval = 1s
    timeout = 20s
  }
EOF

# a token file others can read is refused
cp "$T/rt.token" "$T/rt.token.open"; chmod 644 "$T/rt.token.open"
sed "s|$T/rt.token\"|$T/rt.token.open\"|" "$T/notify.conf" > "$T/open.conf"
nd_once "$T/open.conf"
grep -q 'rt.token.open: mode 0644' "$T/notifyd.log"; ok $? "a world-readable token file is refused"

nd_event alice milter helo 15 '{"helo":"bad\r\nX-Injected: 1 \"q\" $(id)"}' 100.64.1.10
nd_once "$T/notify.conf"
is "$(dq "SELECT ticket FROM incidents WHERE id = 1")" "rt:1" "ticket 1 created and kept on the incident"
subj=$(rtget /ticket/1 | jfield 'd["Subject"]')
like "$subj" '^\[botsentry incident 1\] alice: helo \(level 1\)$' "the ticket's subject names the incident"
is "$(rtget /ticket/1 | jfield 'd["Queue"]["id"]')" 1 "in the configured queue (General)"

nd_event alice flow direct_mx 20 '{"destinations":12}' 100.64.1.10
nd_once "$T/notify.conf"
is "$(rtget '/tickets?query=id>0' | jfield 'd["total"]')" 1 "the level change did not create a second ticket"
hist=$(rtget '/ticket/1/history?fields=Type&per_page=100')
like "$(echo "$hist" | jfield '",".join(i["Type"] for i in d["items"])')" "Comment" \
  "the level change became a comment on the ticket"
is "$(dq "SELECT status FROM notify_deliveries WHERE idem_key = 'inc-1-lvl-2-rt'")" sent "delivery recorded as sent"

# resolve in RT -> the incident is resolved by actor rt
rtput /ticket/1 '{"Status":"resolved"}' >/dev/null
sleep 1.1
nd_once "$T/notify.conf"
is "$(dq "SELECT state FROM incidents WHERE id = 1")" resolved "resolving the ticket in RT resolved the incident"
like "$(dq "SELECT actor || ' ' || detail FROM audit WHERE object = 'incident:1' AND action = 'incident.state'")" \
  "^rt from=open to=resolved" "audited with actor rt"

# false positive in botsentry -> comment and resolve on the ticket
nd_event bob milter helo 15 '{"helo":"x"}' 100.64.1.11
nd_once "$T/notify.conf"
is "$(dq "SELECT ticket FROM incidents WHERE subscriber = 'bob'")" "rt:2" "bob's incident has ticket 2"
bobinc=$(dq "SELECT id FROM incidents WHERE subscriber = 'bob'")
"$BOTSENTRY" -c "$T/core.conf" -a desk incidents false-positive "$bobinc" >/dev/null 2>&1
ok $? "the desk marks bob's incident a false positive"
nd_once "$T/notify.conf"
is "$(rtget /ticket/2 | jfield 'd["Status"]')" resolved "the ticket of the false positive is resolved"
hist=$(rtget '/ticket/2/history?fields=Type&per_page=100')
like "$(echo "$hist" | jfield '",".join(i["Type"] for i in d["items"])')" "Comment" \
  "and got a comment saying so"

# resolved in botsentry -> comment and resolve on the ticket
nd_event carol milter helo 15 '{"helo":"y"}' 100.64.1.12
nd_once "$T/notify.conf"
carinc=$(dq "SELECT id FROM incidents WHERE subscriber = 'carol'")
is "$(dq "SELECT ticket FROM incidents WHERE id = $carinc")" "rt:3" "carol's incident has ticket 3"
"$BOTSENTRY" -c "$T/core.conf" -a desk incidents resolve "$carinc" >/dev/null 2>&1
nd_once "$T/notify.conf"
is "$(rtget /ticket/3 | jfield 'd["Status"]')" resolved "resolving in botsentry resolved the ticket"
is "$(dq "SELECT status FROM notify_deliveries WHERE idem_key = 'inc-$carinc-resolved-rt'")" sent \
  "the resolution delivery is recorded"
is "$(rtget '/tickets?query=id>0' | jfield 'd["total"]')" 3 "three incidents, three tickets, no more"

# RT down: deliveries wait and retry, nothing is lost
kill -TERM -"$RTPID" 2>/dev/null; kill -TERM "$RTPID" 2>/dev/null
for i in $(seq 1 50); do rt_up || break; sleep 0.1; done
nd_event carol milter helo 15 '{"helo":"z"}' 100.64.1.12
nd_once "$T/notify.conf"
like "$(dq "SELECT status || ' ' || attempts || ' ' || last_error FROM notify_deliveries WHERE channel = 'rt' ORDER BY id DESC LIMIT 1")" \
  "^pending 1 RT create ticket: " "RT down: the delivery waits for a retry, with the error"

! grep -qE 'Sanitizer|runtime error' "$T"/notifyd.log "$T"/daemon.log 2>/dev/null
ok $? "no sanitizer report from botsentry-notifyd"

done_testing
