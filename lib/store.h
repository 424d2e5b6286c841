/*
 * store.h - the abuse database, backend-neutral.
 *
 * Nothing outside lib/store*.c speaks SQL.  A store is opened from a URI:
 * "sqlite:PATH" (embedded default) or "postgresql://..." (issue 8).  One
 * handle is used by one thread at a time; threads open their own handles
 * (the writer thread has its own).
 *
 * Return conventions: 0 on success, STORE_NOTFOUND when the object does not
 * exist, STORE_ERR on a database error (message in the store's last error,
 * store_errmsg()).  Times are epoch milliseconds.  Strings in result structs
 * are owned by the struct and freed by its *_clear function.
 *
 * Privacy: the store keeps metadata only.  Callers pass recipient addresses
 * already hashed (privacy.h) or reduced to domains.
 */
#ifndef BS_STORE_H
#define BS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "event.h"

#define STORE_OK 0
#define STORE_NOTFOUND 1
#define STORE_ERR (-1)

struct store;

/* Open (creating the file with mode 0600 for SQLite).  NULL and a message in err. */
struct store *store_open(const char *uri, char *err, size_t errlen);
void store_close(struct store *st);          /* NULL is fine */
const char *store_errmsg(const struct store *st);

/* Schema: apply every pending migration in one transaction each.  *from and
 * *to (may be NULL) receive the versions before and after. */
int store_migrate(struct store *st, int *from, int *to);
/* Current schema version, 0 for an empty database, STORE_ERR on error. */
int store_schema_version(struct store *st);
/* Highest version this build knows. */
int store_schema_latest(const struct store *st);

/* Transactions, for callers that group several calls. */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);

/* ---------------------------------------------------------------- subscribers */
struct subscriber {
	char *id;
	char *email;
	char *name;
	char *mitigation;        /* monitor|throttle|quarantine|reject */
	int64_t mitigation_since;
	char *mitigation_by;     /* "correlation" or an actor */
};
void subscriber_clear(struct subscriber *s);
int store_subscriber_upsert(struct store *st, const char *id, const char *email, const char *name);
int store_subscriber_get(struct store *st, const char *id, struct subscriber *out);
/* Set the mitigation state by hand or by policy; audited by the caller. */
int store_subscriber_set_mitigation(struct store *st, const char *id, const char *action,
    const char *by, int64_t now_ms);
/* Every subscriber whose mitigation is not 'monitor' (for the milter's cache). */
int store_mitigations_each(struct store *st,
    int (*fn)(void *ud, const char *subscriber, const char *action), void *ud);

/* ---------------------------------------------------------------- leases */
struct lease {
	char prefix[64];         /* "100.64.1.10/32", "2001:db8:1::/56" */
	char subscriber[EVENT_SUBSCRIBER_MAX];
	int64_t valid_from;      /* ms */
	int64_t valid_to;        /* ms, INT64_MAX when open-ended */
	char source[16];         /* static, kea, csv, radius */
};
/* Insert leases (in one transaction). */
int store_leases_add(struct store *st, const struct lease *l, size_t n);
/* Every lease, for building the in-memory table (leases.h). */
int store_leases_each(struct store *st, int (*fn)(void *ud, const struct lease *l), void *ud);

/* ---------------------------------------------------------------- events and incidents */
struct record_result {
	int64_t event_id;
	int64_t incident_id;
	int level_before;
	int level_after;
	double score;            /* the incident's score after this event */
	int new_incident;
};

/*
 * Record events and correlate them, all in one transaction: insert each
 * event, add it to its subscriber's one open incident (creating it), update
 * the decayed score and level, enqueue one outbox row per level rise, and at
 * level 3 set the subscriber's mitigation to policy->mitigation.
 * Unattributed events (subscriber "") are keyed by their client IP.
 * res (may be NULL) receives one result per event.  All or nothing.
 */
int store_record_events(struct store *st, const struct score_settings *policy,
    const struct event *evs, size_t n, struct record_result *res);

struct incident {
	int64_t id;
	char *subscriber;
	char *state;             /* open|notified|acknowledged|resolved|false_positive */
	int level;
	double score;            /* decayed, as of updated_ms */
	int64_t opened_ms;
	int64_t updated_ms;
	int64_t closed_ms;       /* 0 while open */
	int64_t event_count;
	char *kinds;             /* distinct kinds, comma-separated, sorted */
	char *sources;           /* distinct sources, comma-separated, sorted */
	char *ticket;            /* external ticket reference, may be NULL */
};
void incident_clear(struct incident *inc);

struct incident_filter {
	const char *state;       /* NULL: any; "active" = open|notified|acknowledged */
	int min_level;           /* 0: any */
	int64_t since_ms, until_ms;   /* 0: unbounded; on opened_ms */
	const char *kind;        /* has an event of this kind */
	const char *source;      /* has an event from this source */
	const char *subscriber;
	const char *sort;        /* "id" (default), "score", "level", "updated", "opened" */
	int descending;
	int limit;               /* 0: no limit */
};
int store_incidents_list(struct store *st, const struct incident_filter *f,
    int (*fn)(void *ud, const struct incident *inc), void *ud);
int store_incident_get(struct store *st, int64_t id, struct incident *out);

struct stored_event {
	int64_t id;
	int64_t incident_id;
	struct event ev;         /* ev.evidence owned */
};
int store_incident_events(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct stored_event *e), void *ud);

/* State change by the abuse desk (or RT sync); writes an audit row. */
int store_incident_set_state(struct store *st, int64_t id, const char *state,
    const char *actor, const char *note, int64_t now_ms);
int store_incident_set_ticket(struct store *st, int64_t id, const char *ticket);

/* ---------------------------------------------------------------- outbox */
struct notification {
	int64_t id;
	int64_t incident_id;
	char *subscriber;
	char *channel;           /* "" for a level change not yet fanned out */
	char *kind;              /* new|update|resolved|mitigation */
	int level;
	char *status;            /* pending|sending|sent|failed */
	int attempts;
	int64_t created_ms;
	int64_t next_attempt_ms;
	char *last_error;
	char *idem_key;          /* idempotency key (Message-ID, webhook id, ...) */
	char *payload;           /* JSON */
};
void notification_clear(struct notification *n);
int store_incident_notifications(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct notification *n), void *ud);

/* ---------------------------------------------------------------- audit, prune */
int store_audit(struct store *st, int64_t now_ms, const char *actor, const char *action,
    const char *object, const char *detail);
struct audit_row {
	int64_t id;
	int64_t ts_ms;
	char *actor, *action, *object, *detail;
};
int store_audit_each(struct store *st, int64_t since_ms, const char *actor, const char *object,
    int limit, int (*fn)(void *ud, const struct audit_row *a), void *ud);

struct prune_result {
	int64_t events_deleted;
	int64_t incidents_anonymized;
};
/* Delete events older than events_before_ms; anonymize closed incidents
 * closed before incidents_before_ms; one audit row. */
int store_prune(struct store *st, int64_t events_before_ms, int64_t incidents_before_ms,
    const char *actor, int64_t now_ms, struct prune_result *out);

#endif
