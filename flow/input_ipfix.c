/*
 * input_ipfix.c - the IPFIX and NetFlow v9 collectors, through libfixbuf 2.x.
 *
 * One listener per protocol and port (a fixbuf listener speaks one
 * protocol); NetFlow v9 goes through fixbuf's v9-to-IPFIX translator.
 * Every incoming record, data or options, is transcoded into one internal
 * template (struct rec below), added to the session before the listener is
 * made (UDP sessions are clones of it).  Fields the exporter does not send
 * read as zero.
 *
 * Times, in order of preference: flowStart/EndMilliseconds (152/153, what
 * `softflowd -A milli` sends), flowStart/EndSeconds (150/151), or
 * flowStart/EndSysUpTime (22/21) plus systemInitTimeMilliseconds (160),
 * which the v9 translator adds to each record and IPFIX exporters send in
 * an options record (kept here per exporter and observation domain).
 *
 * Each new template is checked in the new-template callback: a template
 * without addresses, ports and protocol is of no use to us (softflowd's
 * ICMP templates), one without TCP flags or times is reported once.
 * Garbage datagrams, data before its template and impossible values are
 * counted per kind and logged once per kind; the read goes on.  Loss: the
 * v9 collector's missed-flow count, and IPFIX sequence gaps from fixbuf's
 * own warnings (caught through a GLib log handler).
 *
 * Compiled only when configure found libfixbuf 2.x (HAVE_FIXBUF).
 */
#include "config.h"
#include "conf_flow.h"
#include "flowd.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <fixbuf/public.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if FIXBUF_VERSION_MAJOR != 2
#error "input_ipfix.c is written for libfixbuf 2.x (3.x changed fbSessionAddTemplate and more)"
#endif

/* The internal template: packed by hand, no implicit padding (104 bytes). */
struct rec {
	uint64_t start_ms;          /* 152 flowStartMilliseconds */
	uint64_t end_ms;            /* 153 flowEndMilliseconds */
	uint64_t sysinit_ms;        /* 160 systemInitTimeMilliseconds */
	uint64_t packets;           /* 2 packetDeltaCount */
	uint64_t octets;            /* 1 octetDeltaCount */
	uint32_t start_s;           /* 150 flowStartSeconds */
	uint32_t end_s;             /* 151 flowEndSeconds */
	uint32_t start_up;          /* 22 flowStartSysUpTime */
	uint32_t end_up;            /* 21 flowEndSysUpTime */
	uint8_t src6[16];           /* 27 */
	uint8_t dst6[16];           /* 28 */
	uint32_t src4;              /* 8 */
	uint32_t dst4;              /* 12 */
	uint16_t sport;             /* 7 */
	uint16_t dport;             /* 11 */
	uint16_t flags;             /* 6 tcpControlBits (2 bytes in the model) */
	uint8_t proto;              /* 4 */
	uint8_t direction;          /* 61 flowDirection */
};

static fbInfoElementSpec_t rec_spec[] = {
	{ "flowStartMilliseconds", 8, 0 },
	{ "flowEndMilliseconds", 8, 0 },
	{ "systemInitTimeMilliseconds", 8, 0 },
	{ "packetDeltaCount", 8, 0 },
	{ "octetDeltaCount", 8, 0 },
	{ "flowStartSeconds", 4, 0 },
	{ "flowEndSeconds", 4, 0 },
	{ "flowStartSysUpTime", 4, 0 },
	{ "flowEndSysUpTime", 4, 0 },
	{ "sourceIPv6Address", 16, 0 },
	{ "destinationIPv6Address", 16, 0 },
	{ "sourceIPv4Address", 4, 0 },
	{ "destinationIPv4Address", 4, 0 },
	{ "sourceTransportPort", 2, 0 },
	{ "destinationTransportPort", 2, 0 },
	{ "tcpControlBits", 2, 0 },
	{ "protocolIdentifier", 1, 0 },
	{ "flowDirection", 1, 0 },
	FB_IESPEC_NULL
};

/* What the new-template callback found (stored as the template's context). */
#define T_CHECKED 0x01
#define T_USABLE 0x02
#define T_OPTIONS 0x04
#define T_UPTIME 0x08         /* times are 22/21: needs 160 */

#define MAX_EXPORTERS 64

