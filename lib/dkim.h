/*
 * dkim.h - verify a DKIM-Signature already on a message (libopendkim).
 *
 * The question botsentry asks is not "is this message authentic" but "does
 * a subscriber send mail that already carries a third-party signature":
 * a valid one means a replayed signed message, a broken one a forgery.
 *
 * Streaming, so that the milter can feed it from its callbacks:
 *   chk = dkim_check_begin(checker, id, foreign, arg)
 *   dkim_check_header(chk, name, value) for each header, in order
 *   if (dkim_check_eoh(chk) == DKIM_CHECK_NEED_BODY)
 *       dkim_check_body(chk, chunk, len) ... (CRLF line ends as on the wire)
 *   dkim_check_end(chk, &result); dkim_check_free(chk)
 * Headers are copied (bounded) until end of header; libopendkim is only
 * started when a DKIM-Signature names a domain the 'foreign' predicate
 * accepts, so ordinary mail costs a header scan and nothing more.
 *
 * Library setup follows API-NOTES.md B3: dkim_init once per process; key
 * lookups through a key file (DKIM_QUERY_FILE, tests) or DNS.  libopendkim's
 * stock resolver keeps one res_state per library handle, shared by every
 * thread, so key lookups (inside dkim_eom) are serialised with a mutex; the
 * file method takes the same lock (it is cheap).
 */
#ifndef BS_DKIM_H
#define BS_DKIM_H

#include <stddef.h>
#include <stdint.h>

struct dkim_checker;
struct dkim_check;

struct dkim_checker_opts {
	const char *key_file;    /* NULL or "": DNS; else a key file (tests) */
	long timeout_s;          /* DNS timeout per key lookup; 0: library default */
	long min_key_bits;       /* 0: library default (1024) */
	int64_t fixed_time;      /* 0: the clock; else "now" for signature expiry (tests) */
	size_t max_header_bytes; /* headers kept until eoh; 0: 256 KiB */
};

/* NULL on failure with a message in err. */
struct dkim_checker *dkim_checker_new(const struct dkim_checker_opts *o, char *err, size_t errlen);
void dkim_checker_free(struct dkim_checker *c);   /* NULL is fine */

enum dkim_verdict {
	DKIM_CHECK_NONE = 0,     /* no signature for a foreign domain */
	DKIM_CHECK_PASS,         /* a valid foreign signature: replay */
	DKIM_CHECK_FAIL,         /* a broken foreign signature: forgery */
	DKIM_CHECK_TEMPERROR,    /* key not retrievable (DNS): no verdict */
	DKIM_CHECK_SKIPPED       /* too large, internal error: no verdict */
};
const char *dkim_verdict_name(enum dkim_verdict v);   /* "none", "pass", ... */

#define DKIM_CHECK_DOMAIN_MAX 256
#define DKIM_CHECK_SEL_MAX 64
struct dkim_check_result {
	enum dkim_verdict verdict;
	char domain[DKIM_CHECK_DOMAIN_MAX];  /* d= of the judged signature (lower case) */
	char selector[DKIM_CHECK_SEL_MAX];
	char error[128];                     /* why it failed ("body hash mismatch", ...) */
	int nsigs;                           /* DKIM-Signature headers seen */
	int nforeign;                        /* of them, for foreign domains */
};

/* Returns 1 when a d= domain is third-party (the milter passes
 * detect_dkim_foreign bound to the subscriber). */
typedef int (*dkim_foreign_fn)(const char *domain, void *arg);

/* id: a job id for libopendkim's logs (queue id; may be NULL). */
struct dkim_check *dkim_check_begin(struct dkim_checker *c, const char *id,
    dkim_foreign_fn foreign, void *arg);
/* name and value as the milter gets them (value without the trailing CRLF;
 * folded lines keep their CRLF). 0, or -1 once the check gave up (keep
 * calling: it is harmless). */
int dkim_check_header(struct dkim_check *k, const char *name, const char *value);
#define DKIM_CHECK_NO_BODY 0
#define DKIM_CHECK_NEED_BODY 1
int dkim_check_eoh(struct dkim_check *k);
int dkim_check_body(struct dkim_check *k, const unsigned char *chunk, size_t len);
/* Finish and fill *r (always filled).  The check may not be fed after. */
void dkim_check_end(struct dkim_check *k, struct dkim_check_result *r);
void dkim_check_free(struct dkim_check *k);      /* NULL is fine */

#endif
