#!/usr/bin/env bash
# Live capture in network namespaces the test makes itself: a "subscriber"
# namespace opens real TCP connections to port 25 of addresses in an "mx"
# namespace (15 accept, 10 have no listener and answer RST, 5 never
# answer); botsentry-flowd captures on the mx side of the veth pair with its
# BPF filter, drops privileges after opening the capture, and must raise
# exactly one direct_mx event.  Also: daemon mode with a pid file, SIGHUP
# reload, SIGTERM shutdown.  No packet leaves the machine.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/flowd.sh"
need_root
need_cmd ip python3 sqlite3
[ -x "$BOTSENTRY_FLOWD" ] || skip_all "botsentry-flowd not built"
grep -q "^#define HAVE_PCAP 1" "$top_builddir/config.h" || skip_all "built without libpcap"

sub=bs-sub-$$; mx=bs-mx-$$
ip netns add "$sub" 2>/dev/null || skip_all "network namespaces unavailable"
at_exit "ip netns del $sub"
ip netns add "$mx" || skip_all "network namespaces unavailable"
at_exit "ip netns del $mx"
ip link add vsub netns "$sub" type veth peer name vmx netns "$mx" || skip_all "veth unavailable"
S() { ip netns exec "$sub" "$@"; }
M() { ip netns exec "$mx" "$@"; }
S ip link set lo up; M ip link set lo up
S ip addr add 100.64.7.2/24 dev vsub
S ip link set vsub up
M ip link set vmx up
for i in $(seq 1 25); do M ip addr add 198.18.7.$i/32 dev vmx; done
S ip route add 198.18.7.0/24 dev vsub
M ip route add 100.64.7.0/24 dev vmx
# 198.18.7.200-204 exist nowhere: a static neighbour entry puts the SYNs on
# the wire, where nobody answers them
for i in $(seq 200 204); do S ip neigh add 198.18.7.$i lladdr 02:00:00:00:00:99 dev vsub; done

# the MX side: a listener on port 25 of .1-.15; .16-.25 have none (RST)
cat > "$T/mx.py" <<'PY'
import socket, sys, threading
socks = []
for i in range(1, 16):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.18.7.%d" % i, 25)); s.listen(16); socks.append(s)
def serve(s):
    while True:
        c, _ = s.accept(); c.sendall(b"220 mx.example ESMTP\r\n"); c.close()
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
open(sys.argv[1], "w").write("ready\n")
threading.Event().wait()
PY
# (ip netns exec execs the command: $! is its pid)
ip netns exec "$mx" python3 "$T/mx.py" "$T/mx.ready" & mxpid=$!
at_exit "kill $mxpid"
wait_for test -f "$T/mx.ready"; ok $? "the MX listener is up"
S python3 -c 'import socket; socket.create_connection(("198.18.7.1", 25), 2).close()'; ok $? "the namespaces are connected"

mkdir -p "$T/run"; chown nobody "$T/run" 2>/dev/null
flowd_conf "$T/bs.conf" "$T/run/bs.db" 'interfaces = {"vmx"}' 'syn_timeout = 2s' 'stats_interval = 10s' \
  "pid_file = \"$T/run/flowd.pid\""
sed -i "s|^state_dir = .*|state_dir = \"$T/run\"|; s|^secret_file = .*|secret_file = \"$T/run/secret\"|" "$T/bs.conf"
echo 'user = "nobody"' >> "$T/bs.conf"
flowd_db "$T/run/bs.db" "$T/bs.conf" || exit 1
printf 'prefix,subscriber,valid_from,valid_to\n100.64.7.0/24,erin,2020-01-01T00:00:00Z,\n' > "$T/l2.csv"
"$BOTSENTRY" -c "$T/bs.conf" leases import --format csv "$T/l2.csv" >/dev/null 2>&1
chown -R nobody "$T/run"

ip netns exec "$mx" "$BOTSENTRY_FLOWD" -c "$T/bs.conf" -f -S "$T/run/stats.json" >"$T/flowd.log" 2>&1 & fpid=$!
at_exit "kill $fpid"
wait_for grep -q 'status=started' "$T/flowd.log"; ok $? "flowd captures on the veth"
like "$(cat "$T/flowd.log")" 'pcap:vmx link=EN10MB .*filter=".*tcp dst port 25.*vlan and' "the BPF filter is set (with its VLAN half)"
like "$(cat "$T/flowd.log")" 'user=nobody .*privileges dropped' "privileges dropped after opening the capture"
is "$(awk '/^Uid:/ {print $2}' /proc/$fpid/status)" "$(id -u nobody)" "flowd runs as nobody"

# SIGHUP: reload, keep capturing
kill -HUP $fpid
wait_for grep -q 'signal=HUP action="configuration and leases reloaded' "$T/flowd.log"; ok $? "SIGHUP reloads the configuration"

# the subscriber: 30 attempts to 30 addresses, and some web noise
cat > "$T/sub.py" <<'PY'
import socket
res = {"est": 0, "refused": 0, "timeout": 0}
targets = ["198.18.7.%d" % i for i in list(range(1, 26)) + list(range(200, 205))]
for t in targets:
    s = socket.socket(); s.settimeout(0.4)
    try:
        s.connect((t, 25)); s.recv(64); res["est"] += 1
    except ConnectionRefusedError:
        res["refused"] += 1
    except OSError:
        res["timeout"] += 1
    s.close()
print("%(est)d %(refused)d %(timeout)d" % res)
PY
is "$(S python3 "$T/sub.py")" "15 10 5" "the subscriber made 15 connections, 10 were refused, 5 went unanswered"
wait_for has_events "$T/run/bs.db" 1; ok $? "an event arrives while flowd runs"
sleep 3   # past syn_timeout: the unanswered attempts resolve on the wall clock
kill -USR1 $fpid; sleep 0.5
kill -TERM $fpid; wait $fpid; is "$?" 0 "SIGTERM: flowd stops and exits 0"
is "$(events "$T/run/bs.db")" "100.64.7.2|erin|direct_mx" "exactly one direct_mx event, attributed to erin"
ev=$(q "$T/run/bs.db" "select evidence from events")
like "$ev" '"input":"pcap:vmx"' "evidence names the capture"
like "$ev" '"failed":([5-9]|10),' "refused attempts counted as failed"
st=$(cat "$T/run/stats.json")
like "$st" '"pcap:vmx":\{"received":[1-9][0-9]*,"dropped":0,' "pcap_stats: packets received, none dropped"
like "$st" '"established":15,"refused":10,"unanswered":5,' "outcomes told apart from the captured answers"
like "$st" '"retransmits":[0-9]+' "stats exported"
like "$(cat "$T/flowd.log")" 'status=stopped' "clean shutdown"
[ ! -e "$T/run/flowd.pid" ]; ok $? "the pid file is removed at exit"

# daemon mode: detaches, writes its pid file, stops on SIGTERM
M "$BOTSENTRY_FLOWD" -c "$T/bs.conf" >/dev/null 2>&1; is "$?" 0 "daemon mode: the starting process exits 0"
wait_for test -s "$T/run/flowd.pid"; ok $? "daemon mode: pid file written"
dpid=$(cat "$T/run/flowd.pid" 2>/dev/null)
at_exit "kill $dpid"
kill -0 "$dpid" 2>/dev/null; ok $? "daemon mode: the daemon runs"
kill -TERM "$dpid"
for i in $(seq 1 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$dpid" 2>/dev/null; ok $? "daemon mode: SIGTERM stops it"
done_testing
