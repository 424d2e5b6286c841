# t/lib/pg.sh - a throwaway PostgreSQL server for a test.  Source after
# common.sh, then `pg_start` (skips the test when PostgreSQL is not
# installed).  It makes a cluster in $T/pg (as the postgres user when run as
# root: the server refuses to run as root), listening on 127.0.0.1 at a free
# port and on a socket in $T/pg, and stops it at exit.  Sets:
#   PG_URI   postgresql://postgres@127.0.0.1:PORT/botsentry (a fresh database)
#   PG_PORT, PG_DATA
# pg_psql SQL runs a query on that database and prints the bare result.
# PG_OPTS (before pg_start) adds server options, e.g. "-c fsync=off".

PG_BIN=
for _d in /usr/lib/postgresql/*/bin; do [ -x "$_d/pg_ctl" ] && PG_BIN=$_d; done

_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  [ -n "$PG_BIN" ] || skip_all "PostgreSQL is not installed (apt-get install postgresql)"
  PG_PORT=$(free_port)
  PG_DATA=$T/pg/data
  mkdir -p "$T/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$T/pg"
  _pg_as "$PG_BIN/initdb" -A trust -U postgres --no-sync -E UTF8 --locale=C -D "$PG_DATA" \
    >"$T/pg/initdb.log" 2>&1 || { cat "$T/pg/initdb.log" >&2; skip_all "initdb failed"; }
  _pg_start_server || skip_all "PostgreSQL did not start"
  at_exit "pg_stop"
  _pg_as "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres botsentry \
    || skip_all "createdb failed"
  PG_URI="postgresql://postgres@127.0.0.1:$PG_PORT/botsentry"
  export PG_URI PG_PORT PG_DATA
}

_pg_start_server() {
  _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$T/pg/server.log" -w -t 30 \
    -o "-p $PG_PORT -k $T/pg -c listen_addresses=127.0.0.1 ${PG_OPTS:-}" start >/dev/null
}

# pg_restart [MODE]: stop (fast by default) and start again on the same port.
pg_restart() {
  _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w stop >/dev/null &&
    _pg_start_server
}

pg_stop() {
  _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
}

pg_psql() {
  _pg_as "$PG_BIN/psql" -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U postgres -d botsentry -c "$1"
}
