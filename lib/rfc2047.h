/*
 * rfc2047.h - decode RFC 2047 encoded-words ("=?ISO-8859-1?Q?M=FCller?=")
 * in header values read from outside (ARF reports), into clean UTF-8.
 *
 * Both encodings (B and Q), any charset glibc's iconv knows (UTF-8 and
 * US-ASCII are checked without it).  Adjacent encoded-words separated only
 * by white space are joined without it (RFC 2047 section 6.2); adjacent
 * words in the same charset are converted together, so a character split
 * across two words survives.  A word whose charset is unknown, whose
 * encoded text is broken or whose bytes are not valid in its charset is
 * kept exactly as it was, counted and explained; text that is not an
 * encoded-word is left alone.  The result is always valid UTF-8 without
 * control characters.  Bounded: at most RFC2047_MAX_INPUT bytes of input
 * are read, every step is linear in the input, and at most
 * RFC2047_MAX_CHARSETS charsets are opened per call.
 *
 * What it does not do: encode (lib/mime.c does), RFC 2231 parameters, or
 * know which header fields may hold encoded-words (the caller does: only
 * unstructured fields and phrases, RFC 2047 section 5).
 */
#ifndef BS_RFC2047_H
#define BS_RFC2047_H

#include <stddef.h>

/* Input bytes looked at; the rest is cut (and "..." appended). */
#define RFC2047_MAX_INPUT 65536
/* Longest encoded-text accepted in one word (RFC 2047 says a whole word is
 * at most 75 characters; real senders write longer ones). */
#define RFC2047_MAX_WORD 2048
/* Distinct charsets handed to iconv_open in one call. */
#define RFC2047_MAX_CHARSETS 8

/*
 * Decode the encoded-words of one unfolded header value.
 *
 * in, len: the raw value (may hold NUL and 8-bit bytes).
 * nkept: if not NULL, set to the number of encoded-words left as they were.
 * why, whylen: if not NULL, the reason for the first word kept ("unknown
 *   charset \"x-foo\"", "bytes not valid in ISO-8859-1", "broken base64");
 *   "" when nothing was kept.
 *
 * Returns the decoded value (caller frees): valid UTF-8 (invalid bytes
 * outside encoded-words become '?'), every control character (C0, DEL,
 * C1, bidirectional overrides) replaced by a space, the ends trimmed.
 */
char *rfc2047_decode(const char *in, size_t len, int *nkept, char *why, size_t whylen);

/*
 * Make text clean without decoding anything: the last step of
 * rfc2047_decode on its own (valid UTF-8, no control characters, trimmed).
 * Caller frees.
 */
char *rfc2047_clean(const char *in, size_t len);

#endif
