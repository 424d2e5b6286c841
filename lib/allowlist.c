/*
 * allowlist.c - matching allowlist entries against a detector's question.
 *
 * Pure code: no store, no I/O.  Entries are kept in an array in the order
 * they were added; a table holds a few thousand entries at most, so a
 * linear scan per question is cheap and keeps "why did it not match"
 * answerable entry by entry.  IP subjects are parsed once when added.
 */
#include "config.h"
#include "allowlist.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct al_item {
	struct allowlist_entry e;
	int family;                  /* AL_IP: AF_INET or AF_INET6 */
	unsigned char addr[16];
	int plen;
};

struct allowlist {
	struct al_item *v;
	size_t n, cap;
};

void
allowlist_entry_clear(struct allowlist_entry *e)
{
	if (e == NULL)
		return;
	free(e->subject);
	free(e->scope);
	free(e->owner);
	free(e->reason);
	memset(e, 0, sizeof *e);
}

void
allowlist_entry_copy(struct allowlist_entry *dst, const struct allowlist_entry *src)
{
	*dst = *src;
	dst->subject = xstrdup(src->subject);
	dst->scope = xstrdup(src->scope);
	dst->owner = xstrdup(src->owner);
	dst->reason = xstrdup(src->reason);
}

static const char *const type_names[] = { NULL, "subscriber", "ip", "sender", "domain" };

enum allowlist_type
allowlist_type_parse(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 1; i < BS_ARRAY_LEN(type_names); i++)
		if (strcmp(s, type_names[i]) == 0)
			return (enum allowlist_type)i;
	return 0;
}

const char *
allowlist_type_name(enum allowlist_type t)
{
	if ((size_t)t >= 1 && (size_t)t < BS_ARRAY_LEN(type_names))
		return type_names[t];
	return "unknown";
}

/* Parse "addr[/len]" into family, bytes and prefix length (host bits kept). */
static int
parse_prefix(const char *s, int *family, unsigned char addr[16], int *plen)
{
	char buf[80];
	char *slash, *end;
	long n;

	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		*plen = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		*plen = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		if (!isdigit((unsigned char)*slash))
			return -1;
		n = strtol(slash, &end, 10);
		if (*end != '\0' || n < 0 || n > *plen)
			return -1;
		*plen = (int)n;
	}
	return 0;
}

static void
mask_bits(unsigned char *addr, int alen, int plen)
{
	int i;

	for (i = 0; i < alen; i++) {
		int bits = plen - i * 8;
		if (bits >= 8)
			continue;
		addr[i] &= bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
	}
}

static int
prefix_contains(int fam, const unsigned char *net, int plen, int qfam, const unsigned char *q)
{
	int full, rem;

	if (fam != qfam)
		return 0;
	full = plen / 8;
	rem = plen % 8;
	if (memcmp(net, q, (size_t)full) != 0)
		return 0;
	if (rem != 0) {
		unsigned char m = (unsigned char)(0xff << (8 - rem));
		if ((net[full] & m) != (q[full] & m))
			return 0;
	}
	return 1;
}

