/*
 * test_counters.c - sliding-window counters and the distinct estimator
 * (lib/counters.c), on a fake clock.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "counters.h"

/* 1800000000 s is a multiple of 3600: every window's bucket starts there. */
#define T0 1800000000000LL
#define S(x) ((int64_t)(x) * 1000)

static struct ctr_spec
milter_spec(size_t max_keys, int64_t idle_s)
{
	struct ctr_spec sp;

	memset(&sp, 0, sizeof sp);
	sp.n_counts = 3;
	sp.n_distinct = 3;
	sp.n_windows = 3;
	sp.window_s[0] = 60;
	sp.window_s[1] = 600;
	sp.window_s[2] = 3600;
	sp.max_keys = max_keys;
	sp.idle_s = idle_s;
	return sp;
}

static uint64_t
item(const char *prefix, long a)
{
	char buf[64];
	int n = snprintf(buf, sizeof buf, "%s%ld", prefix, a);
	return ctr_hash(buf, (size_t)n);
}

static void
test_hash(void **state)
{
	char buf[64];
	uint64_t seen[2000];
	int i, j;

	(void)state;
	assert_int_equal(ctr_hash("abc", 3), ctr_hash_str("abc"));
	assert_int_not_equal(ctr_hash("abc", 3), ctr_hash("abd", 3));
	assert_int_not_equal(ctr_hash("", 0), 0);
	for (i = 0; i < 2000; i++) {
		int n = snprintf(buf, sizeof buf, "key-%d", i);
		/* lengths 0..n: every tail path */
		seen[i] = ctr_hash(buf, (size_t)(i % (n + 1)) + (i % (n + 1) == 0));
		assert_int_not_equal(ctr_hash(buf, (size_t)n), 0);
	}
	for (i = 0; i < 40; i++) {
		memset(buf, 'x', sizeof buf);
		assert_int_not_equal(ctr_hash(buf, (size_t)i), ctr_hash(buf, (size_t)i + 1));
	}
	/* no collisions among distinct short keys */
	for (i = 0; i < 2000; i++) {
		int n = snprintf(buf, sizeof buf, "key-%d", i);
		seen[i] = ctr_hash(buf, (size_t)n);
	}
	for (i = 0; i < 2000; i++)
		for (j = i + 1; j < 2000; j++)
			assert_true(seen[i] != seen[j]);
}

static void
test_bad_spec(void **state)
{
	struct ctr_spec sp = milter_spec(10, 60);

	(void)state;
	sp.window_s[1] = 30;            /* not ascending */
	assert_null(ctr_new(&sp));
	sp = milter_spec(0, 60);
	assert_null(ctr_new(&sp));
	sp = milter_spec(10, 60);
	sp.n_windows = 0;
	assert_null(ctr_new(&sp));
	sp = milter_spec(10, 60);
	sp.n_counts = CTR_MAX_COUNTS + 1;
	assert_null(ctr_new(&sp));
	ctr_free(NULL);
}

static void
test_windows(void **state)
{
	struct ctr_spec sp = milter_spec(100, 7200);
	struct ctr_table *t = ctr_new(&sp);
	struct ctr_values v;
	uint32_t inc[3] = { 1, 1, 3 };
	int i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < 5; i++)
		ctr_update(t, "alice", T0 + S(10), inc, NULL, &v);
	assert_true(fabs(v.count[0][0] - 5) < 1e-9);
	assert_true(fabs(v.count[0][1] - 5) < 1e-9);
	assert_true(fabs(v.count[0][2] - 5) < 1e-9);
	assert_true(fabs(v.count[2][0] - 15) < 1e-9);

	/* next 60 s bucket, 10 s in: the 5 are "previous", weight 50/60 */
	assert_int_equal(ctr_peek(t, "alice", T0 + S(70), &v), 0);
	assert_true(fabs(v.count[0][0] - 5.0 * 50 / 60) < 1e-9);
	assert_true(fabs(v.count[0][1] - 5) < 1e-9);
	assert_true(fabs(v.count[1][2] - 5) < 1e-9);
	/* two 60 s buckets on: gone from the minute, still in 10 min and 1 h */
	assert_int_equal(ctr_peek(t, "alice", T0 + S(125), &v), 0);
	assert_true(v.count[0][0] == 0);
	assert_true(fabs(v.count[0][1] - 5) < 1e-9);
	/* peek changed nothing: an update in the second bucket sees prev = 5 */
	ctr_update(t, "alice", T0 + S(90), inc, NULL, &v);
	assert_true(fabs(v.count[0][0] - (1 + 5.0 * 30 / 60)) < 1e-9);
	assert_true(fabs(v.count[0][1] - 6) < 1e-9);

	/* 10 min window: at 600+300 s, the 6 are previous, half weight */
	assert_int_equal(ctr_peek(t, "alice", T0 + S(900), &v), 0);
	assert_true(fabs(v.count[0][1] - 3) < 1e-9);
	assert_true(fabs(v.count[0][2] - 6) < 1e-9);
	/* 1 h window: at 3600+900 s, 6 * 0.75 */
	assert_int_equal(ctr_peek(t, "alice", T0 + S(4500), &v), 0);
	assert_true(v.count[0][1] == 0);
	assert_true(fabs(v.count[0][2] - 4.5) < 1e-9);
	assert_int_equal(ctr_peek(t, "alice", T0 + S(7199), &v), 0);
	assert_true(fabs(v.count[0][2] - 6.0 * 1 / 3600) < 1e-9);
	assert_int_equal(ctr_peek(t, "alice", T0 + S(90 + 7199), &v), 0);
	assert_int_equal(ctr_peek(t, "alice", T0 + S(90 + 7200), &v), 1);   /* idle */

	/* unknown key */
	assert_int_equal(ctr_peek(t, "nobody", T0, &v), 1);
	assert_true(v.count[0][0] == 0 && v.distinct[0][0] == 0);
	ctr_free(t);
}

