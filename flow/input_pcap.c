/*
 * input_pcap.c - live capture (a span or mirror port) and pcap files.
 *
 * Live: pcap_create, snap length, immediate mode, a large kernel buffer,
 * activate, then a BPF filter so that only what the detector needs reaches
 * user space: SYNs to ports 25 and 587, and (capture_replies) the SYN+ACK
 * and RST answers from port 25, which tell established from refused and
 * unanswered.  Drop counters come from pcap_stats, read in the capture
 * thread (libpcap handles are not shared between threads).
 *
 * Files (-r): opened together and merged by timestamp, like mergecap, so
 * that rotated captures read as one.  No filter unless bpf_filter is set:
 * the detector ignores what it does not need, and a user-space BPF pass
 * would only cost time.
 *
 * Compiled only when configure found libpcap (HAVE_PCAP); input_pcap_none.c
 * stands in otherwise.
 */
#include "config.h"
#include "flow_decode.h"
#include "flowd.h"
#include "log.h"
#include "util.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

struct pcap_in {
	pcap_t *p;
	int linktype;
	const char *place;          /* for bad-input messages */
	uint64_t packets;
	uint64_t result[FD_NRESULTS];
	pthread_mutex_t slock;      /* guards the copies below */
	uint64_t ps_recv, ps_drop, ps_ifdrop;
	uint64_t c_packets, c_result[FD_NRESULTS];
	int64_t next_stats_ms, next_drop_log_ms;
	uint64_t logged_drop;
};

#define V4_SYN "(tcp dst port 25 or tcp dst port 587) and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"
#define V6_SYN "ip6 and ip6[6] == 6 and (tcp dst port 25 or tcp dst port 587) and ip6[53] & 0x12 == 0x02"
#define V4_ANS "tcp src port 25 and tcp[tcpflags] & (tcp-syn|tcp-rst) != 0"
#define V6_ANS "ip6 and ip6[6] == 6 and tcp src port 25 and ip6[53] & 0x06 != 0"

const char *
input_pcap_default_filter(int linktype, int replies, char *buf, size_t size)
{
	char core[1024];

	if (replies)
		snprintf(core, sizeof core, "(%s) or (%s) or (%s) or (%s)", V4_SYN, V6_SYN, V4_ANS, V6_ANS);
	else
		snprintf(core, sizeof core, "(%s) or (%s)", V4_SYN, V6_SYN);
	/* 'vlan' shifts the offsets of everything after it, so it comes last */
	if (linktype == DLT_EN10MB)
		snprintf(buf, size, "%s or (vlan and (%s))", core, core);
	else
		snprintf(buf, size, "%s", core);
	return buf;
}

/* Decode a frame: 1, or 0 when it holds no TCP segment (counted, and bad
 * input reported). */
static int
decode(struct flow_input *in, struct pcap_in *pi, const struct pcap_pkthdr *h, const u_char *data,
    struct fd_packet *pk)
{
	enum fd_result r;

	pi->packets++;
	r = flow_decode(pi->linktype, data, h->caplen, pk);
	pi->result[r]++;
	if (r != FD_OK) {
		if (r == FD_TRUNCATED)
			flowd_bad(in->fd, pi->place, "truncated_packet",
			    "frame of %u bytes captured as %u: shorter than its headers (snap length too small?)",
			    h->len, h->caplen);
		else if (r == FD_MALFORMED)
			flowd_bad(in->fd, pi->place, "malformed_packet", "impossible IP or TCP header values");
		else if (r == FD_BAD_LINK)
			flowd_bad(in->fd, pi->place, "bad_link_type", "link type %d is not decoded", pi->linktype);
		return 0;
	}
	return 1;
}

static inline int64_t
ts_ms_of(const struct pcap_pkthdr *h)
{
	return (int64_t)h->ts.tv_sec * 1000 + h->ts.tv_usec / 1000;
}

static void
fill(struct df_segment *s, const struct fd_packet *pk, int64_t ts_ms, int input)
{
	s->ts_ms = ts_ms;
	s->src.family = s->dst.family = pk->family;
	memcpy(s->src.a, pk->src, 16);
	memcpy(s->dst.a, pk->dst, 16);
	s->sport = pk->sport;
	s->dport = pk->dport;
	s->flags = pk->flags;
	s->input = input;
}

