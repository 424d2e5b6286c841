/*
 * store_sqlite_incident.c - recording events and correlating them into
 * incidents (the SQLite backend), reading incidents, their events and their
 * outbox rows, and the incident state changes of the abuse desk.
 *
 * Correlation happens inside the transaction that records the events, so an
 * event, its incident's new score and level, the outbox row announcing a
 * level rise and a mitigation set at level 3 are committed together or not
 * at all.
 *
 * Decisions:
 * - The incident key is the subscriber id, or "ip:<client ip>" for an
 *   unattributed event; an unattributed event without an IP cannot be
 *   correlated and is recorded without an incident.
 * - An event with score 0 is recorded; it joins the key's active incident if
 *   there is one (as evidence: count, kinds and sources change, the score and
 *   level do not), but never opens an incident by itself.
 * - Times: the score is kept decayed to score_ms, the latest event time seen;
 *   an event older than that (out of order) is added undecayed (dt < 0 is
 *   treated as 0), so a late event never makes the score go backwards in
 *   time.  opened_ms is the first event's time, updated_ms the latest event's
 *   time or the time of the last state change.
 * - The level never drops while an incident is active.  Each rise enqueues
 *   one outbox row with channel '' (notifyd fans it out), kind 'new' when the
 *   incident rises from level 0, else 'update', idem_key
 *   "inc-<id>-lvl-<level>".
 * - Reaching level 3 raises (never lowers) the subscriber's mitigation to
 *   the policy's action, creating the subscriber row if needed, with an
 *   outbox row of kind 'mitigation' (idem_key "inc-<id>-mitigation") and an
 *   audit row by actor 'correlation'.  Policy action 'monitor' does nothing.
 *   The rise's outbox rows and the mitigation are the same for every backend
 *   (store_level_rise in store.c); a backend only stores the outbox row
 *   (outbox_add).
 */
#include "config.h"
#include "correlate.h"
#include "store.h"
#include "store_sqlite_int.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_INC_FIND[] =
    "SELECT id, level, score, score_ms, updated_ms, kinds, sources FROM incidents "
    "WHERE subscriber = ?1 AND state IN ('open', 'notified', 'acknowledged')";
static const char SQL_INC_NEW[] =
    "INSERT INTO incidents (subscriber, state, level, score, score_ms, opened_ms, updated_ms) "
    "VALUES (?1, 'open', 0, 0, ?2, ?2, ?2)";
static const char SQL_INC_UPDATE[] =
    "UPDATE incidents SET level = ?2, score = ?3, score_ms = ?4, updated_ms = ?5, "
    "event_count = event_count + 1, kinds = ?6, sources = ?7 WHERE id = ?1";
static const char SQL_EV_ADD[] =
    "INSERT INTO events (ts_ms, subscriber, source, kind, score, client_ip, node, evidence, "
    "incident_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_NOTE_ADD[] =
    "INSERT INTO notifications (incident_id, subscriber, channel, kind, level, status, "
    "attempts, created_ms, next_attempt_ms, idem_key, payload) "
    "VALUES (?1, ?2, '', ?3, ?4, 'pending', 0, ?5, ?5, ?6, ?7) ON CONFLICT (idem_key) DO NOTHING";

