/*
 * logins.h - SASL login name -> subscriber id, for botsentry-logwatch.
 *
 * Order: the store's mapping (subscriber_logins, or a subscriber whose id
 * is the login) for the login as logged, then for the login without the
 * configured realm ("@isp.example"); failing both, the login without the
 * realm is the subscriber id.  Answers are cached (bounded, with a time to
 * live) so that a busy log costs one query per login per interval.
 * Without a store (-p) only the realm rule applies.
 */
#ifndef BS_LOGWATCH_LOGINS_H
#define BS_LOGWATCH_LOGINS_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

struct logins;

/* st may be NULL; the struct borrows it (the caller closes it after
 * logins_free).  realm may be "" or NULL. */
struct logins *logins_new(struct store *st, const char *realm, int64_t ttl_ms);
void logins_free(struct logins *l);              /* NULL is fine */
void logins_set_realm(struct logins *l, const char *realm);

/* The subscriber for login at mono_ms (a monotonic clock); borrowed, valid
 * until the next call. */
const char *logins_lookup(struct logins *l, const char *login, int64_t mono_ms);

#endif
