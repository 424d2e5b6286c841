/*
 * store_sqlite_notify.c - the outbox seen from botsentry-notifyd (SQLite;
 * behind store_sqlite_ops, store_int.h):
 * fan-out of level changes into per-channel deliveries, claims, outcomes,
 * the subscriber notice interval and Request Tracker ticket state.
 *
 * Concurrency: every function that changes rows runs in one transaction,
 * which at depth 0 is BEGIN IMMEDIATE (store_sqlite_int.h): two notifyd
 * processes on one database serialise on the write lock, so a delivery is
 * claimed by exactly one of them.  A worker that dies leaves its rows in
 * 'sending'; once the claim is older than the lease, another worker (or the
 * same one after a restart) takes them over.  That makes delivery at least
 * once: a worker killed after sending but before recording the outcome
 * sends again, under the same idempotency key.
 *
 * What it does not do: decide which channels fire (the caller's route
 * function does) or talk to any channel.
 */
#include "config.h"
#include "store_sqlite_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void
delivery_clear(struct delivery *d)
{
	if (d == NULL)
		return;
	free(d->subscriber);
	free(d->channel);
	free(d->kind);
	free(d->status);
	free(d->last_error);
	free(d->note);
	free(d->idem_key);
	free(d->payload);
	memset(d, 0, sizeof *d);
}

void
store_notify_free(struct delivery *d, size_t n)
{
	size_t i;

	for (i = 0; d != NULL && i < n; i++)
		delivery_clear(&d[i]);
	free(d);
}

/* ---------------------------------------------------------------- fan-out */

static const char SQL_FANOUT_DUE[] =
    "SELECT " SQ_NOTIFICATION_COLS " FROM notifications n "
    "WHERE n.channel = '' AND n.status = 'pending' AND n.next_attempt_ms <= ?1 "
    "ORDER BY n.id LIMIT ?2";
static const char SQL_FANOUT_INSERT[] =
    "INSERT OR IGNORE INTO notify_deliveries (notification_id, incident_id, subscriber, "
    "channel, kind, level, status, attempts, created_ms, next_attempt_ms, idem_key) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8, ?9)";
static const char SQL_FANOUT_MARK[] =
    "UPDATE notifications SET status = ?2, last_error = ?3, claimed_by = 'fanout', "
    "claimed_ms = ?4 WHERE id = ?1";

int
sqlite_notify_fanout(struct store *st, int64_t now_ms, int limit,
    store_notify_route_fn route, void *ud)
{
	struct notification *rows = NULL;
	size_t n = 0, cap = 0, i, j;
	sqlite3_stmt *s;
	int rc, ret = STORE_ERR;

	if (sq_begin(st) != 0)
		return STORE_ERR;
	s = sq_prep(st, SQL_FANOUT_DUE);
	if (s == NULL)
		goto out;
	sq_bind_int64(s, 1, now_ms);
	sq_bind_int64(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rows = xrealloc(rows, cap * sizeof *rows);
		}
		sq_notification_from_row(s, 0, &rows[n++]);
	}
	sq_reset(s);
	if (rc != SQLITE_DONE) {
		sq_err(st, "outbox fan-out");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *ch[16];
		size_t nch = route(ud, &rows[i], ch, BS_ARRAY_LEN(ch));

		for (j = 0; j < nch; j++) {
			char *key = xasprintf("%s-%s", rows[i].idem_key, ch[j]);

			s = sq_prep(st, SQL_FANOUT_INSERT);
			if (s == NULL) {
				free(key);
				goto out;
			}
			sq_bind_int64(s, 1, rows[i].id);
			if (rows[i].incident_id > 0)
				sq_bind_int64(s, 2, rows[i].incident_id);
			sq_bind_text(s, 3, rows[i].subscriber);
			sq_bind_text(s, 4, ch[j]);
			sq_bind_text(s, 5, rows[i].kind);
			sq_bind_int64(s, 6, rows[i].level);
			sq_bind_int64(s, 7, now_ms);
			sq_bind_int64(s, 8, now_ms);
			sq_bind_text(s, 9, key);
			rc = sq_step_done(st, s, "insert delivery");
			free(key);
			if (rc != 0)
				goto out;
		}
		s = sq_prep(st, SQL_FANOUT_MARK);
		if (s == NULL)
			goto out;
		sq_bind_int64(s, 1, rows[i].id);
		sq_bind_text(s, 2, nch > 0 ? "sending" : "sent");
		sq_bind_text(s, 3, nch > 0 ? NULL
		    : "no channel fires at this level and kind (notify escalation settings)");
		sq_bind_int64(s, 4, now_ms);
		if (sq_step_done(st, s, "mark outbox row") != 0)
			goto out;
	}
	ret = (int)n;
