#!/usr/bin/env bash
# store-pg-restart.sh - PostgreSQL restarted under load: a writer keeps
# submitting events (t/writer_feeder) while the server is restarted twice
# (a fast shutdown, which ends the sessions, then an immediate one, a
# crash); the writer holds its queue, reconnects and goes on, and every
# event it acknowledged (its batch committed) is in the database afterwards.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/pg.sh"

grep -q '^#define HAVE_POSTGRESQL 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without PostgreSQL (configure --with-postgresql)"
FEEDER=$top_builddir/t/writer_feeder
[ -x "$FEEDER" ] || skip_all "t/writer_feeder not built"
pg_start

acked() { grep -E '^[0-9]+$' "$T/out" 2>/dev/null | tail -n 1; }
at_least() { local n; n=$(acked); [ -n "$n" ] && [ "$n" -ge "$1" ]; }

"$FEEDER" "$PG_URI" 0 >"$T/out" 2>"$T/err" &
pid=$!
at_exit "kill -9 $pid"
wait_for at_least 2000
ok $? "the feeder acknowledged events before the restart"

for mode in fast immediate; do
  before=$(acked)
  pg_restart "$mode"
  ok $? "PostgreSQL restarted ($mode)"
  wait_for at_least $((before + 4000))
  ok $? "the writer goes on after the $mode restart ($(acked) acknowledged, $before before)"
done
kill -0 "$pid" 2>/dev/null
ok $? "the feeder never died"
kill -9 "$pid"
wait "$pid" 2>/dev/null
N=$(acked)
echo "# killed after $N acknowledged events"

like "$(cat "$T/err")" "retrying in" "the writer logged its retries"
like "$(cat "$T/err")" "reconnected" "the store logged the reconnection"
rows=$(pg_psql "SELECT count(*) FROM events")
[ "$rows" -ge "$N" ]
ok $? "every acknowledged event is there ($rows rows >= $N acknowledged)"
is "$(pg_psql "SELECT count(*) FROM incidents i WHERE event_count <>
    (SELECT count(*) FROM events e WHERE e.incident_id = i.id)")" 0 \
  "every incident's event_count matches its events"
is "$(pg_psql "SELECT count(*) FROM (SELECT subscriber FROM incidents
    WHERE state IN ('open','notified','acknowledged') GROUP BY subscriber HAVING count(*) > 1) AS d")" 0 \
  "at most one active incident per subscriber"
is "$(pg_psql "SELECT count(*) FROM events WHERE incident_id IS NULL")" 0 \
  "every event is attached to an incident"
is "$(pg_psql "SELECT count(*) FROM (SELECT evidence FROM events GROUP BY evidence HAVING count(*) > 1) AS d")" 0 \
  "no event is stored twice (a retried batch whose COMMIT had gone through is recognised by its key)"

done_testing
