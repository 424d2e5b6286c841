/*
 * store_pg_notify.c - the outbox seen from botsentry-notifyd on
 * PostgreSQL: fan-out of level changes into per-channel deliveries, claims,
 * outcomes, the subscriber notice interval and Request Tracker ticket state.
 * Tables from db/postgresql/003-notify.sql; the semantics are those of
 * store_sqlite_notify.c.
 *
 * Concurrency: several notifyd processes (on several hosts) share the
 * database.  Fan-out and claims select their rows with FOR UPDATE SKIP
 * LOCKED, so each row goes to exactly one worker and none waits for
 * another; a delivery is not picked while an earlier one of the same
 * incident and channel is pending or being sent (the ordering rule), and a
 * claim older than the lease is taken over as with SQLite.  The notice
 * interval serialises on a transaction-scoped advisory lock per subscriber.
 */
#include "config.h"
#include "store_pg_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- fan-out */

static const char SQL_FANOUT_DUE[] =
    "SELECT " PG_NOTIFICATION_COLS " FROM notifications n "
    "WHERE n.channel = '' AND n.status = 'pending' AND n.next_attempt_ms <= $1 "
    "ORDER BY n.id LIMIT $2 FOR UPDATE SKIP LOCKED";
static const char SQL_FANOUT_INSERT[] =
    "INSERT INTO notify_deliveries (notification_id, incident_id, subscriber, "
    "channel, kind, level, status, attempts, created_ms, next_attempt_ms, idem_key) "
    "VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $9) ON CONFLICT DO NOTHING";
static const char SQL_FANOUT_MARK[] =
    "UPDATE notifications SET status = $2, last_error = $3, claimed_by = 'fanout', "
    "claimed_ms = $4 WHERE id = $1";

int
pg_notify_fanout(struct store *st, int64_t now_ms, int limit, store_notify_route_fn route, void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	struct notification row;
	PGresult *r;
	int i, n;
	size_t j;

	if (pg_begin(st) != 0)
		return STORE_ERR;
	pp_int(&p, now_ms);
	pp_int(&p, limit);
	if ((r = pg_exec(st, SQL_FANOUT_DUE, &p, "outbox fan-out")) == NULL)
		return pg_fail(st);
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		const char *ch[16];
		size_t nch;

		pg_notification_from_row(r, i, 0, &row);
		nch = route(ud, &row, ch, BS_ARRAY_LEN(ch));
		for (j = 0; j < nch; j++) {
			char *key = xasprintf("%s-%s", row.idem_key, ch[j]);
			int rc;

			p.n = 0;
			pp_int(&p, row.id);
			if (row.incident_id > 0)
				pp_int(&p, row.incident_id);
			else
				pp_text(&p, NULL);
			pp_text(&p, row.subscriber);
			pp_text(&p, ch[j]);
			pp_text(&p, row.kind);
			pp_int(&p, row.level);
			pp_int(&p, now_ms);
			pp_int(&p, now_ms);
			pp_text(&p, key);
			rc = pg_do(st, SQL_FANOUT_INSERT, &p, "insert delivery", NULL);
			free(key);
			if (rc != 0)
				goto fail;
		}
		p.n = 0;
		pp_int(&p, row.id);
		pp_text(&p, nch > 0 ? "sending" : "sent");
		pp_text(&p, nch > 0 ? NULL
		    : "no channel fires at this level and kind (notify escalation settings)");
		pp_int(&p, now_ms);
		if (pg_do(st, SQL_FANOUT_MARK, &p, "mark outbox row", NULL) != 0)
			goto fail;
		notification_clear(&row);
	}
	PQclear(r);
	return pg_commit(st) == 0 ? n : STORE_ERR;
fail:
	notification_clear(&row);
	PQclear(r);
	return pg_fail(st);
}

/* ---------------------------------------------------------------- claims */

#define DELIVERY_COLS \
	"d.id, d.notification_id, d.incident_id, d.subscriber, d.channel, d.kind, d.level, " \
	"d.status, d.attempts, n.created_ms, d.next_attempt_ms, d.last_error, d.note, " \
	"d.idem_key, n.payload"