out:
	if (ret >= 0) {
		if (sq_commit(st) != 0)
			ret = STORE_ERR;
	} else {
		sq_rollback(st);
	}
	for (i = 0; i < n; i++)
		notification_clear(&rows[i]);
	free(rows);
	return ret;
}

/* ---------------------------------------------------------------- claims */

#define DELIVERY_COLS \
	"d.id, d.notification_id, d.incident_id, d.subscriber, d.channel, d.kind, d.level, " \
	"d.status, d.attempts, n.created_ms, d.next_attempt_ms, d.last_error, d.note, " \
	"d.idem_key, n.payload"

static void
delivery_from_row(sqlite3_stmt *s, struct delivery *d)
{
	d->id = sq_col_int64(s, 0);
	d->notification_id = sq_col_int64(s, 1);
	d->incident_id = sq_col_int64(s, 2);
	d->subscriber = sq_col_strdup(s, 3);
	d->channel = sq_col_strdup(s, 4);
	d->kind = sq_col_strdup(s, 5);
	d->level = (int)sq_col_int64(s, 6);
	d->status = sq_col_strdup(s, 7);
	d->attempts = (int)sq_col_int64(s, 8);
	d->created_ms = sq_col_int64(s, 9);
	d->next_attempt_ms = sq_col_int64(s, 10);
	d->last_error = sq_col_strdup(s, 11);
	d->note = sq_col_strdup(s, 12);
	d->idem_key = sq_col_strdup(s, 13);
	d->payload = sq_col_strdup(s, 14);
	if (d->subscriber == NULL)
		d->subscriber = xstrdup("");
	if (d->payload == NULL)
		d->payload = xstrdup("{}");
}

/* Due, and no earlier delivery of the same incident on the same channel is
 * still waiting: an RT ticket is created before it is commented, a first
 * notice goes out before its update. */
static const char SQL_CLAIM_PICK[] =
    "SELECT d.id FROM notify_deliveries d "
    "WHERE ((d.status = 'pending' AND d.next_attempt_ms <= ?1) "
    "    OR (d.status = 'sending' AND d.claimed_ms < ?2)) "
    "  AND NOT EXISTS (SELECT 1 FROM notify_deliveries e "
    "    WHERE e.incident_id = d.incident_id AND e.channel = d.channel AND e.id < d.id "
    "      AND e.status IN ('pending', 'sending')) "
    "ORDER BY d.next_attempt_ms, d.id LIMIT ?3";
static const char SQL_CLAIM_TAKE[] =
    "UPDATE notify_deliveries SET status = 'sending', claimed_by = ?2, claimed_ms = ?3, "
    "attempts = attempts + 1 WHERE id = ?1";
static const char SQL_CLAIM_GET[] =
    "SELECT " DELIVERY_COLS " FROM notify_deliveries d "
    "JOIN notifications n ON n.id = d.notification_id WHERE d.id = ?1";

