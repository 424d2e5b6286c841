/*
 * test_spf.c - SPF through libspf2 on a static zone (no network): pass,
 * fail, softfail, neutral, none, permerror; <> stripping; the null sender;
 * the result cache; several threads on one checker.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "spf.h"

static struct spf_checker *
zone(int64_t ttl)
{
	struct spf_checker *c = spf_checker_new_zone("relay.isp.example", ttl);

	assert_non_null(c);
	assert_int_equal(spf_zone_add(c, "pass.example", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"), 0);
	assert_int_equal(spf_zone_add(c, "fail.example", "v=spf1 ip4:198.51.100.0/24 -all"), 0);
	assert_int_equal(spf_zone_add(c, "soft.example", "v=spf1 ip4:198.51.100.0/24 ~all"), 0);
	assert_int_equal(spf_zone_add(c, "neutral.example", "v=spf1 ?all"), 0);
	assert_int_equal(spf_zone_add(c, "incl.example", "v=spf1 include:pass.example -all"), 0);
	assert_int_equal(spf_zone_add(c, "perm.example", "v=spf1 ip4:192.0.2.0/24 bogus:thing -all"), 0);
	assert_int_equal(spf_zone_add(c, "helo.example", "v=spf1 ip4:192.0.2.0/24 -all"), 0);
	assert_int_equal(spf_zone_add(c, "*", NULL), 0);
	return c;
}

static void
test_results(void **state)
{
	struct spf_checker *c = zone(0);
	char why[256];

	assert_int_equal(spf_check(c, "192.0.2.25", "relay.isp.example", "<a@pass.example>", why, sizeof why), SPF_R_PASS);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "a@pass.example", NULL, 0), SPF_R_PASS);
	assert_int_equal(spf_check(c, "2001:db8::25", NULL, "a@pass.example", NULL, 0), SPF_R_PASS);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<a@fail.example>", why, sizeof why), SPF_R_FAIL);
	assert_int_equal(spf_check(c, "198.51.100.7", NULL, "<a@fail.example>", NULL, 0), SPF_R_PASS);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<a@soft.example>", NULL, 0), SPF_R_SOFTFAIL);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<a@neutral.example>", NULL, 0), SPF_R_NEUTRAL);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<a@incl.example>", NULL, 0), SPF_R_PASS);
	assert_int_equal(spf_check(c, "203.0.113.1", NULL, "<a@incl.example>", NULL, 0), SPF_R_FAIL);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<a@perm.example>", NULL, 0), SPF_R_PERMERROR);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<a@nothing.example>", NULL, 0), SPF_R_NONE);
	/* a bare domain is checked as that domain */
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "fail.example", NULL, 0), SPF_R_FAIL);
	spf_checker_free(c);
}

static void
test_null_sender_and_junk(void **state)
{
	struct spf_checker *c = zone(0);
	char why[128];

	/* <> is checked as postmaster@HELO (RFC 7208 2.4), never as a domain "<>" */
	assert_int_equal(spf_check(c, "192.0.2.25", "helo.example", "<>", NULL, 0), SPF_R_PASS);
	assert_int_equal(spf_check(c, "203.0.113.9", "helo.example", "<>", NULL, 0), SPF_R_FAIL);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<>", NULL, 0), SPF_R_NONE);
	assert_int_equal(spf_check(c, "not-an-ip", NULL, "<a@pass.example>", NULL, 0), SPF_R_INVALID);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<a b@pass.example>", why, sizeof why), SPF_R_INVALID);
	assert_true(strstr(why, "bad sender") != NULL);
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, NULL, NULL, 0), SPF_R_INVALID);
	assert_string_equal(spf_res_name(SPF_R_SOFTFAIL), "softfail");
	spf_checker_free(c);
}

static void
test_cache(void **state)
{
	struct spf_checker *c = zone(300);
	uint64_t checks, hits;
	int i;

	for (i = 0; i < 5; i++)
		assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<x@fail.example>", NULL, 0), SPF_R_FAIL);
	/* a different local part is the same domain: cached */
	assert_int_equal(spf_check(c, "192.0.2.25", NULL, "<y@fail.example>", NULL, 0), SPF_R_FAIL);
	/* a different address is not */
	assert_int_equal(spf_check(c, "198.51.100.7", NULL, "<x@fail.example>", NULL, 0), SPF_R_PASS);
	spf_checker_stats(c, &checks, &hits);
	assert_int_equal(checks, 7);
	assert_int_equal(hits, 5);
	spf_checker_free(c);
}

static void *
worker(void *arg)
{
	struct spf_checker *c = arg;
	int i, bad = 0;

	for (i = 0; i < 200; i++) {
		if (spf_check(c, "192.0.2.25", NULL, "<a@fail.example>", NULL, 0) != SPF_R_FAIL)
			bad++;
		if (spf_check(c, "192.0.2.25", NULL, "<a@pass.example>", NULL, 0) != SPF_R_PASS)
			bad++;
	}
	return (void *)(intptr_t)bad;
}

static void
test_threads(void **state)
{
	struct spf_checker *c = zone(0);
	pthread_t t[4];
	void *rv;
	int i, bad = 0;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, c), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &rv);
		bad += (int)(intptr_t)rv;
	}
	assert_int_equal(bad, 0);
	spf_checker_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_null_sender_and_junk),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
