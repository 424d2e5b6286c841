#!/usr/bin/env bash
# db-embed.sh - db/embed.sh: migrations sorted by number whatever the order
# given, quotes and backslashes escaped, gaps and duplicates refused.
. "$top_srcdir/t/lib/common.sh"
need_cmd cc

E=$top_srcdir/db/embed.sh
mkdir -p "$T/db"
printf 'CREATE TABLE b (x TEXT DEFAULT "q\\\\n");\n' >"$T/db/002-second.sql"
printf -- '-- first\nCREATE TABLE a (x);\n' >"$T/db/001-first.sql"
printf 'CREATE TABLE c (x);\n' >"$T/db/003-third.sql"

out=$(sh "$E" "$T" db/003-third.sql db/001-first.sql db/002-second.sql)
ok $? "three migrations in any order are accepted"
order=$(printf '%s\n' "$out" | grep -oE '\{ [0-9]+, "[a-z]+"' | tr '\n' ' ')
is "$order" '{ 1, "first" { 2, "second" { 3, "third" ' "sorted by number"
like "$out" 'store_sqlite_migrations_n = 3;' "the count"

# the generated C compiles and gives back the SQL byte for byte
cat >"$T/int.h" <<'H'
struct store_migration { int version; const char *name; const char *sql; };
extern const struct store_migration store_sqlite_migrations[];
extern const int store_sqlite_migrations_n;
H
printf '%s\n' "$out" | sed -e 's/#include "config.h"//' -e 's/#include "store_sqlite_int.h"/#include "int.h"/' >"$T/m.c"
cat >"$T/main.c" <<'C'
#include <stdio.h>
#include "int.h"
int main(void) { fputs(store_sqlite_migrations[1].sql, stdout); return 0; }
C
cc -I"$T" -o "$T/m" "$T/m.c" "$T/main.c"
ok $? "the generated C compiles"
is "$("$T/m")" "$(cat "$T/db/002-second.sql")" "the SQL survives quoting"

printf 'x\n' >"$T/db/005-gap.sql"
sh "$E" "$T" db/001-first.sql db/002-second.sql db/005-gap.sql >/dev/null 2>"$T/err"
[ $? -ne 0 ]; ok $? "a gap is refused"
like "$(cat "$T/err")" "005-gap.sql has number 5, expected 3" "with a message naming the file"
printf 'x\n' >"$T/db/002-dup.sql"
sh "$E" "$T" db/001-first.sql db/002-second.sql db/002-dup.sql >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "a duplicate number is refused"
printf 'x\n' >"$T/db/abc.sql"
sh "$E" "$T" db/abc.sql >/dev/null 2>"$T/err"
[ $? -ne 0 ]; ok $? "a badly named file is refused"
like "$(cat "$T/err")" "NNN-name.sql" "saying what the name must be"
done_testing