int
sqlite_notify_claim(struct store *st, const char *worker, int64_t now_ms, int64_t lease_ms,
    int limit, struct delivery **out, size_t *n)
{
	int64_t *ids = NULL;
	size_t nid = 0, cap = 0, i;
	sqlite3_stmt *s;
	int rc, ret = STORE_ERR;
	struct delivery *d = NULL;

	*out = NULL;
	*n = 0;
	if (sq_begin(st) != 0)
		return STORE_ERR;
	s = sq_prep(st, SQL_CLAIM_PICK);
	if (s == NULL)
		goto out;
	sq_bind_int64(s, 1, now_ms);
	sq_bind_int64(s, 2, now_ms - lease_ms);
	sq_bind_int64(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nid == cap) {
			cap = cap ? cap * 2 : 16;
			ids = xrealloc(ids, cap * sizeof *ids);
		}
		ids[nid++] = sq_col_int64(s, 0);
	}
	sq_reset(s);
	if (rc != SQLITE_DONE) {
		sq_err(st, "claim deliveries");
		goto out;
	}
	d = xcalloc(nid ? nid : 1, sizeof *d);
	for (i = 0; i < nid; i++) {
		s = sq_prep(st, SQL_CLAIM_TAKE);
		if (s == NULL)
			goto out;
		sq_bind_int64(s, 1, ids[i]);
		sq_bind_text(s, 2, worker);
		sq_bind_int64(s, 3, now_ms);
		if (sq_step_done(st, s, "claim delivery") != 0)
			goto out;
		s = sq_prep(st, SQL_CLAIM_GET);
		if (s == NULL)
			goto out;
		sq_bind_int64(s, 1, ids[i]);
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW) {
			sq_reset(s);
			sq_err(st, "read claimed delivery");
			goto out;
		}
		delivery_from_row(s, &d[i]);
		sq_reset(s);
	}
	ret = 0;
out:
	if (ret == 0 && sq_commit(st) != 0)
		ret = STORE_ERR;
	if (ret != 0) {
		sq_rollback(st);
		store_notify_free(d, nid);
	} else {
		*out = d;
		*n = nid;
	}
	free(ids);
	return ret;
}

/* ---------------------------------------------------------------- outcomes */

/* The outbox row reflects its deliveries: 'sending' while any is pending or
 * being sent, else 'failed' if any failed, else 'sent'; last_error collects
 * the errors of the unfinished and failed ones and why any was skipped. */
static const char SQL_MIRROR[] =
    "UPDATE notifications SET "
    " status = CASE "
    "   WHEN EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.notification_id = ?1 "
    "                AND d.status IN ('pending', 'sending')) THEN 'sending' "
    "   WHEN EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.notification_id = ?1 "
    "                AND d.status = 'failed') THEN 'failed' "
    "   ELSE 'sent' END, "
    " attempts = (SELECT coalesce(max(d.attempts), 0) FROM notify_deliveries d "
    "             WHERE d.notification_id = ?1), "
    " last_error = (SELECT group_concat(d.channel || ': ' || CASE WHEN d.status = 'skipped' "
    "             THEN 'skipped: ' || coalesce(d.note, '') ELSE d.last_error END, '; ') "
    "             FROM notify_deliveries d WHERE d.notification_id = ?1 "
    "             AND ((d.last_error IS NOT NULL AND d.status IN ('pending', 'sending', 'failed')) "
    "                  OR d.status = 'skipped')), "
    " next_attempt_ms = coalesce((SELECT min(d.next_attempt_ms) FROM notify_deliveries d "
    "             WHERE d.notification_id = ?1 AND d.status = 'pending'), next_attempt_ms) "
    "WHERE id = ?1";
static const char SQL_DONE[] =
    "UPDATE notify_deliveries SET status = ?3, done_ms = ?4, note = ?5, last_error = NULL "
    "WHERE id = ?1 AND claimed_by = ?2 AND status = 'sending'";
static const char SQL_RETRY[] =
    "UPDATE notify_deliveries SET status = 'pending', next_attempt_ms = ?4, last_error = ?5, "
    "attempts = attempts - ?6, done_ms = ?3 "
    "WHERE id = ?1 AND claimed_by = ?2 AND status = 'sending'";
