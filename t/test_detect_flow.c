/*
 * test_detect_flow.c - detect_flow.c: scope, attempt tracking and outcomes
 * from packets and from flow records, firing once per crossing, repeats,
 * the smarthost flag, bounded pending table, evidence of the event.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "conf_flow.h"
#include "detect_flow.h"
#include "event.h"

#define T0 1700000400000LL      /* on a 600 s boundary */

struct hits {
	struct df_hit h[16];
	int n;
};

static void
on_hit(void *ud, const struct df_hit *h)
{
	struct hits *hs = ud;

	if (hs->n < 16)
		hs->h[hs->n] = *h;
	hs->n++;
}

static struct df_addr
ip(const char *s)
{
	struct df_addr a;

	assert_int_equal(df_addr_parse(s, &a), 0);
	return a;
}

static void
seg(struct df *d, int64_t t, const char *src, const char *dst, uint16_t sport, uint16_t dport,
    uint8_t flags)
{
	struct df_segment s;

	memset(&s, 0, sizeof s);
	s.ts_ms = t;
	s.src = ip(src);
	s.dst = ip(dst);
	s.sport = sport;
	s.dport = dport;
	s.flags = flags;
	s.input = 0;
	df_segment(d, &s);
}

static void
frec(struct df *d, int64_t t, const char *src, const char *dst, uint16_t sport, uint16_t dport,
    uint8_t flags, int input)
{
	struct df_flowrec r;

	memset(&r, 0, sizeof r);
	r.start_ms = t;
	r.end_ms = t + 3000;
	r.src = ip(src);
	r.dst = ip(dst);
	r.sport = sport;
	r.dport = dport;
	r.proto = 6;
	r.flags = flags;
	r.packets = 3;
	r.input = input;
	df_flowrec(d, &r);
}

static struct df_prefix watch[1], excl[1], smart[1];

static struct df *
make(struct hits *hs, struct df_settings *s)
{
	struct df *d;

	df_settings_default(s);
	assert_int_equal(s->min_attempts, 10);   /* the shipped default */
	/* the fixtures below were written for a crossing at 20 attempts */
	s->min_attempts = 20;
	assert_int_equal(df_prefix_parse("100.64.0.0/10", &watch[0]), 0);
	assert_int_equal(df_prefix_parse("100.64.9.0/24", &excl[0]), 0);
	assert_int_equal(df_prefix_parse("198.51.100.25", &smart[0]), 0);
	s->watch = watch;
	s->n_watch = 1;
	s->exclude = excl;
	s->n_exclude = 1;
	s->smarthosts = smart;
	s->n_smarthosts = 1;
	memset(hs, 0, sizeof *hs);
	d = df_new(s, on_hit, hs);
	assert_non_null(d);
	assert_int_equal(df_input_add(d, "pcap-file:test.pcap", 1), 0);
	return d;
}

/* A burst of n attempts from src to n MXes: i%3 0 established, 1 refused,
 * 2 unanswered (retransmitted once). */
static void
burst(struct df *d, int64_t t0, const char *src, int n)
{
	int i;
	char dst[32];

	for (i = 0; i < n; i++) {
		int64_t t = t0 + i * 100;
		snprintf(dst, sizeof dst, "203.0.113.%d", i + 1);
		seg(d, t, src, dst, (uint16_t)(40000 + i), 25, 0x02);
		if (i % 3 == 0)
			seg(d, t + 20, dst, src, 25, (uint16_t)(40000 + i), 0x12);
		else if (i % 3 == 1)
			seg(d, t + 20, dst, src, 25, (uint16_t)(40000 + i), 0x14);
		else
			seg(d, t + 1000, src, dst, (uint16_t)(40000 + i), 25, 0x02);
	}
}

