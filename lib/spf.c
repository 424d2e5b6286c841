/*
 * spf.c - SPF checks through libspf2 (see spf.h and API-NOTES.md B2).
 *
 * One SPF_server_t per checker, made once and then only read; every check
 * makes its own request and response.  libspf2's error handler is declared
 * noreturn and the default one exits the process from inside the library;
 * ours logs through log.h first and then aborts (there is no safe way to
 * return into libspf2), and the warning/info/debug handlers go to our log
 * instead of stdout.  A small direct-mapped cache of (domain, address)
 * results spares the resolver when a bot repeats one forged domain.
 */
#include "config.h"

/* spf.h uses these types without including their headers */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>

#include "spf.h"
#include "addr.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPF_CACHE_SLOTS 4096

struct spf_slot {
	uint64_t key;
	int64_t expires_ms;
	enum spf_res res;
};

struct spf_checker {
	SPF_server_t *srv;
	SPF_dns_server_t *zone;        /* tests: our zone layer (we free it) */
	int64_t ttl_ms;
	pthread_mutex_t mu;
	struct spf_slot *cache;
	uint64_t checks, hits;
};

static const char *const res_names[] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror", "invalid",
};

const char *
spf_res_name(enum spf_res r)
{
	return (int)r >= 0 && (size_t)r < BS_ARRAY_LEN(res_names) ? res_names[r] : "invalid";
}

/* ------------------------------------------------------------ handlers */

static void __attribute__((noreturn))
on_spf_error(const char *file, int line, const char *msg)
{
	log_err("libspf2 internal error at %s:%d: %s; aborting", file ? file : "?", line,
	    msg ? msg : "");
	abort();
}

static void
on_spf_warning(const char *file, int line, const char *msg)
{
	log_warn("libspf2: %s", msg ? msg : "");
}

static void
on_spf_info(const char *file, int line, const char *msg)
{
	log_info("libspf2: %s", msg ? msg : "");
}

static void
on_spf_debug(const char *file, int line, const char *msg)
{
	log_debug("libspf2: %s", msg ? msg : "");
}

static void
install_handlers(void)
{
	SPF_error_handler = on_spf_error;
	SPF_warning_handler = on_spf_warning;
	SPF_info_handler = on_spf_info;
	SPF_debug_handler = on_spf_debug;
}

/* ------------------------------------------------------------ setup */

static struct spf_checker *
finish(struct spf_checker *c, const char *rec_dom, int64_t cache_ttl_s)
{
	if (c->srv == NULL) {
		log_err("spf: cannot create the libspf2 server");
		free(c);
		return NULL;
	}
	if (SPF_server_set_rec_dom(c->srv, rec_dom ? rec_dom : "localhost") != SPF_E_SUCCESS)
		log_warn("spf: cannot set the receiving domain to %s", rec_dom ? rec_dom : "localhost");
	c->ttl_ms = cache_ttl_s > 0 ? cache_ttl_s * 1000 : 0;
	if (c->ttl_ms > 0)
		c->cache = xcalloc(SPF_CACHE_SLOTS, sizeof *c->cache);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

struct spf_checker *
spf_checker_new(const char *rec_dom, int64_t cache_ttl_s)
{
	struct spf_checker *c = xcalloc(1, sizeof *c);

	install_handlers();
	c->srv = SPF_server_new(SPF_DNS_CACHE, 0);
	return finish(c, rec_dom, cache_ttl_s);
}

struct spf_checker *
spf_checker_new_zone(const char *rec_dom, int64_t cache_ttl_s)
{
	struct spf_checker *c = xcalloc(1, sizeof *c);

	install_handlers();
	c->zone = SPF_dns_zone_new(NULL, "botsentry-test", 0);
	if (c->zone == NULL) {
		log_err("spf: cannot create a zone DNS layer");
		free(c);
		return NULL;
	}
	c->srv = SPF_server_new_dns(c->zone, 0);
	if (c->srv == NULL)
		SPF_dns_free(c->zone);
	return finish(c, rec_dom, cache_ttl_s);
}

int
spf_zone_add(struct spf_checker *c, const char *domain, const char *txt)
{
	SPF_errcode_t e;

	if (c == NULL || c->zone == NULL || domain == NULL)
		return -1;
	if (strcmp(domain, "*") == 0)
		e = SPF_dns_zone_add_str(c->zone, "*", ns_t_any, HOST_NOT_FOUND, NULL);
	else
		e = SPF_dns_zone_add_str(c->zone, domain, ns_t_txt, NETDB_SUCCESS, txt);
	return e == SPF_E_SUCCESS ? 0 : -1;
}

void
spf_checker_free(struct spf_checker *c)
{
	if (c == NULL)
		return;
	SPF_server_free(c->srv);
	if (c->zone != NULL)
		SPF_dns_free(c->zone);
	pthread_mutex_destroy(&c->mu);
	free(c->cache);
	free(c);
}

void
spf_checker_stats(struct spf_checker *c, uint64_t *checks, uint64_t *hits)
{
	pthread_mutex_lock(&c->mu);
	if (checks != NULL)
		*checks = c->checks;
	if (hits != NULL)
		*hits = c->hits;
	pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------ checks */

static enum spf_res
map_result(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS: return SPF_R_PASS;
	case SPF_RESULT_FAIL: return SPF_R_FAIL;
	case SPF_RESULT_SOFTFAIL: return SPF_R_SOFTFAIL;
	case SPF_RESULT_NEUTRAL: return SPF_R_NEUTRAL;
	case SPF_RESULT_NONE: return SPF_R_NONE;
	case SPF_RESULT_TEMPERROR: return SPF_R_TEMPERROR;
	case SPF_RESULT_PERMERROR: return SPF_R_PERMERROR;
	/* libspf2 answers "invalid" when the record does not compile
	 * (verified with an unknown mechanism): that is a permerror */
	default: return SPF_R_PERMERROR;
	}
}

static uint64_t
cache_key(const char *a, const char *b)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)a; *p; p++)
		h = (h ^ (unsigned char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p)) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (p = (const unsigned char *)b; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h ^= h >> 29;
	return h ? h : 1;
}

