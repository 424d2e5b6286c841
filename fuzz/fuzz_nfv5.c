/*
 * fuzz_nfv5.c - libFuzzer target for the NetFlow v5 decoder (lib/nfv5.c):
 * parse, check every record, track the sequence.
 */
#include "config.h"
#include "nfv5.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nfv5_seq seq;
	struct nfv5_header h;
	struct nfv5_record r[NFV5_MAX_RECORDS];
	size_t n, i;

	if (nfv5_parse(data, size, &h, r, &n) != NFV5_OK)
		return 0;
	for (i = 0; i < n; i++)
		(void)nfv5_record_check(&h, &r[i]);
	(void)nfv5_seq_update(&seq, h.sequence, h.count);
	return 0;
}
