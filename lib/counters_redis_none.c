/*
 * counters_redis_none.c - ctr_new_redis in a build without hiredis
 * (configure --without-redis, or libhiredis-dev missing): it says so.
 */
#include "config.h"
#include "counters.h"

#include <stdio.h>

struct ctr_table *
ctr_new_redis(const struct ctr_spec *spec, const char *url, const char *password,
    const char *prefix, int timeout_ms, char *err, size_t errlen)
{
	(void)spec;
	(void)password;
	(void)prefix;
	(void)timeout_ms;
	snprintf(err, errlen, "%s: this build has no Redis support (configure --with-redis)",
	    url != NULL ? url : "redis");
	return NULL;
}
