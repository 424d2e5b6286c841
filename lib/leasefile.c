/*
 * leasefile.c - readers for lease files (see leasefile.h).
 *
 * ISC Kea DHCPv4 memfile CSV (what kea-dhcp4 appends to kea-leases4.csv):
 *   address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,
 *   fqdn_rev,hostname,state,user_context[,pool_id...]
 * The columns are found by name from the header line (newer Kea versions
 * append columns).  A comma inside a field is written "&#x2c".  expire is
 * the absolute end in epoch seconds and the lease started at
 * expire - valid_lifetime (Kea keeps no start time).  The file is a log:
 *   - a later line for the same address and the same subscriber that starts
 *     no later than the open lease ends is a renewal: it extends the lease;
 *   - a line for another subscriber (or after a gap) starts a new lease and
 *     ends the previous one at its start at the latest;
 *   - valid_lifetime 0 is a release or a deletion.  Kea writes the previous
 *     ACK time as its expire, not the release time, which it does not record.
 *     CHOICE: the lease is closed (a later line never extends it) and keeps
 *     its last known end; it is cut at the start of the address's next
 *     lease.  The holder may have used the address up to the release, which
 *     we cannot date: ending at the last ACK instead would leave a bot's
 *     last minutes before its release unattributed.  Keeping the end blames
 *     nobody else: a later holder's lease is a new interval that wins from
 *     its start;
 *   - state 1 (declined) has no subscriber: it ends the open lease at its
 *     start and starts nothing;
 *   - state 2 (expired-reclaimed) closes the lease at its expire (it may
 *     also describe, in an LFC-compacted file, a lease we have not seen);
 *   - state 3 (released, in newer Kea versions) is a release as above;
 *   - a line whose subscriber column is empty is treated like a decline.
 * Leases are handed out when they end (superseded) or at the end of the
 * file, as "a.b.c.d/32" with source "kea".
 *
 * Plain CSV: prefix,subscriber,valid_from[,valid_to]; times as epoch seconds
 * or ISO 8601 UTC (2026-11-26, 2026-11-26T14:00[:00][Z|+00:00]); an empty
 * valid_from means since always, an empty or missing valid_to means
 * open-ended; '#' starts a comment line; blank lines are skipped; fields
 * may be double-quoted ("" is a quote); an optional header line starts with
 * the word prefix.  Source "csv".
 *
 * Both readers: every bad line is reported through cb->error as "what was
 * expected" with the file name and line number, counted and skipped.  A
 * bad subscriber_from setting is reported with line 0 (not a line).  Lines
 * over 64 KiB, NUL bytes, bad UTF-8 or control bytes in a subscriber are
 * bad lines, never a crash.
 */
#include "config.h"
#include "leasefile.h"
#include "leases.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LINE_MAX_BYTES 65536
#define MAX_FIELDS 64
#define MAX_EPOCH_S 253402300799LL      /* 9999-12-31T23:59:59Z */

/* ---------------------------------------------------------------- lines */

struct reader {
	FILE *f;
	const char *name;
	const struct leasefile_cb *cb;
	char *line;
	size_t cap;
	long lineno;
	long bad;
	int stop;
};

static void
bad(struct reader *r, const char *fmt, ...) BS_PRINTF(2, 3);

static void
bad(struct reader *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	r->bad++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (r->cb != NULL && r->cb->error != NULL)
		r->cb->error(r->cb->ud, r->name, r->lineno, msg);
}

/* Next line without its end of line: 1, 0 at EOF, -1 on I/O error.  Bad
 * lines (too long, NUL bytes) are reported and skipped here; a long line is
 * read past, never held in memory whole. */
static int
next_line(struct reader *r, size_t *lenp)
{
	for (;;) {
		size_t len = 0;
		int c, any = 0, nul = 0, toolong = 0;

		while ((c = getc_unlocked(r->f)) != EOF) {
			any = 1;
			if (c == '\n')
				break;
			if (c == '\0')
				nul = 1;
			if (len >= LINE_MAX_BYTES) {
				toolong = 1;
				continue;
			}
			if (len + 1 >= r->cap) {
				r->cap = r->cap ? r->cap * 2 : 256;
				r->line = xrealloc(r->line, r->cap);
			}
			r->line[len++] = (char)c;
		}
		if (c == EOF && ferror(r->f))
			return -1;
		if (!any)
			return 0;
		r->lineno++;
		if (toolong) {
			bad(r, "expected a line of at most %d bytes", LINE_MAX_BYTES);
			continue;
		}
		if (nul) {
			bad(r, "expected text, found a NUL byte");
			continue;
		}
		while (len > 0 && r->line[len - 1] == '\r')
			len--;
		if (r->line == NULL) {
			r->cap = 256;
			r->line = xmalloc(r->cap);
		}
		r->line[len] = '\0';
		*lenp = len;
		return 1;
	}
}

