/*
 * policy.c - the subscribers' mitigation states and the allowlist, cached
 * in memory for botsentry-milter.
 *
 * The store is the truth (correlation sets a subscriber's state at level 3,
 * the abuse desk sets or clears it); the milter must not ask it per
 * message, so a thread with its own store handle reloads every subscriber
 * whose state is not 'monitor' (store_mitigations_each) and the allowlist
 * (store_allowlist_each) every milter|state_refresh, and swaps the new
 * tables in.  The writer's result callback also sets a state at once when
 * correlation raises an incident to level 3, so the next message already
 * sees it.  If the store cannot be read, the previous tables stay.
 *
 * Not here: the decision itself (callbacks.c).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allowlist.h"
#include "log.h"
#include "milter.h"
#include "store.h"
#include "util.h"

struct pent {
	struct pent *next;
	enum det_action a;
	char name[];
};

struct pmap {
	struct pent **b;
	size_t nb, n;
};

struct policy {
	pthread_rwlock_t lock;
	struct pmap *map;
	struct allowlist *al;
	/* refresh thread */
	pthread_t th;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int soon;                /* refresh without waiting the interval */
	void (*on_refresh)(void);
	char *uri;
	int failing;             /* loads failing since (logged once) */
};

static struct pmap *
pmap_new(size_t hint)
{
	struct pmap *m = xcalloc(1, sizeof *m);

	m->nb = 64;
	while (m->nb < hint * 2)
		m->nb *= 2;
	m->b = xcalloc(m->nb, sizeof *m->b);
	return m;
}

static void
pmap_free(struct pmap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nb; i++) {
		struct pent *e = m->b[i], *nx;
		for (; e != NULL; e = nx) {
			nx = e->next;
			free(e);
		}
	}
	free(m->b);
	free(m);
}

static size_t
slot(const struct pmap *m, const char *name)
{
	return (size_t)(ctr_hash_str(name) & (m->nb - 1));
}

static struct pent *
pmap_find(const struct pmap *m, const char *name)
{
	struct pent *e;

	for (e = m->b[slot(m, name)]; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
pmap_grow(struct pmap *m)
{
	struct pent **nb = xcalloc(m->nb * 2, sizeof *nb);
	size_t i, onb = m->nb;

	m->nb *= 2;
	for (i = 0; i < onb; i++) {
		struct pent *e = m->b[i], *nx;
		for (; e != NULL; e = nx) {
			size_t s = slot(m, e->name);
			nx = e->next;
			e->next = nb[s];
			nb[s] = e;
		}
	}
	free(m->b);
	m->b = nb;
}

/* Set or (DET_ACT_MONITOR) remove. */
static void
pmap_set(struct pmap *m, const char *name, enum det_action a)
{
	struct pent **pp, *e;
	size_t len;

	for (pp = &m->b[slot(m, name)]; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->name, name) == 0) {
			if (a == DET_ACT_MONITOR) {
				*pp = e->next;
				free(e);
				m->n--;
			} else {
				e->a = a;
			}
			return;
		}
	}
	if (a == DET_ACT_MONITOR)
		return;
	len = strlen(name);
	e = xmalloc(sizeof *e + len + 1);
	memcpy(e->name, name, len + 1);
	e->a = a;
	e->next = m->b[slot(m, name)];
	m->b[slot(m, name)] = e;
	if (++m->n > m->nb)
		pmap_grow(m);
}

struct policy *
policy_new(void)
{
	struct policy *p = xcalloc(1, sizeof *p);

	pthread_rwlock_init(&p->lock, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->map = pmap_new(0);
	return p;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	policy_stop(p);
	pmap_free(p->map);
	allowlist_free(p->al);
	pthread_rwlock_destroy(&p->lock);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->uri);
	free(p);
}

enum det_action
policy_get(struct policy *p, const char *subscriber)
{
	struct pent *e;
	enum det_action a = DET_ACT_MONITOR;

	if (p == NULL || subscriber == NULL || subscriber[0] == '\0')
		return a;
	pthread_rwlock_rdlock(&p->lock);
	if (p->map->n > 0 && (e = pmap_find(p->map, subscriber)) != NULL)
		a = e->a;
	pthread_rwlock_unlock(&p->lock);
	return a;
}

void
policy_set(struct policy *p, const char *subscriber, enum det_action a)
{
	if (p == NULL || subscriber == NULL || subscriber[0] == '\0')
		return;
	pthread_rwlock_wrlock(&p->lock);
	pmap_set(p->map, subscriber, a);
	pthread_rwlock_unlock(&p->lock);
}

size_t
policy_count(struct policy *p)
{
	size_t n;

	pthread_rwlock_rdlock(&p->lock);
	n = p->map->n;
	pthread_rwlock_unlock(&p->lock);
	return n;
}

