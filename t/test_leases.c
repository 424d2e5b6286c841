/*
 * test_leases.c - the lease table (lib/leases.c): longest prefix, validity
 * in time, IPv6, ties, the client key, loading from the config.
 */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"
#include "leases.h"
#include "store_fixture.h"

#define H 3600000LL

static void
test_longest_prefix(void **state)
{
	struct lease_table *t = lease_table_new();
	unsigned char a[4] = { 100, 64, 1, 10 };

	(void)state;
	assert_int_equal(lease_table_add(t, "100.64.0.0/10", "isp-pool", INT64_MIN, INT64_MAX), 0);
	assert_int_equal(lease_table_add(t, "100.64.1.0/24", "business-1", INT64_MIN, INT64_MAX), 0);
	assert_int_equal(lease_table_add(t, "100.64.1.10", "alice", 10 * H, 20 * H), 0);
	assert_int_equal(lease_table_add(t, "0.0.0.0/0", "anyone", INT64_MIN, INT64_MAX), 0);
	lease_table_seal(t);
	assert_int_equal(lease_table_count(t), 4);

	assert_string_equal(lease_table_lookup(t, "100.64.1.10", 15 * H), "alice");
	assert_string_equal(lease_table_lookup_bin(t, AF_INET, a, 15 * H), "alice");
	/* outside alice's lease the /24 answers */
	assert_string_equal(lease_table_lookup(t, "100.64.1.10", 9 * H), "business-1");
	assert_string_equal(lease_table_lookup(t, "100.64.1.11", 15 * H), "business-1");
	assert_string_equal(lease_table_lookup(t, "100.64.2.1", 15 * H), "isp-pool");
	assert_string_equal(lease_table_lookup(t, "192.0.2.1", 15 * H), "anyone");
	/* IPv4-mapped IPv6 is IPv4 */
	assert_string_equal(lease_table_lookup(t, "::ffff:100.64.1.10", 15 * H), "alice");
	/* junk */
	assert_null(lease_table_lookup(t, "not-an-ip", 0));
	assert_null(lease_table_lookup(t, "", 0));
	assert_null(lease_table_lookup(t, "2001:db8::1", 0));   /* no v6 leases */
	lease_table_free(t);
	lease_table_free(NULL);
}

static void
test_validity_boundaries(void **state)
{
	struct lease_table *t = lease_table_new();

	(void)state;
	/* the same address, three holders over time, one gap */
	assert_int_equal(lease_table_add(t, "198.51.100.7/32", "a", 1000, 2000), 0);
	assert_int_equal(lease_table_add(t, "198.51.100.7/32", "b", 2000, 3000), 0);
	assert_int_equal(lease_table_add(t, "198.51.100.7/32", "c", 4000, INT64_MAX), 0);
	lease_table_seal(t);
	assert_null(lease_table_lookup(t, "198.51.100.7", 999));
	assert_string_equal(lease_table_lookup(t, "198.51.100.7", 1000), "a");   /* from is in */
	assert_string_equal(lease_table_lookup(t, "198.51.100.7", 1999), "a");
	assert_string_equal(lease_table_lookup(t, "198.51.100.7", 2000), "b");   /* to is out */
	assert_string_equal(lease_table_lookup(t, "198.51.100.7", 2999), "b");
	assert_null(lease_table_lookup(t, "198.51.100.7", 3000));
	assert_null(lease_table_lookup(t, "198.51.100.7", 3999));
	assert_string_equal(lease_table_lookup(t, "198.51.100.7", 4000), "c");
	assert_string_equal(lease_table_lookup(t, "198.51.100.7", INT64_MAX - 1), "c");
	assert_null(lease_table_lookup(t, "198.51.100.8", 1500));
	/* an empty validity is refused */
	assert_int_equal(lease_table_add(t, "198.51.100.9", "x", 5, 5), -1);
	lease_table_free(t);
}

static void
test_ties(void **state)
{
	struct lease_table *t = lease_table_new();

	(void)state;
	/* overlapping leases of the same length: the one that started last */
	assert_int_equal(lease_table_add(t, "203.0.113.0/24", "long", 0, 100 * H), 0);
	assert_int_equal(lease_table_add(t, "203.0.113.0/24", "short", 10 * H, 12 * H), 0);
	/* the same start: the one added last */
	assert_int_equal(lease_table_add(t, "203.0.113.5", "first", 0, 100 * H), 0);
	assert_int_equal(lease_table_add(t, "203.0.113.5", "second", 0, 100 * H), 0);
	lease_table_seal(t);
	assert_string_equal(lease_table_lookup(t, "203.0.113.1", 5 * H), "long");
	assert_string_equal(lease_table_lookup(t, "203.0.113.1", 11 * H), "short");
	/* after the later one ended, the long earlier one still covers */
	assert_string_equal(lease_table_lookup(t, "203.0.113.1", 13 * H), "long");
	assert_string_equal(lease_table_lookup(t, "203.0.113.5", 1 * H), "second");
	lease_table_free(t);
}

