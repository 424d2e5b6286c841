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
 * Iterators (*_each, *_list, store_incident_events, ...) call fn once per
 * row; fn returns 0 to go on, anything else stops the walk and is returned.
 * Pointers passed to fn are valid during the call only.
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
/* The same for a daemon that must start while a database server is away:
 * when the server does not answer, the handle is returned all the same,
 * *away is set to 1 with the reason in err, and every call connects first
 * (failing with a transient error while the server is still away).
 * SQLite: store_open, *away 0. */
struct store *store_open_waiting(const char *uri, int *away, char *err, size_t errlen);
void store_close(struct store *st);          /* NULL is fine */
const char *store_errmsg(const struct store *st);
/* Is the last error one that retrying may cure (database busy or locked,
 * I/O error, disk full) rather than a refusal of the data? */
int store_error_transient(const struct store *st);

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
/* Severity of a mitigation action: monitor 0, throttle 1, quarantine 2,
 * reject 3; -1 for anything else (validates an action name). */
int store_mitigation_rank(const char *action);
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
	int replayed;            /* 1: recorded by an earlier attempt whose answer
	                          * was lost (store_record_events_once); the
	                          * other fields are 0, what it did is in the
	                          * database */
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
/* The same, at most once per batch_key: when a batch with this key was
 * recorded before (a retry after a COMMIT whose answer was lost), nothing
 * is recorded, *already is 1, res is zeroed, and the call succeeds.  Keys
 * are kept a day.  The writer uses this for every batch. */
int store_record_events_once(struct store *st, const struct score_settings *policy,
    const char *batch_key, const struct event *evs, size_t n, struct record_result *res,
    int *already);

struct incident {
	int64_t id;
	char *subscriber;
	char *state;             /* open|notified|acknowledged|resolved|false_positive */
	int level;
	double score;            /* decayed, as of score_ms */
	int64_t opened_ms;
	int64_t updated_ms;
	int64_t closed_ms;       /* 0 while open */
	int64_t event_count;
	char *kinds;             /* distinct kinds, comma-separated, sorted */
	char *sources;           /* distinct sources, comma-separated, sorted */
	char *ticket;            /* external ticket reference, may be NULL */
	int64_t score_ms;        /* the latest event time; score is as of then
	                          * (correlate_decay(score, score_ms, now, half_life)
	                          * gives the score now) */
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

/* notify: outbox delivery */
/*
 * botsentry-notifyd's side of the outbox (lib/store_sqlite_notify.c, tables
 * in db/sqlite/003-notify.sql).  An outbox row with channel '' is fanned out
 * into one delivery per channel; deliveries are claimed in a transaction by
 * one worker at a time (a claim older than the lease is taken over), then
 * completed, retried later, or failed.  The outbox row mirrors its
 * deliveries' outcome for the abuse desk.
 */
struct delivery {
	int64_t id;
	int64_t notification_id;
	int64_t incident_id;
	char *subscriber;
	char *channel;
	char *kind;              /* new|update|resolved|mitigation */
	int level;
	char *status;            /* pending|sending|sent|failed|skipped */
	int attempts;            /* counting the current one after a claim */
	int64_t created_ms;      /* of the outbox row */
	int64_t next_attempt_ms;
	char *last_error;
	char *note;
	char *idem_key;          /* "<outbox idem_key>-<channel>" */
	char *payload;           /* the outbox row's JSON */
};
void delivery_clear(struct delivery *d);
void store_notify_free(struct delivery *d, size_t n);   /* clears and frees an array */

/* Choose the channels of an outbox row: fill up to max names (static strings)
 * and return how many. */
typedef size_t (*store_notify_route_fn)(void *ud, const struct notification *n,
    const char **channels, size_t max);
/* Fan out up to limit due outbox rows with channel '' in one transaction.
 * Returns how many rows were fanned out, or STORE_ERR. */
int store_notify_fanout(struct store *st, int64_t now_ms, int limit,
    store_notify_route_fn route, void *ud);
/* Claim up to limit due deliveries for worker (pending and due, or sending
 * with a claim older than lease_ms), oldest first, at most one per incident
 * and channel at a time.  *out (caller store_notify_free()s) and *n. */
int store_notify_claim(struct store *st, const char *worker, int64_t now_ms, int64_t lease_ms,
    int limit, struct delivery **out, size_t *n);
/* Outcomes of a claimed delivery.  Each updates only a row still claimed by
 * worker (STORE_NOTFOUND otherwise: another worker took it over). */
int store_notify_sent(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    const char *note);
int store_notify_skipped(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    const char *note);
/* Back to pending until next_ms; counted=0 undoes the claim's attempt count
 * (a deferral, e.g. the subscriber notice interval, is not a failure). */
int store_notify_retry(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    int64_t next_ms, const char *error, int counted);
int store_notify_failed(struct store *st, int64_t id, const char *worker, int64_t now_ms,
    const char *error);
/* Every delivery of an incident (all when incident_id is 0), oldest first. */
int store_notify_deliveries(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct delivery *d), void *ud);
/* Subscriber notice interval: reserve the slot for a notice now, for the
 * delivery key (the same key may take its own slot again: a resend after a
 * crash).  0 when reserved (*next_ms: the previous notice time, -1 if none,
 * for store_notify_notice_release); 1 when another notice went out less
 * than interval_ms ago (*next_ms: when the next may go); STORE_ERR. */