static void
test_prefixes(void **state)
{
	struct df_prefix p;
	struct df_addr a;
	char buf[64];

	assert_int_equal(df_prefix_parse("100.64.1.77/24", &p), 0);
	assert_int_equal(p.len, 24);
	assert_int_equal(p.a[3], 0);
	a = ip("100.64.1.200");
	assert_true(df_prefix_match(&p, &a));
	a = ip("100.64.2.1");
	assert_false(df_prefix_match(&p, &a));
	assert_int_equal(df_prefix_parse("2001:db8:ff::/40", &p), 0);
	a = ip("2001:db8:ff:1::9");
	assert_true(df_prefix_match(&p, &a));
	a = ip("2001:db8:1ff::9");
	assert_false(df_prefix_match(&p, &a));
	assert_int_equal(df_prefix_parse("10.0.0.0/33", &p), -1);
	assert_int_equal(df_prefix_parse("10.0.0.0/", &p), -1);
	assert_int_equal(df_prefix_parse("alice", &p), -1);
	assert_int_equal(df_prefix_parse("10.0.0.0/8x", &p), -1);
	a = ip("192.0.2.1");
	assert_string_equal(df_addr_format(&a, buf, sizeof buf), "192.0.2.1");
}

static void
test_quiet_and_burst(void **state)
{
	struct hits hs;
	struct df_settings s;
	struct df *d = make(&hs, &s);
	struct df_stats st;
	struct event ev;
	json_t *j;
	int i;

	/* a quiet subscriber: three messages to three MXes */
	for (i = 0; i < 3; i++) {
		char dst[32];
		snprintf(dst, sizeof dst, "192.0.2.%d", i + 1);
		seg(d, T0 + i * 60000, "100.64.1.10", dst, (uint16_t)(50000 + i), 25, 0x02);
		seg(d, T0 + i * 60000 + 30, dst, "100.64.1.10", 25, (uint16_t)(50000 + i), 0x12);
	}
	assert_int_equal(hs.n, 0);

	burst(d, T0 + 200000, "100.64.2.20", 30);
	/* 20 answered attempts are enough to cross; the unanswered still pend */
	assert_int_equal(hs.n, 1);
	df_flush(d);
	assert_int_equal(hs.n, 1);          /* once per crossing, not per packet */
	assert_int_equal(hs.h[0].src.a[3], 20);
	assert_string_equal(hs.h[0].input, "pcap-file:test.pcap");
	assert_true(hs.h[0].attempts >= 20 && hs.h[0].attempts < 21);
	assert_true(hs.h[0].destinations >= 10);
	assert_true(hs.h[0].failed >= 9 && hs.h[0].failed <= 11);
	assert_int_equal(hs.h[0].n_sample, 5);
	assert_false(hs.h[0].smarthost);
	assert_int_equal(hs.h[0].repeat, 0);
	assert_true(hs.h[0].ts_ms >= T0 + 200000 && hs.h[0].ts_ms < T0 + 210000);

	df_get_stats(d, &st);
	assert_int_equal(st.attempts, 33);
	assert_int_equal(st.established, 3 + 10);
	assert_int_equal(st.refused, 10);
	assert_int_equal(st.unanswered, 10);
	assert_int_equal(st.retransmits, 10);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.hits, 1);

	df_hit_event(&hs.h[0], &ev);
	assert_string_equal(ev.kind, "direct_mx");
	assert_string_equal(ev.source, "flow");
	assert_string_equal(ev.client_ip, "100.64.2.20");
	assert_true(ev.score >= s.weight_base);
	j = json_loads(ev.evidence, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 20);
	assert_int_equal(json_integer_value(json_object_get(j, "window_s")), 600);
	assert_int_equal(json_array_size(json_object_get(j, "destinations_sample")), 5);
	assert_string_equal(json_string_value(json_object_get(j, "input")), "pcap-file:test.pcap");
	json_decref(j);
	event_clear(&ev);
	df_free(d);
}

static void
test_scope(void **state)
{
	struct hits hs;
	struct df_settings s;
	struct df *d = make(&hs, &s);
	struct df_stats st;
	struct df_addr a;

	a = ip("100.64.9.5");
	assert_false(df_in_scope(d, &a));       /* excluded (business) */
	a = ip("8.8.8.8");
	assert_false(df_in_scope(d, &a));       /* not a subscriber */
	a = ip("198.51.100.25");
	assert_false(df_in_scope(d, &a));       /* the smarthost itself */
	a = ip("100.64.0.1");
	assert_true(df_in_scope(d, &a));
	burst(d, T0, "100.64.9.5", 40);
	burst(d, T0, "8.8.8.8", 40);
	df_flush(d);
	assert_int_equal(hs.n, 0);
	df_get_stats(d, &st);
	assert_int_equal(st.out_of_scope, 2 * 40 + 2 * 13);   /* SYNs and retransmitted SYNs */
	assert_int_equal(st.attempts, 0);
	df_free(d);
}

