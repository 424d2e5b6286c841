# t/lib/postfix.sh - a private Postfix instance for integration tests.
#
# Source it after t/lib/common.sh.  It runs Debian's Postfix with its own
# config, queue and data folders under a test folder, listening only on
# 127.0.0.1 high ports, with no chroot, no DNS and no syslog (maillog_file),
# relaying everything to an smtp-sink on loopback.  A second smtpd on a
# submission port offers SASL AUTH (PLAIN, LOGIN) through Cyrus sasldb, so
# tests need no saslauthd.  Nothing under /etc is changed.
#
#   postfix_setup DIR PORT SUBMISSION_PORT MILTER_SOCKET [SINK_PORT]
#       write DIR/etc/main.cf and master.cf; MILTER_SOCKET is "" for no
#       milter, else e.g. unix:/path/sock (default_action=accept per milter)
#   postfix_conf NAME=VALUE...     change main.cf (postconf -e)
#   postfix_adduser USER PASSWORD  add a SASL user (realm $PF_REALM)
#   postfix_start                  start smtp-sink and Postfix; registers
#                                  postfix_stop with at_exit when available
#   postfix_reload
#   postfix_stop                   stop both (idempotent)
#   postfix_wait_idle [SECS]       wait until the queue is empty
#   postfix_sink_count             messages relayed to smtp-sink so far
#   (PF_SINK_DUMP=1 before postfix_start: smtp-sink keeps each message as a
#   file in $PF_DIR/sink)
#
# Variables set: PF_DIR PF_ETC PF_LOG PF_PORT PF_SUB_PORT PF_SINK_PORT
# PF_REALM PF_SASLDB.  Needs root (Postfix's master runs as root).
#
# Verified facts (API-NOTES.md B7): the data folder must belong to the
# postfix user; the sasldb must be readable by the postfix group; smtpd runs
# as postfix, so a unix milter socket and its folder must be reachable by
# that user; smtp-sink refuses to run as root without -u.

PF_REALM=${PF_REALM:-test.example}

postfix_setup() {
  local dir=$1 port=$2 subport=$3 milter=${4:-} sink=${5:-}
  PF_DIR=$dir
  PF_ETC=$dir/etc
  PF_LOG=$dir/maillog
  PF_PORT=$port
  PF_SUB_PORT=$subport
  if [ -z "$sink" ]; then sink=$(free_port); fi
  PF_SINK_PORT=$sink
  PF_SASLDB=$PF_ETC/sasl/sasldb2
  # Debian's Postfix reads $config_directory/sasl/smtpd.conf (seen with strace)
  mkdir -p "$PF_ETC/sasl" "$dir/queue" "$dir/data" "$dir/sink"
  chown postfix "$dir/data"
  chmod 755 "$dir" "$PF_ETC" "$PF_ETC/sasl"
  : > "$PF_LOG"

  cat > "$PF_ETC/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $PF_SASLDB
EOF

  local milter_line=""
  if [ -n "$milter" ]; then
    milter_line="smtpd_milters = { $milter, default_action=accept, command_timeout=10s }"
  fi
  cat > "$PF_ETC/main.cf" <<EOF
# private test instance written by t/lib/postfix.sh
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-bstest
maillog_file = $PF_LOG
maillog_file_prefixes = $dir
myhostname = smarthost.$PF_REALM
mydomain = $PF_REALM
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$PF_SINK_PORT
smtp_dns_support_level = disabled
disable_dns_lookups = yes
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $PF_ETC/sasl
smtpd_sasl_local_domain = $PF_REALM
smtpd_sasl_security_options = noanonymous
smtpd_tls_security_level = none
smtp_tls_security_level = none
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 40
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_recipient_limit = 10000
$milter_line
milter_connect_macros = j {daemon_name} {daemon_addr} v _ {client_addr} {client_port} {client_name} {client_ptr}
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer} {client_addr} {daemon_name}
EOF

  cat > "$PF_ETC/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$PF_PORT inet n - n - - smtpd