enum spf_res
spf_check(struct spf_checker *c, const char *ip, const char *helo, const char *sender,
    char *why, size_t whylen)
{
	SPF_request_t *req;
	SPF_response_t *resp = NULL;
	struct addr a;
	char mailfrom[ADDR_MAX], err[64];
	unsigned char bin[16];
	int v6;
	uint64_t key = 0;
	int64_t now = 0;
	enum spf_res res;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (c == NULL || ip == NULL || sender == NULL)
		return SPF_R_INVALID;
	if (inet_pton(AF_INET, ip, bin) == 1)
		v6 = 0;
	else if (inet_pton(AF_INET6, ip, bin) == 1)
		v6 = 1;
	else
		return SPF_R_INVALID;
	/* strip <> and parameters' blanks; a bare domain is taken as the domain */
	if (strchr(sender, '@') == NULL && sender[0] != '<' && addr_domain_ok(sender, strlen(sender))) {
		snprintf(mailfrom, sizeof mailfrom, "postmaster@%s", sender);
	} else if (addr_parse_envelope(sender, (size_t)-1, &a, err, sizeof err) != 0) {
		if (why != NULL)
			snprintf(why, whylen, "bad sender: %s", err);
		return SPF_R_INVALID;
	} else if (a.null_sender) {
		/* RFC 7208 2.4: the null sender is checked as postmaster@helo */
		if (helo == NULL || !addr_domain_ok(helo, strlen(helo)))
			return SPF_R_NONE;
		snprintf(mailfrom, sizeof mailfrom, "postmaster@%s", helo);
	} else if (a.domain[0] == '\0' || a.domain_literal) {
		return SPF_R_NONE;
	} else {
		snprintf(mailfrom, sizeof mailfrom, "%s", a.addr);
	}

	if (c->cache != NULL) {
		const char *at = strrchr(mailfrom, '@');
		key = cache_key(at ? at + 1 : mailfrom, ip);
		now = bs_mono_ms();
		pthread_mutex_lock(&c->mu);
		c->checks++;
		{
			struct spf_slot *s = &c->cache[key % SPF_CACHE_SLOTS];
			if (s->key == key && s->expires_ms > now) {
				res = s->res;
				c->hits++;
				pthread_mutex_unlock(&c->mu);
				if (why != NULL)
					snprintf(why, whylen, "cached");
				return res;
			}
		}
		pthread_mutex_unlock(&c->mu);
	} else {
		pthread_mutex_lock(&c->mu);
		c->checks++;
		pthread_mutex_unlock(&c->mu);
	}

	req = SPF_request_new(c->srv);
	if (req == NULL)
		return SPF_R_TEMPERROR;
	if ((v6 ? SPF_request_set_ipv6_str(req, ip) : SPF_request_set_ipv4_str(req, ip))
	    != SPF_E_SUCCESS) {
		SPF_request_free(req);
		return SPF_R_INVALID;
	}
	if (helo != NULL && *helo != '\0')
		SPF_request_set_helo_dom(req, helo);
	if (SPF_request_set_env_from(req, mailfrom) != 0) {
		SPF_request_free(req);
		if (why != NULL)
			snprintf(why, whylen, "sender not usable for SPF");
		return SPF_R_INVALID;
	}
	/* the error code is non-zero even for a plain "none": decide on the result */
	(void)SPF_request_query_mailfrom(req, &resp);
	if (resp == NULL) {
		SPF_request_free(req);
		return SPF_R_TEMPERROR;
	}
	res = map_result(SPF_response_result(resp));
	if (why != NULL && SPF_response_get_header_comment(resp) != NULL)
		snprintf(why, whylen, "%s", SPF_response_get_header_comment(resp));
	SPF_response_free(resp);
	SPF_request_free(req);

	if (c->cache != NULL && res != SPF_R_TEMPERROR) {
		pthread_mutex_lock(&c->mu);
		c->cache[key % SPF_CACHE_SLOTS].key = key;
		c->cache[key % SPF_CACHE_SLOTS].res = res;
		c->cache[key % SPF_CACHE_SLOTS].expires_ms = now + c->ttl_ms;
		pthread_mutex_unlock(&c->mu);
	}
	return res;
}
