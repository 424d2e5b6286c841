/*
 * counters.c - per-key sliding-window counters and distinct-count
 * estimates (see counters.h for the contract).
 *
 * WHY A TABLE OF OUR OWN.  The milter tracks up to a million subscribers in
 * at most 256 bytes each (issue 3).  A general-purpose hash library (glib,
 * uthash, a C++ map) allocates per key and carries pointers, a key copy and
 * allocator overhead per entry: that alone eats half the budget.  Here an
 * entry is a fixed-size slot (its size computed once from the spec) in
 * chunks of 64 slots, found through an open-addressing index of 32-bit slot
 * numbers; nothing is allocated per key.
 *
 * LAYOUT.  The table is split into stripes (up to 64, chosen by the top bits
 * of the key hash), each with its own mutex, index, slots, expiry clock hand
 * and eviction counter, so that the milter's threads rarely wait on one
 * another.  The cap is on the table's key count (an atomic counter): an
 * insert into a full table evicts from its own stripe (two threads racing
 * on different stripes may pass the cap by one key each, briefly).  Slots are dense
 * (0..n-1): a deletion moves the last slot into the hole.  The index is
 * linear probing with backward-shift deletion (no tombstones); each index
 * word holds slot number + 1 in its low 24 bits and 8 bits of the hash, so
 * most misses are decided without touching the slot.
 *
 * An entry: 64-bit key hash, the last update time (uint32 epoch seconds),
 * then for every count and window a current and a previous bucket (uint32,
 * saturating), then one distinct sketch per distinct set.
 *
 * SLIDING WINDOWS.  Each window of W seconds has fixed buckets aligned on
 * multiples of W (epoch time), so every key shares the boundaries and one
 * timestamp per entry tells which bucket the stored "current" one is.  The
 * value over the window at time t, a fraction f into the current bucket, is
 * the classic approximation cur + prev * (1 - f): it assumes the previous
 * bucket's events were spread evenly.  It always lies between cur (the
 * part of the window we know exactly) and cur + prev; with a steady rate it
 * is exact, with all of prev at the very start (or end) of its bucket it is
 * off by at most prev * (1 - f) (or prev * f).
 *
 * DISTINCT COUNTS.  A distinct set is m slots (default 96, ctr_spec
 * .distinct_slots).  An item hashes to one slot, which records the most
 * recent time it was hit, not as a timestamp but as its class in every
 * window: hit in the current bucket, in the previous bucket, or earlier.
 * With nested windows (each a multiple of the one before, as 60/600/3600)
 * only 10 class vectors can occur, so a slot is 4 bits; otherwise all 3^n
 * vectors are allowed and a slot is a byte.  When time moves on, every
 * class shifts by the number of bucket boundaries crossed, the same for all
 * slots, through a small state table.  Per window, C slots hit in the
 * current bucket and U hit in the current or previous one give linear-
 * counting estimates n(C) and n(U), n(k) = ln(1 - k/m) / ln(1 - 1/m), and
 * the window's estimate is interpolated like the counts:
 * n(C) + (n(U) - n(C)) * (1 - f).
 * ERROR (m = 96, measured by t/test_counters over 300 random sets each):
 * mean relative error about 6% at 10 items, 7% at 50, 9.5% at 200, bias
 * under 1.5% (the test asserts 8%, 9%, 12% and |bias| < 5%).  Below ~10
 * items it is mostly exact (an error needs two items in one slot).  It
 * saturates near m ln m (~440 for m = 96), above which it reports about
 * m ln 2m.  Milter thresholds live in 1..200.  For the standard error of
 * linear counting, sqrt(m (e^t - t - 1)) / n with t = n / m, see Whang et
 * al. 1990; more slots (ctr_spec.distinct_slots) lower it.
 *
 * MEMORY for the milter's spec (3 counts, 3 distinct, 3 nested windows):
 * 8 + 4 + 3*3*2*4 + 3*48 = 228, rounded to 232 bytes per slot, plus the
 * index (4 bytes per word, load 3/8..3/4: 5.3 to 10.7 bytes per key) and
 * the unused part of each stripe's last chunk: about 243 bytes per key at
 * 1M keys (bench/bench_counters measures it; bench/counters.md).
 *
 * EXPIRY AND EVICTION.  Each update also looks at two slots under the
 * stripe's clock hand and drops them if idle; ctr_expire sweeps everything.
 * A key found idle on update starts afresh (counted as an expiration).
 * Inserting into a table at max_keys samples 8 slots of the key's stripe
 * and evicts the one updated longest ago (approximate LRU, as Redis does;
 * an idle victim counts as an expiration, any other as an eviction).
 *
 * TIME.  Buckets advance on whole seconds (the entry keeps uint32 epoch
 * seconds; times before 1970 count as 1970); the interpolation uses the
 * caller's milliseconds.  A clock that steps back is treated as standing
 * still for keys updated since (nothing is subtracted).
 */
