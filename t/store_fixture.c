/*
 * store_fixture.c - a fresh store per unit test on SQLite or PostgreSQL
 * (store_fixture.h).  The queries reach past the store API on purpose: a
 * test checks the rows the API wrote.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store_sqlite_int.h"
#ifdef HAVE_POSTGRESQL
#include <libpq-fe.h>
#endif
#include "util.h"

const char *
tf_pg_uri(void)
{
	const char *u = getenv("BS_TEST_STORE_URI");

	return u != NULL && strncmp(u, "postgres", 8) == 0 ? u : NULL;
}

struct store *
tf_open(char *dir, size_t dirsize, char *uri, size_t urisize)
{
	char err[512], buf[600];
	struct store *st;

	snprintf(dir, dirsize, "/tmp/bs-store.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return NULL;
	}
	if (tf_pg_uri() != NULL)
		snprintf(buf, sizeof buf, "%s", tf_pg_uri());
	else
		snprintf(buf, sizeof buf, "sqlite:%s/abuse.db", dir);
	if (uri != NULL)
		snprintf(uri, urisize, "%s", buf);
	if ((st = store_open(buf, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		tf_close(NULL, dir);
		return NULL;
	}
	if ((tf_pg_uri() != NULL &&
	    t_exec(st, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public") != 0) ||
	    store_migrate(st, NULL, NULL) != 0) {
		fprintf(stderr, "%s\n", store_errmsg(st));
		tf_close(st, dir);
		return NULL;
	}
	return st;
}

int
tf_close(struct store *st, const char *dir)
{
	char cmd[128];

	if (st != NULL)
		store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
t_exec(struct store *st, const char *sql)
{
#ifdef HAVE_POSTGRESQL
	if (tf_pg_uri() != NULL) {
		PGresult *r = PQexec((PGconn *)st->db, sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

		if (!ok)
			snprintf(st->err, sizeof st->err, "%s", PQresultErrorMessage(r));
		PQclear(r);
		return ok ? 0 : STORE_ERR;
	}
#endif
	return sq_exec(st, sql, "t");
}

/* The one row's first column as text ("(null)" for NULL). */
static char *
one_value(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	char *v;

#ifdef HAVE_POSTGRESQL
	if (tf_pg_uri() != NULL) {
		PGresult *r = PQexec((PGconn *)st->db, sql);

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_int_equal(PQntuples(r), 1);
		v = xstrdup(PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
		PQclear(r);
		return v;
	}
#endif
	s = sq_prep_once(st, sql);
	if (s == NULL)
		fprintf(stderr, "%s: %s\n", sql, store_errmsg(st));
	assert_non_null(s);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = xstrdup(sqlite3_column_type(s, 0) == SQLITE_NULL ? "(null)" :
	    (const char *)sqlite3_column_text(s, 0));
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);     /* one row, as on PostgreSQL */
	sqlite3_finalize(s);
	return v;
}

int64_t
q_int(struct store *st, const char *sql)
{
	char *v = one_value(st, sql);
	int64_t n = strtoll(v, NULL, 10);

	free(v);
	return n;
}

char *
q_text(struct store *st, const char *sql)
{
	return one_value(st, sql);
}
