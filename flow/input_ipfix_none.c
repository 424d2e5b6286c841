/*
 * input_ipfix_none.c - stands in for input_ipfix.c when configure found no
 * libfixbuf 2.x: the IPFIX and NetFlow v9 collectors report that they were
 * not built.
 */
#include "config.h"
#include "flowd.h"

#include <stdio.h>

struct flow_input *
input_ipfix_open(struct flowd *fd, const char *listen, int netflow9, int tcp, char *err, size_t errlen)
{
	(void)fd;
	(void)tcp;
	snprintf(err, errlen, "%s: %s needs libfixbuf 2.x (apt-get install libfixbuf-dev, then configure again)",
	    listen, netflow9 ? "NetFlow v9" : "IPFIX");
	return NULL;
}
