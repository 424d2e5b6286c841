/*
 * fuzz_conf.c - libFuzzer target for the configuration loader (lib/conf.c):
 * comment stripping, include expansion, libconfuse parsing, bounds and the
 * areas' checks.  conf_load() reads a file, so each input is written to a
 * private temporary file first.  A loaded configuration must print, and
 * what it prints must load again.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64], path2[64];
static FILE *devnull;

static int
write_file(const char *p, const void *d, size_t n)
{
	FILE *f = fopen(p, "wb");

	if (f == NULL)
		return -1;
	fwrite(d, 1, n, f);
	fclose(f);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c, *c2;
	char *printed = NULL;
	size_t plen = 0;
	FILE *mem;

	if (path[0] == '\0') {
		snprintf(path, sizeof path, "/tmp/bs-fuzz-conf.%ld", (long)getpid());
		snprintf(path2, sizeof path2, "/tmp/bs-fuzz-conf2.%ld", (long)getpid());
		devnull = fopen("/dev/null", "w");
	}
	/* no NUL bytes: a text file with one would not reach libconfuse either */
	if (memchr(data, '\0', size) != NULL || write_file(path, data, size) != 0)
		return 0;
	c = conf_load(path, devnull);
	if (c == NULL)
		return 0;
	mem = open_memstream(&printed, &plen);
	conf_print(c, mem);
	fclose(mem);
	conf_unref(c);
	if (write_file(path2, printed, plen) == 0) {
		c2 = conf_load(path2, devnull);
		if (c2 == NULL)
			abort();      /* printed settings must read back */
		conf_unref(c2);
	}
	free(printed);
	return 0;
}
