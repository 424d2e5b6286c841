#!/usr/bin/env python3
"""replay.py - labelled subscriber populations played through the real
botsentry programs, scored against their labels (issue 9).

Usage:
  replay.py run [--population small|full] [--seed N] [--build DIR]
                [--out DIR] [--set SECTION|KEY=VALUE ...] [--keep]
  replay.py check RESULT.json      assert the issue's targets (exit 1 if not)
  replay.py plot OUT               draw OUT's figures again from OUT/result.json

`run` generates a population (profiles below, each with parameters), turns
it into three traffic streams and plays them through the real programs,
all writing into one fresh SQLite abuse database:
  - smarthost traffic through the milter protocol: botsentry-milter is
    started under libfaketime (Debian package faketime) with an offset
    file, and bs-milter-replay (the project's own milter client) is fed
    one session at a time on a pipe; before each session the runner moves
    the milter's clock to the session's simulated time.  So the milter's
    sliding windows, refire timers and event times run on simulated time,
    hours in seconds, while every byte goes through libmilter.
  - direct-to-MX traffic as a pcap file read by botsentry-flowd -r (flowd
    takes time from the packets);
  - SMTP AUTH as Postfix log lines read by botsentry-logwatch -r (time
    from the lines, format of Postfix 3.7 as in the shared samples).
Then it reads the events from the database, recomputes each subscriber's
decayed score over time exactly as lib/correlate.c does (to know when each
level was first reached, which the incidents table does not keep), checks
the final levels against `botsentry incidents list --json`, and writes
OUT/result.json, OUT/table.txt, OUT/detect-vs-rate.svg and
OUT/fp-vs-threshold.svg.

Nothing leaves the machine: unix socket, files, no DNS (SPF checks are off:
libspf2 would ask the system resolver; see bench/replay.md).

Profiles (label: what it is; channel):
  residential  a few messages a day, one HELO (a PC name, a Thunderbird
               style [192.168.x.y] literal, smtpclient.apple or localhost),
               its own isp.example address, SASL login; milter + log
  business     small business: newsletter runs of hundreds of one-recipient
               messages from its own domain, one HELO, static address; milter
  listserver   mailing-list server on a static address: posts expanded to
               ~150 members, constant bounce address; milter
  webmail      webmail only: no SMTP at all (web traffic in the pcap)
  own_mx       customer with its own MX (port 25 to many MXes), excluded
               by flow|exclude; pcap
  bot_fast     infected PC with the subscriber's own credentials: bursts of
               20..600 messages/min to many domains; milter
  bot_slow     low and slow: 0.1..2 messages/min, 1..4 recipients, to a
               small or a large pool of recipient domains; milter
  bot_helo     HELO randomizer: a fresh random HELO every connection; milter
  bot_forger   sender forger: envelope sender and From: in brand domains;
               milter
  bot_direct   direct-to-MX bot: SYNs to port 25 of many MXes, 20..300
               attempts/min (fast) ; pcap
  bot_direct_slow  the same at 1..10 attempts/min; pcap
  stuffing     credential stuffing: one source trying a new login every
               few seconds (external sources and infected subscribers); log
  compromised  an account whose password is in a botnet's hands: failures
               from several addresses, then logins from many networks and
               spam from them; log + milter
DKIM replayers are not generated: bs-milter-replay sends a fixed header set
and cannot carry a DKIM-Signature (see bench/replay.md).
"""
import argparse
import importlib.util
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1")
SMARTHOST_IP = "198.51.100.25"
REALM = "isp.example"
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

# Recipient domains: a few big mailbox providers take most of the mail of
# ordinary people; the long tail is what bots hitting harvested lists reach.
BIG = ["gmail.example", "yahoo.example", "outlook.example", "gmx.example",
       "web.example", "icloud.example", "aol.example", "orange.example"]


def tail_domain(rng):
    return "d%d.example" % rng.randrange(1, 5000)


def family_domain(rng):
    """A recipient domain as ordinary people's mail has them."""
    return rng.choice(BIG) if rng.random() < 0.7 else "f%d.example" % rng.randrange(1, 60)


# ------------------------------------------------------------------ populations

POPULATIONS = {
    # the test suite's: small, one simulated hour and a half, < 1 min real
    "small": dict(hours=1.5, residential=24, business=2, listserver=1, webmail=3, own_mx=1,
                  bot_fast=[25, 60, 200], bot_slow=[0.5], bot_helo=[2.0], bot_forger=[1.0],
                  bot_direct=[20, 60, 300], bot_direct_slow=[], stuffing=[6, 20, 60],
                  compromised=1),
    # the published figures: a simulated day
    "full": dict(hours=24, residential=1000, business=30, listserver=8, webmail=100, own_mx=8,
                 bot_fast=[12, 20, 30, 45, 60, 90, 120, 200, 300, 600],
                 bot_slow=[0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 1.6, 2.0],
                 bot_helo=[0.5, 1, 2, 4],
                 bot_forger=[0.2, 0.5, 1, 2],
                 bot_direct=[20, 30, 60, 120, 300],
                 bot_direct_slow=[1, 2, 5, 10], both_pools=True,
                 stuffing=[2, 6, 12, 30, 60, 120],
                 compromised=3),
}


class Sub:
    def __init__(self, sid, profile, ip, **kw):
        self.id = sid
        self.profile = profile
        self.ip = ip
        self.onset = None      # bots: first malicious traffic (sim seconds)
        self.rate = None       # bots: the family's rate parameter
        self.rate_unit = ""
        self.params = kw