/* Steady traffic: the approximation is exact up to rounding, and always
 * within [cur, cur + prev]. */
static void
test_interpolation(void **state)
{
	struct ctr_spec sp = milter_spec(100, 7200);
	struct ctr_table *t = ctr_new(&sp);
	struct ctr_values v;
	uint32_t inc[3] = { 1, 0, 0 };
	int s;

	(void)state;
	for (s = 0; s < 1800; s++) {
		ctr_update(t, "steady", T0 + S(s), inc, NULL, &v);
		if (s >= 120) {
			/* true count over the last 60 s (events at s-59..s) is 60 */
			assert_true(fabs(v.count[0][0] - 60) <= 1.0 + 1e-9);
			assert_true(v.count[0][0] >= s % 60 + 1 - 1e-9);      /* >= cur */
			assert_true(v.count[0][0] <= s % 60 + 1 + 60 + 1e-9); /* <= cur + prev */
		}
		if (s >= 1200)
			assert_true(fabs(v.count[0][1] - 600) <= 1.0 + 1e-9);
	}
	/* a burst at the very start of a bucket, read late in the next one:
	 * the estimate is under the truth but not under cur */
	ctr_update(t, "burst", T0 + S(3600), NULL, NULL, NULL);
	for (s = 0; s < 30; s++)
		ctr_update(t, "burst", T0 + S(3600), inc, NULL, NULL);
	ctr_peek(t, "burst", T0 + S(3600 + 60 + 50), &v);
	assert_true(fabs(v.count[0][0] - 30.0 * 10 / 60) < 1e-9);
	ctr_free(t);
}

static void
test_distinct_windows(void **state)
{
	struct ctr_spec sp = milter_spec(100, 7200);
	struct ctr_table *t = ctr_new(&sp);
	struct ctr_values v;
	uint64_t dh[3];
	int i;

	(void)state;
	/* the same item again and again is one */
	dh[0] = item("example.com", 0);
	dh[1] = 0;                         /* 0: skipped */
	dh[2] = item("helo-", 1);
	for (i = 0; i < 50; i++)
		ctr_update(t, "bob", T0 + S(i), NULL, dh, &v);
	assert_true(fabs(v.distinct[0][0] - 1) < 1e-9);
	assert_true(v.distinct[1][2] == 0);
	assert_true(fabs(v.distinct[2][2] - 1) < 1e-9);

	/* 20 distinct domains in the first minute */
	for (i = 0; i < 20; i++) {
		dh[0] = item("dom.example-", i);
		ctr_update(t, "carol", T0 + S(1), NULL, dh, &v);
	}
	assert_true(fabs(v.distinct[0][0] - 20) <= 3);
	/* half way through the next minute: about half of them in the 1 min
	 * window; all of them in 10 min */
	ctr_peek(t, "carol", T0 + S(90), &v);
	assert_true(v.distinct[0][0] >= 0.5 * 17 && v.distinct[0][0] <= 0.5 * 23);
	assert_true(fabs(v.distinct[0][1] - 20) <= 3);
	/* the same 20 again in the second minute: the 1 min window sees 20 (the
	 * union of current and previous is still 20), not 30 */
	for (i = 0; i < 20; i++) {
		dh[0] = item("dom.example-", i);
		ctr_update(t, "carol", T0 + S(90), NULL, dh, &v);
	}
	assert_true(fabs(v.distinct[0][0] - 20) <= 3);
	assert_true(fabs(v.distinct[0][1] - 20) <= 3);
	/* 10 more, new, in minute 11: 10 min window = 10 cur + 20 prev */
	for (i = 100; i < 110; i++) {
		dh[0] = item("dom.example-", i);
		ctr_update(t, "carol", T0 + S(600), NULL, dh, &v);
	}
	assert_true(fabs(v.distinct[0][0] - 10) <= 2);
	assert_true(fabs(v.distinct[0][1] - 30) <= 4);     /* f = 0: full prev */
	assert_true(fabs(v.distinct[0][2] - 30) <= 4);
	/* two hours on: all gone, except that the key expired anyway */
	assert_int_equal(ctr_peek(t, "carol", T0 + S(600 + 7200), &v), 1);
	ctr_free(t);
}

