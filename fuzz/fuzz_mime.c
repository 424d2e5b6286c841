/*
 * fuzz_mime.c - lib/mime on hostile bytes (a bot's HELO name, sender
 * address, header values): cleaning, header encoding and folding,
 * quoted-printable.  Checks that no header output holds a bare CR, a NUL,
 * or a line that does not start with white space after the first.
 */
#include "config.h"
#include "mime.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbuf b = { 0 };
	char *c = mime_clean((const char *)data, size), *v, *p;

	if (strpbrk(c, "\r\n\t") != NULL)
		abort();
	v = xstrndup((const char *)data, size);
	mime_header(&b, "Subject", v);
	if (strlen(b.p) != b.len || strchr(b.p, '\r') != NULL)
		abort();
	for (p = strchr(b.p, '\n'); p != NULL && p[1] != '\0'; p = strchr(p + 1, '\n'))
		if (p[1] != ' ')
			abort();       /* a new header line: injection */
	mbuf_free(&b);
	mime_address_header(&b, "From", v);
	mbuf_free(&b);
	mime_qp(&b, (const char *)data, size);
	mbuf_free(&b);
	free(v);
	free(c);
	return 0;
}
