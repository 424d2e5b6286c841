#!/usr/bin/env bash
# A real exporter: softflowd reads the same pcap fixture as t/flowd-pcap.sh
# and exports it to botsentry-flowd on loopback as IPFIX (TCP and UDP, with
# absolute millisecond times and with uptimes + systemInitTimeMilliseconds),
# NetFlow v9 (absolute and uptime times, through fixbuf's translator) and
# NetFlow v5 (our decoder).  The events must agree with the pcap path
# (v5 carries no IPv6: its events must agree on the IPv4 bot).
# softflowd: never -c with -r (it hangs); -a puts times on traffic time.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/flowd.sh"
need_cmd sqlite3 python3 softflowd
[ -x "$BOTSENTRY_FLOWD" ] || skip_all "botsentry-flowd not built"
grep -q "^#define HAVE_PCAP 1" "$top_builddir/config.h" || skip_all "built without libpcap (the reference path)"
grep -q "^#define HAVE_FIXBUF 1" "$top_builddir/config.h" || skip_all "built without libfixbuf"

$PCAPGEN fixture "$T/fixture.pcap" || exit 1

# the reference: the pcap path
flowd_conf "$T/ref.conf" "$T/ref.db"
flowd_db "$T/ref.db" "$T/ref.conf" || exit 1
"$BOTSENTRY_FLOWD" -c "$T/ref.conf" -r "$T/fixture.pcap" >/dev/null 2>&1
ref=$(events "$T/ref.db")
ref4=$(printf '%s\n' "$ref" | grep -v ':')
is "$(printf '%s\n' "$ref" | wc -l)" 2 "the pcap path gives two events"

stats_field() {   # stats_field FILE INPUT-PREFIX FIELD
  python3 - "$@" <<'PY' 2>/dev/null
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d["inputs"].items():
    if k.startswith(sys.argv[2]):
        print(v.get(sys.argv[3], 0))
PY
}

# run_export NAME KEY "LISTEN-LINES" "SOFTFLOWD ARGS" INPUT-PREFIX RECORDS-FIELD MIN-RECORDS
run_export() {
  local name=$1 listen=$2 sfargs=$3 prefix=$4 field=$5 want=$6
  local conf=$T/$name.conf db=$T/$name.db log=$T/$name.log pid i n
  flowd_conf "$conf" "$db" "$listen"
  flowd_db "$db" "$conf" || return 1
  "$BOTSENTRY_FLOWD" -c "$conf" -f -S "$T/$name.json" >"$log" 2>&1 &
  pid=$!
  at_exit "kill $pid"
  wait_for grep -q 'status=started' "$log" || { ok 1 "$name: flowd started"; cat "$log"; return 1; }
  # shellcheck disable=SC2086
  timeout 30 softflowd -r "$T/fixture.pcap" $sfargs >"$T/$name.sf" 2>&1
  ok $? "$name: softflowd $sfargs exported the fixture"
  n=0
  for i in $(seq 1 50); do
    kill -USR1 $pid; sleep 0.2
    n=$(stats_field "$T/$name.json" "$prefix" "$field"); n=${n:-0}
    [ "$n" -ge "$want" ] && break
  done
  ok $([ "$n" -ge "$want" ]; echo $?) "$name: flowd received the records ($n of $want)"
  kill -TERM $pid
  for i in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  ! kill -0 $pid 2>/dev/null; ok $? "$name: flowd stops on SIGTERM"
  wait $pid; is "$?" 0 "$name: and exits 0"
  like "$(cat "$log")" 'status=stopped' "$name: clean shutdown logged"
}

p1=$(free_port); p2=$(free_port); p3=$(free_port); p4=$(free_port); p5=$(free_port); p6=$(free_port)

run_export ipfix-tcp "ipfix_listen = \"127.0.0.1:$p1\"
  ipfix_transport = \"tcp\"" "-n 127.0.0.1:$p1 -v 10 -A milli -a -P tcp" ipfix: records 305
is "$(events "$T/ipfix-tcp.db")" "$ref" "IPFIX over TCP (-A milli): the same events as the pcap path"
like "$(q "$T/ipfix-tcp.db" "select evidence from events where client_ip='100.64.2.20'")" '"input":"ipfix:tcp:127.0.0.1:' "evidence names the IPFIX input"
is "$(q "$T/ipfix-tcp.db" "select (ts_ms >= 1700000500000 and ts_ms < 1700000510000) from events where client_ip='100.64.2.20'")" 1 \
  "IPFIX: the event carries the traffic time"

run_export ipfix-udp "ipfix_listen = \"127.0.0.1:$p2\"" "-n 127.0.0.1:$p2 -v 10 -A milli -a" ipfix: records 305
is "$(events "$T/ipfix-udp.db")" "$ref" "IPFIX over UDP: the same events"

run_export ipfix-uptime "ipfix_listen = \"127.0.0.1:$p3\"" "-n 127.0.0.1:$p3 -v 10 -a" ipfix: records 305
is "$(events "$T/ipfix-uptime.db")" "$ref" "IPFIX with uptimes and systemInitTimeMilliseconds (160): the same events"
like "$(cat "$T/ipfix-uptime.json")" '"options":[1-9]' "the options record with 160 was read"

run_export nf9 "netflow9_listen = \"127.0.0.1:$p4\"" "-n 127.0.0.1:$p4 -v 9 -A milli -a" netflow9: records 305
is "$(events "$T/nf9.db")" "$ref" "NetFlow v9 (-A milli) through the translator: the same events"

run_export nf9-uptime "netflow9_listen = \"127.0.0.1:$p5\"" "-n 127.0.0.1:$p5 -v 9 -a" netflow9: records 305
is "$(events "$T/nf9-uptime.db")" "$ref" "NetFlow v9 with uptimes (the translator's 160): the same events"

run_export nf5 "netflow5_listen = \"127.0.0.1:$p6\"" "-n 127.0.0.1:$p6 -v 5 -a" netflow5: records 255
is "$(events "$T/nf5.db")" "$ref4" "NetFlow v5: the same IPv4 event"
is "$(stats_field "$T/nf5.json" netflow5: lost)" 0 "NetFlow v5: no loss counted on loopback"
done_testing
