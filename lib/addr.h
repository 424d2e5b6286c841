/*
 * addr.h - envelope addresses and From: header values from outside input.
 *
 * Bounded parsers for what a subscriber's client sends: the MAIL FROM / RCPT
 * TO path ("<a@b>", "a@b", "<>", "<@route,@route:a@b>", quoted local parts)
 * and the From: header value ("Name" <a@b>, a@b (comment), groups, several
 * addresses).  They never allocate; results are copied into fixed buffers
 * and cut to RFC 5321 limits.  Junk is rejected with a short reason.  Bytes
 * >= 0x80 (IDN/UTF-8) are passed through untouched.
 */
#ifndef BS_ADDR_H
#define BS_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX 256       /* RFC 5321 says 64; clients exceed it, we cut */
#define ADDR_DOMAIN_MAX 256      /* 255 + NUL */
#define ADDR_MAX 512             /* local@domain + NUL */

struct addr {
	char local[ADDR_LOCAL_MAX];       /* as written, quotes kept */
	char domain[ADDR_DOMAIN_MAX];     /* lower-cased ASCII; literals keep [] */
	char addr[ADDR_MAX];              /* local@domain, or "" for the null sender */
	int null_sender;                  /* "<>" */
	int domain_literal;               /* a@[192.0.2.1] */
};

/*
 * Parse an envelope path (MAIL FROM / RCPT TO argument, with or without <>,
 * without ESMTP parameters; trailing blanks allowed).  Source routes are
 * dropped.  len may be (size_t)-1 for a NUL-terminated string.  Returns 0, or
 * -1 with a reason in err (may be NULL).
 */
int addr_parse_envelope(const char *s, size_t len, struct addr *out, char *err, size_t errlen);

/*
 * Parse a From: header value: the first mailbox is returned in *out;
 * *count gets the number of mailboxes seen (may be NULL); groups
 * ("undisclosed: a@b, c@d;") count their members.  Comments and display
 * names are skipped.  Returns 0, or -1 with a reason.
 */
int addr_parse_from_header(const char *s, size_t len, struct addr *out, int *count,
    char *err, size_t errlen);

/*
 * Is this a syntactically acceptable domain for our purposes (labels of
 * letters, digits, hyphen, underscore or bytes >= 0x80; 1-63 per label; <=
 * 253)?  1 or 0.
 */
int addr_domain_ok(const char *d, size_t len);

/*
 * The value of the d= tag of a DKIM-Signature header value, lower-cased into
 * buf (tag-list syntax of RFC 6376 3.2: whitespace and folding around tags
 * allowed).  Also s= into sel when sel is not NULL.  Returns 0, or -1 if
 * there is no valid d= tag.
 */
int addr_dkim_tags(const char *value, size_t len, char *domain, size_t dsize,
    char *sel, size_t ssize);

#endif