static const char SQL_FAILED[] =
    "UPDATE notify_deliveries SET status = 'failed', done_ms = ?3, last_error = ?4 "
    "WHERE id = ?1 AND claimed_by = ?2 AND status = 'sending'";
static const char SQL_PARENT[] =
    "SELECT notification_id FROM notify_deliveries WHERE id = ?1";

/* Run the prepared outcome statement s and mirror it into the outbox row;
 * all in one transaction. */
static int
finish(struct store *st, sqlite3_stmt *s, int64_t id, const char *what)
{
	sqlite3_stmt *p;
	int64_t parent = 0;
	int rc;

	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		sq_reset(s);
		sq_err(st, what);
		sq_rollback(st);
		return STORE_ERR;
	}
	sq_reset(s);
	if (sqlite3_changes(st->db) == 0) {
		sq_rollback(st);
		return STORE_NOTFOUND;
	}
	p = sq_prep(st, SQL_PARENT);
	if (p == NULL) {
		sq_rollback(st);
		return STORE_ERR;
	}
	sq_bind_int64(p, 1, id);
	if (sqlite3_step(p) == SQLITE_ROW)
		parent = sq_col_int64(p, 0);
	sq_reset(p);
	p = sq_prep(st, SQL_MIRROR);
	if (p == NULL) {
		sq_rollback(st);
		return STORE_ERR;
	}
	sq_bind_int64(p, 1, parent);
	if (sq_step_done(st, p, "mirror delivery into outbox") != 0) {
		sq_rollback(st);
		return STORE_ERR;
	}
	return sq_commit(st) == 0 ? STORE_OK : STORE_ERR;
}

/*
 * The subscriber has been told: the first subscriber notice (channel email)
 * sent for an open incident moves it to notified, in the transaction that
 * records the delivery, audited as notifyd's doing.  Other channels (the
 * desk's ticket, ARF, hooks) tell others, so they leave the state alone.
 */
static const char SQL_NOTICE_INCIDENT[] =
    "SELECT incident_id FROM notify_deliveries WHERE id = ?1 AND channel = 'email' "
    "AND status = 'sent' AND incident_id IS NOT NULL";
static const char SQL_NOTIFIED[] =
    "UPDATE incidents SET state = 'notified' WHERE id = ?1 AND state = 'open'";

