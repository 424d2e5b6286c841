/* placeholder until the store lands (issue 2, store helper) */
#include "config.h"
#include "store.h"
#include <stdio.h>
struct store *
store_open(const char *uri, char *err, size_t errlen)
{
	snprintf(err, errlen, "no store backend built for %s", uri);
	return NULL;
}
