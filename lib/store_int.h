/*
 * store_int.h - what every backend of the store shares: the table of
 * backend functions (struct store_ops) and the common head of a store
 * handle.  lib/store.c picks the backend from the URI in store_open and
 * every public store_* function calls through st->ops; a NULL entry means
 * "not supported by this backend" (the call fails with a message saying
 * so).  Nothing outside lib/store* (and the store's own tests) includes
 * this.
 *
 * A backend's handle embeds struct store as its first member, so a
 * (struct store *) is also a pointer to the backend's handle.
 */
#ifndef BS_STORE_INT_H
#define BS_STORE_INT_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

struct store_ops {
	const char *name;        /* "sqlite", "postgresql" */
	void (*close)(struct store *st);
	int (*error_transient)(const struct store *st);
	int (*migrate)(struct store *st, int *from, int *to);
	int (*schema_version)(struct store *st);
	int (*schema_latest)(const struct store *st);
	int (*begin)(struct store *st);
	int (*commit)(struct store *st);
	int (*rollback)(struct store *st);
	int (*subscriber_upsert)(struct store *st, const char *id, const char *email, const char *name);
	int (*subscriber_get)(struct store *st, const char *id, struct subscriber *out);
	int (*subscriber_set_mitigation)(struct store *st, const char *id, const char *action, const char *by, int64_t now_ms);
	int (*mitigations_each)(struct store *st, int (*fn)(void *ud, const char *subscriber, const char *action), void *ud);
	int (*leases_add)(struct store *st, const struct lease *l, size_t n);
	int (*leases_each)(struct store *st, int (*fn)(void *ud, const struct lease *l), void *ud);
	/* batch_key NULL: no idempotency; else *already is set to 1 (and
	 * nothing is recorded) when a batch with that key was recorded before. */
	int (*record_events)(struct store *st, const struct score_settings *policy, const char *batch_key, const struct event *evs, size_t n, struct record_result *res, int *already);
	int (*incidents_list)(struct store *st, const struct incident_filter *f, int (*fn)(void *ud, const struct incident *inc), void *ud);
	int (*incident_get)(struct store *st, int64_t id, struct incident *out);
	int (*incident_events)(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct stored_event *e), void *ud);
	int (*incident_set_state)(struct store *st, int64_t id, const char *state, const char *actor, const char *note, int64_t now_ms);
	int (*incident_set_ticket)(struct store *st, int64_t id, const char *ticket);
	int (*incident_notifications)(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct notification *n), void *ud);
	int (*notify_fanout)(struct store *st, int64_t now_ms, int limit, store_notify_route_fn route, void *ud);
	int (*notify_claim)(struct store *st, const char *worker, int64_t now_ms, int64_t lease_ms, int limit, struct delivery **out, size_t *n);
	int (*notify_sent)(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note);
	int (*notify_skipped)(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note);
	int (*notify_retry)(struct store *st, int64_t id, const char *worker, int64_t now_ms, int64_t next_ms, const char *error, int counted);
	int (*notify_failed)(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *error);
	int (*notify_deliveries)(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct delivery *d), void *ud);
	int (*notify_notice_slot)(struct store *st, const char *subscriber, const char *key, int64_t now_ms, int64_t interval_ms, int64_t *next_ms);
	int (*notify_notice_release)(struct store *st, const char *subscriber, int64_t prev_ms);
	int (*notify_superseded)(struct store *st, const struct delivery *d);
	int64_t (*notify_prev_ms)(struct store *st, int64_t incident_id, int64_t notification_id);
	int (*notify_rt_set)(struct store *st, int64_t incident_id, int64_t ticket_id, int64_t now_ms);
	int (*notify_rt_get)(struct store *st, int64_t incident_id, int64_t *ticket_id);
	int (*notify_rt_due)(struct store *st, int64_t now_ms, int64_t interval_ms, int limit, int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id), void *ud);
	int (*notify_rt_polled)(struct store *st, int64_t incident_id, const char *status, int closed, int64_t now_ms);
	int (*notify_rt_closing)(struct store *st, int limit, int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id, const char *state), void *ud);
	int (*audit)(struct store *st, int64_t now_ms, const char *actor, const char *action, const char *object, const char *detail);
	int (*audit_each)(struct store *st, int64_t since_ms, const char *actor, const char *object, int limit, int (*fn)(void *ud, const struct audit_row *a), void *ud);
	int (*prune)(struct store *st, int64_t events_before_ms, int64_t incidents_before_ms, int64_t notices_before_ms, const char *actor, int64_t now_ms, struct prune_result *out);
	int (*allowlist_add)(struct store *st, const struct allowlist_entry *e, int64_t *id);
	int (*allowlist_get)(struct store *st, int64_t id, struct allowlist_entry *out);
	int (*allowlist_remove)(struct store *st, int64_t id);
	int (*allowlist_each)(struct store *st, int64_t active_at_ms, int (*fn)(void *ud, const struct allowlist_entry *e), void *ud);
	int (*fbl_complaint_add)(struct store *st, const struct fbl_complaint *c, int64_t *id);
	int (*fbl_complaints_each)(struct store *st, const char *status, int64_t since_ms, int limit, int (*fn)(void *ud, const struct fbl_complaint *c), void *ud);
	int (*fbl_complaints_prune)(struct store *st, int64_t before_ms, int64_t *n);
	int (*subscriber_by_login)(struct store *st, const char *login, char **id);
	int (*subscriber_login_set)(struct store *st, const char *login, const char *subscriber);
	int (*leases_of)(struct store *st, const char *subscriber, int (*fn)(void *ud, const struct lease *l), void *ud);
	/* One outbox row with channel '' (ignored when idem exists already). */
	int (*outbox_add)(struct store *st, int64_t incident, const char *key, const char *kind,
	    int level, int64_t now_ms, const char *idem, const char *payload);
	int (*stats)(struct store *st, enum store_stat which, int64_t since_ms, int64_t now_ms, int (*fn)(void *ud, const char *key, const char *sub, int64_t n), void *ud);
};

