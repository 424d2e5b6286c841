/*
 * detect_auth.c - auth_bruteforce, credential_abuse and bounce_ratio over
 * observations from the MTA log (see detect_auth.h).
 *
 * Counting is done by the shared sliding-window tables (counters.h), one
 * table per question.  Beside them a bounded "notes" table keeps what the
 * counters cannot: a few samples per key for the evidence, and when a key
 * last fired (to fire once per crossing).  Losing a note (eviction) only
 * loses samples or lets a key fire one window early; it is counted.
 *
 * The queue-id table ties a Postfix queue id to who submitted it, until
 * qmgr says "removed" or the entry expires.  It is a fixed pool with hash
 * chains and a recency list, so its memory never grows past br_max_queue.
 */
#include "config.h"
#include "detect_auth.h"
#include "counters.h"
#include "util.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTE_WAYS 4
#define NOTE_SAMPLES 4
#define NOTE_SAMPLE_LEN 48
#define NOTE_MAX_SLOTS (1u << 16)

struct note {
	uint64_t h;                 /* 0: empty */
	int64_t last_ms;
	int64_t fired_until;        /* no new event for this key before this time */
	uint8_t n;
	char s[NOTE_SAMPLES][NOTE_SAMPLE_LEN];
};

#define QID_LEN 32
#define NIL UINT32_MAX

struct qent {
	char qid[QID_LEN];
	char ip[64];
	char *sub;                  /* "" unattributed */
	char *login;                /* may be NULL */
	int64_t ts_ms;              /* last touched (traffic time) */
	uint32_t hnext;             /* hash chain */
	uint32_t prev, next;        /* recency list; free list uses next */
	int used;
};

struct da {
	struct da_settings s;
	da_event_fn fn;
	void *ud;
	struct ctr_table *bf, *caf, *cao, *br;
	struct note *notes;
	size_t nnotes;              /* power of two */
	struct qent *q;
	uint32_t *qbuckets;
	size_t nqbuckets;           /* power of two */
	uint32_t qhead, qtail, qfree;
	size_t qcount;
	struct da_stats st;
};

void
da_settings_default(struct da_settings *s)
{
	memset(s, 0, sizeof *s);
	s->bf_window_ms = 600 * 1000;
	s->bf_failures = 20;
	s->bf_logins = 5;
	s->bf_score = 15;
	s->ca_window_ms = 3600 * 1000;
	s->ca_fail_addrs = 5;
	s->ca_ok_addrs = 10;
	s->ca_ok_nets = 5;
	s->ca_v4_net_len = 24;
	s->ca_v6_net_len = 48;
	s->ca_score = 30;
	s->br_window_ms = 3600 * 1000;
	s->br_min_rcpts = 20;
	s->br_ratio = 0.5;
	s->br_score = 20;
	s->br_max_queue = 100000;
	s->br_queue_ttl_ms = 86400 * 1000;
	s->max_keys = 100000;
	s->idle_ms = 2 * 3600 * 1000;
}

/* ------------------------------------------------------------------ helpers */

static size_t
pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* A JSON string for text from a log line: as is when it is UTF-8, else with
 * the bytes >= 0x80 written as \xNN (jansson refuses invalid UTF-8). */
