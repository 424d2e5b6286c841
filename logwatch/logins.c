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

static char *
from_store(struct logins *l, const char *login)
{
	char *id = NULL;
	int rc;

	if (l->st == NULL)
		return NULL;
	rc = store_subscriber_by_login(l->st, login, &id);
	if (rc == STORE_OK)
		return id;
	if (rc == STORE_ERR && !l->warned) {
		log_warn("logins: lookup failed: %s; using login names as subscriber ids",
		    store_errmsg(l->st));
		l->warned = 1;
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
	sub = from_store(l, login);
	if (sub == NULL && bare != login)
		sub = from_store(l, bare);
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
	e->until = mono_ms + l->ttl_ms;
	return e->sub;
}
