/*
 * helo.c - classify a HELO/EHLO argument (see helo.h).
 *
 * Works on raw bytes with an explicit length, because the argument comes
 * from a hostile client and may hold NUL.  No DNS: a name is judged on its
 * syntax and against the lists the caller gives (the smarthost's names, the
 * ISP's domains, well-known providers).
 */
#include "config.h"
#include "helo.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

static const char *const class_names[HELO_N_CLASSES] = {
	"ok", "empty", "too_long", "control", "bare_ip", "literal_other", "literal_ok",
	"invalid", "single_label", "own_host", "own_domain", "provider", "literal_private",
};

const char *
helo_class_name(enum helo_class c)
{
	if ((int)c < 0 || c >= HELO_N_CLASSES)
		return "unknown";
	return class_names[c];
}

int
helo_class_from_name(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < HELO_N_CLASSES; i++)
		if (strcmp(name, class_names[i]) == 0)
			return i;
	return -1;
}

static int
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int
helo_hostname_labels(const char *s, size_t len)
{
	size_t i, lab = 0;
	int labels = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;                 /* an absolute name */
	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (lab == 0 || lab > 63 || s[i - 1] == '-' || s[i - lab] == '-')
				return 0;
			labels++;
			lab = 0;
			continue;
		}
		if (!is_ldh((unsigned char)s[i]))
			return 0;
		lab++;
	}
	return labels;
}

/* Equal (case-insensitive), or a subdomain of it when sub is set. */
static int
name_matches(const char *name, size_t len, const char *entry, int sub)
{
	size_t el;

	if (entry == NULL)
		return 0;
	el = strlen(entry);
	if (el > 0 && entry[el - 1] == '.')
		el--;
	if (el == 0)
		return 0;
	if (len == el)
		return strncasecmp(name, entry, el) == 0;
	if (sub && len > el && name[len - el - 1] == '.')
		return strncasecmp(name + len - el, entry, el) == 0;
	return 0;
}

static int
in_list(const char *name, size_t len, const char *const *list, size_t n, int sub)
{
	size_t i;

	for (i = 0; list != NULL && i < n; i++)
		if (name_matches(name, len, list[i], sub))
			return 1;
	return 0;
}

/* Parse an address into 16 bytes (v4 mapped into ::ffff:0:0/96). */
static int
parse_ip(const char *s, int v6only, unsigned char out[16])
{
	struct in_addr a4;

	if (!v6only && inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, s, out) == 1)
		return 6;
	return 0;
}

/* Is a (16 bytes, v4 mapped) a private, shared (CGNAT), loopback or
 * link-local address: one a client behind NAT would name itself by? */
static int
private_addr(const unsigned char a[16])
{
	static const unsigned char v4map[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (memcmp(a, v4map, 12) == 0) {
		const unsigned char *b = a + 12;
		return b[0] == 10 || b[0] == 127 || (b[0] == 172 && (b[1] & 0xf0) == 16)
		    || (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254)
		    || (b[0] == 100 && (b[1] & 0xc0) == 64);
	}
	return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
	    || (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0);
}

/* Does the literal "[...]" (without brackets, in buf) equal the client? */
static enum helo_class
classify_literal(const char *in, size_t len, const char *client_ip)
{
	char buf[64];
	unsigned char a[16], c[16];
	int fam;

	if (len < 2 || len - 2 >= sizeof buf)
		return HELO_INVALID;
	memcpy(buf, in + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		fam = parse_ip(buf + 5, 1, a);
	else
		fam = parse_ip(buf, 0, a) == 4 ? 4 : 0;   /* RFC 5321: v6 needs the tag */
	if (fam == 0)
		return HELO_INVALID;
	if (client_ip != NULL && parse_ip(client_ip, 0, c) != 0 && memcmp(a, c, 16) == 0)
		return HELO_LITERAL_OK;
	return private_addr(a) ? HELO_LITERAL_PRIVATE : HELO_LITERAL_OTHER;
}

enum helo_class
helo_classify(const char *helo, size_t len, const char *client_ip, const struct helo_lists *l)
{
	static const struct helo_lists none;
	size_t i, b = 0, e;
	char ipbuf[64];
	unsigned char tmp[16];
	int labels;

	if (l == NULL)
		l = &none;
	if (helo == NULL)
		len = 0;
	/* blanks around the argument are the client's noise, not the name */
	e = len;
	while (b < e && (helo[b] == ' ' || helo[b] == '\t'))
		b++;
	while (e > b && (helo[e - 1] == ' ' || helo[e - 1] == '\t'))
		e--;
	if (e == b)
		return HELO_EMPTY;
	for (i = b; i < e; i++) {
		unsigned char c = (unsigned char)helo[i];
		if (c < 0x20 || c == 0x7f)
			return HELO_CONTROL;
	}
	if (len > 255)
		return HELO_TOO_LONG;
	helo += b;
	len = e - b;
	if (helo[0] == '[')
		return helo[len - 1] == ']' ? classify_literal(helo, len, client_ip) : HELO_INVALID;
	if (len < sizeof ipbuf) {
		memcpy(ipbuf, helo, len);
		ipbuf[len] = '\0';
		if (parse_ip(ipbuf, 0, tmp) != 0)
			return HELO_BARE_IP;
	}
	if (len > 0 && helo[len - 1] == '.' && len > 1)
		len--;                     /* compare names without the root dot */
	if (in_list(helo, len, l->own_hosts, l->n_own_hosts, 0))
		return HELO_OWN_HOST;
	if (in_list(helo, len, l->own_domains, l->n_own_domains, 1))
		return HELO_OWN_DOMAIN;
	if (in_list(helo, len, l->providers, l->n_providers, 1))
		return HELO_PROVIDER;
	labels = helo_hostname_labels(helo, len);
	if (labels == 0) {
		/* Windows machine names may hold underscores ("MY_PC"): still a
		 * single label of the kind real clients send */
		int under = 0;
		if (len > 63 || helo[0] == '-' || helo[len - 1] == '-')
			return HELO_INVALID;
		for (i = 0; i < len; i++) {
			if (helo[i] == '_')
				under = 1;
			else if (!is_ldh((unsigned char)helo[i]))
				return HELO_INVALID;
		}
		return under ? HELO_SINGLE_LABEL : HELO_INVALID;
	}
	if (labels == 1)
		return HELO_SINGLE_LABEL;
	/* a name whose last label is all digits is not a host name (1.2.3) */
	for (i = len; i > 0 && helo[i - 1] != '.'; i--)
		;
	{
		size_t j;
		int alldig = 1;
		for (j = i; j < len; j++)
			if (!(helo[j] >= '0' && helo[j] <= '9'))
				alldig = 0;
		if (alldig)
			return HELO_INVALID;
	}
	return HELO_OK;
}
