/*
 * addr.c - bounded parsers for envelope paths, From: header values and the
 * d=/s= tags of a DKIM-Signature (see addr.h).
 *
 * Everything here reads hostile bytes with an explicit length, copies into
 * fixed buffers, and never allocates.  The grammar is RFC 5321 (paths) and a
 * forgiving subset of RFC 5322 (address lists): what matters is finding the
 * domain a subscriber claims to send from, not validating mail.
 */
#include "config.h"
#include "addr.h"

#include <stdio.h>
#include <string.h>

static void
seterr(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	if (c >= 0x80)
		return 1;                  /* SMTPUTF8: passed through */
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
addr_domain_ok(const char *d, size_t len)
{
	size_t i, lab = 0;

	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)d[i] : '.';
		if (c == '.') {
			if (lab == 0 || lab > 63 || d[i - 1] == '-' || d[i - lab] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		    || c == '-' || c == '_' || c >= 0x80))
			return 0;
		lab++;
	}
	return 1;
}

/* Lower-case ASCII copy of n bytes into dst (size > n). */
static void
copy_lower(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = src[i];
		dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	dst[n] = '\0';
}

/*
 * Parse a mailbox "local@domain" (no brackets, no route) of exactly len
 * bytes into out.  A local part alone is accepted (domain "").
 */
static int
parse_mailbox(const char *s, size_t len, struct addr *out, char *err, size_t errlen)
{
	size_t i = 0, lstart, lend, dl;

	if (len == 0) {
		seterr(err, errlen, "empty address");
		return -1;
	}
	lstart = 0;
	if (s[0] == '"') {
		for (i = 1; i < len && s[i] != '"'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\') {
				if (++i >= len)
					break;
				c = (unsigned char)s[i];
			}
			if (c == '\0' || c == '\r' || c == '\n') {
				seterr(err, errlen, "control byte in quoted local part");
				return -1;
			}
		}
		if (i >= len) {
			seterr(err, errlen, "unterminated quoted local part");
			return -1;
		}
		i++;                       /* the closing quote */
	} else {
		for (; i < len && s[i] != '@'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '.') {
				if (i == 0 || s[i - 1] == '.') {
					seterr(err, errlen, "empty atom in local part");
					return -1;
				}
			} else if (!is_atext(c)) {
				seterr(err, errlen, "invalid character in local part");
				return -1;
			}
		}
		if (i > 0 && s[i - 1] == '.') {
			seterr(err, errlen, "local part ends with a dot");
			return -1;
		}
	}
	lend = i;
	if (lend - lstart >= sizeof out->local) {
		seterr(err, errlen, "local part too long");
		return -1;
	}
	if (lend == lstart) {
		seterr(err, errlen, "empty local part");
		return -1;
	}
	memcpy(out->local, s + lstart, lend - lstart);
	out->local[lend - lstart] = '\0';
	out->domain[0] = '\0';
	out->domain_literal = 0;
	if (i < len) {
		if (s[i] != '@') {
			seterr(err, errlen, "junk after local part");
			return -1;
		}
		i++;
		dl = len - i;
		if (dl == 0) {
			seterr(err, errlen, "empty domain");
			return -1;
		}
		if (s[i] == '[') {
			size_t j;
			if (s[len - 1] != ']' || dl < 3 || dl >= sizeof out->domain) {
				seterr(err, errlen, "bad address literal");
				return -1;
			}
			for (j = i + 1; j < len - 1; j++) {
				unsigned char c = (unsigned char)s[j];
				if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
				    || c == '.' || c == ':' || c == 'v' || c == 'V' || c == 'I' || c == 'P'
				    || c == 'p' || c == 'i')) {
					seterr(err, errlen, "bad address literal");
					return -1;
				}
			}
			out->domain_literal = 1;
		} else if (!addr_domain_ok(s + i, dl)) {
			seterr(err, errlen, "invalid domain");
			return -1;
		}
		if (s[len - 1] == '.' && !out->domain_literal)
			dl--;              /* "a@example.com." */
		copy_lower(out->domain, s + i, dl);
	}
	if (out->domain[0] != '\0')
		snprintf(out->addr, sizeof out->addr, "%s@%s", out->local, out->domain);
	else
		snprintf(out->addr, sizeof out->addr, "%s", out->local);
	return 0;
}

