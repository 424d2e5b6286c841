/*
 * helo.h - classify a HELO/EHLO argument.
 *
 * Pure function over bytes: no DNS, no config beyond the name lists given.
 * Used by the helo detector (detect_helo.c) and by the fuzz target.
 */
#ifndef BS_HELO_H
#define BS_HELO_H

#include <stddef.h>

enum helo_class {
	HELO_OK = 0,            /* a syntactically valid FQDN, nothing special */
	HELO_EMPTY,             /* empty or only blanks */
	HELO_TOO_LONG,          /* more than 255 bytes */
	HELO_CONTROL,           /* NUL, CR, LF, other control bytes or DEL */
	HELO_BARE_IP,           /* 192.0.2.1 or 2001:db8::1 without brackets */
	HELO_LITERAL_OTHER,     /* [192.0.2.1] / [IPv6:...] that is not the client */
	HELO_LITERAL_OK,        /* an address literal that is the client's address */
	HELO_INVALID,           /* not a valid host name (bad chars, labels, ...) */
	HELO_SINGLE_LABEL,      /* "localhost", "DESKTOP-AB12CD": what Windows sends */
	HELO_OWN_HOST,          /* one of the smarthost's own names */
	HELO_OWN_DOMAIN,        /* inside one of the ISP's own domains */
	HELO_PROVIDER,          /* a well-known provider's domain (gmail.com, ...) */
	HELO_LITERAL_PRIVATE,   /* [10.x], [192.168.x], [fd00::...]: a client behind NAT
	                         * naming its LAN address, as Thunderbird and K-9 do */
	HELO_N_CLASSES
};

/* Stable lower-case names: "ok", "empty", "too_long", "control", "bare_ip",
 * "literal_other", "literal_ok", "invalid", "single_label", "own_host",
 * "own_domain", "provider", "literal_private". */
const char *helo_class_name(enum helo_class c);
/* -1 if unknown. */
int helo_class_from_name(const char *name);

/* Lists of names to compare with (case-insensitive); any may be NULL/0. */
struct helo_lists {
	const char *const *own_hosts;   size_t n_own_hosts;
	const char *const *own_domains; size_t n_own_domains;   /* the name or a subdomain */
	const char *const *providers;   size_t n_providers;     /* the name or a subdomain */
};

/*
 * Classify helo (len bytes, may hold NUL).  client_ip is the peer's address
 * in text (v4 or v6) or NULL.  Order of precedence: empty, control, too long,
 * address forms, own host, own domain, provider, invalid, single label, ok.
 * A trailing dot is accepted and ignored.
 */
enum helo_class helo_classify(const char *helo, size_t len, const char *client_ip,
    const struct helo_lists *lists);

/* Is s (len bytes) a syntactically valid host name: labels of 1-63 letters,
 * digits or hyphens, not starting or ending with a hyphen, total <= 253,
 * optional trailing dot?  Returns the number of labels, or 0 if invalid. */
int helo_hostname_labels(const char *s, size_t len);

#endif
