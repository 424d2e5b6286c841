#!/usr/bin/env python3
"""pcapgen.py - write pcap fixtures for botsentry-flowd's tests and bench.

Usage:
  pcapgen.py fixture OUT.pcap        the scenario of t/flowd-pcap.sh (below)
  pcapgen.py big OUT.pcap N          N packets: mostly web noise, 1 in 8 a port-25 SYN
  pcapgen.py snapcut OUT.pcap        the fixture captured with a 40-byte snap length
  pcapgen.py truncate IN OUT BYTES   IN cut after BYTES bytes (a broken file)
  pcapgen.py sll OUT.pcap            a Linux cooked (SLL2) capture of one burst

The fixture, starting at 1700000400 (a 600 s boundary; 2023-11-14T22:20:00Z):
  - 100.64.1.10, a quiet subscriber: three complete SMTP sessions to three MXes
    over ten minutes, and web traffic;
  - 100.64.2.20, a bot: 40 attempts to 40 MXes in 8 s, a third completed,
    a third refused (RST), a third unanswered (SYN sent three times);
  - 2001:db8:0:1ab::5, an IPv6 bot in VLAN 100: 30 attempts to 30 MXes;
  - 100.64.9.5, a business customer (excluded): 40 attempts;
  - 198.51.100.25, the smarthost, relaying to 40 MXes (not a subscriber);
  - 100.64.3.30, a subscriber using the smarthost on 587 and 4 direct MXes;
  - noise: DNS over UDP, ARP, HTTPS.
Exactly two direct_mx events are expected: 100.64.2.20 and 2001:db8:0:1ab::5.
"""
import ipaddress
import struct
import sys

BASE = 1700000400.0


class Pcap:
    def __init__(self, linktype=1, snaplen=65535):
        self.linktype = linktype
        self.snaplen = snaplen
        self.pkts = []

    def add(self, ts, frame):
        self.pkts.append((ts, len(self.pkts), frame))

    def write(self, path):
        self.pkts.sort()
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, self.snaplen, self.linktype))
            for ts, _, frame in self.pkts:
                sec = int(ts)
                usec = int(round((ts - sec) * 1e6))
                if usec >= 1000000:
                    sec, usec = sec + 1, usec - 1000000
                cap = frame[: self.snaplen]
                f.write(struct.pack("<IIII", sec, usec, len(cap), len(frame)))
                f.write(cap)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp(src, dst, sport, dport, flags, seq=1000, ack=0, payload=b""):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    seg = hdr + payload
    if a.version == 4:
        pseudo = a.packed + b.packed + struct.pack("!BBH", 0, 6, len(seg))
    else:
        pseudo = a.packed + b.packed + struct.pack("!IxxxB", len(seg), 6)
    c = csum(pseudo + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ip(src, dst, proto, payload):
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version == 4:
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0, a.packed, b.packed)
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        return h + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, a.packed, b.packed) + payload


def eth(packet, version, vlan=None):
    et = 0x0800 if version == 4 else 0x86DD
    hdr = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    if vlan is not None:
        hdr += struct.pack("!HH", 0x8100, vlan)
    return hdr + struct.pack("!H", et) + packet


def frame(src, dst, sport, dport, flags, vlan=None, payload=b"", seq=1000, ack=0):
    v = ipaddress.ip_address(src).version
    return eth(ip(src, dst, 6, tcp(src, dst, sport, dport, flags, seq, ack, payload)), v, vlan)


S, A, R, F, P = 0x02, 0x10, 0x04, 0x01, 0x08


def conn(w, t, src, dst, sport, outcome, dport=25, vlan=None):
    """One connection attempt; outcome: est, refused, silent."""
    if outcome == "est":
        w.add(t, frame(src, dst, sport, dport, S, vlan))
        w.add(t + 0.020, frame(dst, src, dport, sport, S | A, vlan, seq=5000, ack=1001))
        w.add(t + 0.040, frame(src, dst, sport, dport, A, vlan, seq=1001, ack=5001))
        w.add(t + 0.060, frame(dst, src, dport, sport, P | A, vlan, b"220 mx ESMTP\r\n", 5001, 1001))
        w.add(t + 0.080, frame(src, dst, sport, dport, P | A, vlan, b"QUIT\r\n", 1001, 5015))
        w.add(t + 0.100, frame(dst, src, dport, sport, F | A, vlan, seq=5015, ack=1007))
        w.add(t + 0.120, frame(src, dst, sport, dport, F | A, vlan, seq=1007, ack=5016))
        w.add(t + 0.140, frame(dst, src, dport, sport, A, vlan, seq=5016, ack=1008))
    elif outcome == "refused":
        w.add(t, frame(src, dst, sport, dport, S, vlan))
        w.add(t + 0.020, frame(dst, src, dport, sport, R | A, vlan, seq=0, ack=1001))
    else:
        for d in (0.0, 1.0, 3.0):
            w.add(t + d, frame(src, dst, sport, dport, S, vlan))


