/*
 * detect.c - what the milter's detectors share: the event list (det_out),
 * the configuration read from the 'milter' section, the firing memory that
 * keeps a detector from raising an event on every message, samples for
 * evidence, and hostile-string handling for evidence JSON.
 *
 * The detectors themselves live in detect_rate.c, detect_fanout.c,
 * detect_helo.c, detect_sender.c and detect_dkim.c.
 */
#include "config.h"
#include "detect.h"
#include "detect_int.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ det_out */

void
det_out_init(struct det_out *o)
{
	memset(o, 0, sizeof *o);
}

struct event *
det_out_push(struct det_out *o, const struct det_subject *s, const char *kind, double score)
{
	struct event *ev;

	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 4;
		o->ev = xrealloc(o->ev, o->cap * sizeof *o->ev);
	}
	ev = &o->ev[o->n++];
	event_init(ev, s ? s->now_ms : 0, "milter", kind, score);
	if (s != NULL) {
		event_set_subscriber(ev, s->subscriber);
		event_set_client_ip(ev, s->client_ip);
		event_set_node(ev, s->node);
	}
	return ev;
}

void
det_out_clear(struct det_out *o)
{
	size_t i;

	if (o == NULL)
		return;
	for (i = 0; i < o->n; i++)
		event_clear(&o->ev[i]);
	free(o->ev);
	memset(o, 0, sizeof *o);
}

/* ------------------------------------------------------------ windows, hashes */

static const char *const window_names[DET_N_WINDOWS] = { "1m", "10m", "1h" };
static const int64_t window_secs[DET_N_WINDOWS] = { 60, 600, 3600 };

const char *
det_window_name(int w)
{
	return w >= 0 && w < DET_N_WINDOWS ? window_names[w] : "?";
}

int64_t
det_window_secs(int w)
{
	return w >= 0 && w < DET_N_WINDOWS ? window_secs[w] : 0;
}

void
detect_ctr_spec(const struct detect_config *dc, struct ctr_spec *out)
{
	int w;

	memset(out, 0, sizeof *out);
	out->n_counts = DET_N_COUNTS;
	out->n_distinct = DET_N_DISTINCT;
	out->n_windows = DET_N_WINDOWS;
	for (w = 0; w < DET_N_WINDOWS; w++)
		out->window_s[w] = window_secs[w];
	out->max_keys = dc != NULL ? dc->max_subscribers : 1000000;
	out->idle_s = window_secs[DET_N_WINDOWS - 1];
}

/* FNV-1a over lower-cased bytes, then a murmur3 finaliser to spread bits. */
uint64_t
detect_hash_item(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	if (s == NULL)
		len = 0;
	else if (len == (size_t)-1)
		len = strlen(s);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h ^= c;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h ? h : 1;
}

const char *
det_subject_key(const struct det_subject *s, char *buf, size_t size)
{
	if (s->subscriber != NULL && s->subscriber[0] != '\0')
		return s->subscriber;
	snprintf(buf, size, "ip:%s", s->client_ip ? s->client_ip : "");
	return buf;
}

/* ------------------------------------------------------------ actions */

static const char *const action_names[] = { "monitor", "throttle", "quarantine", "reject" };

const char *
det_action_name(enum det_action a)
{
	return (int)a >= 0 && (size_t)a < BS_ARRAY_LEN(action_names) ? action_names[a] : "monitor";
}

int
det_action_from_name(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < BS_ARRAY_LEN(action_names); i++)
		if (strcmp(name, action_names[i]) == 0)
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------ string lists */

