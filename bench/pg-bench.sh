#!/usr/bin/env bash
# bench/pg-bench.sh - event ingest into PostgreSQL against SQLite
# (bench/bench_pg), on a throwaway PostgreSQL started here on 127.0.0.1
# with its default durability (fsync on, synchronous_commit on), then once
# more with synchronous_commit = off.  Run from a build folder as root:
#	top_srcdir=.. bash ../bench/pg-bench.sh        (or ../../ from _build/x)
# Extra arguments go to bench_pg (e.g. -n 50000).
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/pg.sh"
B=$top_builddir/bench/bench_pg
[ -x "$B" ] || { echo "build it first: make bench/bench_pg" >&2; exit 1; }
pg_start >/dev/null
for w in 1 2 4; do
  echo "== synchronous_commit=on, $w writer(s)"
  "$B" -u "$PG_URI" -w "$w" -d "$T" "$@"
done
pg_psql "ALTER SYSTEM SET synchronous_commit = off" >/dev/null
pg_restart >/dev/null
echo "== synchronous_commit=off, 1 writer"
"$B" -u "$PG_URI" -w 1 -d "$T" "$@"