static void
test_repeat_and_recross(void **state)
{
	struct hits hs;
	struct df_settings s;
	struct df *d = make(&hs, &s);
	int w;

	/* a bot that keeps going for three windows: one hit per window */
	for (w = 0; w < 3; w++)
		burst(d, T0 + w * 600000LL + 1000, "100.64.3.3", 60);
	df_flush(d);
	assert_int_equal(hs.n, 3);
	assert_int_equal(hs.h[0].repeat, 0);
	assert_int_equal(hs.h[1].repeat, 1);
	/* silence for two windows, then a new crossing */
	burst(d, T0 + 3000000LL + 1000, "100.64.3.3", 30);
	df_flush(d);
	assert_int_equal(hs.n, 4);
	assert_int_equal(hs.h[3].repeat, 0);
	df_free(d);
}

static void
test_smarthost(void **state)
{
	struct hits hs;
	struct df_settings s;
	struct df *d = make(&hs, &s);

	/* the subscriber's mail client uses the smarthost (587), the bot does not */
	seg(d, T0 + 500, "100.64.4.4", "198.51.100.25", 33333, 587, 0x02);
	seg(d, T0 + 510, "198.51.100.25", "100.64.4.4", 587, 33333, 0x12);
	burst(d, T0 + 1000, "100.64.4.4", 30);
	df_flush(d);
	assert_int_equal(hs.n, 1);
	assert_true(hs.h[0].smarthost);
	assert_true(hs.h[0].score >= s.weight_base + s.weight_smarthost);
	df_free(d);
}

static void
test_flow_records(void **state)
{
	struct hits hs;
	struct df_settings s;
	struct df *d = make(&hs, &s);
	struct df_stats st;
	int i, in;
	char dst[32];

	in = df_input_add(d, "ipfix:udp:127.0.0.1:4739", 1);
	/* softflowd: one record per direction; S out + RA back = refused;
	 * FSPA out = established; S alone = unanswered */
	for (i = 0; i < 30; i++) {
		int64_t t = T0 + i * 100;
		snprintf(dst, sizeof dst, "203.0.113.%d", i + 1);
		if (i % 3 == 0) {
			frec(d, t, "100.64.5.5", dst, (uint16_t)(40000 + i), 25, 0x1b, in);
			frec(d, t, dst, "100.64.5.5", 25, (uint16_t)(40000 + i), 0x1b, in);
		} else if (i % 3 == 1) {
			frec(d, t, "100.64.5.5", dst, (uint16_t)(40000 + i), 25, 0x02, in);
			frec(d, t, dst, "100.64.5.5", 25, (uint16_t)(40000 + i), 0x14, in);
		} else {
			frec(d, t, "100.64.5.5", dst, (uint16_t)(40000 + i), 25, 0x02, in);
		}
	}
	/* UDP and non-SMTP flows are ignored */
	frec(d, T0, "100.64.5.5", "203.0.113.200", 40000, 443, 0x02, in);
	df_flush(d);
	assert_int_equal(hs.n, 1);
	assert_string_equal(hs.h[0].input, "ipfix:udp:127.0.0.1:4739");
	df_get_stats(d, &st);
	assert_int_equal(st.established, 10);
	assert_int_equal(st.refused, 10);
	assert_int_equal(st.unanswered, 10);
	assert_int_equal(st.records, 51);
	df_free(d);
}

