/*
 * store_pg_incident.c - recording events and correlating them into
 * incidents (the PostgreSQL backend), reading incidents, their events and
 * their outbox rows, and the incident state changes of the abuse desk.
 *
 * The rules are those of the SQLite backend (store_sqlite_incident.c has
 * the list of decisions).  What differs is concurrency: several hosts may
 * record events for one subscriber at the same moment.  The active incident
 * is read with SELECT ... FOR UPDATE, which makes a second writer wait for
 * the first one's commit and then see its score; an incident is opened with
 * INSERT ... ON CONFLICT DO NOTHING against the partial unique index
 * incidents_one_active, and when another writer won that race the row it
 * committed is locked and used instead.
 */
#include "config.h"
#include "correlate.h"
#include "store.h"
#include "store_pg_int.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_INC_FIND[] =
    "SELECT id, level, score, score_ms, updated_ms, kinds, sources FROM incidents "
    "WHERE subscriber = $1 AND state IN ('open', 'notified', 'acknowledged') FOR NO KEY UPDATE";
static const char SQL_INC_NEW[] =
    "INSERT INTO incidents (subscriber, state, level, score, score_ms, opened_ms, updated_ms) "
    "VALUES ($1, 'open', 0, 0, $2, $2, $2) "
    "ON CONFLICT (subscriber) WHERE state IN ('open', 'notified', 'acknowledged') DO NOTHING "
    "RETURNING id";
static const char SQL_INC_UPDATE[] =
    "UPDATE incidents SET level = $2, score = $3, score_ms = $4, updated_ms = $5, "
    "event_count = event_count + 1, kinds = $6, sources = $7 WHERE id = $1";
static const char SQL_EV_ADD[] =
    "INSERT INTO events (ts_ms, subscriber, source, kind, score, client_ip, node, evidence, "
    "incident_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
static const char SQL_NOTE_ADD[] =
    "INSERT INTO notifications (incident_id, subscriber, channel, kind, level, status, "
    "attempts, created_ms, next_attempt_ms, idem_key, payload) "
    "VALUES ($1, $2, '', $3, $4, 'pending', 0, $5, $5, $6, $7) ON CONFLICT (idem_key) DO NOTHING";
/* One transaction-scoped advisory lock per incident key of a batch, taken
 * in key order before anything else: two hosts' batches that share keys
 * then wait for each other instead of deadlocking on the incidents, the
 * unique index and the subscribers rows they touch in event order. */
static const char SQL_KEYS_LOCK[] =
    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 7))) "
    "FROM (SELECT DISTINCT k FROM unnest(string_to_array($1, chr(10))) AS u(k) "
    "WHERE k <> '' ORDER BY k) AS s";
static const char SQL_SUB_MITIGATION[] = "SELECT mitigation FROM subscribers WHERE id = $1";

static int
enqueue(struct store *st, int64_t incident, const char *key, const char *kind, int level,
    double score, const char *kinds, const char *sources, const char *mitigation,
    const char *idem, int64_t now)
{
	struct pg_params p = PG_PARAMS_INIT;
	char *payload;
	int rc;

	payload = store_note_payload(incident, key, level, score, kinds, sources, mitigation);
	pp_int(&p, incident);
	pp_text(&p, key);
	pp_text(&p, kind);
	pp_int(&p, level);
	pp_int(&p, now);
	pp_text(&p, idem);
	pp_text(&p, payload);
	rc = pg_do(st, SQL_NOTE_ADD, &p, "enqueueing a notification", NULL);
	free(payload);
	return rc;
}

/* Level 3 reached: raise the subscriber's mitigation to the policy's. */
static int
mitigate(struct store *st, const struct score_settings *policy, int64_t incident,
    const char *key, double score, const char *kinds, const char *sources, int64_t now)
{
	struct pg_params p = PG_PARAMS_INIT;
	char idem[64], detail[256];
	int cur = 0, want = store_mitigation_rank(policy->mitigation);
	PGresult *r;

	if (want <= 0)
		return 0;
	pp_text(&p, key);
	if ((r = pg_exec(st, SQL_SUB_MITIGATION, &p, "reading a mitigation")) == NULL)
		return STORE_ERR;
	if (PQntuples(r) > 0)
		cur = store_mitigation_rank(pg_text(r, 0, 0));
	PQclear(r);
	if (cur >= want)
		return 0;
	if (pg_subscriber_set_mitigation(st, key, policy->mitigation, "correlation", now) != 0)
		return STORE_ERR;
	snprintf(idem, sizeof idem, "inc-%lld-mitigation", (long long)incident);
	if (enqueue(st, incident, key, "mitigation", 3, score, kinds, sources, policy->mitigation,
	    idem, now) != 0)
		return STORE_ERR;
	snprintf(detail, sizeof detail, "action=%s incident=%lld level=3 score=%.3f",
	    policy->mitigation, (long long)incident, score);
	return pg_audit(st, now, "correlation", "mitigation", key, detail);
}