struct exporter {
	char peer[64];
	uint32_t domain;
	uint64_t sysinit_ms;
	uint32_t missed;            /* v9: fixbuf's missed-flow count */
};

struct ipfix_in {
	fbInfoModel_t *model;
	fbSession_t *session;
	fbListener_t *listener;
	fBuf_t *fbuf;
	uint16_t tid;
	int v9, tcp;
	struct exporter exp[MAX_EXPORTERS];
	int nexp;
	volatile uint64_t messages, records, options, unusable, bad_records, errors,
	    seq_gaps, seq_gap_records, missing_template, missed_v9;
};

static __thread struct flow_input *cur_input;

/* ------------------------------------------------------------ fixbuf's warnings */

/* fixbuf reports some problems only through g_warning; count them here. */
static void
glib_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer ud)
{
	struct flow_input *in = cur_input;
	struct ipfix_in *x = in ? in->priv : NULL;
	unsigned dom, expected, got;
	const char *p;

	(void)domain;
	(void)ud;
	if (x != NULL && (p = strstr(msg, "out of sequence")) != NULL) {
		x->seq_gaps++;
		if (sscanf(p, "out of sequence (in domain %x, expected %x, got %x)", &dom, &expected, &got) == 3
		    && got - expected < 0x80000000u)
			x->seq_gap_records += got - expected;
		log_debug("%s fixbuf=\"%s\"", in->name, msg);
		return;
	}
	if (x != NULL && strstr(msg, "Missing external template") != NULL) {
		x->missing_template++;
		flowd_bad(in->fd, in->name, "data_before_template",
		    "%s (the exporter's template has not arrived yet; its data is dropped)", msg);
		return;
	}
	if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0)
		log_err("%s fixbuf=\"%s\"", in ? in->name : "fixbuf", msg);
	else
		log_debug("%s fixbuf=\"%s\"", in ? in->name : "fixbuf", msg);
}

/* ------------------------------------------------------------ templates */

static int
has(fbTemplate_t *t, const char *name)
{
	fbInfoElementSpec_t s = { (char *)name, 0, 0 };

	return fbTemplateContainsElementByName(t, &s) ? 1 : 0;
}

static void
new_template(fbSession_t *session, uint16_t tid, fbTemplate_t *tmpl, void *app_ctx,
    void **tmpl_ctx, fbTemplateCtxFree_fn *free_fn)
{
	struct flow_input *in = app_ctx;
	uintptr_t flags = T_CHECKED;

	(void)session;
	*free_fn = NULL;
	if (fbTemplateGetOptionsScope(tmpl) > 0) {
		flags |= T_OPTIONS;
		*tmpl_ctx = (void *)flags;
		return;
	}
	if (((has(tmpl, "sourceIPv4Address") && has(tmpl, "destinationIPv4Address"))
	    || (has(tmpl, "sourceIPv6Address") && has(tmpl, "destinationIPv6Address")))
	    && has(tmpl, "sourceTransportPort") && has(tmpl, "destinationTransportPort")
	    && has(tmpl, "protocolIdentifier")) {
		int ms = has(tmpl, "flowStartMilliseconds"), s = has(tmpl, "flowStartSeconds");
		int up = has(tmpl, "flowStartSysUpTime");

		if (!has(tmpl, "tcpControlBits")) {
			flowd_bad(in->fd, in->name, "template_without_tcp_flags",
			    "template %#06x has no tcpControlBits: its flows cannot show SYNs; configure the "
			    "exporter to send them", tid);
		} else if (!ms && !s && !up) {
			flowd_bad(in->fd, in->name, "template_without_times",
			    "template %#06x has no flow start time (152, 150 or 22)", tid);
		} else {
			flags |= T_USABLE;
			if (!ms && !s)
				flags |= T_UPTIME;
		}
	}
	*tmpl_ctx = (void *)flags;
}

/* ------------------------------------------------------------ records */