#include "config.h"
#include "counters.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SHIFT 6
#define CHUNK_SLOTS (1u << CHUNK_SHIFT)
#define NUM_BITS 24
#define NUM_MASK ((1u << NUM_BITS) - 1)
#define MAX_STRIPE_KEYS (NUM_MASK - 1)
#define EVICT_SAMPLE 8
#define SWEEP_PER_UPDATE 2
#define CLS_CUR 0
#define CLS_PREV 1
#define CLS_OLD 2
#define MAX_VEC 81                 /* 3^CTR_MAX_WINDOWS, room to spare */

struct stripe {
	pthread_mutex_t mu;
	uint32_t *index;               /* (tag << 24) | (slot number + 1); 0 empty */
	uint32_t mask;                 /* index size - 1 */
	uint32_t n;                    /* slots in use, dense */
	uint32_t cap;
	unsigned char **chunks;
	uint32_t nchunks, chunks_alloc;
	uint32_t hand;                 /* expiry clock hand */
	uint64_t rng;
	uint64_t evictions, expirations;
} __attribute__((aligned(64)));

/*
 * With shared counters, an update returns the summed counts of every host,
 * but a read (ctr_peek: the milter's check at MAIL of a subscriber already
 * over its limit) is local, because a second round trip per message would
 * double what Redis costs the milter.  So the table remembers, per key, the
 * counts the last shared update returned, and ctr_peek answers the larger of
 * those and the local ones while they are fresh: younger than a tenth of the
 * window (6 s of a minute), so that counts that have since slid out of a
 * window are not held against a subscriber for long.  A direct-mapped cache
 * (a newer key takes the place of an older one with the same index) bounded
 * at 65536 entries (7 MB) rather than a slot per key: it serves the
 * subscribers sending now, and a miss only means the local view.
 */
#define SEEN_LOCKS 16
#define SEEN_MAX 65536
struct shared_seen {
	uint64_t h;
	int64_t ts_ms;
	double count[CTR_MAX_COUNTS][CTR_MAX_WINDOWS];
};

struct ctr_table {
	struct ctr_spec spec;
	int nstripes, stripe_bits;
	size_t esize;                  /* bytes per slot */
	size_t off_dist;               /* offset of the distinct sketches */
	int m;                         /* distinct slots per set */
	int nibble;                    /* 1: 4-bit slots, 0: byte slots */
	size_t set_bytes;
	int nstates;
	uint8_t cls[256][CTR_MAX_WINDOWS];   /* class per window of each state */
	uint8_t vec2state[MAX_VEC];          /* 255: not a state */
	uint8_t fresh;                       /* the all-current state */
	/* per window, for each sketch byte: slots in it hit in the current
	 * bucket, and in the current or previous one */
	uint64_t lut_c[256], lut_u[256];     /* 16 bits per window */
	double *lc;                          /* estimate for k hit slots, 0..m */
	struct stripe *stripes;
	size_t nkeys;                        /* all stripes; atomic */
	/* shared counters (counters_redis.c); NULL: local only */
	struct ctr_remote *remote;
	const struct ctr_remote_ops *remote_ops;
	struct shared_seen *seen;            /* with a remote: see below */
	size_t seen_mask;
	pthread_mutex_t seen_mu[SEEN_LOCKS];
};

/* ---------------------------------------------------------------- hash */