/* The key's active incident, locked: 1 found (fields set), 0 none, STORE_ERR. */
static int
find_active(struct store *st, const char *key, int64_t *inc, int *level, double *score,
    int64_t *score_ms, int64_t *updated_ms, char **kinds, char **sources)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;

	pp_text(&p, key);
	if ((r = pg_exec(st, SQL_INC_FIND, &p, "finding the active incident")) == NULL)
		return STORE_ERR;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	*inc = pg_int(r, 0, 0);
	*level = (int)pg_int(r, 0, 1);
	*score = pg_double(r, 0, 2);
	*score_ms = pg_int(r, 0, 3);
	*updated_ms = pg_int(r, 0, 4);
	*kinds = xstrdup(pg_text(r, 0, 5));
	*sources = xstrdup(pg_text(r, 0, 6));
	PQclear(r);
	return 1;
}

/* The incident key of an event into key ("" when it has none). */
static void
event_key(const struct score_settings *policy, const struct event *ev, char *key, size_t size)
{
	correlate_incident_key(policy, ev, key, size);
}

/* One event, inside the caller's transaction. */
static int
record_one(struct store *st, const struct score_settings *policy, const struct event *ev,
    int64_t now, struct record_result *res)
{
	char key[EVENT_SUBSCRIBER_MAX + 8], idem[64];
	char *kinds = NULL, *sources = NULL;
	int64_t inc = 0, score_ms = 0, updated_ms = 0;
	int level_before = 0, level, found = 0;
	double score = 0;
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;

	memset(res, 0, sizeof *res);
	if (!isfinite(ev->score) || ev->score < 0)
		return pg_errf(st, "event at %lld: score %g is not a finite number >= 0",
		    (long long)ev->ts_ms, ev->score);
	event_key(policy, ev, key, sizeof key);
	if (key[0] != '\0') {
		found = find_active(st, key, &inc, &level_before, &score, &score_ms, &updated_ms,
		    &kinds, &sources);
		if (found < 0)
			return STORE_ERR;
		if (!found && ev->score > 0) {
			pp_text(&p, key);
			pp_int(&p, ev->ts_ms);
			if ((r = pg_exec(st, SQL_INC_NEW, &p, "opening an incident")) == NULL)
				return STORE_ERR;
			p.n = 0;
			if (PQntuples(r) == 1) {
				inc = pg_int(r, 0, 0);
				score_ms = updated_ms = ev->ts_ms;
				kinds = xstrdup("");
				sources = xstrdup("");
				res->new_incident = 1;
				found = 1;
			}
			PQclear(r);
			if (!found) {
				/* another host opened it meanwhile (and has committed) */
				found = find_active(st, key, &inc, &level_before, &score, &score_ms,
				    &updated_ms, &kinds, &sources);
				if (found <= 0) {
					if (found == 0)
						pg_errf(st, "incident for %s: lost a race twice", key);
					return STORE_ERR;
				}
			}
		}
	}

	pp_int(&p, ev->ts_ms);
	pp_text(&p, ev->subscriber);
	pp_text(&p, ev->source);
	pp_text(&p, ev->kind);
	pp_double(&p, ev->score);
	pp_text(&p, ev->client_ip);
	pp_text(&p, ev->node);
	pp_text(&p, ev->evidence != NULL && ev->evidence[0] != '\0' ? ev->evidence : "{}");
	if (found)
		pp_int(&p, inc);
	else
		pp_text(&p, NULL);
	if ((r = pg_exec(st, SQL_EV_ADD, &p, "recording an event")) == NULL)
		goto fail;
	p.n = 0;
	res->event_id = pg_int(r, 0, 0);
	PQclear(r);
	if (!found)
		return 0;

	level = store_correlate_event(policy, ev, level_before, &score, &score_ms, &updated_ms,
	    &kinds, &sources);
	pp_int(&p, inc);
	pp_int(&p, level);
	pp_double(&p, score);
	pp_int(&p, score_ms);
	pp_int(&p, updated_ms);
	pp_text(&p, kinds);
	pp_text(&p, sources);
	if (pg_do(st, SQL_INC_UPDATE, &p, "updating an incident", NULL) != 0)
		goto fail;

	if (level > level_before) {
		snprintf(idem, sizeof idem, "inc-%lld-lvl-%d", (long long)inc, level);
		if (enqueue(st, inc, key, level_before == 0 ? "new" : "update", level, score,
		    kinds, sources, NULL, idem, now) != 0)
			goto fail;
		if (level >= 3 && level_before < 3 &&
		    mitigate(st, policy, inc, key, score, kinds, sources, now) != 0)
			goto fail;
	}
	res->incident_id = inc;
	res->level_before = level_before;
	res->level_after = level;
	res->score = score;
	free(kinds);
	free(sources);
	return 0;
fail:
	free(kinds);
	free(sources);
	return STORE_ERR;
}