static struct exporter *
exporter_for(struct ipfix_in *x, fBuf_t *fbuf)
{
	struct sockaddr *sa = NULL;
	fbCollector_t *coll = fBufGetCollector(fbuf);
	char peer[64] = "?";
	uint32_t domain = fbSessionGetDomain(fBufGetSession(fbuf));
	int i;

	if (coll != NULL)
		sa = fbCollectorGetPeer(coll);
	if (sa != NULL) {
		char host[48] = "?";
		int port = 0;
		if (sa->sa_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
			port = ntohs(s4->sin_port);
		} else if (sa->sa_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
			port = ntohs(s6->sin6_port);
		}
		/* the v9 missed count and 160 are per exporter address, not per source port */
		(void)port;
		snprintf(peer, sizeof peer, "%s", host);
	}
	for (i = 0; i < x->nexp; i++)
		if (x->exp[i].domain == domain && strcmp(x->exp[i].peer, peer) == 0)
			return &x->exp[i];
	if (x->nexp == MAX_EXPORTERS)
		return &x->exp[MAX_EXPORTERS - 1];
	memset(&x->exp[x->nexp], 0, sizeof x->exp[0]);
	bs_strlcpy(x->exp[x->nexp].peer, peer, sizeof x->exp[0].peer);
	x->exp[x->nexp].domain = domain;
	return &x->exp[x->nexp++];
}

static void
record(struct flow_input *in, struct ipfix_in *x, fBuf_t *fbuf, const struct rec *r)
{
	uint16_t ext_tid = 0;
	fbTemplate_t *t = fBufGetCollectionTemplate(fbuf, &ext_tid);
	uintptr_t tf = t ? (uintptr_t)fbTemplateGetContext(t) : 0;
	struct exporter *e;
	struct df_flowrec f;
	char place[200];
	const char *why = NULL;

	if (t != NULL && (tf & T_CHECKED) == 0)
		tf = T_CHECKED;     /* a template we were not told about: not trusted */
	if (tf & T_OPTIONS) {
		x->options++;
		if (r->sysinit_ms != 0) {
			e = exporter_for(x, fbuf);
			e->sysinit_ms = r->sysinit_ms;
		}
		return;
	}
	x->records++;
	if (!(tf & T_USABLE)) {
		x->unusable++;
		return;
	}
	if (r->proto != 6)
		return;
	memset(&f, 0, sizeof f);
	if (r->start_ms != 0) {
		f.start_ms = (int64_t)r->start_ms;
		f.end_ms = r->end_ms ? (int64_t)r->end_ms : f.start_ms;
	} else if (r->start_s != 0) {
		f.start_ms = (int64_t)r->start_s * 1000;
		f.end_ms = r->end_s ? (int64_t)r->end_s * 1000 : f.start_ms;
	} else {
		uint64_t base = r->sysinit_ms;

		if (base == 0) {
			e = exporter_for(x, fbuf);
			base = e->sysinit_ms;
		}
		if (base == 0) {
			x->bad_records++;
			flowd_bad(in->fd, in->name, "no_time_base",
			    "template %#06x carries uptimes (22/21) and no systemInitTimeMilliseconds (160) "
			    "has arrived: the flow cannot be placed in time (use softflowd -A milli)", ext_tid);
			return;
		}
		f.start_ms = (int64_t)(base + r->start_up);
		f.end_ms = (int64_t)(base + r->end_up);
	}
	if (r->src4 != 0 || r->dst4 != 0) {
		f.src.family = f.dst.family = 4;
		f.src.a[0] = (uint8_t)(r->src4 >> 24);
		f.src.a[1] = (uint8_t)(r->src4 >> 16);
		f.src.a[2] = (uint8_t)(r->src4 >> 8);
		f.src.a[3] = (uint8_t)r->src4;
		f.dst.a[0] = (uint8_t)(r->dst4 >> 24);
		f.dst.a[1] = (uint8_t)(r->dst4 >> 16);
		f.dst.a[2] = (uint8_t)(r->dst4 >> 8);
		f.dst.a[3] = (uint8_t)r->dst4;
		if (r->src4 == 0 || r->dst4 == 0)
			why = "zero_address";
	} else {
		static const uint8_t zero[16];
		f.src.family = f.dst.family = 6;
		memcpy(f.src.a, r->src6, 16);
		memcpy(f.dst.a, r->dst6, 16);
		if (memcmp(r->src6, zero, 16) == 0 || memcmp(r->dst6, zero, 16) == 0)
			why = "zero_address";
	}
	if (why == NULL && (r->sport == 0 || r->dport == 0))
		why = "zero_port";
	if (why == NULL && (!flowd_time_plausible(f.start_ms) || !flowd_time_plausible(f.end_ms)))
		why = "time_out_of_range";
	if (why == NULL && f.end_ms < f.start_ms)
		why = "end_before_start";
	if (why == NULL && r->packets != 0 && r->octets != 0 && r->octets < r->packets * 20)
		why = "octets_below_packets";
	if (why != NULL) {
		x->bad_records++;
		snprintf(place, sizeof place, "%s template=%#06x", in->name, ext_tid);
		flowd_bad(in->fd, place, "impossible_record", "%s", why);
		return;
	}
	f.sport = r->sport;
	f.dport = r->dport;
	f.proto = r->proto;
	f.flags = (uint8_t)r->flags;
	f.packets = r->packets;
	f.input = in->df_input;
	flowd_lock(in->fd);
	df_flowrec(in->fd->df, &f);
	flowd_unlock(in->fd);
}