static void
test_ipv6(void **state)
{
	struct lease_table *t = lease_table_new();
	unsigned char a[16];

	(void)state;
	assert_int_equal(lease_table_add(t, "2001:db8:0:100::/56", "v6-alice", 0, INT64_MAX), 0);
	assert_int_equal(lease_table_add(t, "2001:db8::/32", "v6-isp", 0, INT64_MAX), 0);
	assert_int_equal(lease_table_add(t, "2001:db8:0:1ff::5/128", "host", 0, INT64_MAX), 0);
	/* host bits are cleared */
	assert_int_equal(lease_table_add(t, "2001:db8:0:200::1/64", "v6-bob", 0, INT64_MAX), 0);
	lease_table_seal(t);
	assert_string_equal(lease_table_lookup(t, "2001:db8:0:1ab:1:2:3:4", 1), "v6-alice");
	assert_string_equal(lease_table_lookup(t, "2001:DB8:0:100::1", 1), "v6-alice");
	assert_string_equal(lease_table_lookup(t, "[2001:db8:0:100::1]", 1), "v6-alice");
	assert_string_equal(lease_table_lookup(t, "2001:db8:0:1ff::5", 1), "host");
	assert_string_equal(lease_table_lookup(t, "2001:db8:0:200:ffff::", 1), "v6-bob");
	assert_string_equal(lease_table_lookup(t, "2001:db8:0:201::", 1), "v6-isp");
	assert_null(lease_table_lookup(t, "2001:db9::1", 1));
	assert_null(lease_table_lookup(t, "100.64.0.1", 1));
	inet_pton(AF_INET6, "2001:db8:0:1ab::9", a);
	assert_string_equal(lease_table_lookup_bin(t, AF_INET6, a, 1), "v6-alice");
	assert_null(lease_table_lookup_bin(t, 12345, a, 1));
	lease_table_free(t);
}

static void
test_bad_prefixes(void **state)
{
	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/8x",
		"2001:db8::/129", "::ffff:1.2.3.4/95", "x.y.z.w", "1.2.3.4 /32",
		"1.2.3.4/32/1", "[1.2.3.4", NULL
	};
	struct lease_table *t = lease_table_new();
	char buf[64];
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		assert_int_equal(lease_table_add(t, bad[i], "s", 0, 1), -1);
		assert_null(lease_prefix_normalize(bad[i], buf, sizeof buf));
	}
	assert_int_equal(lease_table_count(t), 0);
	assert_string_equal(lease_prefix_normalize("100.64.1.10", buf, sizeof buf), "100.64.1.10/32");
	assert_string_equal(lease_prefix_normalize("10.1.2.3/8", buf, sizeof buf), "10.0.0.0/8");
	assert_string_equal(lease_prefix_normalize("2001:DB8::1/56", buf, sizeof buf), "2001:db8::/56");
	assert_string_equal(lease_prefix_normalize("::ffff:10.1.2.3/120", buf, sizeof buf), "10.1.2.0/24");
	/* lookups on an empty or unsealed table */
	assert_null(lease_table_lookup(t, "1.2.3.4", 0));
	assert_int_equal(lease_table_add(t, "1.2.3.4", "s", 0, 10), 0);
	assert_null(lease_table_lookup(t, "1.2.3.4", 0));         /* not sealed */
	lease_table_seal(t);
	assert_string_equal(lease_table_lookup(t, "1.2.3.4", 0), "s");
	/* adding after seal needs another seal */
	assert_int_equal(lease_table_add(t, "1.2.3.5", "t", 0, 10), 0);
	lease_table_seal(t);
	assert_string_equal(lease_table_lookup(t, "1.2.3.5", 0), "t");
	assert_string_equal(lease_table_lookup(t, "1.2.3.4", 0), "s");
	lease_table_free(t);
}

