/*
 * callbacks.c - botsentry-milter's libmilter callbacks: decode the SMTP
 * dialogue into observations, count them per subscriber, run the detectors
 * (lib/detect.h), and apply the mitigation policy.
 *
 * Two-level context (STYLE.md habit 4): a connection context set in
 * negotiate (it holds a reference to the config snapshot, the client
 * address, the last HELO and who the subscriber is), and a message context
 * made at MAIL and freed at end of message or abort.  Macro values and
 * arguments are copied at once: libmilter's memory lives only for the
 * callback.  close tolerates a missing context.
 *
 * Who: {auth_authen} when the client authenticated, else the subscriber
 * holding the client address at that moment (lease history; IPv6 by its
 * delegated prefix), else the bare address, unattributed.  It is decided at
 * the first MAIL (the login is known only then); the connection and its
 * HELO are counted for that subscriber then, or at close for a session
 * that never got to MAIL.
 *
 * What is counted is what was accepted: messages, recipients and recipient
 * domains are added at end of message, so a transaction that is aborted or
 * refused does not use up the subscriber's quota.  Recipients are reduced
 * to their domain at once; addresses are never kept.
 *
 * Decisions (mode enforce; in mode monitor they are only counted as what
 * would have happened):
 *   MAIL  subscriber state reject -> 550; rate over the limit and (state
 *         throttle or rate|action throttle) -> 451 with the throttle text
 *   EOM   this message would take the subscriber over its recipient or
 *         message limit while throttled -> 451, not counted; a rule that
 *         fired on this message or its connection acts with its action
 *         (throttle 451, quarantine hold, reject 550); state quarantine ->
 *         hold.  Optionally a header with the score.
 * Every internal error answers with milter|on_error (accept by default):
 * the mail flow never depends on botsentry being healthy.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <libmilter/mfapi.h>

#include "addr.h"
#include "dkim.h"
#include "leases.h"
#include "log.h"
#include "milter.h"
#include "pflags.h"
#include "spf.h"
#include "util.h"
#include "writer.h"

#define HELO_KEEP 4096            /* bytes of a HELO kept (it is classified as too long anyway) */
#define FROM_KEEP 4096
#define HEADER_WARN (32 * 1024)   /* a header value longer than this is logged */
#define DOMSET_MAX 65536          /* distinct recipient domains remembered per message */
#define SAMPLE_DOMAINS 5

/* detector kinds, as bits of a "fired" mask */
enum { K_RATE, K_FANOUT, K_HELO, K_SENDER, K_DKIM, K_N };
static const char *const kind_names[K_N] = {
	"rate", "fanout", "helo", "sender_forgery", "dkim_replay"
};

struct mctx {
	char qid[32];
	char *env_from;               /* MAIL FROM argument as given (copy) */
	char *from_hdr;               /* first From: header value (copy, bounded) */
	size_t nrcpt;
	uint64_t *dom;                /* open-addressing set of domain hashes */
	size_t ndom, capdom;
	char *sample[SAMPLE_DOMAINS];
	size_t nsample;
	struct dkim_check *dk;
	int need_body;
	int big_header_logged;
	enum det_action state;        /* the subscriber's state at MAIL */
	int quarantine;               /* decided before eom */
	unsigned fired;               /* kinds raised for this message */
	double score;
};

struct cctx {
	struct bsm_snap *snap;
	unsigned long pflags;         /* negotiated */
	char id[24];                  /* session id for lines without a queue id */
	char client_ip[64];
	char client_key[80];          /* counting key part when unattributed */
	char *helo;
	size_t helo_len;
	int helo_pending;             /* seen but not yet counted for a subscriber */
	int resolved;                 /* subscriber decided (at first MAIL) */
	int conn_counted;
	char subscriber[EVENT_SUBSCRIBER_MAX];
	char ctrkey[EVENT_SUBSCRIBER_MAX + 8];
	const char *by;               /* auth, lease, ip */
	unsigned conn_fired;          /* kinds raised for the connection (HELO) */
	double conn_score;
	unsigned long nmsgs;
	struct mctx *msg;
};

static atomic_ulong session_seq;

/* ------------------------------------------------------------ small helpers */

