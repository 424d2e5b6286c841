/*
 * arf.c - Abuse Reporting Format (RFC 5965) parser and composer.
 *
 * The parser is a small MIME walker written for hostile input: it bounds
 * the depth, the number of parts and headers and the length of every value,
 * works on (pointer, length) pairs so that NUL bytes do no harm, and keeps
 * header fields only.  It understands what large mailbox providers send:
 * multipart/report with report-type=feedback-report (sometimes wrapped in a
 * multipart/mixed), base64 or quoted-printable parts, the reported message
 * as message/rfc822 or text/rfc822-headers, LF or CRLF line ends.
 *
 * RFC 2047 encoded-words are decoded (lib/rfc2047.c) in the fields where
 * RFC 2047 allows them and the desk reads them: From and Subject of the
 * report and of the reported message, and User-Agent; every such value is
 * made valid UTF-8 without control characters.  A word that cannot be
 * decoded stays as it was, with a warning naming the field and its line.
 *
 * It does not follow message/external-body, or keep any body text.
 */
#include "config.h"
#include "arf.h"
#include "mime.h"
#include "rfc2047.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ARF_MAX_DEPTH 4
#define ARF_MAX_PARTS 64
#define ARF_MAX_FIELDS 512
#define ARF_MAX_VALUE 4096

/* ---------------------------------------------------------------- header blocks */

struct hfield {
	char *name;
	char *value;
	size_t vlen;             /* strlen(value): folded lines add in constant time */
	long line;               /* 1-based line of the field in the block */
};

struct hblock {
	struct hfield *f;
	size_t n, cap;
};

static void
hb_clear(struct hblock *hb)
{
	size_t i;

	for (i = 0; i < hb->n; i++) {
		free(hb->f[i].name);
		free(hb->f[i].value);
	}
	free(hb->f);
	memset(hb, 0, sizeof *hb);
}

/* Trim blanks at both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Next line of s[pos..len): sets *ls and *ll to the line without its end and
 * returns the position after the end.  */
static size_t
next_line(const char *s, size_t len, size_t pos, const char **ls, size_t *ll)
{
	const char *nl = memchr(s + pos, '\n', len - pos);
	size_t end = nl ? (size_t)(nl - s) : len;

	*ls = s + pos;
	*ll = end - pos;
	if (*ll > 0 && (*ls)[*ll - 1] == '\r')
		(*ll)--;
	return nl ? end + 1 : len;
}

/* Copy a byte range into a NUL-terminated string with NULs made blanks. */
static char *
dup_range(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);
	size_t i;

	for (i = 0; i < n; i++)
		d[i] = s[i] == '\0' ? ' ' : s[i];
	d[n] = '\0';
	return d;
}

/*
 * Parse a header block; returns the offset just after the empty line that
 * ends it (or len when there is none) and, when nlines is not NULL, the
 * number of lines read.  Lines that are neither a field nor a continuation
 * are skipped.  Values are unfolded and trimmed, cut at ARF_MAX_VALUE
 * bytes.
 */
static size_t
hb_parse(const char *s, size_t len, struct hblock *hb, long *nlines)
{
	size_t pos = 0;
	const char *ls;
	size_t ll;
	long line = 0;

	while (pos < len) {
		size_t next = next_line(s, len, pos, &ls, &ll);
		line++;
		if (ll == 0) {
			if (nlines != NULL)
				*nlines = line;
			return next;
		}
		if ((ls[0] == ' ' || ls[0] == '\t') && hb->n > 0) {
			struct hfield *f = &hb->f[hb->n - 1];
			size_t cur = f->vlen;
			if (cur < ARF_MAX_VALUE) {
				size_t add = ll > ARF_MAX_VALUE - cur ? ARF_MAX_VALUE - cur : ll;
				char *piece = dup_range(ls, add);
				char *t = trim(piece);
				size_t tl = strlen(t);
				f->value = xrealloc(f->value, cur + tl + 2);
				if (cur > 0 && tl > 0)
					f->value[cur++] = ' ';
				memcpy(f->value + cur, t, tl + 1);
				f->vlen = cur + tl;
				free(piece);
			}
		} else {
			const char *colon = memchr(ls, ':', ll);
			size_t nlen = colon ? (size_t)(colon - ls) : 0;
			size_t i;
			int ok = colon != NULL && nlen > 0 && nlen < 80;
			for (i = 0; ok && i < nlen; i++)
				if ((unsigned char)ls[i] <= 32 || (unsigned char)ls[i] >= 127)
					ok = 0;
			if (ok && hb->n < ARF_MAX_FIELDS) {
				size_t vlen = ll - nlen - 1;
				char *v;
				if (hb->n == hb->cap) {
					hb->cap = hb->cap ? hb->cap * 2 : 16;
					hb->f = xrealloc(hb->f, hb->cap * sizeof *hb->f);
				}
				hb->f[hb->n].name = dup_range(ls, nlen);
				v = dup_range(colon + 1, vlen > ARF_MAX_VALUE ? ARF_MAX_VALUE : vlen);
				hb->f[hb->n].value = xstrdup(trim(v));
				hb->f[hb->n].vlen = strlen(hb->f[hb->n].value);
				hb->f[hb->n].line = line;
				free(v);
				hb->n++;
			}
		}
		pos = next;
	}
	if (nlines != NULL)
		*nlines = line;
	return len;
}

