/*
 * store_sqlite.c - the SQLite backend of the store: opening, the statement
 * cache and transaction helpers every lib/store_sqlite*.c file uses,
 * migrations, subscribers, leases, audit and pruning.  Recording and
 * correlating events, incidents and the outbox are in store_sqlite_incident.c.
 *
 * One handle per thread: the connection is opened with SQLITE_OPEN_NOMUTEX,
 * so SQLite does no locking of its own around it.  The file is WAL, busy
 * timeout 5 s, foreign keys on, synchronous=NORMAL (see store_sqlite_int.h
 * for why that is durable enough), a page cache of up to 16 MiB per handle,
 * created with mode 0600 (SQLite gives its -wal and -shm files the database
 * file's mode).
 */
#include "config.h"
#include "store.h"
#include "store_sqlite_int.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */

int
sq_err(struct store *st, const char *what)
{
	snprintf(st->err, sizeof st->err, "%s: %s: %s", SQ(st)->path, what,
	    st->db != NULL ? sqlite3_errmsg(st->db) : "no database");
	st->err_rc = st->db != NULL ? sqlite3_extended_errcode(st->db) : SQLITE_CANTOPEN;
	return STORE_ERR;
}

int
sq_errf(struct store *st, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(st->err, sizeof st->err, "%s: ", SQ(st)->path);
	if (n < 0 || (size_t)n >= sizeof st->err)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(st->err + n, sizeof st->err - n, fmt, ap);
	va_end(ap);
	st->err_rc = SQLITE_ERROR;
	return STORE_ERR;
}

int
sqlite_error_transient(const struct store *st)
{
	if (st == NULL)
		return 0;
	switch (st->err_rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_NOMEM:
	case SQLITE_INTERRUPT:
		return 1;
	default:
		return 0;
	}
}

/* ---------------------------------------------------------------- statement cache */

static size_t
cache_hash(const char *sql, size_t size)
{
	uintptr_t p = (uintptr_t)sql;

	p ^= p >> 17;
	p *= (uintptr_t)0x9E3779B97F4A7C15ULL;
	return (size_t)(p >> 7) & (size - 1);
}

static void
cache_put(struct store *st, const char *sql, sqlite3_stmt *stmt)
{
	size_t i;

	if ((SQ(st)->cache_used + 1) * 2 > SQ(st)->cache_size) {
		struct sq_cache_slot *old = SQ(st)->cache;
		size_t oldsize = SQ(st)->cache_size, j;

		SQ(st)->cache_size = oldsize ? oldsize * 2 : 64;
		SQ(st)->cache = xcalloc(SQ(st)->cache_size, sizeof *SQ(st)->cache);
		for (j = 0; j < oldsize; j++) {
			if (old[j].sql == NULL)
				continue;
			i = cache_hash(old[j].sql, SQ(st)->cache_size);
			while (SQ(st)->cache[i].sql != NULL)
				i = (i + 1) & (SQ(st)->cache_size - 1);
			SQ(st)->cache[i] = old[j];
		}
		free(old);
	}
	i = cache_hash(sql, SQ(st)->cache_size);
	while (SQ(st)->cache[i].sql != NULL)
		i = (i + 1) & (SQ(st)->cache_size - 1);
	SQ(st)->cache[i].sql = sql;
	SQ(st)->cache[i].stmt = stmt;
	SQ(st)->cache_used++;
}

/* A safety net: code that reaches the sq_* helpers with a handle of
 * another backend (a test, a tool) gets an error instead of having that
 * handle read as a SQLite one. */
static int
not_sqlite(struct store *st)
{
	if (st->ops == &store_sqlite_ops)
		return 0;
	snprintf(st->err, sizeof st->err, "%s: this operation is not supported on %s yet",
	    st->uri != NULL ? st->uri : "store", st->ops->name);
	st->err_rc = SQLITE_MISUSE;
	return 1;
}

