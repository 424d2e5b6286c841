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
static const char SQL_NOTE_ADD[] =
    "INSERT INTO notifications (incident_id, subscriber, channel, kind, level, status, "
    "attempts, created_ms, next_attempt_ms, idem_key, payload) "
    "VALUES ($1, $2, '', $3, $4, 'pending', 0, $5, $5, $6, $7) ON CONFLICT (idem_key) DO NOTHING";
/* One transaction-scoped advisory lock per incident key of a batch, taken
 * in key order before anything else: two hosts' batches that share keys
 * then wait for each other instead of deadlocking on the incidents, the
 * unique index and the subscribers rows they touch in event order.
 *
 * Each lock held takes a slot in the server's shared lock table
 * (max_locks_per_transaction times max_connections: 6400 by default), and a
 * batch that asked for more than it has would fail with "out of shared
 * memory" every time it was retried.  So every batch first takes one
 * batch-wide lock (SQL_BATCH_LOCK_*, in the two-integer key space, which no
 * key's lock can share): shared by the batches that lock their keys, at
 * most PG_LOCK_KEYS_MAX of them; a batch with more distinct keys holds it
 * exclusively instead and locks no key, waiting for the others to finish
 * and keeping them out while it runs.
 *
 * A batch waits 10 s at most for any lock (lock_timeout, for its own
 * transaction only; then it is retried like any other transient failure):
 * a host that went silent in mid-transaction holds its locks until the
 * server notices, and the other hosts' batches, which queue behind a
 * waiting exclusive request, must not all stop until then. */
#define PG_LOCK_KEYS_MAX 1000
static const char SQL_BATCH_LOCK_SHARED[] = "SELECT pg_advisory_xact_lock_shared(29310, 1) "
    "FROM (SELECT set_config('lock_timeout', '10s', true)) AS t";
static const char SQL_BATCH_LOCK_ALONE[] = "SELECT pg_advisory_xact_lock(29310, 1) "
    "FROM (SELECT set_config('lock_timeout', '10s', true)) AS t";
static const char SQL_KEYS_LOCK[] =
    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 7))) "
    "FROM (SELECT DISTINCT k FROM unnest(string_to_array($1, chr(10))) AS u(k) "
    "WHERE k <> '' ORDER BY k) AS s";

