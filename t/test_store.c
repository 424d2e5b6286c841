/*
 * test_store.c - the SQLite store on real files in a temporary folder:
 * opening, migrations, recording and correlating events, the outbox,
 * mitigation at level 3, state changes, listing, and pruning.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "correlate.h"
#include "store.h"
#include "store_fixture.h"
#include "store_sqlite_int.h"
#ifdef HAVE_POSTGRESQL
#include <libpq-fe.h>
#endif
#include "util.h"

/* Levels at 10, 30, 60; half-life one hour. */
static const struct score_settings pol = { .half_life_s = 3600.0, .level = { 10.0, 30.0, 60.0 }, .mitigation = "throttle" };
static const int64_t T0 = 1790000000000LL;      /* 2026-09-21 */

struct fx {
	char dir[64];
	char uri[128];
	struct store *st;
};

/* BS_TEST_STORE_URI=postgresql://... runs the backend-neutral tests against
 * that database (t/store_fixture.c); the SQLite-only tests (files, PRAGMAs,
 * the embedded SQLite migrations) skip themselves then. */
static int
is_pg(void)
{
	return tf_pg_uri() != NULL;
}

#define SQLITE_ONLY() do { if (is_pg()) skip(); } while (0)

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);

	if ((f->st = tf_open(f->dir, sizeof f->dir, f->uri, sizeof f->uri)) == NULL)
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
mkev(struct event *ev, int64_t ts, const char *sub, const char *source, const char *kind,
    double score, const char *ip)
{
	event_init(ev, ts, source, kind, score);
	event_set_subscriber(ev, sub);
	event_set_client_ip(ev, ip);
	event_set_node(ev, "mx1");
}

static int
record1(struct store *st, int64_t ts, const char *sub, const char *source, const char *kind,
    double score, const char *ip, struct record_result *r)
{
	struct event ev;
	int rc;

	mkev(&ev, ts, sub, source, kind, score, ip);
	rc = store_record_events(st, &pol, &ev, 1, r);
	if (rc != 0)
		fprintf(stderr, "record: %s\n", store_errmsg(st));
	event_clear(&ev);
	return rc;
}

struct notes {
	int n;
	char kind[8][16];
	int level[8];
	char idem[8][64];
	char payload[8][512];
};

static int
note_cb(void *ud, const struct notification *n)
{
	struct notes *ns = ud;

	if (ns->n < 8) {
		bs_strlcpy(ns->kind[ns->n], n->kind, sizeof ns->kind[0]);
		ns->level[ns->n] = n->level;
		bs_strlcpy(ns->idem[ns->n], n->idem_key, sizeof ns->idem[0]);
		bs_strlcpy(ns->payload[ns->n], n->payload, sizeof ns->payload[0]);
		assert_string_equal(n->channel, "");
		assert_string_equal(n->status, "pending");
	}
	ns->n++;
	return 0;
}

/* ---------------------------------------------------------------- open, migrate */

static void
test_open_errors(void **state)
{
	char err[512];

	assert_null(store_open("sqlite:/nonexistent-bs-dir/x/abuse.db", err, sizeof err));
	assert_non_null(strstr(err, "does not exist"));
	assert_null(store_open("mysql://x", err, sizeof err));
	assert_non_null(strstr(err, "unknown database URI"));
	assert_null(store_open("postgresql://127.0.0.1:1/x?connect_timeout=2", err, sizeof err));
	assert_non_null(strstr(err, "PostgreSQL"));
	assert_null(store_open("sqlite:", err, sizeof err));
	assert_null(store_open("", err, sizeof err));
}

static void
test_not_a_database(void **state)
{
	struct fx *f = *state;
	char path[128], uri[160], err[512];
	FILE *fp;

	SQLITE_ONLY();
	snprintf(path, sizeof path, "%s/junk.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not an SQLite file, it is a long line of text to be sure ...........\n", fp);
	fclose(fp);
	snprintf(uri, sizeof uri, "sqlite:%s", path);
	assert_null(store_open(uri, err, sizeof err));
	assert_non_null(strstr(err, "not a database"));
}

