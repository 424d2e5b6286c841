/*
 * test_rfc2047.c - the encoded-word decoder: B and Q, each charset we
 * promise (UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15, Windows-1252),
 * adjacent words joined, a character split across two words, words kept as
 * they were (unknown charset, invalid bytes, broken encodings, malformed
 * syntax), control characters and invalid UTF-8 cleaned, and the bounds
 * (1 MB of encoded-words in little time, the input cut).
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

#include "rfc2047.h"
#include "util.h"

/* Decode s and compare; also check how many words were kept. */
static void
check(const char *in, const char *want, int want_kept)
{
	char why[128];
	int kept = -1;
	char *out = rfc2047_decode(in, strlen(in), &kept, why, sizeof why);

	if (strcmp(out, want) != 0)
		fail_msg("decode(\"%s\"): got \"%s\", want \"%s\"", in, out, want);
	if (kept != want_kept)
		fail_msg("decode(\"%s\"): %d words kept (%s), want %d", in, kept, why, want_kept);
	if (kept == 0)
		assert_string_equal(why, "");
	else
		assert_true(why[0] != '\0');
	free(out);
}

static void
test_b_utf8(void **state)
{
	(void)state;
	/* "Grüße aus Köln" */
	check("=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=", "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln", 0);
	check("=?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4=?=", "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln", 0);
	/* without the padding, as some senders write it */
	check("=?UTF-8?B?S8O2bG4?=", "K\xc3\xb6ln", 0);
	/* an RFC 2231 language tag */
	check("=?UTF-8*de?B?S8O2bG4=?=", "K\xc3\xb6ln", 0);
	/* text around the word stays */
	check("Re: =?UTF-8?B?S8O2bG4=?= (fwd)", "Re: K\xc3\xb6ln (fwd)", 0);
	/* an empty word */
	check("a =?UTF-8?B?\?= b", "a b", 0);
}

static void
test_q_charsets(void **state)
{
	(void)state;
	check("=?ISO-8859-1?Q?M=FCller_GmbH?=", "M\xc3\xbcller GmbH", 0);
	check("=?iso-8859-1?q?M=fcller?=", "M\xc3\xbcller", 0);
	/* ISO-8859-15 has the euro sign at 0xA4, where Latin-1 has the currency sign */
	check("=?ISO-8859-15?Q?10_=A4?=", "10 \xe2\x82\xac", 0);
	check("=?ISO-8859-1?Q?10_=A4?=", "10 \xc2\xa4", 0);
	/* Windows-1252: the euro at 0x80 and curly quotes */
	check("=?Windows-1252?Q?=93Sale=94_5=80?=", "\xe2\x80\x9cSale\xe2\x80\x9d 5\xe2\x82\xac", 0);
	check("=?cp1252?B?k1NhbGWU?=", "\xe2\x80\x9cSale\xe2\x80\x9d", 0);
	check("=?US-ASCII?Q?plain_text?=", "plain text", 0);
	check("=?us-ascii?B?cGxhaW4=?=", "plain", 0);
	check("=?UTF-8?Q?caf=C3=A9?=", "caf\xc3\xa9", 0);
	/* B in Latin-1 */
	check("=?ISO-8859-1?B?TfxsbGVy?=", "M\xc3\xbcller", 0);
}

static void
test_adjacent_joined(void **state)
{
	(void)state;
	/* white space between two encoded-words is not shown (6.2) */
	check("=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab", 0);
	check("=?UTF-8?Q?a?=   \t =?ISO-8859-1?Q?b?=", "ab", 0);
	/* ... but white space between a word and text is */
	check("=?UTF-8?Q?a?= b =?UTF-8?Q?c?=", "a b c", 0);
	/* spaces inside the words are kept */
	check("=?UTF-8?Q?one_?= =?UTF-8?Q?two?=", "one two", 0);
	/* directly adjacent words (not allowed, but seen) */
	check("=?UTF-8?Q?a?==?UTF-8?Q?b?=", "ab", 0);
}