static sfsistat
noreply(const struct cctx *cc, unsigned long bit)
{
	return cc != NULL && (cc->pflags & bit) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* An internal error: log it and answer with milter|on_error, or no reply
 * where none is due. */
static sfsistat
internal_error(const struct cctx *cc, unsigned long nr_bit, const char *where)
{
	sfsistat r = SMFIS_ACCEPT;

	stats_inc(ST_INTERNAL_ERRORS, 1);
	log_err("%s: internal error in %s; answering with milter|on_error",
	    cc ? cc->id : "NOQUEUE", where);
	if (cc != NULL && cc->snap != NULL)
		r = cc->snap->on_error;
	if (nr_bit != 0 && cc != NULL && (cc->pflags & nr_bit))
		return SMFIS_NOREPLY;
	return r;
}

static char *
clean(const char *s, size_t max)
{
	return bs_sanitize(s ? s : "", s ? strlen(s) : 0, max);
}

static const char *
qid_of(SMFICTX *ctx, const struct cctx *cc, const struct mctx *m)
{
	if (m != NULL && m->qid[0])
		return m->qid;
	(void)ctx;
	return cc->id;
}

static void
take_qid(SMFICTX *ctx, struct mctx *m)
{
	const char *i = smfi_getsymval(ctx, "i");

	if (i != NULL && i[0] != '\0' && m != NULL)
		bs_strlcpy(m->qid, i, sizeof m->qid);
}

static void
msg_free(struct mctx *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->env_from);
	free(m->from_hdr);
	free(m->dom);
	for (i = 0; i < m->nsample; i++)
		free(m->sample[i]);
	dkim_check_free(m->dk);
	free(m);
}

static void
conn_free(struct cctx *cc)
{
	if (cc == NULL)
		return;
	msg_free(cc->msg);
	free(cc->helo);
	bsm_snap_put(cc->snap);
	free(cc);
}

static int
kind_index(const char *kind)
{
	int k;

	for (k = 0; k < K_N; k++)
		if (strcmp(kind_names[k], kind) == 0)
			return k;
	return -1;
}

static enum det_action
kind_action(const struct detect_config *dc, int k)
{
	switch (k) {
	case K_RATE: return dc->rate.action;
	case K_FANOUT: return dc->fanout.action;
	case K_HELO: return dc->helo.action;
	case K_SENDER: return dc->sender.action;
	case K_DKIM: return dc->dkim.action;
	default: return DET_ACT_MONITOR;
	}
}

/* Add a domain hash to the message's set; 1 if it was new. */
static int
domset_add(struct mctx *m, uint64_t h)
{
	size_t i;

	if (m->ndom * 2 >= m->capdom) {
		size_t ncap = m->capdom ? m->capdom * 2 : 16;
		uint64_t *nd;

		if (m->ndom >= DOMSET_MAX)
			return 0;
		nd = xcalloc(ncap, sizeof *nd);
		for (i = 0; i < m->capdom; i++) {
			if (m->dom[i] != 0) {
				size_t j = (size_t)m->dom[i] & (ncap - 1);
				while (nd[j] != 0)
					j = (j + 1) & (ncap - 1);
				nd[j] = m->dom[i];
			}
		}
		free(m->dom);
		m->dom = nd;
		m->capdom = ncap;
	}
	for (i = (size_t)h & (m->capdom - 1); m->dom[i] != 0; i = (i + 1) & (m->capdom - 1))
		if (m->dom[i] == h)
			return 0;
	m->dom[i] = h;
	m->ndom++;
	return 1;
}

/* Submit what the detectors raised; note the kinds and scores. */
static void
submit(struct cctx *cc, struct det_out *out, unsigned *fired, double *score, const char *qid,
    const char *sender)
{
	size_t i;

	for (i = 0; i < out->n; i++) {
		struct event *ev = &out->ev[i];
		int k = kind_index(ev->kind);

		if (policy_allowlisted(bsm.policy, ev->kind, cc->subscriber, cc->client_ip, sender,
		    ev->ts_ms)) {
			stats_inc(ST_EVENTS_ALLOWLISTED, 1);
			continue;
		}
		if (k >= 0) {
			*fired |= 1u << k;
			*score += ev->score;
		}
		stats_inc(ST_EVENTS, 1);
		log_info("%s: event kind=%s score=%.1f subscriber=%s ip=%s evidence=%s", qid, ev->kind,
		    ev->score, cc->subscriber[0] ? cc->subscriber : "-",
		    cc->client_ip[0] ? cc->client_ip : "-", ev->evidence ? ev->evidence : "{}");
		if (bsm.writer == NULL || writer_submit(bsm.writer, ev) != 0)
			stats_inc(ST_EVENTS_DROPPED, 1);
	}
	det_out_clear(out);
}