sqlite3_stmt *
sq_prep(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	size_t i;

	if (not_sqlite(st))
		return NULL;

	if (SQ(st)->cache_size > 0) {
		i = cache_hash(sql, SQ(st)->cache_size);
		while (SQ(st)->cache[i].sql != NULL) {
			if (SQ(st)->cache[i].sql == sql) {
				s = SQ(st)->cache[i].stmt;
				sqlite3_reset(s);
				sqlite3_clear_bindings(s);
				return s;
			}
			i = (i + 1) & (SQ(st)->cache_size - 1);
		}
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		sq_errf(st, "preparing \"%.80s\": %s", sql, sqlite3_errmsg(st->db));
		st->err_rc = sqlite3_extended_errcode(st->db);
		sqlite3_finalize(s);
		return NULL;
	}
	cache_put(st, sql, s);
	return s;
}

sqlite3_stmt *
sq_prep_once(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (not_sqlite(st))
		return NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sq_errf(st, "preparing \"%.80s\": %s", sql, sqlite3_errmsg(st->db));
		st->err_rc = sqlite3_extended_errcode(st->db);
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

void
sq_reset(sqlite3_stmt *s)
{
	if (s != NULL)
		sqlite3_reset(s);
}

void
sq_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

void
sq_bind_int64(sqlite3_stmt *s, int i, int64_t v)
{
	sqlite3_bind_int64(s, i, v);
}

void
sq_bind_double(sqlite3_stmt *s, int i, double v)
{
	sqlite3_bind_double(s, i, v);
}

int
sq_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		sq_err(st, what);
		sqlite3_reset(s);
		return STORE_ERR;
	}
	sqlite3_reset(s);
	return 0;
}

char *
sq_col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t;

	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return NULL;
	t = sqlite3_column_text(s, i);
	return xstrdup(t != NULL ? (const char *)t : "");
}

int64_t
sq_col_int64(sqlite3_stmt *s, int i)
{
	return sqlite3_column_int64(s, i);
}

const char *
sq_col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t != NULL ? (const char *)t : "";
}

int
sq_exec(struct store *st, const char *sql, const char *what)
{
	char *msg = NULL;

	if (not_sqlite(st))
		return STORE_ERR;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		sq_errf(st, "%s: %s", what, msg != NULL ? msg : sqlite3_errmsg(st->db));
		st->err_rc = sqlite3_extended_errcode(st->db);
		sqlite3_free(msg);
		return STORE_ERR;
	}
	return 0;
}

/* ---------------------------------------------------------------- transactions */

int
sq_begin(struct store *st)
{
	char sp[32];

	if (st->tx_depth == 0) {
		if (sq_exec(st, "BEGIN IMMEDIATE", "begin transaction") != 0)
			return STORE_ERR;
	} else {
		snprintf(sp, sizeof sp, "SAVEPOINT sp%d", st->tx_depth);
		if (sq_exec(st, sp, "savepoint") != 0)
			return STORE_ERR;
	}
	st->tx_depth++;
	return 0;
}

int
sq_commit(struct store *st)
{
	char sp[32];

	if (st->tx_depth <= 0)
		return sq_errf(st, "commit without a transaction");
	if (st->tx_depth == 1) {
		if (sq_exec(st, "COMMIT", "commit") != 0) {
			/* Leave no transaction half-open behind a failed commit. */
			char keep[sizeof st->err];
			int rc = st->err_rc;

			memcpy(keep, st->err, sizeof keep);
			if (!sqlite3_get_autocommit(st->db))
				sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			memcpy(st->err, keep, sizeof keep);
			st->err_rc = rc;
			st->tx_depth = 0;
			return STORE_ERR;
		}
		st->tx_depth = 0;
		return 0;
	}
	st->tx_depth--;
	snprintf(sp, sizeof sp, "RELEASE sp%d", st->tx_depth);
	return sq_exec(st, sp, "release savepoint");
}