/* First field of that name (case-insensitive), or NULL.  Borrowed. */
static const struct hfield *
hb_field(const struct hblock *hb, const char *name)
{
	size_t i;

	for (i = 0; i < hb->n; i++)
		if (strcasecmp(hb->f[i].name, name) == 0)
			return &hb->f[i];
	return NULL;
}

/* First value of a field (case-insensitive name), or NULL.  Borrowed. */
static const char *
hb_get(const struct hblock *hb, const char *name)
{
	const struct hfield *f = hb_field(hb, name);

	return f ? f->value : NULL;
}

/* ---------------------------------------------------------------- MIME bits */

struct ctype {
	char type[128];          /* "multipart/report", lower-case */
	char boundary[128];
	char report_type[64];
};

static void
ctype_parse(const char *v, struct ctype *ct)
{
	const char *p = v;
	size_t n = 0;

	memset(ct, 0, sizeof *ct);
	if (v == NULL) {
		strcpy(ct->type, "text/plain");
		return;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t' && n < sizeof ct->type - 1)
		ct->type[n++] = (char)tolower((unsigned char)*p++);
	ct->type[n] = '\0';
	while (*p != '\0') {
		char name[32], val[128];
		size_t nn = 0, vn = 0;
		p = strchr(p, ';');
		if (p == NULL)
			break;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		while (*p != '\0' && *p != '=' && *p != ';' && nn < sizeof name - 1)
			name[nn++] = (char)tolower((unsigned char)*p++);
		name[nn] = '\0';
		while (nn > 0 && (name[nn - 1] == ' ' || name[nn - 1] == '\t'))
			name[--nn] = '\0';
		if (*p != '=')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			p++;
			while (*p != '\0' && *p != '"') {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (vn < sizeof val - 1)
					val[vn++] = *p;
				p++;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t') {
				if (vn < sizeof val - 1)
					val[vn++] = *p;
				p++;
			}
		}
		val[vn] = '\0';
		if (strcmp(name, "boundary") == 0)
			bs_strlcpy(ct->boundary, val, sizeof ct->boundary);
		else if (strcmp(name, "report-type") == 0) {
			bs_strlcpy(ct->report_type, val, sizeof ct->report_type);
			bs_lower(ct->report_type);
		}
	}
}