static void
test_folded(void **state)
{
	(void)state;
	/* a long subject folded between two words, as the parser hands it
	 * over after unfolding, and as it is before unfolding */
	check("=?UTF-8?B?w6TDtg==?=\r\n =?UTF-8?B?w7w=?=", "\xc3\xa4\xc3\xb6\xc3\xbc", 0);
	check("=?UTF-8?B?w6TDtg==?= =?UTF-8?B?w7w=?=", "\xc3\xa4\xc3\xb6\xc3\xbc", 0);
	/* one character split across two words: the bytes are joined first */
	check("=?UTF-8?B?w6Q=?= =?UTF-8?B?w6TD?= =?UTF-8?B?tg==?=", "\xc3\xa4\xc3\xa4\xc3\xb6", 0);
	check("=?UTF-8?Q?=E2=82?=\n\t=?UTF-8?Q?=AC?=", "\xe2\x82\xac", 0);
	/* a word broken by the fold itself is not a word: left as it is */
	check("=?UTF-8?Q?ab\r\n cd?=", "=?UTF-8?Q?ab cd?=", 0);
}

static void
test_malformed_left(void **state)
{
	(void)state;
	/* not encoded-words at all: no warning, text unchanged */
	check("=?UTF-8?Q?unterminated", "=?UTF-8?Q?unterminated", 0);
	check("=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=", 0);
	check("=??Q?abc?=", "=??Q?abc?=", 0);
	check("=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=", 0);
	check("price = ?5? =?", "price = ?5? =?", 0);
	check("=?", "=?", 0);
	check("=?=?=?=?", "=?=?=?=?", 0);
	check("a=?b", "a=?b", 0);
	/* words whose encoded text is broken: kept, counted */
	check("=?UTF-8?B?@@@@?=", "=?UTF-8?B?@@@@?=", 1);
	check("=?UTF-8?B?QUJDR?=", "=?UTF-8?B?QUJDR?=", 1);
	check("=?UTF-8?Q?bad=G1?=", "=?UTF-8?Q?bad=G1?=", 1);
	check("=?UTF-8?Q?end=?=", "=?UTF-8?Q?end=?=", 1);
}

static void
test_unknown_and_invalid(void **state)
{
	char why[128];
	int kept;
	char *out;

	(void)state;
	out = rfc2047_decode("x =?X-NO-SUCH-CHARSET?Q?abc?= y", 31, &kept, why, sizeof why);
	assert_string_equal(out, "x =?X-NO-SUCH-CHARSET?Q?abc?= y");
	assert_int_equal(kept, 1);
	assert_string_equal(why, "unknown charset \"x-no-such-charset\"");
	free(out);

	/* invalid UTF-8 */
	check("=?UTF-8?Q?=C3=28?=", "=?UTF-8?Q?=C3=28?=", 1);
	check("=?UTF-8?B?7aCA?=", "=?UTF-8?B?7aCA?=", 1);       /* a surrogate */
	/* 8-bit in US-ASCII */
	check("=?US-ASCII?Q?caf=E9?=", "=?US-ASCII?Q?caf=E9?=", 1);
	/* 0x81 is not a Windows-1252 character */
	out = rfc2047_decode("=?windows-1252?Q?a=81b?=", 24, &kept, why, sizeof why);
	assert_string_equal(out, "=?windows-1252?Q?a=81b?=");
	assert_int_equal(kept, 1);
	assert_string_equal(why, "bytes not valid in windows-1252");
	free(out);

	/* a kept word keeps the blanks around it; its neighbours still decode */
	check("=?UTF-8?Q?a?= =?X-BAD?Q?b?= =?UTF-8?Q?c?=", "a =?X-BAD?Q?b?= c", 1);
	/* a run in one charset that fails together: the good words still decode */
	check("=?UTF-8?Q?ok?= =?UTF-8?Q?=FF?= =?UTF-8?Q?fine?=", "ok =?UTF-8?Q?=FF?= fine", 1);
	/* a charset name too long to be one */
	check("=?AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?Q?a?=",
	    "=?AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?Q?a?=", 0);
	/* an empty charset name (only a language tag) is not the locale's */
	check("=?*en?Q?abc?=", "=?*en?Q?abc?=", 1);
	/* a stateful charset: ISO-2022-JP "日本" with its escapes */
	check("=?ISO-2022-JP?B?GyRCRnxLXBsoQg==?=", "\xe6\x97\xa5\xe6\x9c\xac", 0);
	/* TSCII maps one byte to up to four characters: the buffer grows */
	{
		char want[200] = "";
		int i;
		for (i = 0; i < 10; i++)
			strcat(want, "\xe0\xae\xb8\xe0\xaf\x8d\xe0\xae\xb0\xe0\xaf\x80");
		check("=?TSCII?Q?=82=82=82=82=82=82=82=82=82=82?=", want, 0);
	}
	/* NULL outputs are fine */
	out = rfc2047_decode("=?X-BAD?Q?b?=", 13, NULL, NULL, 0);
	assert_string_equal(out, "=?X-BAD?Q?b?=");
	free(out);
}

