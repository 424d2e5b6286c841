/*
 * fuzz_leasefile_kea.c - libFuzzer target for the Kea DHCPv4 memfile
 * reader (lib/leasefile.c).  The first byte picks the subscriber column, the
 * rest is the file.  Every lease handed out must be well formed.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leasefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_lease(void *ud, const struct lease *l)
{
	(void)ud;
	if (memchr(l->prefix, '\0', sizeof l->prefix) == NULL ||
	    memchr(l->subscriber, '\0', sizeof l->subscriber) == NULL ||
	    l->subscriber[0] == '\0' || l->valid_to <= l->valid_from)
		abort();
	return 0;
}

static void
on_error(void *ud, const char *name, long line, const char *msg)
{
	(void)ud;
	if (name == NULL || msg == NULL || line < 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cols[] = { "hwaddr", "client_id", "hostname",
		"user_context:sub", "user_context:", "nosuch" };
	struct leasefile_cb cb = { on_lease, on_error, NULL };
	const char *col;
	FILE *f;

	if (size < 2)
		return 0;
	col = cols[data[0] % (sizeof cols / sizeof cols[0])];
	f = fmemopen((void *)(data + 1), size - 1, "r");
	if (f == NULL)
		return 0;
	(void)leasefile_read_kea4(f, "fuzz.csv", col, &cb);
	fclose(f);
	return 0;
}
