/*
 * detect_flow.c - the direct_mx detector over per-source sliding windows.
 *
 * Three structures, all bounded:
 *  - pending attempts: a ring in arrival order (so that timeouts are found
 *    at its head) with an open-addressing index on the 5-tuple;
 *  - per-source counts: a counters.h table (attempts, failed, smarthost
 *    uses, distinct destinations over one window), with its own cap,
 *    eviction and idle expiry;
 *  - firing state and destination samples: a small set-associative cache
 *    for sources that came near the thresholds, so that a flood of one-SYN
 *    sources costs only the counters.
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
#include <sys/random.h>
#include <sys/socket.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define DF_MAX_INPUTS 32
#define STATE_WAYS 4

enum { C_ATTEMPTS = 0, C_FAILED, C_SMARTHOST, C_N };

struct pending {
	uint64_t hash;           /* of the 5-tuple (tuple_hash) */
	struct df_addr src, dst;
	uint16_t sport, dport;
	uint8_t input;
	uint8_t smarthost;
	uint8_t live;
	int64_t ts_ms;           /* the SYN's traffic time */
	int64_t deadline_ms;     /* resolved as unanswered at this watermark */
};

struct fstate {
	uint64_t key;            /* 0: free */
	int64_t last_seen_ms;
	int64_t last_fire_ms;
	uint8_t above;
	uint8_t n_sample;
	struct df_addr sample[DF_SAMPLE_MAX];
};

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
	uint32_t *index;         /* ring position + 1; 0 empty */
	size_t index_cap;        /* power of two, 2 x ring_cap */

	struct fstate *state;
	size_t state_sets;       /* power of two */

	char *input_name[DF_MAX_INPUTS];
	uint8_t input_replies[DF_MAX_INPUTS];
	int n_inputs;

	uint64_t seed;           /* per detector: hostile traffic cannot aim at our buckets */
	struct df_stats st;
};

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
	d->ring = xcalloc(d->ring_cap, sizeof *d->ring);
	d->index_cap = d->ring_cap * 2;
	d->index = xcalloc(d->index_cap, sizeof *d->index);
	size_state(d);
	d->now_ms = INT64_MIN;
	if (getrandom(&d->seed, sizeof d->seed, GRND_NONBLOCK) != (ssize_t)sizeof d->seed)
		d->seed = (uint64_t)bs_mono_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)d;
	return d;
}

void
df_free(struct df *d)
{
	int i;

	if (d == NULL)
		return;
	ctr_free(d->ctr);
	free(d->ring);
	free(d->index);
	free(d->state);
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
	key_text(&k, kt, sizeof kt);
	if (p->smarthost) {
		d->st.smarthost++;
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
	dh[0] = addr_hash(&p->dst);
	ctr_update(d->ctr, kt, now, inc, dh, &v);
	attempts = v.count[C_ATTEMPTS][0];
	failed = v.count[C_FAILED][0];
	smarthost = v.count[C_SMARTHOST][0] > 0;
	dests = v.distinct[0][0];

	warm = d->set.min_attempts < d->set.min_destinations ? d->set.min_attempts : d->set.min_destinations;
	warm -= DF_SAMPLE_MAX;
	if (warm < 1)
		warm = 1;
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

#define IDX_POS_BITS 24
#define IDX_POS_MASK ((1u << IDX_POS_BITS) - 1)
#define IDX_TAG(h) ((uint32_t)((h) >> 56) << IDX_POS_BITS)

static struct pending *
ring_at(struct df *d, uint32_t slotval)
{
	return &d->ring[((slotval & IDX_POS_MASK) - 1) & (d->ring_cap - 1)];
}

/* Index slot holding the pending attempt for this tuple, or -1. */
static long
index_find_h(struct df *d, uint64_t h, const struct df_addr *src, const struct df_addr *dst,
    uint16_t sport, uint16_t dport)
{
	size_t mask = d->index_cap - 1, i = h & mask;
	uint32_t tag = IDX_TAG(h);

	while (d->index[i] != 0) {
		if ((d->index[i] & ~IDX_POS_MASK) == tag) {
			struct pending *p = ring_at(d, d->index[i]);
			if (p->hash == h && p->sport == sport && p->dport == dport && addr_eq(&p->src, src)
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
		struct pending *p;

		j = (j + 1) & mask;
		if (d->index[j] == 0)
			return;
		p = ring_at(d, d->index[j]);
		home = p->hash & mask;
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
		if ((d->index[i] & IDX_POS_MASK) == pos + 1) {
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
			resolve_head(d, timeout_outcome(d, p));
		}
		d->head++;
	}
}

static void
pending_add(struct df *d, const struct df_addr *src, const struct df_addr *dst,
    uint16_t sport, uint16_t dport, int64_t ts, int input, int smarthost)
{
	struct pending *p;
	size_t mask = d->index_cap - 1, i;
	int64_t base;

	uint64_t h = tuple_hash(d, src, dst, sport, dport);

	if (d->st.pending > 0 && index_find_h(d, h, src, dst, sport, dport) >= 0) {
		d->st.retransmits++;
		return;
	}
	/* a full ring: drop dead entries at the head, else resolve the oldest */
	while (d->tail - d->head >= d->ring_cap) {
		p = &d->ring[d->head & (d->ring_cap - 1)];
		if (p->live) {
			d->st.pending_evicted++;
			resolve_head(d, DF_UNKNOWN);
		}
		d->head++;
	}
	p = &d->ring[d->tail & (d->ring_cap - 1)];
	memset(p, 0, sizeof *p);
	p->hash = h;
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
	d->index[i] = IDX_TAG(h) | (uint32_t)((d->tail & (d->ring_cap - 1)) + 1);
	d->tail++;
	d->st.pending++;
}

/* An outgoing SYN (or a flow record that starts with one). */
static void
syn_out(struct df *d, const struct df_addr *src, const struct df_addr *dst,
    uint16_t sport, uint16_t dport, int64_t ts, int input, int established_now)
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
	pending_add(d, src, dst, sport, dport, ts, input, smarthost);
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

void
df_segment(struct df *d, const struct df_segment *s)
{
	d->st.segments++;
	df_advance(d, s->ts_ms);
	if ((s->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		syn_out(d, &s->src, &s->dst, s->sport, s->dport, s->ts_ms, s->input, 0);
	else
		answer_in(d, &s->src, &s->dst, s->sport, s->dport, s->flags);
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
		    (r->flags & TCP_ACK) != 0);
	} else if (r->sport == 25 || r->sport == 587) {
		answer_in(d, &r->src, &r->dst, r->sport, r->dport, r->flags);
	}
	df_advance(d, last);
}

void
df_get_stats(struct df *d, struct df_stats *out)
{
	struct ctr_stats cs;

	ctr_get_stats(d->ctr, &cs);
	*out = d->st;
	out->sources = cs.keys;
	out->source_evictions = cs.evictions;
	out->source_expirations = cs.expirations;
	out->bytes = cs.bytes + d->ring_cap * sizeof *d->ring + d->index_cap * sizeof *d->index
	    + d->state_sets * STATE_WAYS * sizeof *d->state + sizeof *d;
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