static void
test_file_mode(void **state)
{
	struct fx *f = *state;
	char path[128], uri[160], err[512];
	struct store *st;
	struct stat sb;
	mode_t old;

	SQLITE_ONLY();
	old = umask(0);
	snprintf(path, sizeof path, "%s/mode.db", f->dir);
	snprintf(uri, sizeof uri, "sqlite://%s", path);
	st = store_open(uri, err, sizeof err);
	umask(old);
	assert_non_null(st);
	assert_int_equal(store_migrate(st, NULL, NULL), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(path, sizeof path, "%s/mode.db-wal", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* the pragmas we rely on */
	assert_int_equal(q_int(st, "PRAGMA foreign_keys"), 1);
	assert_int_equal(q_int(st, "PRAGMA synchronous"), 1);      /* NORMAL */
	{
		char *m = q_text(st, "PRAGMA journal_mode");

		assert_string_equal(m, "wal");
		free(m);
	}
	store_close(st);
}

static void
test_migrate(void **state)
{
	struct fx *f = *state;
	char path[128], uri[160], err[512];
	struct store *st;
	int from = -1, to = -1, latest;

	SQLITE_ONLY();
	snprintf(path, sizeof path, "%s/m.db", f->dir);
	snprintf(uri, sizeof uri, "sqlite:%s", path);
	st = store_open(uri, err, sizeof err);
	assert_non_null(st);
	latest = store_schema_latest(st);
	assert_true(latest >= 1);
	assert_int_equal(store_schema_version(st), 0);
	assert_int_equal(store_migrate(st, &from, &to), 0);
	assert_int_equal(from, 0);
	assert_int_equal(to, latest);
	assert_int_equal(store_schema_version(st), latest);
	/* twice: a no-op */
	assert_int_equal(store_migrate(st, &from, &to), 0);
	assert_int_equal(from, latest);
	assert_int_equal(to, latest);
	assert_int_equal(q_int(st, "SELECT count(*) FROM schema_version"), latest);
	store_close(st);

	/* an old database at version 1 is brought up to date */
	snprintf(path, sizeof path, "%s/old.db", f->dir);
	snprintf(uri, sizeof uri, "sqlite:%s", path);
	st = store_open(uri, err, sizeof err);
	assert_non_null(st);
	assert_int_equal(sq_migrate_to(st, 1, &from, &to), 0);
	assert_int_equal(to, 1);
	assert_int_equal(store_schema_version(st), 1);
	store_close(st);
	st = store_open(uri, err, sizeof err);
	assert_non_null(st);
	assert_int_equal(store_migrate(st, &from, &to), 0);
	assert_int_equal(from, 1);
	assert_int_equal(to, latest);
	assert_int_equal(store_schema_version(st), latest);

	/* a database newer than the build is refused, not touched */
	assert_int_equal(sq_exec(st, "INSERT INTO schema_version VALUES (999, 0)", "t"), 0);
	assert_int_equal(store_migrate(st, &from, &to), STORE_ERR);
	assert_non_null(strstr(store_errmsg(st), "newer"));
	store_close(st);
}

struct mig_arg {
	const char *uri;
	int rc;
};

static void *
mig_thread(void *p)
{
	struct mig_arg *a = p;
	char err[512];
	struct store *st = store_open(a->uri, err, sizeof err);

	a->rc = st != NULL ? store_migrate(st, NULL, NULL) : -2;
	if (a->rc != 0 && st != NULL)
		fprintf(stderr, "migrate: %s\n", store_errmsg(st));
	store_close(st);
	return NULL;
}

/* Two programs initialising one new file at once: each migration once. */
static void
test_migrate_race(void **state)
{
	struct fx *f = *state;
	char uri[160];
	struct mig_arg a[4];
	pthread_t t[4];
	int i;

	SQLITE_ONLY();
	snprintf(uri, sizeof uri, "sqlite:%s/race.db", f->dir);
	for (i = 0; i < 4; i++) {
		a[i].uri = uri;
		a[i].rc = -3;
		assert_int_equal(pthread_create(&t[i], NULL, mig_thread, &a[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].rc, 0);
	}
	{
		char err[512];
		struct store *st = store_open(uri, err, sizeof err);

		assert_non_null(st);
		assert_int_equal(store_schema_version(st), store_schema_latest(st));
		assert_int_equal(q_int(st, "SELECT count(*) FROM schema_version"), store_schema_latest(st));
		store_close(st);
	}
}

static void
test_migrations_sorted(void **state)
{
	int i;

	SQLITE_ONLY();
	assert_int_equal(store_sqlite_migrations[0].version, 1);
	for (i = 0; i < store_sqlite_migrations_n; i++)
		assert_int_equal(store_sqlite_migrations[i].version, i + 1);
	assert_null(store_sqlite_migrations[store_sqlite_migrations_n].sql);
}

/* ---------------------------------------------------------------- correlation */

static void
test_two_sources_one_incident(void **state)
{
	struct fx *f = *state;
	struct record_result r1, r2;
	struct incident inc;
	struct notes ns;
	double want;

	assert_int_equal(record1(f->st, T0, "alice", "milter", "rate", 15, "100.64.1.10", &r1), 0);
	assert_true(r1.new_incident);
	assert_int_equal(r1.level_before, 0);
	assert_int_equal(r1.level_after, 1);
	assert_float_equal(r1.score, 15.0, 1e-9);

	assert_int_equal(record1(f->st, T0 + 60000, "alice", "flow", "direct_mx", 20, "100.64.1.10", &r2), 0);
	assert_false(r2.new_incident);
	assert_int_equal(r2.incident_id, r1.incident_id);
	want = 15.0 * exp2(-60.0 / 3600.0) + 20.0;
	assert_float_equal(r2.score, want, 1e-9);
	assert_int_equal(r2.level_before, 1);
	assert_int_equal(r2.level_after, 2);

	assert_int_equal(store_incident_get(f->st, r1.incident_id, &inc), 0);
	assert_string_equal(inc.subscriber, "alice");
	assert_string_equal(inc.state, "open");
	assert_int_equal(inc.level, 2);
	assert_int_equal(inc.event_count, 2);
	assert_string_equal(inc.kinds, "direct_mx,rate");
	assert_string_equal(inc.sources, "flow,milter");
	assert_int_equal(inc.opened_ms, T0);
	assert_int_equal(inc.updated_ms, T0 + 60000);
	assert_int_equal(inc.score_ms, T0 + 60000);
	assert_int_equal(inc.closed_ms, 0);
	assert_float_equal(inc.score, want, 1e-9);
	incident_clear(&inc);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM incidents"), 1);

	/* one outbox row per level change */
	memset(&ns, 0, sizeof ns);
	assert_int_equal(store_incident_notifications(f->st, r1.incident_id, note_cb, &ns), 0);
	assert_int_equal(ns.n, 2);
	assert_string_equal(ns.kind[0], "new");
	assert_int_equal(ns.level[0], 1);
	assert_string_equal(ns.kind[1], "update");
	assert_int_equal(ns.level[1], 2);
	{
		char k[64];

		snprintf(k, sizeof k, "inc-%lld-lvl-2", (long long)r1.incident_id);
		assert_string_equal(ns.idem[1], k);
	}
	assert_non_null(strstr(ns.payload[1], "\"kinds\":[\"direct_mx\",\"rate\"]"));
	assert_non_null(strstr(ns.payload[1], "\"subscriber\":\"alice\""));
	assert_non_null(strstr(ns.payload[1], "\"level\":2"));

	/* a third event that does not change the level adds no row */
	assert_int_equal(record1(f->st, T0 + 61000, "alice", "milter", "rate", 1, "", &r2), 0);
	assert_int_equal(r2.level_after, 2);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notifications"), 2);
}

static int
mit_cb(void *ud, const char *sub, const char *action)
{
	char *out = ud;

	strcat(out, sub);
	strcat(out, "=");
	strcat(out, action);
	strcat(out, ";");
	return 0;
}

static void
test_level3_mitigation(void **state)
{
	struct fx *f = *state;
	struct record_result r;
	struct subscriber s;
	struct notes ns;
	char list[256] = "";

	assert_int_equal(store_subscriber_upsert(f->st, "bob", "bob@example.net", "Bob"), 0);
	/* straight to level 3 from nothing: 'new' at level 3, then mitigation */
	assert_int_equal(record1(f->st, T0, "bob", "milter", "fanout", 65, "", &r), 0);
	assert_int_equal(r.level_after, 3);
	memset(&ns, 0, sizeof ns);
	assert_int_equal(store_incident_notifications(f->st, r.incident_id, note_cb, &ns), 0);
	assert_int_equal(ns.n, 2);
	assert_string_equal(ns.kind[0], "new");
	assert_int_equal(ns.level[0], 3);
	assert_string_equal(ns.kind[1], "mitigation");
	assert_non_null(strstr(ns.payload[1], "\"mitigation\":\"throttle\""));

	assert_int_equal(store_subscriber_get(f->st, "bob", &s), 0);
	assert_string_equal(s.mitigation, "throttle");
	assert_string_equal(s.mitigation_by, "correlation");
	assert_string_equal(s.email, "bob@example.net");
	assert_true(s.mitigation_since > 0);
	subscriber_clear(&s);
	assert_int_equal(q_int(f->st,
	    "SELECT count(*) FROM audit WHERE actor = 'correlation' AND action = 'mitigation' AND object = 'bob'"), 1);

	/* a subscriber without a row gets one */
	assert_int_equal(record1(f->st, T0, "carol", "flow", "direct_mx", 100, "", &r), 0);
	assert_int_equal(store_subscriber_get(f->st, "carol", &s), 0);
	assert_string_equal(s.mitigation, "throttle");
	subscriber_clear(&s);

	/* never lowered: a desk 'reject' stays when correlation reaches 3 again */
	assert_int_equal(store_subscriber_set_mitigation(f->st, "dave", "reject", "desk", T0), 0);
	assert_int_equal(record1(f->st, T0, "dave", "milter", "rate", 100, "", &r), 0);
	assert_int_equal(store_subscriber_get(f->st, "dave", &s), 0);
	assert_string_equal(s.mitigation, "reject");
	assert_string_equal(s.mitigation_by, "desk");
	subscriber_clear(&s);

	assert_int_equal(store_mitigations_each(f->st, mit_cb, list), 0);
	assert_string_equal(list, "bob=throttle;carol=throttle;dave=reject;");
	assert_int_equal(store_subscriber_set_mitigation(f->st, "dave", "nuke", "desk", T0), STORE_ERR);
	assert_int_equal(store_subscriber_get(f->st, "nobody", &s), STORE_NOTFOUND);
}

static void
test_monitor_policy(void **state)
{
	struct fx *f = *state;
	struct score_settings p = pol;
	struct record_result r;
	struct event ev;

	bs_strlcpy(p.mitigation, "monitor", sizeof p.mitigation);
	mkev(&ev, T0, "erin", "milter", "rate", 100, "");
	assert_int_equal(store_record_events(f->st, &p, &ev, 1, &r), 0);
	assert_int_equal(r.level_after, 3);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM subscribers WHERE id = 'erin'"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notifications WHERE kind = 'mitigation'"), 0);
}

static void
test_unattributed(void **state)
{
	struct fx *f = *state;
	struct record_result r, r2;
	struct incident inc;

	assert_int_equal(record1(f->st, T0, "", "flow", "direct_mx", 12, "192.0.2.7", &r), 0);
	assert_true(r.new_incident);
	assert_int_equal(store_incident_get(f->st, r.incident_id, &inc), 0);
	assert_string_equal(inc.subscriber, "ip:192.0.2.7");
	incident_clear(&inc);
	assert_int_equal(record1(f->st, T0 + 1, "", "milter", "helo", 1, "192.0.2.7", &r2), 0);
	assert_int_equal(r2.incident_id, r.incident_id);
	/* another IP: another incident */
	assert_int_equal(record1(f->st, T0 + 1, "", "milter", "helo", 1, "192.0.2.8", &r2), 0);
	assert_true(r2.incident_id != r.incident_id);
	/* no subscriber and no IP: recorded, not correlated */
	assert_int_equal(record1(f->st, T0 + 2, "", "milter", "helo", 5, "", &r2), 0);
	assert_true(r2.event_id > 0);
	assert_int_equal(r2.incident_id, 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events WHERE incident_id IS NULL"), 1);
}

static void
test_zero_score(void **state)
{
	struct fx *f = *state;
	struct record_result r, r2;
	struct incident inc;

	/* alone: recorded, opens nothing */
	assert_int_equal(record1(f->st, T0, "frank", "milter", "info", 0, "", &r), 0);
	assert_true(r.event_id > 0);
	assert_int_equal(r.incident_id, 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM incidents"), 0);
	/* with an active incident: joins it, score unchanged */
	assert_int_equal(record1(f->st, T0, "frank", "milter", "rate", 5, "", &r), 0);
	assert_int_equal(record1(f->st, T0, "frank", "logwatch", "info", 0, "", &r2), 0);
	assert_int_equal(r2.incident_id, r.incident_id);
	assert_float_equal(r2.score, 5.0, 1e-12);
	assert_int_equal(store_incident_get(f->st, r.incident_id, &inc), 0);
	assert_int_equal(inc.event_count, 2);
	assert_string_equal(inc.kinds, "info,rate");
	assert_int_equal(inc.level, 0);
	incident_clear(&inc);
	/* level 0 incidents enqueue nothing */
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notifications"), 0);
}

static void
test_out_of_order(void **state)
{
	struct fx *f = *state;
	struct record_result r;

	assert_int_equal(record1(f->st, T0 + 3600000, "gina", "milter", "rate", 8, "", &r), 0);
	/* an hour earlier: added without decay, never decays "backwards" */
	assert_int_equal(record1(f->st, T0, "gina", "flow", "direct_mx", 8, "", &r), 0);
	assert_float_equal(r.score, 16.0, 1e-12);
	assert_int_equal(r.level_after, 1);
	assert_int_equal(q_int(f->st, "SELECT score_ms FROM incidents"), T0 + 3600000);
	/* and an event two hours later decays from the latest time */
	assert_int_equal(record1(f->st, T0 + 3 * 3600000LL, "gina", "flow", "direct_mx", 0.5, "", &r), 0);
	assert_float_equal(r.score, 4.5, 1e-9);
	/* the level never drops while open */
	assert_int_equal(r.level_after, 1);
}

static void
test_closed_opens_new(void **state)
{
	struct fx *f = *state;
	struct record_result r, r2;
	struct notes ns;

	assert_int_equal(record1(f->st, T0, "hank", "milter", "rate", 35, "", &r), 0);
	assert_int_equal(store_incident_set_state(f->st, r.incident_id, "notified", "notifyd", NULL, T0 + 1), 0);
	assert_int_equal(store_incident_set_state(f->st, r.incident_id, "open", "desk", NULL, T0 + 2), STORE_ERR);
	assert_non_null(strstr(store_errmsg(f->st), "cannot go from notified to open"));
	assert_int_equal(store_incident_set_state(f->st, r.incident_id, "acknowledged", "desk", "calling", T0 + 3), 0);
	assert_int_equal(store_incident_set_state(f->st, r.incident_id, "resolved", "desk", "cleaned", T0 + 4), 0);
	assert_int_equal(store_incident_set_state(f->st, r.incident_id, "false_positive", "desk", NULL, T0 + 5), STORE_ERR);
	assert_int_equal(store_incident_set_state(f->st, 99999, "resolved", "desk", NULL, T0 + 5), STORE_NOTFOUND);
	assert_int_equal(q_int(f->st, "SELECT closed_ms FROM incidents"), T0 + 4);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM audit WHERE action = 'incident.state'"), 3);
	memset(&ns, 0, sizeof ns);
	assert_int_equal(store_incident_notifications(f->st, r.incident_id, note_cb, &ns), 0);
	assert_int_equal(ns.n, 2);              /* new (straight to 2), resolved */
	assert_string_equal(ns.kind[0], "new");
	assert_int_equal(ns.level[0], 2);
	assert_string_equal(ns.kind[1], "resolved");

	/* the next event opens a new incident, starting from zero */
	assert_int_equal(record1(f->st, T0 + 10, "hank", "milter", "rate", 11, "", &r2), 0);
	assert_true(r2.new_incident);
	assert_true(r2.incident_id != r.incident_id);
	assert_float_equal(r2.score, 11.0, 1e-12);
	assert_int_equal(r2.level_before, 0);
	assert_int_equal(r2.level_after, 1);

	/* a ticket */
	assert_int_equal(store_incident_set_ticket(f->st, r2.incident_id, "RT#42"), 0);
	assert_int_equal(store_incident_set_ticket(f->st, 424242, "RT#43"), STORE_NOTFOUND);
}

static void
test_one_active(void **state)
{
	struct fx *f = *state;
	struct event evs[20];
	struct record_result res[20];
	int i;

	/* a batch of events for one subscriber: one incident */
	for (i = 0; i < 20; i++)
		mkev(&evs[i], T0 + i * 1000, i % 2 ? "ivan" : "judy", i % 3 ? "milter" : "flow",
		    "rate", 4, "");
	assert_int_equal(store_record_events(f->st, &pol, evs, 20, res), 0);
	for (i = 0; i < 20; i++)
		event_clear(&evs[i]);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM incidents"), 2);
	assert_int_equal(q_int(f->st, "SELECT sum(event_count) FROM incidents"), 20);
	assert_int_equal(res[19].incident_id, res[1].incident_id);
	/* the schema itself refuses a second active incident ... */
	assert_int_equal(t_exec(f->st,
	    "INSERT INTO incidents (subscriber, state, score_ms, opened_ms, updated_ms) "
	    "VALUES ('ivan', 'acknowledged', 0, 0, 0)"), STORE_ERR);
	assert_non_null(strstr(store_errmsg(f->st), is_pg() ? "unique" : "UNIQUE"));
	/* ... but not a closed one */
	assert_int_equal(t_exec(f->st,
	    "INSERT INTO incidents (subscriber, state, score_ms, opened_ms, updated_ms, closed_ms) "
	    "VALUES ('ivan', 'resolved', 0, 0, 0, 0)"), 0);
}

/* A batch is stored as if its events had been recorded one at a time
 * (the PostgreSQL backend correlates a batch in memory and writes it in a
 * few statements): the same incidents, levels, scores, notifications and
 * mitigations, the same event rows, ids rising in batch order.  The batch
 * and the one-at-a-time run use their own subscribers (prefixes A and B). */
#define NB 48
static void
batch_events(struct event *evs, char who, const char *ip)
{
	static const char *const kinds[] = { "rate", "helo", "direct_mx", "fanout" };
	char sub[64];
	int i;

	for (i = 0; i < NB; i++) {
		int k = i % 4;
		double score = i < 3 ? 0 : 3.5 + (i % 5);     /* score-0 events first */
		const char *who_s = k == 0 ? "x" : k == 1 ? "y" : k == 2 ? "q\"uo,te{}\\" : NULL;

		if (who_s != NULL)
			snprintf(sub, sizeof sub, "%c-%s", who, who_s);
		else
			sub[0] = '\0';                         /* unattributed: keyed by ip */
		mkev(&evs[i], T0 + i * 1000, who_s != NULL ? sub : "", i % 2 ? "milter" : "flow",
		    kinds[(i / 4) % 4], score, who_s != NULL ? "100.64.0.9" : ip);
		evs[i].evidence = xasprintf("{\"n\":%d,\"helo\":\"a\\\"b\\\\c{,}\",\"u\":\"\xc3\xa9\"}", i);
	}
}

static char *
incident_row(struct store *st, int64_t id)
{
	char sql[512];

	snprintf(sql, sizeof sql, "SELECT level || '|' || score || '|' || score_ms || '|' || "
	    "opened_ms || '|' || updated_ms || '|' || event_count || '|' || kinds || '|' || "
	    "sources || '|' || state FROM incidents WHERE id = %lld", (long long)id);
	return q_text(st, sql);
}

static char *
incident_notes(struct store *st, int64_t id)
{
	char sql[256];

	snprintf(sql, sizeof sql, "SELECT count(*) || ':' || coalesce(sum(level), 0) || ':' || "
	    "coalesce(max(level), 0) FROM notifications WHERE incident_id = %lld", (long long)id);
	return q_text(st, sql);
}

static void
test_batch_as_one_by_one(void **state)
{
	struct fx *f = *state;
	struct event a[NB], b[NB];
	struct record_result ra[NB], rb[NB];
	char sql[256];
	int i, j;

	batch_events(a, 'A', "198.51.100.7");
	batch_events(b, 'B', "198.51.100.8");
	assert_int_equal(store_record_events(f->st, &pol, a, NB, ra), 0);
	for (i = 0; i < NB; i++)
		assert_int_equal(store_record_events(f->st, &pol, &b[i], 1, &rb[i]), 0);
	for (i = 0; i < NB; i++) {
		char *ea, *eb;

		assert_int_equal(ra[i].new_incident, rb[i].new_incident);
		assert_int_equal(ra[i].level_before, rb[i].level_before);
		assert_int_equal(ra[i].level_after, rb[i].level_after);
		assert_float_equal(ra[i].score, rb[i].score, 1e-9);
		assert_int_equal(ra[i].incident_id == 0, rb[i].incident_id == 0);
		assert_true(ra[i].event_id > 0);
		if (i > 0)
			assert_true(ra[i].event_id > ra[i - 1].event_id);
		for (j = 0; j < i; j++)            /* the same grouping into incidents */
			assert_int_equal(ra[i].incident_id == ra[j].incident_id,
			    rb[i].incident_id == rb[j].incident_id);
		/* the event row, as given (the evidence byte for byte) */
		snprintf(sql, sizeof sql, "SELECT kind || '|' || source || '|' || ts_ms || '|' || "
		    "client_ip || '|' || evidence FROM events WHERE id = %lld", (long long)ra[i].event_id);
		ea = q_text(f->st, sql);
		snprintf(sql, sizeof sql, "SELECT kind || '|' || source || '|' || ts_ms || '|' || "
		    "client_ip || '|' || evidence FROM events WHERE id = %lld", (long long)rb[i].event_id);
		eb = q_text(f->st, sql);
		assert_non_null(strstr(ea, a[i].evidence));
		if (a[i].subscriber[0] != '\0')          /* the unattributed differ by IP */
			assert_string_equal(ea, eb);
		free(ea);
		free(eb);
		snprintf(sql, sizeof sql, "SELECT subscriber FROM events WHERE id = %lld",
		    (long long)ra[i].event_id);
		ea = q_text(f->st, sql);
		assert_string_equal(ea, a[i].subscriber);
		free(ea);
		if (ra[i].incident_id != 0) {
			char *ia = incident_row(f->st, ra[i].incident_id);
			char *ib = incident_row(f->st, rb[i].incident_id);
			assert_string_equal(ia, ib);
			free(ia);
			free(ib);
			ia = incident_notes(f->st, ra[i].incident_id);
			ib = incident_notes(f->st, rb[i].incident_id);
			assert_string_equal(ia, ib);
			free(ia);
			free(ib);
		}
	}
	/* the batch did reach level 3 (a mitigation) and left score-0 events out */
	assert_int_equal(ra[0].incident_id, 0);
	assert_int_equal(ra[NB - 4].level_after, 3);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM subscribers WHERE id = 'A-x' AND "
	    "mitigation = 'throttle'"), 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM subscribers WHERE id = 'B-x' AND "
	    "mitigation = 'throttle'"), 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM incidents"), 8);
	for (i = 0; i < NB; i++) {
		event_clear(&a[i]);
		event_clear(&b[i]);
	}
}

/* A batch key is recorded at most once: the retry of a batch whose COMMIT
 * went through (its answer lost) stores nothing. */
static void
test_batch_once(void **state)
{
	struct fx *f = *state;
	struct event evs[3];
	struct record_result res[3];
	int i, already = -1;

	for (i = 0; i < 3; i++)
		mkev(&evs[i], T0 + i, "once", "milter", "rate", 5, "");
	assert_int_equal(store_record_events_once(f->st, &pol, "w1-7", evs, 3, res, &already), 0);
	assert_int_equal(already, 0);
	assert_true(res[2].event_id > 0);
	assert_int_equal(res[2].replayed, 0);
	assert_int_equal(store_record_events_once(f->st, &pol, "w1-7", evs, 3, res, &already), 0);
	assert_int_equal(already, 1);
	assert_int_equal(res[2].event_id, 0);
	assert_int_equal(res[0].replayed + res[1].replayed + res[2].replayed, 3);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events"), 3);
	assert_int_equal(q_int(f->st, "SELECT event_count FROM incidents"), 3);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM event_batches"), 1);
	/* another key records; no key (the CLI's events) always records */
	assert_int_equal(store_record_events_once(f->st, &pol, "w1-8", evs, 3, res, &already), 0);
	assert_int_equal(already, 0);
	assert_int_equal(store_record_events(f->st, &pol, evs, 1, res), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events"), 7);
	/* a key that came with a failed batch is not kept */
	evs[1].score = NAN;
	assert_int_equal(store_record_events_once(f->st, &pol, "w1-9", evs, 3, res, &already), STORE_ERR);
	evs[1].score = 5;
	assert_int_equal(store_record_events_once(f->st, &pol, "w1-9", evs, 3, res, &already), 0);
	assert_int_equal(already, 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events"), 10);
	for (i = 0; i < 3; i++)
		event_clear(&evs[i]);
}

/* A batch as large as queue.batch_size allows, every event its own
 * subscriber: PostgreSQL cannot hold a lock per key for that many (its
 * shared lock table has 6400 slots by default), so such a batch locks out
 * the others instead; it is recorded, and small batches still are after it. */
static void
test_batch_many_keys(void **state)
{
	enum { MANY = 20000 };
	struct fx *f = *state;
	struct event *evs = xcalloc(MANY, sizeof *evs);
	struct record_result *res = xcalloc(MANY, sizeof *res);
	char sub[32];
	int i, already = -1;

	for (i = 0; i < MANY; i++) {
		snprintf(sub, sizeof sub, "many-%05d", i);
		mkev(&evs[i], T0 + i, sub, "milter", "rate", 5, "");
	}
	assert_int_equal(store_record_events_once(f->st, &pol, "w1-many", evs, MANY, res, &already), 0);
	assert_int_equal(already, 0);
	assert_true(res[MANY - 1].new_incident);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM incidents WHERE event_count = 1"), MANY);
	assert_int_equal(q_int(f->st, "SELECT count(DISTINCT subscriber) FROM events"), MANY);
	/* a small batch of the same subscribers after it joins their incidents */
	assert_int_equal(store_record_events(f->st, &pol, &evs[MANY - 3], 3, res), 0);
	assert_false(res[2].new_incident);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM incidents WHERE event_count = 2"), 3);
	if (is_pg()) {
		/* another host's batch holds the batch-wide lock and goes silent:
		 * small batches go on beside it; a large one gives up after 10 s
		 * (a transient failure, retried) rather than stop everyone */
		char err[256];
		struct store *other = store_open(f->uri, err, sizeof err);
		int64_t t;

		assert_non_null(other);
		assert_int_equal(t_exec(other, "BEGIN; SELECT pg_advisory_xact_lock_shared(29310, 1)"), 0);
		assert_int_equal(store_record_events(f->st, &pol, &evs[0], 3, res), 0);
		t = bs_mono_ms();
		assert_int_equal(store_record_events(f->st, &pol, evs, MANY, res), STORE_ERR);
		assert_true(store_error_transient(f->st));
		assert_in_range(bs_mono_ms() - t, 9000, 30000);
		assert_non_null(strstr(store_errmsg(f->st), "lock timeout"));
		assert_int_equal(t_exec(other, "ROLLBACK"), 0);
		/* a silent host holding it exclusively: a small batch gives up
		 * after 10 s too, rather than wait for the server to notice */
		assert_int_equal(t_exec(other, "BEGIN; SELECT pg_advisory_xact_lock(29310, 1)"), 0);
		t = bs_mono_ms();
		assert_int_equal(store_record_events(f->st, &pol, &evs[0], 3, res), STORE_ERR);
		assert_true(store_error_transient(f->st));
		assert_in_range(bs_mono_ms() - t, 9000, 30000);
		assert_int_equal(t_exec(other, "ROLLBACK"), 0);
		store_close(other);
		assert_int_equal(store_record_events(f->st, &pol, evs, MANY, res), 0);
		/* the first three and the last three had two events each */
		assert_int_equal(q_int(f->st, "SELECT count(*) FROM incidents WHERE event_count = 3"), 6);
		/* the lock timeout was the batch's own */
		assert_int_equal(q_int(f->st, "SELECT count(*) FROM pg_settings WHERE name = 'lock_timeout' "
		    "AND setting = reset_val"), 1);
	}
	for (i = 0; i < MANY; i++)
		event_clear(&evs[i]);
	free(evs);
	free(res);
}

static void
test_all_or_nothing(void **state)
{
	struct fx *f = *state;
	struct event evs[3];
	int i;

	/* make the third event fail inside the transaction */
	if (is_pg())
		assert_int_equal(t_exec(f->st,
		    "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
		    "$$BEGIN RAISE EXCEPTION 'boom'; END$$; "
		    "CREATE TRIGGER boom BEFORE INSERT ON events FOR EACH ROW "
		    "WHEN (new.kind = 'boom') EXECUTE FUNCTION boom()"), 0);
	else
		assert_int_equal(sq_exec(f->st,
		    "CREATE TEMP TRIGGER boom BEFORE INSERT ON events WHEN new.kind = 'boom' "
		    "BEGIN SELECT RAISE(ABORT, 'boom'); END", "t"), 0);
	mkev(&evs[0], T0, "kate", "milter", "rate", 50, "");
	mkev(&evs[1], T0, "leo", "milter", "rate", 70, "");
	mkev(&evs[2], T0, "kate", "milter", "boom", 1, "");
	assert_int_equal(store_record_events(f->st, &pol, evs, 3, NULL), STORE_ERR);
	assert_non_null(strstr(store_errmsg(f->st), "boom"));
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM incidents"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notifications"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM subscribers"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM audit"), 0);
	/* a score that is not a number is refused, not stored as NULL */
	mkev(&evs[2], T0, "kate", "milter", "rate", NAN, "");
	assert_int_equal(store_record_events(f->st, &pol, &evs[2], 1, NULL), STORE_ERR);
	assert_false(store_error_transient(f->st));
	assert_non_null(strstr(store_errmsg(f->st), "not a finite number"));
	evs[2].score = -1;
	assert_int_equal(store_record_events(f->st, &pol, &evs[2], 1, NULL), STORE_ERR);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events"), 0);
	/* and the handle is usable afterwards */
	assert_int_equal(store_record_events(f->st, &pol, evs, 2, NULL), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events"), 2);
	for (i = 0; i < 3; i++)
		event_clear(&evs[i]);

	/* a caller's transaction rolls the recording back */
	mkev(&evs[0], T0, "mike", "milter", "rate", 50, "");
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_record_events(f->st, &pol, evs, 1, NULL), 0);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events WHERE subscriber = 'mike'"), 0);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_record_events(f->st, &pol, evs, 1, NULL), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events WHERE subscriber = 'mike'"), 1);
	event_clear(&evs[0]);
}

