/*
 * fuzz_arf.c - libFuzzer target for the ARF parser, the mbox splitter and
 * the RFC 2047 decoder: every input must parse or be refused with a
 * message, never crash, leak or read out of bounds; every decoded field
 * (From, Subject, User-Agent) and the decoder's output on the raw input
 * must be valid UTF-8 without control characters.  Seeds:
 * fuzz/corpus/fuzz_arf/ (the t/fixtures/arf samples and encoded-word ones).
 */
#include "config.h"
#include "arf.h"
#include "rfc2047.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8, no C0 controls or DEL (the decoder's promise); NULL is fine. */
static void
check_clean(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n, k;

	if (s == NULL)
		return;
	n = strlen(s);
	while (i < n) {
		unsigned char c = u[i];
		if (c < 0x20 || c == 0x7f)
			__builtin_trap();
		if (c < 0x80) {
			i++;
			continue;
		}
		k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
		if (k == 0 || c > 0xf4 || i + k > n)
			__builtin_trap();
		if (k == 2 && c == 0xc2 && u[i + 1] < 0xa0)
			__builtin_trap();               /* a C1 control */
		while (--k > 0)
			if ((u[++i] & 0xc0) != 0x80)
				__builtin_trap();
		i++;
	}
}

static void
check_report(const struct arf_report *r)
{
	check_clean(r->report_from);
	check_clean(r->report_subject);
	check_clean(r->user_agent);
	check_clean(r->msg_from);
	check_clean(r->msg_subject);
}

static int
one(void *ud, const char *msg, size_t len, int index, long line)
{
	struct arf_report r;
	char err[256];

	(void)ud;
	(void)index;
	if (arf_parse_at(msg, len, line, &r, err, sizeof err) == 0) {
		check_report(&r);
		arf_report_clear(&r);
	} else if (err[0] == '\0')
		__builtin_trap();       /* a refusal must say why */
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arf_report r;
	char err[256], why[128];
	char *d;
	int kept;

	if (arf_parse((const char *)data, size, &r, err, sizeof err) == 0) {
		check_report(&r);
		arf_report_clear(&r);
	}
	arf_mbox_each((const char *)data, size, one, NULL);
	/* the decoder alone, on the input as one header value */
	d = rfc2047_decode((const char *)data, size, &kept, why, sizeof why);
	check_clean(d);
	if (kept > 0 && why[0] == '\0')
		__builtin_trap();       /* a word kept must say why */
	free(d);
	return 0;
}
