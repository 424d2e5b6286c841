/*
 * test_store_notify.c - the notification outbox of the store on a real
 * SQLite file, or on PostgreSQL with BS_TEST_STORE_URI (t/store-pg.sh):
 * fan-out by a route function, claims by two workers (exclusive, taken over
 * after the lease, outcomes refused to the worker that lost its claim),
 * per-incident order, retries and failures mirrored into the outbox row,
 * the subscriber notice slot, supersession and RT ticket state.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"
#include "store_fixture.h"
#include "util.h"

static const struct score_settings pol = { .half_life_s = 3600.0, .level = { 10.0, 30.0, 60.0 }, .mitigation = "throttle" };
/* "now" for the tests: a minute ahead of the clock, so that the outbox rows
 * the store enqueues (stamped with the real time) are due. */
static int64_t T0;

struct fx {
	char dir[64];
	struct store *st;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);

	T0 = bs_now_ms() + 60000;
	if ((f->st = tf_open(f->dir, sizeof f->dir, NULL, 0)) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	int rc = tf_close(f->st, f->dir);

	free(f);
	return rc;
}

static void
assert_q_str(struct store *st, const char *sql, const char *want)
{
	char *v = q_text(st, sql);

	assert_string_equal(v, want);
	free(v);
}

/* one event for sub with score at time t */
static void
event(struct store *st, const char *sub, double score, int64_t t)
{
	struct event ev;

	event_init(&ev, t, "milter", "helo", score);
	event_set_subscriber(&ev, sub);
	assert_int_equal(store_record_events(st, &pol, &ev, 1, NULL), 0);
	event_clear(&ev);
}

/* email and webhook at every level; nothing for 'resolved' */
static size_t
route(void *ud, const struct notification *n, const char **ch, size_t max)
{
	(void)ud;
	assert_true(max >= 2);
	if (strcmp(n->kind, "resolved") == 0)
		return 0;
	ch[0] = "email";
	ch[1] = "webhook";
	return 2;
}

