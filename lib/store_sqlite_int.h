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

#define SQ_BUSY_TIMEOUT_MS 5000

struct sq_cache_slot {
	const char *sql;
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	char *path;              /* the file */
	char *uri;               /* as given to store_open */
	char err[1024];          /* last error, for store_errmsg */
	int err_rc;              /* its SQLite (extended) result code */
	int tx_depth;            /* 0: no transaction open */
	struct sq_cache_slot *cache;
	size_t cache_size;       /* slots, a power of two */
	size_t cache_used;
};

/* A migration compiled in by db/embed.sh (store_sqlite_migrations.c). */
struct store_migration {
	int version;
	const char *name;        /* "initial", "desk", ... */
	const char *sql;
};
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

#endif
