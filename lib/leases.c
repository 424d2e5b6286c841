/*
 * leases.c - who held an IP address at a given time (see leases.h).
 *
 * Leases are collected as records (family, prefix length, masked address,
 * valid from/to, subscriber) and sealed into a lookup structure:
 *   - records sorted by family, prefix length (longest first), address,
 *     start, then the order they were added;
 *   - per (family, prefix length) present, an open-addressing hash of the
 *     masked address -> the run of that address's records;
 *   - per record the largest end time of its run so far, so that walking
 *     back from the last lease started at or before t stops as soon as no
 *     earlier one can still cover t.
 * A lookup masks the address for each prefix length present, longest first,
 * and returns the first covering lease: the longest prefix wins, and on the
 * same prefix the lease that started last (then the one added last).
 * A lease covers t when valid_from <= t < valid_to (half-open).
 *
 * Not here: reading lease files (leasefile.c) or storing them (store.h).
 * Addresses are kept as two 64-bit words; IPv4 in the low word.  An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is treated as IPv4.
 */
#include "config.h"
#include "leases.h"
#include "util.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct lrec {
	uint64_t hi, lo;          /* masked address, host order */
	int64_t from, to;
	int64_t maxto;            /* after seal: max valid_to in its run so far */
	uint32_t sub;             /* offset in the string arena */
	uint32_t seq;             /* insertion order */
	uint8_t fam;              /* 4 or 6 */
	uint8_t len;
};

struct lslot {
	uint64_t hi, lo;
	uint32_t first, count;    /* count 0: empty */
};

struct lgroup {
	uint8_t len;
	uint32_t mask;            /* slots - 1 */
	struct lslot *slots;
};

struct lease_table {
	struct lrec *recs;
	size_t n, alloc;
	char *strs;
	size_t slen, salloc;
	int sealed;
	struct lgroup *groups[2]; /* [0] IPv4, [1] IPv6; longest prefix first */
	int ngroups[2];
};

struct lease_table *
lease_table_new(void)
{
	return xcalloc(1, sizeof(struct lease_table));
}

static void
free_groups(struct lease_table *t)
{
	int f, g;
	for (f = 0; f < 2; f++) {
		for (g = 0; g < t->ngroups[f]; g++)
			free(t->groups[f][g].slots);
		free(t->groups[f]);
		t->groups[f] = NULL;
		t->ngroups[f] = 0;
	}
	t->sealed = 0;
}

void
lease_table_free(struct lease_table *t)
{
	if (t == NULL)
		return;
	free_groups(t);
	free(t->recs);
	free(t->strs);
	free(t);
}

static void
mask_addr(uint64_t *hi, uint64_t *lo, int fam, int len)
{
	if (fam == 4) {
		*hi = 0;
		*lo = len == 0 ? 0 : *lo & ((0xffffffffULL << (32 - len)) & 0xffffffffULL);
		return;
	}
	if (len <= 64) {
		*lo = 0;
		*hi = len == 0 ? 0 : *hi & (~0ULL << (64 - len));
	} else if (len < 128) {
		*lo &= ~0ULL << (128 - len);
	}
}

static uint64_t
rd_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;
	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
wr_be64(unsigned char *p, uint64_t v)
{
	int i;
	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* Binary address -> (fam, hi, lo); an IPv4-mapped IPv6 address becomes IPv4. */
static int
from_bin(int family, const unsigned char *a, int *fam, uint64_t *hi, uint64_t *lo)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (family == AF_INET) {
		*fam = 4;
		*hi = 0;
		*lo = ((uint64_t)a[0] << 24) | ((uint64_t)a[1] << 16) | ((uint64_t)a[2] << 8) | a[3];
		return 0;
	}
	if (family != AF_INET6)
		return -1;
	if (memcmp(a, mapped, 12) == 0)
		return from_bin(AF_INET, a + 12, fam, hi, lo);
	*fam = 6;
	*hi = rd_be64(a);
	*lo = rd_be64(a + 8);
	return 0;
}