static void
packet(struct flow_input *in, struct pcap_in *pi, const struct pcap_pkthdr *h, const u_char *data)
{
	struct fd_packet pk;
	struct df_segment s;

	if (!decode(in, pi, h, data, &pk))
		return;
	fill(&s, &pk, ts_ms_of(h), in->df_input);
	df_segment(in->fd->df, &s);
}

static int
set_filter(pcap_t *p, const char *expr, const char *place, char *err, size_t errlen)
{
	struct bpf_program prog;

	if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "%s: capture filter \"%s\": %s", place, expr, pcap_geterr(p));
		return -1;
	}
	if (pcap_setfilter(p, &prog) != 0) {
		snprintf(err, errlen, "%s: cannot set the capture filter: %s", place, pcap_geterr(p));
		pcap_freecode(&prog);
		return -1;
	}
	pcap_freecode(&prog);
	return 0;
}

/* ------------------------------------------------------------ live capture */

static void
live_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	struct flow_input *in = (struct flow_input *)user;

	flowd_lock(in->fd);
	packet(in, in->priv, h, data);
	flowd_unlock(in->fd);
}

static void
live_poll_stats(struct flow_input *in, struct pcap_in *pi)
{
	struct pcap_stat ps;
	int64_t now = bs_mono_ms();

	if (now < pi->next_stats_ms)
		return;
	pi->next_stats_ms = now + 1000;
	if (pcap_stats(pi->p, &ps) != 0)
		return;
	pthread_mutex_lock(&pi->slock);
	pi->ps_recv = ps.ps_recv;
	pi->ps_drop = ps.ps_drop;
	pi->ps_ifdrop = ps.ps_ifdrop;
	pi->c_packets = pi->packets;
	memcpy(pi->c_result, pi->result, sizeof pi->result);
	pthread_mutex_unlock(&pi->slock);
	if (ps.ps_drop > pi->logged_drop && now >= pi->next_drop_log_ms) {
		log_warn("%s dropped=%llu new=%llu received=%u action=\"raise buffer_size, or narrow the filter\"",
		    in->name, (unsigned long long)ps.ps_drop,
		    (unsigned long long)(ps.ps_drop - pi->logged_drop), ps.ps_recv);
		pi->logged_drop = ps.ps_drop;
		pi->next_drop_log_ms = now + 60000;
	}
}

static void
live_run(struct flow_input *in)
{
	struct pcap_in *pi = in->priv;

	while (!flowd_stopping(in->fd)) {
		int n = pcap_dispatch(pi->p, 512, live_cb, (u_char *)in);

		if (n == PCAP_ERROR) {
			log_err("%s error=\"%s\" action=\"capture stopped\"", in->name, pcap_geterr(pi->p));
			break;
		}
		live_poll_stats(in, pi);
	}
	pi->next_stats_ms = 0;
	live_poll_stats(in, pi);
}

static void
live_interrupt(struct flow_input *in)
{
	struct pcap_in *pi = in->priv;

	pcap_breakloop(pi->p);
}

static void
live_stats(struct flow_input *in, char *buf, size_t size)
{
	struct pcap_in *pi = in->priv;

	pthread_mutex_lock(&pi->slock);
	snprintf(buf, size, "\"received\":%llu,\"dropped\":%llu,\"if_dropped\":%llu,\"packets\":%llu,"
	    "\"tcp\":%llu,\"not_ip\":%llu,\"not_tcp\":%llu,\"fragment\":%llu,\"truncated\":%llu,"
	    "\"malformed\":%llu",
	    (unsigned long long)pi->ps_recv, (unsigned long long)pi->ps_drop,
	    (unsigned long long)pi->ps_ifdrop, (unsigned long long)pi->c_packets,
	    (unsigned long long)pi->c_result[FD_OK], (unsigned long long)pi->c_result[FD_NOT_IP],
	    (unsigned long long)pi->c_result[FD_NOT_TCP], (unsigned long long)pi->c_result[FD_FRAGMENT],
	    (unsigned long long)pi->c_result[FD_TRUNCATED], (unsigned long long)pi->c_result[FD_MALFORMED]);
	pthread_mutex_unlock(&pi->slock);
}

static void
live_close(struct flow_input *in)
{
	struct pcap_in *pi;

	if (in == NULL)
		return;
	pi = in->priv;
	if (pi != NULL) {
		if (pi->p != NULL)
			pcap_close(pi->p);
		pthread_mutex_destroy(&pi->slock);
		free(pi);
	}
	free(in);
}