static int
mark_notified(struct store *st, int64_t delivery, int64_t now_ms)
{
	sqlite3_stmt *s;
	int64_t inc = 0;
	char object[64], detail[96];

	if ((s = sq_prep(st, SQL_NOTICE_INCIDENT)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, delivery);
	if (sqlite3_step(s) == SQLITE_ROW)
		inc = sq_col_int64(s, 0);
	sq_reset(s);
	if (inc == 0)
		return 0;
	if ((s = sq_prep(st, SQL_NOTIFIED)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, inc);
	if (sq_step_done(st, s, "mark the incident notified") != 0)
		return STORE_ERR;
	if (sqlite3_changes(st->db) == 0)
		return 0;
	snprintf(object, sizeof object, "incident:%lld", (long long)inc);
	snprintf(detail, sizeof detail, "from=open to=notified note=subscriber notice sent (delivery %lld)",
	    (long long)delivery);
	return store_audit(st, now_ms, "notifyd", "incident.state", object, detail);
}

static int
done(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *status,
    const char *note)
{
	sqlite3_stmt *s;
	int rc;

	if (sq_begin(st) != 0)        /* outer: the outcome and the incident's state */
		return STORE_ERR;
	if (sq_begin(st) != 0) {
		sq_rollback(st);
		return STORE_ERR;
	}
	s = sq_prep(st, SQL_DONE);
	if (s == NULL) {
		sq_rollback(st);
		sq_rollback(st);
		return STORE_ERR;
	}
	sq_bind_int64(s, 1, id);
	sq_bind_text(s, 2, worker);
	sq_bind_text(s, 3, status);
	sq_bind_int64(s, 4, now_ms);
	sq_bind_text(s, 5, note);
	rc = finish(st, s, id, "record delivery sent");
	if (rc == STORE_OK && strcmp(status, "sent") == 0 && mark_notified(st, id, now_ms) != 0)
		rc = STORE_ERR;
	if (rc != STORE_OK) {
		sq_rollback(st);
		return rc;
	}
	return sq_commit(st) == 0 ? STORE_OK : STORE_ERR;
}

int
sqlite_notify_sent(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    const char *note)
{
	return done(st, id, worker, now_ms, "sent", note);
}

int
sqlite_notify_skipped(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    const char *note)
{
	return done(st, id, worker, now_ms, "skipped", note);
}

int
sqlite_notify_retry(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    int64_t next_ms, const char *error, int counted)
{
	sqlite3_stmt *s;

	if (sq_begin(st) != 0)
		return STORE_ERR;
	s = sq_prep(st, SQL_RETRY);
	if (s == NULL) {
		sq_rollback(st);
		return STORE_ERR;
	}
	sq_bind_int64(s, 1, id);
	sq_bind_text(s, 2, worker);
	sq_bind_int64(s, 3, now_ms);
	sq_bind_int64(s, 4, next_ms);
	sq_bind_text(s, 5, error);
	sq_bind_int64(s, 6, counted ? 0 : 1);
	return finish(st, s, id, "record delivery retry");
}

int
sqlite_notify_failed(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    const char *error)
{
	sqlite3_stmt *s;

	if (sq_begin(st) != 0)
		return STORE_ERR;
	s = sq_prep(st, SQL_FAILED);
	if (s == NULL) {
		sq_rollback(st);
		return STORE_ERR;
	}
	sq_bind_int64(s, 1, id);
	sq_bind_text(s, 2, worker);
	sq_bind_int64(s, 3, now_ms);
	sq_bind_text(s, 4, error);
	return finish(st, s, id, "record delivery failed");
}

static const char SQL_LIST_INC[] =
    "SELECT " DELIVERY_COLS " FROM notify_deliveries d "
    "JOIN notifications n ON n.id = d.notification_id WHERE d.incident_id = ?1 ORDER BY d.id";
static const char SQL_LIST_ALL[] =
    "SELECT " DELIVERY_COLS " FROM notify_deliveries d "
    "JOIN notifications n ON n.id = d.notification_id ORDER BY d.id";

int
sqlite_notify_deliveries(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct delivery *d), void *ud)
{
	sqlite3_stmt *s = sq_prep_once(st, incident_id > 0 ? SQL_LIST_INC : SQL_LIST_ALL);
	int rc, ret = 0;

	if (s == NULL)
		return STORE_ERR;
	if (incident_id > 0)
		sq_bind_int64(s, 1, incident_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct delivery d = { 0 };

		delivery_from_row(s, &d);
		ret = fn(ud, &d);
		delivery_clear(&d);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "list deliveries");
	sqlite3_finalize(s);
	return ret;
}

/* ---------------------------------------------------------------- notice interval */

static const char SQL_NOTICE_GET[] =
    "SELECT last_ms, coalesce(last_key, '') FROM notify_notices WHERE subscriber = ?1";
static const char SQL_NOTICE_SET[] =
    "INSERT INTO notify_notices (subscriber, last_ms, last_key, count) VALUES (?1, ?2, ?3, 1) "
    "ON CONFLICT (subscriber) DO UPDATE SET last_ms = excluded.last_ms, "
    "last_key = excluded.last_key, count = count + 1";
static const char SQL_NOTICE_DEL[] =
    "DELETE FROM notify_notices WHERE subscriber = ?1";
static const char SQL_NOTICE_BACK[] =
    "UPDATE notify_notices SET last_ms = ?2, count = max(count - 1, 0) WHERE subscriber = ?1";

int
sqlite_notify_notice_slot(struct store *st, const char *subscriber, const char *key,
    int64_t now_ms, int64_t interval_ms, int64_t *next_ms)
{
	sqlite3_stmt *s;
	int64_t last = -1;
	int rc, same = 0;

	if (sq_begin(st) != 0)
		return STORE_ERR;
	s = sq_prep(st, SQL_NOTICE_GET);
	if (s == NULL)
		goto err;
	sq_bind_text(s, 1, subscriber);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		last = sq_col_int64(s, 0);
		same = key != NULL && strcmp(sq_col_text(s, 1), key) == 0;
	}
	sq_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sq_err(st, "read notice time");
		goto err;
	}
	if (!same && last >= 0 && interval_ms > 0 && now_ms - last < interval_ms) {
		if (next_ms != NULL)
			*next_ms = last + interval_ms;
		sq_rollback(st);
		return 1;
	}
	s = sq_prep(st, SQL_NOTICE_SET);
	if (s == NULL)
		goto err;
	sq_bind_text(s, 1, subscriber);
	sq_bind_int64(s, 2, now_ms);
	sq_bind_text(s, 3, key);
	if (sq_step_done(st, s, "record notice time") != 0)
		goto err;
	if (next_ms != NULL)
		*next_ms = last;     /* the previous time, for store_notify_notice_release */
	return sq_commit(st) == 0 ? 0 : STORE_ERR;
