/*
 * test_detect_auth.c - auth_bruteforce, credential_abuse and bounce_ratio
 * over hand-made observations: thresholds, firing once per crossing,
 * attribution, evidence, and the bounded queue-id table.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "detect_auth.h"
#include "event.h"
#include "util.h"

#define T0 1795700000000LL
#define MAXEV 64

struct sink {
	struct event ev[MAXEV];
	int n;
};

static void
collect(void *ud, struct event *ev)
{
	struct sink *s = ud;

	assert_true(s->n < MAXEV);
	s->ev[s->n++] = *ev;   /* takes the evidence */
}

static void
sink_clear(struct sink *s)
{
	int i;

	for (i = 0; i < s->n; i++)
		event_clear(&s->ev[i]);
	s->n = 0;
}

static json_t *
evidence(const struct event *ev)
{
	json_t *j = json_loads(ev->evidence ? ev->evidence : "{}", 0, NULL);

	assert_non_null(j);
	return j;
}

static void
fail_obs(struct da *d, int64_t ts, const char *ip, const char *ip_sub, const char *login)
{
	struct da_auth_obs o;

	memset(&o, 0, sizeof o);
	o.ts_ms = ts;
	o.ok = 0;
	o.client_ip = ip;
	o.ip_subscriber = ip_sub;
	o.login = login;
	o.login_subscriber = login;
	o.mech = "LOGIN";
	da_auth(d, &o);
}

static void
ok_obs(struct da *d, int64_t ts, const char *ip, const char *login, const char *login_sub)
{
	struct da_auth_obs o;

	memset(&o, 0, sizeof o);
	o.ts_ms = ts;
	o.ok = 1;
	o.client_ip = ip;
	o.login = login;
	o.login_subscriber = login_sub;
	o.mech = "PLAIN";
	da_auth(d, &o);
}

static void
test_bruteforce_failures(void **state)
{
	struct da_settings s;
	struct sink sk = { .n = 0 };
	struct da *d;
	json_t *j;
	int i;

	(void)state;
	da_settings_default(&s);
	s.bf_failures = 20;
	s.bf_logins = 100;
	d = da_new(&s, collect, &sk);
	assert_non_null(d);
	for (i = 0; i < 19; i++)
		fail_obs(d, T0 + i * 1000, "100.64.0.7", "cust-7", "bob");
	assert_int_equal(sk.n, 0);
	fail_obs(d, T0 + 19000, "100.64.0.7", "cust-7", "bob");
	assert_int_equal(sk.n, 1);
	assert_string_equal(sk.ev[0].kind, "auth_bruteforce");
	assert_string_equal(sk.ev[0].source, "logwatch");
	/* the source is a subscriber's address: the event is theirs */
	assert_string_equal(sk.ev[0].subscriber, "cust-7");
	assert_string_equal(sk.ev[0].client_ip, "100.64.0.7");
	assert_int_equal(sk.ev[0].ts_ms, T0 + 19000);
	assert_true(sk.ev[0].score == s.bf_score);
	j = evidence(&sk.ev[0]);
	assert_int_equal(json_integer_value(json_object_get(j, "failures")), 20);
	assert_int_equal(json_integer_value(json_object_get(j, "window_s")), 600);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "sample_logins"), 0)), "bob");
	assert_string_equal(json_string_value(json_object_get(j, "attributed_by")), "lease");
	json_decref(j);
	/* once per crossing: more failures in the same window say nothing new */
	for (i = 0; i < 50; i++)
		fail_obs(d, T0 + 20000 + i * 1000, "100.64.0.7", "cust-7", "bob");
	assert_int_equal(sk.n, 1);
	/* another source is counted on its own */
	for (i = 0; i < 19; i++)
		fail_obs(d, T0 + 100000 + i, "203.0.113.9", NULL, "root");
	assert_int_equal(sk.n, 1);
	/* a whole window later, still hammering: a new event */
	for (i = 0; i < 25; i++)
		fail_obs(d, T0 + 700000 + i * 1000, "100.64.0.7", "cust-7", "bob");
	assert_int_equal(sk.n, 2);
	sink_clear(&sk);
	da_free(d);
}

