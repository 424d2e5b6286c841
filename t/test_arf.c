/*
 * test_arf.c - the ARF parser on provider-shaped samples and broken ones,
 * the mbox splitter, RFC 5322 dates, and the composer (round trip through
 * the parser, no header injection, no body in the third part), RFC 2047
 * encoded-words in the fields the desk sees.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arf.h"
#include "util.h"

static char *
fixture(const char *name, size_t *len)
{
	char path[512];
	char *buf;

	snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
	buf = bs_read_file(path, len);
	if (buf == NULL)
		fail_msg("cannot read %s", path);
	return buf;
}

static int
parse_fixture(const char *name, struct arf_report *r, char *err, size_t errlen)
{
	size_t len;
	char *buf = fixture(name, &len);
	int rc = arf_parse(buf, len, r, err, errlen);

	free(buf);
	return rc;
}

static void
test_classic(void **state)
{
	struct arf_report r;
	char err[256];

	assert_int_equal(parse_fixture("01-multipart-report.eml", &r, err, sizeof err), 0);
	assert_string_equal(r.feedback_type, "abuse");
	assert_string_equal(r.user_agent, "BigMailFBL/2.1");
	assert_string_equal(r.version, "1");
	assert_string_equal(r.source_ip, "100.64.1.10");
	assert_int_equal(r.arrival_ms, arf_parse_date("Thu, 12 Nov 2026 09:58:41 +0000"));
	assert_true(r.arrival_ms > 0);
	assert_string_equal(r.reported_domain, "cheap-watches.example");
	assert_string_equal(r.reporting_mta, "dns; mx4.bigmail.example");
	assert_int_equal(r.original_rcpt_count, 1);
	assert_int_equal(r.incidents, 1);
	assert_true(r.has_message);
	assert_string_equal(r.msg_message_id, "<deal-777@cheap-watches.example>");
	assert_int_equal(r.n_received, 1);
	assert_string_equal(r.received[0].ip, "100.64.1.10");
	assert_string_equal(r.report_message_id, "<fbl-1-20261112100510@fbl.bigmail.example>");
	assert_non_null(strstr(r.report_from, "fbl-noreply@fbl.bigmail.example"));
	assert_string_equal(r.warning, "");
	arf_report_clear(&r);
}

static void
test_no_source_ip(void **state)
{
	struct arf_report r;
	char err[256];

	assert_int_equal(parse_fixture("02-no-source-ip.eml", &r, err, sizeof err), 0);
	assert_null(r.source_ip);
	assert_true(r.arrival_ms > 0);           /* from Received-Date */
	assert_int_equal(r.n_received, 2);
	assert_string_equal(r.received[0].ip, "198.51.100.25");
	assert_string_equal(r.received[1].ip, "100.64.1.10");
	assert_int_equal(r.received[1].ts_ms, arf_parse_date("Fri, 13 Nov 2026 07:45:08 +0000"));
	assert_string_equal(r.msg_message_id, "<won-1@isp-customer.example>");
	/* the subject is read, but nothing of the body */
	assert_string_equal(r.msg_subject, "you won");
	arf_report_clear(&r);
}

static void
test_base64(void **state)
{
	struct arf_report r;
	char err[256];

	assert_int_equal(parse_fixture("03-base64.eml", &r, err, sizeof err), 0);
	assert_string_equal(r.feedback_type, "abuse");
	assert_string_equal(r.source_ip, "100.64.1.10");
	/* 11:00 +0100 is 10:00 UTC */
	assert_int_equal(r.arrival_ms, arf_parse_date("Sat, 14 Nov 2026 10:00:00 +0000"));
	assert_string_equal(r.reported_domain, "isp-customer.example");
	assert_string_equal(r.msg_message_id, "<b64-1@isp-customer.example>");
	assert_int_equal(r.n_received, 1);
	arf_report_clear(&r);
}

static void
test_wrapped_qp_ipv6(void **state)
{
	struct arf_report r;
	char err[256];

	assert_int_equal(parse_fixture("04-mixed-wrapper-qp.eml", &r, err, sizeof err), 0);
	assert_string_equal(r.feedback_type, "fraud");
	assert_string_equal(r.source_ip, "2001:db8:1::25");
	assert_int_equal(r.incidents, 3);
	assert_int_equal(r.arrival_ms, arf_parse_date("Sun, 15 Nov 2026 11:30:00 +0000"));
	assert_string_equal(r.received[0].ip, "2001:db8:1::25");
	assert_non_null(strstr(r.warning, "wrapped"));
	arf_report_clear(&r);
}

