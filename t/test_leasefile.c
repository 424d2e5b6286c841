/*
 * test_leasefile.c - the Kea DHCPv4 memfile and plain CSV lease readers
 * (lib/leasefile.c): renewals, releases, declines, escapes, user context,
 * and malformed lines named with their line numbers.
 */
#include "config.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "leasefile.h"

#define KEA_HDR "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n"
#define MAXL 32

struct got {
	struct lease l[MAXL];
	int n;
	char err[MAXL][320];
	long errline[MAXL];
	int nerr;
	int stop_after;
};

static int
on_lease(void *ud, const struct lease *l)
{
	struct got *g = ud;
	if (g->n < MAXL)
		g->l[g->n] = *l;
	g->n++;
	return g->stop_after > 0 && g->n >= g->stop_after;
}

static void
on_error(void *ud, const char *name, long line, const char *msg)
{
	struct got *g = ud;
	if (g->nerr < MAXL) {
		snprintf(g->err[g->nerr], sizeof g->err[0], "%s:%ld: %s", name, line, msg);
		g->errline[g->nerr] = line;
	}
	g->nerr++;
}

static long
read_kea(const char *text, size_t len, const char *from, struct got *g)
{
	struct leasefile_cb cb = { on_lease, on_error, g };
	FILE *f = fmemopen((void *)text, len, "r");
	long bad;

	assert_non_null(f);
	bad = leasefile_read_kea4(f, "leases4.csv", from, &cb);
	fclose(f);
	return bad;
}

static long
read_csv(const char *text, size_t len, struct got *g)
{
	struct leasefile_cb cb = { on_lease, on_error, g };
	FILE *f = fmemopen((void *)text, len, "r");
	long bad;

	assert_non_null(f);
	bad = leasefile_read_csv(f, "leases.csv", &cb);
	fclose(f);
	return bad;
}

static void
expect(const struct lease *l, const char *prefix, const char *sub, int64_t from_s, int64_t to_s)
{
	assert_string_equal(l->prefix, prefix);
	assert_string_equal(l->subscriber, sub);
	assert_true(l->valid_from == from_s * 1000);
	if (to_s == INT64_MAX)
		assert_true(l->valid_to == INT64_MAX);
	else
		assert_true(l->valid_to == to_s * 1000);
}

static const char kea_good[] =
    KEA_HDR
    /* ACK at ...354, renewed at ...654: one lease to ...2254 */
    "100.64.0.10,02:00:00:00:00:0A,01:02:00:00:00:00:0a,600,1795701954,7,0,0,cpe-a,0,\n"
    "100.64.0.10,02:00:00:00:00:0a,01:02:00:00:00:00:0a,600,1795702254,7,0,0,cpe-a,0,\n"
    /* escaped commas; a user context; released (0 lifetime, expire = last ACK) */
    "100.64.0.11,02:00:00:00:00:0b,,600,1795701960,7,0,0,x&#x2cy,0,"
    "{ \"plan\": \"a&#x2cb\"&#x2c \"sub\": \"alice\" }\n"
    "100.64.0.11,02:00:00:00:00:0b,,0,1795701360,7,0,0,,0,\n"
    /* declined: nobody */
    "100.64.0.12,,,86400,1795788354,7,0,0,,1,\n"
    /* a new holder cuts the old lease at its start */
    "100.64.0.13,02:00:00:00:00:0d,,600,1795701000,7,0,0,cpe-d,0,\n"
    "100.64.0.13,02:00:00:00:00:0e,,600,1795701300,7,0,0,cpe-e,0,"
    "{ \"sub\": 4711 }\n"
    "\n";

static void
test_kea_hwaddr(void **state)
{
	struct got g;

	(void)state;
	memset(&g, 0, sizeof g);
	assert_int_equal(read_kea(kea_good, strlen(kea_good), "hwaddr", &g), 0);
	assert_int_equal(g.nerr, 0);
	assert_int_equal(g.n, 4);
	/* superseded first, then the rest in order of first appearance */
	expect(&g.l[0], "100.64.0.13/32", "02:00:00:00:00:0d", 1795700400, 1795700700);
	expect(&g.l[1], "100.64.0.10/32", "02:00:00:00:00:0a", 1795701354, 1795702254);
	/* release: closed, keeps its last known end (see leasefile.c) */
	expect(&g.l[2], "100.64.0.11/32", "02:00:00:00:00:0b", 1795701360, 1795701960);
	expect(&g.l[3], "100.64.0.13/32", "02:00:00:00:00:0e", 1795700700, 1795701300);
	assert_string_equal(g.l[0].source, "kea");
}

