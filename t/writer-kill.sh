#!/usr/bin/env bash
# writer-kill.sh - kill the writer with SIGKILL in the middle of its batches
# and check that the database is consistent and that every event the writer
# had acknowledged (its batch committed) is there.  Then reopen it and write
# more.
. "$top_srcdir/t/lib/common.sh"
need_cmd sqlite3

FEEDER=$top_builddir/t/writer_feeder
[ -x "$FEEDER" ] || skip_all "t/writer_feeder not built"
DB=$T/abuse.db

acked() { grep -E '^[0-9]+$' "$T/out" 2>/dev/null | tail -n 1; }
enough() { local n; n=$(acked); [ -n "$n" ] && [ "$n" -ge 3000 ]; }

# Three rounds on the same file, each killed at a different moment while the
# feeder keeps submitting (the writer commits a batch of up to 500 every few
# milliseconds, so most moments fall inside a transaction).
rows=0
for pause in 0.05 0.13 0.31; do
  "$FEEDER" "sqlite:$DB" 0 >"$T/out" 2>"$T/err" &
  pid=$!
  at_exit "kill -9 $pid"
  wait_for enough
  ok $? "the feeder acknowledged events (pause $pause)"
  sleep "$pause"
  kill -0 "$pid" 2>/dev/null
  ok $? "the feeder is still running when killed"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  N=$(acked)
  echo "# killed after $N acknowledged events"
  is "$(q "$DB" 'PRAGMA integrity_check')" "ok" "integrity_check is ok after SIGKILL"
  before=$rows
  rows=$(q "$DB" 'SELECT count(*) FROM events')
  [ "$rows" -ge $((before + N)) ]
  ok $? "every acknowledged event is there ($rows rows >= $before + $N acknowledged)"
done

is "$(q "$DB" 'SELECT count(*) FROM events WHERE incident_id IS NULL')" 0 \
  "every event is attached to an incident"
is "$(q "$DB" 'SELECT count(*) FROM incidents i WHERE event_count <>
    (SELECT count(*) FROM events e WHERE e.incident_id = i.id)')" 0 \
  "every incident's event_count matches its events"
is "$(q "$DB" 'SELECT count(*) FROM incidents i WHERE score <= 0 OR score >
    (SELECT sum(score) FROM events e WHERE e.incident_id = i.id) + 1e-6')" 0 \
  "every incident's score is within its events' sum"
is "$(q "$DB" "SELECT count(*) FROM (SELECT subscriber FROM incidents
    WHERE state IN ('open','notified','acknowledged') GROUP BY subscriber HAVING count(*) > 1)")" 0 \
  "at most one active incident per subscriber"
is "$(q "$DB" "SELECT count(*) FROM incidents i WHERE level > 0 AND level <>
    (SELECT max(level) FROM notifications n WHERE n.incident_id = i.id AND kind IN ('new','update'))")" 0 \
  "every level an incident reached has its outbox row"
is "$(q "$DB" "SELECT count(*) FROM incidents i WHERE level = 3 AND NOT EXISTS
    (SELECT 1 FROM subscribers s WHERE s.id = i.subscriber AND s.mitigation = 'throttle')")" 0 \
  "every level-3 subscriber is mitigated"
is "$(q "$DB" 'SELECT count(*) FROM events e WHERE NOT EXISTS
    (SELECT 1 FROM incidents i WHERE i.id = e.incident_id)')" 0 "no event points to a missing incident"

# reopen and write more
"$FEEDER" "sqlite:$DB" 1000 >"$T/out2" 2>"$T/err2"
ok $? "the feeder runs again on the same database"
is "$(tail -n 1 "$T/out2")" "done 1000" "the second run finished"
is "$(q "$DB" 'SELECT count(*) FROM events')" "$((rows + 1000))" "the second run's events were added"
is "$(q "$DB" 'PRAGMA integrity_check')" "ok" "integrity_check is ok after the second run"
is "$(q "$DB" 'SELECT count(*) FROM incidents i WHERE event_count <>
    (SELECT count(*) FROM events e WHERE e.incident_id = i.id)')" 0 \
  "event counts still match"
mode=$(stat -c %a "$DB")
is "$mode" 600 "the database file has mode 0600"

done_testing
