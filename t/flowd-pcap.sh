#!/usr/bin/env bash
# botsentry-flowd reading pcap files (-r): the generated fixture (a quiet
# subscriber, an IPv4 bot, an IPv6 bot in a VLAN, an excluded business, the
# smarthost relaying, a subscriber using the smarthost), events checked in
# the database with sqlite3; two files merged in time order (one a Linux
# cooked capture); events attributed through lease history at traffic time.
. "$top_srcdir/t/lib/common.sh"
. "$top_srcdir/t/lib/flowd.sh"
need_cmd sqlite3 python3
[ -x "$BOTSENTRY_FLOWD" ] || skip_all "botsentry-flowd not built"
grep -q "^#define HAVE_PCAP 1" "$top_builddir/config.h" || skip_all "built without libpcap"

$PCAPGEN fixture "$T/fixture.pcap"; ok $? "pcapgen wrote the fixture"
$PCAPGEN sll "$T/sll.pcap"; ok $? "pcapgen wrote a Linux cooked capture"
flowd_conf "$T/bs.conf" "$T/bs.db"
flowd_db "$T/bs.db" "$T/bs.conf"; ok $? "database initialised with botsentry db init and leases imported"

out=$("$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/fixture.pcap" -S "$T/stats.json" 2>&1); st=$?
is "$st" 0 "flowd -r exits 0 at the end of the file"
is "$(events "$T/bs.db")" "100.64.2.20|bob|direct_mx
2001:db8:0:1ab::5|carol|direct_mx" "exactly the two bots raise direct_mx, attributed at traffic time (bob, not mallory)"
is "$(q "$T/bs.db" "select count(*) from events where client_ip in ('100.64.1.10','100.64.9.5','198.51.100.25','100.64.3.30')")" 0 \
  "no event for the quiet subscriber, the excluded business, the smarthost, the smarthost user"
ev=$(q "$T/bs.db" "select evidence from events where client_ip='100.64.2.20'")
like "$ev" '"input":"pcap-file:fixture.pcap"' "evidence names the input"
like "$ev" '"window_s":600' "evidence gives the window"
like "$ev" '"attempts":20,' "evidence counts the attempts at the crossing"
like "$ev" '"failed":10,' "refused attempts count as failed"
like "$ev" '"destinations_sample":\["198\.18\.0\.[0-9]+"(,"198\.18\.0\.[0-9]+"){4}\]' "evidence holds 5 destination addresses"
is "$(q "$T/bs.db" "select source || ',' || (ts_ms >= 1700000500000 and ts_ms < 1700000510000) from events where client_ip='100.64.2.20'")" "flow,1" \
  "event time is the traffic time of the burst"
is "$(q "$T/bs.db" "select count(*) from incidents where subscriber in ('bob','carol')")" 2 "the events opened incidents"
like "$(cat "$T/stats.json")" '"out_of_scope":106,' "stats: excluded and smarthost SYNs are out of scope"
like "$(cat "$T/stats.json")" '"unanswered":24,' "stats: unanswered attempts told apart"
like "$(cat "$T/stats.json")" '"retransmits":48,' "stats: retransmitted SYNs are one attempt"
like "$out" 'subscriber=bob kind=direct_mx' "one log line per event"

# the same file again into a fresh database: the same events (determinism)
flowd_db "$T/bs.db" "$T/bs.conf"
"$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/fixture.pcap" >/dev/null 2>&1
is "$(q "$T/bs.db" "select count(*) from events")" 2 "a second run gives the same two events"

# two files, merged in time order; one of them Linux cooked v2
flowd_db "$T/bs.db" "$T/bs.conf"
out=$("$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/sll.pcap" -r "$T/fixture.pcap" 2>&1); st=$?
is "$st" 0 "flowd -r A -r B exits 0"
is "$(events "$T/bs.db")" "100.64.2.20|bob|direct_mx
100.64.2.21|dave|direct_mx
2001:db8:0:1ab::5|carol|direct_mx" "two files: three bots, the cooked capture's one included"
like "$(q "$T/bs.db" "select evidence from events where client_ip='100.64.2.21'")" '"failed":20,.*"input":"pcap-file:sll.pcap"' "the cooked capture's bot: refused attempts, its input named"