static json_t *
jtext(const char *s)
{
	json_t *j;
	char *buf, *o;
	const unsigned char *p;

	if (s == NULL)
		return json_string("");
	if ((j = json_string(s)) != NULL)
		return j;
	buf = xmalloc(strlen(s) * 4 + 1);
	for (o = buf, p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80)
			o += sprintf(o, "\\x%02x", *p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	j = json_string(buf);
	free(buf);
	return j != NULL ? j : json_string("");
}

static struct ctr_table *
table(size_t max_keys, int64_t window_ms, int64_t idle_ms, int n_counts, int n_distinct)
{
	struct ctr_spec spec;

	memset(&spec, 0, sizeof spec);
	spec.n_counts = n_counts;
	spec.n_distinct = n_distinct;
	spec.n_windows = 1;
	spec.window_s[0] = window_ms / 1000 > 0 ? window_ms / 1000 : 1;
	spec.max_keys = max_keys;
	spec.idle_s = (idle_ms > window_ms ? idle_ms : window_ms) / 1000 + 1;
	return ctr_new(&spec);
}

/* The note for (kind, key), created if missing; never NULL.  kind keeps
 * the detectors' notes apart when they share a key. */
enum { NOTE_BF = 1, NOTE_CAF, NOTE_CAO, NOTE_BR };

static struct note *
note_get(struct da *d, int kind, const char *key, int64_t now_ms, int64_t window_ms)
{
	uint64_t h;
	size_t base, i, victim = 0;
	struct note *n;

	h = ctr_hash_str(key) ^ ((uint64_t)kind * 0x9e3779b97f4a7c15ULL);
	if (h == 0)
		h = (uint64_t)kind;
	base = (size_t)(h & (d->nnotes - 1)) & ~(size_t)(NOTE_WAYS - 1);
	for (i = 0; i < NOTE_WAYS; i++) {
		n = &d->notes[base + i];
		if (n->h == h)
			goto found;
	}
	/* an empty way, else the least recently used one */
	for (i = 0; i < NOTE_WAYS; i++) {
		if (d->notes[base + i].h == 0) {
			victim = i;
			break;
		}
		if (d->notes[base + i].last_ms < d->notes[base + victim].last_ms)
			victim = i;
	}
	n = &d->notes[base + victim];
	if (n->h != 0 && now_ms - n->last_ms < d->s.idle_ms)
		d->st.note_evictions++;
	memset(n, 0, sizeof *n);
	n->h = h;
	n->last_ms = now_ms;
	return n;
found:
	if (now_ms - n->last_ms > window_ms)
		n->n = 0;         /* samples from an older window */
	if (now_ms > n->last_ms)
		n->last_ms = now_ms;
	return n;
}

static void
note_sample(struct note *n, const char *s)
{
	int i;

	if (s == NULL || *s == '\0')
		return;
	for (i = 0; i < n->n; i++)
		if (strncmp(n->s[i], s, NOTE_SAMPLE_LEN - 1) == 0)
			return;
	if (n->n < NOTE_SAMPLES)
		bs_strlcpy(n->s[n->n++], s, NOTE_SAMPLE_LEN);
}

static json_t *
note_samples(const struct note *n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < n->n; i++)
		json_array_append_new(a, jtext(n->s[i]));
	return a;
}

/* May this key fire now?  Marks it fired for one window when it may. */
static int
note_fire(struct note *n, int64_t now_ms, int64_t window_ms)
{
	if (n->fired_until != 0 && now_ms < n->fired_until)
		return 0;
	n->fired_until = now_ms + window_ms;
	return 1;
}

static void
emit(struct da *d, int64_t ts_ms, const char *kind, double score, const char *subscriber,
    const char *ip, json_t *evidence)
{
	struct event ev;

	event_init(&ev, ts_ms, "logwatch", kind, score);
	event_set_subscriber(&ev, subscriber ? subscriber : "");
	event_set_client_ip(&ev, ip ? ip : "");
	event_set_evidence(&ev, evidence);
	d->fn(d->ud, &ev);
}