static void
delivery_from_row(const PGresult *r, int row, struct delivery *d)
{
	d->id = pg_int(r, row, 0);
	d->notification_id = pg_int(r, row, 1);
	d->incident_id = pg_int(r, row, 2);
	d->subscriber = pg_strdup(r, row, 3);
	d->channel = pg_strdup(r, row, 4);
	d->kind = pg_strdup(r, row, 5);
	d->level = (int)pg_int(r, row, 6);
	d->status = pg_strdup(r, row, 7);
	d->attempts = (int)pg_int(r, row, 8);
	d->created_ms = pg_int(r, row, 9);
	d->next_attempt_ms = pg_int(r, row, 10);
	d->last_error = pg_strdup(r, row, 11);
	d->note = pg_strdup(r, row, 12);
	d->idem_key = pg_strdup(r, row, 13);
	d->payload = pg_strdup(r, row, 14);
	if (d->subscriber == NULL)
		d->subscriber = xstrdup("");
	if (d->payload == NULL)
		d->payload = xstrdup("{}");
}

static const char SQL_CLAIM_PICK[] =
    "SELECT d.id FROM notify_deliveries d "
    "WHERE ((d.status = 'pending' AND d.next_attempt_ms <= $1) "
    "    OR (d.status = 'sending' AND d.claimed_ms < $2)) "
    "  AND NOT EXISTS (SELECT 1 FROM notify_deliveries e "
    "    WHERE e.incident_id = d.incident_id AND e.channel = d.channel AND e.id < d.id "
    "      AND e.status IN ('pending', 'sending')) "
    "ORDER BY d.next_attempt_ms, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED";
static const char SQL_CLAIM_TAKE[] =
    "UPDATE notify_deliveries SET status = 'sending', claimed_by = $2, claimed_ms = $3, "
    "attempts = attempts + 1 WHERE id = $1";
static const char SQL_CLAIM_GET[] =
    "SELECT " DELIVERY_COLS " FROM notify_deliveries d "
    "JOIN notifications n ON n.id = d.notification_id WHERE d.id = $1";

int
pg_notify_claim(struct store *st, const char *worker, int64_t now_ms, int64_t lease_ms,
    int limit, struct delivery **out, size_t *n)
{
	struct pg_params p = PG_PARAMS_INIT;
	struct delivery *d = NULL;
	PGresult *ids, *r;
	int i, nid = 0;

	*out = NULL;
	*n = 0;
	if (pg_begin(st) != 0)
		return STORE_ERR;
	pp_int(&p, now_ms);
	pp_int(&p, now_ms - lease_ms);
	pp_int(&p, limit);
	if ((ids = pg_exec(st, SQL_CLAIM_PICK, &p, "claim deliveries")) == NULL)
		return pg_fail(st);
	nid = PQntuples(ids);
	d = xcalloc(nid ? (size_t)nid : 1, sizeof *d);
	for (i = 0; i < nid; i++) {
		p.n = 0;
		pp_int(&p, pg_int(ids, i, 0));
		pp_text(&p, worker);
		pp_int(&p, now_ms);
		if (pg_do(st, SQL_CLAIM_TAKE, &p, "claim delivery", NULL) != 0)
			goto fail;
		p.n = 1;
		if ((r = pg_exec(st, SQL_CLAIM_GET, &p, "read claimed delivery")) == NULL)
			goto fail;
		if (PQntuples(r) != 1) {
			PQclear(r);
			pg_errf(st, "read claimed delivery: it is gone");
			goto fail;
		}
		delivery_from_row(r, 0, &d[i]);
		PQclear(r);
	}
	PQclear(ids);
	if (pg_commit(st) != 0) {
		store_notify_free(d, (size_t)nid);
		return STORE_ERR;
	}
	*out = d;
	*n = (size_t)nid;
	return 0;
fail:
	PQclear(ids);
	store_notify_free(d, (size_t)nid);
	return pg_fail(st);
}

/* ---------------------------------------------------------------- outcomes */

static const char SQL_MIRROR[] =
    "UPDATE notifications SET "
    " status = CASE "
    "   WHEN EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.notification_id = $1 "
    "                AND d.status IN ('pending', 'sending')) THEN 'sending' "
    "   WHEN EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.notification_id = $1 "
    "                AND d.status = 'failed') THEN 'failed' "
    "   ELSE 'sent' END, "
    " attempts = (SELECT coalesce(max(d.attempts), 0) FROM notify_deliveries d "
    "             WHERE d.notification_id = $1), "
    " last_error = (SELECT string_agg(d.channel || ': ' || CASE WHEN d.status = 'skipped' "
    "             THEN 'skipped: ' || coalesce(d.note, '') ELSE d.last_error END, '; ' ORDER BY d.id) "
    "             FROM notify_deliveries d WHERE d.notification_id = $1 "
    "             AND ((d.last_error IS NOT NULL AND d.status IN ('pending', 'sending', 'failed')) "
    "                  OR d.status = 'skipped')), "
    " next_attempt_ms = coalesce((SELECT min(d.next_attempt_ms) FROM notify_deliveries d "
    "             WHERE d.notification_id = $1 AND d.status = 'pending'), next_attempt_ms) "
    "WHERE id = $1";
