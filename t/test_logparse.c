/*
 * test_logparse.c - the MTA log line parser: golden files for the recorded
 * fixtures (t/fixtures/logs/NAME.log -> NAME.ref: one line per record that
 * is not skipped), and direct checks of the fields that matter, the
 * timestamp rules (year inference, zones, formats) and hostile input.
 *
 * BS_REGEN=1 rewrites the .ref files from the parser's output (review the
 * diff before keeping it).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "logparse.h"
#include "util.h"

#ifndef FIXTURES
#define FIXTURES "t/fixtures/logs"
#endif

/* 2026-11-26T14:30:00Z, the day the samples were recorded */
#define NOW_MS 1795703400000LL

static struct lp_opts opts;

static int
setup(void **state)
{
	(void)state;
	lp_opts_init(&opts, NOW_MS);
	return 0;
}

static int
parse(const char *line, struct lp_record *r)
{
	return lp_parse(&opts, line, strlen(line), r);
}

/* One record as a line of text, for the golden files. */
static void
format_record(const struct lp_record *r, FILE *out)
{
	char tbuf[40];
	char *login = bs_sanitize(r->login, strlen(r->login), 400);
	char *reason = bs_sanitize(r->reason, strlen(r->reason), 200);
	char *name = bs_sanitize(r->client_name, strlen(r->client_name), 200);

	if (r->kind == LP_MALFORMED) {
		fprintf(out, "malformed \"%s\"\n", r->malformed);
	} else {
		fprintf(out, "%s %s %s prog=%s pid=%ld qid=%s name=%s ip=%s mech=%s login=\"%s\""
		    " reason=\"%s\" domain=%s dsn=%s status=%s relay=%s%s\n",
		    lp_kind_name(r->kind), r->mta == LP_MTA_POSTFIX ? "postfix" : "sendmail",
		    bs_fmt_time(r->ts_ms, tbuf, sizeof tbuf), r->prog, r->pid, r->qid, name,
		    r->client_ip, r->mech, login, reason, r->rcpt_domain, r->dsn,
		    lp_status_name(r->status), r->relay, r->truncated ? " truncated" : "");
	}
	free(login);
	free(reason);
	free(name);
}