int
sq_rollback(struct store *st)
{
	char sp[64];

	if (st->tx_depth <= 1) {
		st->tx_depth = 0;
		/* SQLite may already have rolled back by itself (some errors do). */
		if (!sqlite3_get_autocommit(st->db))
			return sq_exec(st, "ROLLBACK", "rollback");
		return 0;
	}
	st->tx_depth--;
	if (sqlite3_get_autocommit(st->db)) {
		st->tx_depth = 0;
		return 0;
	}
	snprintf(sp, sizeof sp, "ROLLBACK TO sp%d; RELEASE sp%d", st->tx_depth, st->tx_depth);
	return sq_exec(st, sp, "rollback to savepoint");
}

int
sq_fail(struct store *st)
{
	char keep[sizeof st->err];
	int rc = st->err_rc;

	memcpy(keep, st->err, sizeof keep);
	sq_rollback(st);
	memcpy(st->err, keep, sizeof keep);
	st->err_rc = rc;
	return STORE_ERR;
}

int
sqlite_begin(struct store *st)
{
	return sq_begin(st);
}

int
sqlite_commit(struct store *st)
{
	return sq_commit(st);
}

int
sqlite_rollback(struct store *st)
{
	return sq_rollback(st);
}

/* ---------------------------------------------------------------- open, close */

void
sqlite_close(struct store *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < SQ(st)->cache_size; i++)
		if (SQ(st)->cache[i].stmt != NULL)
			sqlite3_finalize(SQ(st)->cache[i].stmt);
	free(SQ(st)->cache);
	if (st->db != NULL) {
		if (st->tx_depth > 0 && !sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close_v2(st->db);
	}
	free(SQ(st)->path);
	free(st->uri);
	free(st);
}

/* Make sure the file exists with mode 0600 (SQLite itself would use 0644). */
static int
create_file(const char *path, char *err, size_t errlen)
{
	char *dir, *slash;
	struct stat sb;
	int fd;

	if (stat(path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			snprintf(err, errlen, "%s: not a regular file", path);
			return -1;
		}
		if (sb.st_mode & S_IROTH)
			log_warn("%s: the abuse database is readable by everyone (mode %04o): chmod o-rwx %s",
			    path, (unsigned)(sb.st_mode & 07777), path);
		return 0;
	}
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			snprintf(err, errlen, "%s: folder %s does not exist (create it first, e.g. mkdir -m 0750 %s)",
			    path, dir, dir);
			free(dir);
			return -1;
		}
	}
	free(dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

struct store *
store_sqlite_open(const char *path, char *err, size_t errlen)
{
	struct store *st;
	sqlite3 *db = NULL;
	sqlite3_stmt *s;
	int rc;

	if (create_file(path, err, errlen) != 0)
		return NULL;
	st = xcalloc(1, sizeof(struct sq_store));
	st->ops = &store_sqlite_ops;
	SQ(st)->path = xstrdup(path);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	st->db = db;
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		sqlite_close(st);
		return NULL;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, SQ_BUSY_TIMEOUT_MS);

	/* journal_mode answers with the mode it got; anything but wal is an error. */
	s = sq_prep_once(st, "PRAGMA journal_mode=WAL");
	rc = s != NULL ? sqlite3_step(s) : SQLITE_ERROR;
	if (rc != SQLITE_ROW || strcmp(sq_col_text(s, 0), "wal") != 0) {
		if (rc == SQLITE_ROW)
			snprintf(err, errlen, "%s: cannot switch to WAL mode (journal_mode is %s)",
			    path, sq_col_text(s, 0));
		else if (s != NULL)
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(st->db));
		else
			snprintf(err, errlen, "%s", st->err);
		sqlite3_finalize(s);
		sqlite_close(st);
		return NULL;
	}
	sqlite3_finalize(s);
	if (sq_exec(st, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384", "pragmas") != 0) {
		snprintf(err, errlen, "%s", st->err);
		sqlite_close(st);
		return NULL;
	}
	return st;
}

