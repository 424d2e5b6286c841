/*
 * ctr_redis_driver.c - test helper for t/counters-redis.sh: drives counter
 * tables shared through Redis and prints what they see as key=value lines.
 *
 *	ctr_redis_driver URL PREFIX share N
 *		two tables (as two milters would have) on one Redis: each adds
 *		N messages for the key "bot", table A distinct items 0..N-1,
 *		table B N/2..N/2+N-1.  Prints a_alone (A's value before B
 *		started), a_local and b_local (each table's own local count:
 *		peeked 7 s later, when the remembered shared count of the
 *		1-minute window is no longer fresh), shared (B's final value)
 *		and distinct (B's distinct estimate); b_peek (B's peek at once:
 *		the remembered shared count) and b_peek_10m (7 s later, the
 *		10-minute window, still fresh).
 *		Then A adds one message with 20 new items in one ctr_update_n
 *		call: multi_count and multi_distinct.
 *	ctr_redis_driver URL PREFIX cross N
 *		across a bucket boundary: N messages (items 0..N-1) early in one
 *		hour, then N (items N/2..N/2+N-1) half-way through the next
 *		hour, through a Redis table and through a local table (ctr_new,
 *		the reference).  Prints for each window W (60, 600, 3600)
 *		count_W=REDIS/LOCAL and distinct_W=REDIS/LOCAL after the last.
 *	ctr_redis_driver URL PREFIX loop SECONDS
 *		one update every 10 ms for SECONDS; prints once a second the
 *		count seen, the table's Redis statistics and the slowest update
 *		so far (max_ms), and "done" with the totals.
 *
 *	With CTR_REDIS_PASSWORD_FILE set in the environment the tables
 *	authenticate with the password in that file (read as the milter
 *	reads counters.redis_password_file).
 */
#include "config.h"
#include "counters.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct ctr_spec spec = { 1, 1, 3, { 60, 600, 3600 }, 1000, 7200, 0 };

static struct ctr_table *
open_table(const char *url, const char *prefix)
{
	char err[256];
	const char *pf = getenv("CTR_REDIS_PASSWORD_FILE");
	char *pw = NULL;
	size_t pwlen;
	struct ctr_table *t;

	if (pf != NULL && (pw = bs_read_secret(pf, &pwlen, err, sizeof err)) == NULL) {
		fprintf(stderr, "ctr_redis_driver: %s\n", err);
		exit(1);
	}
	t = ctr_new_redis(&spec, url, pw, prefix, 50, err, sizeof err);
	free(pw);
	if (t == NULL) {
		fprintf(stderr, "ctr_redis_driver: %s\n", err);
		exit(1);
	}
	return t;
}

/* "updates=U fallbacks=F": what Redis answered for table t */
static void
print_updates(struct ctr_table *t)
{
	struct ctr_redis_stats rs;

	ctr_redis_get_stats(t, &rs);
	printf("updates=%llu fallbacks=%llu\n", (unsigned long long)rs.updates,
	    (unsigned long long)rs.fallbacks);
}

static void
add(struct ctr_table *t, int64_t now, int item, struct ctr_values *v)
{
	uint32_t inc[1] = { 1 };
	uint64_t dh[1];
	char s[32];

	snprintf(s, sizeof s, "rcpt%d", item);
	dh[0] = ctr_hash_str(s);
	ctr_update(t, "bot", now, inc, dh, v);
}