static void
subject_of(const struct cctx *cc, struct det_subject *s)
{
	s->subscriber = cc->subscriber;
	s->client_ip = cc->client_ip;
	s->node = cc->snap->conf->node_name;
	s->now_ms = bs_now_ms();
}

/* What a session has not yet counted: the connection (once) and a HELO
 * seen since the last count.  Both ride along with the next message's
 * counter update (cb_eom), so that shared counters cost one round trip per
 * message and none more; a session that ends without an accepted message
 * counts them at close (flush_session). */
static void
session_pending(struct cctx *cc, uint32_t *inc, uint64_t *dh)
{
	if (!cc->conn_counted)
		inc[DET_C_CONNECTIONS] = 1;
	if (cc->helo_pending && cc->helo != NULL)
		dh[DET_D_HELOS] = detect_hash_item(cc->helo, cc->helo_len);
}

/* After the update that carried session_pending: mark them counted and run
 * the HELO detector on the values the update returned (its events belong to
 * the connection). */
static void
session_counted(struct cctx *cc, const struct det_subject *s, const struct ctr_values *v,
    const char *qid)
{
	const struct detect_config *dc = cc->snap->dc;
	int helo_new = cc->helo_pending;
	struct det_out out;

	cc->conn_counted = 1;
	cc->helo_pending = 0;
	if (!helo_new || cc->helo == NULL || !dc->helo.enabled)
		return;
	{
		struct helo_obs h = { cc->helo, cc->helo_len, cc->client_ip[0] ? cc->client_ip : NULL };
		det_out_init(&out);
		detect_helo(dc, bsm.fire, s, &h, v, &out);
		submit(cc, &out, &cc->conn_fired, &cc->conn_score, qid, NULL);
	}
}

/* A session ending with something uncounted (no message reached the end of
 * data): count it now, in the session's only update. */
static void
flush_session(struct cctx *cc)
{
	uint32_t inc[CTR_MAX_COUNTS] = { 0 };
	uint64_t dh[CTR_MAX_DISTINCT] = { 0 };
	struct ctr_values v;
	struct det_subject s;

	session_pending(cc, inc, dh);
	subject_of(cc, &s);
	ctr_update(bsm.ctr, cc->ctrkey, s.now_ms, inc, dh, &v);
	session_counted(cc, &s, &v, cc->id);
}

/* Decide who is sending (once, at the first MAIL; again later only if an
 * unattributed session authenticates). */
static void
resolve(SMFICTX *ctx, struct cctx *cc)
{
	const char *auth = smfi_getsymval(ctx, "{auth_authen}");
	const char *who = NULL;

	if (cc->resolved && (cc->subscriber[0] || auth == NULL || auth[0] == '\0'))
		return;
	if (auth != NULL && auth[0] != '\0') {
		char *s = bs_sanitize(auth, strlen(auth), EVENT_SUBSCRIBER_MAX - 4);
		bs_strlcpy(cc->subscriber, s, sizeof cc->subscriber);
		free(s);
		cc->by = "auth";
	} else if (cc->client_ip[0] && cc->snap->leases != NULL &&
	    (who = lease_table_lookup(cc->snap->leases, cc->client_ip, bs_now_ms())) != NULL) {
		char *s = bs_sanitize(who, strlen(who), EVENT_SUBSCRIBER_MAX - 4);
		bs_strlcpy(cc->subscriber, s, sizeof cc->subscriber);
		free(s);
		cc->by = "lease";
	} else {
		cc->subscriber[0] = '\0';
		cc->by = "ip";
	}
	if (cc->subscriber[0])
		bs_strlcpy(cc->ctrkey, cc->subscriber, sizeof cc->ctrkey);
	else
		snprintf(cc->ctrkey, sizeof cc->ctrkey, "ip:%s",
		    cc->client_key[0] ? cc->client_key : "unknown");
	cc->resolved = 1;
}

static void
set_reply(SMFICTX *ctx, const char *rcode, const char *xcode, const char *text)
{
	if (smfi_setreply(ctx, (char *)rcode, (char *)xcode, (char *)text) != MI_SUCCESS)
		log_warn("smfi_setreply %s %s failed; the MTA's default text is used", rcode, xcode);
}

