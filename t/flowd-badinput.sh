#!/usr/bin/env bash
# Bad input for botsentry-flowd: a truncated pcap file, packets cut by a
# small snap length, garbage UDP datagrams on the IPFIX, NetFlow v9 and v5
# ports, data whose template never arrives, flow records with impossible
# values.  Each kind must be counted, logged once, and never crash flowd;
# good input after the bad must still work.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/flowd.sh"
need_cmd sqlite3 python3
[ -x "$BOTSENTRY_FLOWD" ] || skip_all "botsentry-flowd not built"
grep -q "^#define HAVE_PCAP 1" "$top_builddir/config.h" || skip_all "built without libpcap"

$PCAPGEN fixture "$T/fixture.pcap" || exit 1
flowd_conf "$T/bs.conf" "$T/bs.db"
flowd_db "$T/bs.db" "$T/bs.conf" || exit 1

# 1. a file cut in the middle of a packet record, after the IPv4 bot's burst
size=$(stat -c %s "$T/fixture.pcap")
$PCAPGEN truncate "$T/fixture.pcap" "$T/cut.pcap" $((size * 3 / 5 + 7))
out=$("$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/cut.pcap" -S "$T/cut.json" 2>&1); st=$?
is "$st" 65 "a truncated pcap: exit 65 (EX_DATAERR)"
is "$(printf '%s\n' "$out" | grep -c 'bad_input=truncated_pcap')" 1 "a truncated pcap: logged once"
like "$out" 'cut.pcap bad_input=truncated_pcap detail=".*truncated' "a truncated pcap: the file and libpcap's reason are named"
like "$(cat "$T/cut.json")" '"truncated_pcap":1' "a truncated pcap: counted"
is "$(q "$T/bs.db" "select count(*) from events where client_ip='100.64.2.20'")" 1 "a truncated pcap: the packets before the cut still count"

# a file that is not a pcap at all
head -c 100 /dev/urandom > "$T/junk.pcap"
"$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/junk.pcap" >"$T/err" 2>&1; st=$?
is "$st" 66 "not a pcap file: exit 66"
like "$(cat "$T/err")" 'junk.pcap.*unreadable_pcap' "not a pcap file: named"

# 2. a 40-byte snap length cuts every TCP header
$PCAPGEN snapcut "$T/snap.pcap"
flowd_db "$T/bs.db" "$T/bs.conf"
out=$("$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/snap.pcap" -S "$T/snap.json" 2>&1); st=$?
is "$st" 0 "snaplen-cut packets: flowd goes on"
is "$(printf '%s\n' "$out" | grep -c 'bad_input=truncated_packet')" 1 "snaplen-cut packets: logged once"
like "$out" 'captured as 40' "snaplen-cut packets: the lengths are named"
like "$(cat "$T/snap.json")" '"truncated_packet":881' "snaplen-cut packets: every one counted"
is "$(q "$T/bs.db" "select count(*) from events")" 0 "snaplen-cut packets: no event from half-read headers"

# 3. IPv6 and VLAN-tagged frames decode (the fixture's IPv6 bot is in VLAN 100)
"$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/fixture.pcap" -S "$T/fx.json" >/dev/null 2>&1
like "$(cat "$T/fx.json")" '"bad_input":\{\}' "the fixture (IPv6, VLAN, ARP, UDP) has no bad input"
is "$(q "$T/bs.db" "select count(*) from events where client_ip='2001:db8:0:1ab::5'")" 1 "IPv6 in a VLAN: decoded and detected"

# 4-6. the collectors
p5=$(free_port); p9=$(free_port); pi=$(free_port)
flowd_conf "$T/c.conf" "$T/c.db" "netflow5_listen = \"127.0.0.1:$p5\"" "netflow9_listen = \"127.0.0.1:$p9\"" \
  "ipfix_listen = \"127.0.0.1:$pi\""
flowd_db "$T/c.db" "$T/c.conf"
"$BOTSENTRY_FLOWD" -c "$T/c.conf" -f -S "$T/c.json" >"$T/c.log" 2>&1 & fpid=$!
at_exit "kill $fpid"
wait_for grep -q 'status=started' "$T/c.log"; ok $? "collectors listening"

cat > "$T/send.py" <<'PY'
import os, socket, struct, sys, time
p5, p9, pi = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def send(port, data):
    s.sendto(data, ("127.0.0.1", port)); time.sleep(0.02)
now = int(time.time())
# garbage on every port: random bytes, short datagrams, the wrong protocol
for port in (p5, p9, pi):
    send(port, os.urandom(200))
    send(port, b"\x00\x05xyz")
    send(port, b"GET / HTTP/1.0\r\n\r\n" * 3)
send(p5, struct.pack("!HH", 5, 3) + b"\0" * 20 + b"\0" * 48)      # count 3, one record
send(pi, struct.pack("!HHIII", 9, 1, 0, 0, 0) + b"\0" * 20)      # v9 on the IPFIX port
# v9 data whose template never arrives (set 1024)
rec = struct.pack("!IIHHBB", 0x64400101, 0xC6120001, 40000, 25, 6, 2)
send(p9, struct.pack("!HHIIII", 9, 1, 1000, now, 1, 0) + struct.pack("!HH", 1024, 4 + len(rec)) + rec)
# IPFIX data whose template never arrives (set 300)
body = struct.pack("!HH", 300, 4 + len(rec)) + rec
send(pi, struct.pack("!HHIII", 10, 16 + len(body), now, 1, 0) + body)
# IPFIX: a template, then records with impossible values
fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (152, 8), (153, 8)]
tmpl = struct.pack("!HH", 301, len(fields)) + b"".join(struct.pack("!HH", i, l) for i, l in fields)
tset = struct.pack("!HH", 2, 4 + len(tmpl)) + tmpl
def irec(src, dst, sp, dp, flags, start, end):
    return struct.pack("!IIHHBBQQ", src, dst, sp, dp, 6, flags, start, end)