static void
update_missed(struct ipfix_in *x, fBuf_t *fbuf)
{
	fbCollector_t *coll;
	struct sockaddr *sa;
	struct exporter *e;
	uint64_t total = 0;
	int i;

	if (!x->v9 || (coll = fBufGetCollector(fbuf)) == NULL || (sa = fbCollectorGetPeer(coll)) == NULL)
		return;
	e = exporter_for(x, fbuf);
	e->missed = fbCollectorGetNetflowMissed(coll, sa,
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in), e->domain);
	for (i = 0; i < x->nexp; i++)
		total += x->exp[i].missed;
	x->missed_v9 = total;
}

static void
ipfix_run(struct flow_input *in)
{
	struct ipfix_in *x = in->priv;
	GError *err = NULL;

	cur_input = in;
	while (!flowd_stopping(in->fd)) {
		fBuf_t *fbuf = fbListenerWait(x->listener, &err);

		if (fbuf == NULL) {
			if (flowd_stopping(in->fd) || g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_NLREAD)) {
				g_clear_error(&err);
				if (flowd_stopping(in->fd))
					break;
				continue;
			}
			log_warn("%s error=\"%s\"", in->name, err ? err->message : "?");
			g_clear_error(&err);
			continue;
		}
		x->fbuf = fbuf;
		fBufSetAutomaticMode(fbuf, FALSE);
		if (!fBufSetInternalTemplate(fbuf, x->tid, &err)) {
			log_err("%s error=\"internal template: %s\"", in->name, err ? err->message : "?");
			g_clear_error(&err);
			break;
		}
		x->messages++;
		for (;;) {
			struct rec r;
			size_t len = sizeof r;

			memset(&r, 0, sizeof r);
			if (fBufNext(fbuf, (uint8_t *)&r, &len, &err)) {
				record(in, x, fbuf, &r);
				continue;
			}
			if (g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOM)) {
				g_clear_error(&err);
				update_missed(x, fbuf);
				break;                      /* back to the listener */
			}
			if (g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOF)) {
				g_clear_error(&err);
				update_missed(x, fbuf);
				fBufFree(fbuf);             /* the exporter closed its connection */
				x->fbuf = NULL;
				break;
			}
			if (g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_IO)
			    || g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_NLREAD)) {
				g_clear_error(&err);
				if (flowd_stopping(in->fd))
					goto out;
				break;
			}
			x->errors++;
			if (g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_NETFLOWV9)
			    && strstr(err->message, "No Templates") != NULL)
				flowd_bad(in->fd, in->name, "data_before_template", "%s", err->message);
			else if (g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_TMPL))
				flowd_bad(in->fd, in->name, "data_before_template", "%s", err->message);
			else
				flowd_bad(in->fd, in->name, "garbage_datagram", "%s", err->message);
			g_clear_error(&err);
			update_missed(x, fbuf);
			if (x->tcp) {
				/* a TCP stream out of step cannot be resynchronised:
				 * drop the connection; the exporter reconnects */
				log_warn("%s action=\"connection closed after a bad message\"", in->name);
				fBufFree(fbuf);
				x->fbuf = NULL;
				break;
			}
			break;      /* UDP: the bad datagram is consumed; wait for the next */
		}
	}
out:
	cur_input = NULL;
}

static void
ipfix_interrupt(struct flow_input *in)
{
	struct ipfix_in *x = in->priv;

	fbListenerInterrupt(x->listener);
}

