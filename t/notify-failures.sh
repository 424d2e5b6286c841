#!/usr/bin/env bash
# botsentry-notifyd failure paths: the webhook receiver down, answering 500,
# too slow; the sendmail binary failing; an exec hook that hangs; retries
# with backoff up to max_attempts, then 'failed' with the error where the
# desk looks; notifyd killed with SIGKILL in the middle of a batch (nothing
# lost, at most the delivery in flight sent twice); several notifyd
# processes on one database (no row sent twice).
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/notify.sh"
need_cmd sqlite3 python3
[ -x "$BOTSENTRY_NOTIFYD" ] || skip_all "botsentry-notifyd not built"

nd_db || { echo "not ok - db init"; exit 1; }
{
  echo "dave,dave@isp.test,Dave"
  for i in $(seq -w 1 30); do echo "s$i,s$i@isp.test,Sub $i"; echo "t$i,t$i@isp.test,Tub $i"; done
} > "$T/more.csv"
"$BOTSENTRY" -c "$T/core.conf" subscribers import "$T/more.csv" >/dev/null 2>&1
ok $? "subscribers imported"

status_of() { dq "SELECT status || ' ' || attempts FROM notify_deliveries WHERE idem_key = '$1'"; }
# run --once until the delivery is no longer pending (or N tries)
until_done() {
  local conf=$1 key=$2 n=${3:-6} i
  for i in $(seq 1 "$n"); do
    nd_once "$conf"
    case "$(status_of "$key")" in pending*) sleep 1.1 ;; *) return 0 ;; esac
  done
  return 1
}
inc_of() { dq "SELECT id FROM incidents WHERE subscriber = '$1'"; }

# ---------------------------------------------------------------- receiver down
P1=$(free_port)
nd_conf "$T/down.conf" <<EOF
  max_attempts = 5
  webhook { enabled = true  url = "http://127.0.0.1:$P1/h"  secret_file = "$HOOK_SECRET"  timeout = 1s }
EOF
nd_event alice milter helo 15 '{"helo":"a"}'
K=inc-$(inc_of alice)-lvl-1-webhook
nd_once "$T/down.conf"
is "$(status_of "$K")" "pending 1" "receiver down: the delivery waits for a retry"
like "$(dq "SELECT last_error FROM notify_deliveries WHERE idem_key = '$K'")" "connect" "with the error"
like "$(dq "SELECT status || ': ' || last_error FROM notifications WHERE idem_key = 'inc-$(inc_of alice)-lvl-1'")" \
  "^sending: webhook: POST .*connect" "the outbox row shows the error to the desk"
next=$(dq "SELECT next_attempt_ms - done_ms FROM notify_deliveries WHERE idem_key = '$K'")
[ "$next" -ge 500 ] && [ "$next" -le 1000 ]; ok $? "first retry after backoff_initial with jitter (${next} ms in [500, 1000])"
sink_start down "$P1"
sleep 1.1
until_done "$T/down.conf" "$K"
is "$(status_of "$K")" "sent 2" "receiver back: sent on the second attempt"
is "$(sink_count down)" 1 "posted once"
is "$(dq "SELECT status || '|' || coalesce(last_error, '') FROM notifications WHERE idem_key = 'inc-$(inc_of alice)-lvl-1'")" \
  "sent|" "the outbox row is sent, error cleared"
sink_stop down

# ---------------------------------------------------------------- 500, then success
P2=$(free_port)
sink_start five "$P2" --fail-first 2
sed "s/:$P1\//:$P2\//" "$T/down.conf" > "$T/five.conf"
nd_event bob milter helo 15 '{"helo":"b"}'
K=inc-$(inc_of bob)-lvl-1-webhook
until_done "$T/five.conf" "$K" 8
is "$(status_of "$K")" "sent 3" "HTTP 500 twice: retried with backoff, sent on the third attempt"
is "$(python3 -c 'import glob,json,sys; print(len({json.load(open(f))["delivery"] for f in glob.glob(sys.argv[1]+"/0*.json")}))' "$T/five")" 1 \
  "every retry carried the same X-Botsentry-Delivery key"
