/*
 * store.c - the backend-neutral part of the store: choosing a backend from
 * the URI, and freeing the result structs.
 *
 * "sqlite:PATH" (also "sqlite://PATH" with an absolute path) is the embedded
 * backend; "postgresql://..." is reserved for issue 8 and refused with a
 * message saying so.  The backend functions live in lib/store_sqlite*.c.
 */
#include "config.h"
#include "store.h"
#include "store_sqlite_int.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store *
store_open(const char *uri, char *err, size_t errlen)
{
	const char *path;

	if (uri == NULL || *uri == '\0') {
		snprintf(err, errlen, "no database given (set 'database' in the config or use -d sqlite:PATH)");
		return NULL;
	}
	if (strncmp(uri, "sqlite:", 7) == 0) {
		path = uri + 7;
		if (strncmp(path, "//", 2) == 0)
			path += 2;
		if (*path == '\0') {
			snprintf(err, errlen, "%s: no file name after 'sqlite:'", uri);
			return NULL;
		}
		return store_sqlite_open(path, err, errlen);
	}
	if (strncmp(uri, "postgresql:", 11) == 0 || strncmp(uri, "postgres:", 9) == 0) {
		snprintf(err, errlen, "%s: the PostgreSQL backend is not built in this version; use sqlite:PATH",
		    uri);
		return NULL;
	}
	snprintf(err, errlen, "%s: unknown database URI (expected sqlite:PATH)", uri);
	return NULL;
}

void
subscriber_clear(struct subscriber *s)
{
	if (s == NULL)
		return;
	free(s->id);
	free(s->email);
	free(s->name);
	free(s->mitigation);
	free(s->mitigation_by);
	memset(s, 0, sizeof *s);
}

void
incident_clear(struct incident *inc)
{
	if (inc == NULL)
		return;
	free(inc->subscriber);
	free(inc->state);
	free(inc->kinds);
	free(inc->sources);
	free(inc->ticket);
	memset(inc, 0, sizeof *inc);
}

void
notification_clear(struct notification *n)
{
	if (n == NULL)
		return;
	free(n->subscriber);
	free(n->channel);
	free(n->kind);
	free(n->status);
	free(n->last_error);
	free(n->idem_key);
	free(n->payload);
	memset(n, 0, sizeof *n);
}
