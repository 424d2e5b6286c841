/*
 * detect_flow.c - the direct_mx detector over per-source sliding windows.
 *
 * Four structures, all bounded:
 *  - pending attempts: a ring in arrival order (so that timeouts are found
 *    at its head; one cache line per attempt) with an open-addressing index
 *    on the 5-tuple;
 *  - first sightings: the first resolved attempt of an IPv4 source, parked
 *    in a bucketed table until the source makes a second one (most never
 *    do), then replayed into the counters (see that section: the counts
 *    come out exactly as if it had gone there directly);
 *  - per-source counts: a counters.h table (attempts, failed, smarthost
 *    uses, distinct destinations over one window), with its own cap,
 *    eviction and idle expiry;
 *  - firing state and destination samples: a small set-associative cache
 *    for sources that came near the thresholds, so that a flood of one-SYN
 *    sources costs only the first sightings.
 * Under a flood of one-SYN sources each attempt is one random cache line
 * of the pending index and one of the first sightings, both fetched ahead
 * of use (df_queue, prefetch_pending); see bench/flow.md.
 * See detect_flow.h for what is counted and when a hit is reported.
 */
#include "config.h"
#include "detect_flow.h"
#include "counters.h"
#include "util.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define DF_MAX_INPUTS 32
#define STATE_WAYS 4

enum { C_ATTEMPTS = 0, C_FAILED, C_SMARTHOST, C_N };

/* 64 bytes, one cache line (the ring is aligned to 64) */
struct pending {
	int64_t ts_ms;           /* the SYN's traffic time */
	int64_t deadline_ms;     /* resolved as unanswered at this watermark */
	uint32_t hash;           /* low half of the 5-tuple's tuple_hash (the index's) */
	struct df_addr src, dst;
	uint16_t sport, dport;
	uint8_t input;
	uint8_t smarthost;
	uint8_t live;
};

struct fstate {
	uint64_t key;            /* 0: free */
	int64_t last_seen_ms;
	int64_t last_fire_ms;
	uint8_t above;
	uint8_t n_sample;
	struct df_addr sample[DF_SAMPLE_MAX];
};

struct fbucket;

_Static_assert(sizeof(struct pending) == 64, "a pending attempt is one cache line");

struct df {
	struct df_settings set;
	df_hit_fn fn;
	void *ud;
	struct ctr_table *ctr;
	int64_t ctr_window_ms;
	size_t ctr_max_keys;
	int64_t ctr_idle_ms;

	int64_t now_ms;          /* traffic-time watermark */

	struct pending *ring;
	size_t ring_cap;         /* power of two */
	uint64_t head, tail;
	uint64_t *index;         /* IDX_WORD: hash half, ring position + 1; 0 empty */
	size_t index_cap;        /* power of two, 2 x ring_cap */

	struct fstate *state;
	size_t state_sets;       /* power of two */

	/* first sightings (see that section) */
	struct fbucket *fb;
	size_t fb_n;             /* buckets: max_sources / FS_WAYS, at least 2 */
	size_t fb_live;          /* ways in use (some may have aged out unnoticed) */
	uint64_t fb_swept;       /* fb_ops at the last full expiry */
	size_t fb_hand;          /* where the expiry sweep goes on */
	uint32_t fb_min_sec;     /* no parked sighting is older (seconds) */
	uint64_t fb_rng;         /* eviction samples */
	uint32_t ctr_win_s, ctr_idle_s;   /* as the counters were made */
	size_t ctr_keys_est;     /* counters' keys: counted at the last refresh, plus inserts since */
	uint64_t fb_ops, fb_refreshed;

	char *input_name[DF_MAX_INPUTS];
	uint8_t input_replies[DF_MAX_INPUTS];
	int n_inputs;

	uint64_t seed;           /* per detector: hostile traffic cannot aim at our buckets */
	struct df_stats st;
};

static void fb_setup(struct df *d);
static void fb_free(struct df *d);

/* GCC 12 drops a __builtin_prefetch that sits in a branch of its own (as
 * here); an asm statement it must keep. */
#if defined(__x86_64__) || defined(__i386__)
#define PREFETCH(a) __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)(a)))
#else
#define PREFETCH(a) __builtin_prefetch(a)
#endif

/* ------------------------------------------------------------ hashing */

static inline uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* A fast, unkeyed hash of an address for our own tables (the pending
 * index and the firing state); the counters hash their keys themselves. */
static inline uint64_t
addr_mix(const struct df_addr *a, uint64_t seed)
{
	uint64_t h = seed ^ a->family;

	h = mix64(h ^ load64(a->a));
	if (a->family == 6)
		h = mix64(h ^ load64(a->a + 8));
	return h;
}

/* ------------------------------------------------------------ addresses */

int
df_addr_parse(const char *s, struct df_addr *out)
{
	memset(out, 0, sizeof *out);
	if (s == NULL)
		return -1;
	if (inet_pton(AF_INET, s, out->a) == 1) {
		out->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->a) == 1) {
		out->family = 6;
		return 0;
	}
	return -1;
}

static void
mask_bits(uint8_t *a, int len, int total)
{
	int i;

	for (i = 0; i < total / 8; i++) {
		int keep = len - i * 8;
		if (keep >= 8)
			continue;
		a[i] = keep <= 0 ? 0 : (uint8_t)(a[i] & (0xff << (8 - keep)));
	}
}

int
df_prefix_parse(const char *s, struct df_prefix *out)
{
	char buf[64];
	const char *slash;
	struct df_addr a;
	long len;
	char *end;

	memset(out, 0, sizeof *out);
	if (s == NULL || strlen(s) >= sizeof buf)
		return -1;
	slash = strchr(s, '/');
	if (slash != NULL) {
		memcpy(buf, s, (size_t)(slash - s));
		buf[slash - s] = '\0';
	} else {
		bs_strlcpy(buf, s, sizeof buf);
	}
	if (df_addr_parse(buf, &a) != 0)
		return -1;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		len = strtol(slash + 1, &end, 10);
		if (*end != '\0' || len < 0 || len > (a.family == 4 ? 32 : 128))
			return -1;
	} else {
		len = a.family == 4 ? 32 : 128;
	}
	out->family = a.family;
	out->len = (uint8_t)len;
	memcpy(out->a, a.a, sizeof out->a);
	mask_bits(out->a, (int)len, a.family == 4 ? 32 : 128);
	return 0;
}

int
df_prefix_match(const struct df_prefix *p, const struct df_addr *a)
{
	int full, rest;

	if (p->family != a->family)
		return 0;
	full = p->len / 8;
	rest = p->len % 8;
	if (memcmp(p->a, a->a, (size_t)full) != 0)
		return 0;
	if (rest != 0) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));
		if ((a->a[full] & m) != p->a[full])
			return 0;
	}
	return 1;
}