is "$(sink_count five)" 3 "three requests in all"
sink_stop five

# ---------------------------------------------------------------- slow, then give up
P3=$(free_port)
sink_start slow "$P3" --delay 3
sed -e "s/:$P1\//:$P3\//" -e 's/max_attempts = 5/max_attempts = 2/' "$T/down.conf" > "$T/slow.conf"
nd_event carol milter helo 15 '{"helo":"c"}'
CI=$(inc_of carol)
K=inc-$CI-lvl-1-webhook
t0=$(date +%s)
nd_once "$T/slow.conf"
t1=$(date +%s)
[ $((t1 - t0)) -le 3 ]; ok $? "a slow receiver is cut off by the timeout ($((t1 - t0)) s)"
like "$(dq "SELECT status || ' ' || last_error FROM notify_deliveries WHERE idem_key = '$K'")" \
  "^pending .*[Tt]imeout" "the timeout is recorded and retried"
sleep 1.1
until_done "$T/slow.conf" "$K"
like "$(dq "SELECT status || ' ' || attempts || ' ' || last_error FROM notify_deliveries WHERE idem_key = '$K'")" \
  "^failed 2 gave up after 2 attempts: .*[Tt]imeout" "after max_attempts the delivery fails with the error"
is "$(dq "SELECT status FROM notifications WHERE idem_key = 'inc-$CI-lvl-1'")" failed "the outbox row is failed"
like "$("$BOTSENTRY" -c "$T/core.conf" incidents show "$CI" 2>&1)" "failed" \
  "botsentry incidents show lets the desk see the failure"
sink_stop slow

# ---------------------------------------------------------------- sendmail failing
cat > "$T/bad-sendmail" <<'EOF'
#!/bin/sh
cat >/dev/null
echo "sendmail: fatal: queue file write error: No space left on device" >&2
exit 75
EOF
cat > "$T/good-sendmail" <<EOF
#!/bin/sh
n=\$(find "$T/mail" -type f | wc -l)
{ printf 'ARGS:'; printf ' [%s]' "\$@"; echo; cat; } > "$T/mail/\$n.eml"
EOF
chmod 755 "$T/bad-sendmail" "$T/good-sendmail"
mkdir -p "$T/mail"
for s in bad good; do
  nd_conf "$T/$s-mail.conf" <<EOF
  sendmail = "$T/$s-sendmail"
  subscriber_interval = 1h
  email { enabled = true  from = "Abuse <abuse@isp.test>" }
EOF
done
nd_event dave milter helo 15 '{"helo":"d"}'
K=inc-$(inc_of dave)-lvl-1-email
nd_once "$T/bad-mail.conf"
like "$(dq "SELECT status || ' ' || last_error FROM notify_deliveries WHERE idem_key = '$K'")" \
  "^pending .*exited with status 75: sendmail: fatal: queue file write error" \
  "sendmail failing: retried, its message recorded"
is "$(dq "SELECT count(*) FROM notify_notices WHERE subscriber = 'dave'")" 0 \
  "a failed notice does not use up the subscriber's notice interval"
sleep 1.1
until_done "$T/good-mail.conf" "$K"
is "$(status_of "$K")" "sent 2" "sendmail working again: sent"
is "$(find "$T/mail" -type f | wc -l | tr -d ' ')" 1 "one message handed over"
head -1 "$T/mail/0.eml" | grep -qF 'ARGS: [-i] [-f] [abuse@isp.test] [--] [dave@isp.test]'
ok $? "sendmail got -i -f sender -- recipient, no shell"

# ---------------------------------------------------------------- exec hangs
cat > "$T/hang" <<'EOF'
#!/bin/sh
sleep 31 &
sleep 32
EOF
chmod 755 "$T/hang"
nd_conf "$T/hang.conf" <<EOF
  max_attempts = 3
  exec { enabled = true  levels = {1}  kinds = {new}  command = {"$T/hang"}  timeout = 1s }