int
det_strlist_has(const struct det_strlist *l, const char *s)
{
	size_t i;

	for (i = 0; l != NULL && s != NULL && i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

int
det_domain_in(const struct det_strlist *l, const char *domain)
{
	size_t i, dl;

	if (l == NULL || domain == NULL || *domain == '\0')
		return 0;
	dl = strlen(domain);
	if (dl > 0 && domain[dl - 1] == '.')
		dl--;
	for (i = 0; i < l->n; i++) {
		size_t el = strlen(l->v[i]);
		if (el == 0)
			continue;
		if (dl == el && strncasecmp(domain, l->v[i], el) == 0)
			return 1;
		if (dl > el && domain[dl - el - 1] == '.'
		    && strncasecmp(domain + dl - el, l->v[i], el) == 0)
			return 1;
	}
	return 0;
}

static void
strlist_load(struct det_strlist *l, cfg_t *sec, const char *key)
{
	unsigned i, n = sec ? cfg_size(sec, key) : 0;

	l->n = 0;
	l->v = xcalloc(n + 1, sizeof *l->v);
	for (i = 0; i < n; i++) {
		const char *s = cfg_getnstr(sec, key, i);
		size_t k;
		if (s == NULL || *s == '\0')
			continue;
		l->v[l->n] = bs_lower(xstrdup(s));
		k = strlen(l->v[l->n]);
		if (k > 1 && l->v[l->n][k - 1] == '.')
			l->v[l->n][k - 1] = '\0';
		l->n++;
	}
}

static void
strlist_add(struct det_strlist *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 2) * sizeof *l->v);
	l->v[l->n++] = bs_lower(xstrdup(s));
	l->v[l->n] = NULL;
}