static void
test_bruteforce_logins(void **state)
{
	struct da_settings s;
	struct sink sk = { .n = 0 };
	struct da *d;
	const char *names[] = { "admin", "test", "info", "sales", "support" };
	json_t *j, *a;
	int i;

	(void)state;
	da_settings_default(&s);
	s.bf_logins = 5;
	d = da_new(&s, collect, &sk);
	for (i = 0; i < 4; i++)
		fail_obs(d, T0 + i * 1000, "2001:db8:1::25", NULL, names[i]);
	assert_int_equal(sk.n, 0);
	fail_obs(d, T0 + 5000, "2001:db8:1::25", NULL, names[4]);
	assert_int_equal(sk.n, 1);
	/* nobody holds the address: unattributed */
	assert_string_equal(sk.ev[0].subscriber, "");
	assert_string_equal(sk.ev[0].client_ip, "2001:db8:1::25");
	j = evidence(&sk.ev[0]);
	assert_string_equal(json_string_value(json_object_get(j, "threshold")), "distinct_logins");
	assert_int_equal(json_integer_value(json_object_get(j, "distinct_logins")), 5);
	a = json_object_get(j, "sample_logins");
	assert_true(json_array_size(a) >= 3 && json_array_size(a) <= 5);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "admin");
	json_decref(j);
	sink_clear(&sk);
	da_free(d);
}

static void
test_credential_failed_then_ok(void **state)
{
	struct da_settings s;
	struct sink sk = { .n = 0 };
	struct da *d;
	char ip[32];
	json_t *j;
	int i;

	(void)state;
	da_settings_default(&s);
	s.ca_fail_addrs = 5;
	d = da_new(&s, collect, &sk);
	/* a success out of the blue is nothing */
	ok_obs(d, T0, "100.64.9.9", "carol@isp.example", "carol");
	assert_int_equal(sk.n, 0);
	/* failures from 4 addresses, then in: below the threshold */
	for (i = 0; i < 4; i++) {
		snprintf(ip, sizeof ip, "198.51.100.%d", 10 + i);
		fail_obs(d, T0 + 1000 + i, ip, NULL, "bob");
	}
	ok_obs(d, T0 + 2000, "198.51.100.13", "bob", "bob");
	assert_int_equal(sk.n, 0);
	/* a fifth address fails, then the guess succeeds */
	fail_obs(d, T0 + 3000, "198.51.100.14", NULL, "bob");
	ok_obs(d, T0 + 4000, "198.51.100.14", "bob", "bob");
	assert_int_equal(sk.n, 1);
	assert_string_equal(sk.ev[0].kind, "credential_abuse");
	/* the account's owner gets the event */
	assert_string_equal(sk.ev[0].subscriber, "bob");
	assert_string_equal(sk.ev[0].client_ip, "198.51.100.14");
	j = evidence(&sk.ev[0]);
	assert_string_equal(json_string_value(json_object_get(j, "pattern")), "failed_then_succeeded");
	assert_int_equal(json_integer_value(json_object_get(j, "failed_addresses")), 5);
	assert_string_equal(json_string_value(json_object_get(j, "login")), "bob");
	assert_true(json_array_size(json_object_get(j, "sample_addresses")) >= 3);
	assert_null(json_object_get(j, "password"));
	json_decref(j);
	/* the next success in the window does not repeat it */
	ok_obs(d, T0 + 5000, "198.51.100.14", "bob", "bob");
	assert_int_equal(sk.n, 1);
	sink_clear(&sk);
	da_free(d);
}

static void
test_credential_many_sources(void **state)
{
	struct da_settings s;
	struct sink sk = { .n = 0 };
	struct da *d;
	char ip[32];
	json_t *j;
	int i;

	(void)state;
	da_settings_default(&s);
	s.ca_ok_addrs = 20;
	s.ca_ok_nets = 5;
	d = da_new(&s, collect, &sk);
	/* many addresses in one /24: one network, below both thresholds */
	for (i = 0; i < 9; i++) {
		snprintf(ip, sizeof ip, "100.64.1.%d", i + 1);
		ok_obs(d, T0 + i * 1000, ip, "alice@isp.example", "alice");
	}
	assert_int_equal(sk.n, 0);
	/* four more networks: the fifth network crosses */
	for (i = 0; i < 4; i++) {
		snprintf(ip, sizeof ip, "203.0.%d.5", 110 + i);
		ok_obs(d, T0 + 20000 + i * 1000, ip, "alice@isp.example", "alice");
	}
	assert_int_equal(sk.n, 1);
	assert_string_equal(sk.ev[0].subscriber, "alice");
	j = evidence(&sk.ev[0]);
	assert_string_equal(json_string_value(json_object_get(j, "pattern")), "many_sources");
	assert_int_equal(json_integer_value(json_object_get(j, "networks")), 5);
	assert_string_equal(json_string_value(json_object_get(j, "login")), "alice@isp.example");
	json_decref(j);
	sink_clear(&sk);
	da_free(d);
}

