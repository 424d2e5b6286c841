/*
 * input_nfv5.c - the NetFlow v5 collector: one UDP socket, decoded by
 * lib/nfv5.c.  Loss is counted per exporter (address, engine type and id)
 * from the header's flow sequence.  Garbage datagrams and records with
 * impossible values are counted per kind and logged once per kind.
 */
#include "config.h"
#include "conf_flow.h"
#include "flowd.h"
#include "log.h"
#include "nfv5.h"
#include "util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EXPORTERS 256

struct exporter {
	struct sockaddr_storage addr;
	socklen_t len;
	uint8_t engine_type, engine_id;
	struct nfv5_seq seq;
};

struct v5_in {
	int sock;
	struct exporter exp[MAX_EXPORTERS];
	int nexp;
	/* counters: written by the input thread, read by the stats call */
	volatile uint64_t datagrams, records, bad_datagrams, bad_records, lost, not_tcp;
};

static struct exporter *
exporter_for(struct v5_in *v, const struct sockaddr_storage *sa, socklen_t len,
    const struct nfv5_header *h)
{
	int i;

	for (i = 0; i < v->nexp; i++) {
		struct exporter *e = &v->exp[i];
		if (e->len == len && memcmp(&e->addr, sa, len) == 0 && e->engine_type == h->engine_type
		    && e->engine_id == h->engine_id)
			return e;
	}
	if (v->nexp == MAX_EXPORTERS)
		return NULL;          /* more exporters than we track: no loss counting for them */
	memset(&v->exp[v->nexp], 0, sizeof v->exp[0]);
	memcpy(&v->exp[v->nexp].addr, sa, len);
	v->exp[v->nexp].len = len;
	v->exp[v->nexp].engine_type = h->engine_type;
	v->exp[v->nexp].engine_id = h->engine_id;
	return &v->exp[v->nexp++];
}

