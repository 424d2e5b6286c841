/*
 * test_helo.c - the HELO classifier (lib/helo.c): a table of greetings,
 * from what real clients send to what bots and broken software send.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "helo.h"

static const char *const own_hosts[] = { "smtp.isp.example", "relay1.isp.example" };
static const char *const own_domains[] = { "isp.example", "isp-mail.example." };
static const char *const providers[] = { "gmail.com", "yahoo.com", "outlook.com", "hotmail.com" };
static const struct helo_lists lists = {
	own_hosts, 2, own_domains, 2, providers, 4,
};

struct hcase {
	const char *helo;
	size_t len;             /* 0: strlen */
	const char *client;
	enum helo_class want;
};

static const struct hcase cases[] = {
	/* ordinary */
	{ "mail.customer.example", 0, "100.64.1.2", HELO_OK },
	{ "Mail.Customer.Example.", 0, "100.64.1.2", HELO_OK },
	{ "cpe-100-64-1-2.dyn.example.net", 0, NULL, HELO_OK },
	{ "xn--bcher-kva.example", 0, NULL, HELO_OK },
	/* what Windows and home routers send */
	{ "DESKTOP-AB12CD", 0, NULL, HELO_SINGLE_LABEL },
	{ "localhost", 0, NULL, HELO_SINGLE_LABEL },
	{ "MY_PC", 0, NULL, HELO_SINGLE_LABEL },
	/* empty and blanks */
	{ "", 0, NULL, HELO_EMPTY },
	{ "   ", 0, NULL, HELO_EMPTY },
	{ NULL, 0, NULL, HELO_EMPTY },
	/* control bytes */
	{ "evil\r\nMAIL FROM:<x@y>", 0, NULL, HELO_CONTROL },
	{ "a\0b.example", 11, NULL, HELO_CONTROL },
	{ "tab\there", 0, NULL, HELO_CONTROL },
	{ "del\x7f.example", 0, NULL, HELO_CONTROL },
	/* addresses */
	{ "192.0.2.1", 0, "192.0.2.1", HELO_BARE_IP },
	{ "2001:db8::1", 0, NULL, HELO_BARE_IP },
	{ "[192.0.2.1]", 0, "192.0.2.1", HELO_LITERAL_OK },
	{ "[192.0.2.1]", 0, "192.0.2.99", HELO_LITERAL_OTHER },
	{ "[192.0.2.1]", 0, NULL, HELO_LITERAL_OTHER },
	{ "[IPv6:2001:db8::1]", 0, "2001:db8::1", HELO_LITERAL_OK },
	{ "[IPv6:2001:DB8:0::1]", 0, "2001:db8::1", HELO_LITERAL_OK },
	{ "[ipv6:2001:db8::2]", 0, "2001:db8::1", HELO_LITERAL_OTHER },
	{ "[192.0.2.1]", 0, "::ffff:192.0.2.1", HELO_LITERAL_OK },
	/* a client behind NAT naming its LAN address: not a forgery */
	{ "[192.168.1.23]", 0, "198.51.100.7", HELO_LITERAL_PRIVATE },
	{ "[10.0.0.5]", 0, "198.51.100.7", HELO_LITERAL_PRIVATE },
	{ "[172.16.4.1]", 0, "198.51.100.7", HELO_LITERAL_PRIVATE },
	{ "[172.32.4.1]", 0, "198.51.100.7", HELO_LITERAL_OTHER },
	{ "[100.64.9.9]", 0, "198.51.100.7", HELO_LITERAL_PRIVATE },
	{ "[100.128.9.9]", 0, "198.51.100.7", HELO_LITERAL_OTHER },
	{ "[169.254.1.1]", 0, NULL, HELO_LITERAL_PRIVATE },
	{ "[127.0.0.1]", 0, "198.51.100.7", HELO_LITERAL_PRIVATE },
	{ "[IPv6:fd12:3456::1]", 0, "2001:db8::1", HELO_LITERAL_PRIVATE },
	{ "[IPv6:fe80::1]", 0, "2001:db8::1", HELO_LITERAL_PRIVATE },
	{ "[IPv6:2001:db8::2]", 0, "2001:db8::1", HELO_LITERAL_OTHER },
	{ "[2001:db8::1]", 0, "2001:db8::1", HELO_INVALID },      /* v6 needs the tag */
	{ "[300.1.1.1]", 0, NULL, HELO_INVALID },
	{ "[192.0.2.1", 0, NULL, HELO_INVALID },
	{ "[]", 0, NULL, HELO_INVALID },
	/* our own names */
	{ "smtp.isp.example", 0, NULL, HELO_OWN_HOST },
	{ "SMTP.ISP.EXAMPLE.", 0, NULL, HELO_OWN_HOST },
	{ "isp.example", 0, NULL, HELO_OWN_DOMAIN },
	{ "pc17.isp.example", 0, NULL, HELO_OWN_DOMAIN },
	{ "x.isp-mail.example", 0, NULL, HELO_OWN_DOMAIN },
	{ "notisp.example", 0, NULL, HELO_OK },
	/* providers */
	{ "gmail.com", 0, NULL, HELO_PROVIDER },
	{ "mx.Yahoo.com", 0, NULL, HELO_PROVIDER },
	{ "notgmail.com", 0, NULL, HELO_OK },
	/* syntax */
	{ "-bad.example", 0, NULL, HELO_INVALID },
	{ "bad-.example", 0, NULL, HELO_INVALID },
	{ "a..example", 0, NULL, HELO_INVALID },
	{ ".example", 0, NULL, HELO_INVALID },
	{ "under_score.example", 0, NULL, HELO_INVALID },
	{ "sp ace.example", 0, NULL, HELO_INVALID },
	{ "1.2.3", 0, NULL, HELO_INVALID },
	{ "host.123", 0, NULL, HELO_INVALID },
	{ "-", 0, NULL, HELO_INVALID },
	{ "h\xc3\xa9llo.example", 0, NULL, HELO_INVALID },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", 0, NULL,
	  HELO_INVALID },   /* 64-byte label */
};

