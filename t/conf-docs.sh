#!/usr/bin/env bash
# Every option of the schema is documented in botsentry.conf(5) and present
# in the sample conf/botsentry.conf, and the sample itself is valid.
. "$top_srcdir/t/lib/common.sh"

sample=$top_builddir/conf/botsentry.conf
man=$top_builddir/man/botsentry.conf.5
[ -f "$sample" ] || (cd "$top_builddir" && make -s conf/botsentry.conf man/botsentry.conf.5) >/dev/null

out=$("$BOTSENTRY" -c "$sample" config check 2>&1); st=$?
ok $st "the sample conf/botsentry.conf is valid as shipped"

# What config check prints is itself a valid configuration with the same settings.
printf '%s\n' "$out" | grep -v '^botsentry:' > "$T/effective.conf"
out2=$("$BOTSENTRY" -c "$T/effective.conf" config check 2>/dev/null | grep -v '^#')
is "$out2" "$(printf '%s\n' "$out" | grep -v '^botsentry:' | grep -v '^#')" "config check output reads back as the same settings"

# The effective settings list every key (libconfuse prints all of them).
keys=$("$BOTSENTRY" config check --defaults 2>/dev/null | sed -n 's/^[[:space:]]*\([a-z0-9_]*\)[[:space:]]*=.*/\1/p' | sort -u)
[ -n "$keys" ]; ok $? "config check --defaults lists the keys"
missing_man=""; missing_sample=""
for k in $keys; do
  grep -qE -- "^\.B \"?$k\"?( |$)" "$man" || missing_man="$missing_man $k"
  grep -qE -- "^[[:space:]#]*$k[[:space:]]*=" "$sample" || missing_sample="$missing_sample $k"
done
is "$missing_man" "" "every key is documented in botsentry.conf(5)"
is "$missing_sample" "" "every key appears in the sample conf/botsentry.conf"
done_testing