static void
strlist_free(struct det_strlist *l)
{
	size_t i;

	for (i = 0; l->v != NULL && i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ------------------------------------------------------------ configuration */

static void
limits_load(struct det_limits *l, cfg_t *sec, const char *what)
{
	char key[64];
	int w;

	for (w = 0; w < DET_N_WINDOWS; w++) {
		snprintf(key, sizeof key, "max_%s_%s", what, window_names[w]);
		l->v[w] = cfg_getint(sec, key);
	}
}

/* Returns 1 if any window is overridden (value >= 0). */
static int
limits_override(struct det_limits *l, cfg_t *sec, const char *what)
{
	int w, any = 0;

	limits_load(l, sec, what);
	for (w = 0; w < DET_N_WINDOWS; w++)
		if (l->v[w] >= 0)
			any = 1;
	return any;
}

static enum det_action
action_load(cfg_t *sec)
{
	int a = det_action_from_name(cfg_getstr(sec, "action"));
	return a < 0 ? DET_ACT_MONITOR : (enum det_action)a;
}

static int
sub_cmp(const void *a, const void *b)
{
	return strcmp(((const struct det_subscriber *)a)->name, ((const struct det_subscriber *)b)->name);
}

struct detect_config *
detect_config_load(const struct conf *c, char *err, size_t errlen)
{
	struct conf *own = NULL;
	struct detect_config *dc;
	cfg_t *m, *s;
	unsigned i;
	int k;

	if (c == NULL) {
		own = conf_load(NULL, NULL);
		if (own == NULL) {
			snprintf(err, errlen, "cannot build the default configuration");
			return NULL;
		}
		c = own;
	}
	m = cfg_getsec(c->cfg, "milter");
	if (m == NULL) {
		snprintf(err, errlen, "no 'milter' section in the configuration");
		conf_unref(own);
		return NULL;
	}
	dc = xcalloc(1, sizeof *dc);
	strlist_load(&dc->hostnames, m, "hostnames");
	if (dc->hostnames.n == 0 && c->node_name != NULL && *c->node_name != '\0')
		strlist_add(&dc->hostnames, c->node_name);
	strlist_load(&dc->own_domains, m, "own_domains");
	strlist_load(&dc->outbound, m, "outbound_addresses");
	strlist_load(&dc->bulk, m, "bulk_senders");
	dc->refire_s = cfg_getint(m, "refire");
	dc->refire_oneoff_s = cfg_getint(m, "refire_oneoff");
	dc->max_subscribers = (size_t)cfg_getint(m, "max_subscribers");

	s = cfg_getsec(m, "rate");
	dc->rate.enabled = cfg_getbool(s, "enabled");
	dc->rate.score = cfg_getfloat(s, "score");
	dc->rate.action = action_load(s);
	limits_load(&dc->rate.max_messages, s, "messages");
	limits_load(&dc->rate.max_recipients, s, "recipients");

	s = cfg_getsec(m, "fanout");
	dc->fanout.enabled = cfg_getbool(s, "enabled");
	dc->fanout.score = cfg_getfloat(s, "score");
	dc->fanout.action = action_load(s);
	limits_load(&dc->fanout.max_domains, s, "domains");

	s = cfg_getsec(m, "helo");
	dc->helo.enabled = cfg_getbool(s, "enabled");
	dc->helo.action = action_load(s);
	strlist_load(&dc->helo.providers, s, "providers");
	for (k = 1; k < HELO_N_CLASSES; k++) {
		char key[64];
		snprintf(key, sizeof key, "score_%s", helo_class_name((enum helo_class)k));
		dc->helo.score[k] = cfg_getfloat(s, key);
	}
	dc->helo.score[HELO_OK] = 0;
	dc->helo.score_churn = cfg_getfloat(s, "score_churn");
	limits_load(&dc->helo.max_helos, s, "helos");

	s = cfg_getsec(m, "sender");
	dc->sender.enabled = cfg_getbool(s, "enabled");
	dc->sender.action = action_load(s);
	dc->sender.spf = cfg_getbool(s, "spf");
	dc->sender.allow_spf_pass = cfg_getbool(s, "allow_spf_pass");
	dc->sender.check_from_header = cfg_getbool(s, "check_from_header");
	dc->sender.spf_cache_ttl_s = cfg_getint(s, "spf_cache_ttl");
	dc->sender.score_fail = cfg_getfloat(s, "score_fail");
	dc->sender.score_softfail = cfg_getfloat(s, "score_softfail");
	dc->sender.score_neutral = cfg_getfloat(s, "score_neutral");
	dc->sender.score_none = cfg_getfloat(s, "score_none");
	dc->sender.score_error = cfg_getfloat(s, "score_error");
	dc->sender.score_unchecked = cfg_getfloat(s, "score_unchecked");
	dc->sender.score_churn = cfg_getfloat(s, "score_churn");
	limits_load(&dc->sender.max_senders, s, "senders");

	s = cfg_getsec(m, "dkim");
	dc->dkim.enabled = cfg_getbool(s, "enabled");
	dc->dkim.action = action_load(s);
	dc->dkim.score_replay = cfg_getfloat(s, "score_replay");
	dc->dkim.score_forgery = cfg_getfloat(s, "score_forgery");
	dc->dkim.key_file = xstrdup(cfg_getstr(s, "key_file") ? cfg_getstr(s, "key_file") : "");
	dc->dkim.timeout_s = cfg_getint(s, "timeout");
	dc->dkim.min_key_bits = cfg_getint(s, "min_key_bits");
	dc->dkim.max_header_bytes = cfg_getint(s, "max_header_bytes");

	dc->nsubs = cfg_size(m, "subscriber");
	dc->subs = xcalloc(dc->nsubs + 1, sizeof *dc->subs);
	for (i = 0; i < dc->nsubs; i++) {
		cfg_t *ss = cfg_getnsec(m, "subscriber", i);
		struct det_subscriber *d = &dc->subs[i];

		d->name = xstrdup(cfg_title(ss));
		d->bulk = cfg_getbool(ss, "bulk");
		strlist_load(&d->domains, ss, "domains");
		d->has_messages = limits_override(&d->max_messages, ss, "messages");
		d->has_recipients = limits_override(&d->max_recipients, ss, "recipients");
		d->has_domains = limits_override(&d->max_domains, ss, "domains");
		if (d->bulk && !det_strlist_has(&dc->bulk, d->name))
			strlist_add(&dc->bulk, d->name);
	}
	qsort(dc->subs, dc->nsubs, sizeof *dc->subs, sub_cmp);
	conf_unref(own);
	return dc;
}

void
detect_config_free(struct detect_config *dc)
{
	size_t i;

	if (dc == NULL)
		return;
	strlist_free(&dc->hostnames);
	strlist_free(&dc->own_domains);
	strlist_free(&dc->outbound);
	strlist_free(&dc->bulk);
	strlist_free(&dc->helo.providers);
	free(dc->dkim.key_file);
	for (i = 0; i < dc->nsubs; i++) {
		free(dc->subs[i].name);
		strlist_free(&dc->subs[i].domains);
	}
	free(dc->subs);
	free(dc);
}

const struct det_subscriber *
detect_subscriber(const struct detect_config *dc, const char *subscriber)
{
	struct det_subscriber key;

	if (dc == NULL || subscriber == NULL || dc->nsubs == 0)
		return NULL;
	key.name = (char *)subscriber;
	return bsearch(&key, dc->subs, dc->nsubs, sizeof *dc->subs, sub_cmp);
}

int
detect_is_bulk(const struct detect_config *dc, const char *subscriber)
{
	if (dc == NULL || subscriber == NULL || *subscriber == '\0')
		return 0;
	return det_strlist_has(&dc->bulk, subscriber);
}

int
detect_domain_allowed(const struct detect_config *dc, const char *subscriber, const char *domain)
{
	const struct det_subscriber *d;

	if (domain == NULL || *domain == '\0')
		return 1;                  /* nothing claimed */
	if (det_domain_in(&dc->own_domains, domain))
		return 1;
	d = detect_subscriber(dc, subscriber);
	return d != NULL && det_domain_in(&d->domains, domain);
}

static void
merge(struct det_limits *out, const struct det_limits *def, int has, const struct det_limits *ov)
{
	int w;

	for (w = 0; w < DET_N_WINDOWS; w++)
		out->v[w] = has && ov->v[w] >= 0 ? ov->v[w] : def->v[w];
}

void
detect_limits(const struct detect_config *dc, const char *subscriber, struct det_limits *messages,
    struct det_limits *recipients, struct det_limits *domains)
{
	const struct det_subscriber *d = detect_subscriber(dc, subscriber);

	if (messages != NULL)
		merge(messages, &dc->rate.max_messages, d && d->has_messages, d ? &d->max_messages : NULL);
	if (recipients != NULL)
		merge(recipients, &dc->rate.max_recipients, d && d->has_recipients,
		    d ? &d->max_recipients : NULL);
	if (domains != NULL)
		merge(domains, &dc->fanout.max_domains, d && d->has_domains, d ? &d->max_domains : NULL);
}

/* ------------------------------------------------------------ firing memory */

/*
 * One bounded table, two kinds of entries: firing records (keyed by
 * subscriber, kind and detail) and sample rings (keyed by subscriber and
 * sample kind).  Chained hash plus an LRU list; the least recently touched
 * entry is dropped when the table is full.
 */
struct fent {
	uint64_t key;
	struct fent *hnext;
	struct fent *prev, *next;      /* LRU, most recent at head.next */
	double value;
	int64_t last_ms;
	int is_sample;
	unsigned nsamples, pos;
	char (*samples)[DET_SAMPLE_LEN];
};

#define DET_FIRE_BITS (1u << 20)

struct det_fire {
	pthread_mutex_t mu;
	uint64_t bits[DET_FIRE_BITS / 64];
	size_t cap, n, nbuckets;
	struct fent **b;
	struct fent head;
};

struct det_fire *
det_fire_new(size_t max_entries)
{
	struct det_fire *f = xcalloc(1, sizeof *f);

	f->cap = max_entries ? max_entries : 65536;
	f->nbuckets = 1;
	while (f->nbuckets < f->cap)
		f->nbuckets <<= 1;
	f->b = xcalloc(f->nbuckets, sizeof *f->b);
	f->head.prev = f->head.next = &f->head;
	pthread_mutex_init(&f->mu, NULL);
	return f;
}

void
det_fire_free(struct det_fire *f)
{
	struct fent *e, *nx;

	if (f == NULL)
		return;
	for (e = f->head.next; e != &f->head; e = nx) {
		nx = e->next;
		free(e->samples);
		free(e);
	}
	free(f->b);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

size_t
det_fire_size(struct det_fire *f)
{
	size_t n;

	pthread_mutex_lock(&f->mu);
	n = f->n;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* FNV-1a over the parts with a separator byte between them (no copies),
 * then a finaliser: the key of a (subscriber, kind, detail) entry. */
static uint64_t
fnv_part(uint64_t h, const char *p)
{
	for (; p != NULL && *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ULL;
	}
	h ^= 0x1f;
	return h * 0x100000001b3ULL;
}

static uint64_t
fkey(const char *a, const char *b, const char *c)
{
	uint64_t h = fnv_part(fnv_part(fnv_part(0xcbf29ce484222325ULL, a), b), c);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;
}

/* "Might this key be in the table?" without the lock: a bit per key hash,
 * set when an entry is made, never cleared (a stale bit only costs a
 * locked lookup).  Most subscribers never fire, so re-arming them (which
 * the detectors do on every message under the limits) stays cheap. */
static int
maybe_has(struct det_fire *f, uint64_t key)
{
	uint64_t bit = (key >> 20) & (DET_FIRE_BITS - 1);
	uint64_t w = __atomic_load_n(&f->bits[bit / 64], __ATOMIC_RELAXED);

	return (w >> (bit % 64)) & 1;
}

static void
mark(struct det_fire *f, uint64_t key)
{
	uint64_t bit = (key >> 20) & (DET_FIRE_BITS - 1);

	__atomic_fetch_or(&f->bits[bit / 64], (uint64_t)1 << (bit % 64), __ATOMIC_RELAXED);
}

static void
lru_unlink(struct fent *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void
lru_front(struct det_fire *f, struct fent *e)
{
	e->next = f->head.next;
	e->prev = &f->head;
	f->head.next->prev = e;
	f->head.next = e;
}

static struct fent *
find(struct det_fire *f, uint64_t key)
{
	struct fent *e;

	for (e = f->b[key & (f->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->key == key)
			return e;
	return NULL;
}

static void
remove_entry(struct det_fire *f, struct fent *e)
{
	struct fent **pp = &f->b[e->key & (f->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	free(e->samples);
	free(e);
	f->n--;
}

static struct fent *
insert(struct det_fire *f, uint64_t key)
{
	struct fent *e;

	if (f->n >= f->cap && f->head.prev != &f->head)
		remove_entry(f, f->head.prev);
	e = xcalloc(1, sizeof *e);
	e->key = key;
	mark(f, key);
	e->hnext = f->b[key & (f->nbuckets - 1)];
	f->b[key & (f->nbuckets - 1)] = e;
	lru_front(f, e);
	f->n++;
	return e;
}

int
det_fire_check(struct det_fire *f, const char *subscriber, const char *kind, const char *detail,
    double value, double limit, int64_t now_ms, int64_t refire_ms)
{
	uint64_t key = fkey(subscriber, kind, detail);
	struct fent *e;
	int fire = 0;

	(void)limit;
	pthread_mutex_lock(&f->mu);
	e = find(f, key);
	if (e == NULL) {
		e = insert(f, key);
		fire = 1;
	} else {
		lru_unlink(e);
		lru_front(f, e);
		if ((e->value > 0 && value >= 2 * e->value) || now_ms - e->last_ms >= refire_ms
		    || now_ms < e->last_ms)
			fire = 1;
	}
	if (fire) {
		e->value = value;
		e->last_ms = now_ms;
	}
	pthread_mutex_unlock(&f->mu);
	return fire;
}

int
det_fire_quiet(struct det_fire *f, const char *subscriber, const char *kind, const char *detail,
    int64_t now_ms, int64_t refire_ms)
{
	uint64_t key = fkey(subscriber, kind, detail);
	struct fent *e;
	int quiet;

	if (!maybe_has(f, key))
		return 0;
	pthread_mutex_lock(&f->mu);
	e = find(f, key);
	quiet = e != NULL && !e->is_sample && now_ms >= e->last_ms && now_ms - e->last_ms < refire_ms;
	pthread_mutex_unlock(&f->mu);
	return quiet;
}

void
det_fire_rearm(struct det_fire *f, const char *subscriber, const char *kind, const char *detail)
{
	uint64_t key = fkey(subscriber, kind, detail);
	struct fent *e;

	if (!maybe_has(f, key))
		return;
	/* Forget the doubling baseline but keep the time of the last firing:
	 * a steady sender hovering around a limit would otherwise fire on
	 * every crossing (the replay measured ~80 events a day for one
	 * newsletter sender); now it fires at most once per refire period. */
	pthread_mutex_lock(&f->mu);
	e = find(f, key);
	if (e != NULL && !e->is_sample)
		e->value = 0;
	pthread_mutex_unlock(&f->mu);
}

static const char *const sample_names[] = { "sample:helo", "sample:sender" };

void
det_sample_note(struct det_fire *f, const char *subscriber, enum det_sample_kind k,
    const char *s, size_t len)
{
	uint64_t key = fkey(subscriber, sample_names[k], NULL);
	struct fent *e;
	char item[DET_SAMPLE_LEN];
	unsigned i;

	if (len >= sizeof item)
		len = sizeof item - 1;
	memcpy(item, s, len);
	item[len] = '\0';
	pthread_mutex_lock(&f->mu);
	e = find(f, key);
	if (e == NULL) {
		e = insert(f, key);
		e->is_sample = 1;
		e->samples = xcalloc(DET_SAMPLE_N, sizeof *e->samples);
	} else {
		lru_unlink(e);
		lru_front(f, e);
	}
	for (i = 0; i < e->nsamples; i++)
		if (memcmp(e->samples[i], item, len + 1) == 0)
			break;
	if (i == e->nsamples) {
		memcpy(e->samples[e->pos], item, len + 1);
		e->pos = (e->pos + 1) % DET_SAMPLE_N;
		if (e->nsamples < DET_SAMPLE_N)
			e->nsamples++;
	}
	pthread_mutex_unlock(&f->mu);
}

void
det_sample_add_json(struct det_fire *f, const char *subscriber, enum det_sample_kind k,
    json_t *obj, const char *name)
{
	uint64_t key = fkey(subscriber, sample_names[k], NULL);
	struct fent *e;
	json_t *arr = json_array();
	unsigned i;

	pthread_mutex_lock(&f->mu);
	e = find(f, key);
	for (i = 0; e != NULL && e->is_sample && i < e->nsamples; i++) {
		/* oldest first */
		unsigned j = (e->pos + DET_SAMPLE_N - e->nsamples + i) % DET_SAMPLE_N;
		json_array_append_new(arr, det_json_str(e->samples[j], strlen(e->samples[j]), 0));
	}
	pthread_mutex_unlock(&f->mu);
	json_object_set_new(obj, name, arr);
}

/* ------------------------------------------------------------ hostile strings */

/* Length of a valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t k, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && p[1] < 0xa0)
		return 0;                  /* overlong */
	if (c == 0xed && p[1] > 0x9f)
		return 0;                  /* surrogates */
	if (c == 0xf0 && p[1] < 0x90)
		return 0;
	if (c == 0xf4 && p[1] > 0x8f)
		return 0;
	return k;
}

json_t *
det_json_str(const char *s, size_t len, size_t max)
{
	char *out;
	size_t i = 0, o = 0, cap;
	json_t *j;

	if (max == 0)
		max = 255;
	if (s == NULL)
		len = 0;
	cap = max + 8;
	out = xmalloc(cap);
	while (i < len) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t k = utf8_len(p, len - i);
		size_t need = (k == 0 || (k == 1 && (p[0] < 0x20 || p[0] == 0x7f))) ? 4 : k;

		if (o + need > max) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 4 && (k <= 1)) {
			snprintf(out + o, cap - o, "\\x%02x", p[0]);
			o += 4;
			i += 1;
		} else {
			memcpy(out + o, p, k);
			o += k;
			i += k;
		}
	}
	out[o] = '\0';
	j = json_stringn(out, o);
	free(out);
	return j != NULL ? j : json_string("");
}
