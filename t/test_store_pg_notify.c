/*
 * test_store_pg_notify.c - the outbox on PostgreSQL (lib/store_pg_notify.c,
 * through the public store_notify_* API) against a real server: fan-out,
 * claims by two workers at once (FOR UPDATE SKIP LOCKED: disjoint, nobody
 * waits), outcomes mirrored into the outbox row, a claim of another worker
 * refused, the notice interval, Request Tracker ticket state.  Needs
 * BS_TEST_STORE_URI=postgresql://... (set by t/store-pg.sh); skipped
 * otherwise.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store.h"
#include "store_pg_int.h"
#include "util.h"

static const struct score_settings pol = {
	.half_life_s = 3600.0, .level = { 10.0, 30.0, 60.0 }, .mitigation = "throttle",
	.volume_max_level = 3,
};
/* a little ahead of the clock: correlation stamps outbox rows with the real time */
static int64_t T0;
static const char *uri;

static int
t_exec(struct store *st, const char *sql)
{
	PGresult *r = PQexec((PGconn *)st->db, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

static char *
q_text(struct store *st, const char *sql)
{
	PGresult *r = PQexec((PGconn *)st->db, sql);
	char *v;

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	v = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static int
setup(void **state)
{
	char err[512];
	struct store *st;

	if (uri == NULL) {
		*state = NULL;
		return 0;
	}
	if ((st = store_open(uri, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (t_exec(st, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public") != 0 ||
	    store_migrate(st, NULL, NULL) != 0)
		return -1;
	*state = st;
	return 0;
}

static int
teardown(void **state)
{
	store_close(*state);
	return 0;
}

static size_t
route(void *ud, const struct notification *n, const char **ch, size_t max)
{
	(void)ud;
	(void)max;
	if (n->level < 1)
		return 0;
	ch[0] = "email";
	ch[1] = "webhook";
	return 2;
}

/* Three subscribers at level 1: three outbox rows. */
static void
three_incidents(struct store *st)
{
	struct event ev[3];
	char sub[16];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(sub, sizeof sub, "sub%d", i);
		event_init(&ev[i], T0 + i, "milter", "rate", 12);
		event_set_subscriber(&ev[i], sub);
	}
	assert_int_equal(store_record_events(st, &pol, ev, 3, NULL), 0);
	for (i = 0; i < 3; i++)
		event_clear(&ev[i]);
}

static void
test_fanout_claim_outcomes(void **state)
{
	struct store *st = *state, *b;
	struct delivery *da, *db;
	size_t na, nb, i, j;
	char err[512], *s;

	if (st == NULL)
		skip();
	three_incidents(st);
	assert_int_equal(store_notify_fanout(st, T0 + 10, 10, route, NULL), 3);
	assert_int_equal(store_notify_fanout(st, T0 + 10, 10, route, NULL), 0);
	s = q_text(st, "SELECT count(*) FROM notify_deliveries");
	assert_string_equal(s, "6");
	free(s);

	/* worker A holds its claim open; worker B gets the others at once */
	b = store_open(uri, err, sizeof err);
	assert_non_null(b);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_notify_claim(st, "A", T0 + 20, 60000, 2, &da, &na), 0);
	assert_int_equal(na, 2);
	assert_int_equal(store_notify_claim(b, "B", T0 + 20, 60000, 10, &db, &nb), 0);
	assert_int_equal(nb, 4);
	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
			assert_true(da[i].id != db[j].id);
	assert_int_equal(store_commit(st), 0);
	assert_int_equal(da[0].attempts, 1);
	assert_string_equal(da[0].status, "sending");
	assert_non_null(strstr(da[0].payload, "\"level\":1"));

	/* outcomes; another worker's claim is refused */
	assert_int_equal(store_notify_sent(b, da[0].id, "B", T0 + 30, NULL), STORE_NOTFOUND);
	assert_int_equal(store_notify_sent(st, da[0].id, "A", T0 + 30, "250 ok"), 0);
	assert_int_equal(store_notify_failed(st, da[1].id, "A", T0 + 30, "gave up"), 0);
	assert_int_equal(store_notify_retry(b, db[0].id, "B", T0 + 30, T0 + 5000, "421 later", 1), 0);
	for (j = 1; j < nb; j++)
		assert_int_equal(store_notify_sent(b, db[j].id, "B", T0 + 30, NULL), 0);
	s = q_text(st, "SELECT string_agg(status, ',' ORDER BY id) FROM notifications");
	assert_non_null(strstr(s, "sending"));      /* the retried one */
	free(s);
	s = q_text(st, "SELECT count(*) FROM notifications WHERE status = 'failed' AND last_error LIKE '%gave up%'");
	assert_string_equal(s, "1");
	free(s);

	/* each incident whose subscriber notice (email) went out is notified,
	 * audited once; the others (webhook only, failed, retried) are open */
	s = q_text(st, "SELECT count(DISTINCT incident_id) FROM notify_deliveries "
	    "WHERE channel = 'email' AND status = 'sent'");
	assert_true(atoi(s) >= 1);
	{
		char *t = q_text(st, "SELECT count(*) FROM incidents WHERE state = 'notified'");
		char *u = q_text(st, "SELECT count(*) FROM audit WHERE actor = 'notifyd' AND "
		    "action = 'incident.state' AND detail LIKE 'from=open to=notified%'");
		assert_string_equal(t, s);
		assert_string_equal(u, s);
		free(t);
		free(u);
	}
	free(s);
	s = q_text(st, "SELECT count(*) FROM incidents i WHERE state = 'open' AND NOT EXISTS "
	    "(SELECT 1 FROM notify_deliveries d WHERE d.incident_id = i.id AND d.channel = 'email' "
	    "AND d.status = 'sent')");
	{
		char *t = q_text(st, "SELECT count(*) FROM incidents WHERE state = 'open'");
		assert_string_equal(s, t);
		free(t);
	}
	free(s);

	/* nothing due until the retry time; then it comes back */
	store_notify_free(da, na);
	assert_int_equal(store_notify_claim(st, "A", T0 + 40, 60000, 10, &da, &na), 0);
	assert_int_equal(na, 0);
	store_notify_free(da, na);
	assert_int_equal(store_notify_claim(st, "A", T0 + 6000, 60000, 10, &da, &na), 0);
	assert_int_equal(na, 1);
	assert_int_equal(da[0].id, db[0].id);
	assert_int_equal(da[0].attempts, 2);
	assert_int_equal(store_notify_superseded(st, &da[0]), 0);
	store_notify_free(da, na);
	store_notify_free(db, nb);
	store_close(b);
}

static int
count_cb(void *ud, const struct delivery *d)
{
	(void)d;
	(*(int *)ud)++;
	return 0;
}

static int
rt_cb(void *ud, int64_t inc, int64_t ticket)
{
	(void)inc;
	*(int64_t *)ud = ticket;
	return 0;
}

static void
test_notice_rt(void **state)
{
	struct store *st = *state;
	int64_t next = 0, ticket = 0, got = 0;
	int n = 0;

	if (st == NULL)
		skip();
	assert_int_equal(store_notify_notice_slot(st, "sub0", "k1", T0, 3600000, &next), 0);
	assert_int_equal(next, -1);
	assert_int_equal(store_notify_notice_slot(st, "sub0", "k2", T0 + 1000, 3600000, &next), 1);
	assert_int_equal(next, T0 + 3600000);
	assert_int_equal(store_notify_notice_slot(st, "sub0", "k1", T0 + 2000, 3600000, &next), 0);
	assert_int_equal(store_notify_notice_release(st, "sub0", -1), 0);
	assert_int_equal(store_notify_notice_slot(st, "sub0", "k2", T0 + 3000, 3600000, &next), 0);

	three_incidents(st);
	assert_int_equal(store_notify_rt_get(st, 1, &ticket), STORE_NOTFOUND);
	assert_int_equal(store_notify_rt_set(st, 1, 4242, T0), 0);
	assert_int_equal(store_notify_rt_get(st, 1, &ticket), 0);
	assert_int_equal(ticket, 4242);
	assert_int_equal(store_notify_rt_due(st, T0 + 10, 5, 10, rt_cb, &got), 0);
	assert_int_equal(got, 4242);
	assert_int_equal(store_notify_rt_polled(st, 1, "open", 0, T0 + 10), 0);
	got = 0;
	assert_int_equal(store_notify_rt_due(st, T0 + 11, 5, 10, rt_cb, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(store_notify_deliveries(st, 0, count_cb, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_notify_prev_ms(st, 1, 1), 0);
}

int
main(void)
{
	const char *u = getenv("BS_TEST_STORE_URI");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fanout_claim_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notice_rt, setup, teardown),
	};

	if (u != NULL && strncmp(u, "postgres", 8) == 0)
		uri = u;
	T0 = bs_now_ms() + 60000;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