/*
 * The stated error bound (counters.c): mean relative error over 300 random
 * sets of n items at n = 10, 50, 200 stays under 8%, 9%, 12% (measured
 * about 6%, 6.5%, 9%), and the estimator is not biased by more than 5%.
 */
static void
test_distinct_error(void **state)
{
	static const int ns[] = { 10, 50, 200 };
	static const double bound[] = { 0.08, 0.09, 0.12 };
	struct ctr_spec sp = milter_spec(2000, 7200);
	struct ctr_table *t = ctr_new(&sp);
	uint64_t rng = 0x1234567887654321ULL;
	int a, trial, i;

	(void)state;
	for (a = 0; a < 3; a++) {
		double sum_abs = 0, sum = 0;
		for (trial = 0; trial < 300; trial++) {
			struct ctr_values v;
			char key[32];
			double est;
			snprintf(key, sizeof key, "k%d-%d", a, trial);
			for (i = 0; i < ns[a]; i++) {
				uint64_t dh[3] = { 0, 0, 0 };
				rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
				dh[1] = ctr_hash(&rng, sizeof rng);
				ctr_update(t, key, T0 + S(5), NULL, dh, &v);
			}
			est = v.distinct[1][1];
			sum_abs += fabs(est - ns[a]) / ns[a];
			sum += (est - ns[a]) / ns[a];
		}
		print_message("distinct n=%d: mean relative error %.4f, bias %.4f\n",
		    ns[a], sum_abs / 300, sum / 300);
		assert_true(sum_abs / 300 < bound[a]);
		assert_true(fabs(sum / 300) < 0.05);
	}
	ctr_free(t);
}

static void
test_expiry(void **state)
{
	struct ctr_spec sp = milter_spec(1000, 100);
	struct ctr_table *t = ctr_new(&sp);
	struct ctr_stats st;
	struct ctr_values v;
	uint32_t inc[3] = { 7, 0, 0 };
	char key[32];
	int i;

	(void)state;
	ctr_update(t, "idle", T0, inc, NULL, NULL);
	assert_int_equal(ctr_peek(t, "idle", T0 + S(99), &v), 0);
	assert_true(v.count[0][2] == 7);
	assert_int_equal(ctr_peek(t, "idle", T0 + S(100), &v), 1);
	/* an update after the idle time starts afresh */
	ctr_update(t, "idle", T0 + S(150), inc, NULL, &v);
	assert_true(v.count[0][2] == 7);
	ctr_get_stats(t, &st);
	assert_int_equal(st.keys, 1);
	assert_int_equal(st.expirations, 1);

	/* full sweep */
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ctr_update(t, key, T0 + S(200 + i), inc, NULL, NULL);
	}
	ctr_expire(t, T0 + S(200 + 125));      /* k0..k25 idle for >= 100 s */
	ctr_get_stats(t, &st);
	assert_int_equal(st.keys, 24);
	assert_int_equal(st.expirations, 1 + 1 + 26);
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof key, "k%d", i);
		assert_int_equal(ctr_peek(t, key, T0 + S(325), NULL), i < 26 ? 1 : 0);
	}

	/* incremental: updates of one busy key sweep the idle ones away */
	for (i = 0; i < 100; i++)
		ctr_update(t, "busy", T0 + S(1000 + i), inc, NULL, NULL);
	ctr_get_stats(t, &st);
	assert_int_equal(st.keys, 1);
	ctr_free(t);
}