static void
test_client_key(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(lease_client_key("100.64.1.10", 56, buf, sizeof buf), "100.64.1.10");
	assert_string_equal(lease_client_key("::ffff:100.64.1.10", 56, buf, sizeof buf), "100.64.1.10");
	assert_string_equal(lease_client_key("2001:db8:0:1ab:1:2:3:4", 56, buf, sizeof buf),
	    "2001:db8:0:100::/56");
	assert_string_equal(lease_client_key("2001:db8:0:1ff::9", 56, buf, sizeof buf),
	    "2001:db8:0:100::/56");
	assert_string_equal(lease_client_key("2001:db8:0:1ab:1:2:3:4", 64, buf, sizeof buf),
	    "2001:db8:0:1ab::/64");
	assert_string_equal(lease_client_key("2001:db8::1", 128, buf, sizeof buf), "2001:db8::1/128");
	assert_null(lease_client_key("bogus", 56, buf, sizeof buf));
	assert_null(lease_client_key("2001:db8:0:1ab:1:2:3:4", 56, buf, 8));   /* too small */
}

static void
test_load_conf(void **state)
{
	char path[] = "/tmp/test_leases_XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	struct conf *c;
	struct lease_table *t;
	char err[256];

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "leases {\n"
	    "  static \"100.64.7.0/24\" { subscriber = \"acme-corp\" }\n"
	    "  static \"2001:db8:77::/48\" { subscriber = \"acme-v6\" }\n"
	    "}\n");
	fclose(f);
	c = conf_load(path, stderr);
	if (c == NULL) {
		unlink(path);
		fail_msg("conf_load failed on the test config");
	}
	t = lease_table_load(c, NULL, err, sizeof err);
	assert_non_null(t);
	assert_int_equal(lease_table_count(t), 2);
	assert_string_equal(lease_table_lookup(t, "100.64.7.99", 0), "acme-corp");
	assert_string_equal(lease_table_lookup(t, "100.64.7.99", INT64_MAX - 1), "acme-corp");
	assert_string_equal(lease_table_lookup(t, "2001:db8:77:1::1", 12345), "acme-v6");
	assert_null(lease_table_lookup(t, "100.64.8.1", 0));
	lease_table_free(t);
	conf_unref(c);

	/* a malformed static prefix is an error naming it */
	f = fopen(path, "w");
	fprintf(f, "leases {\n  static \"100.64.7.0/99\" { subscriber = \"acme\" }\n}\n");
	fclose(f);
	c = conf_load(path, stderr);
	if (c != NULL) {
		t = lease_table_load(c, NULL, err, sizeof err);
		assert_null(t);
		assert_non_null(strstr(err, "100.64.7.0/99"));
		conf_unref(c);
	}
	unlink(path);
}

/* The store's lease history, together with the static map. */
static void
test_load_store(void **state)
{
	char dir[64], err[256];
	struct store *st;
	struct lease l[3];
	struct lease_table *t;
	int i;

	(void)state;
	st = tf_open(dir, sizeof dir, NULL, 0);     /* SQLite, or BS_TEST_STORE_URI's */
	assert_non_null(st);
	memset(l, 0, sizeof l);
	for (i = 0; i < 3; i++)
		snprintf(l[i].source, sizeof l[i].source, "kea");
	snprintf(l[0].prefix, sizeof l[0].prefix, "100.64.0.10/32");
	snprintf(l[0].subscriber, sizeof l[0].subscriber, "alice");
	l[0].valid_from = 1000;
	l[0].valid_to = 2000;
	snprintf(l[1].prefix, sizeof l[1].prefix, "100.64.0.10/32");
	snprintf(l[1].subscriber, sizeof l[1].subscriber, "bob");
	l[1].valid_from = 2000;
	l[1].valid_to = INT64_MAX;
	snprintf(l[2].prefix, sizeof l[2].prefix, "2001:db8:5::/56");
	snprintf(l[2].subscriber, sizeof l[2].subscriber, "carol");
	l[2].valid_from = 0;
	l[2].valid_to = INT64_MAX;
	assert_int_equal(store_leases_add(st, l, 3), 0);
	t = lease_table_load(NULL, st, err, sizeof err);
	if (t == NULL)
		fail_msg("lease_table_load: %s", err);
	assert_int_equal(lease_table_count(t), 3);
	assert_string_equal(lease_table_lookup(t, "100.64.0.10", 1500), "alice");
	assert_string_equal(lease_table_lookup(t, "100.64.0.10", 2500), "bob");
	assert_null(lease_table_lookup(t, "100.64.0.10", 999));
	assert_string_equal(lease_table_lookup(t, "2001:db8:5:ff::1", 5), "carol");
	lease_table_free(t);
	assert_int_equal(tf_close(st, dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_longest_prefix),
		cmocka_unit_test(test_validity_boundaries),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_bad_prefixes),
		cmocka_unit_test(test_client_key),
		cmocka_unit_test(test_load_conf),
		cmocka_unit_test(test_load_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
