/*
 * leasefile.h - readers for lease files: ISC Kea DHCPv4 memfile CSV (as
 * kea-dhcp4 writes it) and a plain CSV (prefix,subscriber,valid_from,valid_to).
 *
 * Each reader turns the file into struct lease intervals and hands them to a
 * callback.  Malformed lines are reported as "name:line: what was expected"
 * through the error callback and skipped; the return value says how many were
 * bad, so the importer can refuse the whole file (nothing half-written).
 */
#ifndef BS_LEASEFILE_H
#define BS_LEASEFILE_H

#include <stdio.h>
#include "store.h"

struct leasefile_cb {
	int (*lease)(void *ud, const struct lease *l);      /* nonzero stops */
	void (*error)(void *ud, const char *name, long line, const char *msg);
	void *ud;
};

/* subscriber_from: which Kea column names the subscriber: "hwaddr",
 * "client_id", "hostname", or "user_context:KEY" (a key of the JSON
 * user context).  Returns the number of bad lines, or -1 on I/O error. */
long leasefile_read_kea4(FILE *f, const char *name, const char *subscriber_from,
    const struct leasefile_cb *cb);
long leasefile_read_csv(FILE *f, const char *name, const struct leasefile_cb *cb);

#endif