static void
test_pending_bound_and_blind_input(void **state)
{
	struct hits hs;
	struct df_settings s;
	struct df *d;
	struct df_stats st;
	int i, blind;
	char src[32];

	df_settings_default(&s);
	memset(&hs, 0, sizeof hs);
	s.max_pending = 16;
	s.max_sources = 1000;
	d = df_new(&s, on_hit, &hs);
	assert_non_null(d);
	blind = df_input_add(d, "pcap:eth1", 0);
	(void)blind;
	/* input 0 sees no answers: timeouts give "unknown", not "failed" */
	for (i = 0; i < 100; i++) {
		snprintf(src, sizeof src, "10.0.%d.%d", i / 250, i % 250 + 1);
		seg(d, T0 + i, src, "192.0.2.1", 1025, 25, 0x02);
	}
	df_get_stats(d, &st);
	assert_true(st.pending <= 16);
	assert_int_equal(st.pending_evicted, 100 - 16);
	df_advance(d, T0 + 60000);
	df_get_stats(d, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.unknown, 100);
	assert_int_equal(st.unanswered, 0);
	/* 2000 distinct sources in a table of 1000: evictions counted, memory bounded */
	for (i = 0; i < 2000; i++) {
		snprintf(src, sizeof src, "10.1.%d.%d", i / 250, i % 250 + 1);
		seg(d, T0 + 70000 + i, src, "192.0.2.1", 1025, 25, 0x02);
		seg(d, T0 + 70000 + i, "192.0.2.1", src, 25, 1025, 0x14);
	}
	df_get_stats(d, &st);
	assert_true(st.sources <= 1000);
	assert_true(st.source_evictions >= 1000);
	df_free(d);
}

/* One refused attempt from src to dst at t (answered by a RST). */
static void
refused(struct df *d, int64_t t, const char *src, const char *dst, uint16_t sport)
{
	seg(d, t, src, dst, sport, 25, 0x02);
	seg(d, t + 10, dst, src, 25, sport, 0x14);
}

static void
test_first_sightings(void **state)
{
	struct hits hs;
	struct df_settings s;
	struct df *d = make(&hs, &s);
	struct df_stats st;
	char dst[32], src[32];
	int i;

	/* a first attempt is parked, not counted ... */
	refused(d, T0 + 1000, "100.64.4.4", "203.0.113.200", 30000);
	df_get_stats(d, &st);
	assert_int_equal(st.first_parked, 1);
	assert_int_equal(st.first_live, 1);
	assert_int_equal(st.sources, 1);
	/* ... but the crossing comes at the same attempt as if it had been:
	 * 1 + 19 attempts reach min_attempts (20) */
	for (i = 0; i < 19; i++) {
		snprintf(dst, sizeof dst, "203.0.113.%d", i + 1);
		refused(d, T0 + 5000 + i * 100, "100.64.4.4", dst, (uint16_t)(30001 + i));
	}
	assert_int_equal(hs.n, 1);
	assert_int_equal((int)hs.h[0].attempts, 20);
	assert_int_equal((int)hs.h[0].failed, 20);
	assert_true(hs.h[0].destinations >= 18 && hs.h[0].destinations <= 22);
	df_get_stats(d, &st);
	assert_int_equal(st.first_promoted, 1);
	assert_int_equal(st.first_live, 0);

	/* a parked sighting two windows old is forgotten, as the counters
	 * forget: 1 + 19 attempts 20 minutes apart do not cross */
	refused(d, T0 + 100000, "100.64.5.5", "203.0.113.200", 31000);
	for (i = 0; i < 19; i++) {
		snprintf(dst, sizeof dst, "203.0.113.%d", i + 1);
		refused(d, T0 + 100000 + 1200000 + i * 100, "100.64.5.5", dst, (uint16_t)(31001 + i));
	}
	assert_int_equal(hs.n, 1);
	df_get_stats(d, &st);
	assert_int_equal(st.first_expired, 1);
	/* the first of the 19 was parked anew, and promoted by the second */
	assert_int_equal(st.first_promoted, 2);
	df_free(d);

	/* a flood of one-attempt sources at max_sources evicts parked
	 * sightings, stays within the cap, and a bot after it still crosses */
	d = make(&hs, &s);
	s.max_sources = 256;
	df_set_settings(d, &s);
	for (i = 0; i < 5000; i++) {
		snprintf(src, sizeof src, "100.65.%d.%d", i / 250, i % 250 + 1);
		refused(d, T0 + 2000000 + i, src, "203.0.113.250", 1025);
	}
	df_get_stats(d, &st);
	assert_true(st.sources <= 256);
	assert_true(st.first_evicted + st.first_spilled >= 5000 - 256);
	assert_true(st.first_parked >= 256);
	for (i = 0; i < 20; i++) {
		snprintf(dst, sizeof dst, "203.0.113.%d", i + 1);
		refused(d, T0 + 2100000 + i * 100, "100.64.6.6", dst, (uint16_t)(32000 + i));
	}
	assert_int_equal(hs.n, 1);
	assert_int_equal((int)hs.h[0].attempts, 20);
	df_get_stats(d, &st);
	assert_true(st.sources <= 256);
	df_free(d);
}

