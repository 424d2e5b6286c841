/*
 * store_sqlite_int.h - internals of the SQLite backend, shared by the files
 * lib/store_sqlite*.c (core, desk, notify).  Nothing outside lib/store*
 * includes this.
 *
 * How a query is written here:
 *
 *	static const char SQL_X[] = "SELECT ... WHERE id = ?1";
 *	sqlite3_stmt *s = sq_prep(st, SQL_X);      // cached, reset, bindings clear
 *	if (s == NULL)
 *		return STORE_ERR;                  // st->err already set
 *	sq_bind_int64(s, 1, id);
 *	rc = sqlite3_step(s);
 *	...
 *	sq_reset(s);                               // always, before returning
 *
 * The statement cache is keyed by the address of the SQL text, so give every
 * query its own static const array (never a buffer that is reused for other
 * text: use sq_prep_once() for SQL built at run time).  A cached statement is shared by
 * every caller of that query: do not run a callback that may re-enter the
 * same query while it is stepping; iterators that call user callbacks either
 * collect the rows first or use sq_prep_once() (a private statement the
 * caller finalizes).
 *
 * Transactions nest: sq_begin() at depth 0 is BEGIN IMMEDIATE (we write, and
 * taking the write lock up front avoids the deadlock a read-then-write
 * upgrade can hit under WAL), deeper levels are savepoints.  store_begin /
 * store_commit / store_rollback are these.
 *
 * Durability: WAL with synchronous=NORMAL.  A commit has been written to the
 * WAL file (the kernel's page cache) when it returns, so a process that dies
 * - SIGKILL, a crash - loses no committed transaction; only an OS crash or a
 * power cut can lose the last commits before a checkpoint.  That is what the
 * writer promises ("an acknowledged event survives the death of the
 * process"), at about a tenth of the fsync cost of synchronous=FULL.
 */
#ifndef BS_STORE_SQLITE_INT_H
#define BS_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdint.h>
#include "store.h"
#include "store_int.h"

#define SQ_BUSY_TIMEOUT_MS 5000

struct sq_cache_slot {
	const char *sql;
	sqlite3_stmt *stmt;
};

/* The SQLite handle: the common head (store_int.h; db is the sqlite3 *),
 * then what only SQLite needs. */
struct sq_store {
	struct store base;
	char *path;              /* the file */
	struct sq_cache_slot *cache;
	size_t cache_size;       /* slots, a power of two */
	size_t cache_used;
};
#define SQ(st) ((struct sq_store *)(st))

/* The migrations compiled in by db/embed.sh (store_sqlite_migrations.c). */
extern const struct store_migration store_sqlite_migrations[];
extern const int store_sqlite_migrations_n;

/* Open the SQLite file at path (not a URI); NULL with a message in err. */
struct store *store_sqlite_open(const char *path, char *err, size_t errlen);

/* Apply migrations up to and including version target (tests use it to build
 * an old database); 0 or STORE_ERR. */
int sq_migrate_to(struct store *st, int target, int *from, int *to);

