/*
 * test_writer.c - writer.c: batching, the flush interval, a clean stop that
 * flushes, drops when the queue is full, retries when the database is
 * locked (no event lost), the result callback, a policy change.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"
#include "store_sqlite_int.h"
#ifdef HAVE_POSTGRESQL
#include <libpq-fe.h>
#endif
#include "util.h"
#include "allowlist.h"
#include "writer.h"

static const struct score_settings pol = { .half_life_s = 3600.0, .level = { 10.0, 30.0, 60.0 }, .mitigation = "throttle" };
static const int64_t T0 = 1790000000000LL;

struct fx {
	char dir[64];
	char uri[128];
	pthread_mutex_t mu;
	uint64_t calls;
	int64_t last_event_id;
	int out_of_order;
	int max_level;
};

/*
 * BS_TEST_STORE_URI=postgresql://... runs these tests against that database
 * (t/store-pg.sh); each test starts from an empty public schema.
 */
static const char *test_uri;

#define SQLITE_ONLY() do { if (test_uri != NULL) skip(); } while (0)

/* Run SQL without parameters; 0 or STORE_ERR. */
static int
t_exec(struct store *st, const char *sql)
{
#ifdef HAVE_POSTGRESQL
	if (test_uri != NULL) {
		PGresult *r = PQexec((PGconn *)st->db, sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

		if (!ok)
			fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
		PQclear(r);
		return ok ? 0 : STORE_ERR;
	}
#endif
	return sq_exec(st, sql, "t");
}

/* The first column of every row of a query, as integers (up to max); the count. */
static int
t_ints(struct store *st, const char *sql, int64_t *v, int max)
{
	sqlite3_stmt *q;
	int n = 0;

#ifdef HAVE_POSTGRESQL
	if (test_uri != NULL) {
		PGresult *r = PQexec((PGconn *)st->db, sql);

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		for (n = 0; n < PQntuples(r) && n < max; n++)
			v[n] = strtoll(PQgetvalue(r, n, 0), NULL, 10);
		PQclear(r);
		return n;
	}
#endif
	q = sq_prep_once(st, sql);
	assert_non_null(q);
	while (n < max && sqlite3_step(q) == SQLITE_ROW)
		v[n++] = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	char err[512];
	struct store *st;

	snprintf(f->dir, sizeof f->dir, "/tmp/bs-writer.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if (test_uri != NULL)
		bs_strlcpy(f->uri, test_uri, sizeof f->uri);
	else
		snprintf(f->uri, sizeof f->uri, "sqlite:%s/abuse.db", f->dir);
	if ((st = store_open(f->uri, err, sizeof err)) == NULL)
		return -1;
	if (test_uri != NULL && t_exec(st, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public") != 0)
		return -1;
	if (store_migrate(st, NULL, NULL) != 0)
		return -1;
	store_close(st);
	pthread_mutex_init(&f->mu, NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

static void
on_result(void *ud, const struct event *ev, const struct record_result *r)
{
	struct fx *f = ud;

	pthread_mutex_lock(&f->mu);
	f->calls++;
	if (r->event_id <= f->last_event_id)
		f->out_of_order++;
	f->last_event_id = r->event_id;
	if (r->level_after > f->max_level)
		f->max_level = r->level_after;
	pthread_mutex_unlock(&f->mu);
}

static int64_t
count(struct fx *f, const char *sql)
{
	char err[512];
	struct store *st = store_open(f->uri, err, sizeof err);
	int64_t n = 0;

	assert_non_null(st);
	assert_int_equal(t_ints(st, sql, &n, 1), 1);
	store_close(st);
	return n;
}

static void
submit_n(struct writer *w, int n, int base, int *accepted)
{
	struct event ev;
	char sub[32];
	int i;

	for (i = 0; i < n; i++) {
		event_init(&ev, T0 + (base + i) * 10LL, i % 3 ? "milter" : "flow", "rate", 1.0);
		snprintf(sub, sizeof sub, "sub%d", (base + i) % 17);
		event_set_subscriber(&ev, sub);
		event_set_evidence(&ev, json_pack("{s:i}", "n", base + i));
		if (writer_submit(w, &ev) == 0 && accepted != NULL)
			(*accepted)++;
		event_clear(&ev);
	}
}

static void
test_batches_and_stop(void **state)
{
	struct fx *f = *state;
	struct writer_stats s;
	struct writer *w;
	char err[512];
	int acc = 0;

	w = writer_start(f->uri, &pol, 5000, 64, 50, on_result, f, err, sizeof err);
	assert_non_null(w);
	submit_n(w, 3000, 0, &acc);
	assert_int_equal(acc, 3000);
	writer_get_stats(w, &s);
	assert_int_equal(s.submitted, 3000);
	assert_true(s.max_depth >= 1);
	assert_int_equal(s.dropped, 0);
	writer_stop(w);          /* flushes everything */
	assert_int_equal(f->calls, 3000);
	assert_int_equal(f->out_of_order, 0);
	assert_int_equal(count(f, "SELECT count(*) FROM events"), 3000);
	assert_int_equal(count(f, "SELECT count(*) FROM events WHERE incident_id IS NULL"), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM incidents"), 17);
	assert_int_equal(count(f, "SELECT sum(event_count) FROM incidents"), 3000);
	assert_int_equal(count(f, "SELECT count(*) FROM events WHERE evidence LIKE '{\"n\":%'"), 3000);
	writer_stop(NULL);
}

/* The desk's allowlist: covered events are not recorded, counted apart,
 * and the rest go through (rate is covered for sub3; sub5 only for helo). */
static void
test_allowlist(void **state)
{
	struct fx *f = *state;
	struct allowlist_entry e;
	struct writer_stats s;
	struct writer *w;
	struct store *st;
	char err[512];
	int64_t id;
	int acc = 0;

	assert_non_null(st = store_open(f->uri, err, sizeof err));
	memset(&e, 0, sizeof e);
	e.type = AL_SUBSCRIBER;
	e.subject = "sub3";
	e.scope = "rate";
	e.owner = "test";
	e.reason = "test";
	e.created_ms = T0;
	assert_int_equal(store_allowlist_add(st, &e, &id), 0);
	e.subject = "sub5";
	e.scope = "helo";
	assert_int_equal(store_allowlist_add(st, &e, &id), 0);
	store_close(st);

	w = writer_start(f->uri, &pol, 5000, 64, 20, on_result, f, err, sizeof err);
	assert_non_null(w);
	submit_n(w, 170, 0, &acc);        /* 10 events for each of sub0..sub16 */
	writer_stop(w);
	assert_int_equal(acc, 170);
	assert_int_equal(count(f, "SELECT count(*) FROM events WHERE subscriber = 'sub3'"), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM events WHERE subscriber = 'sub5'"), 10);
	assert_int_equal(count(f, "SELECT count(*) FROM events"), 160);
	assert_int_equal(f->calls, 160);
	/* the stats of a stopped writer are in its log line; count again live */
	w = writer_start(f->uri, &pol, 5000, 64, 20, NULL, NULL, err, sizeof err);
	assert_non_null(w);
	submit_n(w, 17, 0, NULL);
	do {
		usleep(10000);
		writer_get_stats(w, &s);
	} while (s.committed + s.allowlisted < 17);
	assert_int_equal(s.allowlisted, 1);
	assert_int_equal(s.committed, 16);
	writer_stop(w);
}

static void
test_flush_interval(void **state)
{
	struct fx *f = *state;
	struct writer_stats s;
	struct writer *w;
	char err[512];
	int64_t t0, waited;

	/* a batch of 1000 never fills: the 100 ms flush must commit them */
	w = writer_start(f->uri, &pol, 5000, 1000, 100, on_result, f, err, sizeof err);
	assert_non_null(w);
	t0 = bs_mono_ms();
	submit_n(w, 3, 0, NULL);
	do {
		usleep(10000);
		writer_get_stats(w, &s);
	} while (s.committed < 3 && bs_mono_ms() - t0 < 5000);
	waited = bs_mono_ms() - t0;
	assert_int_equal(s.committed, 3);
	assert_int_equal(s.depth, 0);
	assert_true(waited >= 90);
	assert_true(waited < 3000);
	assert_int_equal(count(f, "SELECT count(*) FROM events"), 3);
	writer_stop(w);
	assert_int_equal(f->calls, 3);
}

/*
 * Another handle holds the write lock for longer than the busy timeout: the
 * writer's batch fails with SQLITE_BUSY, is retried, and commits once the
 * lock goes; meanwhile the small queue fills and drops are counted.  No
 * accepted event is lost.
 */
static void
test_busy_retry_and_drops(void **state)
{
	struct fx *f = *state;
	struct writer_stats s;
	struct store *blocker;
	struct writer *w;
	char err[512];
	int acc = 0;

	SQLITE_ONLY();           /* SQLite's write lock; PostgreSQL has none like it */
	blocker = store_open(f->uri, err, sizeof err);
	assert_non_null(blocker);
	assert_int_equal(store_begin(blocker), 0);       /* BEGIN IMMEDIATE */

	w = writer_start(f->uri, &pol, 100, 20, 10, on_result, f, err, sizeof err);
	assert_non_null(w);
	submit_n(w, 500, 0, &acc);
	writer_get_stats(w, &s);
	assert_true(s.dropped > 0);
	assert_int_equal(s.dropped + s.submitted, 500);
	assert_int_equal(s.submitted, (uint64_t)acc);
	assert_int_equal(s.max_depth, 100);
	assert_int_equal(s.committed, 0);

	/* hold the lock past the 5 s busy timeout so that a batch fails */
	sleep(SQ_BUSY_TIMEOUT_MS / 1000 + 1);
	writer_get_stats(w, &s);
	assert_true(s.failed >= 1);
	assert_int_equal(store_rollback(blocker), 0);
	store_close(blocker);

	writer_stop(w);
	assert_int_equal(f->calls, (uint64_t)acc);
	assert_int_equal(count(f, "SELECT count(*) FROM events"), acc);
	assert_int_equal(count(f, "SELECT sum(event_count) FROM incidents"), acc);
}

static void
test_policy_change(void **state)
{
	struct fx *f = *state;
	struct score_settings low = pol;
	struct writer_stats s;
	struct writer *w;
	char err[512];
	int64_t t0;

	w = writer_start(f->uri, &pol, 100, 10, 10, on_result, f, err, sizeof err);
	assert_non_null(w);
	submit_n(w, 1, 0, NULL);
	t0 = bs_mono_ms();
	do {
		usleep(5000);
		writer_get_stats(w, &s);
	} while (s.committed < 1 && bs_mono_ms() - t0 < 5000);
	assert_int_equal(f->max_level, 0);
	low.level[0] = 0.5;
	low.level[1] = 1.0;
	low.level[2] = 1.5;
	writer_set_policy(w, &low);
	submit_n(w, 1, 17, NULL);  /* same subscriber: score 2 */
	writer_stop(w);
	assert_int_equal(f->max_level, 3);
	assert_int_equal(count(f, "SELECT count(*) FROM subscribers WHERE mitigation = 'throttle'"), 1);
}

/*
 * One event that the database refuses for good (here a trigger; in life a
 * constraint) must not stall the queue: its batch is split, the event is
 * rejected and counted, the others commit.
 */
static void
test_poison_event(void **state)
{
	struct fx *f = *state;
	struct writer_stats s;
	struct store *st;
	struct writer *w;
	struct event ev;
	char err[512];
	int64_t t0;

	st = store_open(f->uri, err, sizeof err);
	assert_non_null(st);
	if (test_uri != NULL)
		assert_int_equal(t_exec(st,
		    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS "
		    "$$BEGIN RAISE EXCEPTION 'poisoned'; END$$; "
		    "CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW "
		    "WHEN (new.kind = 'poison') EXECUTE FUNCTION poison()"), 0);
	else
		assert_int_equal(t_exec(st, "CREATE TRIGGER poison BEFORE INSERT ON events "
		    "WHEN new.kind = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"), 0);
	store_close(st);

	w = writer_start(f->uri, &pol, 1000, 50, 20, on_result, f, err, sizeof err);
	assert_non_null(w);
	submit_n(w, 20, 0, NULL);
	event_init(&ev, T0, "milter", "poison", 1.0);
	event_set_subscriber(&ev, "sub1");
	assert_int_equal(writer_submit(w, &ev), 0);
	submit_n(w, 29, 20, NULL);
	t0 = bs_mono_ms();
	do {
		usleep(10000);
		writer_get_stats(w, &s);
	} while (s.committed + s.rejected < 50 && bs_mono_ms() - t0 < 5000);
	assert_int_equal(s.committed, 49);
	assert_int_equal(s.rejected, 1);
	assert_int_equal(s.failed, 0);       /* not retried: refused for good */
	/* and the queue goes on */
	submit_n(w, 10, 100, NULL);
	writer_stop(w);
	assert_int_equal(f->calls, 59);
	assert_int_equal(count(f, "SELECT count(*) FROM events"), 59);
	assert_int_equal(count(f, "SELECT count(*) FROM events WHERE kind = 'poison'"), 0);
}

/*
 * Two writers (two handles, as two sensor processes would have) on the same
 * subscribers while a third handle resolves incidents: every event lands in
 * exactly one incident and no subscriber has two active incidents.
 */
static void
test_two_writers(void **state)
{
	struct fx *f = *state;
	struct writer *w1, *w2;
	struct store *desk;
	char err[512];
	int round, acc = 0;

	w1 = writer_start(f->uri, &pol, 10000, 25, 5, on_result, f, err, sizeof err);
	w2 = writer_start(f->uri, &pol, 10000, 40, 5, on_result, f, err, sizeof err);
	assert_non_null(w1);
	assert_non_null(w2);
	desk = store_open(f->uri, err, sizeof err);
	assert_non_null(desk);
	for (round = 0; round < 5; round++) {
		submit_n(w1, 400, round * 1000, &acc);
		submit_n(w2, 400, round * 1000 + 500, &acc);
		usleep(20000);
		/* resolve whatever is active now (collected first, then changed) */
		{
			int64_t ids[64];
			int n, i;

			n = t_ints(desk, "SELECT id FROM incidents WHERE state = 'open' LIMIT 64", ids, 64);
			for (i = 0; i < n; i++)
				assert_int_equal(store_incident_set_state(desk, ids[i], "resolved", "desk",
				    NULL, bs_now_ms()), 0);
		}
	}
	store_close(desk);
	writer_stop(w1);
	writer_stop(w2);
	assert_int_equal(acc, 4000);
	assert_int_equal(f->calls, 4000);
	assert_int_equal(count(f, "SELECT count(*) FROM events"), 4000);
	assert_int_equal(count(f, "SELECT count(*) FROM events WHERE incident_id IS NULL"), 0);
	assert_int_equal(count(f, "SELECT sum(event_count) FROM incidents"), 4000);
	assert_int_equal(count(f, "SELECT count(*) FROM (SELECT subscriber FROM incidents "
	    "WHERE state IN ('open', 'notified', 'acknowledged') GROUP BY subscriber HAVING count(*) > 1) AS dup"), 0);
	assert_true(count(f, "SELECT count(*) FROM incidents WHERE state = 'resolved'") > 0);
}

static void
test_start_errors(void **state)
{
	struct fx *f = *state;
	char uri[160], err[512];

	assert_null(writer_start("sqlite:/nonexistent-bs/x.db", &pol, 10, 10, 10, NULL, NULL, err, sizeof err));
	assert_non_null(strstr(err, "does not exist"));
	snprintf(uri, sizeof uri, "sqlite:%s/empty.db", f->dir);
	assert_null(writer_start(uri, &pol, 10, 10, 10, NULL, NULL, err, sizeof err));
	assert_non_null(strstr(err, "db init"));
	assert_null(writer_start(f->uri, &pol, 0, 10, 10, NULL, NULL, err, sizeof err));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batches_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allowlist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_retry_and_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poison_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
	};

	{
		const char *u = getenv("BS_TEST_STORE_URI");

		if (u != NULL && strncmp(u, "postgres", 8) == 0)
			test_uri = u;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