/* The outbox row (store_ops.outbox_add; store_enqueue_note builds it). */
int
pg_outbox_add(struct store *st, int64_t incident, const char *key, const char *kind, int level,
    int64_t now_ms, const char *idem, const char *payload)
{
	struct pg_params p = PG_PARAMS_INIT;

	pp_int(&p, incident);
	pp_text(&p, key);
	pp_text(&p, kind);
	pp_int(&p, level);
	pp_int(&p, now_ms);
	pp_text(&p, idem);
	pp_text(&p, payload);
	return pg_do(st, SQL_NOTE_ADD, &p, "enqueueing a notification", NULL);
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

/* Lock the batch's keys: all holds the nk distinct keys that can be
 * listed, each followed by a newline.  0 or STORE_ERR. */
static int
lock_keys(struct store *st, const char *all, size_t nk)
{
	struct pg_params p = PG_PARAMS_INIT;

	if (nk > PG_LOCK_KEYS_MAX)
		return pg_do(st, SQL_BATCH_LOCK_ALONE, NULL, "locking out the other batches", NULL);
	if (pg_do(st, SQL_BATCH_LOCK_SHARED, NULL, "locking the batch", NULL) != 0)
		return STORE_ERR;
	if (nk == 0)
		return 0;
	pp_text(&p, all);
	return pg_do(st, SQL_KEYS_LOCK, &p, "locking the batch's subscribers", NULL);
}

/*
 * A batch of events costs a handful of round trips, not three per event:
 * the batch's subscribers are locked (lock_keys), their active incidents
 * read (FOR NO KEY UPDATE) and the missing ones opened, in one statement
 * each; correlation then runs here, in event order, on those rows held in
 * memory (struct batch_inc); and the events go to the server in one INSERT
 * and the incidents' new state in one UPDATE (batch_write).  Only the
 * rare steps talk to the server as they happen: on a level rise the
 * notification and the mitigation.  The result is what one transaction per
 * event would have stored, event by event.
 */
static const char SQL_INC_FIND_MANY[] =
    "SELECT subscriber, id, level, score, score_ms, updated_ms, kinds, sources FROM incidents "
    "WHERE subscriber = ANY (string_to_array($1, chr(10))) "
    "AND state IN ('open', 'notified', 'acknowledged') FOR NO KEY UPDATE";
static const char SQL_INC_NEW_MANY[] =
    "INSERT INTO incidents (subscriber, state, level, score, score_ms, opened_ms, updated_ms) "
    "SELECT k, 'open', 0, 0, t, t, t FROM unnest(string_to_array($1, chr(10)), "
    "string_to_array($2, ',')::bigint[]) AS u(k, t) "
    "ON CONFLICT (subscriber) WHERE state IN ('open', 'notified', 'acknowledged') DO NOTHING "
    "RETURNING subscriber, id";
static const char SQL_EV_ADD_MANY[] =
    "INSERT INTO events (ts_ms, subscriber, source, kind, score, client_ip, node, evidence, "
    "incident_id) SELECT ts, sub, src, kind, score, ip, node, ev, inc FROM unnest("
    "$1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[], "
    "$8::text[], $9::bigint[]) WITH ORDINALITY AS u(ts, sub, src, kind, score, ip, node, ev, "
    "inc, ord) ORDER BY ord RETURNING id";
static const char SQL_INC_UPDATE_MANY[] =
    "UPDATE incidents i SET level = u.level, score = u.score, score_ms = u.sms, "
    "updated_ms = u.ums, event_count = i.event_count + u.n, kinds = u.kinds, "
    "sources = u.sources FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::bigint[], "
    "$5::bigint[], $6::text[], $7::text[], $8::bigint[]) AS u(id, level, score, sms, ums, "
    "kinds, sources, n) WHERE i.id = u.id";

struct batch_inc {
	char *key;
	int64_t id;                 /* 0: no active incident (yet) */
	int level;
	double score;
	int64_t score_ms, updated_ms;
	char *kinds, *sources;
	long nevents;               /* joined in this batch */
	size_t join_from;           /* the first event of the batch that joins it */
	int opened;                 /* opened by this batch */
};

struct batch {
	struct store *st;
	const struct event *evs;
	size_t n;
	struct batch_inc *inc;      /* one per distinct key */
	size_t ninc;
	size_t *slot;               /* hash index into inc (+1; 0 empty) */
	size_t mask;
	long *ev_inc;               /* per event: index into inc, -1 none */
	int64_t *ev_incident;       /* per event: the incident it joined, 0 none */
	size_t *upd;                /* incidents to update: indexes into inc */
	size_t nupd;
	struct record_result *res;  /* may be NULL */
};

static uint64_t
key_hash(const char *k)
{
	uint64_t h = 1469598103934665603ULL;     /* FNV-1a: keys are short */

	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ULL;
	return h;
}

/* The batch's entry for key, made when absent. */
static struct batch_inc *
batch_key(struct batch *b, const char *key)
{
	size_t i = (size_t)key_hash(key) & b->mask;

	while (b->slot[i] != 0) {
		struct batch_inc *e = &b->inc[b->slot[i] - 1];
		if (strcmp(e->key, key) == 0)
			return e;
		i = (i + 1) & b->mask;
	}
	b->inc[b->ninc].key = xstrdup(key);
	b->inc[b->ninc].join_from = (size_t)-1;
	b->slot[i] = ++b->ninc;
	return &b->inc[b->ninc - 1];
}

static void
batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->ninc; i++) {
		free(b->inc[i].key);
		free(b->inc[i].kinds);
		free(b->inc[i].sources);
	}
	free(b->inc);
	free(b->slot);
	free(b->ev_inc);
	free(b->ev_incident);
	free(b->upd);
}

/* Every key of the batch, locked (lock_keys), and the active incidents of
 * those that have one (one statement; keys that cannot be listed are read
 * one by one). */