int store_notify_notice_slot(struct store *st, const char *subscriber, const char *key,
    int64_t now_ms, int64_t interval_ms, int64_t *next_ms);
/* Give a reserved slot back (the notice failed): restores prev_ms. */
int store_notify_notice_release(struct store *st, const char *subscriber, int64_t prev_ms);
/* Is a later delivery of the same incident on the same channel waiting
 * (pending)?  1 yes, 0 no, STORE_ERR.  A deferred notice that a newer one
 * supersedes is skipped rather than sent late. */
int store_notify_superseded(struct store *st, const struct delivery *d);
/* created_ms of the outbox row of incident_id before notification_id (0 if none). */
int64_t store_notify_prev_ms(struct store *st, int64_t incident_id, int64_t notification_id);
/* Request Tracker ticket state. */
int store_notify_rt_set(struct store *st, int64_t incident_id, int64_t ticket_id, int64_t now_ms);
/* The RT ticket of an incident: 0 and *ticket_id, or STORE_NOTFOUND. */
int store_notify_rt_get(struct store *st, int64_t incident_id, int64_t *ticket_id);
/* Tickets of active incidents not polled since now_ms - interval_ms. */
int store_notify_rt_due(struct store *st, int64_t now_ms, int64_t interval_ms, int limit,
    int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id), void *ud);
int store_notify_rt_polled(struct store *st, int64_t incident_id, const char *status,
    int closed, int64_t now_ms);
/* Open tickets of incidents closed in botsentry (resolved, false_positive)
 * that no RT delivery is handling: the channel comments and closes them. */
int store_notify_rt_closing(struct store *st, int limit,
    int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id, const char *state), void *ud);
/* end notify: outbox delivery */

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
	int64_t deliveries_anonymized;   /* notify_deliveries of those incidents */
	int64_t notices_deleted;         /* notify_notices rows past both cutoffs */
	int64_t leases_deleted;          /* lease history that ended before the events */
};
/* Delete events older than events_before_ms and the leases that ended
 * before then (no event left needs them); delete the per-subscriber notice
 * times last used before the earlier of events_before_ms and
 * notices_before_ms (the caller passes now minus notify.subscriber_interval,
 * so that pruning never lets a subscriber be told twice within the
 * interval); anonymize closed incidents closed before incidents_before_ms,
 * with their notifications and deliveries; one audit row. */
