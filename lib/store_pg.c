/*
 * store_pg.c - the PostgreSQL backend of the store (libpq): opening and
 * reconnecting, the statement helpers every lib/store_pg*.c file uses,
 * transactions, migrations (db/postgresql), subscribers, leases, audit and
 * pruning.  Recording and correlating events and the incidents are in
 * store_pg_incident.c, the abuse desk's tables in store_pg_desk.c.  See
 * store_pg_int.h for how queries are written and how a lost connection is
 * handled.
 *
 * One handle per thread, like SQLite: a PGconn is not shared.
 */
#include "config.h"
#include "store.h"
#include "store_pg_int.h"
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Serialises concurrent `db migrate` runs (pg_advisory_xact_lock key). */
#define PG_MIGRATE_LOCK 0x62736d6967LL

/* ---------------------------------------------------------------- errors */

int
pg_errf(struct store *st, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(st->err, sizeof st->err, "postgresql: ");
	va_start(ap, fmt);
	vsnprintf(st->err + n, sizeof st->err - n, fmt, ap);
	va_end(ap);
	PG(st)->transient = 0;
	return STORE_ERR;
}

/* SQLSTATE classes that a retry may cure: connection exceptions (08),
 * serialization failure and deadlock (40), insufficient resources (53),
 * operator intervention such as a shutdown (57), lock not available (55P03). */
static int
state_transient(const char *state)
{
	if (state == NULL)
		return 1;        /* no answer from the server at all */
	return strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
	    strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
	    strcmp(state, "55P03") == 0;
}

/* Record the error of r (NULL: of the connection) for what. */
/* A libpq or server message made one log line: no trailing newline or
 * blanks, the DETAIL and CONTEXT lines joined with blanks. */