static int
batch_load(struct batch *b, const struct score_settings *policy)
{
	struct store *st = b->st;
	char key[EVENT_SUBSCRIBER_MAX + 8];
	struct pg_params p = PG_PARAMS_INIT;
	size_t i, len = 0, cap = 256, nk = 0;
	char *all = xmalloc(cap);
	PGresult *r;
	int row;

	all[0] = '\0';
	for (i = 0; i < b->n; i++) {
		struct batch_inc *e;
		size_t before = b->ninc, kl;

		b->ev_inc[i] = -1;
		event_key(policy, &b->evs[i], key, sizeof key);
		if (key[0] == '\0')
			continue;
		e = batch_key(b, key);
		b->ev_inc[i] = (long)(e - b->inc);
		if (b->ninc == before || strchr(key, '\n') != NULL)
			continue;        /* seen, or not listable (read on its own below) */
		nk++;
		kl = strlen(key);
		if (len + kl + 2 > cap) {
			while (len + kl + 2 > cap)
				cap *= 2;
			all = xrealloc(all, cap);
		}
		memcpy(all + len, key, kl);
		len += kl;
		all[len++] = '\n';
		all[len] = '\0';
	}
	if (lock_keys(st, all, nk) != 0) {
		free(all);
		return STORE_ERR;
	}
	for (i = 0; i < b->ninc; i++) {
		struct batch_inc *e = &b->inc[i];

		if (strchr(e->key, '\n') != NULL && find_active(st, e->key, &e->id, &e->level,
		    &e->score, &e->score_ms, &e->updated_ms, &e->kinds, &e->sources) < 0) {
			free(all);
			return STORE_ERR;
		}
	}
	if (len == 0) {
		free(all);
		return 0;
	}
	pp_text(&p, all);
	r = pg_exec(st, SQL_INC_FIND_MANY, &p, "finding the active incidents");
	free(all);
	if (r == NULL)
		return STORE_ERR;
	for (row = 0; row < PQntuples(r); row++) {
		struct batch_inc *e = batch_key(b, pg_text(r, row, 0));
		e->id = pg_int(r, row, 1);
		e->level = (int)pg_int(r, row, 2);
		e->score = pg_double(r, row, 3);
		e->score_ms = pg_int(r, row, 4);
		e->updated_ms = pg_int(r, row, 5);
		free(e->kinds);
		free(e->sources);
		e->kinds = xstrdup(pg_text(r, row, 6));
		e->sources = xstrdup(pg_text(r, row, 7));
	}
	PQclear(r);
	return 0;
}

/* A newly opened incident's fields. */
static void
opened_init(struct batch_inc *e, int64_t id, int64_t ts_ms)
{
	e->id = id;
	e->level = 0;
	e->score = 0;
	e->score_ms = e->updated_ms = ts_ms;
	free(e->kinds);
	free(e->sources);
	e->kinds = xstrdup("");
	e->sources = xstrdup("");
	e->opened = 1;
}

/* Open an incident for each key without one that has an event with a score
 * in the batch, at the time of the first such event (which is the first to
 * join it: a score-0 event before it opens nothing and joins nothing).  One
 * statement for all of them; a key another host opened meanwhile (and has
 * committed) is read back on its own.  0 or STORE_ERR. */
static int
batch_open(struct batch *b)
{
	struct store *st = b->st;
	struct pg_params p = PG_PARAMS_INIT;
	size_t i, nk = 0, kl = 0, kc = 256, tl = 0, tc = 256;
	char *keys = xmalloc(kc), *ts = xmalloc(tc), num[24];
	PGresult *r = NULL;
	int rc = 0, row, nn;

	keys[0] = ts[0] = '\0';
	for (i = 0; i < b->n; i++) {
		struct batch_inc *e;
		size_t l;

		if (b->ev_inc[i] < 0)
			continue;
		e = &b->inc[b->ev_inc[i]];
		if (e->id != 0 && !e->opened) {
			e->join_from = 0;        /* active before the batch: every event joins */
			continue;
		}
		if (e->join_from != (size_t)-1 || !(b->evs[i].score > 0))
			continue;
		e->join_from = i;
		if (strchr(e->key, '\n') != NULL) {     /* not listable: on its own */
			struct pg_params q = PG_PARAMS_INIT;
			pp_text(&q, e->key);
			pp_int(&q, b->evs[i].ts_ms);
			if ((r = pg_exec(st, SQL_INC_NEW, &q, "opening an incident")) == NULL)
				goto fail;
			if (PQntuples(r) == 1)
				opened_init(e, pg_int(r, 0, 0), b->evs[i].ts_ms);
			PQclear(r);
			continue;
		}
		l = strlen(e->key);
		nn = snprintf(num, sizeof num, "%lld", (long long)b->evs[i].ts_ms);
		while (kl + l + 2 > kc)
			keys = xrealloc(keys, kc *= 2);
		while (tl + (size_t)nn + 2 > tc)
			ts = xrealloc(ts, tc *= 2);
		if (nk > 0) {
			keys[kl++] = '\n';
			ts[tl++] = ',';
		}
		memcpy(keys + kl, e->key, l + 1);
		kl += l;
		memcpy(ts + tl, num, (size_t)nn + 1);
		tl += (size_t)nn;
		nk++;
	}
	if (nk > 0) {
		pp_text(&p, keys);
		pp_text(&p, ts);
		if ((r = pg_exec(st, SQL_INC_NEW_MANY, &p, "opening incidents")) == NULL)
			goto fail;
		for (row = 0; row < PQntuples(r); row++) {
			struct batch_inc *e = batch_key(b, pg_text(r, row, 0));
			opened_init(e, pg_int(r, row, 1), b->evs[e->join_from].ts_ms);
		}
		PQclear(r);
	}
	/* the ones another host opened meanwhile */
	for (i = 0; i < b->ninc; i++) {
		struct batch_inc *e = &b->inc[i];
		int found;

		if (e->id != 0 || e->join_from == (size_t)-1)
			continue;
		found = find_active(st, e->key, &e->id, &e->level, &e->score, &e->score_ms,
		    &e->updated_ms, &e->kinds, &e->sources);
		if (found == 0)
			pg_errf(st, "incident for %s: lost a race twice", e->key);
		if (found <= 0)
			goto fail;
	}
	goto out;
fail:
	rc = STORE_ERR;
out:
	free(keys);
	free(ts);
	return rc;
}