static void
peer_text(const struct sockaddr_storage *sa, socklen_t len, char *buf, size_t size)
{
	char host[64], port[8];

	if (getnameinfo((const struct sockaddr *)sa, len, host, sizeof host, port, sizeof port,
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		bs_strlcpy(buf, "?", size);
	else
		snprintf(buf, size, "%.63s:%.7s", host, port);
}

static void
datagram(struct flow_input *in, struct v5_in *v, const uint8_t *buf, size_t len,
    const struct sockaddr_storage *sa, socklen_t salen)
{
	struct nfv5_header h;
	struct nfv5_record recs[NFV5_MAX_RECORDS];
	size_t n, i;
	enum nfv5_result r;
	struct exporter *e;
	char peer[80], place[320];

	v->datagrams++;
	r = nfv5_parse(buf, len, &h, recs, &n);
	if (r != NFV5_OK) {
		v->bad_datagrams++;
		peer_text(sa, salen, peer, sizeof peer);
		snprintf(place, sizeof place, "%s peer=%s", in->name, peer);
		flowd_bad(in->fd, place, "garbage_datagram", "not a NetFlow v5 datagram (%s, %zu bytes)",
		    nfv5_result_name(r), len);
		return;
	}
	e = exporter_for(v, sa, salen, &h);
	if (e != NULL) {
		uint64_t lost = nfv5_seq_update(&e->seq, h.sequence, h.count);
		if (lost > 0) {
			v->lost += lost;
			peer_text(sa, salen, peer, sizeof peer);
			log_warn("%s peer=%s engine=%u/%u lost_records=%llu total_lost=%llu", in->name, peer,
			    h.engine_type, h.engine_id, (unsigned long long)lost, (unsigned long long)v->lost);
		}
	}
	flowd_lock(in->fd);
	for (i = 0; i < n; i++) {
		const struct nfv5_record *rec = &recs[i];
		const char *why = nfv5_record_check(&h, rec);
		struct df_flowrec f;

		v->records++;
		if (why == NULL && (!flowd_time_plausible(rec->start_ms) || !flowd_time_plausible(rec->end_ms)))
			why = "time_out_of_range";
		if (why != NULL) {
			v->bad_records++;
			peer_text(sa, salen, peer, sizeof peer);
			snprintf(place, sizeof place, "%s peer=%s", in->name, peer);
			flowd_bad(in->fd, place, "impossible_record", "%s (record %zu of datagram seq %u)", why,
			    i + 1, h.sequence);
			continue;
		}
		if (rec->proto != 6) {
			v->not_tcp++;
			continue;
		}
		memset(&f, 0, sizeof f);
		f.start_ms = rec->start_ms;
		f.end_ms = rec->end_ms;
		f.src.family = f.dst.family = 4;
		memcpy(f.src.a, rec->src, 4);
		memcpy(f.dst.a, rec->dst, 4);
		f.sport = rec->sport;
		f.dport = rec->dport;
		f.proto = rec->proto;
		f.flags = rec->flags;
		f.packets = rec->packets;
		f.input = in->df_input;
		df_flowrec(in->fd->df, &f);
	}
	flowd_unlock(in->fd);
}

static void
v5_run(struct flow_input *in)
{
	struct v5_in *v = in->priv;
	uint8_t buf[65536];

	while (!flowd_stopping(in->fd)) {
		struct pollfd pfd = { v->sock, POLLIN, 0 };
		struct sockaddr_storage sa;
		socklen_t salen = sizeof sa;
		ssize_t len;
		int pr = poll(&pfd, 1, 200);

		if (pr <= 0)
			continue;
		len = recvfrom(v->sock, buf, sizeof buf, 0, (struct sockaddr *)&sa, &salen);
		if (len < 0) {
			if (errno != EINTR && errno != EAGAIN)
				log_warn("%s error=\"recvfrom: %s\"", in->name, strerror(errno));
			continue;
		}
		datagram(in, v, buf, (size_t)len, &sa, salen);
	}
}

static void
v5_interrupt(struct flow_input *in)
{
	(void)in;       /* the poll timeout sees flowd_stopping() */
}

static void
v5_stats(struct flow_input *in, char *buf, size_t size)
{
	struct v5_in *v = in->priv;

	snprintf(buf, size, "\"datagrams\":%llu,\"records\":%llu,\"bad_datagrams\":%llu,"
	    "\"bad_records\":%llu,\"lost\":%llu,\"not_tcp\":%llu",
	    (unsigned long long)v->datagrams, (unsigned long long)v->records,
	    (unsigned long long)v->bad_datagrams, (unsigned long long)v->bad_records,
	    (unsigned long long)v->lost, (unsigned long long)v->not_tcp);
}

static void
v5_close(struct flow_input *in)
{
	struct v5_in *v;

	if (in == NULL)
		return;
	v = in->priv;
	if (v != NULL) {
		if (v->sock >= 0)
			close(v->sock);
		free(v);
	}
	free(in);
}

static const struct flow_input_ops v5_ops = {
	.kind = "netflow5",
	.run = v5_run,
	.interrupt = v5_interrupt,
	.stats = v5_stats,
	.close = v5_close,
};

struct flow_input *
input_nfv5_open(struct flowd *fd, const char *listen, char *err, size_t errlen)
{
	char host[128], port[8];
	struct addrinfo hints, *ai = NULL;
	struct flow_input *in;
	struct v5_in *v;
	int rc, one = 1, rcvbuf;

	if (conf_flow_split_listen(listen, host, sizeof host, port, sizeof port) != 0) {
		snprintf(err, errlen, "expected HOST:PORT, got '%s'", listen);
		return NULL;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s (a numeric address is expected)", listen, gai_strerror(rc));
		return NULL;
	}
	in = xcalloc(1, sizeof *in);
	v = xcalloc(1, sizeof *v);
	v->sock = -1;
	in->ops = &v5_ops;
	in->fd = fd;
	in->priv = v;
	snprintf(in->name, sizeof in->name, "netflow5:%s", listen);
	v->sock = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (v->sock < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(v->sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	rcvbuf = (int)fd->udp_rcvbuf;
	/* SO_RCVBUFFORCE passes the sysctl cap as root; fall back quietly */
	if (setsockopt(v->sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
		setsockopt(v->sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (bind(v->sock, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(err, errlen, "bind %s: %s", listen, strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	flowd_input_register(fd, in, 1);
	log_info("%s status=listening", in->name);
	return in;
fail:
	freeaddrinfo(ai);
	v5_close(in);
	return NULL;
}