/* The outbox row (store_ops.outbox_add; store_enqueue_note builds it). */
int
sqlite_outbox_add(struct store *st, int64_t incident, const char *key, const char *kind,
    int level, int64_t now_ms, const char *idem, const char *payload)
{
	sqlite3_stmt *s;

	if ((s = sq_prep(st, SQL_NOTE_ADD)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, incident);
	sq_bind_text(s, 2, key);
	sq_bind_text(s, 3, kind);
	sq_bind_int64(s, 4, level);
	sq_bind_int64(s, 5, now_ms);
	sq_bind_text(s, 6, idem);
	sq_bind_text(s, 7, payload);
	return sq_step_done(st, s, "enqueueing a notification");
}

/* One event, inside the caller's transaction. */
static int
record_one(struct store *st, const struct score_settings *policy, const struct event *ev,
    int64_t now, struct record_result *r)
{
	char key[EVENT_SUBSCRIBER_MAX + 8];
	char *kinds = NULL, *sources = NULL;
	int64_t inc = 0, score_ms = 0, updated_ms = 0;
	int level_before = 0, level, found = 0, rc;
	double score = 0;
	sqlite3_stmt *s;

	memset(r, 0, sizeof *r);
	if (!isfinite(ev->score) || ev->score < 0)
		return sq_errf(st, "event at %lld: score %g is not a finite number >= 0",
		    (long long)ev->ts_ms, ev->score);
	correlate_incident_key(policy, ev, key, sizeof key);

	if (key[0] != '\0') {
		if ((s = sq_prep(st, SQL_INC_FIND)) == NULL)
			return STORE_ERR;
		sq_bind_text(s, 1, key);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			found = 1;
			inc = sq_col_int64(s, 0);
			level_before = (int)sq_col_int64(s, 1);
			score = sqlite3_column_double(s, 2);
			score_ms = sq_col_int64(s, 3);
			updated_ms = sq_col_int64(s, 4);
			kinds = xstrdup(sq_col_text(s, 5));
			sources = xstrdup(sq_col_text(s, 6));
		} else if (rc != SQLITE_DONE) {
			sq_err(st, "finding the active incident");
			sq_reset(s);
			return STORE_ERR;
		}
		sq_reset(s);
		if (!found && ev->score > 0) {
			if ((s = sq_prep(st, SQL_INC_NEW)) == NULL)
				return STORE_ERR;
			sq_bind_text(s, 1, key);
			sq_bind_int64(s, 2, ev->ts_ms);
			if (sq_step_done(st, s, "opening an incident") != 0)
				return STORE_ERR;
			inc = sqlite3_last_insert_rowid(st->db);
			score_ms = updated_ms = ev->ts_ms;
			kinds = xstrdup("");
			sources = xstrdup("");
			r->new_incident = 1;
			found = 1;
		}
	}

	if ((s = sq_prep(st, SQL_EV_ADD)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, ev->ts_ms);
	sq_bind_text(s, 2, ev->subscriber);
	sq_bind_text(s, 3, ev->source);
	sq_bind_text(s, 4, ev->kind);
	sq_bind_double(s, 5, ev->score);
	sq_bind_text(s, 6, ev->client_ip);
	sq_bind_text(s, 7, ev->node);
	sq_bind_text(s, 8, ev->evidence != NULL && ev->evidence[0] != '\0' ? ev->evidence : "{}");
	if (found)
		sq_bind_int64(s, 9, inc);
	if (sq_step_done(st, s, "recording an event") != 0)
		goto fail;
	r->event_id = sqlite3_last_insert_rowid(st->db);
	if (!found)
		return 0;

	level = store_correlate_event(policy, ev, level_before, &score, &score_ms, &updated_ms,
	    &kinds, &sources);
	if ((s = sq_prep(st, SQL_INC_UPDATE)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, inc);
	sq_bind_int64(s, 2, level);
	sq_bind_double(s, 3, score);
	sq_bind_int64(s, 4, score_ms);
	sq_bind_int64(s, 5, updated_ms);
	sq_bind_text(s, 6, kinds);
	sq_bind_text(s, 7, sources);
	if (sq_step_done(st, s, "updating an incident") != 0)
		goto fail;

	if (store_level_rise(st, policy, inc, key, level_before, level, score, kinds, sources,
	    now) != 0)
		goto fail;
	r->incident_id = inc;
	r->level_before = level_before;
	r->level_after = level;
	r->score = score;
	free(kinds);
	free(sources);
	return 0;
fail:
	free(kinds);
	free(sources);
	return STORE_ERR;
}

static const char SQL_BATCH_CLAIM[] =
    "INSERT INTO event_batches (batch_key, committed_ms) VALUES (?1, ?2) "
    "ON CONFLICT (batch_key) DO NOTHING";
static const char SQL_BATCH_FORGET[] = "DELETE FROM event_batches WHERE committed_ms < ?1";

/* Store the batch key; 1 stored, 0 seen before, STORE_ERR. */
static int
batch_claim(struct store *st, const char *key, int64_t now)
{
	sqlite3_stmt *s;

	if ((st->batch_claims++ & 1023) == 0) {       /* now and then: forget old keys */
		if ((s = sq_prep(st, SQL_BATCH_FORGET)) == NULL)
			return STORE_ERR;
		sq_bind_int64(s, 1, now - STORE_BATCH_KEEP_MS);
		if (sq_step_done(st, s, "forgetting old batch keys") != 0)
			return STORE_ERR;
	}
	if ((s = sq_prep(st, SQL_BATCH_CLAIM)) == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, key);
	sq_bind_int64(s, 2, now);
	if (sq_step_done(st, s, "storing the batch key") != 0)
		return STORE_ERR;
	return sqlite3_changes(st->db) == 1;
}

int
sqlite_record_events(struct store *st, const struct score_settings *policy, const char *batch_key,
    const struct event *evs, size_t n, struct record_result *res, int *already)
{
	struct record_result one;
	int64_t now = bs_now_ms();
	size_t i;
	int c;

	if (sq_begin(st) != 0)
		return STORE_ERR;
	if (batch_key != NULL) {
		if ((c = batch_claim(st, batch_key, now)) < 0)
			return sq_fail(st);
		if (c == 0) {                      /* recorded before: nothing to do */
			sq_rollback(st);
			if (already != NULL)
				*already = 1;
			if (res != NULL)
				memset(res, 0, n * sizeof *res);
			return 0;
		}
	}
	for (i = 0; i < n; i++)
		if (record_one(st, policy, &evs[i], now, res != NULL ? &res[i] : &one) != 0)
			return sq_fail(st);
	return sq_commit(st);
}

/* ---------------------------------------------------------------- reading */

void
sq_incident_from_row(sqlite3_stmt *s, int col, struct incident *out)
{
	memset(out, 0, sizeof *out);
	out->id = sq_col_int64(s, col + 0);
	out->subscriber = xstrdup(sq_col_text(s, col + 1));
	out->state = xstrdup(sq_col_text(s, col + 2));
	out->level = (int)sq_col_int64(s, col + 3);
	out->score = sqlite3_column_double(s, col + 4);
	out->opened_ms = sq_col_int64(s, col + 5);
	out->updated_ms = sq_col_int64(s, col + 6);
	out->closed_ms = sq_col_int64(s, col + 7);
	out->event_count = sq_col_int64(s, col + 8);
	out->kinds = xstrdup(sq_col_text(s, col + 9));
	out->sources = xstrdup(sq_col_text(s, col + 10));
	out->ticket = sq_col_strdup(s, col + 11);
	out->score_ms = sq_col_int64(s, col + 12);
}

void
sq_notification_from_row(sqlite3_stmt *s, int col, struct notification *out)
{
	memset(out, 0, sizeof *out);
	out->id = sq_col_int64(s, col + 0);
	out->incident_id = sq_col_int64(s, col + 1);
	out->subscriber = xstrdup(sq_col_text(s, col + 2));
	out->channel = xstrdup(sq_col_text(s, col + 3));
	out->kind = xstrdup(sq_col_text(s, col + 4));
	out->level = (int)sq_col_int64(s, col + 5);
	out->status = xstrdup(sq_col_text(s, col + 6));
	out->attempts = (int)sq_col_int64(s, col + 7);
	out->created_ms = sq_col_int64(s, col + 8);
	out->next_attempt_ms = sq_col_int64(s, col + 9);
	out->last_error = sq_col_strdup(s, col + 10);
	out->idem_key = xstrdup(sq_col_text(s, col + 11));
	out->payload = xstrdup(sq_col_text(s, col + 12));
}

static const char SQL_INC_GET[] = "SELECT " SQ_INCIDENT_COLS " FROM incidents i WHERE i.id = ?1";

int
sqlite_incident_get(struct store *st, int64_t id, struct incident *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof *out);
	if ((s = sq_prep(st, SQL_INC_GET)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		sq_incident_from_row(s, 0, out);
	else if (rc != SQLITE_DONE)
		sq_err(st, "reading an incident");
	sq_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERR;
}

static void
cat(char **buf, const char *s)
{
	char *n = xasprintf("%s%s", *buf, s);

	free(*buf);
	*buf = n;
}

int
sqlite_incidents_list(struct store *st, const struct incident_filter *f,
    int (*fn)(void *ud, const struct incident *inc), void *ud)
{
	static const struct incident_filter none;
	const char *order = "i.id";
	struct incident inc;
	sqlite3_stmt *s;
	char *sql;
	int rc, ret = 0;

	if (f == NULL)
		f = &none;
	sql = xstrdup("SELECT " SQ_INCIDENT_COLS " FROM incidents i WHERE 1 = 1");
	if (f->state != NULL && strcmp(f->state, "active") == 0)
		cat(&sql, " AND i.state IN ('open', 'notified', 'acknowledged')");
	else if (f->state != NULL)
		cat(&sql, " AND i.state = ?1");
	if (f->min_level > 0)
		cat(&sql, " AND i.level >= ?2");
	if (f->since_ms > 0)
		cat(&sql, " AND i.opened_ms >= ?3");
	if (f->until_ms > 0)
		cat(&sql, " AND i.opened_ms < ?4");
	if (f->kind != NULL)
		cat(&sql, " AND instr(',' || i.kinds || ',', ',' || ?5 || ',') > 0");
	if (f->source != NULL)
		cat(&sql, " AND instr(',' || i.sources || ',', ',' || ?6 || ',') > 0");
	if (f->subscriber != NULL)
		cat(&sql, " AND i.subscriber = ?7");
	if (f->sort != NULL) {
		if (strcmp(f->sort, "score") == 0)
			order = "i.score";
		else if (strcmp(f->sort, "level") == 0)
			order = "i.level";
		else if (strcmp(f->sort, "updated") == 0)
			order = "i.updated_ms";
		else if (strcmp(f->sort, "opened") == 0)
			order = "i.opened_ms";
		else if (strcmp(f->sort, "id") != 0) {
			free(sql);
			return sq_errf(st, "incidents: unknown sort key '%s' (expected id, score, level, updated or opened)",
			    f->sort);
		}
	}
	{
		char tail[128];

		snprintf(tail, sizeof tail, " ORDER BY %s%s, i.id%s LIMIT ?8", order,
		    f->descending ? " DESC" : "", f->descending ? " DESC" : "");
		cat(&sql, tail);
	}
	s = sq_prep_once(st, sql);
	free(sql);
	if (s == NULL)
		return STORE_ERR;
	/* Unused numbered parameters are simply not in the SQL. */
	if (f->state != NULL && strcmp(f->state, "active") != 0)
		sq_bind_text(s, 1, f->state);
	sq_bind_int64(s, 2, f->min_level);
	sq_bind_int64(s, 3, f->since_ms);
	sq_bind_int64(s, 4, f->until_ms);
	sq_bind_text(s, 5, f->kind);
	sq_bind_text(s, 6, f->source);
	sq_bind_text(s, 7, f->subscriber);
	sq_bind_int64(s, 8, f->limit > 0 ? f->limit : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		sq_incident_from_row(s, 0, &inc);
		ret = fn(ud, &inc);
		incident_clear(&inc);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing incidents");
	sqlite3_finalize(s);
	return ret;
}

int
sqlite_incident_events(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct stored_event *e), void *ud)
{
	struct stored_event e;
	sqlite3_stmt *s;
	int rc, ret = 0;

	s = sq_prep_once(st,
	    "SELECT id, incident_id, ts_ms, subscriber, source, kind, score, client_ip, node, evidence "
	    "FROM events WHERE incident_id = ?1 ORDER BY ts_ms, id");
	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, incident_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&e, 0, sizeof e);
		e.id = sq_col_int64(s, 0);
		e.incident_id = sq_col_int64(s, 1);
		event_init(&e.ev, sq_col_int64(s, 2), sq_col_text(s, 4), sq_col_text(s, 5),
		    sqlite3_column_double(s, 6));
		event_set_subscriber(&e.ev, sq_col_text(s, 3));
		event_set_client_ip(&e.ev, sq_col_text(s, 7));
		event_set_node(&e.ev, sq_col_text(s, 8));
		e.ev.evidence = xstrdup(sq_col_text(s, 9));
		ret = fn(ud, &e);
		event_clear(&e.ev);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing an incident's events");
	sqlite3_finalize(s);
	return ret;
}

int
sqlite_incident_notifications(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct notification *n), void *ud)
{
	struct notification n;
	sqlite3_stmt *s;
	int rc, ret = 0;

	s = sq_prep_once(st, "SELECT " SQ_NOTIFICATION_COLS
	    " FROM notifications n WHERE n.incident_id = ?1 ORDER BY n.id");
	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, incident_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		sq_notification_from_row(s, 0, &n);
		ret = fn(ud, &n);
		notification_clear(&n);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing an incident's notifications");
	sqlite3_finalize(s);
	return ret;
}

/* ---------------------------------------------------------------- desk changes */

static const char SQL_INC_STATE[] =
    "SELECT state, level, subscriber, score, kinds, sources FROM incidents WHERE id = ?1";
static const char SQL_INC_SET_STATE[] =
    "UPDATE incidents SET state = ?2, updated_ms = ?3, "
    "closed_ms = CASE WHEN ?2 IN ('resolved', 'false_positive') THEN ?3 ELSE closed_ms END "
    "WHERE id = ?1";
static const char SQL_INC_SET_TICKET[] = "UPDATE incidents SET ticket = ?2 WHERE id = ?1";

/*
 * Resolving an incident whose subscriber was told (level >= 1) enqueues a
 * 'resolved' notice; a false positive enqueues nothing (the desk decides
 * whether to apologise).  The mitigation is left as it is: lifting it is a
 * separate, audited desk action.
 */
int
sqlite_incident_set_state(struct store *st, int64_t id, const char *state,
    const char *actor, const char *note, int64_t now_ms)
{
	char *from = NULL, *key = NULL, *kinds = NULL, *sources = NULL;
	char object[64], idem[64], *detail;
	double score;
	sqlite3_stmt *s;
	int level, rc;

	if (sq_begin(st) != 0)
		return STORE_ERR;
	if ((s = sq_prep(st, SQL_INC_STATE)) == NULL)
		return sq_fail(st);
	sq_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sq_reset(s);
		sq_rollback(st);
		sq_errf(st, "incident %lld: no such incident", (long long)id);
		return STORE_NOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		sq_err(st, "reading an incident");
		sq_reset(s);
		return sq_fail(st);
	}
	from = xstrdup(sq_col_text(s, 0));
	level = (int)sq_col_int64(s, 1);
	key = xstrdup(sq_col_text(s, 2));
	score = sqlite3_column_double(s, 3);
	kinds = xstrdup(sq_col_text(s, 4));
	sources = xstrdup(sq_col_text(s, 5));
	sq_reset(s);
	if (!correlate_transition_ok(from, state)) {
		sq_errf(st, "incident %lld: cannot go from %s to %s", (long long)id, from,
		    state != NULL ? state : "(null)");
		goto fail;
	}
	if ((s = sq_prep(st, SQL_INC_SET_STATE)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, id);
	sq_bind_text(s, 2, state);
	sq_bind_int64(s, 3, now_ms);
	if (sq_step_done(st, s, "changing an incident's state") != 0)
		goto fail;
	if (strcmp(state, "resolved") == 0 && level >= 1) {
		snprintf(idem, sizeof idem, "inc-%lld-resolved", (long long)id);
		if (store_enqueue_note(st, id, key, "resolved", level, score, kinds, sources, NULL, idem,
		    now_ms) != 0)
			goto fail;
	}
	snprintf(object, sizeof object, "incident:%lld", (long long)id);
	detail = xasprintf("from=%s to=%s%s%s", from, state, note != NULL && *note ? " note=" : "",
	    note != NULL ? note : "");
	rc = store_audit(st, now_ms, actor != NULL ? actor : "", "incident.state", object, detail);
	free(detail);
	if (rc != 0)
		goto fail;
	free(from);
	free(key);
	free(kinds);
	free(sources);
	return sq_commit(st);
fail:
	free(from);
	free(key);
	free(kinds);
	free(sources);
	return sq_fail(st);
}

int
sqlite_incident_set_ticket(struct store *st, int64_t id, const char *ticket)
{
	sqlite3_stmt *s;

	if ((s = sq_prep(st, SQL_INC_SET_TICKET)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, id);
	sq_bind_text(s, 2, ticket);
	if (sq_step_done(st, s, "setting a ticket") != 0)
		return STORE_ERR;
	if (sqlite3_changes(st->db) == 0) {
		sq_errf(st, "incident %lld: no such incident", (long long)id);
		return STORE_NOTFOUND;
	}
	return 0;
}