/* ---------------------------------------------------------------- schema */

int
sqlite_schema_latest(const struct store *st)
{
	(void)st;
	return store_sqlite_migrations_n;
}

static const char SQL_HAS_VERSION[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'";
static const char SQL_VERSION[] = "SELECT coalesce(max(version), 0) FROM schema_version";
static const char SQL_VERSION_ADD[] = "INSERT INTO schema_version (version, applied_ms) VALUES (?1, ?2)";

int
sqlite_schema_version(struct store *st)
{
	sqlite3_stmt *s;
	int64_t n;

	if ((s = sq_prep(st, SQL_HAS_VERSION)) == NULL)
		return STORE_ERR;
	if (sqlite3_step(s) != SQLITE_ROW) {
		sq_err(st, "reading the schema version");
		sq_reset(s);
		return STORE_ERR;
	}
	n = sq_col_int64(s, 0);
	sq_reset(s);
	if (n == 0)
		return 0;
	/* Not cached: the table may not have existed when the cache was made. */
	if ((s = sq_prep_once(st, SQL_VERSION)) == NULL)
		return STORE_ERR;
	if (sqlite3_step(s) != SQLITE_ROW) {
		sq_err(st, "reading the schema version");
		sqlite3_finalize(s);
		return STORE_ERR;
	}
	n = sq_col_int64(s, 0);
	sqlite3_finalize(s);
	return (int)n;
}

/*
 * Each step reads the version inside its own write transaction, so that two
 * programs migrating the same file at once (db init racing a daemon's start)
 * apply every migration exactly once.
 */
int
sq_migrate_to(struct store *st, int target, int *from, int *to)
{
	const struct store_migration *m;
	char what[128];
	sqlite3_stmt *s;
	int cur, first = 1;

	if (st->tx_depth > 0)
		return sq_errf(st, "migrate: called inside a transaction");
	for (;;) {
		if (sq_begin(st) != 0)
			return STORE_ERR;
		if ((cur = store_schema_version(st)) < 0)
			return sq_fail(st);
		if (first && from != NULL)
			*from = cur;
		if (to != NULL)
			*to = cur;
		first = 0;
		if (cur > store_sqlite_migrations_n) {
			sq_errf(st, "database schema version %d is newer than this build knows (%d): "
			    "upgrade botsentry", cur, store_sqlite_migrations_n);
			return sq_fail(st);
		}
		if (cur >= target || cur >= store_sqlite_migrations_n)
			return sq_commit(st);
		m = &store_sqlite_migrations[cur];      /* version cur + 1 */
		snprintf(what, sizeof what, "migration %03d-%s", m->version, m->name);
		if (m->version != cur + 1) {
			sq_errf(st, "%s: compiled-in migrations out of order", what);
			return sq_fail(st);
		}
		if (sq_exec(st, m->sql, what) != 0)
			return sq_fail(st);
		if ((s = sq_prep_once(st, SQL_VERSION_ADD)) == NULL)
			return sq_fail(st);
		sq_bind_int64(s, 1, m->version);
		sq_bind_int64(s, 2, bs_now_ms());
		if (sqlite3_step(s) != SQLITE_DONE) {
			sq_err(st, what);
			sqlite3_finalize(s);
			return sq_fail(st);
		}
		sqlite3_finalize(s);
		if (sq_commit(st) != 0)
			return STORE_ERR;
		if (to != NULL)
			*to = m->version;
	}
}

int
sqlite_migrate(struct store *st, int *from, int *to)
{
	return sq_migrate_to(st, store_sqlite_migrations_n, from, to);
}

/* ---------------------------------------------------------------- subscribers */

static const char SQL_SUB_UPSERT[] =
    "INSERT INTO subscribers (id, email, name, created_ms) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name";
static const char SQL_SUB_GET[] =
    "SELECT id, email, name, mitigation, mitigation_since, mitigation_by "
    "FROM subscribers WHERE id = ?1";
static const char SQL_SUB_MITIGATE[] =
    "INSERT INTO subscribers (id, mitigation, mitigation_since, mitigation_by, created_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?3) ON CONFLICT (id) DO UPDATE SET "
    "mitigation = excluded.mitigation, mitigation_since = excluded.mitigation_since, "
    "mitigation_by = excluded.mitigation_by";
static const char SQL_SUB_MITIGATED[] =
    "SELECT id, mitigation FROM subscribers WHERE mitigation <> 'monitor' ORDER BY id";

int
sqlite_subscriber_upsert(struct store *st, const char *id, const char *email, const char *name)
{
	sqlite3_stmt *s;

	if (id == NULL || *id == '\0')
		return sq_errf(st, "subscriber: empty id");
	if ((s = sq_prep(st, SQL_SUB_UPSERT)) == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, id);
	sq_bind_text(s, 2, email);
	sq_bind_text(s, 3, name);
	sq_bind_int64(s, 4, bs_now_ms());
	return sq_step_done(st, s, "storing a subscriber");
}

int
sqlite_subscriber_get(struct store *st, const char *id, struct subscriber *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof *out);
	if ((s = sq_prep(st, SQL_SUB_GET)) == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sq_reset(s);
		return STORE_NOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		sq_err(st, "reading a subscriber");
		sq_reset(s);
		return STORE_ERR;
	}
	out->id = sq_col_strdup(s, 0);
	out->email = sq_col_strdup(s, 1);
	out->name = sq_col_strdup(s, 2);
	out->mitigation = sq_col_strdup(s, 3);
	out->mitigation_since = sq_col_int64(s, 4);
	out->mitigation_by = sq_col_strdup(s, 5);
	sq_reset(s);
	return 0;
}