int store_prune(struct store *st, int64_t events_before_ms, int64_t incidents_before_ms,
    int64_t notices_before_ms, const char *actor, int64_t now_ms, struct prune_result *out);

/* desk: allowlist, stats, lookup */
/* (lib/store_sqlite_desk.c; migration db/sqlite/002-desk.sql; owned by the
 * CLI.  struct allowlist_entry is in allowlist.h.) */
struct allowlist_entry;
/* Store a normalised entry (allowlist_normalize_*); *id receives its id. */
int store_allowlist_add(struct store *st, const struct allowlist_entry *e, int64_t *id);
/* One entry; STORE_NOTFOUND if there is none.  allowlist_entry_clear(out). */
int store_allowlist_get(struct store *st, int64_t id, struct allowlist_entry *out);
int store_allowlist_remove(struct store *st, int64_t id);
/* Every entry in id order; active_at_ms > 0 skips entries expired by then. */
int store_allowlist_each(struct store *st, int64_t active_at_ms,
    int (*fn)(void *ud, const struct allowlist_entry *e), void *ud);

/* A complaint from another network (ARF), attributed or not. */
struct fbl_complaint {
	int64_t id;
	int64_t received_ms;
	const char *status;          /* attributed|unattributed */
	const char *reporter, *user_agent, *feedback_type, *source_ip;
	int64_t arrival_ms;
	const char *reported_domain, *report_message_id, *msg_message_id;
	const char *subscriber, *attributed_by, *attributed_ip;
	int64_t event_id;            /* 0: none */
	const char *detail;
	const char *dedup_key;
};
/* Insert; STORE_NOTFOUND (nothing written) when dedup_key is already there
 * (the same report read twice); *id may be NULL. */
int store_fbl_complaint_add(struct store *st, const struct fbl_complaint *c, int64_t *id);
/* Complaints received since since_ms, status NULL for any, newest last. */
int store_fbl_complaints_each(struct store *st, const char *status, int64_t since_ms, int limit,
    int (*fn)(void *ud, const struct fbl_complaint *c), void *ud);
/* Delete complaints received before before_ms; *n (may be NULL) counts. */
int store_fbl_complaints_prune(struct store *st, int64_t before_ms, int64_t *n);

/* Login name -> subscriber id: the subscriber_logins table, else a
 * subscriber whose id is the login.  *id caller frees; STORE_NOTFOUND. */
int store_subscriber_by_login(struct store *st, const char *login, char **id);
int store_subscriber_login_set(struct store *st, const char *login, const char *subscriber);
/* The lease history of one subscriber, oldest first. */
int store_leases_of(struct store *st, const char *subscriber,
    int (*fn)(void *ud, const struct lease *l), void *ud);

/* Counts for `botsentry stats`: fn gets (key, sub-key or "", count). */
enum store_stat {
	STORE_STAT_INCIDENTS_BY_STATE,   /* opened since: state, "" */
	STORE_STAT_INCIDENTS_BY_LEVEL,   /* opened since: level, "" */
	STORE_STAT_INCIDENTS_BY_KIND,    /* opened since: each kind in the incident's kinds */
	STORE_STAT_INCIDENTS_BY_DAY,     /* opened since: YYYY-MM-DD, "" */
	STORE_STAT_EVENTS_BY_KIND,       /* since: kind, source */
	STORE_STAT_EVENTS_BY_DAY,        /* since: YYYY-MM-DD, kind */
	STORE_STAT_OPEN_BY_AGE,          /* active now: "<1d" "1-7d" "7-30d" ">30d", level */
	STORE_STAT_NOTIFICATIONS_BY_STATUS,  /* created since: status, kind */
	STORE_STAT_COMPLAINTS_BY_STATUS  /* received since: status, feedback type */
};
int store_stats(struct store *st, enum store_stat which, int64_t since_ms, int64_t now_ms,
    int (*fn)(void *ud, const char *key, const char *sub, int64_t n), void *ud);
/* end desk */

#endif