static void
one_line(char *s)
{
	size_t n = strlen(s);
	char *p;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (p = s; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

static void
set_err(struct store *st, PGresult *r, const char *what)
{
	const char *msg, *state = NULL;

	if (r != NULL && PQresultStatus(r) == PGRES_FATAL_ERROR) {
		msg = PQresultErrorMessage(r);
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	} else
		msg = PQerrorMessage(PGCONN(st));
	if (msg == NULL || *msg == '\0')
		msg = "no answer from the server";
	snprintf(st->err, sizeof st->err, "postgresql: %s: %s", what, msg);
	one_line(st->err);
	PG(st)->transient = PQstatus(PGCONN(st)) != CONNECTION_OK || state_transient(state);
	st->err_rc = PG(st)->transient;
}

static int
pg_error_transient(const struct store *st)
{
	return PG(st)->transient;
}

/* ---------------------------------------------------------------- connection */

static void
quiet_notices(void *arg, const char *message)
{
	(void)arg;
	log_debug("postgresql: %s", message);
}

/* What every session needs, after each connect and reconnect: the
 * server's notices quiet, times in UTC.  0, or -1 with the server's
 * message in msg. */
static int
session_setup(PGconn *c, char *msg, size_t msglen)
{
	PGresult *r;

	PQsetNoticeProcessor(c, quiet_notices, NULL);
	r = PQexec(c, "SET client_min_messages = warning; SET TIME ZONE 'UTC'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(msg, msglen, "%s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

/* Before a statement outside a transaction: reconnect if the connection
 * broke (or was never made: store_open_waiting), and set the session up
 * if that has not succeeded yet.  0, or STORE_ERR (transient) when the
 * server is still away. */
static int
ensure_conn(struct store *st)
{
	size_t i;
	char why[256];

	if (PQstatus(PGCONN(st)) == CONNECTION_OK && !PG(st)->need_setup)
		return 0;
	if (st->tx_depth > 0) {
		snprintf(st->err, sizeof st->err, "postgresql: the connection was lost inside a transaction");
		PG(st)->transient = 1;
		return STORE_ERR;
	}
	if (PQstatus(PGCONN(st)) != CONNECTION_OK) {
		PQreset(PGCONN(st));
		for (i = 0; i < PG(st)->nstmts; i++)
			PG(st)->stmts[i].prepared = 0;
		if (PQstatus(PGCONN(st)) != CONNECTION_OK) {
			set_err(st, NULL, "reconnecting");
			PG(st)->transient = 1;
			return STORE_ERR;
		}
		PG(st)->need_setup = 1;
	}
	if (session_setup(PGCONN(st), why, sizeof why) != 0) {
		snprintf(st->err, sizeof st->err, "postgresql: session settings: %s", why);
		PG(st)->transient = 1;
		return STORE_ERR;
	}
	PG(st)->need_setup = 0;
	if (PG(st)->never) {
		PG(st)->never = 0;
		log_notice("postgresql: connected to %s (it did not answer at start)", PQdb(PGCONN(st)));
		return 0;
	}
	PG(st)->reconnects++;
	log_notice("postgresql: reconnected to %s (reconnect %d)", PQdb(PGCONN(st)),
	    PG(st)->reconnects);
	return 0;
}

static PGresult *
check(struct store *st, PGresult *r, const char *what)
{
	ExecStatusType s = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return r;
	set_err(st, r, what);
	PQclear(r);
	return NULL;
}

/* ---------------------------------------------------------------- parameters, cells */

void
pp_text(struct pg_params *p, const char *v)
{
	if (p->n >= PG_MAX_PARAMS)
		log_fatal(70, "store_pg: more than %d parameters", PG_MAX_PARAMS);
	p->v[p->n++] = v;
}

void
pp_int(struct pg_params *p, int64_t v)
{
	if (p->n >= PG_MAX_PARAMS)
		log_fatal(70, "store_pg: more than %d parameters", PG_MAX_PARAMS);
	snprintf(p->buf[p->n], sizeof p->buf[0], "%lld", (long long)v);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

void
pp_double(struct pg_params *p, double v)
{
	if (p->n >= PG_MAX_PARAMS)
		log_fatal(70, "store_pg: more than %d parameters", PG_MAX_PARAMS);
	snprintf(p->buf[p->n], sizeof p->buf[0], "%.17g", v);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

/* Array literals ('{1,2,"a \\"b\\""}') for one parameter carrying a whole
 * column of a batch: text elements are double-quoted with backslash
 * escapes, NULL is NULL. */
static void
arr_put(struct pg_array *a, const char *s, size_t n)
{
	if (a->len + n + 2 > a->cap) {
		while (a->len + n + 2 > a->cap)
			a->cap = a->cap ? a->cap * 2 : 256;
		a->s = xrealloc(a->s, a->cap);
	}
	memcpy(a->s + a->len, s, n);
	a->len += n;
	a->s[a->len] = '\0';
}

static void
arr_sep(struct pg_array *a)
{
	arr_put(a, a->n++ == 0 ? "{" : ",", 1);
}

void
pa_text(struct pg_array *a, const char *v)
{
	const char *p;

	arr_sep(a);
	if (v == NULL) {
		arr_put(a, "NULL", 4);
		return;
	}
	arr_put(a, "\"", 1);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			arr_put(a, "\\", 1);
		arr_put(a, p, 1);
	}
	arr_put(a, "\"", 1);
}

void
pa_int(struct pg_array *a, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof b, "%lld", (long long)v);

	arr_sep(a);
	arr_put(a, b, (size_t)n);
}

void
pa_double(struct pg_array *a, double v)
{
	char b[32];
	int n = snprintf(b, sizeof b, "%.17g", v);

	arr_sep(a);
	arr_put(a, b, (size_t)n);
}

const char *
pa_end(struct pg_array *a)
{
	if (a->n == 0)
		arr_put(a, "{", 1);
	arr_put(a, "}", 1);
	return a->s;
}

void
pa_free(struct pg_array *a)
{
	free(a->s);
	memset(a, 0, sizeof *a);
}

const char *
pg_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

char *
pg_strdup(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

int64_t
pg_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double
pg_double(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

/* ---------------------------------------------------------------- running statements */

/* Prepare a static SQL text once per connection; its statement name into
 * name.  0 or STORE_ERR. */
static int
prepare(struct store *st, const char *sql, int nparams, const char *what, char *name,
    size_t namelen)
{
	struct pg_store *ps = PG(st);
	struct pg_stmt *s = NULL;
	size_t i;

	for (i = 0; i < ps->nstmts; i++)
		if (ps->stmts[i].sql == sql) {
			s = &ps->stmts[i];
			break;
		}
	if (s == NULL) {
		if (ps->nstmts == ps->stmts_alloc) {
			ps->stmts_alloc = ps->stmts_alloc ? ps->stmts_alloc * 2 : 32;
			ps->stmts = xrealloc(ps->stmts, ps->stmts_alloc * sizeof *ps->stmts);
		}
		i = ps->nstmts++;
		s = &ps->stmts[i];
		s->sql = sql;
		s->prepared = 0;
	}
	snprintf(name, namelen, "bs%zu", i);
	if (!s->prepared) {
		PGresult *r = PQprepare(PGCONN(st), name, sql, nparams, NULL);

		if ((r = check(st, r, what)) == NULL)
			return STORE_ERR;
		PQclear(r);
		s->prepared = 1;
	}
	return 0;
}

PGresult *
pg_exec(struct store *st, const char *sql, const struct pg_params *p, const char *what)
{
	char name[16];

	if (ensure_conn(st) != 0)
		return NULL;
	if (prepare(st, sql, p != NULL ? p->n : 0, what, name, sizeof name) != 0)
		return NULL;
	return check(st, PQexecPrepared(PGCONN(st), name, p != NULL ? p->n : 0,
	    p != NULL ? p->v : NULL, NULL, NULL, 0), what);
}

PGresult *
pg_exec_once(struct store *st, const char *sql, const struct pg_params *p, const char *what)
{
	if (ensure_conn(st) != 0)
		return NULL;
	return check(st, PQexecParams(PGCONN(st), sql, p != NULL ? p->n : 0, NULL,
	    p != NULL ? p->v : NULL, NULL, NULL, 0), what);
}

int
pg_do(struct store *st, const char *sql, const struct pg_params *p, const char *what,
    int64_t *changed)
{
	PGresult *r = pg_exec(st, sql, p, what);

	if (r == NULL)
		return STORE_ERR;
	if (changed != NULL)
		*changed = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

/* A statement without parameters, bypassing the reconnect (rollback paths). */
static int
raw(struct store *st, const char *sql, const char *what)
{
	PGresult *r = check(st, PQexec(PGCONN(st), sql), what);

	if (r == NULL)
		return STORE_ERR;
	PQclear(r);
	return 0;
}

/* ---------------------------------------------------------------- transactions */

int
pg_begin(struct store *st)
{
	char sp[32];

	if (st->tx_depth == 0) {
		if (ensure_conn(st) != 0 || raw(st, "BEGIN", "begin transaction") != 0)
			return STORE_ERR;
	} else {
		snprintf(sp, sizeof sp, "SAVEPOINT sp%d", st->tx_depth);
		if (raw(st, sp, "savepoint") != 0)
			return STORE_ERR;
	}
	st->tx_depth++;
	return 0;
}

int
pg_commit(struct store *st)
{
	PGresult *r;
	char sp[32];
	int ok;

	if (st->tx_depth <= 0)
		return pg_errf(st, "commit without a transaction");
	if (st->tx_depth > 1) {
		snprintf(sp, sizeof sp, "RELEASE SAVEPOINT sp%d", st->tx_depth - 1);
		if (raw(st, sp, "release savepoint") != 0)
			return STORE_ERR;
		st->tx_depth--;
		return 0;
	}
	st->tx_depth = 0;
	/* An aborted transaction "commits" as ROLLBACK: that is a failure. */
	if ((r = check(st, PQexec(PGCONN(st), "COMMIT"), "commit")) == NULL)
		return STORE_ERR;
	ok = strcmp(PQcmdStatus(r), "COMMIT") == 0;
	PQclear(r);
	if (!ok)
		return pg_errf(st, "commit: the transaction had failed and was rolled back");
	return 0;
}

int
pg_rollback(struct store *st)
{
	char sp[64];

	if (st->tx_depth <= 0)
		return pg_errf(st, "rollback without a transaction");
	st->tx_depth--;
	if (PQstatus(PGCONN(st)) != CONNECTION_OK) {
		st->tx_depth = 0;        /* the server has rolled it all back */
		return 0;
	}
	if (st->tx_depth == 0)
		return raw(st, "ROLLBACK", "rollback");
	snprintf(sp, sizeof sp, "ROLLBACK TO SAVEPOINT sp%d; RELEASE SAVEPOINT sp%d",
	    st->tx_depth, st->tx_depth);
	return raw(st, sp, "rollback to savepoint");
}

int
pg_fail(struct store *st)
{
	char keep[sizeof st->err];
	int transient = PG(st)->transient;

	memcpy(keep, st->err, sizeof keep);
	if (st->tx_depth > 0)
		pg_rollback(st);
	memcpy(st->err, keep, sizeof keep);
	PG(st)->transient = transient;
	return STORE_ERR;
}

/* ---------------------------------------------------------------- open, close */

static void
pg_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->db != NULL)
		PQfinish(PGCONN(st));
	free(PG(st)->stmts);
	free(st->uri);
	free(st);
}

/* Did the connection fail because the server is not there (yet), rather
 * than because it refused us for good (no such database or role, a wrong
 * password, pg_hba.conf)?  A server that answered says FATAL; of its
 * answers only those of a server starting, stopping, recovering or full
 * pass as "away".  (The words are libpq's and the server's English ones:
 * with the server's lc_messages set to another language a refusal counts
 * as away, logged, and retried.) */
static int
server_away(PGconn *c, const char *msg)
{
	static const char *const passing[] = {
		"starting up", "shutting down", "in recovery mode", "not yet accepting connections",
		"too many clients", "remaining connection slots", NULL
	};
	size_t i;

	if (PQconnectionNeedsPassword(c))
		return 0;
	if (strstr(msg, "FATAL:") == NULL)
		return 1;               /* refused, timed out, no route, no name */
	for (i = 0; passing[i] != NULL; i++)
		if (strstr(msg, passing[i]) != NULL)
			return 1;
	return 0;
}

static struct store *
pg_open(const char *uri, int *away, char *err, size_t errlen)
{
	struct store *st;
	PGconn *c;
	char why[256];

	/* a URI libpq cannot read is an error now, not a server to wait for */
	{
		char *perr = NULL;
		PQconninfoOption *o = PQconninfoParse(uri, &perr);

		if (o == NULL) {
			snprintf(err, errlen, "postgresql: bad connection URI: %s",
			    perr != NULL ? perr : "out of memory");
			one_line(err);
			PQfreemem(perr);
			return NULL;
		}
		PQconninfoFree(o);
	}
	/* a default connect_timeout (the URI's own wins): a reconnect must
	 * not hang the writer on a host that does not answer */
	{
		static const char *const keys[] = { "connect_timeout", "dbname", NULL };
		const char *vals[] = { "10", uri, NULL };

		c = PQconnectdbParams(keys, vals, 1);
	}
	if (c == NULL) {
		snprintf(err, errlen, "postgresql: out of memory connecting");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		const char *m = PQerrorMessage(c);

		snprintf(err, errlen, "cannot connect to PostgreSQL: %s", m);
		one_line(err);
		if (away == NULL || !server_away(c, m)) {
			PQfinish(c);
			return NULL;
		}
		/* kept: ensure_conn connects (PQreset, the same parameters)
		 * before the first statement */
		*away = 1;
	}
	st = xcalloc(1, sizeof(struct pg_store));
	st->ops = &store_pg_ops;
	st->db = c;
	/* not the URI: it may carry a password */
	st->uri = xasprintf("postgresql://%s:%s/%s", PQhost(c), PQport(c), PQdb(c));
	if (away != NULL && *away) {
		PG(st)->never = 1;
		PG(st)->transient = 1;
		snprintf(st->err, sizeof st->err, "%s", err);
		return st;
	}
	if (session_setup(c, why, sizeof why) != 0) {
		snprintf(err, errlen, "postgresql: session settings: %s", why);
		pg_close(st);
		return NULL;
	}
	return st;
}

struct store *
store_pg_open(const char *uri, char *err, size_t errlen)
{
	return pg_open(uri, NULL, err, errlen);
}

struct store *
store_pg_open_waiting(const char *uri, int *away, char *err, size_t errlen)
{
	*away = 0;
	return pg_open(uri, away, err, errlen);
}

/* ---------------------------------------------------------------- schema */

static int
pg_schema_latest(const struct store *st)
{
	(void)st;
	return store_pg_migrations_n;
}

static int
pg_schema_version(struct store *st)
{
	PGresult *r;
	int64_t v;

	r = pg_exec_once(st, "SELECT to_regclass('schema_version') IS NOT NULL", NULL,
	    "reading the schema version");
	if (r == NULL)
		return STORE_ERR;
	v = strcmp(pg_text(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!v)
		return 0;
	r = pg_exec_once(st, "SELECT coalesce(max(version), 0) FROM schema_version", NULL,
	    "reading the schema version");
	if (r == NULL)
		return STORE_ERR;
	v = pg_int(r, 0, 0);
	PQclear(r);
	return (int)v;
}

/* Each step in its own transaction holding an advisory lock, so that two
 * programs migrating at once apply every migration exactly once. */
static int
pg_migrate(struct store *st, int *from, int *to)
{
	const struct store_migration *m;
	struct pg_params p = PG_PARAMS_INIT;
	char what[128];
	PGresult *r;
	int cur, first = 1;

	if (st->tx_depth > 0)
		return pg_errf(st, "migrate: called inside a transaction");
	for (;;) {
		if (pg_begin(st) != 0)
			return STORE_ERR;
		pp_int(&p, PG_MIGRATE_LOCK);
		r = pg_exec_once(st, "SELECT pg_advisory_xact_lock($1::bigint)", &p, "locking for migration");
		p.n = 0;
		if (r == NULL)
			return pg_fail(st);
		PQclear(r);
		if ((cur = pg_schema_version(st)) < 0)
			return pg_fail(st);
		if (first && from != NULL)
			*from = cur;
		if (to != NULL)
			*to = cur;
		first = 0;
		if (cur > store_pg_migrations_n) {
			pg_errf(st, "database schema version %d is newer than this build knows (%d): "
			    "upgrade botsentry", cur, store_pg_migrations_n);
			return pg_fail(st);
		}
		if (cur >= store_pg_migrations_n)
			return pg_commit(st);
		m = &store_pg_migrations[cur];
		snprintf(what, sizeof what, "migration %03d-%s", m->version, m->name);
		if (m->version != cur + 1) {
			pg_errf(st, "%s: compiled-in migrations out of order", what);
			return pg_fail(st);
		}
		if (raw(st, m->sql, what) != 0)
			return pg_fail(st);
		pp_int(&p, m->version);
		pp_int(&p, bs_now_ms());
		r = pg_exec_once(st, "INSERT INTO schema_version (version, applied_ms) VALUES ($1, $2)",
		    &p, what);
		p.n = 0;
		if (r == NULL)
			return pg_fail(st);
		PQclear(r);
		if (pg_commit(st) != 0)
			return STORE_ERR;
		if (to != NULL)
			*to = m->version;
	}
}

/* ---------------------------------------------------------------- subscribers */

static const char SQL_SUB_UPSERT[] =
    "INSERT INTO subscribers (id, email, name, created_ms) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name";
static const char SQL_SUB_GET[] =
    "SELECT id, email, name, mitigation, mitigation_since, mitigation_by "
    "FROM subscribers WHERE id = $1";
static const char SQL_SUB_MITIGATE[] =
    "INSERT INTO subscribers (id, mitigation, mitigation_since, mitigation_by, created_ms) "
    "VALUES ($1, $2, $3, $4, $3) ON CONFLICT (id) DO UPDATE SET "
    "mitigation = excluded.mitigation, mitigation_since = excluded.mitigation_since, "
    "mitigation_by = excluded.mitigation_by";
static const char SQL_SUB_MITIGATED[] =
    "SELECT id, mitigation FROM subscribers WHERE mitigation <> 'monitor' ORDER BY id";

static int
pg_subscriber_upsert(struct store *st, const char *id, const char *email, const char *name)
{
	struct pg_params p = PG_PARAMS_INIT;

	if (id == NULL || *id == '\0')
		return pg_errf(st, "subscriber: empty id");
	pp_text(&p, id);
	pp_text(&p, email);
	pp_text(&p, name);
	pp_int(&p, bs_now_ms());
	return pg_do(st, SQL_SUB_UPSERT, &p, "storing a subscriber", NULL);
}

static int
pg_subscriber_get(struct store *st, const char *id, struct subscriber *out)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;

	memset(out, 0, sizeof *out);
	pp_text(&p, id);
	if ((r = pg_exec(st, SQL_SUB_GET, &p, "reading a subscriber")) == NULL)
		return STORE_ERR;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return STORE_NOTFOUND;
	}
	out->id = pg_strdup(r, 0, 0);
	out->email = pg_strdup(r, 0, 1);
	out->name = pg_strdup(r, 0, 2);
	out->mitigation = pg_strdup(r, 0, 3);
	out->mitigation_since = pg_int(r, 0, 4);
	out->mitigation_by = pg_strdup(r, 0, 5);
	PQclear(r);
	return 0;
}

int
pg_subscriber_set_mitigation(struct store *st, const char *id, const char *action,
    const char *by, int64_t now_ms)
{
	struct pg_params p = PG_PARAMS_INIT;

	if (id == NULL || *id == '\0')
		return pg_errf(st, "mitigation: empty subscriber id");
	if (store_mitigation_rank(action) < 0)
		return pg_errf(st, "mitigation: unknown action '%s' (expected monitor, throttle, quarantine or reject)",
		    action != NULL ? action : "");
	pp_text(&p, id);
	pp_text(&p, action);
	pp_int(&p, now_ms);
	pp_text(&p, by);
	return pg_do(st, SQL_SUB_MITIGATE, &p, "setting a mitigation", NULL);
}

static int
pg_mitigations_each(struct store *st,
    int (*fn)(void *ud, const char *subscriber, const char *action), void *ud)
{
	PGresult *r;
	int i, ret = 0;

	if ((r = pg_exec(st, SQL_SUB_MITIGATED, NULL, "listing mitigations")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++)
		ret = fn(ud, pg_text(r, i, 0), pg_text(r, i, 1));
	PQclear(r);
	return ret;
}

/* ---------------------------------------------------------------- leases */

static const char SQL_LEASE_ADD[] =
    "INSERT INTO leases (prefix, subscriber, valid_from, valid_to, source, imported_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
static const char SQL_LEASE_EACH[] =
    "SELECT prefix, subscriber, valid_from, valid_to, source FROM leases ORDER BY id";

static int
pg_leases_add(struct store *st, const struct lease *l, size_t n)
{
	int64_t now = bs_now_ms();
	size_t i;

	if (pg_begin(st) != 0)
		return STORE_ERR;
	for (i = 0; i < n; i++) {
		struct pg_params p = PG_PARAMS_INIT;

		pp_text(&p, l[i].prefix);
		pp_text(&p, l[i].subscriber);
		pp_int(&p, l[i].valid_from);
		pp_int(&p, l[i].valid_to);
		pp_text(&p, l[i].source);
		pp_int(&p, now);
		if (pg_do(st, SQL_LEASE_ADD, &p, "storing a lease", NULL) != 0)
			return pg_fail(st);
	}
	return pg_commit(st);
}

static int
pg_leases_each(struct store *st, int (*fn)(void *ud, const struct lease *l), void *ud)
{
	struct lease l;
	PGresult *r;
	int i, ret = 0;

	if ((r = pg_exec(st, SQL_LEASE_EACH, NULL, "listing leases")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		memset(&l, 0, sizeof l);
		bs_strlcpy(l.prefix, pg_text(r, i, 0), sizeof l.prefix);
		bs_strlcpy(l.subscriber, pg_text(r, i, 1), sizeof l.subscriber);
		l.valid_from = pg_int(r, i, 2);
		l.valid_to = pg_int(r, i, 3);
		bs_strlcpy(l.source, pg_text(r, i, 4), sizeof l.source);
		ret = fn(ud, &l);
	}
	PQclear(r);
	return ret;
}

/* ---------------------------------------------------------------- audit */

static const char SQL_AUDIT_ADD[] =
    "INSERT INTO audit (ts_ms, actor, action, object, detail) VALUES ($1, $2, $3, $4, $5)";
static const char SQL_AUDIT_EACH[] =
    "SELECT id, ts_ms, actor, action, object, detail FROM audit "
    "WHERE ts_ms >= $1 AND ($2::text IS NULL OR actor = $2::text) "
    "AND ($3::text IS NULL OR object = $3::text) ORDER BY id LIMIT $4";

int
pg_audit(struct store *st, int64_t now_ms, const char *actor, const char *action,
    const char *object, const char *detail)
{
	struct pg_params p = PG_PARAMS_INIT;

	pp_int(&p, now_ms);
	pp_text(&p, actor != NULL ? actor : "");
	pp_text(&p, action != NULL ? action : "");
	pp_text(&p, object != NULL ? object : "");
	pp_text(&p, detail != NULL ? detail : "");
	return pg_do(st, SQL_AUDIT_ADD, &p, "writing an audit row", NULL);
}

static int
pg_audit_each(struct store *st, int64_t since_ms, const char *actor, const char *object,
    int limit, int (*fn)(void *ud, const struct audit_row *a), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	struct audit_row a;
	PGresult *r;
	int i, ret = 0;

	pp_int(&p, since_ms);
	pp_text(&p, actor);
	pp_text(&p, object);
	if (limit > 0)
		pp_int(&p, limit);
	else
		pp_text(&p, NULL);
	if ((r = pg_exec(st, SQL_AUDIT_EACH, &p, "listing the audit log")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		a.id = pg_int(r, i, 0);
		a.ts_ms = pg_int(r, i, 1);
		a.actor = (char *)pg_text(r, i, 2);
		a.action = (char *)pg_text(r, i, 3);
		a.object = (char *)pg_text(r, i, 4);
		a.detail = (char *)pg_text(r, i, 5);
		ret = fn(ud, &a);
	}
	PQclear(r);
	return ret;
}

/* ---------------------------------------------------------------- prune */

/* The same rules as the SQLite backend (store_sqlite.c). */
static const char SQL_PRUNE_EVENTS[] =
    "DELETE FROM events WHERE ts_ms < $1 AND (incident_id IS NULL OR incident_id NOT IN "
    "(SELECT id FROM incidents WHERE state IN ('open', 'notified', 'acknowledged') "
    "AND level >= 1))";
static const char SQL_PRUNE_INC_EVENTS[] =
    "DELETE FROM events WHERE incident_id IN (SELECT id FROM incidents "
    "WHERE anonymized = 0 AND closed_ms IS NOT NULL AND closed_ms < $1)";
static const char SQL_PRUNE_INC_NOTES[] =
    "UPDATE notifications SET subscriber = 'anonymized-' || incident_id, payload = '{}', "
    "last_error = NULL WHERE incident_id IN (SELECT id FROM incidents "
    "WHERE anonymized = 0 AND closed_ms IS NOT NULL AND closed_ms < $1)";
static const char SQL_PRUNE_INC_DELIVERIES[] =
    "UPDATE notify_deliveries SET subscriber = 'anonymized-' || incident_id, note = NULL, "
    "last_error = NULL WHERE incident_id IN (SELECT id FROM incidents "
    "WHERE anonymized = 0 AND closed_ms IS NOT NULL AND closed_ms < $1)";
static const char SQL_PRUNE_NOTICES[] = "DELETE FROM notify_notices WHERE last_ms < $1";
static const char SQL_PRUNE_LEASES[] = "DELETE FROM leases WHERE valid_to < $1";
static const char SQL_PRUNE_INC[] =
    "UPDATE incidents SET subscriber = 'anonymized-' || id, ticket = NULL, anonymized = 1 "
    "WHERE anonymized = 0 AND closed_ms IS NOT NULL AND closed_ms < $1";

static int
pg_prune(struct store *st, int64_t events_before_ms, int64_t incidents_before_ms,
    int64_t notices_before_ms, const char *actor, int64_t now_ms, struct prune_result *out)
{
	struct prune_result r = { 0, 0, 0, 0, 0 };
	struct pg_params pe = PG_PARAMS_INIT, pi = PG_PARAMS_INIT, pn = PG_PARAMS_INIT;
	int64_t n;
	char detail[384];

	pp_int(&pe, events_before_ms);
	pp_int(&pi, incidents_before_ms);
	pp_int(&pn, notices_before_ms);
	if (pg_begin(st) != 0)
		return STORE_ERR;
	if (pg_do(st, SQL_PRUNE_EVENTS, &pe, "pruning events", &n) != 0)
		return pg_fail(st);
	r.events_deleted += n;
	if (pg_do(st, SQL_PRUNE_INC_EVENTS, &pi, "pruning events of closed incidents", &n) != 0)
		return pg_fail(st);
	r.events_deleted += n;
	if (pg_do(st, SQL_PRUNE_INC_NOTES, &pi, "anonymizing notifications", NULL) != 0)
		return pg_fail(st);
	if (pg_do(st, SQL_PRUNE_INC_DELIVERIES, &pi, "anonymizing deliveries", &n) != 0)
		return pg_fail(st);
	r.deliveries_anonymized = n;
	if (pg_do(st, SQL_PRUNE_NOTICES, &pn, "pruning notice times", &n) != 0)
		return pg_fail(st);
	r.notices_deleted = n;
	if (pg_do(st, SQL_PRUNE_LEASES, &pe, "pruning leases", &n) != 0)
		return pg_fail(st);
	r.leases_deleted = n;
	if (pg_do(st, SQL_PRUNE_INC, &pi, "anonymizing incidents", &n) != 0)
		return pg_fail(st);
	r.incidents_anonymized = n;
	snprintf(detail, sizeof detail,
	    "events_before=%lld incidents_before=%lld notices_before=%lld events_deleted=%lld "
	    "incidents_anonymized=%lld deliveries_anonymized=%lld notices_deleted=%lld leases_deleted=%lld",
	    (long long)events_before_ms, (long long)incidents_before_ms, (long long)notices_before_ms,
	    (long long)r.events_deleted, (long long)r.incidents_anonymized,
	    (long long)r.deliveries_anonymized, (long long)r.notices_deleted,
	    (long long)r.leases_deleted);
	if (pg_audit(st, now_ms, actor != NULL ? actor : "prune", "prune", "", detail) != 0)
		return pg_fail(st);
	if (pg_commit(st) != 0)
		return STORE_ERR;
	if (out != NULL)
		*out = r;
	return 0;
}

/* ---------------------------------------------------------------- the backend table */

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.close = pg_close,
	.error_transient = pg_error_transient,
	.migrate = pg_migrate,
	.schema_version = pg_schema_version,
	.schema_latest = pg_schema_latest,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.subscriber_upsert = pg_subscriber_upsert,
	.subscriber_get = pg_subscriber_get,
	.subscriber_set_mitigation = pg_subscriber_set_mitigation,
	.mitigations_each = pg_mitigations_each,
	.leases_add = pg_leases_add,
	.leases_each = pg_leases_each,
	.record_events = pg_record_events,
	.incidents_list = pg_incidents_list,
	.incident_get = pg_incident_get,
	.incident_events = pg_incident_events,
	.incident_set_state = pg_incident_set_state,
	.incident_set_ticket = pg_incident_set_ticket,
	.incident_notifications = pg_incident_notifications,
	.audit = pg_audit,
	.audit_each = pg_audit_each,
	.prune = pg_prune,
	.allowlist_add = pg_allowlist_add,
	.allowlist_get = pg_allowlist_get,
	.allowlist_remove = pg_allowlist_remove,
	.allowlist_each = pg_allowlist_each,
	.fbl_complaint_add = pg_fbl_complaint_add,
	.fbl_complaints_each = pg_fbl_complaints_each,
	.fbl_complaints_prune = pg_fbl_complaints_prune,
	.subscriber_by_login = pg_subscriber_by_login,
	.subscriber_login_set = pg_subscriber_login_set,
	.leases_of = pg_leases_of,
	.outbox_add = pg_outbox_add,
	.stats = pg_stats,
	.notify_fanout = pg_notify_fanout,
	.notify_claim = pg_notify_claim,
	.notify_sent = pg_notify_sent,
	.notify_skipped = pg_notify_skipped,
	.notify_retry = pg_notify_retry,
	.notify_failed = pg_notify_failed,
	.notify_deliveries = pg_notify_deliveries,
	.notify_notice_slot = pg_notify_notice_slot,
	.notify_notice_release = pg_notify_notice_release,
	.notify_superseded = pg_notify_superseded,
	.notify_prev_ms = pg_notify_prev_ms,
	.notify_rt_set = pg_notify_rt_set,
	.notify_rt_get = pg_notify_rt_get,
	.notify_rt_due = pg_notify_rt_due,
	.notify_rt_polled = pg_notify_rt_polled,
	.notify_rt_closing = pg_notify_rt_closing,
};
