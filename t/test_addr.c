/*
 * test_addr.c - envelope paths, From: header values and DKIM tags
 * (lib/addr.c): what clients really send, and junk that must be refused.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

struct ecase {
	const char *in;
	int ok;
	const char *addr;      /* expected addr (ok) */
	const char *domain;
};

static const struct ecase env_cases[] = {
	{ "<alice@Example.COM>", 1, "alice@example.com", "example.com" },
	{ "alice@example.com", 1, "alice@example.com", "example.com" },
	{ "  <alice@example.com>  ", 1, "alice@example.com", "example.com" },
	{ "<Alice.Smith+tag@example.com>", 1, "Alice.Smith+tag@example.com", "example.com" },
	{ "<\"john doe\"@example.com>", 1, "\"john doe\"@example.com", "example.com" },
	{ "<\"a\\\"b\"@example.com>", 1, "\"a\\\"b\"@example.com", "example.com" },
	{ "<@relay.example,@r2.example:bob@example.org>", 1, "bob@example.org", "example.org" },
	{ "<bob@[192.0.2.1]>", 1, "bob@[192.0.2.1]", "[192.0.2.1]" },
	{ "<bob@example.com.>", 1, "bob@example.com", "example.com" },
	{ "<postmaster>", 1, "postmaster", "" },
	{ "<j\xc3\xb6rg@b\xc3\xbc" "cher.example>", 1, "j\xc3\xb6rg@b\xc3\xbc" "cher.example",
	  "b\xc3\xbc" "cher.example" },
	/* junk */
	{ "", 0, NULL, NULL },
	{ "<", 0, NULL, NULL },
	{ "<a@b.example", 0, NULL, NULL },
	{ "a@b.example>", 0, NULL, NULL },
	{ "<a@>", 0, NULL, NULL },
	{ "<@b.example>", 0, NULL, NULL },
	{ "<a b@example.com>", 0, NULL, NULL },
	{ "<a..b@example.com>", 0, NULL, NULL },
	{ "<.a@example.com>", 0, NULL, NULL },
	{ "<a.@example.com>", 0, NULL, NULL },
	{ "<a@-bad.example>", 0, NULL, NULL },
	{ "<a@b..example>", 0, NULL, NULL },
	{ "<a@b.example> SIZE=100", 0, NULL, NULL },
	{ "<\"unterminated@example.com>", 0, NULL, NULL },
	{ "<a@b@example.com>", 0, NULL, NULL },
	{ "<<a@example.com>>", 0, NULL, NULL },
	{ "<a\r\n@example.com>", 0, NULL, NULL },
	{ "<@relay.example>", 0, NULL, NULL },
	{ "<a@[not a literal]>", 0, NULL, NULL },
};

static void
test_envelope(void **state)
{
	size_t i;
	struct addr a;
	char err[128];

	for (i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++) {
		const struct ecase *c = &env_cases[i];
		int rc = addr_parse_envelope(c->in, (size_t)-1, &a, err, sizeof err);

		if ((rc == 0) != c->ok)
			fail_msg("case %zu '%s': rc %d (%s), want %s", i, c->in, rc, rc ? err : "",
			    c->ok ? "ok" : "error");
		if (c->ok) {
			assert_string_equal(a.addr, c->addr);
			assert_string_equal(a.domain, c->domain);
		} else {
			assert_true(err[0] != '\0');
		}
	}
}

static void
test_null_sender(void **state)
{
	struct addr a;

	assert_int_equal(addr_parse_envelope("<>", 2, &a, NULL, 0), 0);
	assert_true(a.null_sender);
	assert_string_equal(a.addr, "");
	assert_int_equal(addr_parse_envelope(" <> ", (size_t)-1, &a, NULL, 0), 0);
	assert_true(a.null_sender);
}

static void
test_envelope_bounds(void **state)
{
	char big[8192], err[64];
	struct addr a;

	/* a 300-byte local part is cut? no: refused, with a reason */
	memset(big, 'a', sizeof big);
	memcpy(big + 300, "@example.com", 13);
	assert_int_equal(addr_parse_envelope(big, (size_t)-1, &a, err, sizeof err), -1);
	assert_string_equal(err, "local part too long");
	/* 8 kB of junk */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(addr_parse_envelope(big, (size_t)-1, &a, err, sizeof err), -1);
	/* NUL inside the given length */
	assert_int_equal(addr_parse_envelope("a\0b@example.com", 15, &a, err, sizeof err), -1);
}

struct fcase {
	const char *in;
	int ok;
	const char *addr;
	int count;
};