static void
origin(struct da *d, int64_t ts, const char *qid, const char *sub, const char *ip)
{
	struct da_origin o;

	memset(&o, 0, sizeof o);
	o.ts_ms = ts;
	o.qid = qid;
	o.subscriber = sub;
	o.client_ip = ip;
	o.login = sub;
	da_origin(d, &o);
}

static void
deliver(struct da *d, int64_t ts, const char *qid, int fate, const char *dsn, const char *dom)
{
	struct da_delivery o;

	memset(&o, 0, sizeof o);
	o.ts_ms = ts;
	o.qid = qid;
	o.fate = fate;
	o.dsn = dsn;
	o.rcpt_domain = dom;
	da_delivery(d, &o);
}

static void
test_bounce_ratio(void **state)
{
	struct da_settings s;
	struct da_stats st;
	struct sink sk = { .n = 0 };
	struct da *d;
	char qid[16];
	json_t *j;
	int i;

	(void)state;
	da_settings_default(&s);
	s.br_min_rcpts = 20;
	s.br_ratio = 0.5;
	d = da_new(&s, collect, &sk);
	/* a healthy sender: 30 recipients, 5 refused */
	for (i = 0; i < 30; i++) {
		snprintf(qid, sizeof qid, "AAA%04d", i);
		origin(d, T0 + i * 100, qid, "alice", "100.64.0.10");
		deliver(d, T0 + i * 100 + 50, qid, i < 5 ? DA_REFUSED : DA_SENT, i < 5 ? "5.1.1" : "2.0.0",
		    "example.com");
		da_removed(d, qid);
	}
	assert_int_equal(sk.n, 0);
	/* a harvested list: mostly unknown users and blocklist replies;
	 * deferrals do not count */
	for (i = 0; i < 19; i++) {
		snprintf(qid, sizeof qid, "BBB%04d", i);
		origin(d, T0 + 10000 + i * 100, qid, "mallory", "100.64.0.66");
		deliver(d, T0 + 10000 + i * 100 + 10, qid, DA_DEFERRED, "4.4.1", "slow.example");
		deliver(d, T0 + 10000 + i * 100 + 50, qid, i % 4 == 0 ? DA_SENT : DA_REFUSED,
		    i % 4 == 0 ? "2.0.0" : (i % 2 ? "5.1.1" : "5.7.1"), i % 2 ? "gmx.example" : "yandex.example");
	}
	assert_int_equal(sk.n, 0);
	deliver(d, T0 + 20000, "BBB0001", DA_REFUSED, "5.1.1", "outlook.example");
	assert_int_equal(sk.n, 1);
	assert_string_equal(sk.ev[0].kind, "bounce_ratio");
	assert_string_equal(sk.ev[0].subscriber, "mallory");
	assert_string_equal(sk.ev[0].client_ip, "100.64.0.66");
	j = evidence(&sk.ev[0]);
	assert_int_equal(json_integer_value(json_object_get(j, "recipients")), 20);
	assert_int_equal(json_integer_value(json_object_get(j, "refused")), 15);
	assert_true(json_real_value(json_object_get(j, "ratio")) > 0.74);
	assert_true(json_array_size(json_object_get(j, "sample_refusals")) >= 2);
	assert_string_equal(json_string_value(json_object_get(j, "login")), "mallory");
	json_decref(j);
	/* no repeat within the window */
	for (i = 0; i < 10; i++)
		deliver(d, T0 + 21000 + i, "BBB0002", DA_REFUSED, "5.1.1", "x.example");
	assert_int_equal(sk.n, 1);
	/* deliveries of unknown or removed queue ids are counted, not attributed */
	deliver(d, T0 + 22000, "AAA0001", DA_REFUSED, "5.1.1", "x.example");
	deliver(d, T0 + 22000, "NOSUCH", DA_REFUSED, "5.1.1", "x.example");
	da_get_stats(d, &st);
	assert_int_equal(st.deliveries_unknown_qid, 2);
	assert_int_equal(st.removed, 30);
	assert_int_equal(st.queue_tracked, 19);
	sink_clear(&sk);
	da_free(d);
}

static void
test_bounce_unattributed(void **state)
{
	struct da_settings s;
	struct sink sk = { .n = 0 };
	struct da *d;
	char qid[16];
	int i;

	(void)state;
	da_settings_default(&s);
	s.br_min_rcpts = 5;
	d = da_new(&s, collect, &sk);
	for (i = 0; i < 5; i++) {
		snprintf(qid, sizeof qid, "CCC%04d", i);
		origin(d, T0 + i, qid, "", "192.0.2.77");
		deliver(d, T0 + i + 1, qid, DA_REFUSED, "5.7.1", "example.com");
	}
	assert_int_equal(sk.n, 1);
	assert_string_equal(sk.ev[0].subscriber, "");
	assert_string_equal(sk.ev[0].client_ip, "192.0.2.77");
	sink_clear(&sk);
	da_free(d);
}