int
sqlite_subscriber_set_mitigation(struct store *st, const char *id, const char *action,
    const char *by, int64_t now_ms)
{
	sqlite3_stmt *s;

	if (id == NULL || *id == '\0')
		return sq_errf(st, "mitigation: empty subscriber id");
	if (store_mitigation_rank(action) < 0)
		return sq_errf(st, "mitigation: unknown action '%s' (expected monitor, throttle, quarantine or reject)",
		    action != NULL ? action : "");
	if ((s = sq_prep(st, SQL_SUB_MITIGATE)) == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, id);
	sq_bind_text(s, 2, action);
	sq_bind_int64(s, 3, now_ms);
	sq_bind_text(s, 4, by);
	return sq_step_done(st, s, "setting a mitigation");
}

int
sqlite_mitigations_each(struct store *st,
    int (*fn)(void *ud, const char *subscriber, const char *action), void *ud)
{
	sqlite3_stmt *s;
	int rc, ret = 0;

	if ((s = sq_prep_once(st, SQL_SUB_MITIGATED)) == NULL)
		return STORE_ERR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = fn(ud, sq_col_text(s, 0), sq_col_text(s, 1))) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing mitigations");
	sqlite3_finalize(s);
	return ret;
}

/* ---------------------------------------------------------------- leases */

static const char SQL_LEASE_ADD[] =
    "INSERT INTO leases (prefix, subscriber, valid_from, valid_to, source, imported_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_LEASE_EACH[] =
    "SELECT prefix, subscriber, valid_from, valid_to, source FROM leases ORDER BY id";