char *
df_addr_format(const struct df_addr *a, char *buf, size_t size)
{
	if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, buf, (socklen_t)size) == NULL)
		bs_strlcpy(buf, "?", size);
	return buf;
}

static int
addr_eq(const struct df_addr *x, const struct df_addr *y)
{
	return x->family == y->family && memcmp(x->a, y->a, sizeof x->a) == 0;
}

static int
in_list(const struct df_prefix *p, size_t n, const struct df_addr *a)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (df_prefix_match(&p[i], a))
			return 1;
	return 0;
}

void
df_settings_default(struct df_settings *s)
{
	memset(s, 0, sizeof *s);
	s->window_ms = 600 * 1000;
	s->min_attempts = 10;
	s->min_destinations = 10;
	s->weight_base = 10;
	s->weight_volume = 5;
	s->weight_failed = 10;
	s->weight_smarthost = 5;
	s->syn_timeout_ms = 10 * 1000;
	s->max_sources = 1000000;
	s->idle_ms = 3600 * 1000;
	s->max_pending = 65536;
	s->v6_prefix_len = 56;
}

int
df_in_scope(const struct df *d, const struct df_addr *src)
{
	if (d->set.n_watch > 0 && !in_list(d->set.watch, d->set.n_watch, src))
		return 0;
	if (in_list(d->set.exclude, d->set.n_exclude, src))
		return 0;
	/* the smarthosts themselves relay to remote MXes all day */
	if (in_list(d->set.smarthosts, d->set.n_smarthosts, src))
		return 0;
	return 1;
}

/* ------------------------------------------------------------ set-up */

/* Zeroed, page-aligned memory whose pages are only allocated when touched. */
static void *
zmap(size_t bytes)
{
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED) {
		fprintf(stderr, "botsentry: out of memory\n");
		abort();
	}
	return m;
}

static size_t
pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static struct ctr_table *
make_ctr(const struct df_settings *s)
{
	struct ctr_spec spec;

	memset(&spec, 0, sizeof spec);
	spec.n_counts = C_N;
	spec.n_distinct = 1;
	spec.n_windows = 1;
	spec.window_s[0] = s->window_ms / 1000 > 0 ? s->window_ms / 1000 : 1;
	spec.max_keys = s->max_sources;
	spec.idle_s = s->idle_ms / 1000 > 0 ? s->idle_ms / 1000 : 1;
	return ctr_new(&spec);
}

static void
size_state(struct df *d)
{
	size_t entries = d->set.max_sources / 16;

	if (entries < 1024)
		entries = 1024;
	d->state_sets = pow2_at_least(entries / STATE_WAYS);
	d->state = xcalloc(d->state_sets * STATE_WAYS, sizeof *d->state);
}

struct df *
df_new(const struct df_settings *s, df_hit_fn fn, void *ud)
{
	struct df *d;

	if (s->window_ms <= 0 || s->min_attempts < 1 || s->min_destinations < 1 || s->max_sources < 1)
		return NULL;
	d = xcalloc(1, sizeof *d);
	d->set = *s;
	d->fn = fn;
	d->ud = ud;
	d->ctr = make_ctr(s);
	if (d->ctr == NULL) {
		free(d);
		return NULL;
	}
	d->ctr_window_ms = s->window_ms;
	d->ctr_max_keys = s->max_sources;
	d->ctr_idle_ms = s->idle_ms;
	d->ring_cap = pow2_at_least(s->max_pending < 16 ? 16 : s->max_pending > (1u << 23) ? (1u << 23)
	    : s->max_pending);
	d->ring = zmap(d->ring_cap * sizeof *d->ring);      /* page-aligned: one line per entry */
	d->index_cap = d->ring_cap * 2;
	d->index = xcalloc(d->index_cap, sizeof *d->index);
	size_state(d);
	d->now_ms = INT64_MIN;
	if (getrandom(&d->seed, sizeof d->seed, GRND_NONBLOCK) != (ssize_t)sizeof d->seed)
		d->seed = (uint64_t)bs_mono_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)d;
	fb_setup(d);
	return d;
}

void
df_free(struct df *d)
{
	int i;

	if (d == NULL)
		return;
	ctr_free(d->ctr);
	munmap(d->ring, d->ring_cap * sizeof *d->ring);
	free(d->index);
	free(d->state);
	fb_free(d);
	for (i = 0; i < d->n_inputs; i++)
		free(d->input_name[i]);
	free(d);
}

void
df_set_settings(struct df *d, const struct df_settings *s)
{
	int recount = s->window_ms != d->ctr_window_ms || s->max_sources != d->ctr_max_keys
	    || s->idle_ms != d->ctr_idle_ms;
	size_t pending = d->set.max_pending;

	d->set = *s;
	d->set.max_pending = pending;     /* the ring keeps its size until restart */
	if (recount) {
		struct ctr_table *t = make_ctr(s);
		if (t != NULL) {
			ctr_free(d->ctr);
			d->ctr = t;
			d->ctr_window_ms = s->window_ms;
			d->ctr_max_keys = s->max_sources;
			d->ctr_idle_ms = s->idle_ms;
			free(d->state);
			size_state(d);
			fb_free(d);
			fb_setup(d);
		}
	}
}

int
df_input_add(struct df *d, const char *name, int replies_visible)
{
	if (d->n_inputs == DF_MAX_INPUTS)
		return DF_MAX_INPUTS - 1;
	d->input_name[d->n_inputs] = xstrdup(name);
	d->input_replies[d->n_inputs] = replies_visible ? 1 : 0;
	return d->n_inputs++;
}

const char *
df_input_name(const struct df *d, int input)
{
	if (input < 0 || input >= d->n_inputs)
		return "unknown";
	return d->input_name[input];
}

/* ------------------------------------------------------------ source keys */

/* The counting key: IPv4 address, or IPv6 masked to v6_prefix_len. */
static void
source_key(const struct df *d, const struct df_addr *src, struct df_addr *masked)
{
	*masked = *src;
	if (src->family == 6)
		mask_bits(masked->a, d->set.v6_prefix_len, 128);
}

static void
key_text(const struct df_addr *k, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = k->family == 4 ? 4 : 16, i, o = 0;

	buf[o++] = k->family == 4 ? '4' : '6';
	buf[o++] = ':';
	for (i = 0; i < n && o + 3 < size; i++) {
		buf[o++] = hex[k->a[i] >> 4];
		buf[o++] = hex[k->a[i] & 15];
	}
	buf[o] = '\0';
}