/* The common head of every backend's handle. */
struct store {
	const struct store_ops *ops;
	char *uri;               /* as given to store_open (backends may leave it NULL) */
	char err[1024];          /* last error, for store_errmsg */
	int err_rc;              /* the backend's code for it */
	int tx_depth;            /* 0: no transaction open */
	unsigned long batch_claims;  /* batch keys stored by this handle */
	void *db;                /* the backend's connection (sqlite3 *, PGconn *) */
};

/* A migration compiled in by db/embed.sh. */
struct store_migration {
	int version;
	const char *name;        /* "initial", "desk", ... */
	const char *sql;
};

/* Set st->err to "<backend>: <what> is not supported" and return STORE_ERR. */
int store_unsupported(struct store *st, const char *what);

/* Correlation helpers every backend uses (store.c).  The sorted
 * comma-separated set list with item added (caller frees); NULL when item is
 * empty or already in it. */
char *store_set_add(const char *list, const char *item);

/*
 * Add one event to an incident's running state, the same for every
 * backend: decay the score to the event's time (never backwards), add the
 * event's score, extend the kinds and sources sets (*kinds, *sources are
 * replaced; caller frees), apply the volume rule, and return the new level
 * (never below level_before).
 */
struct event;
int store_correlate_event(const struct score_settings *policy, const struct event *ev,
    int level_before, double *score, int64_t *score_ms, int64_t *updated_ms,
    char **kinds, char **sources);
/* How long the backends keep a recorded batch's key (table event_batches). */
#define STORE_BATCH_KEEP_MS (24 * 3600 * 1000LL)

/* The JSON payload of an outbox row (caller frees). */
char *store_note_payload(int64_t incident, const char *key, int level, double score,
    const char *kinds, const char *sources, const char *mitigation);
/* Enqueue an outbox row announcing kind ("new", "update", "mitigation",
 * "resolved") for the incident, with the payload above; inside the
 * caller's transaction.  0 or STORE_ERR. */
int store_enqueue_note(struct store *st, int64_t incident, const char *key, const char *kind,
    int level, double score, const char *kinds, const char *sources, const char *mitigation,
    const char *idem, int64_t now_ms);
/* What a level rise from level_before to level does, the same for every
 * backend, inside the caller's transaction: one outbox row (kind "new" from
 * level 0, else "update"; idem "inc-<id>-lvl-<level>"), and on reaching
 * level 3 the subscriber's mitigation raised (never lowered) to the
 * policy's, with a "mitigation" outbox row and an audit row by
 * "correlation".  0 or STORE_ERR. */
int store_level_rise(struct store *st, const struct score_settings *policy, int64_t incident,
    const char *key, int level_before, int level, double score, const char *kinds,
    const char *sources, int64_t now_ms);

extern const struct store_ops store_sqlite_ops;
#ifdef HAVE_POSTGRESQL
extern const struct store_ops store_pg_ops;
/* Open a PostgreSQL store from a libpq connection URI; NULL with a message in err. */
struct store *store_pg_open(const char *uri, char *err, size_t errlen);
/* wait: return the handle even when the server does not answer (*away 1) */
struct store *store_pg_open_waiting(const char *uri, int *away, char *err, size_t errlen);
#endif

#endif