EOF
dq "UPDATE notify_deliveries SET status = 'sent' WHERE status = 'pending'"
nd_event s01 milter helo 15 '{"helo":"e"}'
K=inc-$(inc_of s01)-lvl-1-exec
t0=$(date +%s)
nd_once "$T/hang.conf"
t1=$(date +%s)
like "$(dq "SELECT status || ' ' || last_error FROM notify_deliveries WHERE idem_key = '$K'")" \
  "^pending .*timed out after 1s and was killed" "a hanging exec hook is killed after its timeout and retried"
[ $((t1 - t0)) -le 4 ]; ok $? "within the timeout ($((t1 - t0)) s)"
sleep 0.3
left=$(ps -eo args | grep -cE '^sleep 3[12]$')
is "$left" 0 "the hook's whole process group is gone"
dq "UPDATE notify_deliveries SET status = 'sent' WHERE idem_key = '$K'"

# ---------------------------------------------------------------- exec exit statuses
printf '#!/bin/sh\necho "gateway busy"; exit 75\n' > "$T/tempfail"
printf '#!/bin/sh\necho "no such customer in the billing system"; exit 67\n' > "$T/nouser"
chmod 755 "$T/tempfail" "$T/nouser"
for prog in tempfail nouser; do
  nd_conf "$T/$prog.conf" <<EOF
  max_attempts = 3
  exec { enabled = true  levels = {1}  kinds = {new}  command = {"$T/$prog"}  timeout = 5s }
EOF
done
nd_event x01 milter helo 15 '{"helo":"f"}'
K=inc-$(inc_of x01)-lvl-1-exec
nd_once "$T/tempfail.conf"
like "$(dq "SELECT status || ' ' || last_error FROM notify_deliveries WHERE idem_key = '$K'")" \
  "^pending .*exited with status 75: gateway busy" "exec exit 75 (EX_TEMPFAIL): retried"
dq "UPDATE notify_deliveries SET next_attempt_ms = 0 WHERE idem_key = '$K'"
nd_once "$T/nouser.conf"
like "$(dq "SELECT status || ' ' || attempts || ' ' || last_error FROM notify_deliveries WHERE idem_key = '$K'")" \
  "^failed 2 .*exited with status 67 \(permanent\): no such customer" \
  "exec exit 67 (EX_NOUSER): failed at once, not retried to max_attempts"

# ---------------------------------------------------------------- SIGKILL mid-batch
P4=$(free_port)
sink_start kill "$P4" --delay 0.15
nd_conf "$T/kill.conf" <<EOF
  batch_size = 10
  lease = 2s
  poll_interval = 1s
  webhook { enabled = true  url = "http://127.0.0.1:$P4/h"  secret_file = "$HOOK_SECRET"  timeout = 5s }
EOF
for i in $(seq -w 2 30); do nd_event "s$i" milter helo 15 '{"helo":"k"}'; done
total=$(dq "SELECT count(*) FROM notifications WHERE channel = '' AND subscriber LIKE 's%' AND status = 'pending'")
is "$total" 29 "29 new incidents waiting in the outbox"
"$BOTSENTRY_NOTIFYD" -c "$T/kill.conf" -f -p "$T/nd.pid" >>"$T/notifyd.log" 2>&1 &
NDPID=$!
at_exit "kill -9 $NDPID 2>/dev/null"
for i in $(seq 1 100); do [ "$(sink_count kill)" -ge 6 ] && break; sleep 0.05; done
kill -9 "$NDPID"; wait "$NDPID" 2>/dev/null
stuck=$(dq "SELECT count(*) FROM notify_deliveries WHERE channel = 'webhook' AND status = 'sending'")
[ "$stuck" -gt 0 ]; ok $? "killed with SIGKILL in the middle of a batch ($stuck claimed, unfinished)"
[ -f "$T/nd.pid" ]; ok $? "the pid file was written (and left behind by SIGKILL)"
sleep 2.1   # the lease
for i in 1 2 3 4 5; do
  nd_once "$T/kill.conf" & a=$!
  nd_once "$T/kill.conf" & b=$!
  wait $a $b
  [ "$(dq "SELECT count(*) FROM notify_deliveries WHERE channel = 'webhook' AND status IN ('pending', 'sending')")" = 0 ] && break
  sleep 2.1