int
addr_parse_envelope(const char *s, size_t len, struct addr *out, char *err, size_t errlen)
{
	size_t b = 0, e;

	memset(out, 0, sizeof *out);
	if (s == NULL) {
		seterr(err, errlen, "no address");
		return -1;
	}
	if (len == (size_t)-1)
		len = strlen(s);
	if (len > 4096) {
		seterr(err, errlen, "address too long");
		return -1;
	}
	e = len;
	while (b < e && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (b < e && s[b] == '<') {
		if (e - b < 2 || s[e - 1] != '>') {
			seterr(err, errlen, "unbalanced angle brackets");
			return -1;
		}
		b++;
		e--;
		if (b == e) {
			out->null_sender = 1;
			return 0;
		}
		if (s[b] == '@') {
			/* source route "@a,@b:" is obsolete: skip it */
			size_t j;
			for (j = b; j < e && s[j] != ':'; j++) {
				unsigned char c = (unsigned char)s[j];
				if (!(c == '@' || c == ',' || c == '.' || c == '-' || c == '[' || c == ']'
				    || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
					seterr(err, errlen, "bad source route");
					return -1;
				}
			}
			if (j >= e) {
				seterr(err, errlen, "bad source route");
				return -1;
			}
			b = j + 1;
		}
	} else if (b == e) {
		seterr(err, errlen, "empty address");
		return -1;
	}
	if (memchr(s + b, '<', e - b) != NULL || memchr(s + b, '>', e - b) != NULL) {
		seterr(err, errlen, "stray angle bracket");
		return -1;
	}
	return parse_mailbox(s + b, e - b, out, err, errlen);
}

/* ------------------------------------------------------------ From: */

struct hdrscan {
	const char *s;
	size_t len, i;
};

/* Skip a comment starting at s[i] == '('; nested; returns -1 if unterminated. */
static int
skip_comment(struct hdrscan *h)
{
	int depth = 0;

	for (; h->i < h->len; h->i++) {
		char c = h->s[h->i];
		if (c == '\\') {
			h->i++;
			continue;
		}
		if (c == '(') {
			if (++depth > 64)
				return -1;
		} else if (c == ')') {
			if (--depth == 0) {
				h->i++;
				return 0;
			}
		}
	}
	return -1;
}

/* Append bytes to a bounded buffer; returns -1 when it would overflow. */
static int
buf_add(char *buf, size_t size, size_t *n, const char *p, size_t k)
{
	if (*n + k >= size)
		return -1;
	memcpy(buf + *n, p, k);
	*n += k;
	buf[*n] = '\0';
	return 0;
}

int
addr_parse_from_header(const char *s, size_t len, struct addr *out, int *count,
    char *err, size_t errlen)
{
	struct hdrscan h;
	char bare[ADDR_MAX], angle[ADDR_MAX];
	size_t nbare = 0, nangle = 0;
	int have_angle = 0, n = 0, bad = 0, first_err = 0;
	char e1[128] = "no address";
	struct addr tmp;

	memset(out, 0, sizeof *out);
	if (count != NULL)
		*count = 0;
	if (s == NULL) {
		seterr(err, errlen, "no From: value");
		return -1;
	}
	if (len == (size_t)-1)
		len = strlen(s);
	h.s = s;
	h.len = len;
	h.i = 0;
	bare[0] = angle[0] = '\0';
	for (;;) {
		int end = h.i >= h.len;
		char c = end ? ',' : s[h.i];

		if (c == ',' || c == ';' || (c == ':' && !have_angle)) {
			if (c == ':') {
				/* a group's display name: drop it, go on with members */
				nbare = 0;
				bare[0] = '\0';
				h.i++;
				continue;
			}
			if (!bad && (have_angle || nbare > 0)) {
				int rc = have_angle
				    ? addr_parse_envelope(angle, nangle + 0, &tmp, e1, sizeof e1)
				    : parse_mailbox(bare, nbare, &tmp, e1, sizeof e1);
				if (have_angle && rc == 0 && tmp.null_sender) {
					rc = -1;
					snprintf(e1, sizeof e1, "empty address");
				} else if (rc == 0 && tmp.domain[0] == '\0') {
					/* RFC 5322: a mailbox always has a domain */
					rc = -1;
					snprintf(e1, sizeof e1, "address without a domain");
				}
				if (rc == 0) {
					if (n == 0)
						*out = tmp;
					n++;
				} else if (!first_err) {
					first_err = 1;
				}
			} else if (bad && !first_err) {
				first_err = 1;
			}
			nbare = nangle = 0;
			bare[0] = angle[0] = '\0';
			have_angle = bad = 0;
			if (end)
				break;
			h.i++;
			continue;
		}
		if (c == '(') {
			if (skip_comment(&h) != 0) {
				snprintf(e1, sizeof e1, "unterminated comment");
				bad = 1;
				h.i = h.len;
			}
			continue;
		}
		if (is_wsp((unsigned char)c)) {
			h.i++;
			continue;
		}
		if (c == '"') {
			size_t st = h.i++;
			for (; h.i < h.len && s[h.i] != '"'; h.i++)
				if (s[h.i] == '\\')
					h.i++;
			if (h.i >= h.len) {
				snprintf(e1, sizeof e1, "unterminated quoted string");
				bad = 1;
				h.i = h.len;
				continue;
			}
			h.i++;
			if (!have_angle && buf_add(bare, sizeof bare, &nbare, s + st, h.i - st) != 0)
				bad = 1;
			continue;
		}
		if (c == '<') {
			size_t st = h.i;
			int inq = 0;
			for (h.i++; h.i < h.len; h.i++) {
				if (s[h.i] == '\\') {
					h.i++;
					continue;
				}
				if (s[h.i] == '"')
					inq = !inq;
				else if (s[h.i] == '>' && !inq)
					break;
			}
			if (h.i >= h.len) {
				snprintf(e1, sizeof e1, "unterminated angle address");
				bad = 1;
				continue;
			}
			h.i++;
			if (have_angle) {
				snprintf(e1, sizeof e1, "two angle addresses in one mailbox");
				bad = 1;
				continue;
			}
			have_angle = 1;
			nangle = 0;
			if (buf_add(angle, sizeof angle, &nangle, s + st, h.i - st) != 0)
				bad = 1;
			continue;
		}
		if (c == '[' && !have_angle) {
			size_t st = h.i;
			for (; h.i < h.len && s[h.i] != ']'; h.i++)
				;
			if (h.i < h.len)
				h.i++;
			if (buf_add(bare, sizeof bare, &nbare, s + st, h.i - st) != 0)
				bad = 1;
			continue;
		}
		if (c == '>' || (unsigned char)c < 0x20 || c == 0x7f) {
			snprintf(e1, sizeof e1, c == '>' ? "stray angle bracket" : "control byte");
			bad = 1;
			h.i++;
			continue;
		}
		/* an atom, a dot or an @ */
		if (!have_angle && buf_add(bare, sizeof bare, &nbare, s + h.i, 1) != 0)
			bad = 1;
		h.i++;
	}
	if (count != NULL)
		*count = n;
	if (n == 0) {
		seterr(err, errlen, e1);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ DKIM tags */

int
addr_dkim_tags(const char *v, size_t len, char *domain, size_t dsize, char *sel, size_t ssize)
{
	size_t i = 0;
	int have_d = 0, have_s = 0;

	if (domain != NULL && dsize > 0)
		domain[0] = '\0';
	if (sel != NULL && ssize > 0)
		sel[0] = '\0';
	if (v == NULL)
		return -1;
	if (len == (size_t)-1)
		len = strlen(v);
	while (i < len) {
		size_t ns, ne, vs, ve;

		while (i < len && is_wsp((unsigned char)v[i]))
			i++;
		ns = i;
		while (i < len && v[i] != '=' && v[i] != ';' && !is_wsp((unsigned char)v[i]))
			i++;
		ne = i;
		while (i < len && is_wsp((unsigned char)v[i]))
			i++;
		if (i >= len || v[i] != '=') {
			/* no "=": an empty trailing tag-spec is allowed, junk is not */
			if (ne == ns && (i >= len || v[i] == ';')) {
				i++;
				continue;
			}
			return -1;
		}
		i++;
		while (i < len && is_wsp((unsigned char)v[i]))
			i++;
		vs = i;
		while (i < len && v[i] != ';')
			i++;
		ve = i;
		while (ve > vs && is_wsp((unsigned char)v[ve - 1]))
			ve--;
		if (i < len)
			i++;               /* the ';' */
		if (ne - ns == 1 && v[ns] == 'd') {
			if (have_d++ || !addr_domain_ok(v + vs, ve - vs) || domain == NULL
			    || ve - vs >= dsize)
				return -1;
			copy_lower(domain, v + vs, ve - vs);
			if (ve - vs > 0 && domain[ve - vs - 1] == '.')
				domain[ve - vs - 1] = '\0';
		} else if (ne - ns == 1 && v[ns] == 's') {
			if (have_s++)
				return -1;
			if (sel != NULL && ve - vs < ssize && addr_domain_ok(v + vs, ve - vs))
				copy_lower(sel, v + vs, ve - vs);
		}
	}
	return have_d ? 0 : -1;
}