static const char SQL_DONE[] =
    "UPDATE notify_deliveries SET status = $3, done_ms = $4, note = $5, last_error = NULL "
    "WHERE id = $1 AND claimed_by = $2 AND status = 'sending' RETURNING notification_id";
static const char SQL_RETRY[] =
    "UPDATE notify_deliveries SET status = 'pending', next_attempt_ms = $4, last_error = $5, "
    "attempts = attempts - $6, done_ms = $3 "
    "WHERE id = $1 AND claimed_by = $2 AND status = 'sending' RETURNING notification_id";
static const char SQL_FAILED[] =
    "UPDATE notify_deliveries SET status = 'failed', done_ms = $3, last_error = $4 "
    "WHERE id = $1 AND claimed_by = $2 AND status = 'sending' RETURNING notification_id";

/* Run an outcome statement (RETURNING the outbox row) and mirror it into
 * the outbox row, in one transaction. */
static int
finish(struct store *st, const char *sql, const struct pg_params *p, const char *what)
{
	struct pg_params q = PG_PARAMS_INIT;
	PGresult *r;

	if (pg_begin(st) != 0)
		return STORE_ERR;
	if ((r = pg_exec(st, sql, p, what)) == NULL)
		return pg_fail(st);
	if (PQntuples(r) == 0) {
		PQclear(r);
		pg_rollback(st);
		return STORE_NOTFOUND;
	}
	pp_int(&q, pg_int(r, 0, 0));
	PQclear(r);
	if (pg_do(st, SQL_MIRROR, &q, "mirror delivery into outbox", NULL) != 0)
		return pg_fail(st);
	return pg_commit(st) == 0 ? STORE_OK : STORE_ERR;
}

/* The first subscriber notice (channel email) sent for an open incident
 * moves it to notified, in the delivery's transaction, audited (as in
 * store_sqlite_notify.c). */
static const char SQL_NOTIFIED[] =
    "UPDATE incidents SET state = 'notified' WHERE state = 'open' AND id = "
    "(SELECT incident_id FROM notify_deliveries WHERE id = $1 AND channel = 'email' "
    "AND status = 'sent') RETURNING id";

static int
mark_notified(struct store *st, int64_t delivery, int64_t now_ms)
{
	struct pg_params p = PG_PARAMS_INIT;
	char object[64], detail[96];
	int64_t inc;
	PGresult *r;

	pp_int(&p, delivery);
	if ((r = pg_exec(st, SQL_NOTIFIED, &p, "mark the incident notified")) == NULL)
		return STORE_ERR;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	inc = pg_int(r, 0, 0);
	PQclear(r);
	snprintf(object, sizeof object, "incident:%lld", (long long)inc);
	snprintf(detail, sizeof detail, "from=open to=notified note=subscriber notice sent (delivery %lld)",
	    (long long)delivery);
	return pg_audit(st, now_ms, "notifyd", "incident.state", object, detail);
}

static int
done(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *status,
    const char *note)
{
	struct pg_params p = PG_PARAMS_INIT;
	int rc;

	pp_int(&p, id);
	pp_text(&p, worker);
	pp_text(&p, status);
	pp_int(&p, now_ms);
	pp_text(&p, note);
	if (pg_begin(st) != 0)        /* outer: the outcome and the incident's state */
		return STORE_ERR;
	rc = finish(st, SQL_DONE, &p, "record delivery sent");
	if (rc == STORE_OK && strcmp(status, "sent") == 0 && mark_notified(st, id, now_ms) != 0)
		rc = STORE_ERR;
	if (rc != STORE_OK) {
		if (rc == STORE_ERR)
			return pg_fail(st);
		pg_rollback(st);
		return rc;
	}
	return pg_commit(st) == 0 ? STORE_OK : STORE_ERR;
}

int
pg_notify_sent(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note)
{
	return done(st, id, worker, now_ms, "sent", note);
}

int
pg_notify_skipped(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    const char *note)
{
	return done(st, id, worker, now_ms, "skipped", note);
}

int
pg_notify_retry(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    int64_t next_ms, const char *error, int counted)
{
	struct pg_params p = PG_PARAMS_INIT;

	pp_int(&p, id);
	pp_text(&p, worker);
	pp_int(&p, now_ms);
	pp_int(&p, next_ms);
	pp_text(&p, error);
	pp_int(&p, counted ? 0 : 1);
	return finish(st, SQL_RETRY, &p, "record delivery retry");
}