done
is "$(dq "SELECT count(*) FROM notify_deliveries WHERE channel = 'webhook' AND kind = 'new' AND subscriber LIKE 's%' AND status = 'sent'")" 29 \
  "after a restart every delivery is sent: none lost"
out=$(python3 - "$T/kill" <<'EOF'
import collections, glob, json, sys
c = collections.Counter(json.load(open(f))["delivery"] for f in glob.glob(sys.argv[1] + "/0*.json"))
print("unique=%d dups=%d" % (len(c), sum(v - 1 for v in c.values())))
EOF
)
like "$out" "unique=29 " "the receiver saw all 29 deliveries"
like "$out" "dups=[01]$" "at most the one delivery in flight at the kill came twice ($out)"
sink_stop kill

# ---------------------------------------------------------------- three workers, one database
P5=$(free_port)
sink_start many "$P5" --delay 0.02
sed "s/:$P4\//:$P5\//" "$T/kill.conf" > "$T/many.conf"
for i in $(seq -w 1 30); do nd_event "t$i" milter helo 15 '{"helo":"m"}'; done
nd_once "$T/many.conf" & a=$!
nd_once "$T/many.conf" & b=$!
nd_once "$T/many.conf" & c=$!
wait $a $b $c
is "$(dq "SELECT count(*) FROM notify_deliveries WHERE subscriber LIKE 't%' AND status = 'sent'")" 30 \
  "three notifyd processes delivered all 30"
is "$(dq "SELECT count(*) FROM notify_deliveries WHERE subscriber LIKE 't%' AND claimed_by LIKE '%:%'")" 30 \
  "each delivery records the worker that sent it"
out=$(python3 - "$T/many" <<'EOF'
import collections, glob, json, sys
c = collections.Counter(json.load(open(f))["delivery"] for f in glob.glob(sys.argv[1] + "/0*.json"))
print("unique=%d dups=%d" % (len(c), sum(v - 1 for v in c.values())))
EOF
)
is "$out" "unique=30 dups=0" "no row was sent twice by concurrent workers"
workers=$(grep -c 'mode=once' "$T/notifyd.log")
[ "$workers" -ge 3 ]; ok $? "they ran as separate processes"
sink_stop many

# ---------------------------------------------------------------- daemon: SIGHUP, SIGTERM
nd_conf "$T/d.conf" <<EOF
  poll_interval = 1s
EOF
"$BOTSENTRY_NOTIFYD" -c "$T/d.conf" -f -p "$T/d.pid" >>"$T/daemon.log" 2>&1 &
DPID=$!
at_exit "kill -9 $DPID 2>/dev/null"
wait_for test -f "$T/d.pid"
is "$(cat "$T/d.pid" 2>/dev/null)" "$DPID" "the pid file holds the daemon's pid"
kill -HUP "$DPID"
wait_for grep -q 'status=reloaded' "$T/daemon.log"; ok $? "SIGHUP reloads the configuration"
kill -TERM "$DPID"
wait "$DPID"; st=$?
is "$st" 0 "SIGTERM stops it cleanly (exit 0)"
[ ! -f "$T/d.pid" ]; ok $? "and removes the pid file"

! grep -qE 'Sanitizer|runtime error' "$T"/notifyd.log "$T"/daemon.log 2>/dev/null
ok $? "no sanitizer report from botsentry-notifyd"

done_testing