static void
test_kea_columns(void **state)
{
	struct got g;

	(void)state;
	memset(&g, 0, sizeof g);
	assert_int_equal(read_kea(kea_good, strlen(kea_good), "hostname", &g), 0);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.l[0].subscriber, "cpe-d");
	assert_string_equal(g.l[1].subscriber, "cpe-a");
	assert_string_equal(g.l[2].subscriber, "x,y");      /* &#x2c unescaped */
	assert_string_equal(g.l[3].subscriber, "cpe-e");

	memset(&g, 0, sizeof g);
	assert_int_equal(read_kea(kea_good, strlen(kea_good), "user_context:sub", &g), 0);
	assert_int_equal(g.n, 2);
	expect(&g.l[0], "100.64.0.11/32", "alice", 1795701360, 1795701960);
	expect(&g.l[1], "100.64.0.13/32", "4711", 1795700700, 1795701300);

	memset(&g, 0, sizeof g);
	assert_int_equal(read_kea(kea_good, strlen(kea_good), "client_id", &g), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.l[0].subscriber, "01:02:00:00:00:00:0a");

	/* a column that is not in the header: one error, nothing read */
	memset(&g, 0, sizeof g);
	assert_int_equal(read_kea(kea_good, strlen(kea_good), "nosuch", &g), 1);
	assert_int_equal(g.n, 0);
	assert_non_null(strstr(g.err[0], "leases4.csv:1: "));
	assert_non_null(strstr(g.err[0], "nosuch"));
}

static void
test_kea_decline_reclaim(void **state)
{
	static const char txt[] =
	    KEA_HDR
	    "100.64.0.20,aa:aa:aa:aa:aa:aa,,3600,1000003600,1,0,0,,0,\n"
	    /* declined half way: the lease ends there */
	    "100.64.0.20,,,86400,1000088200,1,0,0,,1,\n"
	    "100.64.0.21,bb:bb:bb:bb:bb:bb,,3600,1000003600,1,0,0,h,0,\n"
	    /* expired-reclaimed (hostname cleared), then a deletion line */
	    "100.64.0.21,bb:bb:bb:bb:bb:bb,,3600,1000003600,1,0,0,,2,\n"
	    "100.64.0.21,bb:bb:bb:bb:bb:bb,,0,1000000000,1,0,0,,2,\n"
	    /* the same client again later: a new lease, not an extension */
	    "100.64.0.21,bb:bb:bb:bb:bb:bb,,3600,1000010000,1,0,0,h,0,\n"
	    /* an infinite lease */
	    "100.64.0.22,cc:cc:cc:cc:cc:cc,,4294967295,4294967295,1,0,0,,0,\n"
	    /* newer Kea: an extra column would be a bad line here; a released
	     * state-3 line closes */
	    "100.64.0.23,dd:dd:dd:dd:dd:dd,,100,1000000100,1,0,0,,0,\n"
	    "100.64.0.23,dd:dd:dd:dd:dd:dd,,100,1000000100,1,0,0,,3,\n"
	    "100.64.0.23,dd:dd:dd:dd:dd:dd,,100,1000000150,1,0,0,,0,\n";
	struct got g;

	(void)state;
	memset(&g, 0, sizeof g);
	assert_int_equal(read_kea(txt, strlen(txt), "hwaddr", &g), 0);
	assert_int_equal(g.n, 6);
	expect(&g.l[0], "100.64.0.20/32", "aa:aa:aa:aa:aa:aa", 1000000000, 1000001800);
	expect(&g.l[1], "100.64.0.21/32", "bb:bb:bb:bb:bb:bb", 1000000000, 1000003600);
	expect(&g.l[2], "100.64.0.23/32", "dd:dd:dd:dd:dd:dd", 1000000000, 1000000050);
	expect(&g.l[3], "100.64.0.21/32", "bb:bb:bb:bb:bb:bb", 1000006400, 1000010000);
	expect(&g.l[4], "100.64.0.22/32", "cc:cc:cc:cc:cc:cc", 0, INT64_MAX);
	expect(&g.l[5], "100.64.0.23/32", "dd:dd:dd:dd:dd:dd", 1000000050, 1000000150);
}

