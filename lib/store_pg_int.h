/*
 * store_pg_int.h - internals of the PostgreSQL backend, shared by the files
 * lib/store_pg*.c.  Nothing outside lib/store* includes this.
 *
 * How a query is written here:
 *
 *	static const char SQL_X[] = "SELECT ... WHERE id = $1";
 *	struct pg_params p = PG_PARAMS_INIT;
 *	pp_int(&p, id);
 *	PGresult *r = pg_exec(st, SQL_X, &p, "what it does");
 *	if (r == NULL)
 *		return STORE_ERR;          // st->err set, transient flag set
 *	... PQntuples(r), pg_text(r, row, col) ...
 *	PQclear(r);
 *
 * pg_exec prepares each static SQL text once per connection (PQprepare,
 * keyed by the text's address; give every query its own static array) and
 * runs it with PQexecPrepared; pg_exec_once runs SQL built at run time with
 * PQexecParams.  Values are always parameters, never spliced into SQL.
 *
 * Connection loss: when the server goes away, the failing call reports a
 * transient error (store_error_transient() is true) and the next call at
 * transaction depth 0 reconnects with PQreset (prepared statements are made
 * again).  The writer retries its batch with backoff, so nothing it
 * acknowledged is lost: an acknowledgement means the COMMIT returned.
 *
 * Transactions nest like SQLite's: depth 0 is BEGIN (READ COMMITTED), deeper
 * levels are savepoints.  Correlation locks the subscriber's active
 * incident with SELECT ... FOR UPDATE, and opens one with INSERT ... ON
 * CONFLICT DO NOTHING on the partial unique index incidents_one_active, so
 * two hosts recording events for one subscriber at once end up with one
 * incident.
 */
#ifndef BS_STORE_PG_INT_H
#define BS_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdint.h>
#include "store.h"
#include "store_int.h"

#define PG_MAX_PARAMS 16

struct pg_stmt {
	const char *sql;         /* the static text; NULL: free slot */
	int prepared;            /* on the current connection */
};

struct pg_store {
	struct store base;       /* base.db is the PGconn * */
	struct pg_stmt *stmts;
	size_t nstmts, stmts_alloc;
	int transient;           /* the last error may go away by retrying */
	int reconnects;
	int never;               /* not connected yet (store_open_waiting) */
	int need_setup;          /* connected, session_setup still to succeed */
};
#define PG(st) ((struct pg_store *)(st))
#define PGCONN(st) ((PGconn *)(st)->db)

struct pg_params {
	int n;
	const char *v[PG_MAX_PARAMS];
	char buf[PG_MAX_PARAMS][32];
};
#define PG_PARAMS_INIT { 0, { NULL }, { { 0 } } }

/* Append a parameter: text (NULL gives SQL NULL), integer, double. */
void pp_text(struct pg_params *p, const char *v);
void pp_int(struct pg_params *p, int64_t v);
void pp_double(struct pg_params *p, double v);

/* Run a static query (prepared once per connection) or a dynamic one.  A
 * result with status COMMAND_OK or TUPLES_OK (caller PQclear()s), or NULL
 * with st->err set ("what: server message"). */
PGresult *pg_exec(struct store *st, const char *sql, const struct pg_params *p, const char *what);
PGresult *pg_exec_once(struct store *st, const char *sql, const struct pg_params *p,
    const char *what);
/* Run a query for its effect only; 0 or STORE_ERR.  *changed (may be NULL)
 * gets the number of rows it touched. */
int pg_do(struct store *st, const char *sql, const struct pg_params *p, const char *what,
    int64_t *changed);

/* An array parameter built element by element (one column of a batch, for
 * unnest($1::bigint[], ...)): pa_* append, pa_end closes it and returns the
 * literal (owned by the array), pa_free frees it.  Start from PG_ARRAY_INIT. */
struct pg_array {
	char *s;
	size_t len, cap;
	size_t n;
};
#define PG_ARRAY_INIT { NULL, 0, 0, 0 }
void pa_text(struct pg_array *a, const char *v);      /* NULL gives NULL */
void pa_int(struct pg_array *a, int64_t v);
void pa_double(struct pg_array *a, double v);
const char *pa_end(struct pg_array *a);
void pa_free(struct pg_array *a);
/* Cell helpers: borrowed text ("" for NULL), a copy or NULL, integers, doubles. */
const char *pg_text(const PGresult *r, int row, int col);
char *pg_strdup(const PGresult *r, int row, int col);
int64_t pg_int(const PGresult *r, int row, int col);
double pg_double(const PGresult *r, int row, int col);

