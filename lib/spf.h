/*
 * spf.h - SPF checks through libspf2, one server per process.
 *
 * Wraps libspf2 (API-NOTES.md B2): the system headers are included before
 * spf2/spf.h inside spf.c only, the library's exiting error handlers are
 * replaced by ones that log, the sender's <> are stripped, and the decision
 * is taken on the SPF result, not on the query's error code.  The DNS layer
 * is the system resolver with libspf2's cache, or a static zone for tests
 * (spf_checker_new_zone + spf_zone_add, no network).  Results are cached
 * per (domain, ip) for a short while.
 *
 * Thread-safe after creation: the server is read-only, requests and
 * responses are per call, the result cache has its own lock.
 */
#ifndef BS_SPF_H
#define BS_SPF_H

#include <stddef.h>
#include <stdint.h>

enum spf_res {
	SPF_R_NONE = 0,      /* no SPF record (or no domain) */
	SPF_R_NEUTRAL,
	SPF_R_PASS,
	SPF_R_FAIL,
	SPF_R_SOFTFAIL,
	SPF_R_TEMPERROR,
	SPF_R_PERMERROR,
	SPF_R_INVALID        /* our own: bad input (not an IP, empty domain) */
};
/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror", "invalid" */
const char *spf_res_name(enum spf_res r);

struct spf_checker;

/*
 * A checker on the system resolver (through libspf2's DNS cache).
 * rec_dom: this host's name for explanations ("relay.isp.example"; NULL:
 * "localhost").  cache_ttl_s: how long a result is reused (0: no cache).
 * Installs libspf2's error handlers (process-wide): call before threads start.
 * NULL on failure (logged).
 */
struct spf_checker *spf_checker_new(const char *rec_dom, int64_t cache_ttl_s);
/* A checker on a static zone, for tests: add records with spf_zone_add. */
struct spf_checker *spf_checker_new_zone(const char *rec_dom, int64_t cache_ttl_s);
/*
 * Add a TXT record to a zone checker (before any check, not thread-safe).  domain "*" is a
 * catch-all answering HOST_NOT_FOUND for everything not added; add it last.
 * Returns 0 or -1.
 */
int spf_zone_add(struct spf_checker *c, const char *domain, const char *txt);
void spf_checker_free(struct spf_checker *c);   /* NULL is fine */

/*
 * Check sender (MAIL FROM as given: "<a@b>", "a@b", "<>" or a bare domain)
 * for client address ip (IPv4 or IPv6 text), with helo (may be NULL).
 * Returns the result; never blocks longer than the resolver's timeouts.
 * If why is not NULL, a short explanation (the Received-SPF comment) is
 * copied there.
 */
enum spf_res spf_check(struct spf_checker *c, const char *ip, const char *helo,
    const char *sender, char *why, size_t whylen);

/* Statistics: checks made and answered from the cache. */
void spf_checker_stats(struct spf_checker *c, uint64_t *checks, uint64_t *cache_hits);

#endif