static void
test_ipv6_key(void **state)
{
	struct hits hs;
	struct df_settings s;
	struct df *d;
	int i;
	char src[64], dst[64];

	df_settings_default(&s);
	memset(&hs, 0, sizeof hs);
	d = df_new(&s, on_hit, &hs);
	df_input_add(d, "pcap:eth1", 1);
	/* a bot rotating through its /56: one key */
	for (i = 0; i < 25; i++) {
		snprintf(src, sizeof src, "2001:db8:0:1%02x::%x", i, i + 1);
		snprintf(dst, sizeof dst, "2001:db8:ffff::%x", i + 1);
		seg(d, T0 + i * 10, src, dst, 2000, 25, 0x02);
		seg(d, T0 + i * 10 + 5, dst, src, 25, 2000, 0x14);
	}
	assert_int_equal(hs.n, 1);
	assert_string_equal(hs.h[0].key, "2001:db8:0:100::/56");
	df_free(d);
}

static void
test_listen_and_conf(void **state)
{
	char host[64], port[8];
	struct conf *c;
	struct conf_flow_settings fs;
	FILE *f;
	char path[] = "/tmp/test_detect_flow.XXXXXX";
	int fdn;

	assert_int_equal(conf_flow_split_listen("127.0.0.1:4739", host, sizeof host, port, sizeof port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_string_equal(port, "4739");
	assert_int_equal(conf_flow_split_listen("[::1]:2055", host, sizeof host, port, sizeof port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(conf_flow_split_listen("2056", host, sizeof host, port, sizeof port), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(conf_flow_split_listen("::1:2055", host, sizeof host, port, sizeof port), -1);
	assert_int_equal(conf_flow_split_listen("host:70000", host, sizeof host, port, sizeof port), -1);
	assert_int_equal(conf_flow_split_listen("host:", host, sizeof host, port, sizeof port), -1);
	assert_int_equal(conf_flow_split_listen("", host, sizeof host, port, sizeof port), -1);

	fdn = mkstemp(path);
	assert_true(fdn >= 0);
	f = fdopen(fdn, "w");
	fputs("flow {\n subscriber_prefixes = {\"100.64.0.0/10\"}\n allowlist = {\"bob\", \"192.0.2.0/28\"}\n"
	    " min_attempts = 7\n window = 5m\n weight_failed = 2.5\n}\n", f);
	fclose(f);
	c = conf_load(path, NULL);
	unlink(path);
	assert_non_null(c);
	conf_flow_settings(c, &fs);
	assert_int_equal(fs.df.n_watch, 1);
	assert_int_equal(fs.df.min_attempts, 7);
	assert_int_equal(fs.df.window_ms, 300000);
	assert_true(fs.df.weight_failed == 2.5);
	assert_int_equal(fs.n_allow_prefixes, 1);
	assert_int_equal(fs.n_allow_subscribers, 1);
	assert_string_equal(fs.allow_subscribers[0], "bob");
	conf_flow_settings_clear(&fs);
	conf_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_quiet_and_burst),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_repeat_and_recross),
		cmocka_unit_test(test_smarthost),
		cmocka_unit_test(test_flow_records),
		cmocka_unit_test(test_pending_bound_and_blind_input),
		cmocka_unit_test(test_first_sightings),
		cmocka_unit_test(test_ipv6_key),
		cmocka_unit_test(test_listen_and_conf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