err:
	sq_rollback(st);
	return STORE_ERR;
}

int
sqlite_notify_notice_release(struct store *st, const char *subscriber, int64_t prev_ms)
{
	sqlite3_stmt *s = sq_prep(st, prev_ms < 0 ? SQL_NOTICE_DEL : SQL_NOTICE_BACK);

	if (s == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, subscriber);
	if (prev_ms >= 0)
		sq_bind_int64(s, 2, prev_ms);
	return sq_step_done(st, s, "release notice time");
}

static const char SQL_SUPERSEDED[] =
    "SELECT count(*) FROM notify_deliveries WHERE incident_id = ?1 AND channel = ?2 "
    "AND id > ?3 AND status = 'pending'";

int
sqlite_notify_superseded(struct store *st, const struct delivery *d)
{
	sqlite3_stmt *s = sq_prep(st, SQL_SUPERSEDED);
	int rc, n = 0;

	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, d->incident_id);
	sq_bind_text(s, 2, d->channel);
	sq_bind_int64(s, 3, d->id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		n = (int)sq_col_int64(s, 0);
	sq_reset(s);
	if (rc != SQLITE_ROW)
		return sq_err(st, "look for a later delivery");
	return n > 0;
}

static const char SQL_PREV_MS[] =
    "SELECT coalesce(max(created_ms), 0) FROM notifications "
    "WHERE incident_id = ?1 AND id < ?2 AND channel = ''";

int64_t
sqlite_notify_prev_ms(struct store *st, int64_t incident_id, int64_t notification_id)
{
	sqlite3_stmt *s = sq_prep(st, SQL_PREV_MS);
	int64_t v = 0;

	if (s == NULL)
		return 0;
	sq_bind_int64(s, 1, incident_id);
	sq_bind_int64(s, 2, notification_id);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sq_col_int64(s, 0);
	sq_reset(s);
	return v;
}

/* ---------------------------------------------------------------- Request Tracker */

static const char SQL_RT_SET[] =
    "INSERT INTO notify_rt_tickets (incident_id, ticket_id, created_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (incident_id) DO UPDATE SET ticket_id = excluded.ticket_id";
static const char SQL_RT_GET[] =
    "SELECT ticket_id FROM notify_rt_tickets WHERE incident_id = ?1";
static const char SQL_RT_DUE[] =
    "SELECT t.incident_id, t.ticket_id FROM notify_rt_tickets t "
    "JOIN incidents i ON i.id = t.incident_id "
    "WHERE t.closed = 0 AND i.state IN ('open', 'notified', 'acknowledged') "
    "  AND t.last_poll_ms <= ?1 ORDER BY t.last_poll_ms, t.incident_id LIMIT ?2";
static const char SQL_RT_POLLED[] =
    "UPDATE notify_rt_tickets SET status = ?2, closed = ?3, last_poll_ms = ?4 "
    "WHERE incident_id = ?1";