struct ids {
	int n;
	int64_t id[16];
};

static int
ids_cb(void *ud, const struct incident *inc)
{
	struct ids *x = ud;

	if (x->n < 16)
		x->id[x->n] = inc->id;
	x->n++;
	return 0;
}

static int
stop_cb(void *ud, const struct incident *inc)
{
	return 7;
}

static int
ev_cb(void *ud, const struct stored_event *e)
{
	int *n = ud;

	assert_string_equal(e->ev.node, "mx1");
	assert_non_null(e->ev.evidence);
	(*n)++;
	return 0;
}

static void
test_list(void **state)
{
	struct fx *f = *state;
	struct record_result a, b, c;
	struct incident_filter flt;
	struct ids x;
	int n = 0;

	assert_int_equal(record1(f->st, T0, "a1", "milter", "rate", 5, "", &a), 0);
	assert_int_equal(record1(f->st, T0 + 1000, "a2", "flow", "direct_mx", 40, "", &b), 0);
	assert_int_equal(record1(f->st, T0 + 2000, "a3", "milter", "sender_forgery", 15, "", &c), 0);
	assert_int_equal(record1(f->st, T0 + 3000, "a3", "milter", "rate", 1, "", &c), 0);
	assert_int_equal(store_incident_set_state(f->st, a.incident_id, "false_positive", "desk", NULL, T0), 0);

	memset(&flt, 0, sizeof flt);
	memset(&x, 0, sizeof x);
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), 0);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.id[0], a.incident_id);

	flt.state = "active";
	memset(&x, 0, sizeof x);
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), 0);
	assert_int_equal(x.n, 2);

	flt.state = "false_positive";
	memset(&x, 0, sizeof x);
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), 0);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.id[0], a.incident_id);

	memset(&flt, 0, sizeof flt);
	flt.kind = "rate";       /* kinds held as a set: matches whole names only */
	memset(&x, 0, sizeof x);
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), 0);
	assert_int_equal(x.n, 2);
	flt.kind = "rat";
	memset(&x, 0, sizeof x);
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), 0);
	assert_int_equal(x.n, 0);

	memset(&flt, 0, sizeof flt);
	flt.source = "flow";
	flt.min_level = 2;
	memset(&x, 0, sizeof x);
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), 0);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.id[0], b.incident_id);

	memset(&flt, 0, sizeof flt);
	flt.sort = "score";
	flt.descending = 1;
	flt.limit = 2;
	memset(&x, 0, sizeof x);
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), 0);
	assert_int_equal(x.n, 2);
	assert_int_equal(x.id[0], b.incident_id);
	assert_int_equal(x.id[1], c.incident_id);

	memset(&flt, 0, sizeof flt);
	flt.since_ms = T0 + 1000;
	flt.until_ms = T0 + 2000;
	flt.subscriber = "a2";
	memset(&x, 0, sizeof x);
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), 0);
	assert_int_equal(x.n, 1);

	flt.sort = "color";
	assert_int_equal(store_incidents_list(f->st, &flt, ids_cb, &x), STORE_ERR);
	assert_int_equal(store_incidents_list(f->st, NULL, stop_cb, NULL), 7);

	assert_int_equal(store_incident_events(f->st, c.incident_id, ev_cb, &n), 0);
	assert_int_equal(n, 2);
}

