#!/usr/bin/env bash
# counters-redis.sh - counters shared through a real Redis: two tables (two
# milters) see the summed counts and distinct recipients; with Redis killed
# the updates go on at once from the local counters (no update waits longer
# than the timeout), the fallback is logged and counted; when Redis is back
# the table reconnects and shares again.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/redis.sh"

grep -q '^#define HAVE_REDIS 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without Redis (configure --with-redis)"
DRIVER=$top_builddir/t/ctr_redis_driver
[ -x "$DRIVER" ] || skip_all "t/ctr_redis_driver not built"
redis_start

# the config section: checked, errors name the key
if [ -x "$BOTSENTRY" ]; then
  printf 'counters {\n\tbackend = "redis"\n\tredis_url = "http://x"\n}\n' >"$T/bad.conf"
  out=$("$BOTSENTRY" -c "$T/bad.conf" config check 2>&1); rc=$?
  is "$rc" 78 "config check refuses a bad redis_url (EX_CONFIG)"
  like "$out" "counters\|redis_url" "... naming the key"
  printf 'counters {\n\tbackend = "memcache"\n}\n' >"$T/bad2.conf"
  out=$("$BOTSENTRY" -c "$T/bad2.conf" config check 2>&1)
  like "$out" 'counters\|backend: expected "local" or "redis"' "config check refuses an unknown backend"
  printf 'counters {\n\tbackend = "redis"\n\tredis_url = "%s"\n\ttimeout_ms = 20\n}\n' "$REDIS_URL" >"$T/good.conf"
  "$BOTSENTRY" -c "$T/good.conf" config check >/dev/null 2>&1
  ok $? "a redis backend with a redis:// URL is accepted"
fi

val() { sed -n "s/^$1=//p" "$T/share.out"; }
"$DRIVER" "$REDIS_URL" "t$$" share 60 >"$T/share.out" 2>"$T/share.err"
is "$?" 0 "the driver ran"
is "$(val a_alone)" 60 "table A alone counts its own 60 messages"
is "$(val a_local)" 60 "A's local table holds only its share"
is "$(val b_local)" 60 "B's local table holds only its share (1-minute window 7 s later: stale shared count ignored)"
is "$(val shared)" 120 "B sees the summed count of both tables"
is "$(val b_peek)" 120 "B's peek (no round trip) answers the summed count its last update returned"
is "$(val b_peek_10m)" 120 "... 7 s later still for the 10-minute window (fresh for 60 s)"
d=$(val distinct)
[ "${d:-0}" -ge 86 ] && [ "${d:-0}" -le 94 ]
ok $? "distinct recipients across both tables: about 90 ($d)"
like "$(cat "$T/share.out")" "updates=60 fallbacks=0" "every update was answered by Redis"
is "$(val multi_count)" 121 "one update with 20 recipient domains counts one message"
d=$(val multi_distinct)
[ "${d:-0}" -ge 105 ] && [ "${d:-0}" -le 115 ]
ok $? "... and adds its 20 domains to the distinct set in the same call (about 110: $d)"

# across a bucket boundary: the previous hour's buckets carried into the
# sliding value as the local table does (the union HyperLogLog starts as a
# copy of the previous bucket's)
"$DRIVER" "$REDIS_URL" "c$$" cross 40 >"$T/cross.out" 2>"$T/cross.err"
is "$?" 0 "the driver ran across an hour boundary"
cval() { sed -n "s/^$1=//p" "$T/cross.out"; }
is "$(cval count_3600)" "60.0/60.0" "1-hour window half-way into the next hour: 40 + 40 x 0.5, as the local table says"
is "$(cval count_60)" "40.0/40.0" "1-minute window: this bucket's 40 only"
d=$(cval distinct_3600); d=${d%%/*}; d=${d%.*}
[ "${d:-0}" -ge 48 ] && [ "${d:-0}" -le 52 ]
ok $? "distinct over the hour window: 40 this hour + 20 new x 0.5 = about 50 ($d)"
d=$(cval distinct_60); d=${d%%/*}; d=${d%.*}
[ "${d:-0}" -ge 38 ] && [ "${d:-0}" -le 42 ]
ok $? "distinct over the minute window: about 40 ($d)"

# Redis killed in the middle of a run, then started again
"$DRIVER" "$REDIS_URL" "u$$" loop 9 >"$T/loop.out" 2>"$T/loop.err" &
dpid=$!
at_exit "kill -9 $dpid"
sleep 2
redis_kill
sleep 3
redis_start
wait "$dpid"
is "$?" 0 "the driver kept running through the outage"
last=$(tail -n 1 "$T/loop.out")
echo "# $last"
like "$last" "^done" "the driver finished its run"
fb=$(printf '%s' "$last" | sed -n 's/.* fallbacks=\([0-9]*\).*/\1/p')
[ "${fb:-0}" -ge 50 ]
ok $? "updates during the outage were answered locally ($fb fallbacks)"
mx=$(printf '%s' "$last" | sed -n 's/.* max_ms=\([0-9]*\).*/\1/p')
[ "${mx:-9999}" -le 200 ]
ok $? "no update waited long ($mx ms at most, timeout 50 ms)"
like "$(cat "$T/loop.err")" "redis .* unreachable .*using local counters" "the fallback is logged"
is "$(grep -c 'unreachable' "$T/loop.err")" 1 "and logged once"
like "$(cat "$T/loop.err")" "reachable again" "the recovery is logged"
like "$last" "reconnects=[1-9]" "the reconnection is counted"
up=$(grep -E '^i=' "$T/loop.out" | tail -n 1 | sed -n 's/.*connected=\([01]\).*/\1/p')
is "$up" 1 "connected again at the end"

# --- a Redis that asks for a password: the default user's (requirepass)
# and a Redis 6 ACL user's
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning "$@"; }
rcli CONFIG SET requirepass 'pass word!' >/dev/null
# the user the README suggests: the commands the counter script needs, on its keys
rcli -a 'pass word!' ACL SETUSER bsmilter on '>u-secret' "~r$$:*" \
  '+evalsha' '+eval' '+script|load' '+exists' '+expire' '+get' '+incrby' '+pfadd' \
  '+pfcount' '+pfmerge' >/dev/null