static void
golden(const char *name)
{
	char path[512], refpath[512];
	char *in, *ref, *got = NULL, *line, *save = NULL;
	size_t inlen, reflen, gotlen = 0;
	FILE *mem;
	struct lp_record r;

	snprintf(path, sizeof path, "%s/%s.log", FIXTURES, name);
	snprintf(refpath, sizeof refpath, "%s/%s.ref", FIXTURES, name);
	in = bs_read_file(path, &inlen);
	assert_non_null(in);
	mem = open_memstream(&got, &gotlen);
	assert_non_null(mem);
	for (line = strtok_r(in, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (lp_parse(&opts, line, strlen(line), &r) == LP_SKIP)
			continue;
		format_record(&r, mem);
	}
	fclose(mem);
	if (getenv("BS_REGEN") != NULL) {
		FILE *f = fopen(refpath, "w");
		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	}
	ref = bs_read_file(refpath, &reflen);
	assert_non_null(ref);
	if (strcmp(ref, got) != 0) {
		/* show the first differing line */
		char *a = ref, *b = got;
		while (*a && *a == *b) {
			a++;
			b++;
		}
		while (a > ref && a[-1] != '\n') {
			a--;
			b--;
		}
		print_error("%s: differs from %s\n  want: %.300s\n  got:  %.300s\n", name, refpath, a, b);
		fail();
	}
	free(in);
	free(ref);
	free(got);
}

static void
test_golden_postfix_samples(void **state)
{
	(void)state;
	golden("postfix-3.7-samples");
}

static void
test_golden_postfix_variants(void **state)
{
	(void)state;
	golden("postfix-variants");
}

static void
test_golden_sendmail(void **state)
{
	(void)state;
	golden("sendmail");
}

static void
test_postfix_fail(void **state)
{
	struct lp_record r;

	(void)state;
	assert_int_equal(parse("Nov 26 13:39:24 smarthost postfix/submission/smtpd[23835]: warning: "
	    "dyn-127-0-0-23.pool.isp.example[127.0.0.23]: SASL PLAIN authentication failed: "
	    "authentication failure, sasl_username=alice@isp.example\n", &r), LP_AUTH_FAIL);
	assert_int_equal(r.mta, LP_MTA_POSTFIX);
	assert_string_equal(r.client_name, "dyn-127-0-0-23.pool.isp.example");
	assert_string_equal(r.client_ip, "127.0.0.23");
	assert_string_equal(r.mech, "PLAIN");
	assert_string_equal(r.login, "alice@isp.example");
	assert_string_equal(r.reason, "authentication failure");
	assert_string_equal(r.host, "smarthost");
	assert_string_equal(r.prog, "postfix/submission/smtpd");
	assert_int_equal(r.pid, 23835);
	/* 2026-11-26T13:39:24Z */
	assert_int_equal(r.ts_ms, 1795700364000LL);

	/* IPv6 and unknown */
	assert_int_equal(parse("Nov 26 13:39:24 h postfix/smtpd[1]: warning: unknown[2001:db8::1]: "
	    "SASL LOGIN authentication failed: UGFzc3dvcmQ6", &r), LP_AUTH_FAIL);
	assert_string_equal(r.client_name, "unknown");
	assert_string_equal(r.client_ip, "2001:db8::1");
	assert_string_equal(r.login, "");
	assert_string_equal(r.reason, "UGFzc3dvcmQ6");
	/* the cyrus line without a client carries nothing */
	assert_int_equal(parse("Nov 26 13:39:24 h postfix/smtpd[1]: warning: SASL authentication "
	    "failure: Password verification failed", &r), LP_SKIP);
}

static void
test_postfix_ok_and_delivery(void **state)
{
	struct lp_record r;

	(void)state;
	assert_int_equal(parse("Nov 26 13:39:25 smarthost postfix/submission/smtpd[23835]: 35FCBA72008: "
	    "client=dyn-127-0-0-23.pool.isp.example[127.0.0.23], sasl_method=LOGIN, "
	    "sasl_username=bob@isp.example", &r), LP_AUTH_OK);
	assert_string_equal(r.qid, "35FCBA72008");
	assert_string_equal(r.mech, "LOGIN");
	assert_string_equal(r.login, "bob@isp.example");
	assert_string_equal(r.client_ip, "127.0.0.23");

	assert_int_equal(parse("Nov 26 13:39:31 smarthost postfix/smtpd[24093]: 743B9A7208C: "
	    "client=localhost[127.0.0.1]", &r), LP_CLIENT);
	assert_string_equal(r.qid, "743B9A7208C");
	assert_string_equal(r.client_ip, "127.0.0.1");

	assert_int_equal(parse("Nov 26 13:40:47 smarthost postfix/smtp[25498]: 758B7A720BD: "
	    "to=<probe@Example.COM>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.02, "
	    "delays=0.01/0.01/0/0, dsn=5.1.1, status=bounced (host said: 550 5.1.1 no such user)", &r),
	    LP_DELIVERY);
	assert_string_equal(r.qid, "758B7A720BD");
	assert_string_equal(r.dsn, "5.1.1");
	assert_int_equal(r.status, LP_ST_BOUNCED);
	/* privacy: the domain only, lower-cased */
	assert_string_equal(r.rcpt_domain, "example.com");
	assert_null(strstr(r.reason, "probe@"));   /* the reply text here names no address */

	assert_int_equal(parse("Nov 26 13:40:47 smarthost postfix/qmgr[25480]: 758B7A720BD: removed", &r),
	    LP_REMOVED);
	assert_string_equal(r.qid, "758B7A720BD");
	/* qmgr's other lines and cleanup are skipped */
	assert_int_equal(parse("Nov 26 13:40:47 smarthost postfix/qmgr[25480]: 758B7A720BD: "
	    "from=<alice@isp.example>, size=489, nrcpt=1 (queue active)", &r), LP_SKIP);
	assert_int_equal(parse("Nov 26 13:40:47 smarthost postfix/cleanup[25496]: 758B7A720BD: "
	    "message-id=<20261126134047.025492@vm>", &r), LP_SKIP);
}

static void
test_sendmail(void **state)
{
	struct lp_record r;

	(void)state;
	assert_int_equal(parse("Nov 26 14:10:01 relay sm-mta[4001]: 5AQEA1xY004001: AUTH failure (LOGIN): "
	    "authentication failure (-13) SASL(-13): authentication failure: checkpass failed, "
	    "user=bob@isp.example, relay=dyn.pool.isp.example [100.64.1.2]", &r), LP_AUTH_FAIL);
	assert_int_equal(r.mta, LP_MTA_SENDMAIL);
	assert_string_equal(r.mech, "LOGIN");
	assert_string_equal(r.login, "bob@isp.example");
	assert_string_equal(r.client_ip, "100.64.1.2");
	assert_string_equal(r.client_name, "dyn.pool.isp.example");

	assert_int_equal(parse("Nov 26 14:11:02 relay sm-mta[4011]: AUTH=server, relay=[IPv6:2001:db8:5::4], "
	    "authid=carol, mech=PLAIN, bits=256", &r), LP_AUTH_OK);
	assert_string_equal(r.client_ip, "2001:db8:5::4");
	assert_string_equal(r.client_name, "unknown");
	assert_string_equal(r.login, "carol");
	assert_string_equal(r.mech, "PLAIN");
	assert_string_equal(r.qid, "");
}

static void
test_timestamps(void **state)
{
	struct lp_opts o;
	int64_t ms;
	const char *s;

	(void)state;
	lp_opts_init(&o, NOW_MS);
	s = "Nov 26 13:39:20";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 15);
	assert_int_equal(ms, 1795700360000LL);
	/* a day ahead is still this year (clock skew), more is last year */
	s = "Nov 27 14:00:00";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 15);
	assert_int_equal(ms, (lp_days_from_civil(2026, 11, 27) * 86400 + 14 * 3600) * 1000);
	s = "Dec 31 23:59:59";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 15);
	assert_int_equal(ms, (lp_days_from_civil(2025, 12, 31) * 86400 + 86399) * 1000);
	/* in January, a December line is last year's */
	lp_opts_init(&o, lp_days_from_civil(2027, 1, 2) * 86400000LL);
	s = "Dec 31 10:00:00";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 15);
	assert_int_equal(ms, (lp_days_from_civil(2026, 12, 31) * 86400 + 36000) * 1000);
	/* single-digit day, fractions */
	lp_opts_init(&o, NOW_MS);
	s = "Nov  6 01:02:03.250001";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 22);
	assert_int_equal(ms, (lp_days_from_civil(2026, 11, 6) * 86400 + 3723) * 1000 + 250);
	/* fixed zone for traditional stamps */
	o.tz_mode = LP_TZ_OFFSET;
	o.tz_offset_s = 3600;
	s = "Nov 26 14:39:20";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 15);
	assert_int_equal(ms, 1795700360000LL);
	/* RFC 3339 carries its own zone whatever the setting */
	s = "2026-11-26T13:39:20.123456+00:00";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), strlen(s));
	assert_int_equal(ms, 1795700360123LL);
	s = "2026-11-26T14:39:20+0100";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), strlen(s));
	assert_int_equal(ms, 1795700360000LL);
	s = "2026-11-26T13:39:20Z";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), strlen(s));
	assert_int_equal(ms, 1795700360000LL);
	/* without a zone: the configured one */
	s = "2026-11-26T14:39:20";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), strlen(s));
	assert_int_equal(ms, 1795700360000LL);
	/* junk */
	s = "Foo 26 13:39:20";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 0);
	s = "Nov 26 25:39:20";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 0);
	s = "2026-13-26T13:39:20Z";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 0);
	s = "2026-11-26T13:39:20+99:00";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 0);
}

