#!/usr/bin/env bash
# notify-pg.sh - several botsentry-notifyd processes on one PostgreSQL
# database, as on a desk host with more than one (or on several hosts): they
# fan the outbox out and claim deliveries at the same time (FOR UPDATE SKIP
# LOCKED), every notification reaches the webhook receiver once, none twice,
# and the work is shared between them.  Then one of them is killed with
# SIGKILL in mid-batch and the others finish its deliveries after the claim
# lease: nothing lost.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/notify.sh"
. "$top_srcdir/t/lib/pg.sh"
need_cmd python3
[ -x "$BOTSENTRY_NOTIFYD" ] || skip_all "botsentry-notifyd not built"
grep -q '^#define HAVE_POSTGRESQL 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without PostgreSQL (configure --with-postgresql)"
pg_start

printf 'webhook-secret-%s\n' "$RANDOM$RANDOM" >"$HOOK_SECRET"
chmod 600 "$HOOK_SECRET"
cat >"$T/core.conf" <<EOF
database = "$PG_URI"
state_dir = "$T"
secret_file = "$T/site.secret"
log_level = "info"
EOF
"$BOTSENTRY" -c "$T/core.conf" db init >"$T/dbinit.log" 2>&1
ok $? "botsentry db init on PostgreSQL"
N=60
for i in $(seq -w 1 $N); do echo "p$i,p$i@isp.test,Sub $i"; done >"$T/subs.csv"
"$BOTSENTRY" -c "$T/core.conf" subscribers import "$T/subs.csv" >>"$T/dbinit.log" 2>&1
ok $? "$N subscribers imported"
pq() { pg_psql "$1"; }
deliveries_json() {   # "unique=U dups=D" over the receiver's requests
  python3 - "$1" <<'EOF'
import collections, glob, json, sys
c = collections.Counter(json.load(open(f))["delivery"] for f in glob.glob(sys.argv[1] + "/0*.json"))
print("unique=%d dups=%d" % (len(c), sum(v - 1 for v in c.values())))
EOF
}

# ---------------------------------------------------------------- three workers at once
P=$(free_port)
sink_start many "$P" --delay 0.05
nd_conf "$T/many.conf" <<EOF
  batch_size = 10
  max_attempts = 5
  webhook { enabled = true  url = "http://127.0.0.1:$P/h"  secret_file = "$HOOK_SECRET"  timeout = 5s }
EOF
for i in $(seq -w 1 $N); do
  "$BOTSENTRY" -c "$T/core.conf" event add --subscriber "p$i" --source milter --kind helo \
    --score 15 --evidence '{"helo":"m"}' --node smarthost1 >>"$T/events.log" 2>&1
done
is "$(pq "SELECT count(*) FROM notifications WHERE status = 'pending'")" "$N" "$N notifications wait in the outbox"
nd_once "$T/many.conf" & a=$!
nd_once "$T/many.conf" & b=$!
nd_once "$T/many.conf" & c=$!
wait $a $b $c
is "$(pq "SELECT count(*) FROM notify_deliveries")" "$N" "fanned out once: one delivery per notification, none twice"
is "$(pq "SELECT count(*) FROM notify_deliveries WHERE status = 'sent'")" "$N" "three notifyd processes delivered all $N"
is "$(deliveries_json "$T/many")" "unique=$N dups=0" "the receiver got each delivery once"
workers=$(pq "SELECT count(DISTINCT claimed_by) FROM notify_deliveries")
[ "$workers" -ge 2 ]; ok $? "the deliveries were shared between the workers ($workers of 3 sent some)"
is "$(pq "SELECT count(*) FROM notifications WHERE status <> 'sent'")" 0 "every outbox row is marked sent"
sink_stop many

# ---------------------------------------------------------------- one killed in mid-batch
P2=$(free_port)
sink_start kill "$P2" --delay 0.3
nd_conf "$T/kill.conf" <<EOF
  batch_size = 10
  lease = 3s
  webhook { enabled = true  url = "http://127.0.0.1:$P2/h"  secret_file = "$HOOK_SECRET"  timeout = 5s }
EOF
for i in $(seq -w 1 20); do
  "$BOTSENTRY" -c "$T/core.conf" event add --subscriber "p$i" --source milter --kind rate \
    --score 40 --evidence '{"messages":99}' --node smarthost1 >>"$T/events.log" 2>&1
done
before=$(pq "SELECT count(*) FROM notify_deliveries")
"$BOTSENTRY_NOTIFYD" -c "$T/kill.conf" --once >>"$T/notifyd.log" 2>&1 & k=$!
two_in() { [ "$(sink_count kill)" -ge 2 ]; }
wait_for two_in
kill -9 $k; wait $k 2>/dev/null
stuck=$(pq "SELECT count(*) FROM notify_deliveries WHERE status = 'sending'")
[ "$stuck" -ge 1 ]; ok $? "the killed worker left claimed deliveries behind ($stuck)"
# the others take them over once the claim lease has passed
for _ in $(seq 1 12); do
  nd_once "$T/kill.conf" & a=$!
  nd_once "$T/kill.conf" & b=$!
  wait $a $b
  [ "$(pq "SELECT count(*) FROM notify_deliveries WHERE status <> 'sent'")" = 0 ] && break
  sleep 2
done
new=$(( $(pq "SELECT count(*) FROM notify_deliveries") - before ))
is "$(pq "SELECT count(*) FROM notify_deliveries WHERE status <> 'sent'")" 0 "after the kill every delivery is sent: none lost"
out=$(deliveries_json "$T/kill")
like "$out" "unique=$new " "the receiver saw all $new of them"
like "$out" "dups=[01]$" "at most the one in flight at the kill came twice ($out)"
sink_stop kill

# ---------------------------------------------------------------- started while the database is away
P3=$(free_port)
sink_start late "$P3"
nd_conf "$T/late.conf" <<EOF
  poll_interval = 1s
  webhook { enabled = true  url = "http://127.0.0.1:$P3/h"  secret_file = "$HOOK_SECRET"  timeout = 5s }
EOF
_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
"$BOTSENTRY_NOTIFYD" -c "$T/late.conf" -f -p "$T/late.pid" >"$T/late.log" 2>&1 &
LPID=$!
at_exit "kill -9 $LPID 2>/dev/null"
wait_for test -f "$T/late.pid"
sleep 3
kill -0 $LPID 2>/dev/null
ok $? "notifyd started while PostgreSQL is down keeps running"
is "$(grep -c 'deliveries wait until it answers' "$T/late.log")" 1 "it says so once, not at every poll"
_pg_start_server
"$BOTSENTRY" -c "$T/core.conf" event add --subscriber p42 --source flow --kind direct_mx \
  --score 40 --evidence '{"attempts":30}' --node collector >>"$T/events.log" 2>&1
ok $? "an event recorded once PostgreSQL is back"
got_late() { [ "$(sink_count late)" -ge 1 ]; }
wait_for got_late
ok $? "the waiting notifyd delivers its notification"
like "$(cat "$T/late.log")" "status=answering" "and logged that the database answers"
kill -TERM $LPID; wait $LPID
is "$?" 0 "it stops cleanly"
sink_stop late

done_testing