127.0.0.1:$PF_SUB_PORT inet n - n - - smtpd
  -o syslog_name=postfix-bstest/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  # creates the queue folders with the right owners
  postfix -c "$PF_ETC" check >>"$PF_DIR/setup.log" 2>&1
}

postfix_conf() {
  local kv
  for kv in "$@"; do postconf -c "$PF_ETC" -e "$kv"; done
}

postfix_adduser() {
  local user=$1 pass=$2
  printf '%s' "$pass" | saslpasswd2 -p -f "$PF_SASLDB" -c -u "$PF_REALM" "$user"
  chgrp postfix "$PF_SASLDB"
  chmod 640 "$PF_SASLDB"
}

_pf_sink_up() { python3 - "$PF_SINK_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1); s.close()
EOF
}
_pf_smtpd_up() { python3 - "$PF_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
ok = s.recv(512).startswith(b"220"); s.sendall(b"QUIT\r\n"); s.close()
sys.exit(0 if ok else 1)
EOF
}

postfix_start() {
  # smtp-sink: -u drops root; -c counts; with PF_SINK_DUMP=1 every message
  # is also written to a file in $PF_DIR/sink (-d) so tests can read headers
  local dump=()
  if [ "${PF_SINK_DUMP:-0}" = 1 ]; then
    chown postfix "$PF_DIR/sink"
    dump=(-d "$PF_DIR/sink/%H%M%S.")
  fi
  ( cd "$PF_DIR/sink" && exec setsid smtp-sink -u postfix "${dump[@]}" -c 127.0.0.1:"$PF_SINK_PORT" 256 \
      > "$PF_DIR/sink.out" 2>&1 < /dev/null ) &
  PF_SINK_PID=$!
  if declare -F at_exit >/dev/null; then at_exit postfix_stop; fi
  wait_for _pf_sink_up || { echo "# smtp-sink did not start" >&2; return 1; }
  postfix -c "$PF_ETC" start >>"$PF_DIR/setup.log" 2>&1 || {
    echo "# postfix start failed:" >&2; sed 's/^/#   /' "$PF_DIR/setup.log" "$PF_LOG" >&2; return 1; }
  wait_for _pf_smtpd_up || { echo "# postfix smtpd not answering" >&2; sed 's/^/#   /' "$PF_LOG" >&2; return 1; }
}

postfix_reload() { postfix -c "$PF_ETC" reload >>"$PF_DIR/setup.log" 2>&1; }

postfix_stop() {
  if [ -n "${PF_ETC:-}" ] && [ -f "$PF_DIR/queue/pid/master.pid" ]; then
    postfix -c "$PF_ETC" stop >>"$PF_DIR/setup.log" 2>&1 || true
    # 'postfix stop' returns before master has exited; wait for it
    local pid
    pid=$(tr -d ' ' < "$PF_DIR/queue/pid/master.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
      local i
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && postfix -c "$PF_ETC" abort >/dev/null 2>&1
    fi
  fi
  if [ -n "${PF_SINK_PID:-}" ]; then
    kill "$PF_SINK_PID" 2>/dev/null
    wait "$PF_SINK_PID" 2>/dev/null
    PF_SINK_PID=
  fi
  return 0
}

# Wait until Postfix's queue is empty (everything relayed to the sink).
postfix_wait_idle() {
  local secs=${1:-20} i
  for i in $(seq 1 $((secs * 10))); do
    if [ -z "$(find "$PF_DIR/queue/incoming" "$PF_DIR/queue/active" "$PF_DIR/queue/deferred" \
                 "$PF_DIR/queue/maildrop" -type f 2>/dev/null | head -1)" ]; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# Messages the sink has accepted: Postfix logs one "status=sent" per recipient
# delivery; count distinct queue ids relayed.
postfix_sink_count() {
  grep -E ' postfix-bstest/(smtp|relay)\[[0-9]+\]: [0-9A-F]+: .*status=sent' "$PF_LOG" \
    | sed -E 's/.*: ([0-9A-F]+): .*/\1/' | sort -u | wc -l
}
