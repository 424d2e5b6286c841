/*
 * store_fixture.h - a fresh store for each unit test, on either backend,
 * and plain SQL queries on it (t/test_store.c, t/test_store_notify.c,
 * t/test_leases.c).
 *
 * BS_TEST_STORE_URI=postgresql://... runs the tests against that database
 * (t/store-pg.sh starts a throwaway server): each tf_open empties its public
 * schema first.  Otherwise each store is a SQLite file in a folder of its
 * own under /tmp.  Queries are SQL both engines take.
 */
#ifndef BS_T_STORE_FIXTURE_H
#define BS_T_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* BS_TEST_STORE_URI when it names PostgreSQL, else NULL. */
const char *tf_pg_uri(void);

/* A new, migrated store.  dir (dirsize >= 32) receives a new folder under
 * /tmp, made with either backend (tests put files there); uri (may be NULL)
 * receives the store's URI.  NULL, with the reason on stderr, on failure. */
struct store *tf_open(char *dir, size_t dirsize, char *uri, size_t urisize);

/* Close st (may be NULL) and remove dir with what is in it; 0 or -1. */
int tf_close(struct store *st, const char *dir);

/* SQL without parameters: 0 or STORE_ERR (message in the store's error). */
int t_exec(struct store *st, const char *sql);
/* The first column of the one row sql returns (the test fails otherwise);
 * q_text gives "(null)" for NULL, and the caller frees it. */
int64_t q_int(struct store *st, const char *sql);
char *q_text(struct store *st, const char *sql);

#endif