static void
test_tz_offset(void **state)
{
	long off;

	(void)state;
	assert_int_equal(lp_parse_tz_offset("+01:00", &off), 0);
	assert_int_equal(off, 3600);
	assert_int_equal(lp_parse_tz_offset("-0530", &off), 0);
	assert_int_equal(off, -19800);
	assert_int_equal(lp_parse_tz_offset("+02", &off), 0);
	assert_int_equal(off, 7200);
	assert_int_equal(lp_parse_tz_offset("UTC", &off), -1);
	assert_int_equal(lp_parse_tz_offset("+25:00", &off), -1);
	assert_int_equal(lp_parse_tz_offset("+1:00", &off), -1);
}

static void
test_local_zone(void **state)
{
	struct lp_opts o;
	struct lp_tzcache c;
	int64_t ms;
	const char *s = "Jul  1 12:00:00";

	(void)state;
	/* Europe/Berlin is CEST (+2) on 1 July: needs tzdata */
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0)
		skip();
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	lp_opts_init(&o, NOW_MS);
	memset(&c, 0, sizeof c);
	o.tz_mode = LP_TZ_LOCAL;
	o.cache = &c;
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 15);
	assert_int_equal(ms, (lp_days_from_civil(2026, 7, 1) * 86400 + 10 * 3600) * 1000);
	/* and CET (+1) in November; the cache must not carry July's offset over */
	s = "Nov 26 14:39:20";
	assert_int_equal(lp_parse_time(&o, s, strlen(s), &ms), 15);
	assert_int_equal(ms, 1795700360000LL);
	unsetenv("TZ");
	tzset();
}