class World:
    """The generated population and its three traffic streams."""

    def __init__(self, pop, seed, t0):
        self.rng = random.Random(seed)
        self.pop = pop
        self.t0 = t0                       # simulated epoch (unix seconds)
        self.dur = int(pop["hours"] * 3600)
        self.subs = []
        self.sessions = []                 # (t, seq, sub_id, [lines])
        self.log = []                      # (t, seq, line)
        self.flows = []                    # (t, kind, args)
        self.attackers = []                # external stuffing sources (Sub)
        self.failures = {}                 # source ip -> [t of each failure]
        self._seq = 0
        self._ipn = 0
        self._qid = 0x10000
        self.bulk_declared = False
        self.spf = True

    # -- helpers
    def seq(self):
        self._seq += 1
        return self._seq

    def new_ip(self):
        self._ipn += 1
        return "100.64.%d.%d" % (1 + self._ipn // 250, 1 + self._ipn % 250)

    def add(self, profile, **kw):
        n = sum(1 for s in self.subs if s.profile == profile) + 1
        s = Sub("%s%03d" % (profile.replace("_", ""), n), profile, self.new_ip(), **kw)
        self.subs.append(s)
        return s

    def session(self, t, sub, ip, helo, msgs, auth=True):
        lines = ["session ip=%s%s helo=%s label=%s" % (
            ip, (" auth=%s" % sub.id) if auth else "", helo, sub.id)]
        for m in msgs:
            lines.append("  mail " + m)
        lines.append("end")
        self.sessions.append((t, self.seq(), sub.id, lines))
        if auth:
            self.login_ok(t, sub.id, ip)

    def qid(self):
        self._qid += 1
        return "%X" % (self._qid * 7919 % 0xFFFFFFFFF)

    def stamp(self, t):
        tm = time.gmtime(self.t0 + t)
        return "%s %2d %02d:%02d:%02d" % (MONTHS[tm.tm_mon - 1], tm.tm_mday, tm.tm_hour,
                                           tm.tm_min, tm.tm_sec)

    def client(self, ip):
        return "dyn-%s.pool.isp.example[%s]" % (ip.replace(".", "-"), ip) \
            if ip.startswith("100.64.") else "unknown[%s]" % ip

    def login_ok(self, t, login, ip):
        self.log.append((t, self.seq(), "%s smarthost postfix/submission/smtpd[%d]: %s: client=%s, "
                         "sasl_method=PLAIN, sasl_username=%s@%s" % (
                             self.stamp(t), 20000 + self._seq % 9000, self.qid(), self.client(ip),
                             login, REALM)))

    def login_fail(self, t, login, ip, mech="LOGIN"):
        self.log.append((t, self.seq(), "%s smarthost postfix/submission/smtpd[%d]: warning: %s: "
                         "SASL %s authentication failed: authentication failure, "
                         "sasl_username=%s@%s" % (self.stamp(t), 20000 + self._seq % 9000,
                                                  self.client(ip), mech, login, REALM)))
        self.failures.setdefault(ip, []).append(t)

    # -- profiles
    def residential(self):
        rng = self.rng
        kind = rng.random()
        s = self.add("residential")
        if kind < 0.4:
            helo = "DESKTOP-%05X" % rng.randrange(0x100000)
        elif kind < 0.7:
            helo = "[192.168.%d.%d]" % (rng.choice((0, 1, 178)), rng.randrange(2, 250))
        elif kind < 0.9:
            helo = "smtpclient.apple"
        else:
            helo = "localhost"
        s.params["helo"] = helo
        helos = [helo]
        if rng.random() < 0.25:                  # a phone besides the computer
            helos.append(rng.choice(("localhost", "[10.%d.%d.%d]" % (
                rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)), "smtpclient.apple")))
            s.params["helo2"] = helos[1]
        per_day = rng.choice((2, 4, 6, 10, 20))
        n = max(1, int(round(per_day * self.dur / 86400 * rng.uniform(0.5, 3))))
        t = rng.uniform(0, self.dur / max(n, 1))
        for _ in range(n):
            if t >= self.dur:
                break
            if rng.random() < 0.05:           # a mistyped password, then it works
                self.login_fail(t - 5, s.id, s.ip, "PLAIN")
            k = rng.randrange(1, 4)
            msgs = []
            for _m in range(1 if rng.random() < 0.8 else 2):
                to = ",".join("p%d@%s" % (rng.randrange(1000), family_domain(rng)) for _ in range(k))
                msgs.append("from=%s@%s to=%s" % (s.id, REALM, to))
            self.session(t, s, s.ip, rng.choice(helos), msgs)
            self.flows.append((t - 0.5, "conn", (s.ip, SMARTHOST_IP, 587, "est")))
            t += rng.expovariate(n / self.dur) + 60
        # some people's mail clients talk to a friend's server on port 25
        if rng.random() < 0.1:
            for i in range(rng.randrange(1, 4)):
                self.flows.append((rng.uniform(0, self.dur), "conn",
                                   (s.ip, "192.0.2.%d" % (i + 1), 25, "est")))
        self.web(s.ip)

    def web(self, ip):
        for _ in range(3):
            self.flows.append((self.rng.uniform(0, self.dur), "conn", (ip, "203.0.113.80", 443, "est")))

    def business(self):
        rng = self.rng
        s = self.add("business")
        dom = "%s.example" % s.id
        s.params.update(domain=dom, helo="mail.%s" % dom)
        runs = max(1, int(self.dur // (4 * 3600)))
        for r in range(runs):
            size = rng.randrange(150, 500)
            pace = rng.choice((6, 10, 20))           # messages a minute
            t = rng.uniform(600, max(700, self.dur - size * 60.0 / pace - 600)) if r == 0 else \
                t + 4 * 3600
            # the newsletter: a session per 10 messages, one recipient each
            i = 0
            while i < size:
                k = min(10, size - i)
                msgs = ["from=news@%s to=c%d@%s subject=Newsletter" % (dom, i + j, family_domain(rng)
                        if rng.random() < 0.6 else tail_domain(rng)) for j in range(k)]
                self.session(t, s, s.ip, s.params["helo"], msgs)
                t += k * 60.0 / pace
                i += k
        # ordinary office mail through the day
        for _ in range(int(30 * self.dur / 86400) + 1):
            t = rng.uniform(0, self.dur)
            self.session(t, s, s.ip, s.params["helo"],
                         ["from=office@%s to=x%d@%s" % (dom, rng.randrange(999), family_domain(rng))])
        self.web(s.ip)

    def listserver(self):
        rng = self.rng
        s = self.add("listserver")
        dom = "lists.%s.example" % s.id
        s.params.update(domain=dom, helo=dom)
        members = [("m%d@%s" % (i, family_domain(rng) if rng.random() < 0.5 else tail_domain(rng)))
                   for i in range(rng.randrange(100, 200))]
        posts = max(1, int(round(rng.choice((8, 15, 25)) * self.dur / 86400)))
        for _ in range(posts):
            t = rng.uniform(0, self.dur)
            # Mailman-style: members batched by domain, up to 10 a message
            batch = sorted(members, key=lambda a: a.split("@")[1])
            msgs = []
            for i in range(0, len(batch), 10):
                msgs.append("from=club-bounces@%s to=%s" % (dom, ",".join(batch[i:i + 10])))
            for i in range(0, len(msgs), 5):
                self.session(t + i, s, s.ip, s.params["helo"], msgs[i:i + 5])

    def webmail(self):
        s = self.add("webmail")
        self.web(s.ip)

    def own_mx(self):
        rng = self.rng
        s = self.add("own_mx")
        for _ in range(int(200 * self.dur / 3600)):
            self.flows.append((rng.uniform(0, self.dur), "conn",
                               (s.ip, "198.18.%d.%d" % (rng.randrange(10, 200), rng.randrange(1, 255)),
                                25, "est")))

    def onset(self):
        return self.rng.uniform(0.25, 0.45) * self.dur

    def bot_fast(self, per_min):
        rng = self.rng
        s = self.add("bot_fast")
        s.rate, s.rate_unit = per_min, "messages/min"
        helo = "DESKTOP-%05X" % rng.randrange(0x100000)
        # before: an ordinary subscriber's mail
        self.session(rng.uniform(0, 600), s, s.ip, helo,
                     ["from=%s@%s to=a@%s" % (s.id, REALM, family_domain(rng))])
        s.onset = t = self.onset()
        end = t + min(1200, 4000 * 60.0 / per_min)
        per_sess = max(1, min(20, int(per_min / 6)))
        while t < end:
            msgs = ["from=%s@%s to=u{n}@d{r}.example rcpts=%d subject=Offer" % (
                s.id, REALM, rng.randrange(1, 6)) for _ in range(per_sess)]
            self.session(t, s, s.ip, helo, msgs)
            t += per_sess * 60.0 / per_min

    def bot_slow(self, per_min, domains):
        rng = self.rng
        s = self.add("bot_slow")
        s.rate, s.rate_unit = per_min, "messages/min"
        helo = "DESKTOP-%05X" % rng.randrange(0x100000)
        pool = domains
        s.params["domain_pool"] = "big8" if pool else "tail"
        s.onset = t = self.onset()
        while t < self.dur:
            k = rng.randrange(1, 5)
            if pool:
                to = ",".join("v%d@%s" % (rng.randrange(99999), rng.choice(pool)) for _ in range(k))
                self.session(t, s, s.ip, helo, ["from=%s@%s to=%s" % (s.id, REALM, to)])
            else:
                self.session(t, s, s.ip, helo, ["from=%s@%s to=v{n}@d{r}.example rcpts=%d" % (
                    s.id, REALM, k)])
            t += rng.expovariate(per_min / 60.0)

    def bot_helo(self, per_min):
        rng = self.rng
        s = self.add("bot_helo")
        s.rate, s.rate_unit = per_min, "connections/min"
        s.onset = t = self.onset()
        while t < self.dur:
            self.session(t, s, s.ip, "%s{r}" % rng.choice(("WIN-", "host-", "PC")),
                         ["from=%s@%s to=w{n}@%s" % (s.id, REALM, rng.choice(BIG))], auth=False)
            t += rng.expovariate(per_min / 60.0)

    def bot_forger(self, per_min):
        rng = self.rng
        s = self.add("bot_forger")
        s.rate, s.rate_unit = per_min, "messages/min"
        helo = "DESKTOP-%05X" % rng.randrange(0x100000)
        s.onset = t = self.onset()
        while t < self.dur:
            brand = rng.choice(("paypal", "bank", "dhl", "amazon", "netflix"))
            self.session(t, s, s.ip, helo, [
                "from=service{r}@%s-alerts.example to=w{n}@%s fromhdr=\"%s <service@%s.example>\""
                % (brand, rng.choice(BIG), brand, brand)], auth=False)
            t += rng.expovariate(per_min / 60.0)

    def bot_direct(self, per_min, family="bot_direct"):
        rng = self.rng
        s = self.add(family)
        s.rate, s.rate_unit = per_min, "attempts/min"
        self.web(s.ip)
        s.onset = t = self.onset()
        end = min(self.dur, t + 1800)
        i = 0
        while t < end:
            out = ("est", "refused", "silent")[i % 3]
            self.flows.append((t, "conn", (s.ip, "198.18.%d.%d" % (rng.randrange(10, 250),
                                                                   rng.randrange(1, 255)), 25, out)))
            t += 60.0 / per_min
            i += 1

    def stuffing(self, per_min, external=True):
        rng = self.rng
        if external:
            n = len(self.attackers) + 1
            s = Sub("attacker%03d" % n, "stuffing", "203.0.113.%d" % (10 + n))
            self.attackers.append(s)
        else:
            s = self.add("stuffing")
        s.rate, s.rate_unit = per_min, "failures/min"
        s.params["external"] = external
        logins = [x.id for x in self.subs if x.profile == "residential"] + \
            ["admin", "info", "test", "support", "office", "sales", "webmaster", "user", "mail"]
        rng.shuffle(logins)
        s.onset = t = self.onset()
        for i in range(40):
            self.login_fail(t, logins[i % len(logins)], s.ip, rng.choice(("LOGIN", "PLAIN")))
            t += 60.0 / per_min

    def compromised(self):
        rng = self.rng
        s = self.add("compromised")
        s.params["helo"] = "DESKTOP-%05X" % rng.randrange(0x100000)
        self.session(rng.uniform(0, 600), s, s.ip, s.params["helo"],
                     ["from=%s@%s to=a@%s" % (s.id, REALM, family_domain(rng))])
        s.onset = t = self.onset()
        s.rate, s.rate_unit = 12, "networks/30min"
        bots = ["198.18.%d.%d" % (rng.randrange(100, 250), rng.randrange(1, 255)) for _ in range(12)]
        for ip in bots[:6]:                     # testing the password
            self.login_fail(t, s.id, ip)
            t += rng.uniform(5, 60)
        for k in range(3):                      # the spam runs from every bot
            for ip in bots:
                self.session(t, s, ip, "[%s]" % ip, ["from=%s@%s to=x{n}@%s rcpts=3" % (
                    s.id, REALM, rng.choice(BIG))])
                t += rng.uniform(10, 60)

    def build(self):
        p = self.pop
        for _ in range(p["residential"]):
            self.residential()
        for _ in range(p["business"]):
            self.business()
        for _ in range(p["listserver"]):
            self.listserver()
        for _ in range(p["webmail"]):
            self.webmail()
        for _ in range(p["own_mx"]):
            self.own_mx()
        for r in p["bot_fast"]:
            self.bot_fast(r)
        for i, r in enumerate(p["bot_slow"]):
            for pool in ((BIG, []) if p.get("both_pools") else ((BIG, [])[i % 2],)):
                self.bot_slow(r, pool)
        for r in p["bot_helo"]:
            self.bot_helo(r)
        for r in p["bot_forger"]:
            self.bot_forger(r)
        for r in p["bot_direct"]:
            self.bot_direct(r)
        for r in p["bot_direct_slow"]:
            self.bot_direct(r, "bot_direct_slow")
        for i, r in enumerate(p["stuffing"]):
            self.stuffing(r, external=(i % 3 != 2))
        for _ in range(p["compromised"]):
            self.compromised()
        # the smarthost relaying everyone's mail: port 25 to many MXes
        for _ in range(int(100 * self.dur / 3600)):
            self.flows.append((self.rng.uniform(0, self.dur), "conn",
                               (SMARTHOST_IP, "198.18.%d.%d" % (self.rng.randrange(1, 250),
                                                                self.rng.randrange(1, 255)), 25, "est")))
        self.sessions.sort()
        self.log.sort()
        self.flows.sort(key=lambda f: f[0])

    # -- writers
    def write_pcap(self, path):
        sys.dont_write_bytecode = True          # no __pycache__ in the source tree
        spec = importlib.util.spec_from_file_location("pcapgen", os.path.join(TOP, "t", "pcapgen.py"))
        pg = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(pg)
        w = pg.Pcap()
        port = 30000
        for t, _kind, (src, dst, dport, outcome) in self.flows:
            port = port + 1 if port < 60000 else 30000
            pg.conn(w, self.t0 + t, src, dst, port, outcome, dport=dport)
        w.write(path)

    def write_zone(self, path):
        """SPF records: the ISP's, the businesses' and lists' (including
        the smarthost), and the brands the forgers abuse (-all)."""
        z = {REALM: ["v=spf1 ip4:%s -all" % SMARTHOST_IP]}
        for s in self.subs:
            if s.profile in ("business", "listserver"):
                z[s.params["domain"]] = ["v=spf1 mx ip4:%s ~all" % SMARTHOST_IP]
        for b in ("paypal", "bank", "dhl", "amazon", "netflix"):
            z["%s-alerts.example" % b] = ["v=spf1 -all"]
            z["%s.example" % b] = ["v=spf1 include:_spf.%s.example -all" % b]
            z["_spf.%s.example" % b] = ["v=spf1 ip4:192.0.2.0/24 -all"]
        with open(path, "w") as f:
            json.dump(z, f, indent=1)

    def write_log(self, path):
        with open(path, "w") as f:
            for _t, _s, line in self.log:
                f.write(line + "\n")


# ------------------------------------------------------------------ running

def find_build(arg):
    cands = [arg] if arg else [os.path.join(TOP, "_build", d) for d in
                               sorted(os.listdir(os.path.join(TOP, "_build")))] \
        if os.path.isdir(os.path.join(TOP, "_build")) else []
    if not arg:
        cands.insert(0, os.getcwd())
    for b in cands:
        if b and all(os.access(os.path.join(b, p), os.X_OK) for p in
                     ("milter/botsentry-milter", "milter/bs-milter-replay", "flow/botsentry-flowd",
                      "logwatch/botsentry-logwatch", "cli/botsentry")):
            return os.path.abspath(b)
    sys.exit("replay.py: no build with all five programs (give --build DIR)")


def faketime_lib():
    for p in FAKETIME_LIBS:
        if os.path.exists(p):
            return p
    sys.exit("replay.py: libfaketime not found (apt-get install faketime)")


def write_conf(path, d, world, extra):
    lines = [
        'node_name = "replay"',
        'database = "sqlite:%s/botsentry.db"' % d,
        'state_dir = "%s"' % d,
        'secret_file = "%s/secret"' % d,
        'log_level = "notice"',          # not a line per message: runs write less
        "leases {",
    ]
    for s in world.subs:
        lines.append('  static "%s/32" { subscriber = "%s" }' % (s.ip, s.id))
    lines += [
        "}",
        "milter {",
        '  socket = "unix:%s/milter.sock"' % d,
        '  pid_file = "%s/milter.pid"' % d,
        '  hostnames = { "smarthost.isp.example" }',
        '  own_domains = { "isp.example" }',
        '  outbound_addresses = { "%s" }' % SMARTHOST_IP,
    ]
    if not world.spf:
        lines.append("  sender { spf = false }")
    # with SPF (a DNS server in the milter's namespace) the businesses' and
    # lists' domains pass SPF for the smarthost and need no declaration;
    # without, they are declared, which is what a passing check allows
    for s in world.subs:
        if s.profile in ("business", "listserver"):
            decl = [] if world.spf else ['domains = { "%s" }' % s.params["domain"]]
            if world.bulk_declared:
                decl.append("bulk = true")
            if decl:
                lines.append('  subscriber "%s" { %s }' % (s.id, " ".join(decl)))
    lines += [
        "}",
        "flow {",
        '  subscriber_prefixes = { "100.64.0.0/10" }',
        '  smarthosts = { "%s" }' % SMARTHOST_IP,
        "  exclude = { %s }" % ", ".join('"%s/32"' % s.ip for s in world.subs if s.profile == "own_mx"),
        "}",
        "logwatch {",
        '  log_file = "%s/mail.log"' % d,
        '  timezone = "UTC"',
        '  login_realm = "@%s"' % REALM,
        "}",
    ]
    text = "\n".join(lines) + "\n"
    # --set section|key=value: appended as a second section block is not
    # possible in libconfuse; rewrite in place instead
    for kv in extra:
        key, val = kv.split("=", 1)
        parts = key.split("|")
        text = set_key(text, parts, val)
    with open(path, "w") as f:
        f.write(text)


def set_key(text, parts, val):
    """Put `key = val` into the named (nested) section: the innermost
    sections are written inline, the top one is reused when present."""
    inner = "%s = %s" % (parts[-1], val)
    for sec in reversed(parts[1:-1]):
        inner = "%s { %s }" % (sec, inner)
    if len(parts) == 1:
        return inner + "\n" + text
    head = "%s {\n" % parts[0]
    if head in text:
        return text.replace(head, head + "  " + inner + "\n", 1)
    return text + head + "  " + inner + "\n}\n"


class Clock:
    """The milter's simulated clock: an offset file libfaketime reads on
    every time call (FAKETIME_NO_CACHE); written atomically."""

    def __init__(self, path, t0):
        self.path = path
        self.off = None
        self.set(t0)

    def set(self, t):
        now = time.time()
        if self.off is not None and t <= now + self.off:
            return
        self.off = int(math.ceil(t - now))
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%+ds\n" % self.off)
        os.rename(tmp, self.path)


def preload(program):
    """LD_PRELOAD for the milter: libfaketime, after the sanitizer runtime
    when the build has one (ASan insists on coming first)."""
    libs = [faketime_lib()]
    try:
        out = subprocess.run(["ldd", program], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) >= 3 and parts[0].startswith("libasan.so") and parts[2].startswith("/"):
            libs.insert(0, parts[2])
    return ":".join(libs)


def run_milter(build, d, world, conf):
    log = open(os.path.join(d, "milter.log"), "w")
    clock = Clock(os.path.join(d, "faketime"), world.t0)
    milter = [os.path.join(build, "milter/botsentry-milter"), "-c", conf, "-f"]
    env = dict(os.environ, LD_PRELOAD=preload(milter[0]), FAKETIME_TIMESTAMP_FILE=clock.path,
               FAKETIME_NO_CACHE="1", TZ="UTC")
    sock = os.path.join(d, "milter.sock")
    if world.spf:
        # own network and mount namespaces: loopback up, our resolv.conf,
        # the zone's DNS server on 127.0.0.1:53, then exec the milter (only
        # it under libfaketime); the unix socket is a file, reachable from here
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        script = ('ip link set lo up && mount --bind "$D/resolv.conf" /etc/resolv.conf && '
                  '{ python3 "$SELF" dns "$D/zone.json" $$ >"$D/dns.log" 2>&1 & } && sleep 0.3 && '
                  'exec env LD_PRELOAD="$FT_LIB" "$@"')
        env = dict(os.environ, FAKETIME_TIMESTAMP_FILE=clock.path, FAKETIME_NO_CACHE="1", TZ="UTC",
                   D=d, SELF=os.path.abspath(__file__), FT_LIB=preload(milter[0]))
        env.pop("LD_PRELOAD", None)
        milter = ["unshare", "-n", "-m", "--propagation", "private", "sh", "-c", script, "sh"] + milter
    m = subprocess.Popen(milter, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            if m.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(sock):
            raise RuntimeError("botsentry-milter did not start; see %s/milter.log" % d)
        cl = subprocess.Popen(["stdbuf", "-oL", os.path.join(build, "milter/bs-milter-replay"), "-q",
                               "-s", "unix:" + sock, "/dev/stdin"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                              # stdbuf preloads its library: a sanitizer build must not mind
                              env=dict(os.environ, ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") +
                                                                 ":verify_asan_link_order=0").lstrip(":")))
        played = 0
        for t, _seq, _sid, lines in world.sessions:
            clock.set(world.t0 + t)
            cl.stdin.write("\n".join(lines) + "\n")
            cl.stdin.flush()
            ans = cl.stdout.readline()
            if not ans:
                raise RuntimeError("bs-milter-replay stopped after %d sessions" % played)
            played += 1
        cl.stdin.close()
        cl.stdout.read()
        if cl.wait() != 0:
            raise RuntimeError("bs-milter-replay failed")
        # let the last sessions' events reach the writer, then stop
        clock.set(world.t0 + world.dur)
    finally:
        m.send_signal(signal.SIGTERM)
        try:
            m.wait(timeout=30)
        except subprocess.TimeoutExpired:
            m.kill()
            m.wait()
        log.close()
    return played


def run_cmd(args, logpath, env=None):
    with open(logpath, "w") as log:
        r = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d; see %s" % (os.path.basename(args[0]), r.returncode, logpath))



# ------------------------------------------------------------------ DNS for SPF

def dns_serve(zone_path, watch_pid):
    """A loopback DNS server for the milter's network namespace: TXT records
    from a JSON zone {domain: [txt, ...]}, NXDOMAIN for names not in it.
    Exits when process watch_pid is gone."""
    import socket
    import struct
    with open(zone_path) as f:
        zone = {k.lower().rstrip("."): v for k, v in json.load(f).items()}
    sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sk.bind(("127.0.0.1", 53))
    sk.settimeout(1.0)
    while True:
        try:
            os.kill(watch_pid, 0)
        except OSError:
            return 0
        try:
            q, peer = sk.recvfrom(2048)
        except socket.timeout:
            continue
        if len(q) < 17:
            continue
        qid, flags = struct.unpack("!HH", q[:4])
        i, labels = 12, []
        while i < len(q) and q[i] != 0 and len(labels) < 64:
            n = q[i]
            labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        if i + 5 > len(q):
            continue
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        answers = []
        if name in zone and qtype == 16:
            for txt in zone[name]:
                b = txt.encode()
                rdata = b"".join(bytes([len(b[j:j + 255])]) + b[j:j + 255] for j in range(0, len(b), 255))
                answers.append(struct.pack("!HHHIH", 0xC00C, 16, 1, 300, len(rdata)) + rdata)
        rcode = 0 if name in zone else 3
        hdr = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1, len(answers), 0, 0)
        sk.sendto(hdr + question + b"".join(answers), peer)


# ------------------------------------------------------------------ scoring

LEGIT = ("residential", "business", "listserver", "webmail", "own_mx")


def score_keys(db, half_life, levels, volume_kinds=("rate", "fanout"), volume_max_level=1):
    """Per key (subscriber, or ip:ADDR when unattributed): the events in
    time order, the running decayed score, when each level was first
    reached and the highest score reached.  As lib/correlate.c does, the
    level stays at or below volume_max_level while every event so far is of
    a volume kind."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT ts_ms, subscriber, client_ip, kind, score, source FROM events "
                       "ORDER BY ts_ms, id").fetchall()
    con.close()
    keys = {}
    for ts, sub, ip, kind, score, source in rows:
        k = sub if sub else "ip:" + ip
        st = keys.setdefault(k, dict(score=0.0, last=None, first=ts / 1000.0, level_at={},
                                     max=0.0, kinds=set(), bare=set(), events=0, ips={}))
        if st["last"] is not None:
            st["score"] *= 2 ** (-(ts - st["last"]) / 1000.0 / half_life)
        st["score"] += score
        st["last"] = ts
        if volume_kinds and set(st["bare"]) | {kind} <= set(volume_kinds) and 0 <= volume_max_level <= 2:
            st["score"] = min(st["score"], levels[volume_max_level] - 0.01)
        st["max"] = max(st["max"], st["score"])
        st["kinds"].add("%s/%s" % (source, kind))
        st["bare"].add(kind)
        st["events"] += 1
        st["ips"].setdefault((kind, ip), ts / 1000.0)
        level = sum(1 for th in levels if st["score"] >= th)
        if volume_kinds and st["bare"] <= set(volume_kinds):
            level = min(level, volume_max_level)
        for lv in range(1, level + 1):
            st["level_at"].setdefault(lv, ts / 1000.0)
    return keys


def evaluate(world, keys, levels):
    subs = world.subs + world.attackers
    res = []
    for s in subs:
        st = keys.get(s.id)
        if s.profile == "stuffing" and s.params.get("external"):
            st = keys.get("ip:" + s.ip)
        r = dict(id=s.id, profile=s.profile, ip=s.ip, rate=s.rate, rate_unit=s.rate_unit,
                 params={k: v for k, v in s.params.items() if isinstance(v, (str, int, float, bool))},
                 onset_s=None if s.onset is None else round(s.onset, 1),
                 events=0, max_score=0.0, level=0, kinds=[],
                 first_event_s=None, level1_s=None, level2_s=None, level3_s=None)
        if st:
            r.update(events=st["events"], max_score=round(st["max"], 1), kinds=sorted(st["kinds"]),
                     level=max([0] + list(st["level_at"].keys())))
            base = world.t0 + (s.onset or 0)
            r["first_event_s"] = round(st["first"] - base, 1)
            for lv in (1, 2, 3):
                if lv in st["level_at"]:
                    r["level%d_s" % lv] = round(st["level_at"][lv] - base, 1)
        if s.profile == "stuffing":
            # failures from this source up to its first auth_bruteforce event
            t_ev = st["ips"].get(("auth_bruteforce", s.ip)) if st else None
            fails = sorted(world.failures.get(s.ip, []))
            r["failures_total"] = len(fails)
            r["failures_before_event"] = None if t_ev is None else \
                sum(1 for f in fails if world.t0 + f <= t_ev + 0.999)
        res.append(r)
    return res


def summarize(results):
    prof = {}
    for r in results:
        p = prof.setdefault(r["profile"], dict(n=0, flagged=0, levels=[0, 0, 0, 0], t_first=[],
                                               t_level1=[], t_level2=[]))
        p["n"] += 1
        p["levels"][r["level"]] += 1
        if r["level"] >= 1:
            p["flagged"] += 1
        if r["onset_s"] is not None:
            for k, f in (("t_first", "first_event_s"), ("t_level1", "level1_s"), ("t_level2", "level2_s")):
                if r[f] is not None:
                    p[k].append(r[f])
    out = {}
    for name, p in prof.items():
        def med(v):
            v = sorted(v)
            return None if not v else v[len(v) // 2]
        out[name] = dict(n=p["n"], flagged=p["flagged"], legit=name in LEGIT,
                         level0=p["levels"][0], level1=p["levels"][1], level2=p["levels"][2],
                         level3=p["levels"][3],
                         median_to_first_event_s=med(p["t_first"]), median_to_level1_s=med(p["t_level1"]),
                         max_to_level1_s=max(p["t_level1"]) if p["t_level1"] else None,
                         median_to_level2_s=med(p["t_level2"]), reached_level2=len(p["t_level2"]))
    return out


def table(summary, results):
    order = ["residential", "business", "listserver", "webmail", "own_mx", "bot_fast", "bot_slow",
             "bot_helo", "bot_forger", "bot_direct", "bot_direct_slow", "stuffing", "compromised"]
    lines = ["%-16s %4s %7s %4s %4s %4s %4s %9s %9s %9s" % (
        "profile", "n", "flagged", "L0", "L1", "L2", "L3", "first_ev", "to_L1", "to_L2"),
        "%-16s %4s %7s %4s %4s %4s %4s %9s %9s %9s" % ("", "", "", "", "", "", "", "median s",
                                                       "median s", "median s")]
    for name in order:
        if name not in summary:
            continue
        p = summary[name]

        def f(v):
            return "-" if v is None else "%.0f" % v
        lines.append("%-16s %4d %7s %4d %4d %4d %4d %9s %9s %9s" % (
            name, p["n"], ("%d FP" % p["flagged"]) if p["legit"] else "%d" % p["flagged"],
            p["level0"], p["level1"], p["level2"], p["level3"],
            f(p["median_to_first_event_s"]), f(p["median_to_level1_s"]), f(p["median_to_level2_s"])))
    lines.append("")
    lines.append("bots, one per line (rate, seconds from onset to the first event / level 1 / level 2):")
    for r in results:
        if r["profile"] in LEGIT:
            continue
        extra = ""
        if r["profile"] == "stuffing":
            extra = " failures_before_event=%s" % r["failures_before_event"]
        if r["profile"] == "bot_slow":
            extra = " domains=%s" % r["params"].get("domain_pool")
        lines.append("  %-14s %-16s %7s %-15s first=%-7s L1=%-7s L2=%-7s max_level=%d %s%s" % (
            r["id"], r["profile"], r["rate"], r["rate_unit"], r["first_event_s"], r["level1_s"],
            r["level2_s"], r["level"], ",".join(k.split("/")[1] for k in r["kinds"]), extra))
    flagged = [r for r in results if r["profile"] in LEGIT and r["level"] >= 1]
    if flagged:
        lines.append("")
        lines.append("false positives (legitimate subscribers at level 1 or above):")
        for r in flagged:
            lines.append("  %-14s %-12s level=%d score=%.1f kinds=%s %s" % (
                r["id"], r["profile"], r["level"], r["max_score"], ",".join(r["kinds"]),
                " ".join("%s=%s" % kv for kv in sorted(r["params"].items()))))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ SVG

def svg_text(x, y, s, size=12, anchor="start", extra=""):
    s = str(s).replace("&", "&amp;").replace("<", "&lt;")
    return '<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" %s>%s</text>' % (
        x, y, size, anchor, extra, s)


COLORS = {"bot_fast": "#d62728", "bot_slow": "#9467bd", "bot_helo": "#8c564b", "bot_forger": "#e377c2",
          "bot_direct": "#1f77b4", "bot_direct_slow": "#17becf", "stuffing": "#2ca02c",
          "compromised": "#ff7f0e"}


def svg_detect_vs_rate(results, path, dur, setting="shipped defaults"):
    W, H, L, R, T, B = 760, 460, 70, 190, 40, 60
    pw, ph = W - L - R, H - T - B
    pts = [r for r in results if r["profile"] not in LEGIT and r["rate"]]
    xs = [r["rate"] for r in pts]
    x0, x1 = math.log10(min(xs + [0.1])) - 0.1, math.log10(max(xs + [600])) + 0.1
    y0, y1 = 0.0, math.log10(dur) + 0.3      # 1 s .. beyond the run = missed

    def X(v):
        return L + (math.log10(v) - x0) / (x1 - x0) * pw

    def Y(v):
        return T + ph - (math.log10(max(v, 1)) - y0) / (y1 - y0) * ph
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           svg_text(L + pw / 2, 22, "Time from onset to level 1 against the bot's rate (%s)" % setting,
                    14, "middle"),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (L, T, pw, ph)]
    for v in (1, 10, 60, 600, 3600, 10 * 3600):
        if math.log10(v) <= y1 - 0.3:
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, L + pw, Y(v), Y(v)))
            out.append(svg_text(L - 6, Y(v) + 4, {1: "1 s", 10: "10 s", 60: "1 min", 600: "10 min",
                                                   3600: "1 h", 36000: "10 h"}[v], 11, "end"))
    out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/>' % (
        L, L + pw, Y(60), Y(60)))
    out.append(svg_text(L + pw - 4, Y(60) - 4, "60 s target", 10, "end", 'fill="#d62728"'))
    ymiss = T + 12
    out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="2 2"/>' % (
        L, L + pw, ymiss + 8, ymiss + 8))
    out.append(svg_text(L + pw - 4, ymiss - 2, "missed (no level 1 in the run)", 10, "end", 'fill="#666"'))
    for v in (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000):
        lv = math.log10(v)
        if x0 <= lv <= x1:
            out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' % (X(v), X(v), T, T + ph))
            out.append(svg_text(X(v), T + ph + 16, ("%g" % v), 11, "middle"))
    out.append(svg_text(L + pw / 2, H - 18, "rate (messages, connections, attempts or failures a minute; log)",
                        12, "middle"))
    out.append(svg_text(16, T + ph / 2, "time to level 1 (log)", 12, "middle",
                        'transform="rotate(-90 16 %.1f)"' % (T + ph / 2)))
    rng = random.Random(1)
    for r in pts:
        c = COLORS.get(r["profile"], "#000")
        if r["level1_s"] is None:
            y = ymiss + rng.uniform(-3, 3)
            out.append('<path d="M%.1f %.1f l5 5 m0 -5 l-5 5" stroke="%s" stroke-width="2" transform="translate(-2.5 -2.5)"/>'
                       % (X(r["rate"]), y, c))
        else:
            out.append('<circle cx="%.1f" cy="%.1f" r="4.5" fill="%s" fill-opacity="0.8"/>' % (
                X(r["rate"]) + rng.uniform(-2, 2), Y(r["level1_s"]), c))
    y = T + 10
    for fam, c in COLORS.items():
        if any(r["profile"] == fam for r in pts):
            out.append('<circle cx="%d" cy="%d" r="5" fill="%s"/>' % (L + pw + 18, y, c))
            out.append(svg_text(L + pw + 28, y + 4, fam, 11))
            y += 18
    out.append(svg_text(L + pw + 12, y + 10, "x: missed", 11))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def threshold_curve(results):
    ths = [2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100]
    legit = [r for r in results if r["profile"] in LEGIT]
    bots = [r for r in results if r["profile"] not in LEGIT]
    curve = []
    for th in ths:
        curve.append(dict(threshold=th,
                          fp=sum(1 for r in legit if r["max_score"] >= th),
                          fp_pct=round(100.0 * sum(1 for r in legit if r["max_score"] >= th) / max(1, len(legit)), 2),
                          detected=sum(1 for r in bots if r["max_score"] >= th),
                          detected_pct=round(100.0 * sum(1 for r in bots if r["max_score"] >= th) / max(1, len(bots)), 1)))
    return curve


def svg_fp_vs_threshold(curve, levels, path):
    W, H, L, R, T, B = 760, 420, 70, 40, 40, 60
    pw, ph = W - L - R, H - T - B
    tmax = max(c["threshold"] for c in curve)

    def X(v):
        return L + v / tmax * pw

    def Y(v):
        return T + ph - v / 100.0 * ph
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           svg_text(L + pw / 2, 22, "Subscribers whose score reaches a threshold (same run, any level setting)",
                    14, "middle"),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (L, T, pw, ph)]
    for v in range(0, 101, 20):
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (L, L + pw, Y(v), Y(v)))
        out.append(svg_text(L - 6, Y(v) + 4, "%d%%" % v, 11, "end"))
    for v in range(0, tmax + 1, 10):
        out.append(svg_text(X(v), T + ph + 16, str(v), 11, "middle"))
    for i, lv in enumerate(levels):
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999" stroke-dasharray="4 3"/>' % (
            X(lv), X(lv), T, T + ph))
        out.append(svg_text(X(lv) + 3, T + 12 + 12 * i, "level%d=%g" % (i + 1, lv), 10, "start", 'fill="#666"'))
    for key, color, name in (("detected_pct", "#d62728", "bots reaching it (detection)"),
                             ("fp_pct", "#1f77b4", "legitimate subscribers reaching it (false positives)")):
        d = " ".join("%s%.1f %.1f" % ("M" if i == 0 else "L", X(c["threshold"]), Y(c[key]))
                     for i, c in enumerate(curve))
        out.append('<path d="%s" fill="none" stroke="%s" stroke-width="2"/>' % (d, color))
        for c in curve:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (X(c["threshold"]), Y(c[key]), color))
    out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#d62728" stroke-width="2"/>' % (
        L + pw - 300, L + pw - 280, T + ph * 0.45, T + ph * 0.45))
    out.append(svg_text(L + pw - 275, T + ph * 0.45 + 4, "bots reaching it (detection)", 11))
    out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#1f77b4" stroke-width="2"/>' % (
        L + pw - 300, L + pw - 280, T + ph * 0.45 + 16, T + ph * 0.45 + 16))
    out.append(svg_text(L + pw - 275, T + ph * 0.45 + 20, "legitimate subscribers reaching it (FP)", 11))
    out.append(svg_text(L + pw / 2, H - 18, "score threshold (highest decayed incident score in the run)",
                        12, "middle"))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ------------------------------------------------------------------ main

def duration(v):
    v = v.strip().strip('"')
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if v and v[-1] in mult:
        return float(v[:-1]) * mult[v[-1]]
    return float(v)


def cmd_run(a):
    build = find_build(a.build)
    pop = dict(POPULATIONS[a.population])
    today = int(time.time()) // 86400 * 86400
    t0 = today - 86400                      # yesterday 00:00 UTC: syslog lines need no year
    world = World(pop, a.seed, t0)
    world.bulk_declared = a.bulk_declared
    world.spf = not a.no_spf and subprocess.run(["unshare", "-n", "-m", "true"],
                                                stderr=subprocess.DEVNULL).returncode == 0
    if not world.spf and not a.no_spf:
        sys.stderr.write("replay.py: cannot make a network namespace (needs root): SPF checks off\n")
    world.build()
    d = os.path.abspath(a.out)
    if os.path.isdir(d):                    # a previous run's database and socket
        for f in os.listdir(d):
            if f.startswith("botsentry.db") or f in ("milter.sock", "milter.pid"):
                os.unlink(os.path.join(d, f))
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    conf = os.path.join(d, "botsentry.conf")
    write_conf(conf, d, world, a.set or [])
    with open(os.path.join(d, "secret"), "w") as f:
        os.chmod(f.name, 0o600)
        f.write("%064x\n" % random.Random(a.seed).getrandbits(256))
    cli = os.path.join(build, "cli/botsentry")
    t_start = time.time()
    run_cmd([cli, "-c", conf, "db", "init"], os.path.join(d, "db-init.log"))
    world.write_pcap(os.path.join(d, "traffic.pcap"))
    world.write_log(os.path.join(d, "mail.log"))
    world.write_zone(os.path.join(d, "zone.json"))
    with open(os.path.join(d, "sessions.txt"), "w") as f:
        for t, _s, _sid, lines in world.sessions:
            f.write("# t=%.1f\n%s\n" % (t, "\n".join(lines)))
    t_gen = time.time()
    played = run_milter(build, d, world, conf)
    t_milter = time.time()
    run_cmd([os.path.join(build, "flow/botsentry-flowd"), "-c", conf, "-r", os.path.join(d, "traffic.pcap")],
            os.path.join(d, "flowd.log"))
    run_cmd([os.path.join(build, "logwatch/botsentry-logwatch"), "-c", conf, "-r", os.path.join(d, "mail.log")],
            os.path.join(d, "logwatch.log"))
    t_end = time.time()

    cfg = subprocess.run([cli, "-c", conf, "config", "check"], capture_output=True, text=True).stdout
    levels, half_life = [10.0, 30.0, 60.0], 86400.0
    volume_kinds, volume_max = ("rate", "fanout"), 1
    for ln in cfg.splitlines():
        s = ln.strip().replace('"', "").replace(" = ", "=")
        if s.startswith("volume_kinds="):
            volume_kinds = tuple(x.strip() for x in s.split("=", 1)[1].strip("{} ").split(",") if x.strip())
        if s.startswith("volume_max_level="):
            volume_max = int(s.split("=")[1])
        if s.startswith("half_life="):
            half_life = duration(s.split("=")[1])
        for i in (1, 2, 3):
            if s.startswith("level%d " % i) or s.startswith("level%d=" % i):
                levels[i - 1] = float(s.split("=")[1].strip())
    for kv in a.set or []:
        k, v = kv.split("=", 1)
        if k.startswith("scoring|level"):
            levels[int(k[-1]) - 1] = float(v)
        if k == "scoring|half_life":
            half_life = duration(v)
    keys = score_keys(os.path.join(d, "botsentry.db"), half_life, levels, volume_kinds, volume_max)
    results = evaluate(world, keys, levels)
    summary = summarize(results)
    # the store's own view, for a cross-check of the recomputed levels
    inc = subprocess.run([cli, "-c", conf, "incidents", "list", "--json", "--limit", "100000"],
                         capture_output=True, text=True)
    store_levels = {}
    try:
        j = json.loads(inc.stdout)
        for i in (j if isinstance(j, list) else j.get("incidents", [])):
            store_levels[i.get("subscriber")] = i.get("level")
    except ValueError:
        pass
    mism = []
    for r in results:
        k = ("ip:" + r["ip"]) if (r["profile"] == "stuffing" and r["params"].get("external")) else r["id"]
        sl = store_levels.get(k)
        if sl is not None and sl != r["level"]:
            mism.append((k, r["level"], sl))
    curve = threshold_curve(results)
    out = dict(population=a.population, seed=a.seed, bulk_declared=a.bulk_declared, spf=world.spf, sim_hours=pop["hours"], epoch=t0,
               levels=levels, half_life_s=half_life, overrides=a.set or [],
               sessions=played, log_lines=len(world.log), flow_connections=len(world.flows),
               real_seconds=dict(generate=round(t_gen - t_start, 1), milter=round(t_milter - t_gen, 1),
                                 flowd_logwatch=round(t_end - t_milter, 1)),
               store_level_mismatches=mism, summary=summary, threshold_curve=curve, subscribers=results)
    with open(os.path.join(d, "result.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    tab = table(summary, results)
    with open(os.path.join(d, "table.txt"), "w") as f:
        f.write(tab)
    setting = "shipped defaults" if not (a.set or a.bulk_declared) else "defaults + %d changes" % (
        len(a.set or []) + (1 if a.bulk_declared else 0))
    svg_detect_vs_rate(results, os.path.join(d, "detect-vs-rate.svg"), world.dur, setting)
    svg_fp_vs_threshold(curve, levels, os.path.join(d, "fp-vs-threshold.svg"))
    sys.stdout.write(tab)
    sys.stdout.write("\n%d sessions, %d log lines, %d flows; %.0f s simulated in %.1f s; "
                     "recomputed levels differ from the store's for %d keys\n" % (
                         played, len(world.log), len(world.flows), world.dur, t_end - t_start, len(mism)))
    sys.stdout.write("written: %s/{result.json,table.txt,detect-vs-rate.svg,fp-vs-threshold.svg}\n" % d)
    return 0


def check(res):
    """The issue's targets; returns a list of (ok, text)."""
    subs = res["subscribers"]
    out = []

    def by(p):
        return [r for r in subs if r["profile"] == p]
    for p, what in (("bot_fast", "fast bot"), ("bot_direct", "direct-to-MX bot")):
        for r in by(p):
            ok = r["level1_s"] is not None and r["level1_s"] <= 60
            out.append((ok, "%s %s (%s %s) found within 60 s of onset (level 1 after %s s)" % (
                what, r["id"], r["rate"], r["rate_unit"], r["level1_s"])))
    for r in by("residential"):
        if r["level"] >= 1:
            out.append((False, "ordinary subscriber %s flagged: level %d, %s, %s" % (
                r["id"], r["level"], ",".join(r["kinds"]),
                " ".join("%s=%s" % kv for kv in sorted(r["params"].items())))))
    n = len(by("residential"))
    out.append((all(r["level"] == 0 for r in by("residential")),
                "no ordinary subscriber flagged (%d of %d at level 1 or above)" % (
                    sum(1 for r in by("residential") if r["level"] >= 1), n)))
    for p in ("business", "listserver"):
        for r in by(p):
            out.append((r["level"] <= 1, "%s %s not above level 1 (level %d, %s)" % (
                p, r["id"], r["level"], ",".join(r["kinds"]) or "no events")))
    for r in by("stuffing"):
        fb = r.get("failures_before_event")
        out.append((fb is not None and fb <= 10,
                    "credential stuffing from %s found within its first 10 failures (%s)" % (
                        r["ip"], "after %d" % fb if fb is not None else "not found")))
    return out


def cmd_plot(a):
    """Draw the two figures again from a result.json (e.g. after a change
    of the plotting code, without replaying)."""
    with open(os.path.join(a.out, "result.json")) as f:
        res = json.load(f)
    n = len(res.get("overrides") or []) + (1 if res.get("bulk_declared") else 0)
    svg_detect_vs_rate(res["subscribers"], os.path.join(a.out, "detect-vs-rate.svg"),
                       res["sim_hours"] * 3600, "shipped defaults" if n == 0 else "defaults + %d changes" % n)
    svg_fp_vs_threshold(res["threshold_curve"], res["levels"], os.path.join(a.out, "fp-vs-threshold.svg"))
    return 0


def cmd_check(a):
    with open(a.result) as f:
        res = json.load(f)
    bad = 0
    for ok, text in check(res):
        print("%s - %s" % ("ok" if ok else "NOT MET", text))
        bad += 0 if ok else 1
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--population", choices=sorted(POPULATIONS), default="small")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--build")
    r.add_argument("--out", default="replay-out")
    r.add_argument("--set", action="append", metavar="SECTION|KEY=VALUE",
                   help="override a config key for this run, e.g. 'milter|helo|score_literal_other=5'")
    r.add_argument("--no-spf", action="store_true",
                   help="no SPF checks (no namespace and loopback DNS); the businesses' domains are declared")
    r.add_argument("--bulk-declared", action="store_true",
                   help="declare the businesses and list servers bulk senders (milter|subscriber ID { bulk = true })")
    dn = sub.add_parser("dns")
    dn.add_argument("zone")
    dn.add_argument("pid", type=int)
    pl = sub.add_parser("plot")
    pl.add_argument("out")
    c = sub.add_parser("check")
    c.add_argument("result")
    a = ap.parse_args()
    if a.cmd == "run":
        return cmd_run(a)
    if a.cmd == "plot":
        return cmd_plot(a)
    if a.cmd == "dns":
        return dns_serve(a.zone, a.pid)
    return cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())