int
pg_notify_failed(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    const char *error)
{
	struct pg_params p = PG_PARAMS_INIT;

	pp_int(&p, id);
	pp_text(&p, worker);
	pp_int(&p, now_ms);
	pp_text(&p, error);
	return finish(st, SQL_FAILED, &p, "record delivery failed");
}

static const char SQL_LIST_INC[] =
    "SELECT " DELIVERY_COLS " FROM notify_deliveries d "
    "JOIN notifications n ON n.id = d.notification_id WHERE d.incident_id = $1 ORDER BY d.id";
static const char SQL_LIST_ALL[] =
    "SELECT " DELIVERY_COLS " FROM notify_deliveries d "
    "JOIN notifications n ON n.id = d.notification_id ORDER BY d.id";

int
pg_notify_deliveries(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct delivery *d), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int i, ret = 0;

	if (incident_id > 0)
		pp_int(&p, incident_id);
	r = pg_exec(st, incident_id > 0 ? SQL_LIST_INC : SQL_LIST_ALL, &p, "list deliveries");
	if (r == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		struct delivery d = { 0 };

		delivery_from_row(r, i, &d);
		ret = fn(ud, &d);
		delivery_clear(&d);
	}
	PQclear(r);
	return ret;
}

/* ---------------------------------------------------------------- notice interval */

static const char SQL_NOTICE_LOCK[] =
    "SELECT pg_advisory_xact_lock(hashtextextended('notice:' || $1::text, 7))";
static const char SQL_NOTICE_GET[] =
    "SELECT last_ms, coalesce(last_key, '') FROM notify_notices WHERE subscriber = $1";
static const char SQL_NOTICE_SET[] =
    "INSERT INTO notify_notices (subscriber, last_ms, last_key, count) VALUES ($1, $2, $3, 1) "
    "ON CONFLICT (subscriber) DO UPDATE SET last_ms = excluded.last_ms, "
    "last_key = excluded.last_key, count = notify_notices.count + 1";
static const char SQL_NOTICE_DEL[] = "DELETE FROM notify_notices WHERE subscriber = $1";
static const char SQL_NOTICE_BACK[] =
    "UPDATE notify_notices SET last_ms = $2, count = greatest(count - 1, 0) WHERE subscriber = $1";

int
pg_notify_notice_slot(struct store *st, const char *subscriber, const char *key,
    int64_t now_ms, int64_t interval_ms, int64_t *next_ms)
{
	struct pg_params p = PG_PARAMS_INIT;
	int64_t last = -1;
	PGresult *r;
	int same = 0;

	if (pg_begin(st) != 0)
		return STORE_ERR;
	pp_text(&p, subscriber);
	if ((r = pg_exec(st, SQL_NOTICE_LOCK, &p, "lock notice time")) == NULL)
		return pg_fail(st);
	PQclear(r);
	if ((r = pg_exec(st, SQL_NOTICE_GET, &p, "read notice time")) == NULL)
		return pg_fail(st);
	if (PQntuples(r) > 0) {
		last = pg_int(r, 0, 0);
		same = key != NULL && strcmp(pg_text(r, 0, 1), key) == 0;
	}
	PQclear(r);
	if (!same && last >= 0 && interval_ms > 0 && now_ms - last < interval_ms) {
		if (next_ms != NULL)
			*next_ms = last + interval_ms;
		pg_rollback(st);
		return 1;
	}
	pp_int(&p, now_ms);
	pp_text(&p, key);
	if (pg_do(st, SQL_NOTICE_SET, &p, "record notice time", NULL) != 0)
		return pg_fail(st);
	if (next_ms != NULL)
		*next_ms = last;
	return pg_commit(st) == 0 ? 0 : STORE_ERR;
}

int
pg_notify_notice_release(struct store *st, const char *subscriber, int64_t prev_ms)
{
	struct pg_params p = PG_PARAMS_INIT;

	pp_text(&p, subscriber);
	if (prev_ms < 0)
		return pg_do(st, SQL_NOTICE_DEL, &p, "release notice time", NULL);
	pp_int(&p, prev_ms);
	return pg_do(st, SQL_NOTICE_BACK, &p, "release notice time", NULL);
}

static const char SQL_SUPERSEDED[] =
    "SELECT count(*) FROM notify_deliveries WHERE incident_id = $1 AND channel = $2 "
    "AND id > $3 AND status = 'pending'";

int
pg_notify_superseded(struct store *st, const struct delivery *d)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int64_t n;

	pp_int(&p, d->incident_id);
	pp_text(&p, d->channel);
	pp_int(&p, d->id);
	if ((r = pg_exec(st, SQL_SUPERSEDED, &p, "look for a later delivery")) == NULL)
		return STORE_ERR;
	n = pg_int(r, 0, 0);
	PQclear(r);
	return n > 0;
}