static void
test_fanout_and_claims(void **state)
{
	struct fx *f = *state;
	struct delivery *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;

	event(f->st, "alice", 15, T0);
	assert_int_equal(store_notify_fanout(f->st, T0 + 10, 10, route, NULL), 1);
	assert_int_equal(store_notify_fanout(f->st, T0 + 10, 10, route, NULL), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_deliveries"), 2);
	assert_q_str(f->st, "SELECT status FROM notifications", "sending");
	assert_q_str(f->st, "SELECT (SELECT idem_key FROM notify_deliveries ORDER BY id LIMIT 1) || ' ' || "
	    "(SELECT idem_key FROM notify_deliveries ORDER BY id DESC LIMIT 1)",
	    "inc-1-lvl-1-email inc-1-lvl-1-webhook");

	/* worker A takes both; B gets nothing while A's claim is fresh */
	assert_int_equal(store_notify_claim(f->st, "A", T0 + 20, 1000, 10, &a, &na), 0);
	assert_int_equal(na, 2);
	assert_int_equal(a[0].payload[0], '{');
	assert_int_equal(a[0].attempts, 1);
	assert_string_equal(a[0].kind, "new");
	assert_int_equal(store_notify_claim(f->st, "B", T0 + 500, 1000, 10, &b, &nb), 0);
	assert_int_equal(nb, 0);
	store_notify_free(b, nb);

	/* A finishes one; the other's claim goes stale and B takes it over */
	assert_string_equal(a[0].channel, "email");
	assert_q_str(f->st, "SELECT state FROM incidents", "open");
	assert_int_equal(store_notify_sent(f->st, a[0].id, "A", T0 + 30, "ok"), STORE_OK);
	/* the subscriber notice went out: open -> notified, audited */
	assert_q_str(f->st, "SELECT state FROM incidents", "notified");
	assert_q_str(f->st, "SELECT actor || ' ' || object || ' ' || detail FROM audit "
	    "WHERE action = 'incident.state'",
	    "notifyd incident:1 from=open to=notified note=subscriber notice sent (delivery 1)");
	assert_int_equal(store_notify_claim(f->st, "B", T0 + 2000, 1000, 10, &b, &nb), 0);
	assert_int_equal(nb, 1);
	assert_int_equal(b[0].id, a[1].id);
	assert_int_equal(b[0].attempts, 2);
	/* A may no longer record an outcome for it */
	assert_int_equal(store_notify_sent(f->st, a[1].id, "A", T0 + 2001, "late"), STORE_NOTFOUND);
	assert_int_equal(store_notify_retry(f->st, b[0].id, "B", T0 + 2002, T0 + 5000, "HTTP 500", 1),
	    STORE_OK);
	assert_q_str(f->st, "SELECT status || ' ' || last_error FROM notifications",
	    "sending webhook: HTTP 500");
	store_notify_free(b, nb);
	/* not due before next_attempt_ms */
	assert_int_equal(store_notify_claim(f->st, "B", T0 + 4999, 1000, 10, &b, &nb), 0);
	assert_int_equal(nb, 0);
	store_notify_free(b, nb);
	assert_int_equal(store_notify_claim(f->st, "B", T0 + 5000, 1000, 10, &b, &nb), 0);
	assert_int_equal(nb, 1);
	assert_int_equal(store_notify_failed(f->st, b[0].id, "B", T0 + 5001, "gave up"), STORE_OK);
	assert_q_str(f->st, "SELECT status || ' ' || attempts || ' ' || last_error FROM notifications",
	    "failed 3 webhook: gave up");
	store_notify_free(a, na);
	store_notify_free(b, nb);
}

static void
test_order_and_defer(void **state)
{
	struct fx *f = *state;
	struct delivery *d = NULL;
	size_t n = 0;

	event(f->st, "bob", 15, T0);
	event(f->st, "bob", 20, T0 + 1);          /* level 2: an update */
	assert_int_equal(store_notify_fanout(f->st, T0 + 10, 10, route, NULL), 2);
	/* only the first notification's deliveries: the update waits its turn */
	assert_int_equal(store_notify_claim(f->st, "A", T0 + 20, 1000, 10, &d, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(d[0].kind, "new");
	assert_string_equal(d[1].kind, "new");
	/* a later email delivery of the incident supersedes the first */
	assert_int_equal(store_notify_superseded(f->st, &d[0]), 1);
	/* a deferral does not count as an attempt */
	assert_int_equal(store_notify_retry(f->st, d[0].id, "A", T0 + 21, T0 + 100, "interval", 0), 0);
	assert_int_equal(q_int(f->st, "SELECT attempts FROM notify_deliveries WHERE idem_key = 'inc-1-lvl-1-email'"), 0);
	assert_string_equal(d[1].channel, "webhook");
	assert_int_equal(store_notify_sent(f->st, d[1].id, "A", T0 + 22, NULL), 0);
	store_notify_free(d, n);
	/* a webhook tells others, not the subscriber: the state stays */
	assert_q_str(f->st, "SELECT state FROM incidents", "open");
	/* the webhook update is free now; the email update still waits behind its new */
	assert_int_equal(store_notify_claim(f->st, "A", T0 + 30, 1000, 10, &d, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].idem_key, "inc-1-lvl-2-webhook");
	assert_int_equal(store_notify_superseded(f->st, &d[0]), 0);
	assert_int_equal(store_notify_skipped(f->st, d[0].id, "A", T0 + 31, "nothing to do"), 0);
	store_notify_free(d, n);
	assert_q_str(f->st, "SELECT status || ' ' || last_error FROM notifications WHERE idem_key = 'inc-1-lvl-2'",
	    "sending webhook: skipped: nothing to do");
	assert_int_equal(store_notify_prev_ms(f->st, 1, 2) > 0, 1);
	assert_int_equal(store_notify_prev_ms(f->st, 1, 1), 0);
}

static void
test_notice_slot(void **state)
{
	struct fx *f = *state;
	int64_t next = 0;

	assert_int_equal(store_notify_notice_slot(f->st, "carol", "k1", T0, 3600000, &next), 0);
	assert_int_equal(next, -1);
	assert_int_equal(store_notify_notice_slot(f->st, "carol", "k2", T0 + 1000, 3600000, &next), 1);
	assert_int_equal(next, T0 + 3600000);
	/* the same delivery again (a resend after a crash) keeps its slot */
	assert_int_equal(store_notify_notice_slot(f->st, "carol", "k1", T0 + 2000, 3600000, &next), 0);
	assert_int_equal(store_notify_notice_slot(f->st, "carol", "k3", T0 + 3600000 + 2000, 3600000, &next), 0);
	assert_int_equal(next, T0 + 2000);
	assert_int_equal(store_notify_notice_release(f->st, "carol", next), 0);
	assert_int_equal(q_int(f->st, "SELECT last_ms FROM notify_notices WHERE subscriber = 'carol'"), T0 + 2000);
	assert_int_equal(store_notify_notice_release(f->st, "carol", -1), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_notices"), 0);
	/* interval 0: no limit */
	assert_int_equal(store_notify_notice_slot(f->st, "dave", "a", T0, 0, &next), 0);
	assert_int_equal(store_notify_notice_slot(f->st, "dave", "b", T0, 0, &next), 0);
}

static int
due_cb(void *ud, int64_t inc, int64_t ticket)
{
	int64_t *out = ud;

	out[0] = inc;
	out[1] = ticket;
	out[2]++;
	return 0;
}

static void
test_rt_state(void **state)
{
	struct fx *f = *state;
	int64_t got[3] = { 0, 0, 0 }, ticket = 0;

	event(f->st, "erin", 15, T0);
	assert_int_equal(store_notify_rt_get(f->st, 1, &ticket), STORE_NOTFOUND);
	assert_int_equal(store_notify_rt_set(f->st, 1, 42, T0), 0);
	assert_int_equal(store_notify_rt_get(f->st, 1, &ticket), STORE_OK);
	assert_int_equal(ticket, 42);
	assert_int_equal(store_notify_rt_due(f->st, T0, 60000, 10, due_cb, got), 0);
	assert_int_equal(got[2], 1);
	assert_int_equal(got[1], 42);
	assert_int_equal(store_notify_rt_polled(f->st, 1, "open", 0, T0), 0);
	got[2] = 0;
	assert_int_equal(store_notify_rt_due(f->st, T0 + 1000, 60000, 10, due_cb, got), 0);
	assert_int_equal(got[2], 0);           /* polled a second ago */
	assert_int_equal(store_notify_rt_due(f->st, T0 + 60000, 60000, 10, due_cb, got), 0);
	assert_int_equal(got[2], 1);
	/* a closed ticket is not polled */
	assert_int_equal(store_notify_rt_polled(f->st, 1, "resolved", 1, T0 + 60000), 0);
	got[2] = 0;
	assert_int_equal(store_notify_rt_due(f->st, T0 + 999999, 60000, 10, due_cb, got), 0);
	assert_int_equal(got[2], 0);
}

/* botsentry prune anonymizes closed incidents: their deliveries follow */
static void
test_prune_follows(void **state)
{
	struct fx *f = *state;
	struct delivery *d = NULL;
	struct prune_result pr;
	size_t n = 0, i;

	event(f->st, "frank", 15, T0);
	assert_int_equal(store_notify_fanout(f->st, T0 + 10, 10, route, NULL), 1);
	assert_int_equal(store_notify_claim(f->st, "A", T0 + 20, 1000, 10, &d, &n), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(store_notify_skipped(f->st, d[i].id, "A", T0 + 21, "note naming frank"), 0);
	store_notify_free(d, n);
	assert_int_equal(store_incident_set_state(f->st, 1, "resolved", "desk", NULL, bs_now_ms()), 0);
	assert_int_equal(store_prune(f->st, 0, bs_now_ms() + 86400000LL, 0, "test", bs_now_ms() + 1, &pr), 0);
	assert_int_equal(pr.incidents_anonymized, 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_deliveries WHERE subscriber = 'frank'"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_deliveries WHERE note IS NOT NULL"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fanout_and_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_defer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notice_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_follows, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