# no subscriber prefixes: every source is watched, and flowd says so
flowd_conf "$T/all.conf" "$T/bs.db"
sed -i '/subscriber_prefixes/d' "$T/all.conf"
flowd_db "$T/bs.db" "$T/all.conf"
out=$("$BOTSENTRY_FLOWD" -c "$T/all.conf" -r "$T/fixture.pcap" 2>&1)
like "$out" 'scope=all .*watching every source' "without subscriber_prefixes flowd watches everything and says so"
is "$(q "$T/bs.db" "select count(*) from events")" 2 "exclusions and smarthosts still apply"

# allowlist by subscriber id and by prefix
flowd_conf "$T/allow.conf" "$T/bs.db" 'allowlist = {"bob", "2001:db8:0:1ab::/64"}'
flowd_db "$T/bs.db" "$T/allow.conf"
out=$("$BOTSENTRY_FLOWD" -c "$T/allow.conf" -r "$T/fixture.pcap" 2>&1)
is "$(q "$T/bs.db" "select count(*) from events")" 0 "allowlisted subscriber and prefix raise nothing"
like "$out" 'action=allowlisted' "allowlisted hits are logged"

# the abuse desk's allowlist (botsentry allowlist add) applies too: the
# writer drops covered events before recording them
flowd_db "$T/bs.db" "$T/bs.conf"
"$BOTSENTRY" -c "$T/bs.conf" allowlist add --subscriber bob --scope direct_mx --reason "test: bob's MX" >/dev/null
ok $? "desk allowlist: bob for direct_mx"
"$BOTSENTRY" -c "$T/bs.conf" allowlist add --ip 2001:db8:0:1ab::/64 --reason "test: carol's prefix" >/dev/null
ok $? "desk allowlist: carol's IPv6 prefix"
"$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/fixture.pcap" -S "$T/stats2.json" >/dev/null 2>&1
is "$(q "$T/bs.db" "select count(*) from events")" 0 "desk-allowlisted subscriber and prefix are not recorded"
like "$(cat "$T/stats2.json")" '"writer":\{"submitted":2,"committed":0,"allowlisted":2,' \
  "stats: the writer counts them as allowlisted, not lost"
"$BOTSENTRY" -c "$T/bs.conf" allowlist add --subscriber bob --scope helo --reason "test: other scope" >/dev/null
"$BOTSENTRY" -c "$T/bs.conf" allowlist remove 1 >/dev/null
"$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/fixture.pcap" >/dev/null 2>&1
is "$(events "$T/bs.db")" "100.64.2.20|bob|direct_mx" \
  "an entry for another detector does not silence direct_mx; carol's prefix still does"

# a missing file: reported, exit EX_NOINPUT (66)
"$BOTSENTRY_FLOWD" -c "$T/bs.conf" -r "$T/nonexistent.pcap" >"$T/err" 2>&1; st=$?
is "$st" 66 "a missing -r file exits 66"
like "$(cat "$T/err")" 'nonexistent.pcap' "and names the file"

# -n checks the configuration
"$BOTSENTRY_FLOWD" -c "$T/bs.conf" -n >/dev/null 2>&1; ok $? "-n accepts the configuration"
flowd_conf "$T/bad.conf" "$T/bs.db" 'subscriber_prefixes = {"100.64.0.0/33"}' 'netflow5_listen = "nope:x"'
"$BOTSENTRY_FLOWD" -c "$T/bad.conf" -n >"$T/err" 2>&1; st=$?
is "$st" 78 "-n rejects bad prefixes and listen addresses with 78"
like "$(cat "$T/err")" "bad.conf:.*subscriber_prefixes.*100.64.0.0/33" "the error names the file, the key and the value"
like "$(cat "$T/err")" "netflow5_listen.*nope:x" "every error is reported, not just the first"
done_testing