/* Text address -> binary; AF_INET, AF_INET6 or -1.  Accepts [v6]. */
static int
parse_addr(const char *s, size_t n, unsigned char *out)
{
	char buf[INET6_ADDRSTRLEN + 4];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, buf, out) == 1)
		return AF_INET6;
	return -1;
}

/* "addr[/len]" -> fam, masked hi/lo, len.  0 or -1. */
static int
parse_prefix(const char *prefix, int *fam, uint64_t *hi, uint64_t *lo, int *len)
{
	const char *slash = strchr(prefix, '/');
	size_t n = slash ? (size_t)(slash - prefix) : strlen(prefix);
	unsigned char a[16];
	int family = parse_addr(prefix, n, a), max, mapped = 0;
	long l;

	if (family < 0)
		return -1;
	if (family == AF_INET6) {
		static const unsigned char m[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		mapped = memcmp(a, m, 12) == 0;
	}
	if (from_bin(family, a, fam, hi, lo) < 0)
		return -1;
	max = family == AF_INET ? 32 : 128;
	l = max;
	if (slash != NULL) {
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		l = strtol(slash + 1, &end, 10);
		if (*end != '\0' || l < 0 || l > max)
			return -1;
	}
	if (mapped) {
		if (l < 96)
			return -1;
		l -= 96;
	}
	*len = (int)l;
	mask_addr(hi, lo, *fam, *len);
	return 0;
}

int
lease_table_add(struct lease_table *t, const char *prefix, const char *subscriber,
    int64_t from_ms, int64_t to_ms)
{
	struct lrec r;
	int fam, len;
	size_t sl;

	if (prefix == NULL || subscriber == NULL || from_ms >= to_ms ||
	    parse_prefix(prefix, &fam, &r.hi, &r.lo, &len) < 0)
		return -1;
	sl = strlen(subscriber) + 1;
	if (t->slen + sl > UINT32_MAX || t->n >= UINT32_MAX)
		return -1;
	if (t->sealed)
		free_groups(t);
	if (t->slen + sl > t->salloc) {
		t->salloc = t->salloc ? t->salloc * 2 : 4096;
		while (t->slen + sl > t->salloc)
			t->salloc *= 2;
		t->strs = xrealloc(t->strs, t->salloc);
	}
	memcpy(t->strs + t->slen, subscriber, sl);
	if (t->n == t->alloc) {
		t->alloc = t->alloc ? t->alloc * 2 : 256;
		t->recs = xrealloc(t->recs, t->alloc * sizeof *t->recs);
	}
	r.fam = (uint8_t)fam;
	r.len = (uint8_t)len;
	r.from = from_ms;
	r.to = to_ms;
	r.sub = (uint32_t)t->slen;
	r.seq = (uint32_t)t->n;
	t->recs[t->n++] = r;
	t->slen += sl;
	return 0;
}

size_t
lease_table_count(const struct lease_table *t)
{
	return t->n;
}

static int
rec_cmp(const void *pa, const void *pb)
{
	const struct lrec *a = pa, *b = pb;
	if (a->fam != b->fam)
		return a->fam < b->fam ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static inline uint64_t
addr_hash(uint64_t hi, uint64_t lo)
{
	__uint128_t r = (__uint128_t)(hi ^ 0xa0761d6478bd642fULL) * (lo ^ 0xe7037ed1a0b428dbULL);
	uint64_t h = (uint64_t)r ^ (uint64_t)(r >> 64);
	r = (__uint128_t)(h ^ 0x8ebc6af09c88c6e3ULL) * 0x589965cc75374cc3ULL;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

void
lease_table_seal(struct lease_table *t)
{
	size_t i = 0, j;

	free_groups(t);
	if (t->n > 1)    /* qsort(NULL, 0, ...) is undefined (UBSan) */
		qsort(t->recs, t->n, sizeof *t->recs, rec_cmp);
	while (i < t->n) {
		/* one group: same family and prefix length */
		int f = t->recs[i].fam == 4 ? 0 : 1;
		size_t end = i, keys = 0, size = 8;
		struct lgroup *g;

		while (end < t->n && t->recs[end].fam == t->recs[i].fam && t->recs[end].len == t->recs[i].len) {
			if (end == i || t->recs[end].hi != t->recs[end - 1].hi || t->recs[end].lo != t->recs[end - 1].lo)
				keys++;
			end++;
		}
		while (size < keys + keys / 2 + 1)
			size *= 2;
		t->groups[f] = xrealloc(t->groups[f], (size_t)(t->ngroups[f] + 1) * sizeof *t->groups[f]);
		g = &t->groups[f][t->ngroups[f]++];
		g->len = t->recs[i].len;
		g->mask = (uint32_t)(size - 1);
		g->slots = xcalloc(size, sizeof *g->slots);
		for (j = i; j < end;) {
			size_t k = j;
			uint32_t pos;
			int64_t mx = INT64_MIN;
			while (k < end && t->recs[k].hi == t->recs[j].hi && t->recs[k].lo == t->recs[j].lo) {
				if (t->recs[k].to > mx)
					mx = t->recs[k].to;
				t->recs[k].maxto = mx;
				k++;
			}
			pos = (uint32_t)addr_hash(t->recs[j].hi, t->recs[j].lo) & g->mask;
			while (g->slots[pos].count != 0)
				pos = (pos + 1) & g->mask;
			g->slots[pos].hi = t->recs[j].hi;
			g->slots[pos].lo = t->recs[j].lo;
			g->slots[pos].first = (uint32_t)j;
			g->slots[pos].count = (uint32_t)(k - j);
			j = k;
		}
		i = end;
	}
	t->sealed = 1;
}

/* In a run of records sorted by start, the one that started last and covers at. */
static const struct lrec *
run_find(const struct lease_table *t, uint32_t first, uint32_t count, int64_t at)
{
	uint32_t lo = 0, hi = count;   /* first index with from > at */
	int64_t k;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->recs[first + mid].from <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = (int64_t)lo - 1; k >= 0; k--) {
		const struct lrec *r = &t->recs[first + k];
		if (r->maxto <= at)
			break;              /* nothing at or before k reaches at */
		if (r->to > at)
			return r;
	}
	return NULL;
}

static const char *
lookup(const struct lease_table *t, int fam, uint64_t hi, uint64_t lo, int64_t at)
{
	int f = fam == 4 ? 0 : 1, g;

	if (!t->sealed)
		return NULL;
	for (g = 0; g < t->ngroups[f]; g++) {
		const struct lgroup *gr = &t->groups[f][g];
		uint64_t mh = hi, ml = lo;
		uint32_t pos;

		mask_addr(&mh, &ml, fam, gr->len);
		pos = (uint32_t)addr_hash(mh, ml) & gr->mask;
		while (gr->slots[pos].count != 0) {
			if (gr->slots[pos].hi == mh && gr->slots[pos].lo == ml) {
				const struct lrec *r = run_find(t, gr->slots[pos].first, gr->slots[pos].count, at);
				if (r != NULL)
					return t->strs + r->sub;
				break;
			}
			pos = (pos + 1) & gr->mask;
		}
	}
	return NULL;
}

const char *
lease_table_lookup_bin(const struct lease_table *t, int family,
    const unsigned char *addr, int64_t at_ms)
{
	int fam;
	uint64_t hi, lo;

	if (t == NULL || addr == NULL || from_bin(family, addr, &fam, &hi, &lo) < 0)
		return NULL;
	return lookup(t, fam, hi, lo, at_ms);
}

const char *
lease_table_lookup(const struct lease_table *t, const char *ip, int64_t at_ms)
{
	unsigned char a[16];
	int family;

	if (t == NULL || ip == NULL)
		return NULL;
	family = parse_addr(ip, strlen(ip), a);
	if (family < 0)
		return NULL;
	return lease_table_lookup_bin(t, family, a, at_ms);
}

/* ---------------------------------------------------------------- loading */

struct load_ctx {
	struct lease_table *t;
	char *err;
	size_t errlen;
	long bad;
};

static int
load_one(void *ud, const struct lease *l)
{
	struct load_ctx *lc = ud;

	if (lease_table_add(lc->t, l->prefix, l->subscriber, l->valid_from, l->valid_to) < 0) {
		if (lc->bad++ == 0)
			snprintf(lc->err, lc->errlen,
			    "lease store: lease '%s' for '%s' has a malformed prefix or an empty validity",
			    l->prefix, l->subscriber);
		return 1;
	}
	return 0;
}

struct lease_table *
lease_table_load(const struct conf *c, struct store *st, char *err, size_t errlen)
{
	struct lease_table *t = lease_table_new();
	cfg_t *ls = c != NULL && c->cfg != NULL ? cfg_getsec(c->cfg, "leases") : NULL;
	unsigned i;

	if (ls != NULL)
		for (i = 0; i < cfg_size(ls, "static"); i++) {
			cfg_t *s = cfg_getnsec(ls, "static", i);
			const char *sub = cfg_getstr(s, "subscriber");
			if (sub == NULL || *sub == '\0' ||
			    lease_table_add(t, cfg_title(s), sub, INT64_MIN, INT64_MAX) < 0) {
				snprintf(err, errlen, "%s: leases|static \"%s\": expected an address or "
				    "prefix (a.b.c.d[/n] or v6addr[/n]) with a subscriber",
				    c->path ? c->path : "botsentry.conf", cfg_title(s) ? cfg_title(s) : "");
				lease_table_free(t);
				return NULL;
			}
		}
	if (st != NULL) {
		struct load_ctx lc = { t, err, errlen, 0 };
		if (store_leases_each(st, load_one, &lc) != 0 || lc.bad > 0) {
			if (lc.bad == 0)
				snprintf(err, errlen, "lease store: could not read the leases");
			lease_table_free(t);
			return NULL;
		}
	}
	lease_table_seal(t);
	return t;
}

char *
lease_client_key(const char *ip, int v6_prefix_len, char *buf, size_t size)
{
	unsigned char a[16];
	int family, fam;
	uint64_t hi, lo;
	char txt[INET6_ADDRSTRLEN];

	if (ip == NULL || buf == NULL || size == 0)
		return NULL;
	family = parse_addr(ip, strlen(ip), a);
	if (family < 0 || from_bin(family, a, &fam, &hi, &lo) < 0)
		return NULL;
	if (fam == 4) {
		unsigned char b[4] = { (unsigned char)(lo >> 24), (unsigned char)(lo >> 16),
			(unsigned char)(lo >> 8), (unsigned char)lo };
		inet_ntop(AF_INET, b, txt, sizeof txt);
		if ((size_t)snprintf(buf, size, "%s", txt) >= size)
			return NULL;
		return buf;
	}
	if (v6_prefix_len < 0)
		v6_prefix_len = 0;
	if (v6_prefix_len > 128)
		v6_prefix_len = 128;
	mask_addr(&hi, &lo, 6, v6_prefix_len);
	wr_be64(a, hi);
	wr_be64(a + 8, lo);
	inet_ntop(AF_INET6, a, txt, sizeof txt);
	if ((size_t)snprintf(buf, size, "%s/%d", txt, v6_prefix_len) >= size)
		return NULL;
	return buf;
}

char *
lease_prefix_normalize(const char *prefix, char *buf, size_t size)
{
	int fam, len;
	uint64_t hi, lo;
	unsigned char a[16];
	char txt[INET6_ADDRSTRLEN];

	if (prefix == NULL || buf == NULL || size == 0 ||
	    parse_prefix(prefix, &fam, &hi, &lo, &len) < 0)
		return NULL;
	if (fam == 4) {
		unsigned char b[4] = { (unsigned char)(lo >> 24), (unsigned char)(lo >> 16),
			(unsigned char)(lo >> 8), (unsigned char)lo };
		inet_ntop(AF_INET, b, txt, sizeof txt);
	} else {
		wr_be64(a, hi);
		wr_be64(a + 8, lo);
		inet_ntop(AF_INET6, a, txt, sizeof txt);
	}
	if ((size_t)snprintf(buf, size, "%s/%d", txt, len) >= size)
		return NULL;
	return buf;
}