static const char SQL_PREV_MS[] =
    "SELECT coalesce(max(created_ms), 0) FROM notifications "
    "WHERE incident_id = $1 AND id < $2 AND channel = ''";

int64_t
pg_notify_prev_ms(struct store *st, int64_t incident_id, int64_t notification_id)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int64_t v;

	pp_int(&p, incident_id);
	pp_int(&p, notification_id);
	if ((r = pg_exec(st, SQL_PREV_MS, &p, "previous notification")) == NULL)
		return 0;
	v = pg_int(r, 0, 0);
	PQclear(r);
	return v;
}

/* ---------------------------------------------------------------- Request Tracker */

static const char SQL_RT_SET[] =
    "INSERT INTO notify_rt_tickets (incident_id, ticket_id, created_ms) VALUES ($1, $2, $3) "
    "ON CONFLICT (incident_id) DO UPDATE SET ticket_id = excluded.ticket_id";
static const char SQL_RT_GET[] = "SELECT ticket_id FROM notify_rt_tickets WHERE incident_id = $1";
static const char SQL_RT_DUE[] =
    "SELECT t.incident_id, t.ticket_id FROM notify_rt_tickets t "
    "JOIN incidents i ON i.id = t.incident_id "
    "WHERE t.closed = 0 AND i.state IN ('open', 'notified', 'acknowledged') "
    "  AND t.last_poll_ms <= $1 ORDER BY t.last_poll_ms, t.incident_id LIMIT $2";
static const char SQL_RT_POLLED[] =
    "UPDATE notify_rt_tickets SET status = $2, closed = $3, last_poll_ms = $4 "
    "WHERE incident_id = $1";
static const char SQL_RT_CLOSING[] =
    "SELECT t.incident_id, t.ticket_id, i.state FROM notify_rt_tickets t "
    "JOIN incidents i ON i.id = t.incident_id "
    "WHERE t.closed = 0 AND i.state IN ('resolved', 'false_positive') "
    "  AND NOT EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.incident_id = t.incident_id "
    "      AND d.channel = 'rt' AND (d.status IN ('pending', 'sending') OR d.kind = 'resolved')) "
    "  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.incident_id = t.incident_id "
    "      AND n.channel = '' AND n.status = 'pending') "
    "ORDER BY t.incident_id LIMIT $1";

int
pg_notify_rt_set(struct store *st, int64_t incident_id, int64_t ticket_id, int64_t now_ms)
{
	struct pg_params p = PG_PARAMS_INIT;

	pp_int(&p, incident_id);
	pp_int(&p, ticket_id);
	pp_int(&p, now_ms);
	return pg_do(st, SQL_RT_SET, &p, "record RT ticket", NULL);
}

int
pg_notify_rt_get(struct store *st, int64_t incident_id, int64_t *ticket_id)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int rc;

	pp_int(&p, incident_id);
	if ((r = pg_exec(st, SQL_RT_GET, &p, "read RT ticket")) == NULL)
		return STORE_ERR;
	rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOTFOUND;
	if (rc == STORE_OK)
		*ticket_id = pg_int(r, 0, 0);
	PQclear(r);
	return rc;
}

int
pg_notify_rt_due(struct store *st, int64_t now_ms, int64_t interval_ms, int limit,
    int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int i, ret = 0;

	pp_int(&p, now_ms - interval_ms);
	pp_int(&p, limit);
	if ((r = pg_exec(st, SQL_RT_DUE, &p, "list RT tickets to poll")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++)
		ret = fn(ud, pg_int(r, i, 0), pg_int(r, i, 1));
	PQclear(r);
	return ret;
}

int
pg_notify_rt_polled(struct store *st, int64_t incident_id, const char *status, int closed,
    int64_t now_ms)
{
	struct pg_params p = PG_PARAMS_INIT;

	pp_int(&p, incident_id);
	pp_text(&p, status);
	pp_int(&p, closed);
	pp_int(&p, now_ms);
	return pg_do(st, SQL_RT_POLLED, &p, "record RT poll", NULL);
}

int
pg_notify_rt_closing(struct store *st, int limit,
    int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id, const char *state), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int i, ret = 0;

	pp_int(&p, limit);
	if ((r = pg_exec(st, SQL_RT_CLOSING, &p, "list RT tickets to close")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++)
		ret = fn(ud, pg_int(r, i, 0), pg_int(r, i, 1), pg_text(r, i, 2));
	PQclear(r);
	return ret;
}
