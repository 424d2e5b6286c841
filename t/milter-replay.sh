#!/bin/bash
# t/milter-replay.sh - the quick start's path: the bundled traffic sample
# (conf/demo/traffic.txt) replayed through botsentry-milter by
# bs-milter-replay.  The ordinary subscribers raise nothing; carol (stolen
# login) and dave (infected PC, by lease) get level-3 incidents whose kinds
# say why.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/milter.sh"

[ -x "$BOTSENTRY_MILTER" ] || skip_all "botsentry-milter not built"
[ -x "$BS_MILTER_REPLAY" ] || skip_all "bs-milter-replay not built"
need_cmd sqlite3

S=$T/state
milter_state "$S"
CONF=$S/botsentry.conf
sed -e "s|@STATE@|$S|g" "$top_srcdir/conf/demo/botsentry-demo.conf.in" > "$CONF"
milter_db_init "$CONF" "$S/botsentry.db"; ok $? "database created"
MILTER_LOG=$S/milter.log
milter_start "$CONF"; ok $? "botsentry-milter started"
out=$(milter_replay "$top_srcdir/conf/demo/traffic.txt"); ok $? "sample replayed"
like "$out" 'total: sessions=51 messages=173' "every session and message played"
like "$out" 'carol +sessions=25 messages=100 accepted=100' "monitor mode refused nothing"

# switch to enforce by reloading: carol (throttled at level 3) is refused
# at once, alice is not, and nothing was forgotten
sed -i 's/mode = "monitor"/mode = "enforce"/' "$CONF"
kill -USR1 "$MILTER_PID"
wait_for grep -q 'reload: .*mode=enforce' "$MILTER_LOG"; ok $? "SIGUSR1: mode enforce loaded"
printf '%s\n' 'session ip=100.64.8.77 auth=carol helo=WIN-1 label=carol' \
  '  mail from=x@paypa1-alerts.example to=v@dest.example' 'end' \
  'session ip=100.64.1.10 auth=alice helo=alice-laptop label=alice' \
  '  mail from=alice@isp.example to=bob@example.org' 'end' > "$T/more.txt"
out=$(milter_replay "$T/more.txt")
like "$out" 'carol: MAIL x@paypa1-alerts.example -> tempfail 451 4.7.1' "carol is throttled after the reload"
like "$out" 'alice +sessions=1 messages=1 accepted=1' "alice is not"
# an unattributed IPv6 client is counted by its delegated /56: four
# addresses of one prefix, four HELO names -> one churn event
printf '%s\n' 'session*4 ip=2001:db8:77:{o}::{o} helo=host{r}.v6.example label=v6' \
  '  mail from=a@isp.example to=b@example.org' 'end' > "$T/v6.txt"
sed -i 's/{o}::{o}/1{s}::{o}/' "$T/v6.txt"
out=$(milter_replay "$T/v6.txt"); ok $? "IPv6 sessions replayed"
like "$(cat "$MILTER_LOG")" 'event kind=helo score=[0-9.]+ subscriber=- ip=2001:db8:77:1[0-9a-f]*::[0-9a-f]+ evidence=\{"check":"churn","connections_in_window":4' \
  "four /128s of one /56 are one counting key"
milter_stop
DB=$S/botsentry.db
for s in alice bob bakery; do
  is "$(q "$DB" "SELECT count(*) FROM events WHERE subscriber = '$s'")" 0 "$s raised nothing"
done
for s in carol dave; do
  is "$(q "$DB" "SELECT level FROM incidents WHERE subscriber = '$s'")" 3 "$s has a level-3 incident"
  is "$(q "$DB" "SELECT kinds FROM incidents WHERE subscriber = '$s'")" \
    "fanout,helo,rate,sender_forgery" "$s: the incident says why"
done
like "$(q "$DB" "SELECT evidence FROM events WHERE subscriber = 'dave' AND kind = 'helo'")" \
  '"check":"provider"' "dave's HELO claims a provider's domain"
is "$(q "$DB" "SELECT group_concat(id || '=' || mitigation) FROM subscribers WHERE mitigation <> 'monitor' ORDER BY id")" \
  "carol=throttle,dave=throttle" "level 3 set the throttle for both bots only"
grep -q 'reached level 3; mitigation=throttle' "$MILTER_LOG"; ok $? "the milter learned the new state at once"
milter_log_clean; ok $? "no sanitizer report in the milter's log"
done_testing