static const struct flow_input_ops live_ops = {
	.kind = "pcap",
	.run = live_run,
	.interrupt = live_interrupt,
	.stats = live_stats,
	.close = live_close,
};

struct flow_input *
input_pcap_live_open(struct flowd *fd, const char *ifname, char *err, size_t errlen)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	char filter[4096];
	const char *expr;
	struct flow_input *in = xcalloc(1, sizeof *in);
	struct pcap_in *pi = xcalloc(1, sizeof *pi);
	int rc;

	in->ops = &live_ops;
	in->fd = fd;
	in->priv = pi;
	in->live = 1;
	snprintf(in->name, sizeof in->name, "pcap:%s", ifname);
	pi->place = in->name;
	pthread_mutex_init(&pi->slock, NULL);
	pi->p = pcap_create(ifname, errbuf);
	if (pi->p == NULL) {
		snprintf(err, errlen, "pcap_create: %s", errbuf);
		live_close(in);
		return NULL;
	}
	pcap_set_snaplen(pi->p, fd->snaplen);
	pcap_set_promisc(pi->p, 1);              /* a span port carries others' frames */
	pcap_set_immediate_mode(pi->p, 1);
	pcap_set_timeout(pi->p, 200);
	pcap_set_buffer_size(pi->p, (int)fd->buffer_size);
	rc = pcap_activate(pi->p);
	if (rc < 0) {
		snprintf(err, errlen, "cannot capture: %s (%s)%s", pcap_statustostr(rc), pcap_geterr(pi->p),
		    rc == PCAP_ERROR_PERM_DENIED ? "; live capture needs root or CAP_NET_RAW" : "");
		live_close(in);
		return NULL;
	}
	if (rc > 0)
		log_warn("%s warning=\"%s: %s\"", in->name, pcap_statustostr(rc), pcap_geterr(pi->p));
	pi->linktype = pcap_datalink(pi->p);
	if (!flow_decode_link_supported(pi->linktype)) {
		snprintf(err, errlen, "link type %s (%d) is not supported",
		    pcap_datalink_val_to_name(pi->linktype) ? pcap_datalink_val_to_name(pi->linktype) : "?",
		    pi->linktype);
		live_close(in);
		return NULL;
	}
	expr = (fd->bpf_filter && *fd->bpf_filter) ? fd->bpf_filter
	    : input_pcap_default_filter(pi->linktype, fd->replies, filter, sizeof filter);
	if (set_filter(pi->p, expr, in->name, err, errlen) != 0) {
		live_close(in);
		return NULL;
	}
	flowd_input_register(fd, in, fd->replies);
	log_info("%s link=%s snaplen=%d buffer=%ld replies=%s filter=\"%s\"", in->name,
	    pcap_datalink_val_to_name(pi->linktype) ? pcap_datalink_val_to_name(pi->linktype) : "?",
	    fd->snaplen, fd->buffer_size, fd->replies ? "yes" : "no", expr);
	return in;
}

/* ------------------------------------------------------------ files */

struct file_src {
	struct flow_input in;        /* name and detector input only */
	struct pcap_in pi;
	struct df_queue *q;          /* shared look-ahead (detect_flow.h), drained per batch */
	const char *path;
	struct pcap_pkthdr *h;
	const u_char *data;
	int done;
};

static void
file_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	struct file_src *f = (struct file_src *)user;
	struct df *df = f->in.fd->df;
	struct fd_packet pk;

	if (!decode(&f->in, &f->pi, h, data, &pk))
		return;
	if (!df_segment_wanted(pk.sport, pk.dport, pk.flags)) {
		df_queue_tick(df, f->q, ts_ms_of(h));      /* most of a full capture */
		return;
	}
	fill(df_queue_next(df, f->q), &pk, ts_ms_of(h), f->in.df_input);
	df_queue_commit(df, f->q);
}

/* Advance f to its next packet; done at its end or on an error. */
static int
file_next(struct flowd *fd, struct file_src *f, int *rc)
{
	int r = pcap_next_ex(f->pi.p, &f->h, &f->data);

	if (r == 1)
		return 1;
	if (r == PCAP_ERROR) {
		flowd_bad(fd, f->path, "truncated_pcap", "%s; the packets before it were used",
		    pcap_geterr(f->pi.p));
		*rc = EX_DATAERR;
	}
	f->done = 1;
	return 0;
}