int
sqlite_notify_rt_set(struct store *st, int64_t incident_id, int64_t ticket_id, int64_t now_ms)
{
	sqlite3_stmt *s = sq_prep(st, SQL_RT_SET);

	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, incident_id);
	sq_bind_int64(s, 2, ticket_id);
	sq_bind_int64(s, 3, now_ms);
	return sq_step_done(st, s, "record RT ticket");
}

int
sqlite_notify_rt_get(struct store *st, int64_t incident_id, int64_t *ticket_id)
{
	sqlite3_stmt *s = sq_prep(st, SQL_RT_GET);
	int rc;

	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, incident_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*ticket_id = sq_col_int64(s, 0);
	sq_reset(s);
	if (rc == SQLITE_ROW)
		return STORE_OK;
	if (rc == SQLITE_DONE)
		return STORE_NOTFOUND;
	return sq_err(st, "read RT ticket");
}

int
sqlite_notify_rt_due(struct store *st, int64_t now_ms, int64_t interval_ms, int limit,
    int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id), void *ud)
{
	sqlite3_stmt *s = sq_prep(st, SQL_RT_DUE);
	int64_t (*rows)[2] = NULL;
	size_t n = 0, cap = 0, i;
	int rc, ret = 0;

	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, now_ms - interval_ms);
	sq_bind_int64(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rows = xrealloc(rows, cap * sizeof *rows);
		}
		rows[n][0] = sq_col_int64(s, 0);
		rows[n][1] = sq_col_int64(s, 1);
		n++;
	}
	sq_reset(s);
	if (rc != SQLITE_DONE) {
		free(rows);
		return sq_err(st, "list RT tickets to poll");
	}
	/* callbacks run after the statement is done: they use the store */
	for (i = 0; i < n && ret == 0; i++)
		ret = fn(ud, rows[i][0], rows[i][1]);
	free(rows);
	return ret;
}

int
sqlite_notify_rt_polled(struct store *st, int64_t incident_id, const char *status, int closed,
    int64_t now_ms)
{
	sqlite3_stmt *s = sq_prep(st, SQL_RT_POLLED);

	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, incident_id);
	sq_bind_text(s, 2, status);
	sq_bind_int64(s, 3, closed);
	sq_bind_int64(s, 4, now_ms);
	return sq_step_done(st, s, "record RT poll");
}

static const char SQL_RT_CLOSING[] =
    "SELECT t.incident_id, t.ticket_id, i.state FROM notify_rt_tickets t "
    "JOIN incidents i ON i.id = t.incident_id "
    "WHERE t.closed = 0 AND i.state IN ('resolved', 'false_positive') "
    "  AND NOT EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.incident_id = t.incident_id "
    "      AND d.channel = 'rt' AND (d.status IN ('pending', 'sending') OR d.kind = 'resolved')) "
    "  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.incident_id = t.incident_id "
    "      AND n.channel = '' AND n.status = 'pending') "
    "ORDER BY t.incident_id LIMIT ?1";

int
sqlite_notify_rt_closing(struct store *st, int limit,
    int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id, const char *state), void *ud)
{
	sqlite3_stmt *s = sq_prep(st, SQL_RT_CLOSING);
	struct row { int64_t inc, ticket; char state[32]; } *rows = NULL;
	size_t n = 0, cap = 0, i;
	int rc, ret = 0;

	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rows = xrealloc(rows, cap * sizeof *rows);
		}
		rows[n].inc = sq_col_int64(s, 0);
		rows[n].ticket = sq_col_int64(s, 1);
		bs_strlcpy(rows[n].state, sq_col_text(s, 2), sizeof rows[n].state);
		n++;
	}
	sq_reset(s);
	if (rc != SQLITE_DONE) {
		free(rows);
		return sq_err(st, "list RT tickets to close");
	}
	for (i = 0; i < n && ret == 0; i++)
		ret = fn(ud, rows[i].inc, rows[i].ticket, rows[i].state);
	free(rows);
	return ret;
}
