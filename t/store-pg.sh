#!/usr/bin/env bash
# store-pg.sh - the store's unit tests (t/test_store, t/test_store_notify,
# t/test_writer, and t/test_leases for the lease history) run against a
# real PostgreSQL server instead of SQLite (BS_TEST_STORE_URI,
# t/store_fixture.c), and the PostgreSQL outbox test (t/test_store_pg_notify:
# two workers claiming at once), which runs only there.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/pg.sh"

grep -q '^#define HAVE_POSTGRESQL 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without PostgreSQL (configure --with-postgresql)"
PG_OPTS="-c fsync=off"
pg_start

for t in test_store test_store_notify test_writer test_leases test_store_pg_notify; do
  BS_TEST_STORE_URI=$PG_URI "$top_builddir/t/$t" >"$T/$t.out" 2>&1
  rc=$?
  sed 's/^/# /' "$T/$t.out"
  is "$rc" 0 "t/$t passes against PostgreSQL"
  like "$(cat "$T/$t.out")" "PASSED" "t/$t ran its tests"
done

done_testing