static int
valid_domain(const char *d)
{
	const char *p;
	size_t label = 0;

	if (*d == '\0' || *d == '.' || strlen(d) > 253)
		return 0;
	for (p = d; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

int
allowlist_normalize_subject(enum allowlist_type t, const char *in, char *out, size_t outlen,
    char *err, size_t errlen)
{
	char tmp[320];
	const char *at;

	if (in == NULL || *in == '\0') {
		snprintf(err, errlen, "empty subject");
		return -1;
	}
	if (strlen(in) >= sizeof tmp || strlen(in) >= outlen) {
		snprintf(err, errlen, "subject too long");
		return -1;
	}
	switch (t) {
	case AL_SUBSCRIBER: {
		const char *p;
		for (p = in; *p != '\0'; p++)
			if ((unsigned char)*p < 0x21 || *p == 0x7f) {
				snprintf(err, errlen, "subscriber id '%s' holds blanks or control characters", in);
				return -1;
			}
		bs_strlcpy(out, in, outlen);
		return 0;
	}
	case AL_IP: {
		int fam, plen;
		unsigned char a[16];
		char txt[INET6_ADDRSTRLEN];
		if (parse_prefix(in, &fam, a, &plen) != 0) {
			snprintf(err, errlen, "'%s' is not an IP address or CIDR prefix (e.g. 192.0.2.0/24, 2001:db8::/48)", in);
			return -1;
		}
		mask_bits(a, fam == AF_INET ? 4 : 16, plen);
		inet_ntop(fam, a, txt, sizeof txt);
		snprintf(out, outlen, "%s/%d", txt, plen);
		return 0;
	}
	case AL_SENDER:
		bs_strlcpy(tmp, in, sizeof tmp);
		bs_lower(tmp);
		at = strrchr(tmp, '@');
		if (at == NULL || at == tmp || !valid_domain(at + 1) || strpbrk(tmp, " \t\r\n<>,;") != NULL) {
			snprintf(err, errlen, "'%s' is not a sender address (local@domain)", in);
			return -1;
		}
		bs_strlcpy(out, tmp, outlen);
		return 0;
	case AL_DOMAIN:
		bs_strlcpy(tmp, in[0] == '@' ? in + 1 : in, sizeof tmp);
		bs_lower(tmp);
		if (tmp[0] != '\0' && tmp[strlen(tmp) - 1] == '.')
			tmp[strlen(tmp) - 1] = '\0';
		if (!valid_domain(tmp)) {
			snprintf(err, errlen, "'%s' is not a domain name", in);
			return -1;
		}
		bs_strlcpy(out, tmp, outlen);
		return 0;
	}
	snprintf(err, errlen, "unknown subject type");
	return -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *
allowlist_normalize_scope(const char *in, char *err, size_t errlen)
{
	char *copy, *tok, *save = NULL, *out;
	char **v = NULL;
	size_t n = 0, cap = 0, i, len = 0;

	if (in == NULL || *in == '\0' || strcmp(in, "*") == 0 || strcmp(in, "all") == 0)
		return xstrdup("*");
	copy = xstrdup(in);
	for (tok = strtok_r(copy, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		const char *p;
		if (strcmp(tok, "*") == 0 || strcmp(tok, "all") == 0) {
			free(v);
			free(copy);
			return xstrdup("*");
		}
		for (p = tok; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
				snprintf(err, errlen, "scope: '%s' is not a detector kind (lower-case letters, digits, '_'; or '*')", tok);
				free(v);
				free(copy);
				return NULL;
			}
		if (strlen(tok) > 31) {
			snprintf(err, errlen, "scope: detector kind '%s' is too long", tok);
			free(v);
			free(copy);
			return NULL;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = tok;
		len += strlen(tok) + 1;
	}
	if (n == 0) {
		free(v);
		free(copy);
		return xstrdup("*");
	}
	qsort(v, n, sizeof *v, cmp_str);
	out = xmalloc(len + 1);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
			continue;
		if (out[0] != '\0')
			strcat(out, ",");
		strcat(out, v[i]);
	}
	free(v);
	free(copy);
	return out;
}

int
allowlist_scope_covers(const char *scope, const char *kind)
{
	const char *p;
	size_t klen;

	if (scope == NULL || strcmp(scope, "*") == 0 || kind == NULL || *kind == '\0')
		return 1;
	klen = strlen(kind);
	for (p = scope; *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == klen && memcmp(p, kind, klen) == 0)
			return 1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

struct allowlist *
allowlist_new(void)
{
	return xcalloc(1, sizeof(struct allowlist));
}

void
allowlist_free(struct allowlist *al)
{
	size_t i;

	if (al == NULL)
		return;
	for (i = 0; i < al->n; i++)
		allowlist_entry_clear(&al->v[i].e);
	free(al->v);
	free(al);
}

size_t
allowlist_count(const struct allowlist *al)
{
	return al->n;
}

int
allowlist_add(struct allowlist *al, const struct allowlist_entry *e, char *err, size_t errlen)
{
	char subj[320];
	char *scope;
	struct al_item *it;

	if (allowlist_normalize_subject(e->type, e->subject, subj, sizeof subj, err, errlen) != 0)
		return -1;
	scope = allowlist_normalize_scope(e->scope, err, errlen);
	if (scope == NULL)
		return -1;
	if (al->n == al->cap) {
		al->cap = al->cap ? al->cap * 2 : 16;
		al->v = xrealloc(al->v, al->cap * sizeof *al->v);
	}
	it = &al->v[al->n++];
	memset(it, 0, sizeof *it);
	allowlist_entry_copy(&it->e, e);
	free(it->e.subject);
	free(it->e.scope);
	it->e.subject = xstrdup(subj);
	it->e.scope = scope;
	if (e->type == AL_IP)
		(void)parse_prefix(subj, &it->family, it->addr, &it->plen);
	return 0;
}

/* Does the entry's subject concern the query?  1 yes, 0 no, -1 the query
 * has no field to compare with. */
static int
subject_matches(const struct al_item *it, const struct allowlist_query *q)
{
	switch (it->e.type) {
	case AL_SUBSCRIBER:
		if (q->subscriber == NULL || *q->subscriber == '\0')
			return -1;
		return strcmp(it->e.subject, q->subscriber) == 0;
	case AL_IP: {
		unsigned char a[16];
		int fam;
		if (q->ip == NULL || *q->ip == '\0')
			return -1;
		if (inet_pton(AF_INET, q->ip, a) == 1)
			fam = AF_INET;
		else if (inet_pton(AF_INET6, q->ip, a) == 1) {
			fam = AF_INET6;
			/* an IPv4-mapped client (::ffff:a.b.c.d) is the IPv4 address */
			static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
			if (memcmp(a, mapped, 12) == 0) {
				memmove(a, a + 12, 4);
				fam = AF_INET;
			}
		} else
			return 0;
		return prefix_contains(it->family, it->addr, it->plen, fam, a);
	}
	case AL_SENDER:
		if (q->sender == NULL || *q->sender == '\0')
			return -1;
		{
			const char *s = q->sender;
			size_t len = strlen(s);
			if (s[0] == '<' && len >= 2 && s[len - 1] == '>') {
				s++;
				len -= 2;
			}
			return len == strlen(it->e.subject) && strncasecmp(s, it->e.subject, len) == 0;
		}
	case AL_DOMAIN: {
		const char *at, *dom;
		size_t dlen, slen;
		if (q->sender == NULL || *q->sender == '\0')
			return -1;
		at = strrchr(q->sender, '@');
		dom = at ? at + 1 : q->sender;
		dlen = strlen(dom);
		if (dlen > 0 && dom[dlen - 1] == '>')
			dlen--;
		slen = strlen(it->e.subject);
		if (dlen == slen)
			return strncasecmp(dom, it->e.subject, dlen) == 0;
		if (dlen > slen && dom[dlen - slen - 1] == '.')
			return strncasecmp(dom + dlen - slen, it->e.subject, slen) == 0;
		return 0;
	}
	}
	return 0;
}

static enum allowlist_verdict
verdict(const struct al_item *it, const struct allowlist_query *q)
{
	int m = subject_matches(it, q);

	if (m < 0)
		return AL_NOT_COMPARABLE;
	if (m == 0)
		return AL_NO_SUBJECT;
	if (!allowlist_scope_covers(it->e.scope, q->kind))
		return AL_OUT_OF_SCOPE;
	if (it->e.expires_ms != 0 && it->e.expires_ms <= q->now_ms)
		return AL_EXPIRED;
	return AL_MATCH;
}

/* Rank for "most specific wins": higher is more specific. */
static int
specificity(const struct al_item *it)
{
	switch (it->e.type) {
	case AL_SUBSCRIBER:
		return 1000;
	case AL_SENDER:
		return 900;
	case AL_DOMAIN:
		return 500 + (int)(strlen(it->e.subject) > 253 ? 253 : strlen(it->e.subject));
	case AL_IP:
		return it->plen;
	}
	return 0;
}

const struct allowlist_entry *
allowlist_match(const struct allowlist *al, const struct allowlist_query *q)
{
	const struct al_item *best = NULL;
	size_t i;

	if (al == NULL)
		return NULL;
	for (i = 0; i < al->n; i++) {
		const struct al_item *it = &al->v[i];
		if (verdict(it, q) != AL_MATCH)
			continue;
		if (best == NULL || specificity(it) > specificity(best))
			best = it;
		else if (specificity(it) == specificity(best)) {
			int64_t a = it->e.expires_ms ? it->e.expires_ms : INT64_MAX;
			int64_t b = best->e.expires_ms ? best->e.expires_ms : INT64_MAX;
			if (a > b)
				best = it;
		}
	}
	return best ? &best->e : NULL;
}

const char *
allowlist_verdict_text(enum allowlist_verdict v)
{
	switch (v) {
	case AL_MATCH:
		return "match";
	case AL_NO_SUBJECT:
		return "different subject";
	case AL_OUT_OF_SCOPE:
		return "subject matches, but the detector is not in its scope";
	case AL_EXPIRED:
		return "subject and scope match, but the entry has expired";
	case AL_NOT_COMPARABLE:
		return "the question gives no value of this entry's type";
	}
	return "?";
}

int
allowlist_explain(const struct allowlist *al, const struct allowlist_query *q,
    int (*fn)(void *ud, const struct allowlist_entry *e, enum allowlist_verdict v), void *ud)
{
	size_t i;
	int rc;

	for (i = 0; i < al->n; i++)
		if ((rc = fn(ud, &al->v[i].e, verdict(&al->v[i], q))) != 0)
			return rc;
	return 0;
}
