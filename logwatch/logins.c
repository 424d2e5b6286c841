/*
 * logins.c - login -> subscriber with a bounded cache (see logins.h).
 */
#include "config.h"
#include "logins.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SLOTS 4096            /* power of two; a full table is simply cleared */
#define MAX_ENTRIES (SLOTS * 3 / 4)
/* After a failed lookup (the database away) the store is not asked again
 * for this long, so that lines are not held up by one connect timeout
 * each, and what was answered meanwhile (the login name) is kept only this
 * long, so that the right subscriber comes back soon after the database. */
#define DOWN_MS 10000

struct entry {
	char *login;
	char *sub;
	int64_t until;
};

struct logins {
	struct store *st;
	char *realm;
	int64_t ttl_ms;
	struct entry e[SLOTS];
	size_t n;
	char buf[512];
	int warned;
	int64_t down_until;   /* monotonic ms; 0: the store answers */
};

static uint64_t
hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct logins *
logins_new(struct store *st, const char *realm, int64_t ttl_ms)
{
	struct logins *l = xcalloc(1, sizeof *l);

	l->st = st;
	l->realm = xstrdup(realm ? realm : "");
	l->ttl_ms = ttl_ms > 0 ? ttl_ms : 300000;
	return l;
}

static void
clear(struct logins *l)
{
	size_t i;

	for (i = 0; i < SLOTS; i++) {
		free(l->e[i].login);
		free(l->e[i].sub);
		l->e[i].login = l->e[i].sub = NULL;
	}
	l->n = 0;
}

void
logins_free(struct logins *l)
{
	if (l == NULL)
		return;
	clear(l);
	free(l->realm);
	free(l);
}

void
logins_set_realm(struct logins *l, const char *realm)
{
	free(l->realm);
	l->realm = xstrdup(realm ? realm : "");
	clear(l);
}

/* login without the realm, into l->buf (or login itself) */
static const char *
strip(struct logins *l, const char *login)
{
	size_t n = strlen(login), r = strlen(l->realm);

	if (r > 0 && n > r && n - r < sizeof l->buf && strcasecmp(login + n - r, l->realm) == 0) {
		memcpy(l->buf, login, n - r);
		l->buf[n - r] = '\0';
		return l->buf;
	}
	return login;
}

/* The subscriber of login from the store, or NULL (*failed set when the
 * store could not say). */
static char *
from_store(struct logins *l, const char *login, int64_t mono_ms, int *failed)
{
	char *id = NULL;
	int rc;

	if (l->st == NULL)
		return NULL;
	if (l->down_until != 0 && mono_ms < l->down_until) {
		*failed = 1;
		return NULL;
	}
	rc = store_subscriber_by_login(l->st, login, &id);
	if (rc != STORE_ERR && l->down_until != 0) {
		log_notice("logins: lookups answered again");
		l->down_until = 0;
		l->warned = 0;
	}
	if (rc == STORE_OK)
		return id;
	if (rc == STORE_ERR) {
		*failed = 1;
		if (store_error_transient(l->st))      /* from now: the call may have waited */
			l->down_until = bs_mono_ms() + DOWN_MS;
		if (!l->warned) {
			log_warn("logins: lookup failed: %s; using login names as subscriber ids "
			    "until it answers", store_errmsg(l->st));
			l->warned = 1;
		}
	}
	return NULL;
}

const char *
logins_lookup(struct logins *l, const char *login, int64_t mono_ms)
{
	size_t i = (size_t)(hash(login) & (SLOTS - 1));
	struct entry *e;
	char *sub;
	const char *bare;
	int failed = 0;

	for (;;) {
		e = &l->e[i];
		if (e->login == NULL)
			break;
		if (strcmp(e->login, login) == 0) {
			if (mono_ms < e->until)
				return e->sub;
			break;
		}
		i = (i + 1) & (SLOTS - 1);
	}
	bare = strip(l, login);
	sub = from_store(l, login, mono_ms, &failed);
	if (sub == NULL && bare != login)
		sub = from_store(l, bare, mono_ms, &failed);
	if (sub == NULL)
		sub = xstrdup(bare);
	if (e->login == NULL) {
		if (l->n >= MAX_ENTRIES) {
			clear(l);
			i = (size_t)(hash(login) & (SLOTS - 1));
			e = &l->e[i];
		}
		e->login = xstrdup(login);
		l->n++;
	}
	free(e->sub);
	e->sub = sub;
	if (failed)        /* the lookups may have waited a connect timeout */
		e->until = bs_mono_ms() + (l->ttl_ms > DOWN_MS ? DOWN_MS : l->ttl_ms);
	else
		e->until = mono_ms + l->ttl_ms;
	return e->sub;
}
