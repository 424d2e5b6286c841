/*
 * mime.c - header cleaning, RFC 2047 encoded words, folding, quoted-printable
 * bodies, dates and Message-IDs for the mail botsentry writes.  See mime.h.
 */
#include "config.h"
#include "mime.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

int
mime_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
mime_b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void
mbuf_add(struct mbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
mbuf_adds(struct mbuf *b, const char *s)
{
	mbuf_add(b, s, strlen(s));
}

void
mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	mbuf_adds(b, s);
	free(s);
}

char *
mbuf_take(struct mbuf *b)
{
	char *p = b->p ? b->p : xstrdup("");

	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void
mbuf_free(struct mbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

size_t
mime_utf8_next(const unsigned char *s, size_t n, unsigned *cpp)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80) {
		if (cpp != NULL)
			*cpp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2; cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3; cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4; cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
	    || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cpp != NULL)
		*cpp = cp;
	return len;
}

char *
mime_clean(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = xmalloc(len + 4);
	size_t i = 0, o = 0, last_char_end = 0;
	int space = 1;      /* drop leading white space */

	while (i < len) {
		size_t n;

		if (u[i] < 0x20 || u[i] == 0x7f || u[i] == ' ') {
			if (!space)
				out[o++] = ' ';
			space = 1;
			i++;
			continue;
		}
		n = mime_utf8_next(u + i, len - i, NULL);
		if (n == 0) {
			out[o++] = '?';
			i++;
		} else {
			memcpy(out + o, u + i, n);
			o += n;
			i += n;
		}
		space = 0;
		last_char_end = o;
		if (o >= MIME_HEADER_VALUE_MAX)
			break;
	}
	if (o > last_char_end)
		o = last_char_end;      /* trailing white space */
	if (i < len && o >= MIME_HEADER_VALUE_MAX) {
		/* cut on a character boundary and say so */
		while (o > MIME_HEADER_VALUE_MAX - 3) {
			o--;
			while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
				o--;
		}
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static int
all_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* Append encoded words for the cleaned UTF-8 text s; col is the current
 * column.  Each word holds whole characters and fits in 78 columns; words
 * are separated by a fold (white space between encoded words is ignored by
 * readers, so the text's own spaces travel inside the words). */
static void
encoded_words(struct mbuf *b, const char *s, size_t col)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;
	unsigned char enc[64];

	while (i < len) {
		size_t take = 0, n, room, maxraw;
		int elen;

		room = col + 12 < 78 ? 78 - col - 12 : 0;
		maxraw = room / 4 * 3;
		if (maxraw > 45)
			maxraw = 45;          /* 60 base64 characters */
		if (maxraw < 6 && col > 1) {
			mbuf_adds(b, "\n ");
			col = 1;
			continue;
		}
		while (i + take < len) {
			n = mime_utf8_next(u + i + take, len - i - take, NULL);
			if (n == 0)
				n = 1;
			if (take + n > maxraw)
				break;
			take += n;
		}
		if (take == 0) {
			mbuf_adds(b, "\n ");
			col = 1;
			continue;
		}
		elen = EVP_EncodeBlock(enc, u + i, (int)take);
		mbuf_adds(b, "=?UTF-8?B?");
		mbuf_add(b, (const char *)enc, (size_t)elen);
		mbuf_adds(b, "?=");
		col += 12 + (size_t)elen;
		i += take;
		if (i < len) {
			mbuf_adds(b, "\n ");
			col = 1;
		}
	}
}

/* Append ASCII text folded at spaces so lines stay near 78 columns. */
static void
folded_ascii(struct mbuf *b, const char *s, size_t col)
{
	while (*s) {
		const char *sp = strchr(s, ' ');
		size_t wl = sp ? (size_t)(sp - s) : strlen(s);

		if (col + wl > 78 && col > 20) {
			mbuf_adds(b, "\n ");
			col = 1;
		}
		mbuf_add(b, s, wl);
		col += wl;
		s += wl;
		if (*s == ' ') {
			/* the space belongs before the next word unless we fold */
			const char *nx = s + 1, *sp2 = strchr(nx, ' ');
			size_t nl = sp2 ? (size_t)(sp2 - nx) : strlen(nx);
			if (col + 1 + nl > 78 && col > 20) {
				mbuf_adds(b, "\n ");
				col = 1;
			} else {
				mbuf_adds(b, " ");
				col++;
			}
			s++;
		}
	}
}

void
mime_header(struct mbuf *b, const char *name, const char *value)
{
	char *v = mime_clean(value ? value : "", value ? strlen(value) : 0);
	size_t col = strlen(name) + 2;

	mbuf_adds(b, name);
	mbuf_adds(b, ": ");
	if (all_ascii(v))
		folded_ascii(b, v, col);
	else
		encoded_words(b, v, col);
	mbuf_adds(b, "\n");
	free(v);
}

int
mime_addr_ok(const char *s)
{
	const char *at = NULL, *p;

	if (s == NULL || *s == '\0' || strlen(s) > 254)
		return 0;
	for (p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || strchr("<>()[],;:\"\\", c) != NULL)
			return 0;
		if (c == '@') {
			if (at != NULL)
				return 0;
			at = p;
		}
	}
	return at != NULL && at != s && at[1] != '\0';
}

int
mime_addr_spec(const char *addr, char *buf, size_t size)
{
	const char *lt, *gt;
	size_t n;

	if (addr == NULL)
		return -1;
	lt = strrchr(addr, '<');
	if (lt != NULL) {
		gt = strchr(lt, '>');
		if (gt == NULL || gt[1] != '\0')
			return -1;
		n = (size_t)(gt - lt - 1);
		addr = lt + 1;
	} else {
		while (*addr == ' ')
			addr++;
		n = strlen(addr);
		while (n > 0 && addr[n - 1] == ' ')
			n--;
	}
	if (n + 1 > size)
		return -1;
	memcpy(buf, addr, n);
	buf[n] = '\0';
	return mime_addr_ok(buf) ? 0 : -1;
}

int
mime_address_header(struct mbuf *b, const char *name, const char *addr)
{
	char spec[256];
	const char *lt;

	if (mime_addr_spec(addr, spec, sizeof spec) != 0)
		return -1;
	mbuf_adds(b, name);
	mbuf_adds(b, ": ");
	lt = strrchr(addr, '<');
	if (lt != NULL && lt > addr) {
		char *raw = xstrndup(addr, (size_t)(lt - addr));
		char *d = mime_clean(raw, strlen(raw)), *p;
		size_t dl = strlen(d);

		/* drop surrounding quotes a config writer may have put there */
		if (dl >= 2 && d[0] == '"' && d[dl - 1] == '"') {
			memmove(d, d + 1, dl - 2);
			d[dl - 2] = '\0';
		}
		if (*d != '\0') {
			if (all_ascii(d)) {
				mbuf_adds(b, "\"");
				for (p = d; *p; p++) {
					if (*p == '"' || *p == '\\')
						mbuf_adds(b, "\\");
					mbuf_add(b, p, 1);
				}
				mbuf_adds(b, "\"");
			} else {
				encoded_words(b, d, strlen(name) + 2);
			}
			mbuf_adds(b, " ");
		}
		free(raw);
		free(d);
	}
	mbuf_adds(b, "<");
	mbuf_adds(b, spec);
	mbuf_adds(b, ">\n");
	return 0;
}

void
mime_qp(struct mbuf *b, const char *text, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		char tok[4];
		size_t tl;
		int eol_next;

		if (c == '\r' && i + 1 < len && text[i + 1] == '\n')
			continue;
		if (c == '\n') {
			mbuf_adds(b, "\n");
			col = 0;
			continue;
		}
		eol_next = (i + 1 == len || text[i + 1] == '\n'
		    || (text[i + 1] == '\r' && i + 2 < len && text[i + 2] == '\n'));
		if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol_next)) {
			tok[0] = (char)c;
			tl = 1;
		} else {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			tl = 3;
		}
		/* keep room for a soft break "=" within 76 columns */
		if (col + tl > 75 && !(eol_next && col + tl <= 76)) {
			mbuf_adds(b, "=\n");
			col = 0;
		}
		mbuf_add(b, tok, tl);
		col += tl;
	}
	if (len > 0 && text[len - 1] != '\n')
		mbuf_adds(b, "\n");
}

const char *
mime_date(int64_t ms, char *buf, size_t size)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

char *
mime_message_id(const char *key, const char *domain)
{
	struct mbuf b = { 0 };
	const char *p;

	mbuf_adds(&b, "<");
	for (p = key; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		    || strchr(".-_+=", c) != NULL)
			mbuf_add(&b, p, 1);
		else
			mbuf_adds(&b, "_");
	}
	mbuf_adds(&b, "@");
	for (p = domain && *domain ? domain : "localhost"; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		    || c == '.' || c == '-')
			mbuf_add(&b, p, 1);
	}
	mbuf_adds(&b, ">");
	return mbuf_take(&b);
}

char *
mime_to_crlf(const char *s, size_t *outlen)
{
	struct mbuf b = { 0 };
	const char *p;

	for (p = s; *p; p++) {
		if (*p == '\n' && (p == s || p[-1] != '\r'))
			mbuf_add(&b, "\r\n", 2);
		else
			mbuf_add(&b, p, 1);
	}
	if (outlen != NULL)
		*outlen = b.len;
	return mbuf_take(&b);
}