static const struct fcase from_cases[] = {
	{ "Alice <alice@example.com>", 1, "alice@example.com", 1 },
	{ "\"Smith, John\" <john@Example.org>", 1, "john@example.org", 1 },
	{ "alice@example.com", 1, "alice@example.com", 1 },
	{ "alice@example.com (Alice Liddell)", 1, "alice@example.com", 1 },
	{ "(comment (nested)) alice@example.com", 1, "alice@example.com", 1 },
	{ "=?UTF-8?B?w4Rsa2U=?= <aelke@example.de>", 1, "aelke@example.de", 1 },
	{ "a@example.com, b@example.net", 1, "a@example.com", 2 },
	{ "A <a@example.com>, \"B\" <b@example.net>, c@example.org", 1, "a@example.com", 3 },
	{ "friends: a@example.com, b@example.net;", 1, "a@example.com", 2 },
	{ "undisclosed-recipients:;, c@example.org", 1, "c@example.org", 1 },
	{ " \r\n\tAlice\r\n <alice@example.com>", 1, "alice@example.com", 1 },
	{ "Bob <bob@[192.0.2.7]>", 1, "bob@[192.0.2.7]", 1 },
	{ "<x@example.com>, junk junk, y@example.net", 1, "x@example.com", 2 },
	/* junk */
	{ "", 0, NULL, 0 },
	{ "Alice", 0, NULL, 0 },
	{ "Alice <>", 0, NULL, 0 },
	{ "Alice <alice@example.com", 0, NULL, 0 },
	{ "\"unterminated <a@example.com>", 0, NULL, 0 },
	{ "(unterminated a@example.com", 0, NULL, 0 },
	{ "a@example.com>", 0, NULL, 0 },
	{ "A <a@example.com> <b@example.com>", 0, NULL, 0 },
	{ "group:;", 0, NULL, 0 },
};

static void
test_from(void **state)
{
	size_t i;
	struct addr a;
	char err[128];
	int n;

	for (i = 0; i < sizeof from_cases / sizeof from_cases[0]; i++) {
		const struct fcase *c = &from_cases[i];
		int rc = addr_parse_from_header(c->in, (size_t)-1, &a, &n, err, sizeof err);

		if ((rc == 0) != c->ok)
			fail_msg("case %zu '%s': rc %d (%s), want %s", i, c->in, rc, rc ? err : "",
			    c->ok ? "ok" : "error");
		if (c->ok) {
			assert_string_equal(a.addr, c->addr);
			if (n != c->count)
				fail_msg("case %zu '%s': %d mailboxes, want %d", i, c->in, n, c->count);
		} else {
			assert_true(err[0] != '\0');
		}
	}
}

static void
test_from_huge(void **state)
{
	static char big[1 << 20];
	struct addr a;
	char err[64];
	int n, i;

	/* 1 MB of "x@example.com, " repeated: linear, counted, first one kept */
	for (i = 0; i + 15 < (int)sizeof big; i += 15)
		memcpy(big + i, "x@example.com, ", 15);
	big[i] = '\0';
	assert_int_equal(addr_parse_from_header(big, (size_t)-1, &a, &n, err, sizeof err), 0);
	assert_string_equal(a.addr, "x@example.com");
	assert_true(n > 60000);
	/* deep comment nesting is refused, not recursed */
	memset(big, '(', 100000);
	big[100000] = '\0';
	assert_int_equal(addr_parse_from_header(big, (size_t)-1, &a, &n, err, sizeof err), -1);
}

static void
test_dkim_tags(void **state)
{
	char d[256], s[64];

	assert_int_equal(addr_dkim_tags("v=1; a=rsa-sha256; d=Example.COM; s=sel1; h=from:to; b=abc",
	    (size_t)-1, d, sizeof d, s, sizeof s), 0);
	assert_string_equal(d, "example.com");
	assert_string_equal(s, "sel1");
	assert_int_equal(addr_dkim_tags("v=1;\r\n\td = mail.example.org ;\r\n s=x;", (size_t)-1,
	    d, sizeof d, s, sizeof s), 0);
	assert_string_equal(d, "mail.example.org");
	/* no d=, duplicate d=, bad domain, junk */
	assert_int_equal(addr_dkim_tags("v=1; s=x", (size_t)-1, d, sizeof d, NULL, 0), -1);
	assert_int_equal(addr_dkim_tags("d=a.example; d=b.example", (size_t)-1, d, sizeof d, NULL, 0), -1);
	assert_int_equal(addr_dkim_tags("d=bad domain.example", (size_t)-1, d, sizeof d, NULL, 0), -1);
	assert_int_equal(addr_dkim_tags("garbage", (size_t)-1, d, sizeof d, NULL, 0), -1);
	assert_int_equal(addr_dkim_tags("", 0, d, sizeof d, NULL, 0), -1);
	assert_int_equal(addr_dkim_tags("dd=x.example; d=y.example", (size_t)-1, d, sizeof d, NULL, 0), 0);
	assert_string_equal(d, "y.example");
}

static void
test_domain_ok(void **state)
{
	assert_true(addr_domain_ok("example.com", 11));
	assert_true(addr_domain_ok("_dmarc.example.com", 18));
	assert_false(addr_domain_ok("", 0));
	assert_false(addr_domain_ok("a..b", 4));
	assert_false(addr_domain_ok("a b", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_envelope_bounds),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_from_huge),
		cmocka_unit_test(test_dkim_tags),
		cmocka_unit_test(test_domain_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