static int
lock_keys(struct store *st, const struct score_settings *policy, const struct event *evs, size_t n)
{
	struct pg_params p = PG_PARAMS_INIT;
	char key[EVENT_SUBSCRIBER_MAX + 8], *all = NULL, *tmp;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		event_key(policy, &evs[i], key, sizeof key);
		if (key[0] == '\0' || strchr(key, '\n') != NULL)
			continue;        /* no key, or one that cannot be listed (never locked) */
		tmp = xasprintf("%s%s\n", all != NULL ? all : "", key);
		free(all);
		all = tmp;
	}
	if (all == NULL)
		return 0;
	pp_text(&p, all);
	rc = pg_do(st, SQL_KEYS_LOCK, &p, "locking the batch's subscribers", NULL);
	free(all);
	return rc;
}

int
pg_record_events(struct store *st, const struct score_settings *policy,
    const struct event *evs, size_t n, struct record_result *res)
{
	struct record_result one;
	int64_t now = bs_now_ms();
	size_t i;

	if (pg_begin(st) != 0)
		return STORE_ERR;
	if (lock_keys(st, policy, evs, n) != 0)
		return pg_fail(st);
	for (i = 0; i < n; i++)
		if (record_one(st, policy, &evs[i], now, res != NULL ? &res[i] : &one) != 0)
			return pg_fail(st);
	return pg_commit(st);
}

/* ---------------------------------------------------------------- reading */

void
pg_incident_from_row(const PGresult *r, int row, int col, struct incident *out)
{
	memset(out, 0, sizeof *out);
	out->id = pg_int(r, row, col + 0);
	out->subscriber = xstrdup(pg_text(r, row, col + 1));
	out->state = xstrdup(pg_text(r, row, col + 2));
	out->level = (int)pg_int(r, row, col + 3);
	out->score = pg_double(r, row, col + 4);
	out->opened_ms = pg_int(r, row, col + 5);
	out->updated_ms = pg_int(r, row, col + 6);
	out->closed_ms = pg_int(r, row, col + 7);
	out->event_count = pg_int(r, row, col + 8);
	out->kinds = xstrdup(pg_text(r, row, col + 9));
	out->sources = xstrdup(pg_text(r, row, col + 10));
	out->ticket = pg_strdup(r, row, col + 11);
	out->score_ms = pg_int(r, row, col + 12);
}

void
pg_notification_from_row(const PGresult *r, int row, int col, struct notification *out)
{
	memset(out, 0, sizeof *out);
	out->id = pg_int(r, row, col + 0);
	out->incident_id = pg_int(r, row, col + 1);
	out->subscriber = xstrdup(pg_text(r, row, col + 2));
	out->channel = xstrdup(pg_text(r, row, col + 3));
	out->kind = xstrdup(pg_text(r, row, col + 4));
	out->level = (int)pg_int(r, row, col + 5);
	out->status = xstrdup(pg_text(r, row, col + 6));
	out->attempts = (int)pg_int(r, row, col + 7);
	out->created_ms = pg_int(r, row, col + 8);
	out->next_attempt_ms = pg_int(r, row, col + 9);
	out->last_error = pg_strdup(r, row, col + 10);
	out->idem_key = xstrdup(pg_text(r, row, col + 11));
	out->payload = xstrdup(pg_text(r, row, col + 12));
}

static const char SQL_INC_GET[] = "SELECT " PG_INCIDENT_COLS " FROM incidents i WHERE i.id = $1";