def burst(w, t0, src, n, dst_fmt, spacing, vlan=None, outcomes=("est", "refused", "silent")):
    for i in range(n):
        conn(w, t0 + i * spacing, src, dst_fmt % (i + 1), 40000 + i, outcomes[i % len(outcomes)], vlan=vlan)


def fixture(w):
    quiet = "100.64.1.10"
    for i, mx in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
        conn(w, BASE + 10 + i * 200, quiet, mx, 50000 + i, "est")
        conn(w, BASE + 11 + i * 200, quiet, "203.0.113.80", 51000 + i, "est", dport=443)
    burst(w, BASE + 100, "100.64.2.20", 40, "198.18.0.%d", 0.2)
    burst(w, BASE + 130, "2001:db8:0:1ab::5", 30, "2001:db8:ffff::%x", 0.2, vlan=100)
    burst(w, BASE + 160, "100.64.9.5", 40, "198.18.1.%d", 0.2)
    burst(w, BASE + 190, "198.51.100.25", 40, "198.18.2.%d", 0.2, outcomes=("est",))
    conn(w, BASE + 220, "100.64.3.30", "198.51.100.25", 45000, "est", dport=587)
    burst(w, BASE + 221, "100.64.3.30", 4, "198.18.3.%d", 0.5)
    for i in range(20):
        w.add(BASE + 5 + i, eth(ip("100.64.1.10", "198.51.100.53", 17, udp(53000 + i, 53, b"\x12\x34" + b"\0" * 10)), 4))
    w.add(BASE + 1, b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x06" + b"\x00" * 28)


def big(w, n):
    """About n packets: 7 of 8 are HTTPS data, 1 of 8 a SYN to port 25
    from one of 50000 sources to one of 5000 MXes."""
    t = BASE
    i = 0
    while len(w.pkts) < n:
        t += 0.0001
        if i % 8 == 0:
            k = i // 8
            src = "100.%d.%d.%d" % (64 + (k // 65536) % 64, (k // 256) % 256, k % 256)
            dst = "198.18.%d.%d" % ((k * 7 // 256) % 20, (k * 7) % 256)
            w.add(t, frame(src, dst, 1024 + k % 60000, 25, S))
        else:
            w.add(t, frame("100.64.1.10", "203.0.113.80", 51000, 443, P | A, payload=b"x" * 100))
        i += 1


def sll(w):
    for i in range(30):
        src, dst = "100.64.2.21", "198.18.4.%d" % (i + 1)
        t = BASE + 300 + i * 0.1
        for ts, fl, a, b, sp, dp in ((t, S, src, dst, 41000 + i, 25), (t + 0.01, R | A, dst, src, 25, 41000 + i)):
            pkt = ip(a, b, 6, tcp(a, b, sp, dp, fl))
            hdr = struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 4 if fl == S else 0, 6, b"\x02\0\0\0\0\x01\0\0")
            w.add(ts, hdr + pkt)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 64
    cmd, out = argv[1], argv[2]
    if cmd == "fixture":
        w = Pcap()
        fixture(w)
    elif cmd == "snapcut":
        w = Pcap(snaplen=40)
        fixture(w)
    elif cmd == "big":
        w = Pcap()
        big(w, int(argv[3]))
    elif cmd == "sll":
        w = Pcap(linktype=276)
        sll(w)
    elif cmd == "truncate":
        data = open(argv[2], "rb").read()
        open(argv[3], "wb").write(data[: int(argv[4])])
        return 0
    else:
        sys.stderr.write(__doc__)
        return 64
    w.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
