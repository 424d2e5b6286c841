/*
 * test_mime.c - lib/mime: hostile header values cannot add headers, UTF-8
 * becomes RFC 2047 encoded words, long values fold, bodies are valid
 * quoted-printable, addresses are checked.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "mime.h"
#include "util.h"

/* Every line after the first of a header must be a continuation. */
static void
assert_one_header(const char *h)
{
	const char *p;

	assert_non_null(h);
	assert_null(strchr(h, '\r'));
	for (p = strchr(h, '\n'); p != NULL && p[1] != '\0'; p = strchr(p + 1, '\n'))
		assert_int_equal(p[1], ' ');
	assert_int_equal(h[strlen(h) - 1], '\n');
}

static void
test_clean(void **state)
{
	const char in[] = "mail.example\r\nBcc: victim@example.org\0tail\t\x1b[31m";
	char *c = mime_clean(in, sizeof in - 1);

	(void)state;
	assert_string_equal(c, "mail.example Bcc: victim@example.org tail [31m");
	free(c);
	c = mime_clean("  a  b  ", 8);
	assert_string_equal(c, "a b");
	free(c);
	c = mime_clean("ok\xff\xfe", 4);
	assert_string_equal(c, "ok??");
	free(c);
	c = mime_clean("\xc3\xa9t\xc3\xa9", 5);          /* valid UTF-8 kept */
	assert_string_equal(c, "\xc3\xa9t\xc3\xa9");
	free(c);
	c = mime_clean("\xed\xa0\x80", 3);                  /* a surrogate is not UTF-8 */
	assert_string_equal(c, "???");
	free(c);
}

static void
test_clean_long(void **state)
{
	size_t n = 10 * 1024, i;
	char *big = xmalloc(n);
	char *c;

	(void)state;
	for (i = 0; i < n; i++)
		big[i] = (i % 100 == 99) ? '\n' : (char)('a' + i % 26);
	c = mime_clean(big, n);
	assert_true(strlen(c) <= MIME_HEADER_VALUE_MAX);
	assert_string_equal(c + strlen(c) - 3, "...");
	assert_null(strchr(c, '\n'));
	free(c);
	/* a cut never splits a UTF-8 character */
	for (i = 0; i + 1 < n; i += 2) {
		big[i] = '\xc3';
		big[i + 1] = '\xa9';
	}
	c = mime_clean(big, n);
	assert_string_equal(c + strlen(c) - 3, "...");
	assert_true(strlen(c) % 2 == 1);     /* pairs, then "..." */
	free(c);
	free(big);
}

static void
test_header_injection(void **state)
{
	struct mbuf b = { 0 };

	(void)state;
	mime_header(&b, "Subject", "hello\r\nBcc: victim@example.org\r\n\r\nbody");
	assert_one_header(b.p);
	assert_string_equal(b.p, "Subject: hello Bcc: victim@example.org body\n");
	mbuf_free(&b);
	mime_header(&b, "Subject", "$(rm -rf /) `id` \"quoted\" 'single'");
	assert_string_equal(b.p, "Subject: $(rm -rf /) `id` \"quoted\" 'single'\n");
	mbuf_free(&b);
}

static void
test_header_fold(void **state)
{
	struct mbuf b = { 0 };
	char v[600];
	const char *p, *line;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof v - 1; i++)
		v[i] = (i % 7 == 6) ? ' ' : 'x';
	v[sizeof v - 1] = '\0';
	mime_header(&b, "Subject", v);
	assert_one_header(b.p);
	for (line = b.p; *line; line = p + 1) {
		p = strchr(line, '\n');
		assert_true((size_t)(p - line) <= 78);
	}
	mbuf_free(&b);
}