int
pg_incident_get(struct store *st, int64_t id, struct incident *out)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int rc;

	memset(out, 0, sizeof *out);
	pp_int(&p, id);
	if ((r = pg_exec(st, SQL_INC_GET, &p, "reading an incident")) == NULL)
		return STORE_ERR;
	rc = PQntuples(r) > 0 ? 0 : STORE_NOTFOUND;
	if (rc == 0)
		pg_incident_from_row(r, 0, 0, out);
	PQclear(r);
	return rc;
}

static void
cat(char **buf, const char *s)
{
	char *n = xasprintf("%s%s", *buf, s);

	free(*buf);
	*buf = n;
}

/* SQL built from the filter; the values are parameters, numbered in the
 * order they are added. */
int
pg_incidents_list(struct store *st, const struct incident_filter *f,
    int (*fn)(void *ud, const struct incident *inc), void *ud)
{
	static const struct incident_filter none;
	struct pg_params p = PG_PARAMS_INIT;
	const char *order = "i.id";
	struct incident inc;
	PGresult *r;
	char *sql, tail[160];
	int i, ret = 0;

	if (f == NULL)
		f = &none;
	sql = xstrdup("SELECT " PG_INCIDENT_COLS " FROM incidents i WHERE true");
#define ADD(cond, push) do { snprintf(tail, sizeof tail, cond, p.n + 1); cat(&sql, tail); push; } while (0)
	if (f->state != NULL && strcmp(f->state, "active") == 0)
		cat(&sql, " AND i.state IN ('open', 'notified', 'acknowledged')");
	else if (f->state != NULL)
		ADD(" AND i.state = $%d", pp_text(&p, f->state));
	if (f->min_level > 0)
		ADD(" AND i.level >= $%d", pp_int(&p, f->min_level));
	if (f->since_ms > 0)
		ADD(" AND i.opened_ms >= $%d", pp_int(&p, f->since_ms));
	if (f->until_ms > 0)
		ADD(" AND i.opened_ms < $%d", pp_int(&p, f->until_ms));
	if (f->kind != NULL)
		ADD(" AND $%d::text = ANY (string_to_array(i.kinds, ','))", pp_text(&p, f->kind));
	if (f->source != NULL)
		ADD(" AND $%d::text = ANY (string_to_array(i.sources, ','))", pp_text(&p, f->source));
	if (f->subscriber != NULL)
		ADD(" AND i.subscriber = $%d", pp_text(&p, f->subscriber));
#undef ADD
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
			return pg_errf(st, "incidents: unknown sort key '%s' (expected id, score, level, updated or opened)",
			    f->sort);
		}
	}
	snprintf(tail, sizeof tail, " ORDER BY %s%s, i.id%s", order,
	    f->descending ? " DESC" : "", f->descending ? " DESC" : "");
	cat(&sql, tail);
	if (f->limit > 0) {
		snprintf(tail, sizeof tail, " LIMIT $%d", p.n + 1);
		cat(&sql, tail);
		pp_int(&p, f->limit);
	}
	r = pg_exec_once(st, sql, &p, "listing incidents");
	free(sql);
	if (r == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		pg_incident_from_row(r, i, 0, &inc);
		ret = fn(ud, &inc);
		incident_clear(&inc);
	}
	PQclear(r);
	return ret;
}

static const char SQL_INC_EVENTS[] =
    "SELECT id, incident_id, ts_ms, subscriber, source, kind, score, client_ip, node, evidence "
    "FROM events WHERE incident_id = $1 ORDER BY ts_ms, id";

int
pg_incident_events(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct stored_event *e), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	struct stored_event e;
	PGresult *r;
	int i, ret = 0;

	pp_int(&p, incident_id);
	if ((r = pg_exec(st, SQL_INC_EVENTS, &p, "listing an incident's events")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		memset(&e, 0, sizeof e);
		e.id = pg_int(r, i, 0);
		e.incident_id = pg_int(r, i, 1);
		event_init(&e.ev, pg_int(r, i, 2), pg_text(r, i, 4), pg_text(r, i, 5),
		    pg_double(r, i, 6));
		event_set_subscriber(&e.ev, pg_text(r, i, 3));
		event_set_client_ip(&e.ev, pg_text(r, i, 7));
		event_set_node(&e.ev, pg_text(r, i, 8));
		e.ev.evidence = xstrdup(pg_text(r, i, 9));
		ret = fn(ud, &e);
		event_clear(&e.ev);
	}
	PQclear(r);
	return ret;
}