int
policy_allowlisted(struct policy *p, const char *kind, const char *subscriber,
    const char *ip, const char *sender, int64_t now_ms)
{
	struct allowlist_query q;
	int r = 0;

	if (p == NULL)
		return 0;
	memset(&q, 0, sizeof q);
	q.kind = kind;
	q.subscriber = subscriber && subscriber[0] ? subscriber : NULL;
	q.ip = ip && ip[0] ? ip : NULL;
	q.sender = sender && sender[0] ? sender : NULL;
	q.now_ms = now_ms;
	pthread_rwlock_rdlock(&p->lock);
	if (p->al != NULL && allowlist_count(p->al) > 0)
		r = allowlist_match(p->al, &q) != NULL;
	pthread_rwlock_unlock(&p->lock);
	return r;
}

static int
add_mitigation(void *ud, const char *subscriber, const char *action)
{
	struct pmap *m = ud;
	int a = det_action_from_name(action);

	if (a < 0) {
		log_warn("store: subscriber=%s mitigation=%s: unknown state, treated as monitor",
		    subscriber, action);
		return 0;
	}
	pmap_set(m, subscriber, (enum det_action)a);
	return 0;
}

static int
add_allow(void *ud, const struct allowlist_entry *e)
{
	struct allowlist *al = ud;
	char err[256];

	if (allowlist_add(al, e, err, sizeof err) != 0)
		log_warn("store: allowlist entry %lld skipped: %s", (long long)e->id, err);
	return 0;
}

int
policy_refresh_now(struct policy *p, const char *uri)
{
	char err[512];
	struct store *st = store_open(uri, err, sizeof err);
	struct pmap *m;
	struct allowlist *al;
	struct pmap *oldm;
	struct allowlist *oldal;

	/* a failure is logged when it starts, not at every refresh of an
	 * outage; the recovery is logged too (p->failing: refresh thread, or
	 * start-up before it runs) */
	if (st == NULL) {
		if (p->failing++ == 0)
			log_warn("policy: cannot open the store %s: %s; keeping the cached states "
			    "until it answers", uri, err);
		return -1;
	}
	m = pmap_new(p->map ? p->map->n : 0);
	if (store_mitigations_each(st, add_mitigation, m) != STORE_OK) {
		if (p->failing++ == 0)
			log_warn("policy: reading mitigation states: %s; keeping the cached ones",
			    store_errmsg(st));
		pmap_free(m);
		store_close(st);
		return -1;
	}
	if (p->failing > 0) {
		log_notice("policy: the store answers again after %d failed refreshes", p->failing);
		p->failing = 0;
	}
	al = allowlist_new();
	if (store_allowlist_each(st, bs_now_ms(), add_allow, al) != STORE_OK) {
		log_warn("policy: reading the allowlist: %s; keeping the cached one", store_errmsg(st));
		allowlist_free(al);
		al = NULL;
	}
	store_close(st);
	pthread_rwlock_wrlock(&p->lock);
	oldm = p->map;
	p->map = m;
	oldal = NULL;
	if (al != NULL) {
		oldal = p->al;
		p->al = al;
	}
	pthread_rwlock_unlock(&p->lock);
	pmap_free(oldm);
	allowlist_free(oldal);
	return 0;
}

static void *
refresh_main(void *arg)
{
	struct policy *p = arg;
	int64_t last_stats = bs_mono_ms();

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct bsm_snap *s = bsm_snap_get();
		int64_t ms = s ? s->refresh_ms : 60000;
		struct timespec ts;

		bsm_snap_put(s);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!p->soon && !p->stop &&
		    pthread_cond_timedwait(&p->cv, &p->mu, &ts) != ETIMEDOUT)
			;
		if (p->stop)
			break;
		p->soon = 0;
		pthread_mutex_unlock(&p->mu);
		if (policy_refresh_now(p, p->uri) == 0 && p->on_refresh != NULL)
			p->on_refresh();
		if (bs_mono_ms() - last_stats >= 600000) {
			stats_log("interval");
			last_stats = bs_mono_ms();
		}
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

void
policy_on_refresh(struct policy *p, void (*fn)(void))
{
	p->on_refresh = fn;
}

void
policy_refresh_soon(struct policy *p)
{
	pthread_mutex_lock(&p->mu);
	p->soon = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int
policy_start(struct policy *p, const char *uri)
{
	int e;

	free(p->uri);
	p->uri = xstrdup(uri);
	p->stop = 0;
	if ((e = pthread_create(&p->th, NULL, refresh_main, p)) != 0) {
		log_err("policy: cannot start the refresh thread: %s", strerror(e));
		return -1;
	}
	p->running = 1;
	return 0;
}

void
policy_stop(struct policy *p)
{
	if (p == NULL || !p->running)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	p->running = 0;
}
