/*
 * fuzz_header.c - libFuzzer target for header values from outside: the
 * From: parser (addr_parse_from_header) and the DKIM-Signature tag parser
 * (addr_dkim_tags), both in lib/addr.c, and the header path of the DKIM
 * check up to end of header (dkim.c without libopendkim: the foreign
 * predicate says no).  Invariants: results terminated, a success gives at
 * least one mailbox with a domain, d= lower-case and a valid domain.
 */
#include "config.h"
#include "addr.h"
#include "dkim.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int
never(const char *d, void *arg)
{
	(void)d;
	(void)arg;
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct dkim_checker *chk;
	struct dkim_check *k;
	struct dkim_check_result r;
	struct addr a;
	char err[128], d[256], s[64], *z;
	const char *p;
	int n;

	if (addr_parse_from_header((const char *)data, size, &a, &n, err, sizeof err) == 0) {
		if (n < 1 || a.domain[0] == '\0' || memchr(a.addr, '\0', sizeof a.addr) == NULL)
			abort();
	} else if (n != 0 || err[0] == '\0') {
		abort();
	}
	if (addr_dkim_tags((const char *)data, size, d, sizeof d, s, sizeof s) == 0) {
		if (!addr_domain_ok(d, strlen(d)))
			abort();
		for (p = d; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
	}
	if (chk == NULL) {
		struct dkim_checker_opts o = { 0 };
		chk = dkim_checker_new(&o, err, sizeof err);
		if (chk == NULL)
			abort();
	}
	z = malloc(size + 1);
	memcpy(z, data, size);
	z[size] = '\0';
	k = dkim_check_begin(chk, "fuzz", never, NULL);
	dkim_check_header(k, "DKIM-Signature", z);
	dkim_check_header(k, "From", z);
	if (dkim_check_eoh(k) != DKIM_CHECK_NO_BODY)
		abort();
	dkim_check_end(k, &r);
	if (r.verdict != DKIM_CHECK_NONE && r.verdict != DKIM_CHECK_SKIPPED)
		abort();
	dkim_check_free(k);
	free(z);
	return 0;
}