/* Set st->err to "what: <sqlite message>" and return STORE_ERR. */
int sq_err(struct store *st, const char *what);
/* Set st->err from a format and return STORE_ERR. */
int sq_errf(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The cached statement for sql, reset and with its bindings cleared; NULL
 * (st->err set) if it does not compile. */
sqlite3_stmt *sq_prep(struct store *st, const char *sql);
/* A fresh statement for dynamic SQL (filters); the caller sqlite3_finalize()s. */
sqlite3_stmt *sq_prep_once(struct store *st, const char *sql);
/* sqlite3_reset, ignoring the (already reported) step result; NULL is fine. */
void sq_reset(sqlite3_stmt *s);

/* Bind helpers: text NULL binds SQL NULL. */
void sq_bind_text(sqlite3_stmt *s, int i, const char *v);
void sq_bind_int64(sqlite3_stmt *s, int i, int64_t v);
void sq_bind_double(sqlite3_stmt *s, int i, double v);

/* Step a statement that returns no rows, reset it; 0 or STORE_ERR (what names
 * the operation in the message). */
int sq_step_done(struct store *st, sqlite3_stmt *s, const char *what);

/* Column helpers: a copy (caller frees) or NULL for SQL NULL; int64 0 for NULL. */
char *sq_col_strdup(sqlite3_stmt *s, int i);
int64_t sq_col_int64(sqlite3_stmt *s, int i);
const char *sq_col_text(sqlite3_stmt *s, int i);   /* borrowed; "" for NULL */

/* Run SQL without parameters (schema work, PRAGMAs); 0 or STORE_ERR. */
int sq_exec(struct store *st, const char *sql, const char *what);

/* Nesting transactions (see above); 0 or STORE_ERR. */
int sq_begin(struct store *st);
int sq_commit(struct store *st);
int sq_rollback(struct store *st);
/* Roll back one level keeping st->err (the reason); returns STORE_ERR. */
int sq_fail(struct store *st);

/* Fill an incident from a row selected with SQ_INCIDENT_COLS (first column
 * at col). */
#define SQ_INCIDENT_COLS \
	"i.id, i.subscriber, i.state, i.level, i.score, i.opened_ms, i.updated_ms, " \
	"i.closed_ms, i.event_count, i.kinds, i.sources, i.ticket, i.score_ms"
void sq_incident_from_row(sqlite3_stmt *s, int col, struct incident *out);
/* Same for notifications (SQ_NOTIFICATION_COLS, table alias n). */
#define SQ_NOTIFICATION_COLS \
	"n.id, n.incident_id, n.subscriber, n.channel, n.kind, n.level, n.status, " \
	"n.attempts, n.created_ms, n.next_attempt_ms, n.last_error, n.idem_key, n.payload"
void sq_notification_from_row(sqlite3_stmt *s, int col, struct notification *out);

/* The backend functions behind store_sqlite_ops (store_int.h), one per
 * public store_* function of the same name. */
void sqlite_close(struct store *st);
int sqlite_error_transient(const struct store *st);
int sqlite_migrate(struct store *st, int *from, int *to);
int sqlite_schema_version(struct store *st);
int sqlite_schema_latest(const struct store *st);
int sqlite_begin(struct store *st);
int sqlite_commit(struct store *st);
int sqlite_rollback(struct store *st);
int sqlite_subscriber_upsert(struct store *st, const char *id, const char *email, const char *name);
int sqlite_subscriber_get(struct store *st, const char *id, struct subscriber *out);
int sqlite_subscriber_set_mitigation(struct store *st, const char *id, const char *action, const char *by, int64_t now_ms);
int sqlite_mitigations_each(struct store *st, int (*fn)(void *ud, const char *subscriber, const char *action), void *ud);
int sqlite_leases_add(struct store *st, const struct lease *l, size_t n);
int sqlite_leases_each(struct store *st, int (*fn)(void *ud, const struct lease *l), void *ud);
int sqlite_outbox_add(struct store *st, int64_t incident, const char *key, const char *kind,
    int level, int64_t now_ms, const char *idem, const char *payload);
int sqlite_record_events(struct store *st, const struct score_settings *policy, const char *batch_key,
    const struct event *evs, size_t n, struct record_result *res, int *already);
int sqlite_incidents_list(struct store *st, const struct incident_filter *f, int (*fn)(void *ud, const struct incident *inc), void *ud);
int sqlite_incident_get(struct store *st, int64_t id, struct incident *out);
int sqlite_incident_events(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct stored_event *e), void *ud);
int sqlite_incident_set_state(struct store *st, int64_t id, const char *state, const char *actor, const char *note, int64_t now_ms);
int sqlite_incident_set_ticket(struct store *st, int64_t id, const char *ticket);
int sqlite_incident_notifications(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct notification *n), void *ud);
int sqlite_audit(struct store *st, int64_t now_ms, const char *actor, const char *action, const char *object, const char *detail);
int sqlite_audit_each(struct store *st, int64_t since_ms, const char *actor, const char *object, int limit, int (*fn)(void *ud, const struct audit_row *a), void *ud);
int sqlite_prune(struct store *st, int64_t events_before_ms, int64_t incidents_before_ms, int64_t notices_before_ms, const char *actor, int64_t now_ms, struct prune_result *out);
int sqlite_allowlist_add(struct store *st, const struct allowlist_entry *e, int64_t *id);
int sqlite_allowlist_get(struct store *st, int64_t id, struct allowlist_entry *out);
int sqlite_allowlist_remove(struct store *st, int64_t id);
int sqlite_allowlist_each(struct store *st, int64_t active_at_ms, int (*fn)(void *ud, const struct allowlist_entry *e), void *ud);
int sqlite_fbl_complaint_add(struct store *st, const struct fbl_complaint *c, int64_t *id);
int sqlite_fbl_complaints_each(struct store *st, const char *status, int64_t since_ms, int limit, int (*fn)(void *ud, const struct fbl_complaint *c), void *ud);
int sqlite_fbl_complaints_prune(struct store *st, int64_t before_ms, int64_t *n);
int sqlite_subscriber_by_login(struct store *st, const char *login, char **id);
int sqlite_subscriber_login_set(struct store *st, const char *login, const char *subscriber);
int sqlite_leases_of(struct store *st, const char *subscriber, int (*fn)(void *ud, const struct lease *l), void *ud);
int sqlite_stats(struct store *st, enum store_stat which, int64_t since_ms, int64_t now_ms, int (*fn)(void *ud, const char *key, const char *sub, int64_t n), void *ud);

/* store_sqlite_notify.c, behind store_sqlite_ops */
int sqlite_notify_fanout(struct store *st, int64_t now_ms, int limit, store_notify_route_fn route, void *ud);
int sqlite_notify_claim(struct store *st, const char *worker, int64_t now_ms, int64_t lease_ms, int limit, struct delivery **out, size_t *n);
int sqlite_notify_sent(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note);
int sqlite_notify_skipped(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note);
int sqlite_notify_retry(struct store *st, int64_t id, const char *worker, int64_t now_ms, int64_t next_ms, const char *error, int counted);
int sqlite_notify_failed(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *error);
int sqlite_notify_deliveries(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct delivery *d), void *ud);
int sqlite_notify_notice_slot(struct store *st, const char *subscriber, const char *key, int64_t now_ms, int64_t interval_ms, int64_t *next_ms);
int sqlite_notify_notice_release(struct store *st, const char *subscriber, int64_t prev_ms);
int sqlite_notify_superseded(struct store *st, const struct delivery *d);
int64_t sqlite_notify_prev_ms(struct store *st, int64_t incident_id, int64_t notification_id);
int sqlite_notify_rt_set(struct store *st, int64_t incident_id, int64_t ticket_id, int64_t now_ms);
int sqlite_notify_rt_get(struct store *st, int64_t incident_id, int64_t *ticket_id);
int sqlite_notify_rt_due(struct store *st, int64_t now_ms, int64_t interval_ms, int limit, int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id), void *ud);
int sqlite_notify_rt_polled(struct store *st, int64_t incident_id, const char *status, int closed, int64_t now_ms);
int sqlite_notify_rt_closing(struct store *st, int limit, int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id, const char *state), void *ud);

#endif