static const char SQL_INC_NOTES[] = "SELECT " PG_NOTIFICATION_COLS
    " FROM notifications n WHERE n.incident_id = $1 ORDER BY n.id";

int
pg_incident_notifications(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct notification *n), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	struct notification n;
	PGresult *r;
	int i, ret = 0;

	pp_int(&p, incident_id);
	if ((r = pg_exec(st, SQL_INC_NOTES, &p, "listing an incident's notifications")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		pg_notification_from_row(r, i, 0, &n);
		ret = fn(ud, &n);
		notification_clear(&n);
	}
	PQclear(r);
	return ret;
}

/* ---------------------------------------------------------------- desk changes */

static const char SQL_INC_STATE[] =
    "SELECT state, level, subscriber, score, kinds, sources FROM incidents WHERE id = $1 "
    "FOR NO KEY UPDATE";
static const char SQL_INC_SET_STATE[] =
    "UPDATE incidents SET state = $2, updated_ms = $3, "
    "closed_ms = CASE WHEN $2 IN ('resolved', 'false_positive') THEN $3 ELSE closed_ms END "
    "WHERE id = $1";
static const char SQL_INC_SET_TICKET[] = "UPDATE incidents SET ticket = $2 WHERE id = $1";

int
pg_incident_set_state(struct store *st, int64_t id, const char *state,
    const char *actor, const char *note, int64_t now_ms)
{
	struct pg_params p = PG_PARAMS_INIT;
	char *from = NULL, *key = NULL, *kinds = NULL, *sources = NULL;
	char object[64], idem[64], *detail;
	double score;
	PGresult *r;
	int level, rc;

	if (pg_begin(st) != 0)
		return STORE_ERR;
	pp_int(&p, id);
	if ((r = pg_exec(st, SQL_INC_STATE, &p, "reading an incident")) == NULL)
		return pg_fail(st);
	p.n = 0;
	if (PQntuples(r) == 0) {
		PQclear(r);
		pg_rollback(st);
		pg_errf(st, "incident %lld: no such incident", (long long)id);
		return STORE_NOTFOUND;
	}
	from = xstrdup(pg_text(r, 0, 0));
	level = (int)pg_int(r, 0, 1);
	key = xstrdup(pg_text(r, 0, 2));
	score = pg_double(r, 0, 3);
	kinds = xstrdup(pg_text(r, 0, 4));
	sources = xstrdup(pg_text(r, 0, 5));
	PQclear(r);
	if (!correlate_transition_ok(from, state)) {
		pg_errf(st, "incident %lld: cannot go from %s to %s", (long long)id, from,
		    state != NULL ? state : "(null)");
		goto fail;
	}
	pp_int(&p, id);
	pp_text(&p, state);
	pp_int(&p, now_ms);
	if (pg_do(st, SQL_INC_SET_STATE, &p, "changing an incident's state", NULL) != 0)
		goto fail;
	if (strcmp(state, "resolved") == 0 && level >= 1) {
		snprintf(idem, sizeof idem, "inc-%lld-resolved", (long long)id);
		if (enqueue(st, id, key, "resolved", level, score, kinds, sources, NULL, idem,
		    now_ms) != 0)
			goto fail;
	}
	snprintf(object, sizeof object, "incident:%lld", (long long)id);
	detail = xasprintf("from=%s to=%s%s%s", from, state, note != NULL && *note ? " note=" : "",
	    note != NULL ? note : "");
	rc = pg_audit(st, now_ms, actor != NULL ? actor : "", "incident.state", object, detail);
	free(detail);
	if (rc != 0)
		goto fail;
	free(from);
	free(key);
	free(kinds);
	free(sources);
	return pg_commit(st);
fail:
	free(from);
	free(key);
	free(kinds);
	free(sources);
	return pg_fail(st);
}

int
pg_incident_set_ticket(struct store *st, int64_t id, const char *ticket)
{
	struct pg_params p = PG_PARAMS_INIT;
	int64_t n;

	pp_int(&p, id);
	pp_text(&p, ticket);
	if (pg_do(st, SQL_INC_SET_TICKET, &p, "setting a ticket", &n) != 0)
		return STORE_ERR;
	if (n == 0) {
		pg_errf(st, "incident %lld: no such incident", (long long)id);
		return STORE_NOTFOUND;
	}
	return 0;
}
