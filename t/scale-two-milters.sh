#!/usr/bin/env bash
# scale-two-milters.sh - many smarthosts, one picture.  Two botsentry-milter
# processes, each behind its own private Postfix, share one PostgreSQL (the
# abuse database) and one Redis (the counters).  A bot that sends half of its
# burst through each smarthost is detected once, as one subscriber with the
# summed count, although neither milter saw enough to fire; with local
# counters (the control) the same split burst goes unseen while the same
# burst through one smarthost fires.  Redis killed: mail keeps flowing and
# the fallback is logged and counted.  Redis asks for a password: the
# milters log in as an ACL user (redis://USER@HOST, redis_password_file).
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/postfix.sh"
. "$top_srcdir/t/lib/milter.sh"
. "$top_srcdir/t/lib/pg.sh"
. "$top_srcdir/t/lib/redis.sh"

need_root
need_cmd postfix swaks smtp-sink saslpasswd2 python3
[ -x "$BOTSENTRY_MILTER" ] || skip_all "botsentry-milter not built"
[ -x "$BOTSENTRY" ] || skip_all "botsentry not built"
grep -q '^#define HAVE_POSTGRESQL 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without PostgreSQL"
grep -q '^#define HAVE_REDIS 1' "$top_builddir/config.h" 2>/dev/null ||
  skip_all "built without Redis"
PG_OPTS="-c fsync=off"
pg_start
redis_start
# as a shared Redis would be: a password for the default user, and the
# milters logging in as an ACL user of their own
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ACL SETUSER bsmilter on '>milter pw' \
  "~bstest$$:*" \
  '+evalsha' '+eval' '+script|load' '+exists' '+expire' '+get' '+incrby' '+pfadd' \
  '+pfcount' '+pfmerge' >/dev/null
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" CONFIG SET requirepass 'admin pw' >/dev/null
mkdir -p "$T/run" && chmod 755 "$T/run"
milter_state "$T/shared"

# conf HOST BACKEND: the config of smarthost HOST (a or b); one site secret
conf() {
  local h=$1 backend=$2 S=$T/$1
  mkdir -p "$S" && chmod 755 "$S"
  cp -p "$T/shared/secret" "$S/secret"
  printf 'milter pw\n' >"$S/redis.pw" && chmod 600 "$S/redis.pw"
  cat >"$S/botsentry.conf" <<EOF
node_name = "smarthost-$h"
database = "$PG_URI"
state_dir = "$S"
secret_file = "$S/secret"
log_level = "info"
scoring {
	mitigation = "monitor"
}
counters {
	backend = "$backend"
	redis_url = "redis://bsmilter@127.0.0.1:$REDIS_PORT"
	redis_password_file = "$S/redis.pw"
	prefix = "bstest$$"
	timeout_ms = 50
}
milter {
	socket = "unix:$T/run/milter-$h.sock"
	socket_mode = 0666
	pid_file = "$T/run/milter-$h.pid"
	mode = "enforce"
	own_domains = { "isp.example", "test.example" }
	hostnames = { "smarthost.test.example" }
	rate {
		action = "monitor"
		max_messages_1m = 8
	}
	sender { spf = false }
}
EOF
}

start_milters() {
  local h
  for h in a b; do
    MILTER_LOG=$T/$h/milter.log
    MILTER_PID=
    milter_start "$T/$h/botsentry.conf"
    ok $? "botsentry-milter $h ($1 counters) listens"
    eval "M_$h=\$MILTER_PID"
    at_exit "MILTER_PID=\$M_$h; milter_stop"
  done
}
stop_milters() {
  local h
  for h in a b; do
    eval "MILTER_PID=\$M_$h"
    milter_stop
  done
}

conf a redis; conf b redis
"$BOTSENTRY" -c "$T/a/botsentry.conf" -d "$PG_URI" db init >"$T/dbinit.out" 2>&1
ok $? "botsentry db init on PostgreSQL"
start_milters redis

# two private Postfixes, each with its own milter
for h in a b; do
  port=$(free_port); sub=$(free_port)
  postfix_setup "$T/pf-$h" "$port" "$sub" "unix:$T/run/milter-$h.sock"
  for u in bot bot2 bot3 alice; do postfix_adduser "$u" "pw-$u"; done
  postfix_start; ok $? "private Postfix $h on 127.0.0.1:$port (submission $sub)"
  eval "SUB_$h=$sub PFDIR_$h=\$PF_DIR PFETC_$h=\$PF_ETC PFSINK_$h=\$PF_SINK_PID"
  at_exit "PF_DIR=\$PFDIR_$h PF_ETC=\$PFETC_$h PF_SINK_PID=\$PFSINK_$h; postfix_stop"
done