static void
test_prune(void **state)
{
	struct fx *f = *state;
	struct record_result old_closed, old_active, recent;
	struct prune_result pr;
	struct incident inc;
	const int64_t day = 86400000LL;

	assert_int_equal(record1(f->st, T0 - 40 * day, "olga", "milter", "rate", 35, "100.64.0.1", &old_closed), 0);
	assert_int_equal(store_incident_set_ticket(f->st, old_closed.incident_id, "RT#1"), 0);
	assert_int_equal(store_incident_set_state(f->st, old_closed.incident_id, "resolved", "desk", NULL,
	    T0 - 35 * day), 0);
	assert_int_equal(record1(f->st, T0 - 40 * day, "pete", "milter", "rate", 35, "", &old_active), 0);
	assert_int_equal(record1(f->st, T0 - 40 * day, "", "milter", "helo", 0, "", &recent), 0);
	assert_int_equal(record1(f->st, T0 - 1 * day, "quin", "milter", "rate", 5, "", &recent), 0);
	/* an active incident that stayed at level 0: its old event goes */
	assert_int_equal(record1(f->st, T0 - 40 * day, "rosa", "milter", "helo", 1, "", &recent), 0);
	assert_int_equal(record1(f->st, T0 - 1 * day, "rosa", "milter", "helo", 1, "", &recent), 0);

	/* what notifyd and the lease import leave behind */
	assert_int_equal(t_exec(f->st, "INSERT INTO notify_notices (subscriber, last_ms, last_key, count) "
	    "VALUES ('olga', 1787000000000, 'k', 1), ('quin', 1789999000000, 'k', 1)"), 0);
	{
		/* told 31 days ago: older than the events kept, but within a
		 * 32-day notify.subscriber_interval */
		char sql[256];
		snprintf(sql, sizeof sql, "INSERT INTO notify_notices (subscriber, last_ms, last_key, count) "
		    "VALUES ('tess', %lld, 'k', 1)", (long long)(T0 - 31 * day));
		assert_int_equal(t_exec(f->st, sql), 0);
	}
	{
		char sql[512];
		snprintf(sql, sizeof sql, "INSERT INTO notify_deliveries (notification_id, incident_id, "
		    "subscriber, channel, kind, level, status, created_ms, next_attempt_ms, note, "
		    "last_error, idem_key) SELECT id, incident_id, subscriber, 'email', kind, level, "
		    "'sent', 0, 0, 'to olga@example.net', 'olga@example.net: 550', idem_key || '-email' "
		    "FROM notifications WHERE incident_id = %lld", (long long)old_closed.incident_id);
		assert_int_equal(t_exec(f->st, sql), 0);
	}
	{
		struct lease l[2];
		memset(l, 0, sizeof l);
		bs_strlcpy(l[0].prefix, "100.64.0.1/32", sizeof l[0].prefix);
		bs_strlcpy(l[0].subscriber, "olga", sizeof l[0].subscriber);
		l[0].valid_from = T0 - 50 * day;
		l[0].valid_to = T0 - 31 * day;           /* ended before the events kept */
		bs_strlcpy(l[0].source, "kea", sizeof l[0].source);
		l[1] = l[0];
		l[1].valid_to = T0 - 29 * day;           /* still covers a kept time */
		assert_int_equal(store_leases_add(f->st, l, 2), 0);
	}

	assert_int_equal(store_prune(f->st, T0 - 30 * day, T0 - 30 * day, T0 - 32 * day, "tester", T0, &pr), 0);
	assert_int_equal(pr.deliveries_anonymized, 2);     /* its new and its update */
	assert_int_equal(pr.notices_deleted, 1);
	assert_int_equal(pr.leases_deleted, 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_deliveries WHERE subscriber = 'olga' "
	    "OR note LIKE '%olga%' OR last_error LIKE '%olga%'"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_notices WHERE subscriber = 'olga'"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_notices WHERE subscriber = 'quin'"), 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_notices WHERE subscriber = 'tess'"), 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM leases"), 1);
	/* olga's event (anonymized incident), the uncorrelated one, rosa's old one */
	assert_int_equal(pr.events_deleted, 3);
	assert_int_equal(pr.incidents_anonymized, 1);
	/* pete's incident is still active at level 2: its old event stays */
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events"), 3);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events WHERE subscriber = 'pete'"), 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events WHERE subscriber = 'rosa'"), 1);
	assert_int_equal(q_int(f->st, "SELECT event_count FROM incidents WHERE subscriber = 'rosa'"), 2);
	assert_int_equal(store_incident_get(f->st, old_closed.incident_id, &inc), 0);
	{
		char want[64];

		snprintf(want, sizeof want, "anonymized-%lld", (long long)old_closed.incident_id);
		assert_string_equal(inc.subscriber, want);
	}
	assert_null(inc.ticket);
	assert_int_equal(inc.level, 2);           /* statistics stay */
	assert_string_equal(inc.kinds, "rate");
	incident_clear(&inc);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notifications WHERE subscriber = 'olga' "
	    "OR payload LIKE '%olga%'"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM audit WHERE action = 'prune' AND actor = 'tester' "
	    "AND detail LIKE '%events_deleted=3 incidents_anonymized=1 deliveries_anonymized=2 "
	    "notices_deleted=1 leases_deleted=1%'"), 1);
	/* no event is left pointing nowhere */
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM events e WHERE incident_id IS NOT NULL AND "
	    "NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = e.incident_id)"), 0);
	/* again, with a notice interval shorter than the events kept: no
	 * more events, and the notice times go with the events' cutoff */
	assert_int_equal(store_prune(f->st, T0 - 30 * day, T0 - 30 * day, T0, "tester", T0, &pr), 0);
	assert_int_equal(pr.events_deleted, 0);
	assert_int_equal(pr.incidents_anonymized, 0);
	assert_int_equal(pr.notices_deleted, 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_notices WHERE subscriber = 'tess'"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM notify_notices WHERE subscriber = 'quin'"), 1);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM audit WHERE action = 'prune'"), 2);
}

