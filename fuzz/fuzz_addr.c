/*
 * fuzz_addr.c - libFuzzer target for the envelope path parser
 * (addr_parse_envelope in lib/addr.c).  Invariants on success: the fields
 * are terminated within their buffers, the domain has no upper-case ASCII,
 * the null sender has no address, and a parsed address parses again to
 * itself.
 */
#include "config.h"
#include "addr.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct addr a, b;
	char err[128];
	const char *p;

	if (addr_parse_envelope((const char *)data, size, &a, err, sizeof err) != 0) {
		if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if (memchr(a.local, '\0', sizeof a.local) == NULL
	    || memchr(a.domain, '\0', sizeof a.domain) == NULL
	    || memchr(a.addr, '\0', sizeof a.addr) == NULL)
		abort();
	for (p = a.domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
	if (a.null_sender) {
		if (a.addr[0] != '\0')
			abort();
		return 0;
	}
	if (addr_parse_envelope(a.addr, strlen(a.addr), &b, err, sizeof err) != 0
	    || strcmp(a.addr, b.addr) != 0)
		abort();
	return 0;
}