static void
test_hostile(void **state)
{
	struct lp_record r;
	char big[40000];
	size_t i;

	(void)state;
	/* a user name that tries to look like a second field stays one name */
	assert_int_equal(parse("Nov 26 13:39:24 h postfix/smtpd[1]: warning: unknown[192.0.2.1]: "
	    "SASL PLAIN authentication failed: authentication failure, "
	    "sasl_username=a, sasl_username=b", &r), LP_AUTH_FAIL);
	assert_string_equal(r.login, "a, sasl_username=b");
	/* control bytes and NUL inside a line: bounded, no crash */
	{
		const char l[] = "Nov 26 13:39:24 h postfix/smtpd[1]: warning: unknown[192.0.2.1]: "
		    "SASL PLAIN authentication failed: x, sasl_username=a\0b\x1b[31m";
		assert_int_equal(lp_parse(&opts, l, sizeof l - 1, &r), LP_AUTH_FAIL);
		assert_string_equal(r.login, "a");   /* C string view stops at NUL */
	}
	/* a huge line: fields are cut, flagged */
	i = (size_t)snprintf(big, sizeof big, "Nov 26 13:39:24 h postfix/smtpd[1]: warning: "
	    "unknown[192.0.2.1]: SASL PLAIN authentication failed: x, sasl_username=");
	memset(big + i, 'u', sizeof big - i - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(parse(big, &r), LP_AUTH_FAIL);
	assert_int_equal(strlen(r.login), LP_LOGIN_MAX - 1);
	assert_true(r.truncated);
	/* a bracket in the wrong place, an address that is not one */
	assert_int_equal(parse("Nov 26 13:39:24 h postfix/smtpd[1]: warning: unknown[1.2.3.4.5]: "
	    "SASL PLAIN authentication failed: x", &r), LP_MALFORMED);
	assert_int_equal(parse("Nov 26 13:39:24 h postfix/smtpd[1]: ", &r), LP_SKIP);
	assert_int_equal(parse("", &r), LP_SKIP);
	assert_int_equal(parse("\n", &r), LP_SKIP);
	assert_int_equal(parse("x", &r), LP_MALFORMED);
	assert_int_equal(parse("Nov 26 13:39:24 h postfix/smtpd[1", &r), LP_MALFORMED);
	/* other programs are skipped before their time is even read */
	assert_int_equal(parse("Nov 99 99:99:99 h sshd[1]: Failed password", &r), LP_SKIP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_golden_postfix_samples, setup),
		cmocka_unit_test_setup(test_golden_postfix_variants, setup),
		cmocka_unit_test_setup(test_golden_sendmail, setup),
		cmocka_unit_test_setup(test_postfix_fail, setup),
		cmocka_unit_test_setup(test_postfix_ok_and_delivery, setup),
		cmocka_unit_test_setup(test_sendmail, setup),
		cmocka_unit_test_setup(test_timestamps, setup),
		cmocka_unit_test_setup(test_tz_offset, setup),
		cmocka_unit_test_setup(test_local_zone, setup),
		cmocka_unit_test_setup(test_hostile, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