struct leasecount {
	int n;
	int64_t last_to;
};

static int
lease_cb(void *ud, const struct lease *l)
{
	struct leasecount *c = ud;

	c->n++;
	c->last_to = l->valid_to;
	return 0;
}

static void
test_leases_audit(void **state)
{
	struct fx *f = *state;
	struct lease l[2];
	struct leasecount c = { 0, 0 };

	memset(l, 0, sizeof l);
	bs_strlcpy(l[0].prefix, "100.64.1.10/32", sizeof l[0].prefix);
	bs_strlcpy(l[0].subscriber, "alice", sizeof l[0].subscriber);
	l[0].valid_from = T0;
	l[0].valid_to = T0 + 3600000;
	bs_strlcpy(l[0].source, "kea", sizeof l[0].source);
	l[1] = l[0];
	bs_strlcpy(l[1].prefix, "2001:db8:1::/56", sizeof l[1].prefix);
	l[1].valid_to = INT64_MAX;
	assert_int_equal(store_leases_add(f->st, l, 2), 0);
	assert_int_equal(store_leases_each(f->st, lease_cb, &c), 0);
	assert_int_equal(c.n, 2);
	assert_true(c.last_to == INT64_MAX);

	assert_int_equal(store_audit(f->st, T0, "desk:ann", "allowlist", "subscriber:alice", "why"), 0);
	assert_int_equal(q_int(f->st, "SELECT count(*) FROM audit WHERE actor = 'desk:ann'"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_race, setup, teardown),
		cmocka_unit_test(test_migrations_sorted),
		cmocka_unit_test_setup_teardown(test_two_sources_one_incident, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level3_mitigation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unattributed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_score, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_opens_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_as_one_by_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_many_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leases_audit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
