/*
 * test_util.c - util.c: sanitising hostile strings, durations and times.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util.h"
#include "event.h"

static void
test_sanitize(void **state)
{
	char *s;
	const char in[] = "ok\r\nX-Evil: 1\0\"q\\";

	s = bs_sanitize(in, sizeof in - 1, 200);
	assert_string_equal(s, "ok\\x0d\\x0aX-Evil: 1\\x00\\\"q\\\\");
	assert_null(strchr(s, '\n'));
	free(s);
	s = bs_sanitize("abcdefghij", 10, 4);
	assert_string_equal(s, "abcd...");
	free(s);
	s = bs_sanitize(NULL, 0, 10);
	assert_string_equal(s, "");
	free(s);
}

static void
test_duration(void **state)
{
	int64_t s;

	assert_int_equal(bs_parse_duration("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(bs_parse_duration("10m", &s), 0);
	assert_int_equal(s, 600);
	assert_int_equal(bs_parse_duration("2h", &s), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(bs_parse_duration("7d", &s), 0);
	assert_int_equal(s, 7 * 86400);
	assert_int_equal(bs_parse_duration("1w", &s), 0);
	assert_int_equal(s, 7 * 86400);
	assert_int_equal(bs_parse_duration("10x", &s), -1);
	assert_int_equal(bs_parse_duration("m", &s), -1);
	assert_int_equal(bs_parse_duration("", &s), -1);
	assert_int_equal(bs_parse_duration("-5", &s), -1);
	assert_int_equal(bs_parse_duration("10mm", &s), -1);
	assert_int_equal(bs_parse_duration("99999999999999999999", &s), -1);
}

static void
test_time(void **state)
{
	int64_t ms;
	char buf[40];

	assert_int_equal(bs_parse_time("2023-11-14T22:13:20Z", 0, &ms), 0);
	assert_int_equal(ms, 1700000000000LL);
	assert_int_equal(bs_parse_time("2023-11-14 22:13:20", 0, &ms), 0);
	assert_int_equal(ms, 1700000000000LL);
	assert_int_equal(bs_parse_time("2023-11-14", 0, &ms), 0);
	assert_int_equal(ms, 1699920000000LL);
	assert_int_equal(bs_parse_time("1700000000", 0, &ms), 0);
	assert_int_equal(ms, 1700000000000LL);
	assert_int_equal(bs_parse_time("-2h", 1700000000000LL, &ms), 0);
	assert_int_equal(ms, 1700000000000LL - 7200000);
	assert_int_equal(bs_parse_time("2023-13-45", 0, &ms), -1);
	assert_int_equal(bs_parse_time("yesterday", 0, &ms), -1);
	assert_string_equal(bs_fmt_time(1700000000000LL, buf, sizeof buf), "2023-11-14T22:13:20Z");
}

static void
test_event_validate(void **state)
{
	struct event ev;
	char err[256];
	int64_t now = 1700000000000LL;

	event_init(&ev, now, "manual", "rate", 5);
	assert_int_equal(event_validate(&ev, now, err, sizeof err), 0);
	ev.evidence = xstrdup("{\"a\":1}");
	assert_int_equal(event_validate(&ev, now, err, sizeof err), 0);
	free(ev.evidence);
	ev.evidence = xstrdup("[1,2]");
	assert_int_equal(event_validate(&ev, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "evidence"));
	free(ev.evidence);
	ev.evidence = xstrdup("{bad");
	assert_int_equal(event_validate(&ev, now, err, sizeof err), -1);
	event_clear(&ev);

	event_init(&ev, now, "martian", "rate", 5);
	assert_int_equal(event_validate(&ev, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "source"));
	event_init(&ev, now, "milter", "Rate;DROP", 5);
	assert_int_equal(event_validate(&ev, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "kind"));
	event_init(&ev, now, "milter", "rate", -1);
	assert_int_equal(event_validate(&ev, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "score"));
	event_init(&ev, now + 2 * 86400000LL, "milter", "rate", 1);
	assert_int_equal(event_validate(&ev, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "time"));
}

static void
test_strlcpy(void **state)
{
	char b[4];

	assert_int_equal(bs_strlcpy(b, "abcdef", sizeof b), 6);
	assert_string_equal(b, "abc");
	assert_int_equal(bs_strlcpy(b, "", sizeof b), 0);
	assert_string_equal(b, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_event_validate),
		cmocka_unit_test(test_strlcpy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