int
main(int argc, char **argv)
{
	struct ctr_redis_stats rs;
	struct ctr_values v, la, lb;
	struct ctr_table *a, *b;
	int64_t now, t0, t1, maxms = 0;
	int i, n;

	if (argc != 5) {
		fprintf(stderr, "usage: ctr_redis_driver URL PREFIX share N | cross N | loop SECONDS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("ctr_redis_driver", 1, LOG_USER, LOG_INFO);
	n = atoi(argv[4]);
	if (strcmp(argv[3], "share") == 0) {
		/* early in an hour bucket: the previous buckets of this fresh prefix are empty */
		now = bs_now_ms() / 3600000 * 3600000 + 1000;
		a = open_table(argv[1], argv[2]);
		b = open_table(argv[1], argv[2]);
		for (i = 0; i < n; i++)
			add(a, now, i, &v);
		printf("a_alone=%.0f\n", v.count[0][0]);
		for (i = 0; i < n; i++)
			add(b, now, n / 2 + i, &v);
		ctr_peek(b, "bot", now, &lb);
		printf("b_peek=%.0f\n", lb.count[0][0]);
		ctr_peek(a, "bot", now + 7000, &la);
		ctr_peek(b, "bot", now + 7000, &lb);
		printf("a_local=%.0f\nb_local=%.0f\nb_peek_10m=%.0f\nshared=%.0f\ndistinct=%.0f\n",
		    la.count[0][0], lb.count[0][0], lb.count[0][1], v.count[0][0], v.distinct[0][2]);
		/* one message with 20 new recipient domains: one call */
		{
			uint32_t inc[1] = { 1 };
			uint64_t dh[1] = { 0 }, more[20];
			char s[32];

			for (i = 0; i < 20; i++) {
				snprintf(s, sizeof s, "more%d", i);
				more[i] = ctr_hash_str(s);
			}
			ctr_update_n(a, "bot", now, inc, dh, 0, more, 20, &v);
			printf("multi_count=%.0f\nmulti_distinct=%.0f\n", v.count[0][0], v.distinct[0][2]);
		}
		print_updates(b);
		ctr_free(a);
		ctr_free(b);
		return 0;
	}
	if (strcmp(argv[3], "cross") == 0) {
		struct ctr_values vl;
		struct ctr_table *l = ctr_new(&spec);
		int w;

		now = bs_now_ms() / 3600000 * 3600000 - 3600000 + 1000;
		a = open_table(argv[1], argv[2]);
		for (i = 0; i < n; i++) {
			add(a, now, i, &v);
			add(l, now, i, &vl);
		}
		now += 3600000 + 1800000 - 1000;
		for (i = 0; i < n; i++) {
			add(a, now, n / 2 + i, &v);
			add(l, now, n / 2 + i, &vl);
		}
		for (w = 0; w < 3; w++)
			printf("count_%lld=%.1f/%.1f\ndistinct_%lld=%.1f/%.1f\n",
			    (long long)spec.window_s[w], v.count[0][w], vl.count[0][w],
			    (long long)spec.window_s[w], v.distinct[0][w], vl.distinct[0][w]);
		print_updates(a);
		ctr_free(a);
		ctr_free(l);
		return 0;
	}
	if (strcmp(argv[3], "loop") == 0) {
		a = open_table(argv[1], argv[2]);
		t0 = bs_mono_ms();
		for (i = 0; bs_mono_ms() - t0 < n * 1000LL; i++) {
			t1 = bs_mono_ms();
			add(a, bs_now_ms(), i, &v);
			if (bs_mono_ms() - t1 > maxms)
				maxms = bs_mono_ms() - t1;
			if (i % 100 == 0) {
				ctr_redis_get_stats(a, &rs);
				printf("i=%d count=%.0f updates=%llu fallbacks=%llu errors=%llu reconnects=%llu "
				    "connected=%d max_ms=%lld\n", i, v.count[0][0],
				    (unsigned long long)rs.updates, (unsigned long long)rs.fallbacks,
				    (unsigned long long)rs.errors, (unsigned long long)rs.reconnects,
				    rs.connected, (long long)maxms);
			}
			usleep(10000);
		}
		ctr_redis_get_stats(a, &rs);
		printf("done i=%d updates=%llu fallbacks=%llu errors=%llu reconnects=%llu max_ms=%lld\n", i,
		    (unsigned long long)rs.updates, (unsigned long long)rs.fallbacks,
		    (unsigned long long)rs.errors, (unsigned long long)rs.reconnects, (long long)maxms);
		ctr_free(a);
		return 0;
	}
	fprintf(stderr, "ctr_redis_driver: unknown mode %s\n", argv[3]);
	return 2;
}
