/*
 * fuzz_arf.c - libFuzzer target for the ARF parser and the mbox splitter:
 * every input must parse or be refused with a message, never crash, leak
 * or read out of bounds.  Seeds: fuzz/corpus/fuzz_arf/ (the t/fixtures/arf
 * samples).
 */
#include "config.h"
#include "arf.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
one(void *ud, const char *msg, size_t len, int index, long line)
{
	struct arf_report r;
	char err[256];

	(void)ud;
	(void)index;
	(void)line;
	if (arf_parse(msg, len, &r, err, sizeof err) == 0)
		arf_report_clear(&r);
	else if (err[0] == '\0')
		__builtin_trap();       /* a refusal must say why */
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arf_report r;
	char err[256];

	if (arf_parse((const char *)data, size, &r, err, sizeof err) == 0)
		arf_report_clear(&r);
	arf_mbox_each((const char *)data, size, one, NULL);
	return 0;
}