static uint64_t
addr_hash(const struct df_addr *a)
{
	return ctr_hash(a, sizeof *a);
}

/* ------------------------------------------------------------ firing state */

static struct fstate *
state_find(struct df *d, uint64_t key, int create, int64_t now)
{
	struct fstate *set = &d->state[(key & (d->state_sets - 1)) * STATE_WAYS];
	struct fstate *victim = NULL;
	int i;

	for (i = 0; i < STATE_WAYS; i++)
		if (set[i].key == key) {
			if (now - set[i].last_seen_ms > d->set.idle_ms) {
				memset(&set[i], 0, sizeof set[i]);   /* idle: forget */
				set[i].key = key;
			}
			return &set[i];
		}
	if (!create)
		return NULL;
	for (i = 0; i < STATE_WAYS; i++) {
		if (set[i].key == 0 || now - set[i].last_seen_ms > d->set.idle_ms) {
			victim = &set[i];
			break;
		}
		if (victim == NULL || set[i].last_seen_ms < victim->last_seen_ms)
			victim = &set[i];
	}
	if (victim->key != 0 && now - victim->last_seen_ms <= d->set.idle_ms)
		d->st.state_evictions++;
	memset(victim, 0, sizeof *victim);
	victim->key = key;
	victim->last_seen_ms = now;
	return victim;
}

static double
score_of(const struct df_settings *s, double attempts, double failed, double dests, int smarthost)
{
	double ratio = dests / (double)s->min_destinations - 1.0;
	double share = attempts > 0 ? failed / attempts : 0;
	double score;

	if (ratio < 0)
		ratio = 0;
	if (ratio > 4)
		ratio = 4;
	if (share > 1)
		share = 1;
	score = s->weight_base + s->weight_volume * ratio + s->weight_failed * share
	    + (smarthost ? s->weight_smarthost : 0);
	if (score > 1000)
		score = 1000;
	if (score < 0)
		score = 0;
	return score;
}

/* ------------------------------------------------------------ first sightings */

/*
 * Most sources that try port 25 once never try again (scanners, a flood of
 * spoofed or distinct addresses, a mail client misconfigured for a minute).
 * Entering each of them in the counters costs an insert into a table of up
 * to a million entries (cache misses in the index, the slot and the
 * table's expiry sweep: most of the per-SYN cost under a flood) and ~100
 * bytes.  So the first resolved attempt (or smarthost use) of an IPv4
 * source is parked here instead, as its source, destination, second and
 * outcome: 13 bytes.  Its second one replays the parked one into the
 * counters with its own second, then counts itself as always: the counters
 * end up exactly as if both had gone there directly (buckets and the
 * counters' timestamps are whole seconds, the sketch item is the same
 * destination hash), so a source crosses min_attempts and min_destinations
 * at the same attempt with the same evidence as before.  A first attempt
 * alone never reaches the firing state as long as the warm-up threshold
 * (count_resolved) is at least 2, i.e. min_attempts and min_destinations
 * are both 7 or more; with lower thresholds nothing is parked.
 *
 * A parked sighting that the counters would have forgotten anyway (older
 * than two windows, or idle for idle_ms) is dead and its way reused.  When
 * a bucket has no free way the attempt goes to the counters directly, as it
 * always did (exact, only slower).  Parked sightings are tracked sources:
 * with the counters' keys they stay within max_sources; at the cap a new
 * sighting evicts the least recently parked one of its two buckets and 8
 * random ones (counted as a source eviction) rather than a counted source;
 * when none holds one the counters make room by their own policy.
 *
 * WHY A TABLE OF OUR OWN: a look-up must be one cache line that can be
 * fetched ahead (the attempt that will be counted is known seconds of
 * traffic in advance), nothing may be allocated per entry, entries age out
 * by traffic time without a timer, and a full bucket must fall back to the
 * counters instead of losing an entry.  A general hash table (glib's
 * GHashTable, uthash, a C++ map) allocates and chains per key (two or more
 * dependent misses, 40+ bytes a key), and counters.h is the very cost
 * avoided here.  Buckets of four ways in one 64-byte line, two choices per
 * source (up to high load a bucket rarely overflows), max_sources ways in a
 * lazily zeroed mapping (16 bytes per allowed source, only what is touched).
 * bench/bench_flowd measures it against the counters path (bench/flow.md).
 */
#define FS_WAYS 4
#define FS_LIVE 0x01
#define FS_ATTEMPT 0x02        /* an attempt (else a smarthost use) */
#define FS_FAILED 0x04
#define FS_REFRESH_OPS 4096     /* re-read the counters' key count this often */
#define FS_EVICT_SAMPLE 8
#define FS_SEEN_BYTES (64 - 13 * FS_WAYS - 1)
#define FS_SEEN_BITS (FS_SEEN_BYTES * 8)

struct fbucket {
	uint32_t src[FS_WAYS];     /* the IPv4 source (its counting key), network order */
	uint32_t dst[FS_WAYS];     /* the IPv4 destination of the attempt */
	uint32_t sec[FS_WAYS];     /* traffic time counted, epoch seconds as the counters keep it */
	uint8_t flags[FS_WAYS];
	uint8_t ovf;               /* a source of this bucket went to its second bucket */
	uint8_t counted[FS_SEEN_BYTES];   /* see fb_mark */
} __attribute__((aligned(64)));

/* Epoch seconds as counters.c clamps them. */
static inline uint32_t
sec_of(int64_t ms)
{
	int64_t q = ms / 1000;

	if (ms % 1000 != 0 && ms < 0)
		q--;
	if (q < 0)
		return 0;
	if (q > (int64_t)UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)q;
}

/*
 * The table is made at its full size (max_sources ways, 16 bytes each) but
 * as an anonymous mapping: pages are zero until touched, so memory grows
 * with the sources actually parked, and there is never a rehash.
 */
static struct fbucket *
fb_alloc(size_t n)
{
	void *m = zmap(n * sizeof(struct fbucket));

#ifdef MADV_HUGEPAGE
	/* random access over megabytes: one TLB entry and one fault per 2 MB */
	if (n * sizeof(struct fbucket) >= (4u << 20))
		(void)madvise(m, n * sizeof(struct fbucket), MADV_HUGEPAGE);
#endif
	return m;
}

static void
fb_free(struct df *d)
{
	if (d->fb != NULL)
		munmap(d->fb, d->fb_n * sizeof(struct fbucket));
	d->fb = NULL;
}