is "$(rcli -a 'pass word!' ACL WHOAMI)" default "setup: Redis now wants a password"
printf 'pass word!\n' >"$T/pw"; printf 'u-secret\n' >"$T/upw"; printf 'wrong\n' >"$T/badpw"
chmod 600 "$T/pw" "$T/upw" "$T/badpw"
shared() { sed -n 's/^shared=//p' "$1"; }

"$DRIVER" "$REDIS_URL" "p$$" share 10 >"$T/na.out" 2>"$T/na.err"
is "$(shared "$T/na.out")" 10 "no password: each table counts alone (B sees its own 10)"
# (Redis 7 says NOAUTH, or, to a long command, "unauthenticated multibulk")
like "$(cat "$T/na.err")" "refused us \((NOAUTH|ERR Protocol error: unauthenticated)" \
  "the refusal is logged with Redis's reason"
is "$(grep -c 'refused us' "$T/na.err")" 2 "... once per table (two here), not once per message"

CTR_REDIS_PASSWORD_FILE=$T/pw "$DRIVER" "$REDIS_URL" "q$$" share 10 >"$T/pw.out" 2>"$T/pw.err"
is "$(shared "$T/pw.out")" 20 "with the password (a space and a ! in it) the counts are shared"
like "$(cat "$T/pw.out")" "updates=10 fallbacks=0" "... every update answered by Redis"

url_user="redis://bsmilter@127.0.0.1:$REDIS_PORT"
CTR_REDIS_PASSWORD_FILE=$T/upw "$DRIVER" "$url_user" "r$$" share 10 >"$T/u.out" 2>"$T/u.err"
is "$(shared "$T/u.out")" 20 "an ACL user (redis://USER@HOST) with its password shares too"

CTR_REDIS_PASSWORD_FILE=$T/upw "$DRIVER" "$url_user" "x$$" share 10 >"$T/perm.out" 2>"$T/perm.err"
is "$(shared "$T/perm.out")" 10 "a prefix outside the user's keys: local counters"
like "$(cat "$T/perm.err")" "refused us \(.*(NOPERM|[Nn]o permissions|can't access)" "... with Redis's reason logged"
is "$(grep -c 'refused us' "$T/perm.err")" 2 "... once per table"

CTR_REDIS_PASSWORD_FILE=$T/badpw "$DRIVER" "$url_user" "s$$" share 10 >"$T/bad.out" 2>"$T/bad.err"
is "$(shared "$T/bad.out")" 10 "a wrong password: local counters"
like "$(cat "$T/bad.err")" "refused us \(AUTH as bsmilter: WRONGPASS" "... and the log says AUTH was refused, for whom"
is "$(grep -c 'refused us' "$T/bad.err")" 2 "... once per table"

"$DRIVER" "redis://bsmilter:u-secret@127.0.0.1:$REDIS_PORT" "t$$" share 1 >/dev/null 2>"$T/inurl.err"
is "$?" 1 "a password in the URL is refused"
like "$(cat "$T/inurl.err")" "does not belong in the URL" "... saying where it goes instead"
unlike "$(cat "$T/inurl.err")" "u-secret" "... without repeating it"
chmod 644 "$T/upw"
CTR_REDIS_PASSWORD_FILE=$T/upw "$DRIVER" "$url_user" "t$$" share 1 >/dev/null 2>"$T/mode.err"
is "$?" 1 "a password file others can read is refused"
like "$(cat "$T/mode.err")" "mode 0644 .*chmod 600" "... with the mode and the fix"
chmod 600 "$T/upw"

if [ -x "$BOTSENTRY" ]; then
  printf 'counters {\n\tbackend = "redis"\n\tredis_url = "%s"\n}\n' "$url_user" >"$T/nopw.conf"
  out=$("$BOTSENTRY" -c "$T/nopw.conf" config check 2>&1); rc=$?
  is "$rc" 78 "config check: a user name without redis_password_file is refused"
  like "$out" "nopw.conf:[0-9]+: .*counters\|redis_url: a user name needs counters\|redis_password_file" \
    "... naming file, line and key"
  printf 'counters {\n\tbackend = "redis"\n\tredis_url = "%s"\n\tredis_password_file = "%s"\n}\n' \
    "$url_user" "$T/upw" >"$T/pw.conf"
  "$BOTSENTRY" -c "$T/pw.conf" config check >/dev/null 2>&1
  ok $? "config check: a user name with a password file is accepted"
fi

done_testing