/* Correlate event i with its incident, in memory; the rare steps (opening,
 * notification, mitigation) go to the server now. */
static int
batch_correlate(struct batch *b, const struct score_settings *policy, size_t i, int64_t now)
{
	const struct event *ev = &b->evs[i];
	struct record_result one, *res = b->res != NULL ? &b->res[i] : &one;
	struct batch_inc *e;
	int level_before, level;

	memset(res, 0, sizeof *res);
	b->ev_incident[i] = 0;
	if (!isfinite(ev->score) || ev->score < 0)
		return pg_errf(b->st, "event at %lld: score %g is not a finite number >= 0",
		    (long long)ev->ts_ms, ev->score);
	if (b->ev_inc[i] < 0)
		return 0;
	e = &b->inc[b->ev_inc[i]];
	if (e->id == 0 || i < e->join_from)
		return 0;                /* no incident yet: a score-0 event opens nothing */
	if (i == e->join_from && e->opened)
		res->new_incident = 1;
	level_before = e->level;
	level = store_correlate_event(policy, ev, level_before, &e->score, &e->score_ms,
	    &e->updated_ms, &e->kinds, &e->sources);
	e->level = level;
	if (e->nevents++ == 0)
		b->upd[b->nupd++] = (size_t)(e - b->inc);
	b->ev_incident[i] = e->id;
	if (store_level_rise(b->st, policy, e->id, e->key, level_before, level, e->score, e->kinds,
	    e->sources, now) != 0)
		return STORE_ERR;
	res->incident_id = e->id;
	res->level_before = level_before;
	res->level_after = level;
	res->score = e->score;
	return 0;
}

/* The batch's events in one INSERT, and its incidents' new state in one
 * UPDATE: each column is an array parameter (unnest).  The events are
 * inserted in batch order (ORDER BY the ordinality), so their identity
 * values rise in that order and the returned ids, sorted, are the events'
 * ids in batch order. */