/* Valid UTF-8 and no control characters (so a subscriber is safe to log). */
static int
text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p, need, cp, min;
		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		p++;
		while (need-- > 0) {
			if ((*p & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (*p++ & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

static const char *
check_subscriber(const char *s)
{
	if (strlen(s) >= EVENT_SUBSCRIBER_MAX)
		return "a subscriber of at most 255 bytes";
	if (!text_ok(s))
		return "a subscriber in UTF-8 without control characters";
	return NULL;
}

/* Strict decimal integer in [lo, hi]. */
static int
parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	if (*s == '\0' || (!isdigit((unsigned char)*s) && *s != '-'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static char *
trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* ---------------------------------------------------------------- Kea */

/* Split at commas (in place) and turn &#x2c back into commas. */
static int
split_kea(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *c = strchr(p, ',');
		char *rd, *wr;
		if (n == max)
			return -1;
		f[n++] = p;
		if (c != NULL)
			*c = '\0';
		for (rd = wr = p; *rd;) {
			if (strncmp(rd, "&#x2c", 5) == 0) {
				*wr++ = ',';
				rd += 5;
			} else {
				*wr++ = *rd++;
			}
		}
		*wr = '\0';
		if (c == NULL)
			return n;
		p = c + 1;
	}
}

struct kea_lease {
	uint32_t addr;
	int live;         /* an interval is held */
	int closed;       /* released/reclaimed: never extended */
	int64_t from, to; /* ms */
	char sub[EVENT_SUBSCRIBER_MAX];
};

struct kea_state {
	struct kea_lease *v;
	size_t n, alloc;
	uint32_t *idx;    /* open addressing: index + 1 */
	size_t mask;
};

static uint32_t
kea_hash(uint32_t a)
{
	uint64_t x = (uint64_t)a * 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(x >> 32);
}

static struct kea_lease *
kea_get(struct kea_state *ks, uint32_t addr)
{
	size_t pos;

	if (ks->idx == NULL || (ks->n + 1) * 2 > ks->mask + 1) {
		size_t size = ks->idx ? (ks->mask + 1) * 2 : 1024, i;
		free(ks->idx);
		ks->idx = xcalloc(size, sizeof *ks->idx);
		ks->mask = size - 1;
		for (i = 0; i < ks->n; i++) {
			pos = kea_hash(ks->v[i].addr) & ks->mask;
			while (ks->idx[pos])
				pos = (pos + 1) & ks->mask;
			ks->idx[pos] = (uint32_t)i + 1;
		}
	}
	pos = kea_hash(addr) & ks->mask;
	while (ks->idx[pos]) {
		if (ks->v[ks->idx[pos] - 1].addr == addr)
			return &ks->v[ks->idx[pos] - 1];
		pos = (pos + 1) & ks->mask;
	}
	if (ks->n == ks->alloc) {
		ks->alloc = ks->alloc ? ks->alloc * 2 : 256;
		ks->v = xrealloc(ks->v, ks->alloc * sizeof *ks->v);
	}
	memset(&ks->v[ks->n], 0, sizeof ks->v[ks->n]);
	ks->v[ks->n].addr = addr;
	ks->idx[pos] = (uint32_t)++ks->n;
	return &ks->v[ks->n - 1];
}

/* Hand out the held interval (if not empty) and forget it. */
static void
kea_emit(struct reader *r, struct kea_lease *k)
{
	struct lease l;
	unsigned char b[4];
	char txt[INET_ADDRSTRLEN];

	if (!k->live)
		return;
	k->live = 0;
	if (k->to <= k->from || r->stop)
		return;
	memset(&l, 0, sizeof l);
	b[0] = (unsigned char)(k->addr >> 24);
	b[1] = (unsigned char)(k->addr >> 16);
	b[2] = (unsigned char)(k->addr >> 8);
	b[3] = (unsigned char)k->addr;
	inet_ntop(AF_INET, b, txt, sizeof txt);
	snprintf(l.prefix, sizeof l.prefix, "%s/32", txt);
	bs_strlcpy(l.subscriber, k->sub, sizeof l.subscriber);
	l.valid_from = k->from;
	l.valid_to = k->to;
	bs_strlcpy(l.source, "kea", sizeof l.source);
	if (r->cb != NULL && r->cb->lease != NULL && r->cb->lease(r->cb->ud, &l) != 0)
		r->stop = 1;
}

static const char *const kea_default_cols[] = {
	"address", "hwaddr", "client_id", "valid_lifetime", "expire", "subnet_id",
	"fqdn_fwd", "fqdn_rev", "hostname", "state", "user_context"
};

static int
col_index(char **cols, int n, const char *name)
{
	int i;
	for (i = 0; i < n; i++)
		if (strcmp(cols[i], name) == 0)
			return i;
	return -1;
}

/* The subscriber of a line into out ("" if none); NULL, or what was expected. */
static const char *
kea_subscriber(char **f, int col, const char *colname, const char *ctx_key,
    char *out, size_t size)
{
	const char *v = f[col];

	out[0] = '\0';
	if (ctx_key != NULL) {
		json_error_t je;
		json_t *root, *x;
		if (*v == '\0')
			return NULL;
		root = json_loads(v, JSON_REJECT_DUPLICATES, &je);
		if (root == NULL || !json_is_object(root)) {
			json_decref(root);
			return "a JSON object";
		}
		x = json_object_get(root, ctx_key);
		if (json_is_string(x)) {
			if (json_string_length(x) >= size) {
				json_decref(root);
				return "a subscriber of at most 255 bytes";
			}
			bs_strlcpy(out, json_string_value(x), size);
		} else if (json_is_integer(x)) {
			snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(x));
		} else if (x != NULL && !json_is_null(x)) {
			json_decref(root);
			return "a string or integer for the user_context key";
		}
		json_decref(root);
	} else {
		if (strlen(v) >= size)
			return "a subscriber of at most 255 bytes";
		bs_strlcpy(out, v, size);
		if (strcmp(colname, "hwaddr") == 0 || strcmp(colname, "client_id") == 0)
			bs_lower(out);          /* case-insensitive hex */
	}
	return check_subscriber(out);
}

long
leasefile_read_kea4(FILE *f, const char *name, const char *subscriber_from,
    const struct leasefile_cb *cb)
{
	struct reader r = { f, name ? name : "(kea)", cb, NULL, 0, 0, 0, 0 };
	struct kea_state ks = { NULL, 0, 0, NULL, 0 };
	char *hdr = NULL, *cols[MAX_FIELDS], *fld[MAX_FIELDS];
	const char *ctx_key = NULL, *colname;
	int ncols, c_addr, c_life, c_exp, c_state, c_sub, rc, pending = 0;
	size_t len, i;

	if (subscriber_from == NULL || *subscriber_from == '\0')
		subscriber_from = "hwaddr";
	colname = subscriber_from;
	if (strncmp(subscriber_from, "user_context:", 13) == 0) {
		colname = "user_context";
		ctx_key = subscriber_from + 13;
		if (*ctx_key == '\0') {
			bad(&r, "expected a key after user_context: in the subscriber column setting");
			return r.bad;
		}
	}

	rc = next_line(&r, &len);
	if (rc <= 0) {
		free(r.line);
		return rc < 0 ? -1 : r.bad;
	}
	if (strncmp(r.line, "address,", 8) == 0) {
		hdr = xstrdup(r.line);
		ncols = split_kea(hdr, cols, MAX_FIELDS);
		if (ncols < 0) {
			bad(&r, "expected a header line of at most %d columns", MAX_FIELDS);
			goto out;
		}
		for (i = 0; i < (size_t)ncols; i++)
			cols[i] = trim(cols[i]);
	} else {
		bad(&r, "expected the Kea header line 'address,hwaddr,client_id,valid_lifetime,"
		    "expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context'; "
		    "reading the file with those columns");
		ncols = (int)BS_ARRAY_LEN(kea_default_cols);
		for (i = 0; i < (size_t)ncols; i++)
			cols[i] = (char *)kea_default_cols[i];
		pending = 1;
	}
	c_addr = col_index(cols, ncols, "address");
	c_life = col_index(cols, ncols, "valid_lifetime");
	c_exp = col_index(cols, ncols, "expire");
	c_state = col_index(cols, ncols, "state");
	c_sub = col_index(cols, ncols, colname);
	if (c_addr < 0 || c_life < 0 || c_exp < 0) {
		bad(&r, "expected columns address, valid_lifetime and expire in the header");
		goto out;
	}
	if (c_sub < 0) {
		bad(&r, "expected the subscriber column '%s' in the header", colname);
		goto out;
	}

	while (!r.stop && (pending || (rc = next_line(&r, &len)) > 0)) {
		char sub[EVENT_SUBSCRIBER_MAX];
		const char *why;
		struct in_addr ia;
		int64_t life, exp, state = 0, from, to;
		struct kea_lease *k;
		int n;

		pending = 0;
		if (*trim(r.line) == '\0')
			continue;
		n = split_kea(r.line, fld, MAX_FIELDS);
		if (n != ncols) {
			bad(&r, "expected %d comma-separated fields as in the header, found %s%d",
			    ncols, n < 0 ? "more than " : "", n < 0 ? MAX_FIELDS : n);
			continue;
		}
		if (inet_pton(AF_INET, trim(fld[c_addr]), &ia) != 1) {
			bad(&r, "expected an IPv4 address in column 'address'");
			continue;
		}
		if (parse_int(trim(fld[c_life]), 0, UINT32_MAX, &life) < 0) {
			bad(&r, "expected seconds (0..4294967295) in column 'valid_lifetime'");
			continue;
		}
		if (parse_int(trim(fld[c_exp]), 0, MAX_EPOCH_S, &exp) < 0) {
			bad(&r, "expected epoch seconds in column 'expire'");
			continue;
		}
		if (c_state >= 0 && *trim(fld[c_state]) != '\0' &&
		    parse_int(fld[c_state], 0, 3, &state) < 0) {
			bad(&r, "expected a lease state 0 (default), 1 (declined), 2 (expired-reclaimed) "
			    "or 3 (released) in column 'state'");
			continue;
		}
		if (state != 1 && life != 0 && (why = kea_subscriber(fld, c_sub, colname, ctx_key, sub, sizeof sub)) != NULL) {
			bad(&r, "expected %s (column '%s')", why, colname);
			continue;
		}
		if (state == 1 || life == 0)
			sub[0] = '\0';

		from = (exp - life) * 1000;
		to = life == UINT32_MAX ? INT64_MAX : exp * 1000;
		if (from < 0)
			from = 0;
		k = kea_get(&ks, ntohl(ia.s_addr));

		if (life == 0 || state == 3) {
			/* release or deletion: closed, keeps its end (see the top) */
			k->closed = 1;
			continue;
		}
		if (state == 2) {
			/* expired-reclaimed: the lease ended at its expire */
			if (k->live && (sub[0] == '\0' || strcmp(sub, k->sub) == 0)) {
				if (to < k->to)
					k->to = to;
				k->closed = 1;
			} else if (sub[0] != '\0') {
				if (k->live && k->to > from)
					k->to = from;
				kea_emit(&r, k);
				k->live = 1;
				k->closed = 1;
				k->from = from;
				k->to = to;
				bs_strlcpy(k->sub, sub, sizeof k->sub);
			}
			continue;
		}
		if (k->live && !k->closed && sub[0] != '\0' && strcmp(sub, k->sub) == 0 &&
		    from <= k->to && from >= k->from) {
			if (to > k->to)
				k->to = to;   /* renewal */
			continue;
		}
		/* a new holder (or none): the old lease ends here at the latest */
		if (k->live && k->to > from)
			k->to = from;
		kea_emit(&r, k);
		k->closed = 0;
		if (sub[0] == '\0')
			continue;         /* declined, or no subscriber to name */
		k->live = 1;
		k->from = from;
		k->to = to;
		bs_strlcpy(k->sub, sub, sizeof k->sub);
	}
	if (rc < 0) {
		free(r.line);
		free(hdr);
		free(ks.v);
		free(ks.idx);
		return -1;
	}
	for (i = 0; i < ks.n && !r.stop; i++)
		kea_emit(&r, &ks.v[i]);
out:
	free(r.line);
	free(hdr);
	free(ks.v);
	free(ks.idx);
	return r.bad;
}

/* ---------------------------------------------------------------- plain CSV */

/* Split a CSV line with optional "quoted" fields (in place).  Number of
 * fields, or -1 for an unterminated quote / junk after a quote, -2 too many. */
static int
split_csv(char *line, char **f, int max)
{
	int n = 0;
	char *p = line, *w;

	for (;;) {
		if (n == max)
			return -2;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			f[n++] = w = ++p;
			for (;;) {
				if (*p == '\0')
					return -1;
				if (*p == '"' && p[1] == '"') {
					*w++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*w++ = *p++;
				}
			}
			*w = '\0';
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0')
				return n;
			if (*p != ',')
				return -1;
			p++;
		} else {
			char *c = strchr(p, ',');
			f[n++] = p;
			if (c == NULL) {
				trim(p);
				return n;
			}
			*c = '\0';
			trim(p);
			p = c + 1;
		}
	}
}

/* Epoch seconds or ISO 8601 UTC -> ms.  0 or -1. */
static int
parse_when(const char *s, int64_t *ms)
{
	struct tm tm;
	int64_t v;
	const char *p;
	char *end;
	time_t tt;

	if (parse_int(s, 0, MAX_EPOCH_S, &v) == 0) {
		*ms = v * 1000;
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	p = strptime(s, "%Y-%m-%d", &tm);
	if (p == NULL || p - s != 10)
		return -1;
	if (*p == 'T' || *p == ' ') {
		const char *q = strptime(p + 1, "%H:%M", &tm);
		if (q == NULL || q - (p + 1) != 5)
			return -1;
		p = q;
		if (*p == ':') {
			long sec = strtol(p + 1, &end, 10);
			if (end != p + 3 || sec < 0 || sec > 60)
				return -1;
			tm.tm_sec = (int)sec;
			p = end;
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (strcmp(p, "+00:00") == 0 || strcmp(p, "+0000") == 0)
		p += strlen(p);
	if (*p != '\0')
		return -1;
	tm.tm_isdst = 0;
	tt = timegm(&tm);
	if (tt == (time_t)-1 || tt < 0 || tt > MAX_EPOCH_S)
		return -1;
	*ms = (int64_t)tt * 1000;
	return 0;
}

long
leasefile_read_csv(FILE *f, const char *name, const struct leasefile_cb *cb)
{
	struct reader r = { f, name ? name : "(csv)", cb, NULL, 0, 0, 0, 0 };
	int rc = 0, seen_data = 0;
	size_t len;

	while (!r.stop && (rc = next_line(&r, &len)) > 0) {
		char *fld[8], *p = trim(r.line);
		const char *why;
		struct lease l;
		int n;

		if (*p == '\0' || *p == '#')
			continue;
		n = split_csv(p, fld, 8);
		if (!seen_data++ && n >= 1 && strcasecmp(fld[0], "prefix") == 0)
			continue;                /* the optional header */
		if (n == -1) {
			bad(&r, "expected a closing double quote (\"\" for a quote inside a field)");
			continue;
		}
		if (n < 3 || n > 4) {
			bad(&r, "expected prefix,subscriber,valid_from,valid_to");
			continue;
		}
		memset(&l, 0, sizeof l);
		if (lease_prefix_normalize(fld[0], l.prefix, sizeof l.prefix) == NULL) {
			bad(&r, "expected an address or prefix (a.b.c.d[/n] or v6addr[/n]) in field 1");
			continue;
		}
		if (*fld[1] == '\0') {
			bad(&r, "expected a subscriber in field 2");
			continue;
		}
		if ((why = check_subscriber(fld[1])) != NULL) {
			bad(&r, "expected %s in field 2", why);
			continue;
		}
		bs_strlcpy(l.subscriber, fld[1], sizeof l.subscriber);
		if (*fld[2] == '\0')
			l.valid_from = 0;
		else if (parse_when(fld[2], &l.valid_from) < 0) {
			bad(&r, "expected valid_from as epoch seconds or ISO 8601 UTC "
			    "(2026-11-26T14:00:00Z) in field 3");
			continue;
		}
		if (n < 4 || *fld[3] == '\0')
			l.valid_to = INT64_MAX;
		else if (parse_when(fld[3], &l.valid_to) < 0) {
			bad(&r, "expected valid_to as epoch seconds or ISO 8601 UTC, or empty "
			    "for open-ended, in field 4");
			continue;
		}
		if (l.valid_to <= l.valid_from) {
			bad(&r, "expected valid_to after valid_from");
			continue;
		}
		bs_strlcpy(l.source, "csv", sizeof l.source);
		if (cb != NULL && cb->lease != NULL && cb->lease(cb->ud, &l) != 0)
			r.stop = 1;
	}
	free(r.line);
	return rc < 0 ? -1 : r.bad;
}