char *
da_net_of(const char *ip, int v4_len, int v6_len, char *buf, size_t size)
{
	unsigned char a[16];
	char txt[INET6_ADDRSTRLEN];
	int fam, len, bytes, i;

	if (ip == NULL)
		return NULL;
	if (inet_pton(AF_INET, ip, a) == 1) {
		fam = AF_INET;
		len = v4_len;
		bytes = 4;
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		fam = AF_INET6;
		len = v6_len;
		bytes = 16;
	} else {
		return NULL;
	}
	if (len < 0)
		len = 0;
	if (len > bytes * 8)
		len = bytes * 8;
	for (i = 0; i < bytes; i++) {
		int keep = len - i * 8;
		if (keep >= 8)
			continue;
		a[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
	inet_ntop(fam, a, txt, sizeof txt);
	snprintf(buf, size, "%s/%d", txt, len);
	return buf;
}

/* ------------------------------------------------------------------ life */

static void
tables_free(struct da *d)
{
	ctr_free(d->bf);
	ctr_free(d->caf);
	ctr_free(d->cao);
	ctr_free(d->br);
	d->bf = d->caf = d->cao = d->br = NULL;
}

struct da *
da_new(const struct da_settings *s, da_event_fn fn, void *ud)
{
	struct da *d;
	size_t i;

	if (s->bf_window_ms <= 0 || s->ca_window_ms <= 0 || s->br_window_ms <= 0 ||
	    s->max_keys == 0 || s->br_max_queue == 0 || s->br_max_queue >= NIL || fn == NULL)
		return NULL;
	d = xcalloc(1, sizeof *d);
	d->s = *s;
	d->fn = fn;
	d->ud = ud;
	d->bf = table(s->max_keys, s->bf_window_ms, s->idle_ms, 1, 1);
	d->caf = table(s->max_keys, s->ca_window_ms, s->idle_ms, 0, 1);
	d->cao = table(s->max_keys, s->ca_window_ms, s->idle_ms, 0, 2);
	d->br = table(s->max_keys, s->br_window_ms, s->idle_ms, 2, 0);
	if (d->bf == NULL || d->caf == NULL || d->cao == NULL || d->br == NULL) {
		tables_free(d);
		free(d);
		return NULL;
	}
	d->nnotes = pow2_at_least(s->max_keys < NOTE_MAX_SLOTS ? s->max_keys : NOTE_MAX_SLOTS);
	if (d->nnotes < NOTE_WAYS * 4)
		d->nnotes = NOTE_WAYS * 4;
	d->notes = xcalloc(d->nnotes, sizeof *d->notes);

	d->q = xcalloc(s->br_max_queue, sizeof *d->q);
	d->nqbuckets = pow2_at_least(s->br_max_queue);
	d->qbuckets = xmalloc(d->nqbuckets * sizeof *d->qbuckets);
	for (i = 0; i < d->nqbuckets; i++)
		d->qbuckets[i] = NIL;
	for (i = 0; i < s->br_max_queue; i++)
		d->q[i].next = i + 1 < s->br_max_queue ? (uint32_t)(i + 1) : NIL;
	d->qfree = 0;
	d->qhead = d->qtail = NIL;
	return d;
}

void
da_free(struct da *d)
{
	size_t i;

	if (d == NULL)
		return;
	tables_free(d);
	for (i = 0; i < d->s.br_max_queue; i++) {
		free(d->q[i].sub);
		free(d->q[i].login);
	}
	free(d->q);
	free(d->qbuckets);
	free(d->notes);
	free(d);
}

void
da_set_settings(struct da *d, const struct da_settings *s)
{
	/* windows, table sizes and the queue pool keep their first values:
	 * changing them means new tables (a restart) */
	d->s.bf_failures = s->bf_failures;
	d->s.bf_logins = s->bf_logins;
	d->s.bf_score = s->bf_score;
	d->s.ca_fail_addrs = s->ca_fail_addrs;
	d->s.ca_ok_addrs = s->ca_ok_addrs;
	d->s.ca_ok_nets = s->ca_ok_nets;
	d->s.ca_v4_net_len = s->ca_v4_net_len;
	d->s.ca_v6_net_len = s->ca_v6_net_len;
	d->s.ca_score = s->ca_score;
	d->s.br_min_rcpts = s->br_min_rcpts;
	d->s.br_ratio = s->br_ratio;
	d->s.br_score = s->br_score;
	d->s.br_queue_ttl_ms = s->br_queue_ttl_ms;
}

void
da_get_stats(const struct da *d, struct da_stats *out)
{
	*out = d->st;
	out->queue_tracked = d->qcount;
}

/* ------------------------------------------------------------------ auth */

static void
bruteforce(struct da *d, const struct da_auth_obs *o, const char *key)
{
	uint32_t inc[1] = { 1 };
	uint64_t dh[1] = { 0 };
	struct ctr_values v;
	struct note *n;
	double fails, logins;
	json_t *ev;

	if (o->login != NULL && o->login[0] != '\0')
		dh[0] = ctr_hash_str(o->login);
	ctr_update(d->bf, key, o->ts_ms, inc, dh, &v);
	fails = v.count[0][0];
	logins = v.distinct[0][0];
	n = note_get(d, NOTE_BF, key, o->ts_ms, d->s.bf_window_ms);
	note_sample(n, o->login);
	if (fails < (double)d->s.bf_failures && logins < (double)d->s.bf_logins)
		return;
	if (!note_fire(n, o->ts_ms, d->s.bf_window_ms))
		return;
	ev = json_object();
	json_object_set_new(ev, "source", jtext(key));
	json_object_set_new(ev, "failures", json_integer((json_int_t)(fails + 0.5)));
	json_object_set_new(ev, "distinct_logins", json_integer((json_int_t)(logins + 0.5)));
	json_object_set_new(ev, "window_s", json_integer(d->s.bf_window_ms / 1000));
	json_object_set_new(ev, "threshold", json_string(fails >= (double)d->s.bf_failures ?
	    "failures" : "distinct_logins"));
	json_object_set_new(ev, "sample_logins", note_samples(n));
	if (o->mech != NULL && o->mech[0] != '\0')
		json_object_set_new(ev, "last_mech", jtext(o->mech));
	json_object_set_new(ev, "attributed_by", json_string(
	    o->ip_subscriber != NULL && o->ip_subscriber[0] != '\0' ? "lease" : "none"));
	d->st.ev_bruteforce++;
	emit(d, o->ts_ms, "auth_bruteforce", d->s.bf_score, o->ip_subscriber, o->client_ip, ev);
}

static const char *
login_key(const struct da_auth_obs *o)
{
	if (o->login_subscriber != NULL && o->login_subscriber[0] != '\0')
		return o->login_subscriber;
	return o->login;
}

void
da_auth(struct da *d, const struct da_auth_obs *o)
{
	const char *src = o->source_key != NULL ? o->source_key : o->client_ip;
	const char *lk = o->login != NULL && o->login[0] != '\0' ? login_key(o) : NULL;
	char net[80];
	struct ctr_values v;
	struct note *n;
	json_t *ev;

	if (!o->ok) {
		d->st.auth_fail++;
		if (src != NULL && src[0] != '\0')
			bruteforce(d, o, src);
		if (lk != NULL && o->client_ip != NULL && o->client_ip[0] != '\0') {
			uint64_t dh[1] = { ctr_hash_str(o->client_ip) };
			ctr_update(d->caf, lk, o->ts_ms, NULL, dh, NULL);
			n = note_get(d, NOTE_CAF, lk, o->ts_ms, d->s.ca_window_ms);
			note_sample(n, o->client_ip);
		}
		return;
	}

	d->st.auth_ok++;
	if (lk == NULL)
		return;
	/* (a) failed from many addresses, and now in */
	if (ctr_peek(d->caf, lk, o->ts_ms, &v) == 0 && v.distinct[0][0] >= (double)d->s.ca_fail_addrs) {
		n = note_get(d, NOTE_CAF, lk, o->ts_ms, d->s.ca_window_ms);
		if (note_fire(n, o->ts_ms, d->s.ca_window_ms)) {
			ev = json_object();
			json_object_set_new(ev, "login", jtext(o->login));
			json_object_set_new(ev, "pattern", json_string("failed_then_succeeded"));
			json_object_set_new(ev, "failed_addresses",
			    json_integer((json_int_t)(v.distinct[0][0] + 0.5)));
			json_object_set_new(ev, "window_s", json_integer(d->s.ca_window_ms / 1000));
			json_object_set_new(ev, "sample_addresses", note_samples(n));
			json_object_set_new(ev, "success_from", jtext(o->client_ip));
			if (o->mech != NULL && o->mech[0] != '\0')
				json_object_set_new(ev, "mech", jtext(o->mech));
			d->st.ev_credential++;
			emit(d, o->ts_ms, "credential_abuse", d->s.ca_score, lk, o->client_ip, ev);
		}
	}
	/* (b) in from many places at once */
	if (o->client_ip != NULL && o->client_ip[0] != '\0') {
		uint64_t dh[2];
		double addrs, nets;

		dh[0] = ctr_hash_str(o->client_ip);
		dh[1] = da_net_of(o->client_ip, d->s.ca_v4_net_len, d->s.ca_v6_net_len, net, sizeof net)
		    ? ctr_hash_str(net) : 0;
		ctr_update(d->cao, lk, o->ts_ms, NULL, dh, &v);
		addrs = v.distinct[0][0];
		nets = v.distinct[1][0];
		n = note_get(d, NOTE_CAO, lk, o->ts_ms, d->s.ca_window_ms);
		note_sample(n, o->client_ip);
		if ((addrs >= (double)d->s.ca_ok_addrs || nets >= (double)d->s.ca_ok_nets) &&
		    note_fire(n, o->ts_ms, d->s.ca_window_ms)) {
			ev = json_object();
			json_object_set_new(ev, "login", jtext(o->login));
			json_object_set_new(ev, "pattern", json_string("many_sources"));
			json_object_set_new(ev, "addresses", json_integer((json_int_t)(addrs + 0.5)));
			json_object_set_new(ev, "networks", json_integer((json_int_t)(nets + 0.5)));
			json_object_set_new(ev, "window_s", json_integer(d->s.ca_window_ms / 1000));
			json_object_set_new(ev, "sample_addresses", note_samples(n));
			d->st.ev_credential++;
			emit(d, o->ts_ms, "credential_abuse", d->s.ca_score, lk, o->client_ip, ev);
		}
	}
}

/* ------------------------------------------------------------------ queue ids */

static uint32_t
qbucket(const struct da *d, const char *qid)
{
	return (uint32_t)(ctr_hash_str(qid) & (d->nqbuckets - 1));
}

static uint32_t
qfind(const struct da *d, const char *qid)
{
	uint32_t i;

	for (i = d->qbuckets[qbucket(d, qid)]; i != NIL; i = d->q[i].hnext)
		if (strcmp(d->q[i].qid, qid) == 0)
			return i;
	return NIL;
}

static void
qlist_unlink(struct da *d, uint32_t i)
{
	struct qent *e = &d->q[i];

	if (e->prev != NIL)
		d->q[e->prev].next = e->next;
	else
		d->qhead = e->next;
	if (e->next != NIL)
		d->q[e->next].prev = e->prev;
	else
		d->qtail = e->prev;
}

static void
qlist_append(struct da *d, uint32_t i)
{
	struct qent *e = &d->q[i];

	e->prev = d->qtail;
	e->next = NIL;
	if (d->qtail != NIL)
		d->q[d->qtail].next = i;
	else
		d->qhead = i;
	d->qtail = i;
}

static void
qdrop(struct da *d, uint32_t i)
{
	struct qent *e = &d->q[i];
	uint32_t *pp = &d->qbuckets[qbucket(d, e->qid)];

	while (*pp != NIL && *pp != i)
		pp = &d->q[*pp].hnext;
	if (*pp == i)
		*pp = e->hnext;
	qlist_unlink(d, i);
	free(e->sub);
	free(e->login);
	memset(e, 0, sizeof *e);
	e->next = d->qfree;
	d->qfree = i;
	d->qcount--;
}

void
da_origin(struct da *d, const struct da_origin *o)
{
	uint32_t i, b;
	struct qent *e;

	if (o->qid == NULL || o->qid[0] == '\0' || strlen(o->qid) >= QID_LEN)
		return;
	d->st.origins++;
	if ((i = qfind(d, o->qid)) != NIL)
		qdrop(d, i);           /* a reused short queue id */
	if (d->qfree == NIL) {
		qdrop(d, d->qhead);    /* full: forget the least recently touched */
		d->st.queue_evicted++;
	}
	i = d->qfree;
	e = &d->q[i];
	d->qfree = e->next;
	memset(e, 0, sizeof *e);
	e->used = 1;
	bs_strlcpy(e->qid, o->qid, sizeof e->qid);
	bs_strlcpy(e->ip, o->client_ip ? o->client_ip : "", sizeof e->ip);
	e->sub = xstrdup(o->subscriber ? o->subscriber : "");
	e->login = o->login && o->login[0] ? xstrdup(o->login) : NULL;
	e->ts_ms = o->ts_ms;
	b = qbucket(d, e->qid);
	e->hnext = d->qbuckets[b];
	d->qbuckets[b] = i;
	qlist_append(d, i);
	d->qcount++;
}

void
da_delivery(struct da *d, const struct da_delivery *o)
{
	uint32_t i, inc[2];
	struct qent *e;
	struct ctr_values v;
	struct note *n;
	char key[EVENT_SUBSCRIBER_MAX + 8], sample[NOTE_SAMPLE_LEN];
	double fates, refused;
	json_t *ev;

	d->st.deliveries++;
	if (o->qid == NULL || (i = qfind(d, o->qid)) == NIL) {
		d->st.deliveries_unknown_qid++;
		return;
	}
	if (o->fate != DA_SENT && o->fate != DA_REFUSED)
		return;               /* deferred: not final */
	e = &d->q[i];
	if (o->ts_ms > e->ts_ms)
		e->ts_ms = o->ts_ms;
	qlist_unlink(d, i);
	qlist_append(d, i);
	if (e->sub[0] != '\0')
		bs_strlcpy(key, e->sub, sizeof key);
	else if (e->ip[0] != '\0')
		snprintf(key, sizeof key, "ip:%s", e->ip);
	else
		return;
	inc[0] = 1;
	inc[1] = o->fate == DA_REFUSED;
	ctr_update(d->br, key, o->ts_ms, inc, NULL, &v);
	fates = v.count[0][0];
	refused = v.count[1][0];
	n = note_get(d, NOTE_BR, key, o->ts_ms, d->s.br_window_ms);
	if (o->fate == DA_REFUSED) {
		snprintf(sample, sizeof sample, "%s %s", o->dsn ? o->dsn : "5.0.0",
		    o->rcpt_domain && o->rcpt_domain[0] ? o->rcpt_domain : "?");
		note_sample(n, sample);
	}
	if (fates < (double)d->s.br_min_rcpts || fates <= 0 || refused / fates < d->s.br_ratio)
		return;
	if (!note_fire(n, o->ts_ms, d->s.br_window_ms))
		return;
	ev = json_object();
	json_object_set_new(ev, "recipients", json_integer((json_int_t)(fates + 0.5)));
	json_object_set_new(ev, "refused", json_integer((json_int_t)(refused + 0.5)));
	json_object_set_new(ev, "ratio", json_real((double)(long)(refused / fates * 1000) / 1000));
	json_object_set_new(ev, "window_s", json_integer(d->s.br_window_ms / 1000));
	json_object_set_new(ev, "sample_refusals", note_samples(n));
	if (e->login != NULL)
		json_object_set_new(ev, "login", jtext(e->login));
	json_object_set_new(ev, "last_qid", jtext(e->qid));
	d->st.ev_bounce++;
	emit(d, o->ts_ms, "bounce_ratio", d->s.br_score, e->sub, e->ip, ev);
}

void
da_removed(struct da *d, const char *qid)
{
	uint32_t i;

	if (qid == NULL || (i = qfind(d, qid)) == NIL)
		return;
	d->st.removed++;
	qdrop(d, i);
}

void
da_expire(struct da *d, int64_t now_ms)
{
	while (d->qhead != NIL && now_ms - d->q[d->qhead].ts_ms > d->s.br_queue_ttl_ms) {
		qdrop(d, d->qhead);
		d->st.queue_expired++;
	}
	ctr_expire(d->bf, now_ms);
	ctr_expire(d->caf, now_ms);
	ctr_expire(d->cao, now_ms);
	ctr_expire(d->br, now_ms);
}
