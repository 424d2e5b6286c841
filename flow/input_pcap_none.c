/*
 * input_pcap_none.c - stands in for input_pcap.c when configure found no
 * libpcap: live capture and pcap files report that they were not built.
 */
#include "config.h"
#include "flowd.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <sysexits.h>

struct flow_input *
input_pcap_live_open(struct flowd *fd, const char *ifname, char *err, size_t errlen)
{
	(void)fd;
	snprintf(err, errlen, "%s: built without libpcap (apt-get install libpcap-dev, then configure again)",
	    ifname);
	return NULL;
}

int
input_pcap_files(struct flowd *fd, char *const *files, int n)
{
	(void)fd;
	(void)files;
	(void)n;
	log_err("flowd error=\"pcap files need libpcap; this build has none\"");
	return EX_UNAVAILABLE;
}

const char *
input_pcap_default_filter(int linktype, int replies, char *buf, size_t size)
{
	(void)linktype;
	(void)replies;
	bs_strlcpy(buf, "", size);
	return buf;
}
