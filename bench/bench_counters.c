/*
 * bench_counters.c - counter updates/s and bytes per tracked key with 1M
 * keys (lib/counters.c), against a baseline measured in the same run: a
 * plain open-addressing hash of the same 64-bit key hashes with one uint64
 * counter per key (no windows, no distinct sets, no locks).
 *
 * usage: bench_counters [-n KEYS] [-u UPDATES] [-t THREADS]
 * Both loops run UPDATES updates, alternately, three times; the best of
 * each counts (the machine is shared).
 * Each update is what the milter does per message: three counts and three
 * distinct items (a recipient domain, a sender, a HELO name) for one key.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;
	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static size_t nkeys = 1000000, nupd = 2000000;
static char **keys;
static uint64_t *items;           /* 4096 distinct item hashes */
static struct ctr_table *tab;
static int nthreads = 1;
static int64_t t_origin = 1800000000000LL;
#define ROUNDS 3

static inline uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *
run_ctr(void *arg)
{
	size_t id = (size_t)arg, i, per = nupd / (size_t)nthreads;
	uint64_t s = 0x9e3779b97f4a7c15ULL * (id + 1);
	uint32_t inc[3] = { 0, 1, 3 };
	int64_t t0 = t_origin;

	for (i = 0; i < per; i++) {
		uint64_t r = rnd(&s);
		uint64_t dh[3] = { items[r & 4095], items[(r >> 12) & 4095], items[(r >> 24) & 4095] };
		struct ctr_values v;
		ctr_update(tab, keys[(r >> 32) % nkeys], t0 + (int64_t)(i / 1000), inc, dh, &v);
	}
	return NULL;
}

struct slot {
	uint64_t key, count;
};

int
main(int argc, char **argv)
{
	struct ctr_spec sp;
	struct ctr_stats st;
	struct slot *base;
	size_t size = 1, i, mask;
	uint64_t s = 88172645463325252ULL, sink = 0;
	uint32_t inc[3] = { 1, 0, 0 };
	double t, t_base, t_fill, t_ctr;
	long rss0, rss1;
	pthread_t tid[64];
	int c, round;

	while ((c = getopt(argc, argv, "n:u:t:")) != -1) {
		switch (c) {
		case 'n': nkeys = strtoul(optarg, NULL, 10); break;
		case 'u': nupd = strtoul(optarg, NULL, 10); break;
		case 't': nthreads = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n KEYS] [-u UPDATES] [-t THREADS]\n", argv[0]);
			return 64;
		}
	}
	if (nkeys < 1 || nthreads < 1 || nthreads > 64)
		return 64;
	keys = malloc(nkeys * sizeof *keys);
	for (i = 0; i < nkeys; i++) {
		char buf[32];
		snprintf(buf, sizeof buf, "subscriber-%07zu", i);
		keys[i] = strdup(buf);
	}
	items = malloc(4096 * sizeof *items);
	for (i = 0; i < 4096; i++) {
		char buf[32];
		int n = snprintf(buf, sizeof buf, "domain%zu.example", i);
		items[i] = ctr_hash(buf, (size_t)n);
	}

	/* baseline: open addressing, load <= 0.5, one uint64 per key */
	while (size < nkeys * 2)
		size *= 2;
	mask = size - 1;
	base = calloc(size, sizeof *base);

	/* the counter table, milter layout */
	memset(&sp, 0, sizeof sp);
	sp.n_counts = 3;
	sp.n_distinct = 3;
	sp.n_windows = 3;
	sp.window_s[0] = 60;
	sp.window_s[1] = 600;
	sp.window_s[2] = 3600;
	sp.max_keys = nkeys;
	sp.idle_s = 86400;
	rss0 = rss_kb();
	tab = ctr_new(&sp);
	t = now_s();
	for (i = 0; i < nkeys; i++)
		ctr_update(tab, keys[i], 1800000000000LL, inc, NULL, NULL);
	t_fill = now_s() - t;
	rss1 = rss_kb();

	/* alternate the two, best of ROUNDS each: the machine is shared */
	t_base = t_ctr = 1e30;
	for (round = 0; round < ROUNDS; round++) {
		t = now_s();
		for (i = 0; i < nupd; i++) {
			uint64_t r = rnd(&s), h = ctr_hash_str(keys[(r >> 32) % nkeys]), p = h & mask;
			while (base[p].key != 0 && base[p].key != h)
				p = (p + 1) & mask;
			base[p].key = h;
			base[p].count++;
		}
		t = now_s() - t;
		if (t < t_base)
			t_base = t;
		t = now_s();
		for (c = 0; c < nthreads; c++)
			pthread_create(&tid[c], NULL, run_ctr, (void *)(size_t)c);
		for (c = 0; c < nthreads; c++)
			pthread_join(tid[c], NULL);
		t = now_s() - t;
		if (t < t_ctr)
			t_ctr = t;
		t_origin += 4000;      /* the next round moves time on */
	}
	for (i = 0; i < size; i++)
		sink += base[i].count;
	free(base);
	ctr_get_stats(tab, &st);

	printf("keys                       %zu (tracked %zu, evicted %llu)\n", nkeys, st.keys,
	    (unsigned long long)st.evictions);
	printf("slot bytes                 %zu\n", ctr_entry_bytes(tab));
	printf("bytes per key (table)      %.1f\n", (double)st.bytes / (double)st.keys);
	printf("bytes per key (RSS delta)  %.1f\n", (double)(rss1 - rss0) * 1024 / (double)nkeys);
	printf("insert 1 key               %.0f keys/s\n", nkeys / t_fill);
	printf("baseline uint64 increment  %.0f updates/s\n", nupd / t_base);
	printf("ctr_update (%d thread%s)     %.0f updates/s\n", nthreads, nthreads > 1 ? "s" : "",
	    nupd / t_ctr);
	printf("ratio ctr/baseline         %.3f\n", (nupd / t_ctr) / (nupd / t_base));
	if (sink == 0)
		printf("(empty)\n");
	ctr_free(tab);
	for (i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	free(items);
	return 0;
}