ms = now * 1000
recs = irec(0, 0xC6120001, 40000, 25, 2, ms, ms) \
     + irec(0x64400102, 0xC6120001, 40000, 25, 2, 4102444800000, 4102444800000) \
     + irec(0x64400102, 0xC6120001, 40000, 25, 2, ms, ms - 5000) \
     + irec(0x64400102, 0xC6120001, 0, 25, 2, ms, ms)
dset = struct.pack("!HH", 301, 4 + len(recs)) + recs
send(pi, struct.pack("!HHIII", 10, 16 + len(tset) + len(dset), now, 2, 0) + tset + dset)
# NetFlow v5 with impossible records: zero packets, end before start, future
def v5(seq, recs):
    h = struct.pack("!HHIIIIBBH", 5, len(recs), 100000, now, 0, seq, 0, 0, 0)
    return h + b"".join(recs)
def r5(src, dst, pk, octets, first, last, flags=2):
    return struct.pack("!IIIHHIIIIHHBBBBHHBBH", src, dst, 0, 0, 0, pk, octets, first, last,
                       40000, 25, 0, flags, 6, 0, 0, 0, 0, 0, 0)
send(p5, v5(0, [r5(0x64400103, 0xC6120001, 0, 0, 90000, 91000),
                r5(0x64400103, 0xC6120001, 3, 180, 95000, 90000),
                r5(0x64400103, 0xC6120001, 3, 180, 200000, 200000)]))
# then good NetFlow v5: a burst of 25 refused attempts from 100.64.1.10 (alice)
good = []
for i in range(25):
    good.append(r5(0x6440010A, 0xC6120100 + i, 2, 88, 90000 + i * 100, 90000 + i * 100))
    good.append(struct.pack("!IIIHHIIIIHHBBBBHHBBH", 0xC6120100 + i, 0x6440010A, 0, 0, 0, 1, 40, 90000 + i * 100,
                            90000 + i * 100, 25, 40000, 0, 0x14, 6, 0, 0, 0, 0, 0, 0))
send(p5, v5(3, good[:30]))
send(p5, v5(40, good[30:]))    # a sequence gap: 7 records lost
PY
python3 "$T/send.py" $p5 $p9 $pi; ok $? "bad datagrams sent"
for i in $(seq 1 30); do
  kill -USR1 $fpid; sleep 0.2
  grep -q '"datagrams":7,' "$T/c.json" 2>/dev/null && break
done
kill -0 $fpid; ok $? "flowd survives all of it"
wait_for has_events "$T/c.db" 1; ok $? "good input after bad still raises events"
kill -TERM $fpid; wait $fpid; is "$?" 0 "and stops cleanly"
js=$(cat "$T/c.json"); log=$(cat "$T/c.log")
is "$(events "$T/c.db")" "100.64.1.10|alice|direct_mx" "exactly the good burst's event"
like "$js" '"garbage_datagram":([1-9][0-9]*)' "garbage datagrams counted"
is "$(printf '%s\n' "$log" | grep -c 'bad_input=garbage_datagram')" 1 "garbage datagrams logged once"
like "$log" 'netflow5:127.0.0.1:[0-9]+ peer=127.0.0.1:[0-9]+ bad_input=garbage_datagram' "the peer is named"
like "$js" '"data_before_template":[1-9]' "data whose template never arrived: counted"
is "$(printf '%s\n' "$log" | grep -c 'bad_input=data_before_template')" 1 "data whose template never arrived: logged once"
like "$js" '"impossible_record":7' "impossible flow records counted (4 IPFIX, 3 NetFlow v5)"
is "$(printf '%s\n' "$log" | grep -c 'bad_input=impossible_record')" 1 "impossible records logged once"
like "$js" '"netflow5:127.0.0.1:[0-9]+":\{"datagrams":7,"records":[0-9]+,"bad_datagrams":4,"bad_records":3,"lost":7,' \
  "NetFlow v5: bad datagrams, bad records and the sequence gap counted"

# 7. garbage on an IPFIX TCP connection: that connection is dropped, the
# collector goes on and takes the next exporter
pt=$(free_port)
flowd_conf "$T/t.conf" "$T/t.db" "ipfix_listen = \"127.0.0.1:$pt\"" 'ipfix_transport = "tcp"'
flowd_db "$T/t.db" "$T/t.conf"
"$BOTSENTRY_FLOWD" -c "$T/t.conf" -f -S "$T/t.json" >"$T/t.log" 2>&1 & tpid=$!
at_exit "kill $tpid"
wait_for grep -q 'status=started' "$T/t.log"
python3 - "$pt" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x00\x0a\x00\x20" + b"\xff" * 28 + b"garbage that is not IPFIX at all" * 4)
s.settimeout(3)
try:
    print("closed" if s.recv(10) == b"" else "open")
except Exception:
    pass
PY
kill -0 $tpid; ok $? "garbage over IPFIX/TCP: flowd survives"
like "$(cat "$T/t.log")" 'connection closed after a bad message' "garbage over IPFIX/TCP: the connection is dropped and logged"
if command -v softflowd >/dev/null; then
  timeout 30 softflowd -r "$T/fixture.pcap" -n 127.0.0.1:$pt -v 10 -A milli -a -P tcp >/dev/null 2>&1
  wait_for has_events "$T/t.db" 2; ok $? "garbage over IPFIX/TCP: a good exporter afterwards is still collected"
fi
kill -TERM $tpid; wait $tpid; is "$?" 0 "garbage over IPFIX/TCP: clean stop"
done_testing
