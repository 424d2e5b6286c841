/*
 * mime.h - safe building blocks for RFC 5322 / MIME messages written by
 * botsentry (subscriber notices, ARF reports).
 *
 * Everything that goes into a header passes through here: CR, LF, NUL and
 * other control bytes are removed (a bot's HELO name cannot start a new
 * header), non-ASCII text becomes RFC 2047 encoded words in UTF-8, long
 * values are folded.  Bodies are written quoted-printable so that any UTF-8
 * text survives any transport.  Lines end in LF (what sendmail reads);
 * mime_to_crlf() converts a finished message for SMTP.
 *
 * What it does not do: parse messages.
 */
#ifndef BS_MIME_H
#define BS_MIME_H

#include <stddef.h>
#include <stdint.h>

/* A growable string; p is always NUL-terminated once anything was added. */
struct mbuf {
	char *p;
	size_t len, cap;
};
void mbuf_add(struct mbuf *b, const char *s, size_t n);
void mbuf_adds(struct mbuf *b, const char *s);
void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the string over (caller frees; "" when empty) and reset b. */
char *mbuf_take(struct mbuf *b);
void mbuf_free(struct mbuf *b);

/* The value of a hexadecimal digit (either case) or of a base64 character
 * (RFC 2045 alphabet), -1 for anything else. */
int mime_hexval(int c);
int mime_b64val(int c);
/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), its code
 * point in *cp (when cp is not NULL); 0 when the bytes there are not valid
 * UTF-8 (overlong forms and surrogates included). */
size_t mime_utf8_next(const unsigned char *s, size_t n, unsigned *cp);

/* Longest header value kept (after cleaning) before it is cut with "...". */
#define MIME_HEADER_VALUE_MAX 900

/*
 * Clean an untrusted string for a header: control bytes (CR, LF, NUL, TAB,
 * DEL, ...) become spaces, runs of white space collapse to one, the ends are
 * trimmed, invalid UTF-8 bytes become '?', and the result is cut at
 * MIME_HEADER_VALUE_MAX bytes on a character boundary.  len is the input's
 * length (it may hold NUL bytes).  Caller frees.
 */
char *mime_clean(const char *s, size_t len);

/*
 * Append "Name: value\n" to b: value cleaned as above; if it holds non-ASCII
 * bytes it becomes RFC 2047 "=?UTF-8?B?...?=" words; lines are folded so that
 * none is longer than 78 characters where a fold point exists.
 * name must be a header field name (letters, digits, '-').
 */
void mime_header(struct mbuf *b, const char *name, const char *value);

/*
 * Append an address header ("From", "To", "Reply-To"): addr is either a bare
 * addr-spec or "Display Name <addr-spec>".  The display name is encoded as in
 * mime_header; the address must pass mime_addr_ok.  Returns 0, or -1 when the
 * address is not acceptable (nothing is appended).
 */
int mime_address_header(struct mbuf *b, const char *name, const char *addr);

/*
 * Is s an acceptable addr-spec for our mail: printable ASCII, no white space,
 * none of <>()[],;:"\ , exactly one '@' with text on both sides, at most 254
 * bytes.  Conservative on purpose: these addresses come from the subscribers
 * table and the config.
 */
int mime_addr_ok(const char *s);

/* Extract the addr-spec of "Name <addr>" or a bare address into buf; 0 or -1. */
int mime_addr_spec(const char *addr, char *buf, size_t size);

/* Quoted-printable body (RFC 2045 6.7) of UTF-8 text with LF line ends;
 * lines of at most 76 characters; appended to b. */
void mime_qp(struct mbuf *b, const char *text, size_t len);

/* RFC 5322 date, "Thu, 26 Nov 2026 14:06:00 +0000", into buf (>= 40). */
const char *mime_date(int64_t ms, char *buf, size_t size);

/* "<key@domain>" with key reduced to atext characters; caller frees. */
char *mime_message_id(const char *key, const char *domain);

/* Convert LF line ends to CRLF (for SMTP); caller frees. */
char *mime_to_crlf(const char *s, size_t *outlen);

#endif
