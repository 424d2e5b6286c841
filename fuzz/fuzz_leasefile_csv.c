/*
 * fuzz_leasefile_csv.c - libFuzzer target for the plain CSV lease reader
 * (lib/leasefile.c).  Every lease handed out must be well formed.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leasefile.h"
#include "leases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_lease(void *ud, const struct lease *l)
{
	char buf[64];

	(void)ud;
	if (memchr(l->subscriber, '\0', sizeof l->subscriber) == NULL ||
	    l->subscriber[0] == '\0' || l->valid_to <= l->valid_from ||
	    lease_prefix_normalize(l->prefix, buf, sizeof buf) == NULL ||
	    strcmp(buf, l->prefix) != 0)
		abort();
	return 0;
}

static void
on_error(void *ud, const char *name, long line, const char *msg)
{
	(void)ud;
	if (name == NULL || msg == NULL || line < 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct leasefile_cb cb = { on_lease, on_error, NULL };
	FILE *f;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (f == NULL)
		return 0;
	(void)leasefile_read_csv(f, "fuzz.csv", &cb);
	fclose(f);
	return 0;
}