static void
test_too_many_charsets(void **state)
{
	char buf[2048], why[128];
	size_t o = 0;
	int i, kept;
	char *out;

	(void)state;
	for (i = 0; i < RFC2047_MAX_CHARSETS + 4; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "=?X-UNKNOWN-%d?Q?a?= x ", i);
	out = rfc2047_decode(buf, o, &kept, why, sizeof why);
	assert_int_equal(kept, RFC2047_MAX_CHARSETS + 4);
	assert_string_equal(why, "unknown charset \"x-unknown-0\"");
	assert_non_null(strstr(out, "=?X-UNKNOWN-11?Q?a?="));
	free(out);
}

static void
test_cleaned(void **state)
{
	char *out;

	(void)state;
	/* control characters, encoded or not, never come out */
	check("=?UTF-8?Q?a=0D=0ABcc:_x=00y=1B[31m?=", "a Bcc: x y [31m", 0);
	check("=?UTF-8?B?YQ1iCWM=?=", "a b c", 0);
	/* C1 controls (Latin-1 0x9B is CSI) and a right-to-left override */
	check("=?ISO-8859-1?Q?a=9B2Jb?=", "a 2Jb", 0);
	check("=?UTF-8?Q?abc=E2=80=AEgpj.exe?=", "abc gpj.exe", 0);
	/* raw bytes that are not UTF-8 become '?' */
	check("Caf\xe9 =?UTF-8?Q?caf=C3=A9?=", "Caf? caf\xc3\xa9", 0);
	out = rfc2047_decode("a\0b", 3, NULL, NULL, 0);
	assert_string_equal(out, "a b");
	free(out);
	out = rfc2047_clean("  x\x01\x02  y \xff ", 11);
	assert_string_equal(out, "x y ?");
	free(out);
	out = rfc2047_decode(NULL, 0, NULL, NULL, 0);
	assert_string_equal(out, "");
	free(out);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_overlong(void **state)
{
	const char *word = "=?UTF-8?B?w6TDtsO8?= ";        /* "äöü" */
	const char *bad = "=?ISO-8859-1?Q?=FC?= =?X-Q?Q?z?= ";
	size_t wl = strlen(word), n = 1 << 20, o, kept_len;
	char *big = xmalloc(n + 1), *out, why[128];
	int64_t t0;
	int kept;

	(void)state;
	/* 1 MB of encoded-words: cut at RFC2047_MAX_INPUT, quickly */
	for (o = 0; o + wl <= n; o += wl)
		memcpy(big + o, word, wl);
	t0 = now_ms();
	out = rfc2047_decode(big, o, &kept, why, sizeof why);
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(kept, 0);
	kept_len = strlen(out);
	assert_true(kept_len <= RFC2047_MAX_INPUT);
	assert_true(kept_len > RFC2047_MAX_INPUT / 5);
	assert_memory_equal(out, "\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa4", 8);
	assert_memory_equal(out + kept_len - 3, "...", 3);
	free(out);

	/* mixed charsets and failing words all the way */
	wl = strlen(bad);
	for (o = 0; o + wl <= n; o += wl)
		memcpy(big + o, bad, wl);
	t0 = now_ms();
	out = rfc2047_decode(big, o, &kept, why, sizeof why);
	assert_true(now_ms() - t0 < 2000);
	assert_true(kept > 1000);
	free(out);

	/* many "=?" starts that never make a word */
	memset(big, '?', n);
	for (o = 0; o < n; o += 3)
		big[o] = '=';
	t0 = now_ms();
	out = rfc2047_decode(big, n, &kept, NULL, 0);
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(kept, 0);
	free(out);

	/* one encoded-text longer than a word may be: not a word */
	memset(big, 'A', n);
	memcpy(big, "=?UTF-8?B?", 10);
	memcpy(big + RFC2047_MAX_WORD + 20, "?=", 2);
	out = rfc2047_decode(big, RFC2047_MAX_WORD + 22, &kept, NULL, 0);
	assert_int_equal(kept, 0);
	assert_memory_equal(out, "=?UTF-8?B?AAA", 13);
	free(out);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b_utf8),
		cmocka_unit_test(test_q_charsets),
		cmocka_unit_test(test_adjacent_joined),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_malformed_left),
		cmocka_unit_test(test_unknown_and_invalid),
		cmocka_unit_test(test_too_many_charsets),
		cmocka_unit_test(test_cleaned),
		cmocka_unit_test(test_overlong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