int
sqlite_leases_add(struct store *st, const struct lease *l, size_t n)
{
	int64_t now = bs_now_ms();
	sqlite3_stmt *s;
	size_t i;

	if (sq_begin(st) != 0)
		return STORE_ERR;
	for (i = 0; i < n; i++) {
		if ((s = sq_prep(st, SQL_LEASE_ADD)) == NULL)
			goto fail;
		sq_bind_text(s, 1, l[i].prefix);
		sq_bind_text(s, 2, l[i].subscriber);
		sq_bind_int64(s, 3, l[i].valid_from);
		sq_bind_int64(s, 4, l[i].valid_to);
		sq_bind_text(s, 5, l[i].source);
		sq_bind_int64(s, 6, now);
		if (sq_step_done(st, s, "storing a lease") != 0)
			goto fail;
	}
	if (sq_commit(st) != 0)
		return STORE_ERR;
	return 0;
fail:
	return sq_fail(st);
}

int
sqlite_leases_each(struct store *st, int (*fn)(void *ud, const struct lease *l), void *ud)
{
	struct lease l;
	sqlite3_stmt *s;
	int rc, ret = 0;

	if ((s = sq_prep_once(st, SQL_LEASE_EACH)) == NULL)
		return STORE_ERR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&l, 0, sizeof l);
		bs_strlcpy(l.prefix, sq_col_text(s, 0), sizeof l.prefix);
		bs_strlcpy(l.subscriber, sq_col_text(s, 1), sizeof l.subscriber);
		l.valid_from = sq_col_int64(s, 2);
		l.valid_to = sq_col_int64(s, 3);
		bs_strlcpy(l.source, sq_col_text(s, 4), sizeof l.source);
		if ((ret = fn(ud, &l)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing leases");
	sqlite3_finalize(s);
	return ret;
}

/* ---------------------------------------------------------------- audit */

static const char SQL_AUDIT_ADD[] =
    "INSERT INTO audit (ts_ms, actor, action, object, detail) VALUES (?1, ?2, ?3, ?4, ?5)";

int
sqlite_audit(struct store *st, int64_t now_ms, const char *actor, const char *action,
    const char *object, const char *detail)
{
	sqlite3_stmt *s;

	if ((s = sq_prep(st, SQL_AUDIT_ADD)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, now_ms);
	sq_bind_text(s, 2, actor != NULL ? actor : "");
	sq_bind_text(s, 3, action != NULL ? action : "");
	sq_bind_text(s, 4, object != NULL ? object : "");
	sq_bind_text(s, 5, detail != NULL ? detail : "");
	return sq_step_done(st, s, "writing an audit row");
}

int
sqlite_audit_each(struct store *st, int64_t since_ms, const char *actor, const char *object,
    int limit, int (*fn)(void *ud, const struct audit_row *a), void *ud)
{
	struct audit_row a;
	sqlite3_stmt *s;
	int rc, ret = 0;

	s = sq_prep_once(st,
	    "SELECT id, ts_ms, actor, action, object, detail FROM audit "
	    "WHERE ts_ms >= ?1 AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR object = ?3) "
	    "ORDER BY id LIMIT ?4");
	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, since_ms);
	sq_bind_text(s, 2, actor);
	sq_bind_text(s, 3, object);
	sq_bind_int64(s, 4, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		a.id = sq_col_int64(s, 0);
		a.ts_ms = sq_col_int64(s, 1);
		a.actor = (char *)sq_col_text(s, 2);
		a.action = (char *)sq_col_text(s, 3);
		a.object = (char *)sq_col_text(s, 4);
		a.detail = (char *)sq_col_text(s, 5);
		if ((ret = fn(ud, &a)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing the audit log");
	sqlite3_finalize(s);
	return ret;
}

/* ---------------------------------------------------------------- prune */

/*
 * Events older than the cutoff go, except those of incidents that are still
 * active at level 1 or more (the subscriber was told or the desk is working
 * them: their evidence stays until closing, and retention starts there).  A
 * level-0 incident (low scores that never added up) does not hold its old
 * events back: it may stay open for a long time.  Counts, kinds and sources
 * on the incident keep the history.
 * Incidents closed before their cutoff lose everything that names a person:
 * the subscriber key becomes "anonymized-<id>", the ticket reference goes,
 * their remaining events are deleted (they carry subscriber and IP) and their
 * outbox rows lose subscriber and payload.  Level, score, kinds, sources and
 * times stay, for statistics.
 */
static const char SQL_PRUNE_EVENTS[] =
    "DELETE FROM events WHERE ts_ms < ?1 AND (incident_id IS NULL OR incident_id NOT IN "
    "(SELECT id FROM incidents WHERE state IN ('open', 'notified', 'acknowledged') "
    "AND level >= 1))";
static const char SQL_PRUNE_INC_EVENTS[] =
    "DELETE FROM events WHERE incident_id IN (SELECT id FROM incidents "
    "WHERE anonymized = 0 AND closed_ms IS NOT NULL AND closed_ms < ?1)";
static const char SQL_PRUNE_INC_NOTES[] =
    "UPDATE notifications SET subscriber = 'anonymized-' || incident_id, payload = '{}', "
    "last_error = NULL WHERE incident_id IN (SELECT id FROM incidents "
    "WHERE anonymized = 0 AND closed_ms IS NOT NULL AND closed_ms < ?1)";
static const char SQL_PRUNE_INC_DELIVERIES[] =
    "UPDATE notify_deliveries SET subscriber = 'anonymized-' || incident_id, note = NULL, "
    "last_error = NULL WHERE incident_id IN (SELECT id FROM incidents "
    "WHERE anonymized = 0 AND closed_ms IS NOT NULL AND closed_ms < ?1)";
static const char SQL_PRUNE_NOTICES[] = "DELETE FROM notify_notices WHERE last_ms < ?1";
static const char SQL_PRUNE_LEASES[] = "DELETE FROM leases WHERE valid_to < ?1";
static const char SQL_PRUNE_INC[] =
    "UPDATE incidents SET subscriber = 'anonymized-' || id, ticket = NULL, anonymized = 1 "
    "WHERE anonymized = 0 AND closed_ms IS NOT NULL AND closed_ms < ?1";

int
sqlite_prune(struct store *st, int64_t events_before_ms, int64_t incidents_before_ms,
    int64_t notices_before_ms, const char *actor, int64_t now_ms, struct prune_result *out)
{
	struct prune_result r = { 0, 0, 0, 0, 0 };
	sqlite3_stmt *s;
	char detail[384];

	if (sq_begin(st) != 0)
		return STORE_ERR;
	if ((s = sq_prep(st, SQL_PRUNE_EVENTS)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, events_before_ms);
	if (sq_step_done(st, s, "pruning events") != 0)
		goto fail;
	r.events_deleted += sqlite3_changes(st->db);

	if ((s = sq_prep(st, SQL_PRUNE_INC_EVENTS)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, incidents_before_ms);
	if (sq_step_done(st, s, "pruning events of closed incidents") != 0)
		goto fail;
	r.events_deleted += sqlite3_changes(st->db);

	if ((s = sq_prep(st, SQL_PRUNE_INC_NOTES)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, incidents_before_ms);
	if (sq_step_done(st, s, "anonymizing notifications") != 0)
		goto fail;

	if ((s = sq_prep(st, SQL_PRUNE_INC_DELIVERIES)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, incidents_before_ms);
	if (sq_step_done(st, s, "anonymizing deliveries") != 0)
		goto fail;
	r.deliveries_anonymized = sqlite3_changes(st->db);

	if ((s = sq_prep(st, SQL_PRUNE_NOTICES)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, notices_before_ms);
	if (sq_step_done(st, s, "pruning notice times") != 0)
		goto fail;
	r.notices_deleted = sqlite3_changes(st->db);

	if ((s = sq_prep(st, SQL_PRUNE_LEASES)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, events_before_ms);
	if (sq_step_done(st, s, "pruning leases") != 0)
		goto fail;
	r.leases_deleted = sqlite3_changes(st->db);

	if ((s = sq_prep(st, SQL_PRUNE_INC)) == NULL)
		goto fail;
	sq_bind_int64(s, 1, incidents_before_ms);
	if (sq_step_done(st, s, "anonymizing incidents") != 0)
		goto fail;
	r.incidents_anonymized = sqlite3_changes(st->db);

	snprintf(detail, sizeof detail,
	    "events_before=%lld incidents_before=%lld notices_before=%lld events_deleted=%lld "
	    "incidents_anonymized=%lld deliveries_anonymized=%lld notices_deleted=%lld leases_deleted=%lld",
	    (long long)events_before_ms, (long long)incidents_before_ms, (long long)notices_before_ms,
	    (long long)r.events_deleted, (long long)r.incidents_anonymized,
	    (long long)r.deliveries_anonymized, (long long)r.notices_deleted,
	    (long long)r.leases_deleted);
	if (store_audit(st, now_ms, actor != NULL ? actor : "prune", "prune", "", detail) != 0)
		goto fail;
	if (sq_commit(st) != 0)
		return STORE_ERR;
	if (out != NULL)
		*out = r;
	return 0;
fail:
	return sq_fail(st);
}

/* ---------------------------------------------------------------- the backend table */

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.close = sqlite_close,
	.error_transient = sqlite_error_transient,
	.migrate = sqlite_migrate,
	.schema_version = sqlite_schema_version,
	.schema_latest = sqlite_schema_latest,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.subscriber_upsert = sqlite_subscriber_upsert,
	.subscriber_get = sqlite_subscriber_get,
	.subscriber_set_mitigation = sqlite_subscriber_set_mitigation,
	.mitigations_each = sqlite_mitigations_each,
	.leases_add = sqlite_leases_add,
	.leases_each = sqlite_leases_each,
	.record_events = sqlite_record_events,
	.incidents_list = sqlite_incidents_list,
	.incident_get = sqlite_incident_get,
	.incident_events = sqlite_incident_events,
	.incident_set_state = sqlite_incident_set_state,
	.incident_set_ticket = sqlite_incident_set_ticket,
	.incident_notifications = sqlite_incident_notifications,
	.audit = sqlite_audit,
	.audit_each = sqlite_audit_each,
	.prune = sqlite_prune,
	.notify_fanout = sqlite_notify_fanout,
	.notify_claim = sqlite_notify_claim,
	.notify_sent = sqlite_notify_sent,
	.notify_skipped = sqlite_notify_skipped,
	.notify_retry = sqlite_notify_retry,
	.notify_failed = sqlite_notify_failed,
	.notify_deliveries = sqlite_notify_deliveries,
	.notify_notice_slot = sqlite_notify_notice_slot,
	.notify_notice_release = sqlite_notify_notice_release,
	.notify_superseded = sqlite_notify_superseded,
	.notify_prev_ms = sqlite_notify_prev_ms,
	.notify_rt_set = sqlite_notify_rt_set,
	.notify_rt_get = sqlite_notify_rt_get,
	.notify_rt_due = sqlite_notify_rt_due,
	.notify_rt_polled = sqlite_notify_rt_polled,
	.notify_rt_closing = sqlite_notify_rt_closing,
	.allowlist_add = sqlite_allowlist_add,
	.allowlist_get = sqlite_allowlist_get,
	.allowlist_remove = sqlite_allowlist_remove,
	.allowlist_each = sqlite_allowlist_each,
	.fbl_complaint_add = sqlite_fbl_complaint_add,
	.fbl_complaints_each = sqlite_fbl_complaints_each,
	.fbl_complaints_prune = sqlite_fbl_complaints_prune,
	.subscriber_by_login = sqlite_subscriber_by_login,
	.subscriber_login_set = sqlite_subscriber_login_set,
	.leases_of = sqlite_leases_of,
	.outbox_add = sqlite_outbox_add,
	.stats = sqlite_stats,
};
