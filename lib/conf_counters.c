/*
 * conf_counters.c - the 'counters' section of botsentry.conf: where the
 * milter keeps its per-subscriber sliding windows.  "local" (in the
 * process, the default) or "redis" (shared by every milter pointed at the
 * same Redis and prefix; lib/counters_redis.c).  Documented in
 * man/conf/15-counters.man and conf/sample/15-counters.conf.
 */
#include "config.h"
#include "conf.h"
#include "counters.h"

#include <string.h>

static cfg_opt_t counters_opts[] = {
	CFG_STR("backend", "local", CFGF_NONE),
	CFG_STR("redis_url", "redis://127.0.0.1:6379", CFGF_NONE),
	CFG_STR("redis_password_file", "", CFGF_NONE),
	CFG_STR("prefix", "botsentry", CFGF_NONE),
	CFG_INT("timeout_ms", 50, CFGF_NONE),
	CFG_END()
};

static const struct conf_bound counters_bounds[] = {
	{ "counters|timeout_ms", 1, 5000 },
	{ NULL, 0, 0 }
};

static void
counters_check(cfg_t *root, int *nerr)
{
	static const char *const url_key[] = { "counters|redis_url", NULL };
	cfg_t *c = cfg_getsec(root, "counters");
	const char *b = cfg_getstr(c, "backend"), *u = cfg_getstr(c, "redis_url");
	const char *p = cfg_getstr(c, "prefix");

	if (strcmp(b, "local") != 0 && strcmp(b, "redis") != 0) {
		conf_error(c, nerr, "counters|backend: expected \"local\" or \"redis\", not \"%s\"", b);
		return;
	}
	if (strcmp(b, "redis") != 0)
		return;
#ifndef HAVE_REDIS
	conf_error(c, nerr, "counters|backend: this build has no Redis support "
	    "(configure --with-redis, apt-get install libhiredis-dev)");
#endif
	if (strncmp(u, "redis://", 8) != 0 && strncmp(u, "unix:/", 6) != 0)
		conf_error_keys(c, nerr, url_key,
		    "counters|redis_url: expected redis://[USER@]HOST[:PORT] or unix:/PATH, "
		    "not \"%s\"", u);
	else if (strncmp(u, "redis://", 8) == 0) {
		const char *user;
		size_t ulen;
		int has = ctr_redis_url_user(u + 8, &user, &ulen);

		if (has < 0)
			conf_error_keys(c, nerr, url_key,
			    "counters|redis_url: a password does not belong in the URL "
			    "(put it in counters|redis_password_file, mode 0600)");
		else if (has > 0 && cfg_getstr(c, "redis_password_file")[0] == '\0')
			conf_error_keys(c, nerr, url_key,
			    "counters|redis_url: a user name needs counters|redis_password_file");
	}
	if (p[0] == '\0' || strpbrk(p, " \t\r\n") != NULL)
		conf_error(c, nerr, "counters|prefix: must be a non-empty word");
}

const struct conf_area conf_area_counters = {
	"counters", counters_opts, counters_bounds, counters_check
};