/* One line per decision. */
static void
log_decision(const struct cctx *cc, const char *qid, const char *stage, const char *action,
    unsigned fired, double score, enum det_action state, const char *would, size_t nrcpt,
    size_t ndom, const char *from)
{
	char rules[128] = "";
	size_t off = 0;
	int k;
	const char *sub = cc->subscriber[0] ? cc->subscriber : "-";  /* clean already (resolve) */
	char *helo, *fr;

	if (log_get_level() < LOG_INFO)     /* the line is not wanted: build nothing */
		return;
	helo = cc->helo ? bs_sanitize(cc->helo, cc->helo_len, 64) : xstrdup("-");
	fr = clean(from ? from : "-", 80);

	for (k = 0; k < K_N; k++) {
		if (fired & (1u << k)) {
			int n = snprintf(rules + off, sizeof rules - off, "%s%s", off ? "," : "",
			    kind_names[k]);
			if (n > 0 && (size_t)n < sizeof rules - off)
				off += (size_t)n;
		}
	}
	log_info("%s: stage=%s action=%s subscriber=%s by=%s ip=%s helo=%s from=%s rcpts=%zu "
	    "domains=%zu rules=%s score=%.1f state=%s would=%s",
	    qid, stage, action, sub, cc->by ? cc->by : "-", cc->client_ip[0] ? cc->client_ip : "-",
	    helo, fr, nrcpt, ndom, off ? rules : "-", score, det_action_name(state),
	    would ? would : "-");
	free(helo);
	free(fr);
}

/* ------------------------------------------------------------ callbacks */

static struct cctx *
conn_new(SMFICTX *ctx)
{
	struct cctx *cc = xcalloc(1, sizeof *cc);

	cc->snap = bsm_snap_get();
	snprintf(cc->id, sizeof cc->id, "s%lx", (unsigned long)atomic_fetch_add(&session_seq, 1));
	cc->by = "ip";
	if (smfi_setpriv(ctx, cc) != MI_SUCCESS) {
		conn_free(cc);
		return NULL;
	}
	return cc;
}

static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
    unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	struct cctx *cc = smfi_getpriv(ctx);

	(void)f2; (void)f3;
	if (cc == NULL && (cc = conn_new(ctx)) == NULL)
		return SMFIS_ALL_OPTS;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
	*pf1 = bsm_pflags(f1, cc->snap->dkim_on, bsm.no_reply);
	*pf2 = 0;
	*pf3 = 0;
	cc->pflags = *pf1;
	if (f0 & SMFIF_SETSYMLIST) {
		/* what we read, whatever the MTA's own lists say */
		smfi_setsymlist(ctx, SMFIM_CONNECT, "j {daemon_name} {client_addr} {client_name}");
		smfi_setsymlist(ctx, SMFIM_ENVFROM,
		    "i {auth_authen} {auth_type} {mail_addr} {client_addr} {daemon_name}");
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
		smfi_setsymlist(ctx, SMFIM_DATA, "i");
		smfi_setsymlist(ctx, SMFIM_EOH, "i");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct cctx *cc = smfi_getpriv(ctx);
	const char *macro;

	if (cc == NULL) {
		/* Sendmail's QUIT_NC reuses the milter connection for a new SMTP
		 * session: close has freed the context, and negotiate is not
		 * called again.  The no-reply flags were granted then (libmilter
		 * offers them whatever the MTA can do); SKIP depends on the MTA, so
		 * assume it was not granted and answer body chunks. */
		if ((cc = conn_new(ctx)) == NULL)
			return internal_error(NULL, 0, "connect");
		cc->pflags = bsm_pflags(~(unsigned long)SMFIP_SKIP, cc->snap->dkim_on, bsm.no_reply);
	}
	(void)hostname;
	cc->client_ip[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr, cc->client_ip,
		    sizeof cc->client_ip);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)(void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			inet_ntop(AF_INET, &a6->s6_addr[12], cc->client_ip, sizeof cc->client_ip);
		else
			inet_ntop(AF_INET6, a6, cc->client_ip, sizeof cc->client_ip);
	} else if ((macro = smfi_getsymval(ctx, "{client_addr}")) != NULL) {
		unsigned char buf[16];
		if (inet_pton(AF_INET, macro, buf) == 1 || inet_pton(AF_INET6, macro, buf) == 1)
			bs_strlcpy(cc->client_ip, macro, sizeof cc->client_ip);
	}
	if (cc->client_ip[0] == '\0' ||
	    lease_client_key(cc->client_ip, cc->snap->v6_prefix, cc->client_key,
	        sizeof cc->client_key) == NULL)
		bs_strlcpy(cc->client_key, cc->client_ip[0] ? cc->client_ip : "unknown",
		    sizeof cc->client_key);
	stats_inc(ST_CONNECTIONS, 1);
	return noreply(cc, SMFIP_NR_CONN);
}