static inline uint64_t
rd64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t
mum(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * A multiply-mix hash in the style of wyhash: 16 bytes per round folded with
 * a 64x64->128 multiply, the tail read as up to two little words, a final
 * multiply with the length.  Good avalanche, ~1 cycle per byte.
 */
int
ctr_redis_url_user(const char *rest, const char **user, size_t *ulen)
{
	const char *end = rest + strcspn(rest, "/");
	const char *at = memchr(rest, '@', (size_t)(end - rest));

	if (at == NULL)
		return 0;
	if (memchr(rest, ':', (size_t)(at - rest)) != NULL)
		return -1;
	*user = rest;
	*ulen = (size_t)(at - rest);
	return 1;
}

uint64_t
ctr_hash(const void *data, size_t len)
{
	static const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL,
	    k2 = 0x8ebc6af09c88c6e3ULL, k3 = 0x589965cc75374cc3ULL;
	const unsigned char *p = data;
	uint64_t h = k0 ^ (len * k1), a, b;
	size_t n = len;

	while (n > 16) {
		h = mum(rd64(p) ^ k1, rd64(p + 8) ^ h);
		p += 16;
		n -= 16;
	}
	a = b = 0;
	if (n >= 8) {
		a = rd64(p);
		memcpy(&b, p + n - 8, 8);          /* may overlap a: fine */
	} else if (n > 0) {
		unsigned char buf[8] = { 0 };
		memcpy(buf, p, n);
		a = rd64(buf);
		b = (uint64_t)n;
	}
	h = mum(a ^ k2, b ^ h ^ k3);
	h = mum(h ^ k0, (uint64_t)len ^ k1);
	return h != 0 ? h : k3;
}

/* ---------------------------------------------------------------- time */

static inline int64_t
floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline uint32_t
clamp_s(int64_t now_ms)
{
	int64_t s = floordiv(now_ms, 1000);
	if (s < 0)
		return 0;
	if (s > (int64_t)UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)s;
}

/* ---------------------------------------------------------------- slots */

static inline unsigned char *
slot_at(const struct ctr_table *t, const struct stripe *s, uint32_t num)
{
	return s->chunks[num >> CHUNK_SHIFT] + (size_t)(num & (CHUNK_SLOTS - 1)) * t->esize;
}

static inline uint64_t
e_hash(const unsigned char *e)
{
	uint64_t h;
	memcpy(&h, e, 8);
	return h;
}

static inline uint32_t
e_last(const unsigned char *e)
{
	uint32_t v;
	memcpy(&v, e + 8, 4);
	return v;
}

static inline void
e_set_last(unsigned char *e, uint32_t v)
{
	memcpy(e + 8, &v, 4);
}

static inline uint32_t *
e_counts(unsigned char *e)
{
	return (uint32_t *)(void *)(e + 12);
}

static inline void
sk_set(const struct ctr_table *t, unsigned char *sk, int i, uint8_t v)
{
	if (!t->nibble)
		sk[i] = v;
	else if (i & 1)
		sk[i >> 1] = (unsigned char)((sk[i >> 1] & 0x0f) | (v << 4));
	else
		sk[i >> 1] = (unsigned char)((sk[i >> 1] & 0xf0) | v);
}

static inline uint32_t
tag_of(uint64_t h)
{
	return (uint32_t)(h >> 40) & 0xff;
}

/* ---------------------------------------------------------------- states */

static int
vec_of(const uint8_t *c, int nw)
{
	int v = 0, w;
	for (w = nw - 1; w >= 0; w--)
		v = v * 3 + c[w];
	return v;
}

static void
add_state(struct ctr_table *t, const uint8_t *c)
{
	int v = vec_of(c, t->spec.n_windows);
	if (t->vec2state[v] != 255)
		return;
	t->vec2state[v] = (uint8_t)t->nstates;
	memcpy(t->cls[t->nstates], c, CTR_MAX_WINDOWS);
	t->nstates++;
}

/*
 * The class vectors that can occur.  With nested windows a vector depends
 * only on the hit's and now's bucket numbers in units of the smallest
 * window, and repeats every largest window: enumerate one period of "now"
 * against every age up to two largest windows (older is all-old).
 */
static void
build_states(struct ctr_table *t)
{
	int nw = t->spec.n_windows, w, nested = 1;
	uint8_t c[CTR_MAX_WINDOWS] = { 0 };

	memset(t->vec2state, 255, sizeof t->vec2state);
	t->nstates = 0;
	for (w = 0; w < nw; w++)
		c[w] = CLS_OLD;
	add_state(t, c);                        /* state 0: empty (calloc) */
	for (w = 1; w < nw; w++)
		if (t->spec.window_s[w] % t->spec.window_s[w - 1] != 0)
			nested = 0;
	if (nested) {
		int64_t w1 = t->spec.window_s[0], R = t->spec.window_s[nw - 1] / w1;
		int64_t nb, age;
		for (nb = 0; nb < R; nb++)
			for (age = 0; age <= 2 * R + 1; age++) {
				int64_t tb = nb - age;
				for (w = 0; w < nw; w++) {
					int64_t r = t->spec.window_s[w] / w1;
					int64_t k = floordiv(nb, r) - floordiv(tb, r);
					c[w] = (uint8_t)(k >= 2 ? CLS_OLD : k);
				}
				add_state(t, c);
			}
	} else {
		int v, total = 1;
		for (w = 0; w < nw; w++)
			total *= 3;
		for (v = 0; v < total; v++) {
			int x = v;
			for (w = 0; w < nw; w++) {
				c[w] = (uint8_t)(x % 3);
				x /= 3;
			}
			add_state(t, c);
		}
	}
	for (w = 0; w < nw; w++)
		c[w] = CLS_CUR;
	t->fresh = t->vec2state[vec_of(c, nw)];
	t->nibble = t->nstates <= 16;
}

/* Boundaries crossed per window from last to now (0, 1, 2 = two or more). */
static int
crossings(const struct ctr_table *t, uint32_t last, uint32_t now, int *k)
{
	int w, any = 0;
	for (w = 0; w < t->spec.n_windows; w++) {
		int64_t W = t->spec.window_s[w];
		int64_t d = (int64_t)(now / W) - (int64_t)(last / W);
		k[w] = d >= 2 ? 2 : (int)d;
		any |= k[w];
	}
	return any;
}

static void
transition(const struct ctr_table *t, const int *k, uint8_t *map)
{
	int st, w;
	for (st = 0; st < t->nstates; st++) {
		uint8_t c[CTR_MAX_WINDOWS] = { 0 };
		int v;
		for (w = 0; w < t->spec.n_windows; w++) {
			int x = t->cls[st][w] + k[w];
			c[w] = (uint8_t)(x > CLS_OLD ? CLS_OLD : x);
		}
		v = t->vec2state[vec_of(c, t->spec.n_windows)];
		map[st] = (uint8_t)(v == 255 ? 0 : v);
	}
}

/* ---------------------------------------------------------------- table */

struct ctr_table *
ctr_new(const struct ctr_spec *spec)
{
	struct ctr_table *t;
	size_t per, counts_bytes;
	int i, w, bits;

	if (spec == NULL || spec->n_counts < 0 || spec->n_counts > CTR_MAX_COUNTS ||
	    spec->n_distinct < 0 || spec->n_distinct > CTR_MAX_DISTINCT ||
	    spec->n_windows < 1 || spec->n_windows > CTR_MAX_WINDOWS ||
	    spec->max_keys < 1 || spec->idle_s < 1 ||
	    spec->distinct_slots < 0 || spec->distinct_slots > 4096)
		return NULL;
	for (w = 0; w < spec->n_windows; w++)
		if (spec->window_s[w] < 1 || spec->window_s[w] > 366L * 86400 ||
		    (w > 0 && spec->window_s[w] <= spec->window_s[w - 1]))
			return NULL;

	t = xcalloc(1, sizeof *t);
	t->spec = *spec;
	t->m = spec->distinct_slots > 0 ? spec->distinct_slots : CTR_DEFAULT_DISTINCT_SLOTS;
	build_states(t);
	for (w = 0; w < spec->n_windows; w++)
		for (i = 0; i < 256; i++) {
			int a = t->nibble ? (i & 0x0f) : i, b = t->nibble ? (i >> 4) : -1;
			int cc = 0, uu = 0;
			if (a < t->nstates) {
				cc += t->cls[a][w] == CLS_CUR;
				uu += t->cls[a][w] <= CLS_PREV;
			}
			if (b >= 0 && b < t->nstates) {
				cc += t->cls[b][w] == CLS_CUR;
				uu += t->cls[b][w] <= CLS_PREV;
			}
			t->lut_c[i] |= (uint64_t)cc << (16 * w);
			t->lut_u[i] |= (uint64_t)uu << (16 * w);
		}
	t->set_bytes = t->nibble ? (size_t)(t->m + 1) / 2 : (size_t)t->m;
	counts_bytes = (size_t)spec->n_counts * spec->n_windows * 2 * sizeof(uint32_t);
	t->off_dist = 12 + counts_bytes;
	t->esize = t->off_dist + (size_t)spec->n_distinct * t->set_bytes;
	t->esize = (t->esize + 7) & ~(size_t)7;

	t->lc = xcalloc((size_t)t->m + 1, sizeof *t->lc);
	for (i = 0; i <= t->m; i++) {
		double occ = i < t->m ? (double)i : t->m - 0.5;
		t->lc[i] = t->m == 1 ? occ : log1p(-occ / t->m) / log1p(-1.0 / t->m);
	}

	/* stripes: at least ~1024 keys each so the cap stays close to exact */
	for (bits = 0; bits < 6 && (spec->max_keys >> (bits + 1)) >= 1024; bits++)
		;
	t->stripe_bits = bits;
	t->nstripes = 1 << bits;
	per = (spec->max_keys + (size_t)t->nstripes - 1) / (size_t)t->nstripes;
	if (t->nstripes > 1)
		per = per * 2;     /* a safety net: the global count is the cap */
	if (per > MAX_STRIPE_KEYS)
		per = MAX_STRIPE_KEYS;
	if (posix_memalign((void **)&t->stripes, 64, sizeof *t->stripes * (size_t)t->nstripes) != 0) {
		fprintf(stderr, "botsentry: out of memory\n");
		abort();
	}
	memset(t->stripes, 0, sizeof *t->stripes * (size_t)t->nstripes);
	for (i = 0; i < t->nstripes; i++) {
		struct stripe *s = &t->stripes[i];
		pthread_mutex_init(&s->mu, NULL);
		s->mask = 63;
		s->index = xcalloc(64, sizeof *s->index);
		s->cap = (uint32_t)per;
		s->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
	}
	return t;
}

void
ctr_free(struct ctr_table *t)
{
	int i;
	uint32_t c;

	if (t == NULL)
		return;
	if (t->remote != NULL)
		t->remote_ops->free(t->remote);
	if (t->seen != NULL) {
		for (i = 0; i < SEEN_LOCKS; i++)
			pthread_mutex_destroy(&t->seen_mu[i]);
		free(t->seen);
	}
	for (i = 0; i < t->nstripes; i++) {
		struct stripe *s = &t->stripes[i];
		for (c = 0; c < s->nchunks; c++)
			free(s->chunks[c]);
		free(s->chunks);
		free(s->index);
		pthread_mutex_destroy(&s->mu);
	}
	free(t->stripes);
	free(t->lc);
	free(t);
}

static inline struct stripe *
stripe_of(const struct ctr_table *t, uint64_t h)
{
	return &t->stripes[t->stripe_bits == 0 ? 0 : h >> (64 - t->stripe_bits)];
}

/* Index position holding slot num (whose hash is h). */
static uint32_t
index_pos_of(const struct stripe *s, uint64_t h, uint32_t num)
{
	uint32_t pos = (uint32_t)h & s->mask;
	while ((s->index[pos] & NUM_MASK) != num + 1)
		pos = (pos + 1) & s->mask;
	return pos;
}

static int
index_find(const struct ctr_table *t, const struct stripe *s, uint64_t h, uint32_t *num)
{
	uint32_t pos = (uint32_t)h & s->mask, tag = tag_of(h), v;

	while ((v = s->index[pos]) != 0) {
		if ((v >> NUM_BITS) == tag && e_hash(slot_at(t, s, (v & NUM_MASK) - 1)) == h) {
			*num = (v & NUM_MASK) - 1;
			return 1;
		}
		pos = (pos + 1) & s->mask;
	}
	return 0;
}

static void
index_put(struct stripe *s, uint64_t h, uint32_t num)
{
	uint32_t pos = (uint32_t)h & s->mask;
	while (s->index[pos] != 0)
		pos = (pos + 1) & s->mask;
	s->index[pos] = (tag_of(h) << NUM_BITS) | (num + 1);
}

static void
index_grow(const struct ctr_table *t, struct stripe *s)
{
	uint32_t size = (s->mask + 1) * 2, i;

	free(s->index);
	s->index = xcalloc(size, sizeof *s->index);
	s->mask = size - 1;
	for (i = 0; i < s->n; i++)
		index_put(s, e_hash(slot_at(t, s, i)), i);
}

/* Remove the word at pos, shifting later words of the run back. */
static void
index_del_at(const struct ctr_table *t, struct stripe *s, uint32_t i)
{
	uint32_t j = i, k;

	s->index[i] = 0;
	for (;;) {
		j = (j + 1) & s->mask;
		if (s->index[j] == 0)
			return;
		k = (uint32_t)e_hash(slot_at(t, s, (s->index[j] & NUM_MASK) - 1)) & s->mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		s->index[i] = s->index[j];
		s->index[j] = 0;
		i = j;
	}
}

/* Delete slot num: unindex it, move the last slot into its place. */
static void
slot_delete(struct ctr_table *t, struct stripe *s, uint32_t num)
{
	unsigned char *e = slot_at(t, s, num);
	uint32_t last = s->n - 1;

	index_del_at(t, s, index_pos_of(s, e_hash(e), num));
	if (num != last) {
		unsigned char *l = slot_at(t, s, last);
		uint64_t lh = e_hash(l);
		uint32_t pos = index_pos_of(s, lh, last);
		memcpy(e, l, t->esize);
		s->index[pos] = (tag_of(lh) << NUM_BITS) | (num + 1);
	}
	s->n--;
	__atomic_fetch_sub(&t->nkeys, 1, __ATOMIC_RELAXED);
	/* give back a chunk once two are unused (hysteresis) */
	if (s->nchunks >= 2 && s->n + 2 * CHUNK_SLOTS <= s->nchunks * CHUNK_SLOTS) {
		s->nchunks--;
		free(s->chunks[s->nchunks]);
		s->chunks[s->nchunks] = NULL;
	}
}

static inline int
idle(const struct ctr_table *t, const unsigned char *e, uint32_t now)
{
	return now > e_last(e) && (int64_t)(now - e_last(e)) >= t->spec.idle_s;
}

static void
sweep(struct ctr_table *t, struct stripe *s, uint32_t now, int steps)
{
	while (steps-- > 0 && s->n > 0) {
		if (s->hand >= s->n)
			s->hand = 0;
		if (idle(t, slot_at(t, s, s->hand), now)) {
			slot_delete(t, s, s->hand);
			s->expirations++;
		} else {
			s->hand++;
		}
	}
}

static inline uint64_t
xorshift(uint64_t *st)
{
	uint64_t x = *st;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *st = x;
}

/* Make room at the cap: drop the least recently updated of a sample. */
static void
evict_one(struct ctr_table *t, struct stripe *s, uint32_t now)
{
	uint32_t victim = 0, best = UINT32_MAX, i, num;
	int tries = s->n <= EVICT_SAMPLE ? (int)s->n : EVICT_SAMPLE;

	for (i = 0; i < (uint32_t)tries; i++) {
		uint32_t l;
		num = s->n <= EVICT_SAMPLE ? i : (uint32_t)(((xorshift(&s->rng) >> 32) * s->n) >> 32);
		l = e_last(slot_at(t, s, num));
		if (l < best || i == 0) {
			best = l;
			victim = num;
		}
	}
	if (idle(t, slot_at(t, s, victim), now))
		s->expirations++;
	else
		s->evictions++;
	slot_delete(t, s, victim);
}

static unsigned char *
slot_insert(struct ctr_table *t, struct stripe *s, uint64_t h, uint32_t now)
{
	unsigned char *e;
	uint32_t num;

	if (s->n >= s->cap || (s->n > 0 &&
	    __atomic_load_n(&t->nkeys, __ATOMIC_RELAXED) >= t->spec.max_keys))
		evict_one(t, s, now);
	if ((s->n + 1) * 4 > (s->mask + 1) * 3)
		index_grow(t, s);
	num = s->n;
	if ((num >> CHUNK_SHIFT) >= s->nchunks) {
		if (s->nchunks == s->chunks_alloc) {
			s->chunks_alloc = s->chunks_alloc ? s->chunks_alloc * 2 : 4;
			s->chunks = xrealloc(s->chunks, s->chunks_alloc * sizeof *s->chunks);
		}
		s->chunks[s->nchunks++] = xmalloc(CHUNK_SLOTS * t->esize);
	}
	e = slot_at(t, s, num);
	memset(e, 0, t->esize);
	memcpy(e, &h, 8);
	e_set_last(e, now);
	index_put(s, h, num);
	s->n++;
	__atomic_fetch_add(&t->nkeys, 1, __ATOMIC_RELAXED);
	return e;
}

/* Bring the entry's buckets to now (which is >= its last update). */
static void
advance(const struct ctr_table *t, unsigned char *e, uint32_t now)
{
	int k[CTR_MAX_WINDOWS], i, w, j;
	uint32_t *cnt = e_counts(e);
	uint8_t map[256];

	if (!crossings(t, e_last(e), now, k)) {
		e_set_last(e, now);
		return;
	}
	for (i = 0; i < t->spec.n_counts; i++)
		for (w = 0; w < t->spec.n_windows; w++) {
			uint32_t *b = cnt + ((size_t)i * t->spec.n_windows + w) * 2;
			if (k[w] == 1) {
				b[1] = b[0];
				b[0] = 0;
			} else if (k[w] >= 2) {
				b[0] = b[1] = 0;
			}
		}
	if (t->spec.n_distinct > 0) {
		transition(t, k, map);
		for (j = 0; j < t->spec.n_distinct; j++) {
			unsigned char *sk = e + t->off_dist + (size_t)j * t->set_bytes;
			if (t->nibble) {
				size_t b;
				for (b = 0; b < t->set_bytes; b++)
					sk[b] = (unsigned char)(map[sk[b] & 0x0f] | (map[sk[b] >> 4] << 4));
			} else {
				for (i = 0; i < t->m; i++)
					sk[i] = map[sk[i]];
			}
		}
	}
	e_set_last(e, now);
}

/*
 * Values of entry e at now_ms.  The entry may be behind now: classes and
 * buckets are shifted on the fly, the entry itself is not changed.
 */
static void
values(const struct ctr_table *t, const unsigned char *e, int64_t now_ms, struct ctr_values *out)
{
	uint32_t now = clamp_s(now_ms), last = e_last(e);
	int k[CTR_MAX_WINDOWS], i, w, j, moved;
	double frac[CTR_MAX_WINDOWS];
	uint8_t map[256], mapbyte[256];
	const uint32_t *cnt = (const uint32_t *)(const void *)(e + 12);

	memset(out, 0, sizeof *out);
	if (now < last)
		now = last;
	if ((int64_t)now * 1000 > now_ms)
		now_ms = (int64_t)now * 1000;      /* clock stepped back */
	crossings(t, last, now, k);
	for (w = 0; w < t->spec.n_windows; w++) {
		int64_t W = t->spec.window_s[w] * 1000;
		frac[w] = (double)(now_ms - floordiv(now_ms, W) * W) / (double)W;
	}
	for (i = 0; i < t->spec.n_counts; i++)
		for (w = 0; w < t->spec.n_windows; w++) {
			const uint32_t *b = cnt + ((size_t)i * t->spec.n_windows + w) * 2;
			double cur = k[w] == 0 ? b[0] : 0, prev = k[w] == 0 ? b[1] : k[w] == 1 ? b[0] : 0;
			out->count[i][w] = cur + prev * (1.0 - frac[w]);
		}
	if (t->spec.n_distinct == 0)
		return;
	moved = k[0] | k[1 % t->spec.n_windows] | k[2 % t->spec.n_windows];
	if (moved) {
		/* the entry is behind now: shift every class on the fly */
		transition(t, k, map);
		for (i = 0; i < 256; i++)
			mapbyte[i] = t->nibble ? (uint8_t)(map[i & 0x0f] | (map[i >> 4] << 4)) :
			    (uint8_t)(i < t->nstates ? map[i] : 0);
	}
	for (j = 0; j < t->spec.n_distinct; j++) {
		const unsigned char *sk = e + t->off_dist + (size_t)j * t->set_bytes;
		uint64_t c = 0, u = 0;     /* 16-bit sums per window (m <= 4096) */
		size_t b;
		if (moved)
			for (b = 0; b < t->set_bytes; b++) {
				c += t->lut_c[mapbyte[sk[b]]];
				u += t->lut_u[mapbyte[sk[b]]];
			}
		else
			for (b = 0; b < t->set_bytes; b++) {
				c += t->lut_c[sk[b]];
				u += t->lut_u[sk[b]];
			}
		for (w = 0; w < t->spec.n_windows; w++) {
			double nc = t->lc[(c >> (16 * w)) & 0xffff], nu = t->lc[(u >> (16 * w)) & 0xffff];
			out->distinct[j][w] = nc + (nu - nc) * (1.0 - frac[w]);
		}
	}
}

static void
local_update(struct ctr_table *t, const char *key, int64_t now_ms,
    const uint32_t *inc, const uint64_t *dh, struct ctr_values *out)
{
	uint64_t h = ctr_hash_str(key);
	struct stripe *s = stripe_of(t, h);
	uint32_t now = clamp_s(now_ms), num;
	unsigned char *e;
	int i, w, j;

	pthread_mutex_lock(&s->mu);
	sweep(t, s, now, SWEEP_PER_UPDATE);
	if (index_find(t, s, h, &num)) {
		e = slot_at(t, s, num);
		if (idle(t, e, now)) {
			memset(e + 12, 0, t->esize - 12);
			e_set_last(e, now);
			s->expirations++;
		} else if (now > e_last(e)) {
			advance(t, e, now);
		}
	} else {
		e = slot_insert(t, s, h, now);
	}
	if (inc != NULL)
		for (i = 0; i < t->spec.n_counts; i++)
			for (w = 0; w < t->spec.n_windows; w++) {
				uint32_t *b = e_counts(e) + ((size_t)i * t->spec.n_windows + w) * 2;
				b[0] = inc[i] > UINT32_MAX - b[0] ? UINT32_MAX : b[0] + inc[i];
			}
	if (dh != NULL)
		for (j = 0; j < t->spec.n_distinct; j++) {
			if (dh[j] == 0)
				continue;
			sk_set(t, e + t->off_dist + (size_t)j * t->set_bytes,
			    (int)(((dh[j] >> 32) * (uint64_t)t->m) >> 32), t->fresh);
		}
	if (out != NULL)
		values(t, e, now_ms, out);
	pthread_mutex_unlock(&s->mu);
}

/* Remember the counts a shared update returned for key hash h. */
static void
seen_put(struct ctr_table *t, uint64_t h, int64_t now_ms, const struct ctr_values *v)
{
	size_t i = (size_t)h & t->seen_mask;
	pthread_mutex_t *mu = &t->seen_mu[i % SEEN_LOCKS];

	if (t->seen == NULL)
		return;
	pthread_mutex_lock(mu);
	if (t->seen[i].h == h && now_ms - t->seen[i].ts_ms < 1000 && t->seen[i].ts_ms - now_ms < 1000) {
		/* two updates of one key finishing within a second may arrive in
		 * either order: keep the larger counts, not the last written */
		int c, w;
		for (c = 0; c < CTR_MAX_COUNTS; c++)
			for (w = 0; w < CTR_MAX_WINDOWS; w++)
				if (v->count[c][w] > t->seen[i].count[c][w])
					t->seen[i].count[c][w] = v->count[c][w];
		if (now_ms > t->seen[i].ts_ms)
			t->seen[i].ts_ms = now_ms;
	} else {
		t->seen[i].h = h;
		t->seen[i].ts_ms = now_ms;
		memcpy(t->seen[i].count, v->count, sizeof t->seen[i].count);
	}
	pthread_mutex_unlock(mu);
}

/* Raise out's counts to the remembered shared ones that are still fresh;
 * 1 if any window was fresh. */
static int
seen_merge(struct ctr_table *t, uint64_t h, int64_t now_ms, struct ctr_values *out)
{
	size_t i = (size_t)h & t->seen_mask;
	pthread_mutex_t *mu = &t->seen_mu[i % SEEN_LOCKS];
	int c, w, used = 0;

	if (t->seen == NULL)
		return 0;
	pthread_mutex_lock(mu);
	if (t->seen[i].h == h && now_ms >= t->seen[i].ts_ms) {
		int64_t age = now_ms - t->seen[i].ts_ms;
		for (w = 0; w < t->spec.n_windows; w++) {
			if (age * 10 >= t->spec.window_s[w] * 1000)
				continue;
			used = 1;
			for (c = 0; c < t->spec.n_counts; c++)
				if (t->seen[i].count[c][w] > out->count[c][w])
					out->count[c][w] = t->seen[i].count[c][w];
		}
	}
	pthread_mutex_unlock(mu);
	return used;
}

void
ctr_update(struct ctr_table *t, const char *key, int64_t now_ms,
    const uint32_t *inc, const uint64_t *dh, struct ctr_values *out)
{
	ctr_update_n(t, key, now_ms, inc, dh, 0, NULL, 0, out);
}

void
ctr_update_n(struct ctr_table *t, const char *key, int64_t now_ms, const uint32_t *inc,
    const uint64_t *dh, int set, const uint64_t *more, size_t nmore, struct ctr_values *out)
{
	uint64_t d1[CTR_MAX_DISTINCT];
	size_t i;

	local_update(t, key, now_ms, inc, dh, out);
	if (set >= 0 && set < t->spec.n_distinct)
		for (i = 0; i < nmore; i++) {
			if (more[i] == 0)
				continue;
			memset(d1, 0, sizeof d1);
			d1[set] = more[i];
			local_update(t, key, now_ms, NULL, d1, out);
		}
	else
		nmore = 0;
	/* The local values above are the fallback when the shared store fails. */
	if (t->remote != NULL) {
		struct ctr_values rv;

		if (t->remote_ops->update(t->remote, key, now_ms, inc, dh, set, more, nmore, &rv) == 0) {
			if (out != NULL)
				*out = rv;
			seen_put(t, ctr_hash_str(key), now_ms, &rv);
		}
	}
}

void
ctr_set_remote(struct ctr_table *t, struct ctr_remote *r, const struct ctr_remote_ops *ops)
{
	size_t n = 1;
	int i;

	t->remote = r;
	t->remote_ops = ops;
	if (r == NULL || t->seen != NULL)
		return;
	while (n < t->spec.max_keys && n < SEEN_MAX)
		n <<= 1;
	t->seen = xcalloc(n, sizeof *t->seen);
	t->seen_mask = n - 1;
	for (i = 0; i < SEEN_LOCKS; i++)
		pthread_mutex_init(&t->seen_mu[i], NULL);
}

struct ctr_remote *
ctr_get_remote(const struct ctr_table *t)
{
	return t->remote;
}

int
ctr_redis_get_stats(struct ctr_table *t, struct ctr_redis_stats *out)
{
	memset(out, 0, sizeof *out);
	if (t == NULL || t->remote == NULL || t->remote_ops->stats == NULL)
		return -1;
	t->remote_ops->stats(t->remote, out);
	return 0;
}

int
ctr_peek(struct ctr_table *t, const char *key, int64_t now_ms, struct ctr_values *out)
{
	uint64_t h = ctr_hash_str(key);
	struct stripe *s = stripe_of(t, h);
	uint32_t num;
	int rc = 1;

	pthread_mutex_lock(&s->mu);
	if (index_find(t, s, h, &num) && !idle(t, slot_at(t, s, num), clamp_s(now_ms))) {
		if (out != NULL)
			values(t, slot_at(t, s, num), now_ms, out);
		rc = 0;
	} else if (out != NULL) {
		memset(out, 0, sizeof *out);
	}
	pthread_mutex_unlock(&s->mu);
	if (out != NULL && t->seen != NULL && seen_merge(t, h, now_ms, out))
		rc = 0;
	return rc;
}

void
ctr_expire(struct ctr_table *t, int64_t now_ms)
{
	uint32_t now = clamp_s(now_ms), i;
	int k;

	for (k = 0; k < t->nstripes; k++) {
		struct stripe *s = &t->stripes[k];
		pthread_mutex_lock(&s->mu);
		for (i = 0; i < s->n;) {
			if (idle(t, slot_at(t, s, i), now)) {
				slot_delete(t, s, i);
				s->expirations++;
			} else {
				i++;
			}
		}
		pthread_mutex_unlock(&s->mu);
	}
}

void
ctr_get_stats(struct ctr_table *t, struct ctr_stats *out)
{
	int k;

	memset(out, 0, sizeof *out);
	out->bytes = sizeof *t + sizeof *t->stripes * (size_t)t->nstripes +
	    ((size_t)t->m + 1) * sizeof *t->lc +
	    (t->seen != NULL ? (t->seen_mask + 1) * sizeof *t->seen : 0);
	for (k = 0; k < t->nstripes; k++) {
		struct stripe *s = &t->stripes[k];
		pthread_mutex_lock(&s->mu);
		out->keys += s->n;
		out->evictions += s->evictions;
		out->expirations += s->expirations;
		out->bytes += ((size_t)s->mask + 1) * sizeof *s->index +
		    (size_t)s->chunks_alloc * sizeof *s->chunks +
		    (size_t)s->nchunks * CHUNK_SLOTS * t->esize;
		pthread_mutex_unlock(&s->mu);
	}
}

size_t
ctr_entry_bytes(const struct ctr_table *t)
{
	return t->esize;
}