/* Decode base64, skipping what is not in the alphabet; NUL-terminated. */
static char *
b64_decode(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len / 4 * 3 + 4);
	size_t i, o = 0;
	unsigned acc = 0;
	int bits = 0;

	for (i = 0; i < len; i++) {
		int v;
		if (s[i] == '=')
			break;
		v = mime_b64val((unsigned char)s[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}


static char *
qp_decode(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t i = 0, o = 0;

	while (i < len) {
		if (s[i] == '=') {
			size_t j = i + 1;
			if (j + 1 < len && mime_hexval((unsigned char)s[j]) >= 0 &&
			    mime_hexval((unsigned char)s[j + 1]) >= 0) {
				out[o++] = (char)(mime_hexval((unsigned char)s[j]) * 16 + mime_hexval((unsigned char)s[j + 1]));
				i = j + 2;
				continue;
			}
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j < len && s[j] == '\r')
				j++;
			if (j < len && s[j] == '\n') {
				i = j + 1;
				continue;
			}
			if (j >= len) {
				i = j;
				continue;
			}
		}
		out[o++] = s[i++];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Decode a part body by its Content-Transfer-Encoding; caller frees. */
static char *
cte_decode(const char *cte, const char *s, size_t len, size_t *outlen)
{
	if (cte != NULL && strncasecmp(cte, "base64", 6) == 0)
		return b64_decode(s, len, outlen);
	if (cte != NULL && strncasecmp(cte, "quoted-printable", 16) == 0)
		return qp_decode(s, len, outlen);
	*outlen = len;
	return dup_range(s, len);
}

/* ---------------------------------------------------------------- dates */

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"
};
static const char *const day_names[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const month_caps[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static int
read_int(const char **pp, int maxdigits, long *v)
{
	const char *p = *pp;
	int n = 0;

	*v = 0;
	while (isdigit((unsigned char)*p) && n < maxdigits) {
		*v = *v * 10 + (*p - '0');
		p++;
		n++;
	}
	if (n == 0)
		return -1;
	*pp = p;
	return n;
}

int64_t
arf_parse_date(const char *s)
{
	const char *p = s;
	long day, year, hh, mm, ss = 0;
	int mon = -1, i, ndig;
	long off = 0;
	int64_t days;

	if (s == NULL)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	/* ISO 8601 ("2026-11-26T14:06:00Z"), which some senders use anyway */
	if (isdigit((unsigned char)p[0]) && strlen(p) >= 10 && p[4] == '-') {
		int64_t ms;
		if (bs_parse_time(p, 0, &ms) == 0)
			return ms;
		return -1;
	}
	if (isalpha((unsigned char)*p)) {          /* day name */
		while (isalpha((unsigned char)*p))
			p++;
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
	}
	if (read_int(&p, 2, &day) < 0)
		return -1;
	while (*p == ' ' || *p == '\t' || *p == '-')
		p++;
	for (i = 0; i < 12; i++)
		if (strncasecmp(p, month_names[i], 3) == 0) {
			mon = i + 1;
			break;
		}
	if (mon < 0)
		return -1;
	while (isalpha((unsigned char)*p))
		p++;
	while (*p == ' ' || *p == '\t' || *p == '-')
		p++;
	if ((ndig = read_int(&p, 4, &year)) < 0)
		return -1;
	if (ndig <= 2)
		year += year < 50 ? 2000 : 1900;
	else if (ndig == 3)
		year += 1900;
	while (*p == ' ' || *p == '\t')
		p++;
	if (read_int(&p, 2, &hh) < 0 || *p++ != ':' || read_int(&p, 2, &mm) < 0)
		return -1;
	if (*p == ':') {
		p++;
		if (read_int(&p, 2, &ss) < 0)
			return -1;
		if (*p == '.')             /* fractions, seen from some MTAs */
			while (*++p != '\0' && isdigit((unsigned char)*p))
				;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		long z;
		p++;
		if (read_int(&p, 4, &z) != 4)
			return -1;
		off = sign * ((z / 100) * 3600 + (z % 100) * 60);
	} else if (isalpha((unsigned char)*p)) {
		static const struct { const char *n; int h; } zones[] = {
			{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
			{ "EST", -5 }, { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 },
			{ "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
		};
		char z[8];
		size_t zn = 0, k;
		while (isalpha((unsigned char)*p) && zn < sizeof z - 1)
			z[zn++] = (char)toupper((unsigned char)*p++);
		z[zn] = '\0';
		for (k = 0; k < BS_ARRAY_LEN(zones); k++)
			if (strcmp(z, zones[k].n) == 0)
				off = zones[k].h * 3600L;
		/* unknown and military zones: RFC 5322 says treat as -0000 */
	}
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970 || year > 9999)
		return -1;
	days = days_from_civil(year, mon, (int)day);
	return ((days * 86400) + hh * 3600 + mm * 60 + ss - off) * 1000;
}

static void
fmt_rfc5322(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%s, %d %s %04d %02d:%02d:%02d +0000", day_names[tm.tm_wday], tm.tm_mday,
	    month_caps[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---------------------------------------------------------------- addresses */

/* Is s (possibly "[...]" or "IPv6:...") an IP address?  Writes the bare
 * address into out (size >= 64). */
static int
ip_literal(const char *s, size_t n, char *out)
{
	char tmp[80];
	unsigned char a[16];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		s += 5;
		n -= 5;
	}
	if (n == 0 || n >= sizeof tmp)
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, a) == 1 || inet_pton(AF_INET6, tmp, a) == 1) {
		bs_strlcpy(out, tmp, 64);
		return 1;
	}
	return 0;
}

/* The client address in a Received: field's "from" clause: the first
 * bracketed address, else a bare address token.  "" when none. */
static void
received_ip(const char *v, char *out)
{
	const char *p, *end;
	char low[ARF_MAX_VALUE + 1];
	size_t n = strlen(v), i;

	out[0] = '\0';
	if (n > ARF_MAX_VALUE)
		n = ARF_MAX_VALUE;
	for (i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)v[i]);
	low[n] = '\0';
	p = low;
	while (*p == ' ')
		p++;
	if (strncmp(p, "from ", 5) != 0)
		return;
	/* the from clause ends at " by " or at ';' */
	end = strstr(p, " by ");
	if (end == NULL)
		end = strchr(p, ';');
	if (end == NULL)
		end = low + n;
	/* the TCP information in parentheses, "(rdns [192.0.2.1])", is what the
	 * receiving MTA saw; a bracketed HELO before it is what the client claimed */
	for (i = 0; p + i < end; i++) {
		if (p[i] == '(') {
			const char *close = memchr(p + i, ')', (size_t)(end - (p + i)));
			const char *lb = close ? memchr(p + i, '[', (size_t)(close - (p + i))) : NULL;
			const char *rb = lb ? memchr(lb, ']', (size_t)(close - lb)) : NULL;
			if (rb != NULL && ip_literal(v + (lb - low), (size_t)(rb - lb) + 1, out))
				return;
		}
	}
	for (i = 0; p + i < end; i++) {
		if (p[i] == '[') {
			const char *close = memchr(p + i, ']', (size_t)(end - (p + i)));
			if (close != NULL && ip_literal(v + (p - low) + i, (size_t)(close - (p + i)) + 1, out))
				return;
		}
	}
	/* "from 192.0.2.1 (...)" or "(... 192.0.2.1)" without brackets */
	for (i = 0; p + i < end;) {
		size_t j = i;
		while (p + j < end && (isxdigit((unsigned char)p[j]) || p[j] == '.' || p[j] == ':'))
			j++;
		if (j > i && ip_literal(v + (p - low) + i, j - i, out))
			return;
		i = j > i ? j : i + 1;
	}
}

/* ---------------------------------------------------------------- the walk */

struct walk {
	struct arf_report *r;
	int have_fbr;            /* a feedback-report part was read */
	int parts;
	long first_line;         /* the message's first line in its file */
	char *err;
	size_t errlen;
};

static void
add_warning(struct arf_report *r, const char *msg)
{
	size_t cur = strlen(r->warning);

	if (cur > 0 && cur + 2 < sizeof r->warning)
		strcat(r->warning, "; ");
	bs_strlcpy(r->warning + strlen(r->warning), msg, sizeof r->warning - strlen(r->warning));
}

static char *
dup_field(const struct hblock *hb, const char *name)
{
	const char *v = hb_get(hb, name);

	return v ? xstrdup(v) : NULL;
}

/*
 * The value of field name with its RFC 2047 encoded-words decoded, as
 * clean UTF-8 (caller frees), or NULL when the field is absent.  An
 * encoded-word that cannot be decoded stays as it was and adds a warning
 * naming the field (with what, e.g. " of the reported message") and its
 * line in the file: block_line is the line the header block starts on in
 * the message, 0 when the block was decoded from base64 or
 * quoted-printable and has no line of its own (then where names the part).
 */
static char *
decoded_field(struct walk *w, const struct hblock *hb, const char *name, const char *what, long block_line,
    const char *where)
{
	const struct hfield *f = hb_field(hb, name);
	char why[112], msg[240];
	char *v;
	int kept = 0;

	if (f == NULL)
		return NULL;
	if (strcasecmp(name, "From") == 0) {
		/* an address field: only the display name may hold encoded-words
		 * (RFC 2047 5.3), and what they decode to ("<x@y>") must not be
		 * taken for the address, so the address is found first */
		const char *lt = memrchr(f->value, '<', f->vlen);
		if (lt != NULL && f->vlen > 0 && f->value[f->vlen - 1] == '>') {
			size_t pl = (size_t)(lt - f->value);
			char *phrase = rfc2047_decode(f->value, pl, &kept, why, sizeof why);
			char *addr = rfc2047_clean(lt, f->vlen - pl);
			v = xasprintf("%s%s%s", phrase, *phrase ? " " : "", addr);
			free(phrase);
			free(addr);
		} else if (memchr(f->value, '@', f->vlen) != NULL) {
			v = rfc2047_clean(f->value, f->vlen);          /* a bare address */
		} else {
			v = rfc2047_decode(f->value, f->vlen, &kept, why, sizeof why);
		}
	} else {
		v = rfc2047_decode(f->value, f->vlen, &kept, why, sizeof why);
	}
	if (kept > 0) {
		if (block_line > 0)
			snprintf(msg, sizeof msg, "line %ld: %s%s: %d encoded-word%s left as %s (%s)",
			    w->first_line + block_line - 1 + f->line - 1, name, what, kept, kept == 1 ? "" : "s",
			    kept == 1 ? "it was" : "they were", why);
		else
			snprintf(msg, sizeof msg, "%s: %s%s: %d encoded-word%s left as %s (%s)", where, name, what, kept,
			    kept == 1 ? "" : "s", kept == 1 ? "it was" : "they were", why);
		add_warning(w->r, msg);
	}
	return v;
}

/* Does this Content-Transfer-Encoding leave the lines as they are? */
static int
cte_identity(const char *cte)
{
	return cte == NULL || (strncasecmp(cte, "base64", 6) != 0 && strncasecmp(cte, "quoted-printable", 16) != 0);
}

static int
read_feedback_report(struct walk *w, const char *s, size_t len, const char *where, long line)
{
	struct hblock hb = { 0 };
	struct arf_report *r = w->r;
	const char *v;
	size_t i;

	if (w->have_fbr) {
		add_warning(r, "more than one message/feedback-report part; the first is used");
		return 0;
	}
	hb_parse(s, len, &hb, NULL);
	v = hb_get(&hb, "Feedback-Type");
	if (v == NULL || *v == '\0') {
		snprintf(w->err, w->errlen, "%s (message/feedback-report): missing the required Feedback-Type field", where);
		hb_clear(&hb);
		return -1;
	}
	w->have_fbr = 1;
	r->feedback_type = xstrndup(v, 32);
	bs_lower(r->feedback_type);
	{
		/* a token (RFC 5965 3.5); anything else is made one */
		char *p;
		int odd = 0;
		for (p = r->feedback_type; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.')) {
				*p = '_';
				odd = 1;
			}
		if (odd)
			add_warning(r, "Feedback-Type is not a token; odd characters replaced");
	}
	r->user_agent = decoded_field(w, &hb, "User-Agent", "", line, where);
	r->version = dup_field(&hb, "Version");
	if (r->user_agent == NULL || r->version == NULL)
		add_warning(r, "feedback-report lacks User-Agent or Version (required by RFC 5965)");
	if ((v = hb_get(&hb, "Source-IP")) != NULL) {
		char ip[64];
		if (ip_literal(v, strlen(v), ip))
			r->source_ip = xstrdup(ip);
		else
			add_warning(r, "Source-IP is not an IP address; ignored");
	}
	v = hb_get(&hb, "Arrival-Date");
	if (v == NULL)
		v = hb_get(&hb, "Received-Date");
	if (v != NULL) {
		int64_t ms = arf_parse_date(v);
		r->arrival_date = xstrdup(v);
		if (ms > 0)
			r->arrival_ms = ms;
		else
			add_warning(r, "Arrival-Date cannot be read; ignored");
	}
	r->reported_domain = dup_field(&hb, "Reported-Domain");
	r->reported_uri = dup_field(&hb, "Reported-URI");
	r->original_mail_from = dup_field(&hb, "Original-Mail-From");
	r->reporting_mta = dup_field(&hb, "Reporting-MTA");
	for (i = 0; i < hb.n; i++)
		if (strcasecmp(hb.f[i].name, "Original-Rcpt-To") == 0)
			r->original_rcpt_count++;
	if ((v = hb_get(&hb, "Incidents")) != NULL) {
		long n = strtol(v, NULL, 10);
		r->incidents = n > 0 && n < 1000000000 ? (int)n : 1;
	}
	hb_clear(&hb);
	return 0;
}

static void
read_reported_headers(struct walk *w, const char *s, size_t len, const char *where, long line)
{
	struct hblock hb = { 0 };
	struct arf_report *r = w->r;
	size_t i;

	if (r->has_message) {
		add_warning(r, "more than one reported message; the first is used");
		return;
	}
	r->has_message = 1;
	hb_parse(s, len, &hb, NULL);
	r->msg_from = decoded_field(w, &hb, "From", " of the reported message", line, where);
	r->msg_subject = decoded_field(w, &hb, "Subject", " of the reported message", line, where);
	r->msg_message_id = dup_field(&hb, "Message-ID");
	r->msg_date = dup_field(&hb, "Date");
	for (i = 0; i < hb.n && r->n_received < ARF_MAX_RECEIVED; i++) {
		struct arf_received *rc;
		const char *semi;
		if (strcasecmp(hb.f[i].name, "Received") != 0)
			continue;
		rc = &r->received[r->n_received++];
		received_ip(hb.f[i].value, rc->ip);
		semi = strrchr(hb.f[i].value, ';');
		rc->ts_ms = semi ? arf_parse_date(semi + 1) : -1;
		if (rc->ts_ms < 0)
			rc->ts_ms = 0;
	}
	hb_clear(&hb);
}

static int walk_entity(struct walk *w, const char *s, size_t len, int depth, const char *where, long line);

/* line: the line s starts on in the message, 0 if it has none (decoded) */
static int
walk_multipart(struct walk *w, const struct ctype *ct, const char *s, size_t len, int depth,
    const char *where, long line)
{
	char delim[140];
	size_t dlen, pos = 0, part_start = 0;
	int in_part = 0, closed = 0, nparts = 0;
	long cur = line, part_line = 0;

	if (ct->boundary[0] == '\0') {
		snprintf(w->err, w->errlen, "%s (%s): no boundary parameter", where, ct->type);
		return -1;
	}
	snprintf(delim, sizeof delim, "--%s", ct->boundary);
	dlen = strlen(delim);
	while (pos < len && !closed) {
		const char *ls;
		size_t ll, line_start = pos;
		size_t next = next_line(s, len, pos, &ls, &ll);
		if (ll >= dlen && memcmp(ls, delim, dlen) == 0) {
			int is_close = ll >= dlen + 2 && ls[dlen] == '-' && ls[dlen + 1] == '-';
			if (in_part) {
				/* the part ends before the line break that precedes the delimiter */
				size_t end = line_start;
				char sub[96];
				if (end > part_start && s[end - 1] == '\n')
					end--;
				if (end > part_start && s[end - 1] == '\r')
					end--;
				nparts++;
				if (++w->parts > ARF_MAX_PARTS) {
					snprintf(w->err, w->errlen, "%s: more than %d MIME parts", where, ARF_MAX_PARTS);
					return -1;
				}
				snprintf(sub, sizeof sub, "%s part %d", where, nparts);
				if (walk_entity(w, s + part_start, end - part_start, depth + 1, sub, part_line) != 0)
					return -1;
			}
			if (is_close)
				closed = 1;
			in_part = 1;
			part_start = next;
			part_line = line > 0 ? cur + 1 : 0;
		}
		pos = next;
		cur++;
	}
	if (!closed) {
		if (!in_part) {
			snprintf(w->err, w->errlen, "%s (%s): the boundary \"%s\" never appears", where, ct->type,
			    ct->boundary);
			return -1;
		}
		add_warning(w->r, "multipart not closed (truncated message?)");
		if (part_start < len) {
			char sub[96];
			nparts++;
			snprintf(sub, sizeof sub, "%s part %d", where, nparts);
			if (walk_entity(w, s + part_start, len - part_start, depth + 1, sub, part_line) != 0)
				return -1;
		}
	}
	return 0;
}

static int
walk_entity(struct walk *w, const char *s, size_t len, int depth, const char *where, long line)
{
	struct hblock hb = { 0 };
	struct ctype ct;
	size_t body;
	const char *cte;
	long nl = 0, body_line;
	int rc = 0;

	if (depth > ARF_MAX_DEPTH) {
		snprintf(w->err, w->errlen, "%s: MIME nested deeper than %d levels", where, ARF_MAX_DEPTH);
		return -1;
	}
	body = hb_parse(s, len, &hb, &nl);
	body_line = line > 0 ? line + nl : 0;
	ctype_parse(hb_get(&hb, "Content-Type"), &ct);
	cte = hb_get(&hb, "Content-Transfer-Encoding");
	if (!cte_identity(cte))
		body_line = 0;          /* decoded text has no lines in the file */
	if (strncmp(ct.type, "multipart/", 10) == 0) {
		rc = walk_multipart(w, &ct, s + body, len - body, depth, where, line > 0 ? line + nl : 0);
	} else if (strcmp(ct.type, "message/feedback-report") == 0) {
		size_t dlen;
		char *d = cte_decode(cte, s + body, len - body, &dlen);
		rc = read_feedback_report(w, d, dlen, where, body_line);
		free(d);
	} else if (strcmp(ct.type, "message/rfc822") == 0 || strcmp(ct.type, "text/rfc822-headers") == 0 ||
	    strcmp(ct.type, "message/rfc822-headers") == 0 || strcmp(ct.type, "message/global") == 0 ||
	    strcmp(ct.type, "message/global-headers") == 0) {
		size_t dlen;
		char *d = cte_decode(cte, s + body, len - body, &dlen);
		read_reported_headers(w, d, dlen, where, body_line);
		free(d);
	}
	hb_clear(&hb);
	return rc;
}

void
arf_report_clear(struct arf_report *r)
{
	if (r == NULL)
		return;
	free(r->feedback_type);
	free(r->user_agent);
	free(r->version);
	free(r->source_ip);
	free(r->arrival_date);
	free(r->reported_domain);
	free(r->reported_uri);
	free(r->original_mail_from);
	free(r->reporting_mta);
	free(r->msg_from);
	free(r->msg_subject);
	free(r->msg_message_id);
	free(r->msg_date);
	free(r->report_from);
	free(r->report_subject);
	free(r->report_date);
	free(r->report_message_id);
	memset(r, 0, sizeof *r);
}

int
arf_parse(const char *buf, size_t len, struct arf_report *out, char *err, size_t errlen)
{
	return arf_parse_at(buf, len, 1, out, err, errlen);
}

int
arf_parse_at(const char *buf, size_t len, long first_line, struct arf_report *out, char *err, size_t errlen)
{
	struct hblock hb = { 0 };
	struct ctype ct;
	struct walk w;

	memset(&w, 0, sizeof w);
	w.r = out;
	w.first_line = first_line > 0 ? first_line : 1;
	memset(out, 0, sizeof *out);
	out->incidents = 1;
	if (len == 0) {
		snprintf(err, errlen, "empty message");
		return -1;
	}
	hb_parse(buf, len, &hb, NULL);
	if (hb.n == 0) {
		snprintf(err, errlen, "no header fields: not a mail message");
		return -1;
	}
	out->report_from = decoded_field(&w, &hb, "From", "", 1, "message");
	out->report_subject = decoded_field(&w, &hb, "Subject", "", 1, "message");
	out->report_date = dup_field(&hb, "Date");
	out->report_message_id = dup_field(&hb, "Message-ID");
	ctype_parse(hb_get(&hb, "Content-Type"), &ct);
	hb_clear(&hb);
	if (strncmp(ct.type, "multipart/", 10) != 0) {
		snprintf(err, errlen, "top level: Content-Type is %s, expected multipart/report; report-type=feedback-report",
		    ct.type[0] ? ct.type : "(empty)");
		arf_report_clear(out);
		return -1;
	}
	if (strcmp(ct.type, "multipart/report") == 0 && ct.report_type[0] != '\0' &&
	    strcmp(ct.report_type, "feedback-report") != 0) {
		snprintf(err, errlen, "top level: multipart/report with report-type=%s, not feedback-report "
		    "(a bounce or a read receipt?)", ct.report_type);
		arf_report_clear(out);
		return -1;
	}
	w.err = err;
	w.errlen = errlen;
	if (walk_entity(&w, buf, len, 0, "message", 1) != 0) {
		arf_report_clear(out);
		return -1;
	}
	if (!w.have_fbr) {
		snprintf(err, errlen, "no message/feedback-report part: not an ARF report");
		arf_report_clear(out);
		return -1;
	}
	if (strcmp(ct.type, "multipart/report") != 0)
		add_warning(out, "the report is wrapped in another multipart type");
	return 0;
}

/* ---------------------------------------------------------------- mbox */

int
arf_mbox_each(const char *buf, size_t len,
    int (*fn)(void *ud, const char *msg, size_t len, int index, long line), void *ud)
{
	size_t pos = 0, start, msg_start = 0;
	long lineno = 1, msg_line = 1;
	int index = 0, prev_blank = 1, in_msg = 0, rc;
	const char *ls;
	size_t ll;

	/* skip leading blank lines */
	while (pos < len) {
		size_t next = next_line(buf, len, pos, &ls, &ll);
		if (ll != 0)
			break;
		pos = next;
		lineno++;
	}
	start = pos;
	if (len - start < 5 || memcmp(buf + start, "From ", 5) != 0) {
		/* a single message */
		if (start >= len)
			return 0;
		return fn(ud, buf + start, len - start, 1, lineno);
	}
	pos = start;
	while (pos <= len) {
		size_t next;
		int is_sep;
		if (pos == len) {
			ls = buf + len;
			ll = 0;
			next = len + 1;
			is_sep = 1;           /* end of file closes the last message */
		} else {
			next = next_line(buf, len, pos, &ls, &ll);
			is_sep = prev_blank && ll >= 5 && memcmp(ls, "From ", 5) == 0;
		}
		if (is_sep) {
			if (in_msg) {
				/* unquote ">From " lines (mboxrd) into a copy */
				size_t end = pos, i = msg_start, o = 0;
				char *copy = xmalloc(end - msg_start + 1);
				int bol = 1;
				while (i < end) {
					if (bol && buf[i] == '>') {
						size_t j = i;
						while (j < end && buf[j] == '>')
							j++;
						if (end - j >= 5 && memcmp(buf + j, "From ", 5) == 0)
							i++;
					}
					bol = buf[i] == '\n';
					copy[o++] = buf[i++];
				}
				/* drop the blank line that separates messages */
				while (o > 0 && (copy[o - 1] == '\n' || copy[o - 1] == '\r'))
					o--;
				copy[o] = '\0';
				index++;
				rc = o > 0 ? fn(ud, copy, o, index, msg_line) : 0;
				free(copy);
				if (rc != 0)
					return rc;
			}
			if (pos == len)
				break;
			in_msg = 1;
			msg_start = next;
			msg_line = lineno + 1;
		}
		prev_blank = ll == 0;
		pos = next;
		lineno++;
	}
	return 0;
}

/* ---------------------------------------------------------------- composing */

struct sb {
	char *p;
	size_t len, cap;
};

static void
sb_addn(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_add(struct sb *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void BS_PRINTF(2, 3)
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	sb_add(b, s);
	free(s);
}

/* A header field value made safe: one line, printable ASCII only. */
static char *
safe_value(const char *v)
{
	char *d = xstrdup(v ? v : "");
	char *p;

	for (p = d; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\r' || c == '\n' || c == '\t')
			*p = ' ';
		else if (c < 0x20 || c > 0x7e)
			*p = '?';
	}
	return d;
}

static void
add_field(struct sb *b, const char *name, const char *value)
{
	char *v;

	if (value == NULL)
		return;
	v = safe_value(value);
	sb_printf(b, "%s: %s\r\n", name, v);
	free(v);
}

static int
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 0x7e || ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\r' && *s != '\t'))
			return 0;
	return 1;
}

/* Text with LF or CRLF line ends into CRLF; quoted-printable if qp. */
static void
add_text(struct sb *b, const char *s, int qp)
{
	const char *p;
	int col = 0;

	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\r')
			continue;
		if (c == '\n') {
			sb_add(b, "\r\n");
			col = 0;
			continue;
		}
		if (qp) {
			char enc[4];
			int need = (c > 0x7e || c == '=' || (c < 0x20 && c != '\t') ||
			    ((c == ' ' || c == '\t') && (p[1] == '\n' || p[1] == '\r' || p[1] == '\0')));
			int w = need ? 3 : 1;
			if (col + w > 75) {
				sb_add(b, "=\r\n");
				col = 0;
			}
			if (need) {
				snprintf(enc, sizeof enc, "=%02X", c);
				sb_add(b, enc);
			} else
				sb_addn(b, (const char *)&c, 1);
			col += w;
		} else {
			sb_addn(b, (const char *)&c, 1);
		}
	}
	if (b->len < 2 || memcmp(b->p + b->len - 2, "\r\n", 2) != 0)
		sb_add(b, "\r\n");
}

static unsigned long long
rnd64(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/dev/urandom", "rb");

	if (f != NULL) {
		if (fread(&v, sizeof v, 1, f) != 1)
			v = 0;
		fclose(f);
	}
	if (v == 0)
		v = (unsigned long long)bs_now_ms() * 6364136223846793005ULL + (unsigned long long)getpid();
	return v;
}

char *
arf_compose(const struct arf_compose *a)
{
	struct sb b = { 0 };
	char date[64], boundary[80], msgid[160];
	const char *ua_default = "botsentry/" PACKAGE_VERSION;
	const char *headers = a->headers;
	int64_t now = a->date_ms ? a->date_ms : bs_now_ms();
	size_t i;

	if (a->boundary != NULL)
		bs_strlcpy(boundary, a->boundary, sizeof boundary);
	else
		snprintf(boundary, sizeof boundary, "=_botsentry_%016llx", rnd64());
	fmt_rfc5322(now, date, sizeof date);
	if (a->message_id != NULL) {
		char *v = safe_value(a->message_id);
		snprintf(msgid, sizeof msgid, "%s", v);
		free(v);
	} else {
		const char *dom = a->from ? strrchr(a->from, '@') : NULL;
		char d[100];
		size_t k = 0;
		if (dom != NULL)
			for (dom++; *dom != '\0' && k < sizeof d - 1; dom++)
				if (isalnum((unsigned char)*dom) || *dom == '.' || *dom == '-')
					d[k++] = *dom;
		d[k] = '\0';
		snprintf(msgid, sizeof msgid, "arf.%lld.%08llx@%s", (long long)now, rnd64() & 0xffffffffULL,
		    k ? d : "botsentry.invalid");
	}

	/* the report's own header */
	add_field(&b, "From", a->from);
	add_field(&b, "To", a->to);
	if (a->subject != NULL)
		add_field(&b, "Subject", a->subject);
	else {
		char *s = xasprintf("Abuse report for %s", a->source_ip ? a->source_ip : "a subscriber of ours");
		add_field(&b, "Subject", s);
		free(s);
	}
	add_field(&b, "Date", date);
	sb_printf(&b, "Message-ID: <%s>\r\n", msgid);
	sb_add(&b, "MIME-Version: 1.0\r\n");
	sb_printf(&b, "Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary=\"%s\"\r\n", boundary);
	sb_add(&b, "\r\nThis is a multi-part message in MIME format (an abuse report, RFC 5965).\r\n\r\n");

	/* 1: for people */
	sb_printf(&b, "--%s\r\n", boundary);
	{
		const char *text = a->human_text ? a->human_text :
		    "This is an abuse report for mail that was sent from our network.\n"
		    "The machine-readable details follow.\n";
		int qp = !is_ascii(text);
		sb_printf(&b, "Content-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: %s\r\n\r\n",
		    qp ? "utf-8" : "us-ascii", qp ? "quoted-printable" : "7bit");
		add_text(&b, text, qp);
	}

	/* 2: for machines */
	sb_printf(&b, "\r\n--%s\r\n", boundary);
	sb_add(&b, "Content-Type: message/feedback-report\r\nContent-Transfer-Encoding: 7bit\r\n\r\n");
	add_field(&b, "Feedback-Type", a->feedback_type ? a->feedback_type : "abuse");
	add_field(&b, "User-Agent", a->user_agent ? a->user_agent : ua_default);
	add_field(&b, "Version", "1");
	add_field(&b, "Original-Mail-From", a->original_mail_from);
	if (a->arrival_ms > 0) {
		char ad[64];
		fmt_rfc5322(a->arrival_ms, ad, sizeof ad);
		add_field(&b, "Arrival-Date", ad);
	}
	add_field(&b, "Reporting-MTA", a->reporting_mta);
	add_field(&b, "Source-IP", a->source_ip);
	if (a->incidents > 1) {
		char n[24];
		snprintf(n, sizeof n, "%d", a->incidents);
		add_field(&b, "Incidents", n);
	}
	add_field(&b, "Reported-Domain", a->reported_domain);
	for (i = 0; i < a->n_extra; i++) {
		char *nm;
		char *p;
		if (a->extra[i].name == NULL || a->extra[i].value == NULL)
			continue;
		nm = safe_value(a->extra[i].name);
		for (p = nm; *p != '\0'; p++)
			if (*p == ':' || *p == ' ')
				*p = '-';
		add_field(&b, nm, a->extra[i].value);
		free(nm);
	}

	/* 3: the reported message, headers only */
	sb_printf(&b, "\r\n--%s\r\n", boundary);
	sb_add(&b, "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 7bit\r\n\r\n");
	if (headers != NULL && *headers != '\0') {
		const char *p = headers;
		while (*p != '\0') {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			size_t k;
			char *line;
			if (n > 0 && p[n - 1] == '\r')
				n--;
			if (n == 0)
				break;          /* the body starts here: never copied */
			line = xstrndup(p, n);
			for (k = 0; k < n; k++)
				if ((unsigned char)line[k] > 0x7e || ((unsigned char)line[k] < 0x20 && line[k] != '\t'))
					line[k] = '?';
			/* a line that does not look like a field or a continuation would
			 * end the header block early for the reader: indent it */
			if (line[0] != ' ' && line[0] != '\t' && strchr(line, ':') == NULL)
				sb_add(&b, " ");
			sb_add(&b, line);
			sb_add(&b, "\r\n");
			free(line);
			if (nl == NULL)
				break;
			p = nl + 1;
		}
	} else {
		char *ip = safe_value(a->source_ip ? a->source_ip : "unknown");
		char ad[64];
		fmt_rfc5322(a->arrival_ms > 0 ? a->arrival_ms : now, ad, sizeof ad);
		sb_printf(&b, "Received: from [%s] by %s; %s\r\n", ip, "botsentry.invalid", ad);
		free(ip);
	}
	sb_printf(&b, "\r\n--%s--\r\n", boundary);
	return b.p;
}