static sfsistat
cb_helo(SMFICTX *ctx, char *helo)
{
	struct cctx *cc = smfi_getpriv(ctx);
	size_t len;

	if (cc == NULL)
		return internal_error(NULL, 0, "helo");
	if (helo == NULL)
		helo = "";
	len = strlen(helo);
	if (len > HELO_KEEP) {
		stats_inc(ST_BAD_INPUT, 1);
		log_info("%s: bad input: HELO of %zu bytes; the first %d are classified",
		    cc->id, len, HELO_KEEP);
		len = HELO_KEEP;
	}
	free(cc->helo);
	cc->helo = xstrndup(helo, len);
	cc->helo_len = len;
	cc->helo_pending = 1;       /* counted with the next message (cb_eom) */
	return noreply(cc, SMFIP_NR_HELO);
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct cctx *cc = smfi_getpriv(ctx);
	struct bsm_snap *sn;
	const struct detect_config *dc;
	struct mctx *m;
	int over = 0, window = 0, throttle = 0, reject = 0, bulk, allowed;
	int64_t now = bs_now_ms();
	struct ctr_values v;

	if (cc == NULL)
		return internal_error(NULL, 0, "mail");
	sn = cc->snap;
	dc = sn->dc;
	msg_free(cc->msg);
	cc->msg = m = xcalloc(1, sizeof *m);
	cc->nmsgs++;
	take_qid(ctx, m);
	m->env_from = xstrdup(argv != NULL && argv[0] != NULL ? argv[0] : "");
	if (strlen(m->env_from) > 2048) {
		stats_inc(ST_BAD_INPUT, 1);
		log_info("%s: bad input: MAIL FROM of %zu bytes", cc->id, strlen(m->env_from));
		m->env_from[2048] = '\0';
	}
	resolve(ctx, cc);

	m->state = policy_get(bsm.policy, cc->subscriber);
	bulk = cc->subscriber[0] && detect_is_bulk(dc, cc->subscriber);
	allowed = bulk || policy_allowlisted(bsm.policy, "rate", cc->subscriber, cc->client_ip,
	    NULL, now);
	if (m->state == DET_ACT_REJECT) {
		stats_rule("state", DET_ACT_REJECT, sn->enforce);
		reject = 1;
	}
	if (m->state == DET_ACT_QUARANTINE) {
		stats_rule("state", DET_ACT_QUARANTINE, sn->enforce);
		m->quarantine = 1;
	}
	if (!reject && !allowed && dc->rate.enabled &&
	    (m->state == DET_ACT_THROTTLE || dc->rate.action != DET_ACT_MONITOR)) {
		ctr_peek(bsm.ctr, cc->ctrkey, now, &v);
		over = detect_rate_check(dc, cc->subscriber, &v, &window);
		if (over && m->state == DET_ACT_THROTTLE) {
			stats_rule("state", DET_ACT_THROTTLE, sn->enforce);
			throttle = 1;
		}
		if (over && dc->rate.action != DET_ACT_MONITOR) {
			stats_rule("rate", dc->rate.action, sn->enforce);
			if (dc->rate.action == DET_ACT_REJECT)
				reject = 1;
			else if (dc->rate.action == DET_ACT_QUARANTINE)
				m->quarantine = 1;
			else
				throttle = 1;
		}
	}
	if (!sn->enforce) {
		if (reject || throttle)
			log_decision(cc, qid_of(ctx, cc, m), "mail", "continue", over ? 1u << K_RATE : 0,
			    0, m->state, reject ? "reject" : "tempfail", 0, 0, m->env_from);
		return SMFIS_CONTINUE;
	}
	if (reject) {
		set_reply(ctx, "550", "5.7.1", sn->reject_text);
		log_decision(cc, qid_of(ctx, cc, m), "mail", "reject", over ? 1u << K_RATE : 0, 0,
		    m->state, NULL, 0, 0, m->env_from);
		stats_inc(ST_REJECT_MAIL, 1);
		msg_free(cc->msg);
		cc->msg = NULL;
		return SMFIS_REJECT;
	}
	if (throttle) {
		set_reply(ctx, "451", "4.7.1", sn->throttle_text);
		log_decision(cc, qid_of(ctx, cc, m), "mail", "tempfail", 1u << K_RATE, 0, m->state,
		    NULL, 0, 0, m->env_from);
		stats_inc(ST_TEMPFAIL_MAIL, 1);
		msg_free(cc->msg);
		cc->msg = NULL;
		return SMFIS_TEMPFAIL;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct cctx *cc = smfi_getpriv(ctx);
	struct mctx *m;
	struct addr a;
	char err[128];
	const char *arg;

	if (cc == NULL)
		return internal_error(NULL, 0, "rcpt");
	if ((m = cc->msg) == NULL)
		return noreply(cc, SMFIP_NR_RCPT);
	if (!m->qid[0])
		take_qid(ctx, m);
	arg = argv != NULL && argv[0] != NULL ? argv[0] : "";
	m->nrcpt++;
	if (addr_parse_envelope(arg, (size_t)-1, &a, err, sizeof err) != 0) {
		char *s = clean(arg, 80);
		stats_inc(ST_BAD_INPUT, 1);
		log_info("%s: bad input: RCPT TO %s: %s", qid_of(ctx, cc, m), s, err);
		free(s);
		return noreply(cc, SMFIP_NR_RCPT);
	}
	if (a.domain[0] != '\0' && domset_add(m, detect_hash_item(a.domain, (size_t)-1)) &&
	    m->nsample < SAMPLE_DOMAINS)
		m->sample[m->nsample++] = xstrdup(a.domain);
	return noreply(cc, SMFIP_NR_RCPT);
}

static sfsistat
cb_data(SMFICTX *ctx)
{
	struct cctx *cc = smfi_getpriv(ctx);

	if (cc != NULL && cc->msg != NULL)
		take_qid(ctx, cc->msg);
	return noreply(cc, SMFIP_NR_DATA);
}

static int
dkim_foreign(const char *domain, void *arg)
{
	const struct cctx *cc = arg;

	return detect_dkim_foreign(cc->snap->dc, cc->subscriber, domain);
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct cctx *cc = smfi_getpriv(ctx);
	struct mctx *m;
	size_t vlen;

	if (cc == NULL)
		return internal_error(NULL, 0, "header");
	if ((m = cc->msg) == NULL || name == NULL)
		return noreply(cc, SMFIP_NR_HDR);
	if (value == NULL)
		value = "";
	vlen = strlen(value);
	if (vlen > HEADER_WARN && !m->big_header_logged) {
		char *n = clean(name, 64);
		stats_inc(ST_BAD_INPUT, 1);
		log_info("%s: bad input: header %s of %zu bytes (only bounded parts are read)",
		    qid_of(ctx, cc, m), n, vlen);
		free(n);
		m->big_header_logged = 1;
	}
	if (m->from_hdr == NULL && strcasecmp(name, "From") == 0)
		m->from_hdr = xstrndup(value, vlen < FROM_KEEP ? vlen : FROM_KEEP);
	if (cc->snap->dkim_on && bsm.dkim != NULL) {
		if (m->dk == NULL)
			m->dk = dkim_check_begin(bsm.dkim, qid_of(ctx, cc, m), dkim_foreign, cc);
		if (m->dk != NULL)
			dkim_check_header(m->dk, name, value);
	}
	return noreply(cc, SMFIP_NR_HDR);
}

static sfsistat
cb_eoh(SMFICTX *ctx)
{
	struct cctx *cc = smfi_getpriv(ctx);

	if (cc != NULL && cc->msg != NULL) {
		take_qid(ctx, cc->msg);
		if (cc->msg->dk != NULL)
			cc->msg->need_body = dkim_check_eoh(cc->msg->dk) == DKIM_CHECK_NEED_BODY;
	}
	return noreply(cc, SMFIP_NR_EOH);
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct cctx *cc = smfi_getpriv(ctx);

	if (cc == NULL)
		return internal_error(NULL, SMFIP_NR_BODY, "body");
	if (cc->msg == NULL || !cc->msg->need_body || cc->msg->dk == NULL) {
		if (cc->pflags & SMFIP_SKIP) {
			stats_inc(ST_BODY_SKIPPED, 1);
			return SMFIS_SKIP;
		}
		return noreply(cc, SMFIP_NR_BODY);
	}
	dkim_check_body(cc->msg->dk, chunk, len);
	return noreply(cc, SMFIP_NR_BODY);
}

/* Would this message take the subscriber over a message or recipient limit?
 * (strictly over: reaching the limit exactly is allowed) */
static int
quota_exceeded(const struct cctx *cc, const struct mctx *m, int64_t now)
{
	struct det_limits lm, lr, ld;
	struct ctr_values v;
	int w;

	ctr_peek(bsm.ctr, cc->ctrkey, now, &v);
	detect_limits(cc->snap->dc, cc->subscriber, &lm, &lr, &ld);
	for (w = 0; w < DET_N_WINDOWS; w++) {
		if (lm.v[w] > 0 && v.count[DET_C_MESSAGES][w] + 1 > (double)lm.v[w])
			return 1;
		if (lr.v[w] > 0 && v.count[DET_C_RECIPIENTS][w] + (double)m->nrcpt > (double)lr.v[w])
			return 1;
	}
	return 0;
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	struct cctx *cc = smfi_getpriv(ctx);
	struct mctx *m;
	struct bsm_snap *sn;
	const struct detect_config *dc;
	struct det_subject s;
	struct det_out out;
	struct ctr_values v;
	uint32_t inc[CTR_MAX_COUNTS] = { 0 };
	uint64_t dh[CTR_MAX_DISTINCT] = { 0 };
	struct addr sender;
	char err[128];
	const char *qid;
	unsigned fired;
	double score;
	enum det_action act = DET_ACT_MONITOR, would = DET_ACT_MONITOR;
	int k, have_sender;
	sfsistat r = SMFIS_CONTINUE;
	const char *action = "continue";

	if (cc == NULL)
		return internal_error(NULL, 0, "eom");
	if ((m = cc->msg) == NULL)
		return internal_error(cc, 0, "eom without a message");
	sn = cc->snap;
	dc = sn->dc;
	take_qid(ctx, m);
	qid = qid_of(ctx, cc, m);
	subject_of(cc, &s);

	/* a throttled subscriber may not use this message to go over its quota */
	if (dc->rate.enabled && m->state == DET_ACT_THROTTLE && !detect_is_bulk(dc, cc->subscriber)
	    && !policy_allowlisted(bsm.policy, "rate", cc->subscriber, cc->client_ip, NULL, s.now_ms)
	    && quota_exceeded(cc, m, s.now_ms)) {
		stats_rule("state", DET_ACT_THROTTLE, sn->enforce);
		if (sn->enforce) {
			set_reply(ctx, "451", "4.7.1", sn->throttle_text);
			log_decision(cc, qid, "eom", "tempfail", 1u << K_RATE, 0, m->state, NULL,
			    m->nrcpt, m->ndom, m->env_from);
			stats_inc(ST_TEMPFAIL_EOM, 1);
			msg_free(m);
			cc->msg = NULL;
			return SMFIS_TEMPFAIL;
		}
		would = DET_ACT_THROTTLE;
	}

	/* count what was accepted */
	have_sender = addr_parse_envelope(m->env_from, (size_t)-1, &sender, err, sizeof err) == 0;
	inc[DET_C_MESSAGES] = 1;
	inc[DET_C_RECIPIENTS] = (uint32_t)(m->nrcpt > UINT32_MAX ? UINT32_MAX : m->nrcpt);
	if (have_sender && sender.addr[0])
		dh[DET_D_SENDERS] = detect_hash_item(sender.addr, (size_t)-1);
	session_pending(cc, inc, dh);
	/* the message, every recipient domain of it and what the session had
	 * not counted yet, in one update: one round trip with shared counters
	 * (the set's empty slots are 0 and skipped) */
	ctr_update_n(bsm.ctr, cc->ctrkey, s.now_ms, inc, dh, DET_D_RCPT_DOMAINS, m->dom, m->capdom, &v);
	session_counted(cc, &s, &v, qid);
	stats_inc(ST_MESSAGES, 1);
	stats_inc(ST_RCPTS, m->nrcpt);

	/* detectors */
	det_out_init(&out);
	if (dc->rate.enabled)
		detect_rate(dc, bsm.fire, &s, &v, cc->helo, &out);
	if (dc->fanout.enabled)
		detect_fanout(dc, bsm.fire, &s, &v, (const char *const *)m->sample, m->nsample, &out);
	if (dc->sender.enabled) {
		struct sender_obs so = { m->env_from, m->from_hdr, cc->helo };
		detect_sender(dc, bsm.fire, sn->dc->sender.spf ? bsm.spf : NULL, &s, &so, &v, &out);
	}
	if (m->dk != NULL) {
		struct dkim_check_result dr;
		dkim_check_end(m->dk, &dr);
		if (dr.verdict == DKIM_CHECK_PASS || dr.verdict == DKIM_CHECK_FAIL)
			stats_inc(ST_DKIM_VERIFIED, 1);
		if (dc->dkim.enabled)
			detect_dkim(dc, bsm.fire, &s, &dr, &out);
	}
	submit(cc, &out, &m->fired, &m->score, qid, have_sender ? sender.addr : NULL);

	/* decide */
	fired = m->fired | cc->conn_fired;
	score = m->score + cc->conn_score;
	for (k = 0; k < K_N; k++) {
		enum det_action a;
		if (!(fired & (1u << k)) || k == K_RATE)   /* rate acts at the next MAIL */
			continue;
		a = kind_action(dc, k);
		if (a == DET_ACT_MONITOR)
			continue;
		stats_rule(kind_names[k], a, sn->enforce);
		if (a > act)
			act = a;
	}
	if (m->quarantine && act < DET_ACT_QUARANTINE)
		act = DET_ACT_QUARANTINE;
	if (!sn->enforce) {
		if (act > would)
			would = act;
		act = DET_ACT_MONITOR;
	}
	switch (act) {
	case DET_ACT_REJECT:
		set_reply(ctx, "550", "5.7.1", sn->reject_text);
		r = SMFIS_REJECT;
		action = "reject";
		stats_inc(ST_REJECT_EOM, 1);
		break;
	case DET_ACT_THROTTLE:
		set_reply(ctx, "451", "4.7.1", sn->throttle_text);
		r = SMFIS_TEMPFAIL;
		action = "tempfail";
		stats_inc(ST_TEMPFAIL_EOM, 1);
		break;
	case DET_ACT_QUARANTINE:
		if (smfi_quarantine(ctx, (char *)sn->quarantine_reason) == MI_SUCCESS) {
			action = "quarantine";
			stats_inc(ST_QUARANTINED, 1);
		} else {
			log_warn("%s: smfi_quarantine failed (does the MTA allow it?)", qid);
		}
		break;
	default:
		break;
	}
	if (sn->add_header && r == SMFIS_CONTINUE) {
		char hv[160];
		char rules[96] = "";
		size_t off = 0;
		for (k = 0; k < K_N; k++) {
			if (fired & (1u << k)) {
				int n = snprintf(rules + off, sizeof rules - off, "%s%s", off ? "," : "",
				    kind_names[k]);
				if (n > 0 && (size_t)n < sizeof rules - off)
					off += (size_t)n;
			}
		}
		snprintf(hv, sizeof hv, "score=%.1f; rules=%s; node=%s", score, off ? rules : "none",
		    sn->conf->node_name);
		if (smfi_addheader(ctx, (char *)sn->header_name, hv) == MI_SUCCESS)
			stats_inc(ST_HEADERS_ADDED, 1);
	}
	log_decision(cc, qid, "eom", action, fired, score, m->state,
	    would != DET_ACT_MONITOR ? det_action_name(would) : NULL, m->nrcpt, m->ndom, m->env_from);
	msg_free(m);
	cc->msg = NULL;
	return r;
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	struct cctx *cc = smfi_getpriv(ctx);

	if (cc != NULL && cc->msg != NULL) {
		stats_inc(ST_ABORTED, 1);
		msg_free(cc->msg);
		cc->msg = NULL;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	struct cctx *cc = smfi_getpriv(ctx);

	if (cc == NULL)
		return SMFIS_CONTINUE;
	/* a session without an accepted message still counts (and its HELO) */
	if ((!cc->conn_counted || cc->helo_pending) && cc->snap != NULL && cc->client_ip[0]) {
		resolve(ctx, cc);
		flush_session(cc);
	}
	smfi_setpriv(ctx, NULL);
	conn_free(cc);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_unknown(SMFICTX *ctx, const char *cmd)
{
	(void)ctx; (void)cmd;
	return SMFIS_CONTINUE;
}

void
bsm_callbacks(struct smfiDesc *d)
{
	memset(d, 0, sizeof *d);
	d->xxfi_name = "botsentry";
	d->xxfi_version = SMFI_VERSION;
	d->xxfi_flags = SMFIF_ADDHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
	d->xxfi_connect = cb_connect;
	d->xxfi_helo = cb_helo;
	d->xxfi_envfrom = cb_envfrom;
	d->xxfi_envrcpt = cb_envrcpt;
	d->xxfi_header = cb_header;
	d->xxfi_eoh = cb_eoh;
	d->xxfi_body = cb_body;
	d->xxfi_eom = cb_eom;
	d->xxfi_abort = cb_abort;
	d->xxfi_close = cb_close;
	d->xxfi_unknown = cb_unknown;
	d->xxfi_data = cb_data;
	d->xxfi_negotiate = cb_negotiate;
}