static void
test_kea_malformed(void **state)
{
	static const char txt[] =
	    KEA_HDR                                                           /* 1 */
	    "100.64.0.10,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,0,\n"  /* 2 ok */
	    "not-an-ip,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,0,\n"    /* 3 */
	    "100.64.0.10,02:00:00:00:00:0a,,abc,1795701954,7,0,0,cpe-a,0,\n"  /* 4 */
	    "100.64.0.10,02:00:00:00:00:0a,,600,-5,7,0,0,cpe-a,0,\n"          /* 5 */
	    "100.64.0.10,02:00:00:00:00:0a,,600,1795701954,7,0,0\n"           /* 6 */
	    "100.64.0.10,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,9,\n"  /* 7 */
	    "100.64.0.10,02:00:\x01,,600,1795701954,7,0,0,cpe-a,0,\n"         /* 8 */
	    "100.64.0.10,02:\0:00,,600,1795701954,7,0,0,cpe-a,0,\n"           /* 9 */
	    "100.64.0.10,02:\xff\xfe,,600,1795701954,7,0,0,cpe-a,0,\n"        /* 10 */
	    "100.64.0.10,02:00:00:00:00:0a,,99999999999,1795701954,7,0,0,cpe-a,0,\n" /* 11 */
	    "100.64.0.14,02:00:00:00:00:0e,,600,1795701954,7,0,0,cpe-e,0,\n"; /* 12 ok */
	static const long lines[] = { 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	static const char *const words[] = { "IPv4 address", "valid_lifetime", "expire",
		"fields", "state", "control", "NUL", "UTF-8", "valid_lifetime" };
	struct got g;
	int i;

	(void)state;
	memset(&g, 0, sizeof g);
	assert_int_equal(read_kea(txt, sizeof txt - 1, "hwaddr", &g), 9);
	assert_int_equal(g.nerr, 9);
	for (i = 0; i < 9; i++) {
		char want[32];
		snprintf(want, sizeof want, "leases4.csv:%ld: expected", lines[i]);
		assert_true(g.errline[i] == lines[i]);
		assert_non_null(strstr(g.err[i], want));
		if (strstr(g.err[i], words[i]) == NULL)
			fail_msg("line %ld: '%s' lacks '%s'", lines[i], g.err[i], words[i]);
	}
	assert_int_equal(g.n, 2);

	/* a broken user context */
	{
		static const char t2[] = KEA_HDR
		    "100.64.0.10,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,0,{ \"sub\": \n"
		    "100.64.0.11,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,0,[1]\n"
		    "100.64.0.12,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,0,{\"sub\":[1]}\n";
		memset(&g, 0, sizeof g);
		assert_int_equal(read_kea(t2, strlen(t2), "user_context:sub", &g), 3);
		assert_non_null(strstr(g.err[0], "leases4.csv:2: expected a JSON object"));
		assert_non_null(strstr(g.err[2], "leases4.csv:4: expected a string or integer"));
		assert_int_equal(g.n, 0);
	}
	/* no header: reported, the line is still read with Kea's columns */
	{
		static const char t3[] =
		    "100.64.0.10,02:00:00:00:00:0a,,600,1795701954,7,0,0,cpe-a,0,\n";
		memset(&g, 0, sizeof g);
		assert_int_equal(read_kea(t3, strlen(t3), "hwaddr", &g), 1);
		assert_non_null(strstr(g.err[0], "leases4.csv:1: expected the Kea header"));
		assert_int_equal(g.n, 1);
	}
	/* empty file, junk file */
	memset(&g, 0, sizeof g);
	assert_int_equal(read_kea("", 0, "hwaddr", &g), 0);
	assert_int_equal(read_kea("\xff\xff\n\x01", 4, "hwaddr", &g), 3);
}

static void
test_kea_stop(void **state)
{
	struct got g;

	(void)state;
	memset(&g, 0, sizeof g);
	g.stop_after = 1;
	assert_int_equal(read_kea(kea_good, strlen(kea_good), "hwaddr", &g), 0);
	assert_int_equal(g.n, 1);
}

static void
test_csv_good(void **state)
{
	static const char txt[] =
	    "# static and imported leases\n"
	    "prefix,subscriber,valid_from,valid_to\n"
	    "100.64.1.10,alice,1795701354,1795702254\n"
	    "100.64.2.0/24,\"Acme, Inc. \"\"HQ\"\"\",2026-11-26T14:00:00Z,\r\n"
	    "  2001:DB8:1::5/56 , bob , 2026-11-26 , 2026-11-27T00:00Z\n"
	    "\n"
	    "10.0.0.1,carol,,\n"
	    "10.0.0.2,dave,2026-11-26T14:00:00+00:00\n"
	    "10.0.0.3,j\xc3\xbcrgen,0,1\n";
	struct got g;

	(void)state;
	memset(&g, 0, sizeof g);
	assert_int_equal(read_csv(txt, strlen(txt), &g), 0);
	assert_int_equal(g.nerr, 0);
	assert_int_equal(g.n, 6);
	expect(&g.l[0], "100.64.1.10/32", "alice", 1795701354, 1795702254);
	expect(&g.l[1], "100.64.2.0/24", "Acme, Inc. \"HQ\"", 1795701600, INT64_MAX);
	expect(&g.l[2], "2001:db8:1::/56", "bob", 1795651200, 1795737600);
	expect(&g.l[3], "10.0.0.1/32", "carol", 0, INT64_MAX);
	expect(&g.l[4], "10.0.0.2/32", "dave", 1795701600, INT64_MAX);
	expect(&g.l[5], "10.0.0.3/32", "j\xc3\xbcrgen", 0, 1);
	assert_string_equal(g.l[0].source, "csv");
}

static void
test_csv_malformed(void **state)
{
	char *txt, *p;
	size_t big = 100000, len;
	struct got g;
	static const long lines[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	int i;

	(void)state;
	txt = malloc(big + 1024);
	p = txt;
	p += sprintf(p, "100.64.1.10/33,alice,0,\n");              /* 1 prefix */
	p += sprintf(p, "100.64.1.10,,0,\n");                      /* 2 subscriber */
	p += sprintf(p, "100.64.1.10,alice,yesterday,\n");         /* 3 valid_from */
	p += sprintf(p, "100.64.1.10,alice,0,2026-13-01\n");       /* 4 valid_to */
	p += sprintf(p, "100.64.1.10,alice,100,50\n");             /* 5 order */
	p += sprintf(p, "100.64.1.10,alice\n");                    /* 6 fields */
	p += sprintf(p, "100.64.1.10,\"alice,0,\n");               /* 7 quote */
	p += sprintf(p, "100.64.1.10,a\x1b[31m,0,\n");              /* 8 control */
	p += sprintf(p, "100.64.1.10,\xc0\xaf,0,\n");               /* 9 overlong UTF-8 */
	memcpy(p, "100.64.1.10,al\0ce,0,\n", 21);                  /* 10 NUL */
	p += 21;
	memset(p, 'x', big);                                       /* 11 huge */
	p += big;
	*p++ = '\n';
	p += sprintf(p, "1,2,3,4,5\n");                            /* 12 too many */
	p += sprintf(p, "100.64.1.11,ok,0,\n");                    /* 13 good */
	len = (size_t)(p - txt);
	memset(&g, 0, sizeof g);
	assert_int_equal(read_csv(txt, len, &g), 12);
	for (i = 0; i < 12; i++) {
		char want[32];
		snprintf(want, sizeof want, "leases.csv:%ld: expected", lines[i]);
		if (strstr(g.err[i], want) == NULL)
			fail_msg("error %d: '%s' lacks '%s'", i, g.err[i], want);
	}
	assert_non_null(strstr(g.err[0], "prefix"));
	assert_non_null(strstr(g.err[2], "valid_from"));
	assert_non_null(strstr(g.err[3], "valid_to"));
	assert_non_null(strstr(g.err[10], "at most"));
	assert_int_equal(g.n, 1);
	assert_string_equal(g.l[0].subscriber, "ok");
	free(txt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kea_hwaddr),
		cmocka_unit_test(test_kea_columns),
		cmocka_unit_test(test_kea_decline_reclaim),
		cmocka_unit_test(test_kea_malformed),
		cmocka_unit_test(test_kea_stop),
		cmocka_unit_test(test_csv_good),
		cmocka_unit_test(test_csv_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