send() {   # send HOST USER N
  local port
  eval "port=\$SUB_$1"
  swaks --server 127.0.0.1 --port "$port" --local-interface 127.0.0.9 --helo "pc-$2.isp.example" \
    --auth PLAIN --auth-user "$2" --auth-password "pw-$2" \
    --from "$2@isp.example" --to "friend$3@example.org" --timeout 20 2>&1
}
wait_idle() {
  local h
  for h in a b; do eval "PF_DIR=\$PFDIR_$h"; postfix_wait_idle 30 || return 1; done
}
# burst USER HOSTS...: 12 messages, round robin over the hosts; prints how
# many were accepted
burst() {
  local user=$1 n=0 i h; shift
  local hosts=("$@")
  for i in $(seq 1 12); do
    h=${hosts[$(( (i - 1) % ${#hosts[@]} ))]}
    send "$h" "$user" "$i" | grep -q '250 2.0.0 Ok: queued' && n=$((n + 1))
  done
  echo "$n"
}
q() { pg_psql "$1"; }

# --- shared counters: the bot splits its burst over both smarthosts
is "$(burst bot a b)" 12 "the bot's 12 messages were accepted (6 through each smarthost)"
wait_idle; ok $? "both Postfixes relayed everything"
sleep 1.5
BOT=$(q "SELECT DISTINCT subscriber FROM events WHERE subscriber LIKE 'bot%' LIMIT 1")
like "$BOT" '^bot(@test\.example)?$' "the bot raised events, named by its login ($BOT)"
is "$(q "SELECT count(*) FROM incidents WHERE subscriber = '$BOT'")" 1 "one incident for the bot"
like "$(q "SELECT kinds FROM incidents WHERE subscriber = '$BOT'")" 'rate' \
  "the incident has the rate event: the summed count crossed max_messages_1m = 8"
for h in a b; do
  n=$(grep -c "stage=eom .*subscriber=$BOT" "$T/$h/milter.log")
  [ "$n" -ge 1 ] && [ "$n" -le 6 ]
  ok $? "milter $h saw $n of the bot's messages (alone below the threshold of 8)"
done
is "$(q "SELECT string_agg(DISTINCT node, ',') FROM events WHERE subscriber = '$BOT'")" "smarthost-a,smarthost-b" \
  "the bot's events come from both smarthosts" 

# --- one round trip to Redis per message, none more: the connection and
# the HELO ride along with the message's update (a session without an
# accepted message makes its one update at close)
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning -a 'admin pw' "$@"; }
evalsha_calls() {   # answered EVALSHA calls (a NOSCRIPT retry is a failed one)
  rcli info commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\).*failed_calls=\([0-9]*\).*/\1 \2/p' |
    { read -r c f; echo $(( ${c:-0} - ${f:-0} )); }
}
rcli config resetstat >/dev/null
n=0
for i in 1 2 3 4; do
  send "$([ $((i % 2)) = 1 ] && echo a || echo b)" alice "$i" | grep -q '250 2.0.0 Ok: queued' && n=$((n + 1))
done
is "$n" 4 "alice sent 4 one-message sessions through both smarthosts"
is "$(evalsha_calls)" 4 "4 messages, 4 Redis round trips (EVALSHA calls counted by Redis)"
cat >"$T/multi.txt" <<'EOF2'
session ip=100.64.9.9 auth=carol helo=carol-pc.isp.example
mail*5 from=carol@isp.example to=friend{n}@example.org
end
session ip=100.64.9.9 auth=carol helo=carol-pc.isp.example
end
EOF2
rcli config resetstat >/dev/null
MILTER_SOCK=$T/run/milter-a.sock milter_replay "$T/multi.txt" >"$T/multi.out" 2>&1
ok $? "a five-message session and an empty one, played to milter a"
is "$(evalsha_calls)" 6 "5 messages in one session, then a session without one: 6 round trips"

# --- Redis killed: mail keeps flowing, the fallback is logged
redis_kill
n=0
for i in 1 2; do
  for h in a b; do send "$h" alice "$i" | grep -q '250 2.0.0 Ok: queued' && n=$((n + 1)); done
done
is "$n" 4 "with Redis down, mail through both smarthosts is accepted"
for h in a b; do
  grep -q 'redis .* unreachable .*using local counters' "$T/$h/milter.log"
  ok $? "milter $h logs the fallback to local counters"
done
stop_milters
for h in a b; do
  like "$(grep 'stats: why=exit' "$T/$h/milter.log" | tail -1)" 'counters_redis=down redis_updates=[0-9]+ redis_fallbacks=[1-9]' \
    "milter $h's statistics count the fallbacks"
done

# --- control: local counters see the split burst as two small ones
conf a local; conf b local
start_milters local
is "$(burst bot2 a b)" 12 "bot2's 12 messages accepted (6 through each smarthost)"
is "$(burst bot3 a)" 12 "bot3's 12 messages accepted (all through smarthost a)"
wait_idle
sleep 1.5
is "$(q "SELECT count(*) FROM events WHERE subscriber LIKE 'bot2%' AND kind = 'rate'")" 0 \
  "with local counters the split burst fires nothing"
like "$(q "SELECT count(*) FROM events WHERE subscriber LIKE 'bot3%' AND kind = 'rate'")" '^[1-9]' \
  "the same burst through one smarthost fires rate"
stop_milters
for h in a b; do
  MILTER_LOG=$T/$h/milter.log
  milter_log_clean; ok $? "no sanitizer report in milter $h's log"
done
done_testing