static void
test_broken(void **state)
{
	static const struct { const char *file, *want; } cases[] = {
		{ "bad-no-boundary.eml", "no boundary parameter" },
		{ "bad-not-arf.eml", "expected multipart/report" },
		{ "bad-no-feedback-type.eml", "missing the required Feedback-Type" },
		{ "bad-truncated.eml", "never appears" },
		{ "bad-dsn.eml", "report-type=delivery-status" },
		{ "bad-garbage.bin", "" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct arf_report r;
		char err[256] = "";
		assert_int_equal(parse_fixture(cases[i].file, &r, err, sizeof err), -1);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("%s: error '%s' does not say '%s'", cases[i].file, err, cases[i].want);
		assert_true(err[0] != '\0');
		assert_null(r.feedback_type);
	}
}

struct mb {
	int n;
	long lines[8];
	int quoted_ok;
};

static int
on_msg(void *ud, const char *msg, size_t len, int index, long line)
{
	struct mb *m = ud;

	assert_int_equal(index, m->n + 1);
	m->lines[m->n++] = line;
	assert_true(len > 5);
	assert_true(memcmp(msg, "From ", 5) != 0);     /* the separator is not passed */
	if (strstr(msg, "\nFrom the desk") != NULL && strstr(msg, ">From the desk") == NULL)
		m->quoted_ok++;
	return 0;
}

static void
test_mbox(void **state)
{
	struct mb m = { 0 };
	size_t len;
	char *buf = fixture("06-three.mbox", &len);

	assert_int_equal(arf_mbox_each(buf, len, on_msg, &m), 0);
	assert_int_equal(m.n, 3);
	assert_int_equal(m.lines[0], 2);
	assert_true(m.lines[1] > m.lines[0] && m.lines[2] > m.lines[1]);
	assert_int_equal(m.quoted_ok, 3);
	free(buf);

	/* a single message is an mbox of one, starting at its first line */
	memset(&m, 0, sizeof m);
	buf = fixture("01-multipart-report.eml", &len);
	assert_int_equal(arf_mbox_each(buf, len, on_msg, &m), 0);
	assert_int_equal(m.n, 0 + 1);
	assert_int_equal(m.lines[0], 1);
	free(buf);
}

static void
test_dates(void **state)
{
	int64_t base = arf_parse_date("Thu, 26 Nov 2026 14:06:00 +0000");

	assert_int_equal(base, 1795701960000LL);
	assert_int_equal(arf_parse_date("26 Nov 2026 14:06:00 +0000"), base);
	assert_int_equal(arf_parse_date("Thu, 26 Nov 2026 15:06:00 +0100"), base);
	assert_int_equal(arf_parse_date("Thu, 26 Nov 2026 09:06:00 EST"), base);
	assert_int_equal(arf_parse_date("Thu, 26 Nov 2026 14:06:00 GMT"), base);
	assert_int_equal(arf_parse_date("Thu, 26 Nov 2026 14:06:00 +0000 (UTC)"), base);
	assert_int_equal(arf_parse_date("Thu, 26 Nov 26 14:06:00 +0000"), base);
	assert_int_equal(arf_parse_date("Thu, 26 Nov 2026 14:06 +0000"), base);
	assert_int_equal(arf_parse_date("2026-11-26T14:06:00Z"), base);
	assert_int_equal(arf_parse_date("Thu, 26 Nov 2026 14:06:00.123 +0000"), base);
	assert_int_equal(arf_parse_date(""), -1);
	assert_int_equal(arf_parse_date("yesterday"), -1);
	assert_int_equal(arf_parse_date("Thu, 26 Foo 2026 14:06:00 +0000"), -1);
	assert_int_equal(arf_parse_date("Thu, 99 Nov 2026 14:06:00 +0000"), -1);
	assert_int_equal(arf_parse_date("Thu, 26 Nov 2026 25:06:00 +0000"), -1);
	assert_int_equal(arf_parse_date(NULL), -1);
}

static void
test_compose_roundtrip(void **state)
{
	struct arf_field extra[] = { { "X-Botsentry-Incident", "42" }, { "X-Evil\r\nBcc", "x\r\nBcc: victim@example" } };
	struct arf_compose a;
	struct arf_report r;
	char err[256], *msg, *third;

	memset(&a, 0, sizeof a);
	a.from = "abuse@isp.example";
	a.to = "abuse@remote.example\r\nBcc: everyone@example";
	a.source_ip = "100.64.1.10";
	a.arrival_ms = 1795701960000LL;
	a.reported_domain = "isp-customer.example";
	a.incidents = 7;
	a.extra = extra;
	a.n_extra = 2;
	a.human_text = "Grüße: a subscriber's machine is a bot.\nSecond line.\n";
	a.headers = "Received: from bot ([100.64.1.10]) by smarthost1; Thu, 26 Nov 2026 14:06:00 +0000\n"
	    "Subject: hello\n\nTHE BODY MUST NOT APPEAR\n";
	a.boundary = "BOUNDARY-T";
	msg = arf_compose(&a);

	/* structure */
	assert_non_null(strstr(msg, "Content-Type: multipart/report; report-type=feedback-report;"));
	assert_non_null(strstr(msg, "boundary=\"BOUNDARY-T\""));
	assert_non_null(strstr(msg, "Content-Type: message/feedback-report\r\n"));
	assert_non_null(strstr(msg, "Feedback-Type: abuse\r\n"));
	assert_non_null(strstr(msg, "User-Agent: botsentry/"));
	assert_non_null(strstr(msg, "Version: 1\r\n"));
	assert_non_null(strstr(msg, "Source-IP: 100.64.1.10\r\n"));
	assert_non_null(strstr(msg, "Arrival-Date: Thu, 26 Nov 2026 14:06:00 +0000\r\n"));
	assert_non_null(strstr(msg, "Reported-Domain: isp-customer.example\r\n"));
	assert_non_null(strstr(msg, "Incidents: 7\r\n"));
	assert_non_null(strstr(msg, "X-Botsentry-Incident: 42\r\n"));
	assert_non_null(strstr(msg, "Content-Transfer-Encoding: quoted-printable"));
	assert_non_null(strstr(msg, "Gr=C3=BC=C3=9Fe"));
	third = strstr(msg, "Content-Type: text/rfc822-headers");
	assert_non_null(third);
	assert_non_null(strstr(third, "Subject: hello\r\n"));
	/* no body, no injected header line, only CRLF line ends */
	assert_null(strstr(msg, "THE BODY"));
	assert_null(strstr(msg, "\r\nBcc:"));
	{
		const char *p;
		for (p = msg; *p != '\0'; p++)
			if (*p == '\n')
				assert_true(p > msg && p[-1] == '\r');
	}

	/* and our own parser reads it back */
	assert_int_equal(arf_parse(msg, strlen(msg), &r, err, sizeof err), 0);
	assert_string_equal(r.feedback_type, "abuse");
	assert_string_equal(r.source_ip, "100.64.1.10");
	assert_int_equal(r.arrival_ms, 1795701960000LL);
	assert_int_equal(r.incidents, 7);
	assert_string_equal(r.reported_domain, "isp-customer.example");
	assert_int_equal(r.n_received, 1);
	assert_string_equal(r.received[0].ip, "100.64.1.10");
	arf_report_clear(&r);
	free(msg);

	/* minimal: no headers given still makes a third part; defaults fill in */
	memset(&a, 0, sizeof a);
	a.source_ip = "192.0.2.1";
	msg = arf_compose(&a);
	assert_non_null(strstr(msg, "text/rfc822-headers"));
	assert_non_null(strstr(msg, "Received: from [192.0.2.1]"));
	assert_non_null(strstr(msg, "Subject: Abuse report for 192.0.2.1"));
	assert_non_null(strstr(msg, "Message-ID: <arf."));
	assert_int_equal(arf_parse(msg, strlen(msg), &r, err, sizeof err), 0);
	arf_report_clear(&r);
	free(msg);
}

/* Hostile bits: every prefix of a good report must parse or fail cleanly. */
static void
test_truncations(void **state)
{
	size_t len, n;
	char *buf = fixture("03-base64.eml", &len);

	for (n = 0; n <= len; n += 7) {
		struct arf_report r;
		char err[256];
		char *copy = xmalloc(n + 1);
		memcpy(copy, buf, n);
		if (arf_parse(copy, n, &r, err, sizeof err) == 0)
			arf_report_clear(&r);
		free(copy);
	}
	free(buf);
}

/* RFC 2047 encoded-words in the fields the desk sees: decoded into clean
 * UTF-8; one that cannot be decoded is kept and warned about with its
 * field and line. */
static void
test_encoded_words(void **state)
{
	struct arf_report r;
	char err[256];
	size_t len;
	char *buf;

	(void)state;
	assert_int_equal(parse_fixture("08-encoded-words.eml", &r, err, sizeof err), 0);
	assert_string_equal(r.report_from, "Gro\xc3\x9f" "e Post Beschwerdestelle <fbl@grosse-post.example>");
	assert_string_equal(r.report_subject, "Beschwerde: Spam von 100.64.1.10 \xe2\x80\x93 bitte pr\xc3\xbc" "fen");
	assert_string_equal(r.user_agent, "Gro\xc3\x9f" "ePost-FBL/3.0");
	assert_string_equal(r.msg_from, "\xe2\x80\x9cUhren Sonderangebot\xe2\x80\x9d <angebot@rolex-billig.example>");
	assert_string_equal(r.msg_subject, "Nur heute: 99 \xe2\x82\xac statt 999 \xe2\x82\xac! =?X-KLINGON?Q?tlhIngan?=");
	assert_string_equal(r.warning, "line 32: Subject of the reported message: 1 encoded-word left as it was "
	    "(unknown charset \"x-klingon\")");
	/* machine fields are not touched */
	assert_string_equal(r.source_ip, "100.64.1.10");
	assert_string_equal(r.reported_domain, "rolex-billig.example");
	assert_string_equal(r.msg_message_id, "<deal-888@rolex-billig.example>");
	arf_report_clear(&r);

	/* the same message on line 100 of an mbox: the warning names the file's line */
	buf = fixture("08-encoded-words.eml", &len);
	assert_int_equal(arf_parse_at(buf, len, 100, &r, err, sizeof err), 0);
	assert_non_null(strstr(r.warning, "line 131: Subject of the reported message"));
	arf_report_clear(&r);
	free(buf);
}

#define MINI_HEAD "From: =?UTF-8?Q?a_=3Cevil=40x.example=3E?= <fbl@real.example>\n" \
	"Subject: =?UTF-8?Q?caf=C3=A9?= =?UTF-8?Q?=0D=0ABcc:_x?=\n" \
	"Message-ID: <m@real.example>\n" \
	"Content-Type: multipart/report; report-type=feedback-report; boundary=\"z\"\n\n" \
	"--z\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n" \
	"User-Agent: =?UTF-8?Q?x=FFy?= 1.0\nVersion: 1\nSource-IP: 192.0.2.1\n\n"

static void
test_encoded_words_parts(void **state)
{
	/* the third part in base64: its fields have no line of their own */
	const char *msg = MINI_HEAD "--z\nContent-Type: text/rfc822-headers\nContent-Transfer-Encoding: base64\n\n"
	    "RnJvbTogPT9YLUJBRD9RP3g/PSA8YUBiLmV4YW1wbGU+ClN1YmplY3Q6ID0/VVRGLTg/Qj93NlE9Pz0K\n--z--\n";
	struct arf_report r;
	char err[256];

	(void)state;
	assert_int_equal(arf_parse(msg, strlen(msg), &r, err, sizeof err), 0);
	/* what an encoded display name decodes to is not taken for the address */
	assert_string_equal(r.report_from, "a <evil@x.example> <fbl@real.example>");
	/* decoded CR LF and the like never reach the value */
	assert_string_equal(r.report_subject, "caf\xc3\xa9 Bcc: x");
	/* invalid bytes: kept, warned, with the line */
	assert_string_equal(r.user_agent, "=?UTF-8?Q?x=FFy?= 1.0");
	assert_non_null(strstr(r.warning, "line 10: User-Agent: 1 encoded-word left as it was (bytes not valid in UTF-8)"));
	assert_string_equal(r.msg_from, "=?X-BAD?Q?x?= <a@b.example>");
	assert_string_equal(r.msg_subject, "\xc3\xa4");
	assert_non_null(strstr(r.warning, "message part 2: From of the reported message: 1 encoded-word left as it was "
	    "(unknown charset \"x-bad\")"));
	arf_report_clear(&r);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A 1 MB Subject of folded encoded-words: cut, decoded, quickly. */
static void
test_encoded_words_overlong(void **state)
{
	const char *fold = " =?UTF-8?B?w6TDtsO8?=\n";
	const char *tail = "Content-Type: multipart/report; report-type=feedback-report; boundary=\"z\"\n\n"
	    "--z\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x\nVersion: 1\n\n--z--\n";
	size_t fl = strlen(fold), cap = (1 << 20) + 4096, o;
	char *buf = xmalloc(cap), err[256];
	struct arf_report r;
	int64_t t0;

	(void)state;
	o = (size_t)snprintf(buf, cap, "From: x@y.example\nSubject:");
	while (o + fl < (size_t)1 << 20) {
		memcpy(buf + o, fold, fl);
		o += fl;
	}
	memcpy(buf + o, tail, strlen(tail));
	o += strlen(tail);
	t0 = mono_ms();
	assert_int_equal(arf_parse(buf, o, &r, err, sizeof err), 0);
	assert_true(mono_ms() - t0 < 2000);
	assert_true(strlen(r.report_subject) > 600);
	assert_true(strlen(r.report_subject) <= 4096);
	assert_memory_equal(r.report_subject, "\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa4\xc3\xb6\xc3\xbc", 12);
	arf_report_clear(&r);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classic),
		cmocka_unit_test(test_no_source_ip),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_wrapped_qp_ipv6),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_mbox),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_compose_roundtrip),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_encoded_words_parts),
		cmocka_unit_test(test_encoded_words_overlong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