static void
test_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct hcase *c = &cases[i];
		size_t len = c->len ? c->len : (c->helo ? strlen(c->helo) : 0);
		enum helo_class got = helo_classify(c->helo, len, c->client, &lists);

		if (got != c->want)
			fail_msg("case %zu '%s': got %s, want %s", i, c->helo ? c->helo : "(null)",
			    helo_class_name(got), helo_class_name(c->want));
	}
}

static void
test_too_long(void **state)
{
	char big[10240];

	memset(big, 'a', sizeof big);
	assert_int_equal(helo_classify(big, 256, NULL, &lists), HELO_TOO_LONG);
	assert_int_equal(helo_classify(big, sizeof big, NULL, &lists), HELO_TOO_LONG);
	/* 255 bytes of one label: no longer "too long", but not a host name */
	assert_int_equal(helo_classify(big, 255, NULL, &lists), HELO_INVALID);
	/* a control byte deep inside a huge argument still counts as control */
	big[9000] = '\n';
	assert_int_equal(helo_classify(big, sizeof big, NULL, &lists), HELO_CONTROL);
}

static void
test_no_lists(void **state)
{
	assert_int_equal(helo_classify("gmail.com", 9, NULL, NULL), HELO_OK);
	assert_int_equal(helo_classify("smtp.isp.example", 16, NULL, NULL), HELO_OK);
}

static void
test_names(void **state)
{
	int i;

	for (i = 0; i < HELO_N_CLASSES; i++)
		assert_int_equal(helo_class_from_name(helo_class_name((enum helo_class)i)), i);
	assert_int_equal(helo_class_from_name("nope"), -1);
	assert_string_equal(helo_class_name(HELO_SINGLE_LABEL), "single_label");
}

static void
test_hostname_labels(void **state)
{
	assert_int_equal(helo_hostname_labels("a.b.c", 5), 3);
	assert_int_equal(helo_hostname_labels("a.b.c.", 6), 3);
	assert_int_equal(helo_hostname_labels("a", 1), 1);
	assert_int_equal(helo_hostname_labels("", 0), 0);
	assert_int_equal(helo_hostname_labels(".", 1), 0);
	assert_int_equal(helo_hostname_labels("a-.b", 4), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_no_lists),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_hostname_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