static void
test_eviction(void **state)
{
	struct ctr_spec sp = milter_spec(100, 86400);
	struct ctr_table *t = ctr_new(&sp);
	struct ctr_stats st;
	char key[32];
	int i, survivors = 0;

	(void)state;
	for (i = 0; i < 150; i++) {
		snprintf(key, sizeof key, "key%d", i);
		ctr_update(t, key, T0 + S(i), NULL, NULL, NULL);
		ctr_get_stats(t, &st);
		assert_true(st.keys <= 100);
	}
	ctr_get_stats(t, &st);
	assert_int_equal(st.keys, 100);
	assert_int_equal(st.evictions, 50);
	assert_int_equal(st.expirations, 0);
	/* the most recent keys survive (sampled LRU evicts old ones) */
	for (i = 140; i < 150; i++) {
		snprintf(key, sizeof key, "key%d", i);
		assert_int_equal(ctr_peek(t, key, T0 + S(150), NULL), 0);
	}
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof key, "key%d", i);
		survivors += ctr_peek(t, key, T0 + S(150), NULL) == 0;
	}
	assert_true(survivors < 25);          /* mostly the oldest went */
	ctr_free(t);

	/* several stripes: the cap is still the table's, exactly */
	sp = milter_spec(5000, 86400);
	t = ctr_new(&sp);
	for (i = 0; i < 6000; i++) {
		snprintf(key, sizeof key, "key%d", i);
		ctr_update(t, key, T0 + S(i), NULL, NULL, NULL);
	}
	ctr_get_stats(t, &st);
	assert_int_equal(st.keys, 5000);
	assert_int_equal(st.evictions, 1000);
	ctr_free(t);
}

struct thr {
	struct ctr_table *t;
	int id;
};

static void *
hammer(void *arg)
{
	struct thr *th = arg;
	uint32_t inc[3] = { 1, 2, 0 };
	char key[32];
	int i;

	for (i = 0; i < 20000; i++) {
		uint64_t dh[3] = { (uint64_t)(i % 7) + 1, 0, 0 };
		struct ctr_values v;
		snprintf(key, sizeof key, "sub%d", (i * 7 + th->id) % 1000);
		ctr_update(th->t, key, T0 + S(30), inc, dh, &v);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct ctr_spec sp = milter_spec(4096, 3600);
	struct ctr_table *t = ctr_new(&sp);
	pthread_t tid[4];
	struct thr th[4];
	struct ctr_stats st;
	double sum0 = 0, sum1 = 0;
	char key[32];
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		th[i].t = t;
		th[i].id = i;
		assert_int_equal(pthread_create(&tid[i], NULL, hammer, &th[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < 1000; i++) {
		struct ctr_values v;
		snprintf(key, sizeof key, "sub%d", i);
		assert_int_equal(ctr_peek(t, key, T0 + S(30), &v), 0);
		sum0 += v.count[0][0];
		sum1 += v.count[1][2];
		assert_true(v.distinct[0][0] <= 7.5);
	}
	assert_true(sum0 == 80000);
	assert_true(sum1 == 160000);
	ctr_get_stats(t, &st);
	assert_int_equal(st.keys, 1000);
	ctr_free(t);
}

/* The milter's layout fits the 256 bytes per key budget (issue 3). */
static void
test_memory(void **state)
{
	struct ctr_spec sp = milter_spec(120000, 3600);
	struct ctr_table *t = ctr_new(&sp);
	struct ctr_stats st;
	uint32_t inc[3] = { 1, 1, 1 };
	char key[32];
	int i;

	(void)state;
	assert_true(ctr_entry_bytes(t) <= 232);
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof key, "subscriber-%d", i);
		ctr_update(t, key, T0, inc, NULL, NULL);
	}
	ctr_get_stats(t, &st);
	assert_int_equal(st.keys, 100000);
	print_message("bytes per key at 100k keys: %.1f\n", (double)st.bytes / st.keys);
	assert_true((double)st.bytes / st.keys < 256);
	ctr_free(t);
}

static void
test_clock_back(void **state)
{
	struct ctr_spec sp = milter_spec(10, 3600);
	struct ctr_table *t = ctr_new(&sp);
	struct ctr_values v;
	uint32_t inc[3] = { 1, 0, 0 };

	(void)state;
	ctr_update(t, "k", T0 + S(100), inc, NULL, &v);
	ctr_update(t, "k", T0 + S(50), inc, NULL, &v);     /* stepped back */
	assert_true(fabs(v.count[0][0] - 2) < 1e-9);
	ctr_update(t, "k", -5, inc, NULL, &v);               /* nonsense time */
	assert_true(v.count[0][2] >= 2);
	ctr_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_bad_spec),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_interpolation),
		cmocka_unit_test(test_distinct_windows),
		cmocka_unit_test(test_distinct_error),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_clock_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
