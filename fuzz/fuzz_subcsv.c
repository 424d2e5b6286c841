/*
 * fuzz_subcsv.c - libFuzzer target for the subscribers CSV line parser
 * (cli/subcsv.c): every line parses or is refused with a message.
 */
#include "config.h"
#include "../cli/subcsv.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	int first = 1;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		struct subcsv_row row;
		char err[256] = "";
		int r = subcsv_parse_line(p, len, first, &row, err, sizeof err);
		if (r == 1) {
			if (row.id == NULL || row.id[0] == '\0')
				__builtin_trap();
			subcsv_row_clear(&row);
		} else if (r < 0 && err[0] == '\0')
			__builtin_trap();
		first = 0;
		p += len;
	}
	return 0;
}