static void
ipfix_stats(struct flow_input *in, char *buf, size_t size)
{
	struct ipfix_in *x = in->priv;

	snprintf(buf, size, "\"messages\":%llu,\"records\":%llu,\"options\":%llu,\"unusable\":%llu,"
	    "\"bad_records\":%llu,\"errors\":%llu,\"data_before_template\":%llu,"
	    "\"sequence_gaps\":%llu,\"lost\":%llu",
	    (unsigned long long)x->messages, (unsigned long long)x->records,
	    (unsigned long long)x->options, (unsigned long long)x->unusable,
	    (unsigned long long)x->bad_records, (unsigned long long)x->errors,
	    (unsigned long long)x->missing_template, (unsigned long long)x->seq_gaps,
	    (unsigned long long)(x->v9 ? x->missed_v9 : x->seq_gap_records));
}

static void
ipfix_close(struct flow_input *in)
{
	struct ipfix_in *x;

	if (in == NULL)
		return;
	x = in->priv;
	if (x != NULL) {
		/* fbListenerFree frees the buffer it handed out last (and with it
		 * the session and collector); freeing that buffer first makes it
		 * read freed memory.  A TCP buffer whose exporter hung up was
		 * freed in ipfix_run already. */
		if (x->listener != NULL)
			fbListenerFree(x->listener);
		else if (x->session != NULL)
			fbSessionFree(x->session);
		if (x->model != NULL)
			fbInfoModelFree(x->model);
		free(x);
	}
	free(in);
}

static const struct flow_input_ops ipfix_ops = {
	.kind = "ipfix",
	.run = ipfix_run,
	.interrupt = ipfix_interrupt,
	.stats = ipfix_stats,
	.close = ipfix_close,
};

struct flow_input *
input_ipfix_open(struct flowd *fd, const char *listen, int netflow9, int tcp, char *err, size_t errlen)
{
	static int handler_set;
	char host[128], port[8];
	struct flow_input *in;
	struct ipfix_in *x;
	fbTemplate_t *t;
	fbConnSpec_t spec;
	GError *gerr = NULL;

	if (conf_flow_split_listen(listen, host, sizeof host, port, sizeof port) != 0) {
		snprintf(err, errlen, "expected HOST:PORT, got '%s'", listen);
		return NULL;
	}
	if (!handler_set) {
		g_log_set_default_handler(glib_log, NULL);
		handler_set = 1;
	}
	in = xcalloc(1, sizeof *in);
	x = xcalloc(1, sizeof *x);
	in->ops = &ipfix_ops;
	in->fd = fd;
	in->priv = x;
	x->v9 = netflow9;
	x->tcp = tcp;
	snprintf(in->name, sizeof in->name, "%s:%s:%s", netflow9 ? "netflow9" : "ipfix",
	    tcp ? "tcp" : "udp", listen);

	x->model = fbInfoModelAlloc();
	x->session = fbSessionAlloc(x->model);
	t = fbTemplateAlloc(x->model);
	if (!fbTemplateAppendSpecArray(t, rec_spec, UINT32_MAX, &gerr)) {
		snprintf(err, errlen, "internal template: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		fbTemplateFreeUnused(t);
		goto fail;
	}
	/* before fbListenerAlloc: UDP sessions are clones of this one */
	x->tid = fbSessionAddTemplate(x->session, TRUE, FB_TID_AUTO, t, &gerr);
	if (x->tid == 0) {
		snprintf(err, errlen, "internal template: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		goto fail;
	}
	fbSessionAddNewTemplateCallback(x->session, new_template, in);
	memset(&spec, 0, sizeof spec);
	spec.transport = tcp ? FB_TCP : FB_UDP;
	spec.host = host;
	spec.svc = port;
	x->listener = fbListenerAlloc(&spec, x->session, NULL, NULL, &gerr);
	if (x->listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s (%s): %s", listen, tcp ? "tcp" : "udp",
		    gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		goto fail;
	}
	if (netflow9) {
		fbCollector_t *coll = NULL;

		if (!fbListenerGetCollector(x->listener, &coll, &gerr)
		    || !fbCollectorSetNetflowV9Translator(coll, &gerr)) {
			snprintf(err, errlen, "NetFlow v9 translator: %s", gerr ? gerr->message : "?");
			g_clear_error(&gerr);
			goto fail;
		}
	}
	flowd_input_register(fd, in, 1);
	log_info("%s status=listening", in->name);
	return in;
fail:
	ipfix_close(in);
	return NULL;
}