static void
test_header_utf8(void **state)
{
	struct mbuf b = { 0 };
	const char *v = "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln, eine lange Betreffzeile mit Umlauten "
	    "\xc3\xa4\xc3\xb6\xc3\xbc und noch mehr Text, damit gefaltet wird";
	unsigned char dec[512];
	struct mbuf all = { 0 };
	const char *p;
	int n;

	(void)state;
	mime_header(&b, "Subject", v);
	assert_one_header(b.p);
	assert_non_null(strstr(b.p, "=?UTF-8?B?"));
	/* decode every word and compare with the input */
	for (p = strstr(b.p, "=?UTF-8?B?"); p != NULL; p = strstr(p, "=?UTF-8?B?")) {
		const char *e = strstr(p + 10, "?=");
		assert_non_null(e);
		assert_true(e - p + 2 <= 75);
		n = EVP_DecodeBlock(dec, (const unsigned char *)p + 10, (int)(e - p - 10));
		assert_true(n >= 0);
		/* EVP_DecodeBlock counts padding bytes as NULs */
		while (n > 0 && (e[-1] == '=') && dec[n - 1] == 0) {
			n--;
			e--;
		}
		mbuf_add(&all, (const char *)dec, (size_t)n);
		p = strstr(p + 10, "?=") + 2;
	}
	assert_string_equal(all.p, v);
	mbuf_free(&all);
	mbuf_free(&b);
}

static void
test_address(void **state)
{
	struct mbuf b = { 0 };
	char spec[256];

	(void)state;
	assert_true(mime_addr_ok("alice@example.net"));
	assert_false(mime_addr_ok("alice@example.net\r\nBcc: x@y"));
	assert_false(mime_addr_ok("a b@example.net"));
	assert_false(mime_addr_ok("a@b@c"));
	assert_false(mime_addr_ok("@example.net"));
	assert_false(mime_addr_ok("alice@"));
	assert_false(mime_addr_ok("<alice@example.net>"));
	assert_false(mime_addr_ok("alice@example.net,bob@example.net"));
	assert_int_equal(mime_addr_spec("Abuse Desk <abuse@isp.example>", spec, sizeof spec), 0);
	assert_string_equal(spec, "abuse@isp.example");
	assert_int_equal(mime_address_header(&b, "From", "Abuse \"Desk\" <abuse@isp.example>"), 0);
	assert_string_equal(b.p, "From: \"Abuse \\\"Desk\\\"\" <abuse@isp.example>\n");
	mbuf_free(&b);
	assert_int_equal(mime_address_header(&b, "To", "x@y\nBcc: z@w"), -1);
	assert_null(b.p);
	assert_int_equal(mime_address_header(&b, "From", "Kund\xc3\xa9ndienst <help@isp.example>"), 0);
	assert_non_null(strstr(b.p, "=?UTF-8?B?"));
	assert_non_null(strstr(b.p, " <help@isp.example>\n"));
	mbuf_free(&b);
}

static void
test_qp(void **state)
{
	struct mbuf b = { 0 };
	char longline[300];
	const char *p, *line;

	(void)state;
	mime_qp(&b, "caf\xc3\xa9 = 1 \nend \t\n", 16);
	assert_string_equal(b.p, "caf=C3=A9 =3D 1=20\nend =09\n");
	mbuf_free(&b);
	memset(longline, 'a', sizeof longline - 1);
	longline[sizeof longline - 1] = '\0';
	mime_qp(&b, longline, strlen(longline));
	for (line = b.p; *line; line = p + 1) {
		p = strchr(line, '\n');
		assert_true((size_t)(p - line) <= 76);
	}
	mbuf_free(&b);
	mime_qp(&b, "a\r\nb\0c", 6);
	assert_string_equal(b.p, "a\nb=00c\n");
	mbuf_free(&b);
}

static void
test_misc(void **state)
{
	char buf[48], *id, *crlf;
	size_t n;

	(void)state;
	assert_string_equal(mime_date(0, buf, sizeof buf), "Thu, 01 Jan 1970 00:00:00 +0000");
	id = mime_message_id("inc-3-lvl-1-email", "isp.example");
	assert_string_equal(id, "<inc-3-lvl-1-email@isp.example>");
	free(id);
	id = mime_message_id("a b>\r\n<c", "x y.example\n");
	assert_string_equal(id, "<a_b____c@xy.example>");
	free(id);
	crlf = mime_to_crlf("a\nb\r\nc", &n);
	assert_string_equal(crlf, "a\r\nb\r\nc");
	assert_int_equal(n, 7);
	free(crlf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_clean_long),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_header_fold),
		cmocka_unit_test(test_header_utf8),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_misc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
