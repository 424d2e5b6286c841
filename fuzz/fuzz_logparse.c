/*
 * fuzz_logparse.c - libFuzzer target for the MTA log line parser.
 *
 * Each input is cut at newlines into lines; every line goes through
 * lp_parse() under two zone settings, and the record's invariants are
 * checked: strings terminated inside their fields, a kind in range, a
 * malformed record naming its kind, an address that parses.
 */
#include "config.h"
#include "logparse.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static void
check(const struct lp_record *r)
{
	unsigned char bin[16];

	if (r->kind < LP_SKIP || r->kind > LP_MALFORMED)
		abort();
	if (memchr(r->login, '\0', sizeof r->login) == NULL ||
	    memchr(r->client_ip, '\0', sizeof r->client_ip) == NULL ||
	    memchr(r->client_name, '\0', sizeof r->client_name) == NULL ||
	    memchr(r->reason, '\0', sizeof r->reason) == NULL ||
	    memchr(r->qid, '\0', sizeof r->qid) == NULL)
		abort();
	if (r->kind == LP_MALFORMED && r->malformed == NULL)
		abort();
	if ((r->kind == LP_AUTH_FAIL || r->kind == LP_AUTH_OK || r->kind == LP_CLIENT) &&
	    inet_pton(AF_INET, r->client_ip, bin) != 1 && inet_pton(AF_INET6, r->client_ip, bin) != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct lp_opts o;
	struct lp_record r;
	const char *p = (const char *)data, *e = p + size, *nl;

	while (p < e) {
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL)
			nl = e;
		lp_opts_init(&o, 1795703400000LL);
		lp_parse(&o, p, (size_t)(nl - p), &r);
		check(&r);
		o.tz_mode = LP_TZ_OFFSET;
		o.tz_offset_s = -19800;
		o.now_ms = 0;
		lp_parse(&o, p, (size_t)(nl - p), &r);
		check(&r);
		p = nl + 1;
	}
	return 0;
}