static void
fb_setup(struct df *d)
{
	/* max_sources ways: the cap keeps parked and counted sources within
	 * max_sources, so parking never runs out of room before the cap.
	 * (Half as many ways saves 8 bytes a source when every source is
	 * counted, but then a flood at the cap evicts bots' first sightings
	 * that the counters' LRU would have kept: measured, bench/flow.md.) */
	size_t max = (d->set.max_sources + FS_WAYS - 1) / FS_WAYS;

	if (max < 2)
		max = 2;
	if (max > ((size_t)1 << 32))
		max = (size_t)1 << 32;

	d->fb_n = max;
	d->fb = fb_alloc(d->fb_n);
	d->fb_live = 0;
	d->fb_swept = 0;
	d->fb_hand = 0;
	d->fb_min_sec = UINT32_MAX;
	d->fb_rng = d->seed | 1;
	d->ctr_win_s = (uint32_t)(d->set.window_ms / 1000 > 0 ? d->set.window_ms / 1000 : 1);
	d->ctr_idle_s = (uint32_t)(d->set.idle_ms / 1000 > 0 ? d->set.idle_ms / 1000 : 1);
	d->ctr_keys_est = 0;
}

/* The two buckets a source may live in (per-detector seed: hostile traffic
 * cannot aim at one bucket). */
static inline uint64_t
fb_hash(const struct df *d, uint32_t src)
{
	return mix64(d->seed ^ 0x6a09e667f3bcc909ULL ^ src);
}

/* (32-bit hash half x n) >> 32: any bucket count, no power-of-two waste */
static inline size_t
fb_b1(uint64_t h, size_t n)
{
	return (size_t)(((h & 0xffffffffu) * (uint64_t)n) >> 32);
}

static inline size_t
fb_b2(uint64_t h, size_t n)
{
	return (size_t)(((h >> 32) * (uint64_t)n) >> 32);
}

/* Would the counters hold nothing of this sighting at now? */
static inline int
fb_dead(const struct df *d, uint32_t sec, uint32_t now)
{
	if (now <= sec)
		return 0;
	if (now - sec >= d->ctr_idle_s)
		return 1;
	return now / d->ctr_win_s - sec / d->ctr_win_s >= 2;
}

static void
fb_clear(struct df *d, struct fbucket *b, int w)
{
	b->flags[w] = 0;
	d->fb_live--;
}

/* A parked sighting the counters would have forgotten by now. */
static void
fb_expire(struct df *d, struct fbucket *b, int w)
{
	fb_clear(d, b, w);
	d->st.first_expired++;
}

/*
 * Expire the dead parked sightings of up to n buckets from the hand on.
 * Nothing to do while even the oldest sighting parked since the last whole
 * sweep is alive (fb_dead only grows with age).
 */
static void
fb_sweep(struct df *d, size_t n)
{
	uint32_t now = sec_of(d->now_ms), oldest = UINT32_MAX;
	int w, whole;

	if (d->fb_live == 0 || !fb_dead(d, d->fb_min_sec, now))
		return;
	if (n > d->fb_n)
		n = d->fb_n;
	whole = n == d->fb_n;
	while (n-- > 0 && d->fb_live > 0) {
		struct fbucket *b = &d->fb[d->fb_hand];
		for (w = 0; w < FS_WAYS; w++) {
			if (!(b->flags[w] & FS_LIVE))
				continue;
			if (fb_dead(d, b->sec[w], now))
				fb_expire(d, b, w);
			else if (b->sec[w] < oldest)
				oldest = b->sec[w];
		}
		if (++d->fb_hand == d->fb_n)
			d->fb_hand = 0;
	}
	if (whole || d->fb_live == 0)
		d->fb_min_sec = oldest;
}

/* Look for src in b, freeing dead ways on the way: its way, or -1;
 * *free_way gets a free way of b (or stays as it was). */
static int
fb_scan(struct df *d, struct fbucket *b, uint32_t src, uint32_t now, int *free_way)
{
	int w, found = -1;

	for (w = 0; w < FS_WAYS; w++) {
		if ((b->flags[w] & FS_LIVE) && fb_dead(d, b->sec[w], now))
			fb_expire(d, b, w);
		if (!(b->flags[w] & FS_LIVE)) {
			if (*free_way < 0)
				*free_way = w;
		} else if (b->src[w] == src) {
			found = w;
		}
	}
	return found;
}

static void
fb_put(struct fbucket *b, int w, uint32_t src, uint32_t dst, uint32_t sec, uint8_t flags)
{
	b->src[w] = src;
	b->dst[w] = dst;
	b->sec[w] = sec;
	b->flags[w] = flags;
}

/*
 * Which sources may have a key in the counters: every IPv4 key the
 * detector gives the counters sets one of 88 bits in its first bucket, so
 * that a new source (bit clear: surely not counted) is parked without
 * asking the counters (a locked look-up, ctr_peek).  Bits are never
 * cleared while the counters live: a set bit only costs that look-up.
 */
static inline unsigned
fb_seen_bit(uint64_t h)
{
	return (unsigned)(((h >> 40) & 0xffffff) * FS_SEEN_BITS >> 24);
}