static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
batch_write(struct batch *b)
{
	struct store *st = b->st;
	struct pg_array col[9] = { PG_ARRAY_INIT, PG_ARRAY_INIT, PG_ARRAY_INIT, PG_ARRAY_INIT,
	    PG_ARRAY_INIT, PG_ARRAY_INIT, PG_ARRAY_INIT, PG_ARRAY_INIT, PG_ARRAY_INIT };
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	size_t i, k;
	int rc = 0;

	for (i = 0; i < b->n; i++) {
		const struct event *ev = &b->evs[i];
		pa_int(&col[0], ev->ts_ms);
		pa_text(&col[1], ev->subscriber);
		pa_text(&col[2], ev->source);
		pa_text(&col[3], ev->kind);
		pa_double(&col[4], ev->score);
		pa_text(&col[5], ev->client_ip);
		pa_text(&col[6], ev->node);
		pa_text(&col[7], ev->evidence != NULL && ev->evidence[0] != '\0' ? ev->evidence : "{}");
		if (b->ev_incident[i] != 0)
			pa_int(&col[8], b->ev_incident[i]);
		else
			pa_text(&col[8], NULL);
	}
	for (k = 0; k < 9; k++)
		pp_text(&p, pa_end(&col[k]));
	r = pg_exec(st, SQL_EV_ADD_MANY, &p, "recording the events");
	if (r == NULL) {
		rc = STORE_ERR;
	} else if ((size_t)PQntuples(r) != b->n) {
		rc = pg_errf(st, "recording the events: %d rows for %zu events", PQntuples(r), b->n);
		PQclear(r);
	} else {
		if (b->res != NULL) {
			int64_t *ids = xcalloc(b->n, sizeof *ids);
			for (i = 0; i < b->n; i++)
				ids[i] = pg_int(r, (int)i, 0);
			qsort(ids, b->n, sizeof *ids, cmp_i64);
			for (i = 0; i < b->n; i++)
				b->res[i].event_id = ids[i];
			free(ids);
		}
		PQclear(r);
	}
	for (k = 0; k < 9; k++)
		pa_free(&col[k]);
	if (rc != 0 || b->nupd == 0)
		return rc;

	p.n = 0;
	for (i = 0; i < b->nupd; i++) {
		const struct batch_inc *e = &b->inc[b->upd[i]];
		pa_int(&col[0], e->id);
		pa_int(&col[1], e->level);
		pa_double(&col[2], e->score);
		pa_int(&col[3], e->score_ms);
		pa_int(&col[4], e->updated_ms);
		pa_text(&col[5], e->kinds);
		pa_text(&col[6], e->sources);
		pa_int(&col[7], e->nevents);
	}
	for (k = 0; k < 8; k++)
		pp_text(&p, pa_end(&col[k]));
	rc = pg_do(st, SQL_INC_UPDATE_MANY, &p, "updating the incidents", NULL);
	for (k = 0; k < 8; k++)
		pa_free(&col[k]);
	return rc;
}

/* The keys' times are the server's: the hosts sharing the database may
 * disagree about the time, and one whose clock ran a day ahead would
 * otherwise forget the others' recent keys. */
static const char SQL_BATCH_CLAIM[] =
    "INSERT INTO event_batches (batch_key, committed_ms) "
    "VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) "
    "ON CONFLICT (batch_key) DO NOTHING";
static const char SQL_BATCH_FORGET[] = "DELETE FROM event_batches "
    "WHERE committed_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1";

/* Store the batch key; 1 stored, 0 seen before, STORE_ERR. */
static int
batch_claim(struct store *st, const char *key)
{
	struct pg_params p = PG_PARAMS_INIT;
	int64_t changed = 0;

	if ((st->batch_claims++ & 1023) == 0) {       /* now and then: forget old keys */
		pp_int(&p, STORE_BATCH_KEEP_MS);
		if (pg_do(st, SQL_BATCH_FORGET, &p, "forgetting old batch keys", NULL) != 0)
			return STORE_ERR;
		p.n = 0;
	}
	pp_text(&p, key);
	if (pg_do(st, SQL_BATCH_CLAIM, &p, "storing the batch key", &changed) != 0)
		return STORE_ERR;
	return changed == 1;
}

int
pg_record_events(struct store *st, const struct score_settings *policy, const char *batch_key,
    const struct event *evs, size_t n, struct record_result *res, int *already)
{
	struct batch b;
	int64_t now = bs_now_ms();
	size_t i, size = 16;
	int c;

	if (n == 0)
		return 0;
	if (pg_begin(st) != 0)
		return STORE_ERR;
	if (batch_key != NULL) {
		if ((c = batch_claim(st, batch_key)) < 0)
			return pg_fail(st);
		if (c == 0) {                      /* recorded before: nothing to do */
			pg_rollback(st);
			if (already != NULL)
				*already = 1;
			if (res != NULL)
				memset(res, 0, n * sizeof *res);
			return 0;
		}
	}
	memset(&b, 0, sizeof b);
	b.st = st;
	b.evs = evs;
	b.n = n;
	b.res = res;
	while (size < 2 * n)
		size <<= 1;
	b.mask = size - 1;
	b.slot = xcalloc(size, sizeof *b.slot);
	b.inc = xcalloc(n, sizeof *b.inc);
	b.ev_inc = xcalloc(n, sizeof *b.ev_inc);
	b.ev_incident = xcalloc(n, sizeof *b.ev_incident);
	b.upd = xcalloc(n, sizeof *b.upd);
	if (batch_load(&b, policy) != 0 ||
	    batch_open(&b) != 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (batch_correlate(&b, policy, i, now) != 0)
			goto fail;
	if (batch_write(&b) != 0)
		goto fail;
	batch_free(&b);
	return pg_commit(st);
fail:
	batch_free(&b);
	return pg_fail(st);
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
		if (store_enqueue_note(st, id, key, "resolved", level, score, kinds, sources, NULL, idem,
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
