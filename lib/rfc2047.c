/*
 * rfc2047.c - decoding of RFC 2047 encoded-words in header values from
 * outside.  See rfc2047.h.
 *
 * The walk is one pass over the input: every "=?" starts at most one
 * attempt to read a word, and an attempt stops at the next '?' that is not
 * part of the word's syntax, so attempts never overlap and the whole is
 * linear.  Runs of adjacent words in one charset are decoded into one byte
 * buffer and converted with one iconv call; if that fails, each word is
 * tried alone and only the failing ones are kept as they were.
 */
#include "config.h"
#include "rfc2047.h"
#include "mime.h"
#include "util.h"

#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHARSET_NAME 40
#define MAX_RUN 64              /* words converted together at most */

/* ---------------------------------------------------------------- UTF-8 */

static int
utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	unsigned cp;

	while (i < n) {
		if ((k = mime_utf8_next(u + i, n - i, &cp)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* Characters that must not reach a terminal, a table or a log line as they
 * are: C0 controls, DEL, C1 controls (some terminals act on them), and the
 * bidirectional embeddings, overrides and isolates that reorder what is
 * shown around them. */
static int
is_control(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

char *
rfc2047_clean(const char *in, size_t len)
{
	const unsigned char *u = (const unsigned char *)in;
	char *out = xmalloc(len + 1);
	size_t i = 0, o = 0, k;
	unsigned cp;
	int blank = 1;          /* drops leading blanks */

	while (i < len) {
		k = mime_utf8_next(u + i, len - i, &cp);
		if (k == 0) {
			out[o++] = '?';
			i++;
			blank = 0;
			continue;
		}
		if (cp == ' ' || is_control(cp)) {
			/* one space for a run of blanks and controls */
			if (!blank)
				out[o++] = ' ';
			blank = 1;
		} else {
			memcpy(out + o, u + i, k);
			o += k;
			blank = 0;
		}
		i += k;
	}
	if (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

/* ---------------------------------------------------------------- words */

struct word {
	size_t start, end;           /* the whole "=?...?=" in the input */
	const char *cs;              /* charset name (not terminated) */
	size_t cslen;
	char enc;                    /* 'B' or 'Q' */
	const char *text;            /* encoded-text */
	size_t textlen;
};

/* RFC 2047 token characters: printable ASCII without SPACE, CTLs and
 * especials.  '*' is allowed for RFC 2231 language tags. */
static int
is_token(int c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\"/[]?.=", c) == NULL;
}

/*
 * Read the encoded-word that starts at s[pos] ("=?"); 1 and *w filled, or 0
 * when what is there is not an encoded-word.  Looks at no more than the
 * bytes up to the first '?' after the word's encoding.
 */
static int
read_word(const char *s, size_t len, size_t pos, struct word *w)
{
	size_t p = pos + 2, cs0, t0;

	if (pos + 2 > len || s[pos] != '=' || s[pos + 1] != '?')
		return 0;
	cs0 = p;
	while (p < len && p - cs0 <= MAX_CHARSET_NAME && is_token((unsigned char)s[p]))
		p++;
	if (p == cs0 || p - cs0 > MAX_CHARSET_NAME || p + 2 >= len || s[p] != '?')
		return 0;
	w->cs = s + cs0;
	w->cslen = p - cs0;
	p++;
	if (s[p] == 'B' || s[p] == 'b')
		w->enc = 'B';
	else if (s[p] == 'Q' || s[p] == 'q')
		w->enc = 'Q';
	else
		return 0;
	p++;
	if (s[p] != '?')
		return 0;
	p++;
	t0 = p;
	while (p < len && p - t0 <= RFC2047_MAX_WORD && s[p] > 0x20 && s[p] < 0x7f && s[p] != '?')
		p++;
	if (p - t0 > RFC2047_MAX_WORD || p + 1 >= len || s[p] != '?' || s[p + 1] != '=')
		return 0;
	w->text = s + t0;
	w->textlen = p - t0;
	w->start = pos;
	w->end = p + 2;
	return 1;
}



/* Append the bytes the word's encoded-text stands for; -1 with *why when
 * the text is not valid for its encoding. */
static int
word_bytes(const struct word *w, struct mbuf *b, const char **why)
{
	const char *t = w->text;
	size_t n = w->textlen, i;

	if (w->enc == 'Q') {
		for (i = 0; i < n; i++) {
			char c = t[i];
			if (c == '_')
				c = ' ';
			else if (c == '=') {
				int h, l;
				if (i + 2 >= n) {
					*why = "broken quoted-printable (= at the end)";
					return -1;
				}
				h = mime_hexval((unsigned char)t[i + 1]);
				l = mime_hexval((unsigned char)t[i + 2]);
				if (h < 0 || l < 0) {
					*why = "broken quoted-printable (= not followed by two hex digits)";
					return -1;
				}
				c = (char)(h * 16 + l);
				i += 2;
			}
			mbuf_add(b, &c, 1);
		}
		return 0;
	} else {
		unsigned acc = 0;
		int bits = 0, pad = 0;
		size_t chars = 0;
		for (i = 0; i < n; i++) {
			int v;
			if (t[i] == '=') {
				pad++;
				continue;
			}
			if (pad > 0 || (v = mime_b64val((unsigned char)t[i])) < 0) {
				*why = "broken base64";
				return -1;
			}
			chars++;
			acc = (acc << 6) | (unsigned)v;
			bits += 6;
			if (bits >= 8) {
				char c;
				bits -= 8;
				c = (char)((acc >> bits) & 0xff);
				mbuf_add(b, &c, 1);
			}
		}
		if (chars % 4 == 1 || pad > 2 || (pad > 0 && (chars + (size_t)pad) % 4 != 0)) {
			*why = "broken base64 (wrong length)";
			return -1;
		}
		return 0;
	}
}

/* ---------------------------------------------------------------- charsets */

struct conv {
	char name[MAX_CHARSET_NAME + 1];     /* lower case, language tag cut */
	iconv_t cd;                          /* (iconv_t)-1: unknown charset */
};

struct dec {
	struct conv conv[RFC2047_MAX_CHARSETS];
	size_t nconv;
	int kept;
	char whybuf[96];             /* the text *why points to, when made up */
	char *why;
	size_t whylen;
};

/* The charset's name as compared and opened: lower case, without an RFC
 * 2231 language tag ("utf-8*en"). */
static void
charset_name(const struct word *w, char *out)
{
	size_t i;

	for (i = 0; i < w->cslen && w->cs[i] != '*'; i++)
		out[i] = (char)((w->cs[i] >= 'A' && w->cs[i] <= 'Z') ? w->cs[i] + 32 : w->cs[i]);
	out[i] = '\0';
}

static int
same_charset(const struct word *a, const struct word *b)
{
	char x[MAX_CHARSET_NAME + 1], y[MAX_CHARSET_NAME + 1];

	charset_name(a, x);
	charset_name(b, y);
	return strcmp(x, y) == 0;
}

/*
 * Convert bytes in charset cs to UTF-8 and append them to out; 0, or -1
 * with *why (unknown charset, bytes not valid in it).
 */
static int
convert(struct dec *d, const char *cs, const char *in, size_t n, struct mbuf *out, const char **why)
{
	struct conv *cv = NULL;
	size_t i;

	if (strcmp(cs, "utf-8") == 0 || strcmp(cs, "utf8") == 0) {
		if (!utf8_valid(in, n)) {
			*why = "bytes not valid in UTF-8";
			return -1;
		}
		mbuf_add(out, in, n);
		return 0;
	}
	if (strcmp(cs, "us-ascii") == 0 || strcmp(cs, "ascii") == 0) {
		for (i = 0; i < n; i++)
			if ((unsigned char)in[i] >= 0x80) {
				*why = "bytes not valid in US-ASCII";
				return -1;
			}
		mbuf_add(out, in, n);
		return 0;
	}
	for (i = 0; i < d->nconv; i++)
		if (strcmp(d->conv[i].name, cs) == 0)
			cv = &d->conv[i];
	if (cv == NULL) {
		if (d->nconv == RFC2047_MAX_CHARSETS) {
			*why = "too many charsets in one value";
			return -1;
		}
		cv = &d->conv[d->nconv++];
		bs_strlcpy(cv->name, cs, sizeof cv->name);
		/* "" would make iconv use the locale's charset */
		cv->cd = cs[0] != '\0' ? iconv_open("UTF-8", cs) : (iconv_t)-1;
	}
	if (cv->cd == (iconv_t)-1) {
		snprintf(d->whybuf, sizeof d->whybuf, "unknown charset \"%s\"", cs);
		*why = d->whybuf;
		return -1;
	} else {
		/* 12 bytes of UTF-8 per input byte: TSCII maps one byte to up to
		 * four characters, others to at most one.  Room for all at once,
		 * as glibc's TSCII loses characters when it must stop for room. */
		size_t cap = n * 12 + 16, left_in = n, left_out = cap, r;
		char *buf = xmalloc(cap), *ip = (char *)(uintptr_t)in, *op = buf;

		(void)iconv(cv->cd, NULL, NULL, NULL, NULL);        /* reset the state */
		r = iconv(cv->cd, &ip, &left_in, &op, &left_out);
		if (r != (size_t)-1)
			r = iconv(cv->cd, NULL, NULL, &op, &left_out);  /* end a stateful charset */
		if (r == (size_t)-1 || left_in != 0 || !utf8_valid(buf, (size_t)(op - buf))) {
			snprintf(d->whybuf, sizeof d->whybuf, "bytes not valid in %s", cs);
			*why = d->whybuf;
			free(buf);
			return -1;
		}
		mbuf_add(out, buf, (size_t)(op - buf));
		free(buf);
		return 0;
	}
}

/* Only blanks (and line ends, in case the caller did not unfold)? */
static int
all_blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

/* One word as found, and what became of it. */
struct item {
	struct word w;
	int decoded;                 /* 1: seg holds its UTF-8 text */
	size_t seg, seglen;          /* in the segment buffer */
};

static void
note_kept(struct dec *d, const char *why)
{
	d->kept++;
	if (d->kept == 1 && d->why != NULL && d->whylen > 0)
		snprintf(d->why, d->whylen, "%s", why);
}

/* Decode one word on its own into the segment buffer. */
static void
one_word(struct dec *d, struct item *it, struct mbuf *segs)
{
	struct mbuf raw = { 0 };
	char cs[MAX_CHARSET_NAME + 1];
	const char *why = NULL;
	size_t before = segs->len;

	charset_name(&it->w, cs);
	if (word_bytes(&it->w, &raw, &why) == 0 &&
	    convert(d, cs, raw.p ? raw.p : "", raw.len, segs, &why) == 0) {
		it->decoded = 1;
		it->seg = before;
		it->seglen = segs->len - before;
	} else {
		segs->len = before;
		note_kept(d, why ? why : "broken encoded-word");
	}
	free(raw.p);
}

/*
 * A run of adjacent words (only blanks between them) in one charset: all
 * together, so that a character split across two words survives; if that
 * fails, word by word.
 */
static void
decode_run(struct dec *d, struct item *it, size_t n, struct mbuf *segs)
{
	struct mbuf raw = { 0 };
	char cs[MAX_CHARSET_NAME + 1];
	const char *why = NULL;
	size_t i, before = segs->len;
	int ok = 1;

	if (n > 1) {
		charset_name(&it[0].w, cs);
		for (i = 0; i < n && ok; i++)
			ok = word_bytes(&it[i].w, &raw, &why) == 0;
		if (ok && convert(d, cs, raw.p ? raw.p : "", raw.len, segs, &why) == 0) {
			for (i = 0; i < n; i++) {
				it[i].decoded = 1;
				it[i].seg = i == 0 ? before : segs->len;
				it[i].seglen = i == 0 ? segs->len - before : 0;
			}
			free(raw.p);
			return;
		}
		segs->len = before;
		free(raw.p);
	}
	for (i = 0; i < n; i++)
		one_word(d, &it[i], segs);
}

char *
rfc2047_decode(const char *in, size_t len, int *nkept, char *why, size_t whylen)
{
	struct dec d;
	struct mbuf out = { 0 }, segs = { 0 };
	struct item *items = NULL;
	struct word w;
	size_t n = 0, cap = 0, pos = 0, lit = 0, i, j;
	int cut = 0;
	char *res;

	memset(&d, 0, sizeof d);
	d.why = why;
	d.whylen = whylen;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (in == NULL)
		len = 0;
	if (len > RFC2047_MAX_INPUT) {
		len = RFC2047_MAX_INPUT;
		cut = 1;
	}
	/* find the words: each "=?" is tried once, attempts never overlap */
	while (pos + 1 < len) {
		const char *q = memchr(in + pos, '=', len - pos - 1);
		if (q == NULL)
			break;
		pos = (size_t)(q - in);
		if (in[pos + 1] != '?' || !read_word(in, len, pos, &w)) {
			pos++;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			items = xrealloc(items, cap * sizeof *items);
		}
		memset(&items[n], 0, sizeof items[n]);
		items[n++].w = w;
		pos = w.end;
	}
	/* decode them, runs in one charset together */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && j - i < MAX_RUN && same_charset(&items[i].w, &items[j].w) &&
		    all_blank(in + items[j - 1].w.end, items[j].w.start - items[j - 1].w.end); j++)
			;
		decode_run(&d, items + i, j - i, &segs);
	}
	/* put it together: blanks between two decoded words are dropped */
	mbuf_add(&out, "", 0);
	mbuf_add(&segs, "", 0);
	for (i = 0; i < n; i++) {
		const struct word *cw = &items[i].w;
		if (!(i > 0 && items[i - 1].decoded && items[i].decoded && all_blank(in + lit, cw->start - lit)))
			mbuf_add(&out, in + lit, cw->start - lit);
		if (items[i].decoded)
			mbuf_add(&out, segs.p + items[i].seg, items[i].seglen);
		else
			mbuf_add(&out, in + cw->start, cw->end - cw->start);
		lit = cw->end;
	}
	if (lit < len)
		mbuf_add(&out, in + lit, len - lit);
	if (cut)
		mbuf_add(&out, "...", 3);
	for (i = 0; i < d.nconv; i++)
		if (d.conv[i].cd != (iconv_t)-1)
			iconv_close(d.conv[i].cd);
	res = rfc2047_clean(out.p, out.len);
	free(out.p);
	free(segs.p);
	free(items);
	if (nkept != NULL)
		*nkept = d.kept;
	return res;
}