static void
test_queue_bounded(void **state)
{
	struct da_settings s;
	struct da_stats st;
	struct sink sk = { .n = 0 };
	struct da *d;
	char qid[16];
	int i;

	(void)state;
	da_settings_default(&s);
	s.br_max_queue = 100;
	s.br_queue_ttl_ms = 3600 * 1000;
	d = da_new(&s, collect, &sk);
	for (i = 0; i < 150; i++) {
		snprintf(qid, sizeof qid, "Q%05d", i);
		origin(d, T0 + i * 1000, qid, "alice", "100.64.0.10");
	}
	da_get_stats(d, &st);
	assert_int_equal(st.queue_tracked, 100);
	assert_int_equal(st.queue_evicted, 50);
	/* the oldest were evicted, the newest kept */
	deliver(d, T0 + 200000, "Q00000", DA_SENT, "2.0.0", "a.example");
	deliver(d, T0 + 200000, "Q00149", DA_SENT, "2.0.0", "a.example");
	da_get_stats(d, &st);
	assert_int_equal(st.deliveries_unknown_qid, 1);
	/* a reused queue id replaces the old entry */
	origin(d, T0 + 201000, "Q00149", "bob", "100.64.0.11");
	da_get_stats(d, &st);
	assert_int_equal(st.queue_tracked, 100);
	/* expiry by traffic time: everything but Q00149 (touched last) is old */
	da_expire(d, T0 + 149000 + 3600 * 1000 + 1);
	da_get_stats(d, &st);
	assert_int_equal(st.queue_tracked, 1);
	assert_int_equal(st.queue_expired, 99);
	da_expire(d, T0 + 10 * 3600 * 1000LL);
	da_get_stats(d, &st);
	assert_int_equal(st.queue_tracked, 0);
	/* and the table still works after being emptied */
	origin(d, T0 + 10 * 3600 * 1000LL, "Z1", "x", "1.2.3.4");
	da_get_stats(d, &st);
	assert_int_equal(st.queue_tracked, 1);
	da_free(d);
}

static void
test_net_of(void **state)
{
	char buf[80];

	(void)state;
	assert_string_equal(da_net_of("198.51.100.77", 24, 48, buf, sizeof buf), "198.51.100.0/24");
	assert_string_equal(da_net_of("2001:db8:1:2:3::4", 24, 48, buf, sizeof buf), "2001:db8:1::/48");
	assert_string_equal(da_net_of("10.1.2.3", 12, 48, buf, sizeof buf), "10.0.0.0/12");
	assert_null(da_net_of("not-an-ip", 24, 48, buf, sizeof buf));
}

static void
test_bad_settings_and_utf8(void **state)
{
	struct da_settings s;
	struct sink sk = { .n = 0 };
	struct da *d;
	json_t *j;
	int i;

	(void)state;
	da_settings_default(&s);
	s.bf_window_ms = 0;
	assert_null(da_new(&s, collect, &sk));
	da_settings_default(&s);
	s.br_max_queue = 0;
	assert_null(da_new(&s, collect, &sk));
	/* login names that are not UTF-8 still make valid JSON evidence */
	da_settings_default(&s);
	s.bf_logins = 2;
	d = da_new(&s, collect, &sk);
	fail_obs(d, T0, "192.0.2.9", NULL, "caf\xe9");
	fail_obs(d, T0 + 1, "192.0.2.9", NULL, "j\xc3\xbcrgen");
	assert_int_equal(sk.n, 1);
	j = evidence(&sk.ev[0]);
	for (i = 0; i < 2; i++)
		assert_non_null(json_string_value(json_array_get(json_object_get(j, "sample_logins"), (size_t)i)));
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "sample_logins"), 0)),
	    "caf\\xe9");
	json_decref(j);
	sink_clear(&sk);
	da_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bruteforce_failures),
		cmocka_unit_test(test_bruteforce_logins),
		cmocka_unit_test(test_credential_failed_then_ok),
		cmocka_unit_test(test_credential_many_sources),
		cmocka_unit_test(test_bounce_ratio),
		cmocka_unit_test(test_bounce_unattributed),
		cmocka_unit_test(test_queue_bounded),
		cmocka_unit_test(test_net_of),
		cmocka_unit_test(test_bad_settings_and_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