static void
fb_mark(struct df *d, uint32_t src)
{
	uint64_t h = fb_hash(d, src);
	struct fbucket *b = &d->fb[fb_b1(h, d->fb_n)];
	unsigned bit = fb_seen_bit(h);

	if (!(b->counted[bit >> 3] & (1u << (bit & 7))))
		b->counted[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

/* Put a parked sighting into the counters, at its own second. */
static void
fb_replay(struct df *d, uint32_t src, uint32_t dst, uint32_t sec, uint8_t flags)
{
	struct df_addr k, da;
	char kt[48];
	uint32_t inc[C_N] = { 0, 0, 0 };
	uint64_t dh[1];

	memset(&k, 0, sizeof k);
	k.family = 4;
	memcpy(k.a, &src, 4);
	key_text(&k, kt, sizeof kt);
	fb_mark(d, src);
	if (flags & FS_ATTEMPT) {
		memset(&da, 0, sizeof da);
		da.family = 4;
		memcpy(da.a, &dst, 4);
		dh[0] = addr_hash(&da);
		inc[C_ATTEMPTS] = 1;
		inc[C_FAILED] = (flags & FS_FAILED) ? 1 : 0;
		ctr_update(d->ctr, kt, (int64_t)sec * 1000, inc, dh, NULL);
	} else {
		inc[C_SMARTHOST] = 1;
		ctr_update(d->ctr, kt, (int64_t)sec * 1000, inc, NULL, NULL);
	}
	d->ctr_keys_est++;
}

static void
fb_refresh(struct df *d)
{
	struct ctr_stats cs;

	ctr_get_stats(d->ctr, &cs);
	d->ctr_keys_est = cs.keys;
	d->fb_refreshed = d->fb_ops;
}

/*
 * Are tracked sources (counters and parked) at max_sources?  fb_live also
 * counts parked sightings that have aged out but were not visited since
 * (a look-up frees the dead ways of the buckets it reads); before evicting
 * on that account, expire the whole table, at most once per fb_n offers
 * (as costly as a clock hand stepping one bucket per offer, but only
 * near the cap).
 */
static int
fb_at_cap(struct df *d)
{
	if (d->ctr_keys_est + d->fb_live < d->set.max_sources)
		return 0;
	if (d->fb_ops - d->fb_refreshed >= 64)
		fb_refresh(d);
	if (d->ctr_keys_est + d->fb_live >= d->set.max_sources && d->fb_ops - d->fb_swept >= d->fb_n) {
		fb_sweep(d, d->fb_n);
		d->fb_swept = d->fb_ops;
	}
	return d->ctr_keys_est + d->fb_live >= d->set.max_sources;
}

static inline uint64_t
fb_rand(struct df *d)
{
	d->fb_rng ^= d->fb_rng << 13;
	d->fb_rng ^= d->fb_rng >> 7;
	d->fb_rng ^= d->fb_rng << 17;
	return mix64(d->fb_rng);
}

/* Oldest parked way of bucket b, or -1. */
static int
fb_oldest(const struct fbucket *b)
{
	int w, best = -1;

	for (w = 0; w < FS_WAYS; w++)
		if ((b->flags[w] & FS_LIVE) && (best < 0 || b->sec[w] < b->sec[best]))
			best = w;
	return best;
}

/*
 * Offer a resolved attempt (or smarthost use, attempt = 0) of IPv4 key
 * src to the table.  Returns 1 when it was parked (nothing more to do), 0
 * when the caller counts it in the counters as usual; a parked earlier
 * sighting of the same source has then been replayed there first.  park:
 * whether a new source may be parked (see warm_of).
 *
 * A source lives in its first bucket, or in its second when the first was
 * full (the first then carries ovf, so that look-ups of most sources read
 * one line): two choices keep buckets from overflowing up to high load.
 */
static int
fb_offer(struct df *d, uint32_t src, const struct df_addr *dst, int attempt, int failed,
    const struct df_addr *k, int64_t now_ms, int park)
{
	uint32_t now = sec_of(now_ms), d4;
	uint64_t h;
	struct fbucket *b1, *b2, *b = NULL;
	int w, f1 = -1, f2 = -1, scanned2 = 0;

	if (!park && d->fb_live == 0)
		return 0;
	d->fb_ops++;
	if (d->fb_ops - d->fb_refreshed >= FS_REFRESH_OPS)
		fb_refresh(d);
	h = fb_hash(d, src);
	b1 = &d->fb[fb_b1(h, d->fb_n)];
	b2 = &d->fb[fb_b2(h, d->fb_n)];
	if ((w = fb_scan(d, b1, src, now, &f1)) >= 0) {
		b = b1;
	} else if (b1->ovf && b2 != b1) {
		scanned2 = 1;
		if ((w = fb_scan(d, b2, src, now, &f2)) >= 0)
			b = b2;
	}
	if (b != NULL) {
		/* the second sighting: both go to the counters */
		fb_replay(d, src, b->dst[w], b->sec[w], b->flags[w]);
		fb_clear(d, b, w);
		d->st.first_promoted++;
		return 0;
	}
	if (!park)
		return 0;
	/* known to the counters already (a spill, or counted before): count it there */
	{
		unsigned bit = fb_seen_bit(h);
		char kt[48];

		if (b1->counted[bit >> 3] & (1u << (bit & 7))) {
			key_text(k, kt, sizeof kt);
			if (ctr_peek(d->ctr, kt, now_ms, NULL) == 0)
				return 0;
		}
	}
	if (f1 < 0 && !scanned2 && b2 != b1)
		fb_scan(d, b2, src, now, &f2);
	/* keep within max_sources: make room among the parked, not the
	 * counted: the least recently parked of a sample of buckets (the
	 * counters' approximate LRU samples 8 keys the same way) */
	if (fb_at_cap(d)) {
		struct fbucket *vb = NULL;
		int v = -1, j;
		for (j = 0; j < FS_EVICT_SAMPLE + 2; j++) {
			struct fbucket *cb = j == 0 ? b1 : j == 1 ? b2
			    : &d->fb[fb_b1(fb_rand(d), d->fb_n)];
			int o = fb_oldest(cb);
			if (o >= 0 && (v < 0 || cb->sec[o] < vb->sec[v])) {
				vb = cb;
				v = o;
			}
		}
		if (v < 0) {
			d->ctr_keys_est++;
			return 0;
		}
		fb_clear(d, vb, v);
		d->st.first_evicted++;
		if (f1 < 0 && vb == b1)
			f1 = v;
		else if (f1 < 0 && f2 < 0 && vb == b2)
			f2 = v;
	}
	if (f1 >= 0) {
		b = b1;
		w = f1;
	} else if (f2 >= 0) {
		b = b2;
		w = f2;
		b1->ovf = 1;
	} else {
		/* both buckets full: the counters take it, exactly as before */
		d->st.first_spilled++;
		d->ctr_keys_est++;
		return 0;
	}
	memcpy(&d4, dst->a, 4);
	fb_put(b, w, src, d4, now, (uint8_t)(FS_LIVE | (attempt ? FS_ATTEMPT : 0) | (failed ? FS_FAILED : 0)));
	d->fb_live++;
	if (now < d->fb_min_sec)
		d->fb_min_sec = now;
	d->st.first_parked++;
	return 1;
}

/* Warm-up threshold of the firing state (see count_resolved). */
static long
warm_of(const struct df_settings *s)
{
	long warm = s->min_attempts < s->min_destinations ? s->min_attempts : s->min_destinations;

	warm -= DF_SAMPLE_MAX;
	return warm < 1 ? 1 : warm;
}

/* IPv4, both addresses in the documented form (the rest zero). */
static inline int
plain_v4(const struct df_addr *a)
{
	uint32_t tail;

	memcpy(&tail, a->a + 12, 4);
	return a->family == 4 && load64(a->a + 4) == 0 && tail == 0;
}

/* ------------------------------------------------------------ counting */

static void
count_resolved(struct df *d, const struct pending *p, enum df_outcome oc)
{
	struct df_addr k;
	char kt[48];
	uint32_t inc[C_N] = { 0, 0, 0 };
	uint64_t dh[1] = { 0 };
	struct ctr_values v;
	double attempts, failed, dests;
	int smarthost;
	uint64_t kh;
	struct fstate *fs;
	long warm;
	int64_t now = d->now_ms;

	source_key(d, &p->src, &k);
	warm = warm_of(&d->set);
	if (p->smarthost) {
		d->st.smarthost++;
		if (k.family == 4) {
			uint32_t s4;
			memcpy(&s4, k.a, 4);
			if (fb_offer(d, s4, &p->dst, 0, 0, &k, now, warm >= 2 && plain_v4(&k)))
				return;
			fb_mark(d, s4);
		}
		key_text(&k, kt, sizeof kt);
		inc[C_SMARTHOST] = 1;
		ctr_update(d->ctr, kt, now, inc, NULL, NULL);
		return;
	}
	d->st.attempts++;
	switch (oc) {
	case DF_ESTABLISHED: d->st.established++; break;
	case DF_REFUSED: d->st.refused++; break;
	case DF_UNANSWERED: d->st.unanswered++; break;
	case DF_UNKNOWN: d->st.unknown++; break;
	}
	inc[C_ATTEMPTS] = 1;
	inc[C_FAILED] = (oc == DF_REFUSED || oc == DF_UNANSWERED) ? 1 : 0;
	if (k.family == 4) {
		/* (an address not in the documented form is never parked) */
		uint32_t s4;
		memcpy(&s4, k.a, 4);
		if (fb_offer(d, s4, &p->dst, 1, inc[C_FAILED] != 0, &k, now,
		    warm >= 2 && plain_v4(&k) && plain_v4(&p->dst)))
			return;
		fb_mark(d, s4);
	}
	key_text(&k, kt, sizeof kt);
	dh[0] = addr_hash(&p->dst);
	ctr_update(d->ctr, kt, now, inc, dh, &v);
	attempts = v.count[C_ATTEMPTS][0];
	failed = v.count[C_FAILED][0];
	smarthost = v.count[C_SMARTHOST][0] > 0;
	dests = v.distinct[0][0];

	/* far below the thresholds there is no firing state to keep: skip
	 * the (cache-missing) look-up.  Counts rise one at a time, so a source
	 * on its way up passes through [warm, threshold), where its state is
	 * created or re-armed. */
	if (attempts < (double)warm && dests < (double)warm)
		return;
	kh = addr_mix(&k, d->seed ^ 0x2545f4914f6cdd1dULL);
	if (kh == 0)
		kh = 1;
	fs = state_find(d, kh, 1, now);
	if (fs == NULL)
		return;
	fs->last_seen_ms = now;
	if (fs->n_sample < DF_SAMPLE_MAX) {
		int i, seen = 0;
		for (i = 0; i < fs->n_sample; i++)
			if (addr_eq(&fs->sample[i], &p->dst))
				seen = 1;
		if (!seen)
			fs->sample[fs->n_sample++] = p->dst;
	}
	if (attempts >= (double)d->set.min_attempts && dests >= (double)d->set.min_destinations) {
		int fire = 0, repeat = 0;

		if (!fs->above) {
			fire = 1;
		} else if (now - fs->last_fire_ms >= d->set.window_ms) {
			fire = 1;
			repeat = 1;
		}
		fs->above = 1;
		if (fire) {
			struct df_hit h;
			int i;

			memset(&h, 0, sizeof h);
			h.ts_ms = p->ts_ms;
			h.src = p->src;
			if (k.family == 6) {
				char a[48];
				snprintf(h.key, sizeof h.key, "%s/%d", df_addr_format(&k, a, sizeof a),
				    d->set.v6_prefix_len & 0xff);
			} else {
				df_addr_format(&k, h.key, sizeof h.key);
			}
			h.attempts = attempts;
			h.failed = failed;
			h.destinations = dests;
			h.smarthost = smarthost;
			h.window_ms = d->set.window_ms;
			for (i = 0; i < fs->n_sample; i++)
				h.sample[i] = fs->sample[i];
			h.n_sample = fs->n_sample;
			h.input = df_input_name(d, p->input);
			h.score = score_of(&d->set, attempts, failed, dests, smarthost);
			h.repeat = repeat;
			fs->last_fire_ms = now;
			fs->n_sample = 0;        /* the next report shows fresh samples */
			d->st.hits++;
			if (d->fn != NULL)
				d->fn(d->ud, &h);
		}
	} else {
		fs->above = 0;
	}
}

/* ------------------------------------------------------------ pending attempts */

static uint64_t
tuple_hash(const struct df *d, const struct df_addr *src, const struct df_addr *dst,
    uint16_t sport, uint16_t dport)
{
	uint64_t h = addr_mix(src, d->seed);

	h = addr_mix(dst, h);
	h = mix64(h ^ ((uint64_t)sport << 16) ^ dport);
	return h ? h : 1;
}

/*
 * Index words: the low 32 bits of the tuple hash above the ring position + 1
 * (0: empty).  The hash half gives an entry's home slot without reading the
 * ring, so that finding and deleting never touch ring entries other than
 * the one wanted (the ring is megabytes; the index stays in the L2 cache).
 */
#define IDX_POS(w) ((uint32_t)(w))
#define IDX_HASH(w) ((uint32_t)((w) >> 32))
#define IDX_WORD(h, pos) (((uint64_t)(uint32_t)(h) << 32) | (uint32_t)((pos) + 1))

static struct pending *
ring_at(struct df *d, uint64_t word)
{
	return &d->ring[(IDX_POS(word) - 1) & (d->ring_cap - 1)];
}

/* Index slot holding the pending attempt for this tuple, or -1. */
static long
index_find_h(struct df *d, uint64_t h, const struct df_addr *src, const struct df_addr *dst,
    uint16_t sport, uint16_t dport)
{
	size_t mask = d->index_cap - 1, i = h & mask;

	while (d->index[i] != 0) {
		if (IDX_HASH(d->index[i]) == (uint32_t)h) {
			struct pending *p = ring_at(d, d->index[i]);
			if (p->hash == (uint32_t)h && p->sport == sport && p->dport == dport && addr_eq(&p->src, src)
			    && addr_eq(&p->dst, dst))
				return (long)i;
		}
		i = (i + 1) & mask;
	}
	return -1;
}

static long
index_find(struct df *d, const struct df_addr *src, const struct df_addr *dst,
    uint16_t sport, uint16_t dport)
{
	return index_find_h(d, tuple_hash(d, src, dst, sport, dport), src, dst, sport, dport);
}

/* Remove index slot i, shifting later entries of the cluster back. */
static void
index_delete(struct df *d, size_t i)
{
	size_t mask = d->index_cap - 1, j = i;

	d->index[i] = 0;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (d->index[j] == 0)
			return;
		home = IDX_HASH(d->index[j]) & mask;
		/* move j into the hole i when its home is not in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			d->index[i] = d->index[j];
			d->index[j] = 0;
			i = j;
		}
	}
}

static void
resolve_slot(struct df *d, long slot, enum df_outcome oc)
{
	struct pending *p = ring_at(d, d->index[slot]);
	struct pending copy = *p;

	p->live = 0;
	index_delete(d, (size_t)slot);
	d->st.pending--;
	count_resolved(d, &copy, oc);
}

/* Resolve the ring's head entry (live) by timeout or eviction. */
static void
resolve_head(struct df *d, enum df_outcome oc)
{
	uint32_t pos = (uint32_t)(d->head & (d->ring_cap - 1));
	struct pending *p = &d->ring[pos];
	size_t mask = d->index_cap - 1, i = p->hash & mask;

	while (d->index[i] != 0) {
		if (IDX_POS(d->index[i]) == pos + 1) {
			resolve_slot(d, (long)i, oc);
			return;
		}
		i = (i + 1) & mask;
	}
	p->live = 0;
}

static enum df_outcome
timeout_outcome(const struct df *d, const struct pending *p)
{
	return d->input_replies[p->input] ? DF_UNANSWERED : DF_UNKNOWN;
}

/*
 * Attempts leave the ring in order, so what resolving the one at pos will
 * touch is known early: its index slot and its first-sighting bucket, both
 * random in tables larger than the cache once packets stream through.
 * Fetch them PF_AHEAD resolutions in advance.
 */
#define PF_AHEAD 6


static inline void
prefetch_pending(struct df *d, uint64_t pos)
{
	const struct pending *p;

	if (pos + PF_AHEAD < d->tail)
		PREFETCH(&d->ring[(pos + PF_AHEAD) & (d->ring_cap - 1)]);
	if (pos >= d->tail)
		return;
	p = &d->ring[pos & (d->ring_cap - 1)];
	if (!p->live)
		return;
	PREFETCH(&d->index[p->hash & (d->index_cap - 1)]);
	if (p->src.family == 4) {
		uint32_t s4;
		uint64_t h;
		memcpy(&s4, p->src.a, 4);
		h = fb_hash(d, s4);
		/* not the second bucket: rarely needed, and a line fetched for
		 * nothing evicts what the packet path reads */
		PREFETCH(&d->fb[fb_b1(h, d->fb_n)]);
	}
}

void
df_advance(struct df *d, int64_t now_ms)
{
	if (now_ms > d->now_ms)
		d->now_ms = now_ms;
	while (d->head < d->tail) {
		struct pending *p = &d->ring[d->head & (d->ring_cap - 1)];
		if (p->live) {
			if (p->deadline_ms > d->now_ms)
				break;
			prefetch_pending(d, d->head + PF_AHEAD);
			resolve_head(d, timeout_outcome(d, p));
		}
		d->head++;
	}
}

void
df_flush(struct df *d)
{
	while (d->head < d->tail) {
		struct pending *p = &d->ring[d->head & (d->ring_cap - 1)];
		if (p->live) {
			if (p->deadline_ms > d->now_ms)
				d->now_ms = p->deadline_ms;
			prefetch_pending(d, d->head + PF_AHEAD);
			resolve_head(d, timeout_outcome(d, p));
		}
		d->head++;
	}
}

static void
pending_add(struct df *d, const struct df_addr *src, const struct df_addr *dst,
    uint16_t sport, uint16_t dport, int64_t ts, int input, int smarthost, uint64_t hint)
{
	struct pending *p;
	size_t mask = d->index_cap - 1, i;
	int64_t base;

	uint64_t h = hint != 0 ? hint : tuple_hash(d, src, dst, sport, dport);

	if (d->st.pending > 0 && index_find_h(d, h, src, dst, sport, dport) >= 0) {
		d->st.retransmits++;
		return;
	}
	/* a full ring: drop dead entries at the head, else resolve the oldest */
	while (d->tail - d->head >= d->ring_cap) {
		p = &d->ring[d->head & (d->ring_cap - 1)];
		if (p->live) {
			d->st.pending_evicted++;
			prefetch_pending(d, d->head + PF_AHEAD);
			resolve_head(d, DF_UNKNOWN);
		}
		d->head++;
	}
	p = &d->ring[d->tail & (d->ring_cap - 1)];
	memset(p, 0, sizeof *p);
	p->hash = (uint32_t)h;
	p->src = *src;
	p->dst = *dst;
	p->sport = sport;
	p->dport = dport;
	p->input = (uint8_t)input;
	p->smarthost = (uint8_t)smarthost;
	p->live = 1;
	p->ts_ms = ts;
	/* deadlines must grow along the ring: count from the watermark */
	base = ts > d->now_ms ? ts : d->now_ms;
	p->deadline_ms = base + d->set.syn_timeout_ms;
	i = h & mask;
	while (d->index[i] != 0)
		i = (i + 1) & mask;
	d->index[i] = IDX_WORD(h, d->tail & (d->ring_cap - 1));
	d->tail++;
	d->st.pending++;
}

/* An outgoing SYN (or a flow record that starts with one). */
static void
syn_out(struct df *d, const struct df_addr *src, const struct df_addr *dst,
    uint16_t sport, uint16_t dport, int64_t ts, int input, int established_now, uint64_t hint)
{
	int smarthost;

	if (dport != 25 && dport != 587)
		return;
	if (!df_in_scope(d, src)) {
		d->st.out_of_scope++;
		return;
	}
	smarthost = in_list(d->set.smarthosts, d->set.n_smarthosts, dst);
	if (!smarthost && dport != 25)
		return;
	if (established_now) {
		struct pending p;
		memset(&p, 0, sizeof p);
		p.src = *src;
		p.dst = *dst;
		p.sport = sport;
		p.dport = dport;
		p.input = (uint8_t)input;
		p.smarthost = (uint8_t)smarthost;
		p.ts_ms = ts;
		count_resolved(d, &p, DF_ESTABLISHED);
		return;
	}
	pending_add(d, src, dst, sport, dport, ts, input, smarthost, hint);
}

/* An answer from port 25/587 back to the initiator. */
static void
answer_in(struct df *d, const struct df_addr *from, const struct df_addr *to,
    uint16_t sport, uint16_t dport, uint8_t flags)
{
	long slot;

	if (sport != 25 && sport != 587)
		return;
	if (d->st.pending == 0)
		return;
	slot = index_find(d, to, from, dport, sport);
	if (slot < 0)
		return;
	if ((flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
		resolve_slot(d, slot, DF_ESTABLISHED);
	else if (flags & TCP_RST)
		resolve_slot(d, slot, DF_REFUSED);
	else if (flags & TCP_ACK)
		resolve_slot(d, slot, DF_ESTABLISHED);
}

/* The tuple hash a segment's look-up will use, or 0 when it has none. */
static inline uint64_t
segment_hash(const struct df *d, const struct df_segment *s)
{
	if ((s->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
		if (s->dport == 25 || s->dport == 587)
			return tuple_hash(d, &s->src, &s->dst, s->sport, s->dport);
	} else if ((s->sport == 25 || s->sport == 587) && d->st.pending > 0) {
		return tuple_hash(d, &s->dst, &s->src, s->dport, s->sport);
	}
	return 0;
}

static void
segment_h(struct df *d, const struct df_segment *s, uint64_t h)
{
	d->st.segments++;
	df_advance(d, s->ts_ms);
	if ((s->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		syn_out(d, &s->src, &s->dst, s->sport, s->dport, s->ts_ms, s->input, 0, h);
	else
		answer_in(d, &s->src, &s->dst, s->sport, s->dport, s->flags);
}

void
df_segment(struct df *d, const struct df_segment *s)
{
	uint64_t h = 0;

	if ((s->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && (s->dport == 25 || s->dport == 587)) {
		/* the index slot this SYN will probe: fetch it while time advances */
		h = tuple_hash(d, &s->src, &s->dst, s->sport, s->dport);
		PREFETCH(&d->index[h & (d->index_cap - 1)]);
	}
	segment_h(d, s, h);
}

/* Count queued entry i (segment_h, or its run of uninteresting segments). */
static inline void
queue_run(struct df *d, struct df_queue *q, unsigned i)
{
	if (q->ticks[i] != 0) {
		/* what segment_h does with them: count, move time on */
		d->st.segments += q->ticks[i];
		df_advance(d, q->seg[i].ts_ms);
	} else {
		segment_h(d, &q->seg[i], (q->seg[i].flags & (TCP_SYN | TCP_ACK)) == TCP_SYN ? q->hash[i] : 0);
	}
}

struct df_segment *
df_queue_next(struct df *d, struct df_queue *q)
{
	if (q->tail - q->head == DF_QUEUE_LEN)
		queue_run(d, q, q->head++ % DF_QUEUE_LEN);
	return &q->seg[q->tail % DF_QUEUE_LEN];
}

void
df_queue_commit(struct df *d, struct df_queue *q)
{
	unsigned i = q->tail % DF_QUEUE_LEN;
	const struct df_segment *s = &q->seg[i];
	uint64_t h;

	if (!df_segment_wanted(s->sport, s->dport, s->flags)) {
		/* syn_out and answer_in ignore it; df_advance twice at one time
		 * is df_advance once */
		if (q->tail != q->head) {
			unsigned j = (q->tail - 1) % DF_QUEUE_LEN;
			if (q->ticks[j] != 0 && q->seg[j].ts_ms == s->ts_ms) {
				q->ticks[j]++;
				return;
			}
		}
		q->ticks[i] = 1;
		q->tail++;
		return;
	}
	h = segment_hash(d, s);
	if (h != 0)
		PREFETCH(&d->index[h & (d->index_cap - 1)]);
	q->hash[i] = h;
	q->ticks[i] = 0;
	q->tail++;
}

void
df_queue_tick_slow(struct df *d, struct df_queue *q, int64_t ts_ms)
{
	struct df_segment *s = df_queue_next(d, q);
	unsigned i = q->tail % DF_QUEUE_LEN;

	s->ts_ms = ts_ms;
	q->ticks[i] = 1;
	q->tail++;
}

void
df_queue_drain(struct df *d, struct df_queue *q)
{
	while (q->head != q->tail)
		queue_run(d, q, q->head++ % DF_QUEUE_LEN);
	q->head = q->tail = 0;
}

void
df_flowrec(struct df *d, const struct df_flowrec *r)
{
	int64_t last = r->end_ms > r->start_ms ? r->end_ms : r->start_ms;

	d->st.records++;
	if (r->proto != 6)
		return;
	if ((r->dport == 25 || r->dport == 587) && (r->flags & TCP_SYN)) {
		/* the initiator's record: its ACK means the handshake completed */
		syn_out(d, &r->src, &r->dst, r->sport, r->dport, r->start_ms, r->input,
		    (r->flags & TCP_ACK) != 0, 0);
	} else if (r->sport == 25 || r->sport == 587) {
		answer_in(d, &r->src, &r->dst, r->sport, r->dport, r->flags);
	}
	df_advance(d, last);
}

void
df_get_stats(struct df *d, struct df_stats *out)
{
	struct ctr_stats cs;

	/* exact figures for tables up to 64 MB (4M sources), without holding
	 * the caller (flowd's lock) long for larger ones */
	fb_sweep(d, (size_t)1 << 20);
	ctr_get_stats(d->ctr, &cs);
	*out = d->st;
	out->sources = cs.keys + d->fb_live;
	out->first_live = d->fb_live;
	out->source_evictions = cs.evictions + d->st.first_evicted;
	out->source_expirations = cs.expirations + d->st.first_expired;
	out->bytes = cs.bytes + d->ring_cap * sizeof *d->ring + d->index_cap * sizeof *d->index
	    + d->state_sets * STATE_WAYS * sizeof *d->state + d->fb_n * sizeof *d->fb + sizeof *d;
}

/* ------------------------------------------------------------ events */

void
df_hit_event(const struct df_hit *h, struct event *ev)
{
	json_t *o = json_object(), *sample = json_array();
	char ip[64];
	int i;

	event_init(ev, h->ts_ms, "flow", "direct_mx", h->score);
	event_set_client_ip(ev, df_addr_format(&h->src, ip, sizeof ip));
	for (i = 0; i < h->n_sample; i++)
		json_array_append_new(sample, json_string(df_addr_format(&h->sample[i], ip, sizeof ip)));
	json_object_set_new(o, "attempts", json_integer((json_int_t)(h->attempts + 0.5)));
	json_object_set_new(o, "destinations", json_integer((json_int_t)(h->destinations + 0.5)));
	json_object_set_new(o, "failed", json_integer((json_int_t)(h->failed + 0.5)));
	json_object_set_new(o, "failed_share",
	    json_real(h->attempts > 0 ? (double)(long)(h->failed / h->attempts * 1000 + 0.5) / 1000 : 0));
	json_object_set_new(o, "smarthost", json_boolean(h->smarthost));
	json_object_set_new(o, "window_s", json_integer((json_int_t)(h->window_ms / 1000)));
	json_object_set_new(o, "destinations_sample", sample);
	json_object_set_new(o, "input", json_string(h->input ? h->input : ""));
	json_object_set_new(o, "key", json_string(h->key));
	if (h->repeat)
		json_object_set_new(o, "repeat", json_true());
	event_set_evidence(ev, o);
}