/* Set st->err from a format and return STORE_ERR (not transient). */
int pg_errf(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Nesting transactions; 0 or STORE_ERR.  pg_fail rolls one level back
 * keeping st->err and returns STORE_ERR. */
int pg_begin(struct store *st);
int pg_commit(struct store *st);
int pg_rollback(struct store *st);
int pg_fail(struct store *st);

/* The migrations compiled in by db/embed.sh (store_pg_migrations.c). */
extern const struct store_migration store_pg_migrations[];
extern const int store_pg_migrations_n;

#define PG_INCIDENT_COLS \
	"i.id, i.subscriber, i.state, i.level, i.score, i.opened_ms, i.updated_ms, " \
	"i.closed_ms, i.event_count, i.kinds, i.sources, i.ticket, i.score_ms"
void pg_incident_from_row(const PGresult *r, int row, int col, struct incident *out);
#define PG_NOTIFICATION_COLS \
	"n.id, n.incident_id, n.subscriber, n.channel, n.kind, n.level, n.status, " \
	"n.attempts, n.created_ms, n.next_attempt_ms, n.last_error, n.idem_key, n.payload"
void pg_notification_from_row(const PGresult *r, int row, int col, struct notification *out);

/* The backend functions behind store_pg_ops (store_pg.c, store_pg_incident.c,
 * store_pg_desk.c). */
int pg_outbox_add(struct store *st, int64_t incident, const char *key, const char *kind, int level,
    int64_t now_ms, const char *idem, const char *payload);
int pg_record_events(struct store *st, const struct score_settings *policy, const char *batch_key,
    const struct event *evs, size_t n, struct record_result *res, int *already);
int pg_incidents_list(struct store *st, const struct incident_filter *f,
    int (*fn)(void *ud, const struct incident *inc), void *ud);
int pg_incident_get(struct store *st, int64_t id, struct incident *out);
int pg_incident_events(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct stored_event *e), void *ud);
int pg_incident_set_state(struct store *st, int64_t id, const char *state,
    const char *actor, const char *note, int64_t now_ms);
int pg_incident_set_ticket(struct store *st, int64_t id, const char *ticket);
int pg_incident_notifications(struct store *st, int64_t incident_id,
    int (*fn)(void *ud, const struct notification *n), void *ud);
int pg_audit(struct store *st, int64_t now_ms, const char *actor, const char *action,
    const char *object, const char *detail);
int pg_subscriber_set_mitigation(struct store *st, const char *id, const char *action,
    const char *by, int64_t now_ms);

/* store_pg_desk.c */
struct allowlist_entry;
int pg_allowlist_add(struct store *st, const struct allowlist_entry *e, int64_t *id);
int pg_allowlist_get(struct store *st, int64_t id, struct allowlist_entry *out);
int pg_allowlist_remove(struct store *st, int64_t id);
int pg_allowlist_each(struct store *st, int64_t active_at_ms, int (*fn)(void *ud, const struct allowlist_entry *e), void *ud);
int pg_fbl_complaint_add(struct store *st, const struct fbl_complaint *c, int64_t *id);
int pg_fbl_complaints_each(struct store *st, const char *status, int64_t since_ms, int limit, int (*fn)(void *ud, const struct fbl_complaint *c), void *ud);
int pg_fbl_complaints_prune(struct store *st, int64_t before_ms, int64_t *n);
int pg_subscriber_by_login(struct store *st, const char *login, char **id);
int pg_subscriber_login_set(struct store *st, const char *login, const char *subscriber);
int pg_leases_of(struct store *st, const char *subscriber, int (*fn)(void *ud, const struct lease *l), void *ud);
int pg_stats(struct store *st, enum store_stat which, int64_t since_ms, int64_t now_ms, int (*fn)(void *ud, const char *key, const char *sub, int64_t n), void *ud);

/* store_pg_notify.c, behind store_pg_ops */
int pg_notify_fanout(struct store *st, int64_t now_ms, int limit, store_notify_route_fn route, void *ud);
int pg_notify_claim(struct store *st, const char *worker, int64_t now_ms, int64_t lease_ms, int limit, struct delivery **out, size_t *n);
int pg_notify_sent(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note);
int pg_notify_skipped(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note);
int pg_notify_retry(struct store *st, int64_t id, const char *worker, int64_t now_ms, int64_t next_ms, const char *error, int counted);
int pg_notify_failed(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *error);
int pg_notify_deliveries(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct delivery *d), void *ud);
int pg_notify_notice_slot(struct store *st, const char *subscriber, const char *key, int64_t now_ms, int64_t interval_ms, int64_t *next_ms);
int pg_notify_notice_release(struct store *st, const char *subscriber, int64_t prev_ms);
int pg_notify_superseded(struct store *st, const struct delivery *d);
int64_t pg_notify_prev_ms(struct store *st, int64_t incident_id, int64_t notification_id);
int pg_notify_rt_set(struct store *st, int64_t incident_id, int64_t ticket_id, int64_t now_ms);
int pg_notify_rt_get(struct store *st, int64_t incident_id, int64_t *ticket_id);
int pg_notify_rt_due(struct store *st, int64_t now_ms, int64_t interval_ms, int limit, int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id), void *ud);
int pg_notify_rt_polled(struct store *st, int64_t incident_id, const char *status, int closed, int64_t now_ms);
int pg_notify_rt_closing(struct store *st, int limit, int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id, const char *state), void *ud);

#endif