static int
ts_before(const struct pcap_pkthdr *a, const struct pcap_pkthdr *b)
{
	return a->ts.tv_sec < b->ts.tv_sec || (a->ts.tv_sec == b->ts.tv_sec && a->ts.tv_usec < b->ts.tv_usec);
}

int
input_pcap_files(struct flowd *fd, char *const *files, int n)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct file_src *src = xcalloc((size_t)n, sizeof *src);
	struct df_queue *q = xcalloc(1, sizeof *q);
	int i, rc = 0, open = 0;
	uint64_t packets = 0, tcp = 0, truncated = 0;
	char err[512];

	for (i = 0; i < n; i++) {
		struct file_src *f = &src[i];
		const char *base = strrchr(files[i], '/');

		f->path = files[i];
		f->q = q;
		f->in.fd = fd;
		f->in.priv = &f->pi;
		f->pi.place = f->path;
		snprintf(f->in.name, sizeof f->in.name, "pcap-file:%s", base ? base + 1 : files[i]);
		f->pi.p = pcap_open_offline(files[i], errbuf);
		if (f->pi.p == NULL) {
			flowd_bad(fd, files[i], "unreadable_pcap", "%s", errbuf);
			log_err("%s error=\"%s\"", files[i], errbuf);
			rc = EX_NOINPUT;
			f->done = 1;
			continue;
		}
		f->pi.linktype = pcap_datalink(f->pi.p);
		if (!flow_decode_link_supported(f->pi.linktype)) {
			flowd_bad(fd, files[i], "bad_link_type", "link type %d is not decoded", f->pi.linktype);
			rc = EX_DATAERR;
			f->done = 1;
			continue;
		}
		if (fd->bpf_filter && *fd->bpf_filter
		    && set_filter(f->pi.p, fd->bpf_filter, files[i], err, sizeof err) != 0) {
			log_err("%s", err);
			rc = EX_DATAERR;
			f->done = 1;
			continue;
		}
		flowd_input_register(fd, &f->in, 1);
		open++;
	}
	if (open == 1) {
		/* one file: pcap_dispatch, the cheapest way through it */
		for (i = 0; i < n && src[i].done; i++)
			;
		for (;;) {
			int r;

			flowd_lock(fd);
			r = pcap_dispatch(src[i].pi.p, 4096, file_cb, (u_char *)&src[i]);
			df_queue_drain(fd->df, q);
			flowd_unlock(fd);
			if (r == 0 || r == PCAP_ERROR_BREAK)
				break;
			if (r == PCAP_ERROR) {
				flowd_bad(fd, src[i].path, "truncated_pcap", "%s; the packets before it were used",
				    pcap_geterr(src[i].pi.p));
				rc = EX_DATAERR;
				break;
			}
		}
	} else if (open > 1) {
		for (i = 0; i < n; i++)
			if (!src[i].done)
				file_next(fd, &src[i], &rc);
		flowd_lock(fd);
		for (;;) {
			struct file_src *best = NULL;

			for (i = 0; i < n; i++)
				if (!src[i].done && (best == NULL || ts_before(src[i].h, best->h)))
					best = &src[i];
			if (best == NULL)
				break;
			file_cb((u_char *)best, best->h, best->data);
			file_next(fd, best, &rc);
		}
		df_queue_drain(fd->df, q);
		flowd_unlock(fd);
	}
	for (i = 0; i < n; i++) {
		packets += src[i].pi.packets;
		tcp += src[i].pi.result[FD_OK];
		truncated += src[i].pi.result[FD_TRUNCATED];
		if (src[i].pi.p != NULL) {
			log_info("%s packets=%llu tcp=%llu not_ip=%llu not_tcp=%llu fragment=%llu truncated=%llu "
			    "malformed=%llu", src[i].path, (unsigned long long)src[i].pi.packets,
			    (unsigned long long)src[i].pi.result[FD_OK],
			    (unsigned long long)src[i].pi.result[FD_NOT_IP],
			    (unsigned long long)src[i].pi.result[FD_NOT_TCP],
			    (unsigned long long)src[i].pi.result[FD_FRAGMENT],
			    (unsigned long long)src[i].pi.result[FD_TRUNCATED],
			    (unsigned long long)src[i].pi.result[FD_MALFORMED]);
			pcap_close(src[i].pi.p);
		}
	}
	log_info("flowd files=%d packets=%llu tcp=%llu truncated=%llu", n, (unsigned long long)packets,
	    (unsigned long long)tcp, (unsigned long long)truncated);
	free(src);
	free(q);
	return rc;
}
