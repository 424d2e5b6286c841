/*
 * writer.c - the sensors' path into the store: a bounded queue of events and
 * one writer thread that records them in batched transactions.
 *
 * The queue is a ring of struct event (evidence copied), guarded by one
 * mutex.  writer_submit() never waits for the database: it copies the event
 * in, or counts a drop when the ring is full (logged at most once a minute
 * with the number dropped since the last message).
 *
 * The writer thread takes up to `batch` events out of the ring, and records
 * them with store_record_events() (one transaction).  It wakes when a full
 * batch is waiting, when the oldest queued event has waited flush_ms, or at
 * stop.  A batch that fails (SQLITE_BUSY beyond the busy timeout, a full
 * disk, ...) is kept and retried with exponential backoff (10 ms doubling to
 * 5 s) until it commits: events are never thrown away after they were
 * accepted.  The one exception is writer_stop() on a database that keeps
 * failing: after 30 s of retries the batch and what is still queued are
 * given up, logged with their count.  While a batch is being retried the
 * ring keeps accepting up to its capacity, then drops.  A batch that the
 * database refuses for good (a constraint, a bad value: retrying cannot
 * help) is recorded one event at a time, and only the events refused on
 * their own are given up (logged, stats.rejected), so that one poisoned
 * event cannot stall the queue.
 *
 * An event is acknowledged when its batch has committed: stats.committed
 * counts it and the result callback runs (in the writer thread, in order).
 *
 * Each batch has a key of its own (a random prefix drawn at start, and a
 * sequence number) that its retries keep, and the store records a key at
 * most once (store_record_events_once).  A retry after a COMMIT that did
 * succeed but whose answer was lost (PostgreSQL going away at that moment)
 * therefore stores nothing twice: the batch is acknowledged as it is.
 *
 * The abuse desk's allowlist (botsentry allowlist add, or false-positive
 * --allowlist) applies to every sensor here: before each batch the writer
 * drops the events whose subscriber or client IP an active entry covers for
 * their kind (stats.allowlisted; they count as handled, not as lost), so
 * that flowd and logwatch honour it as the milter does (the milter also
 * checks senders and domains before it submits).  The entries are read
 * from the store every WRITER_ALLOWLIST_MS; a store without the table (an
 * older schema) or a failed read keeps the last list, logged once.
 *
 * A database server that does not answer when the writer starts is not an
 * error (store_open_waiting): the queue fills and the first batch is
 * retried until it does, as after an outage.  The schema version is then
 * checked on the first connection; a database that is not initialised or
 * migrated is logged (once) and retried the same way, so that `botsentry db
 * init` or `db migrate` lets the queued events through.
 */
#include "config.h"
#include "writer.h"
#include "allowlist.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define WRITER_BACKOFF_MIN_MS 10
#define WRITER_BACKOFF_MAX_MS 5000
#define WRITER_STOP_GIVEUP_MS 30000
#define WRITER_DROP_LOG_MS 60000
#define WRITER_ALLOWLIST_MS 30000

struct writer {
	pthread_mutex_t mu;
	pthread_cond_t wake;         /* to the writer thread */
	pthread_t thread;
	int started;

	struct store *st;
	struct score_settings policy;
	writer_result_fn fn;
	void *ud;

	struct event *ring;
	int64_t *ring_mono;          /* when each queued event arrived */
	size_t cap, head, count;
	size_t batch;
	long flush_ms;
	int stopping;

	struct writer_stats stats;
	uint64_t drops_unlogged;
	int64_t drop_logged_mono;

	int schema_ok;               /* the schema version was checked */
	int schema_warned;
	char key_prefix[48];         /* of the batch keys */
	uint64_t batch_seq;
	uint64_t already;            /* batches a retry found recorded */

	struct allowlist *al;        /* writer thread only */
	int64_t al_read_mono;        /* 0: never read */
	int al_warned;
};

static int
al_add(void *ud, const struct allowlist_entry *e)
{
	char err[256];

	if (allowlist_add(ud, e, err, sizeof err) != 0)
		log_warn("writer: allowlist entry %lld skipped: %s", (long long)e->id, err);
	return 0;
}

/* Read the desk's allowlist again when it is due (writer thread). */
static void
allowlist_refresh(struct writer *w)
{
	struct allowlist *al;
	int64_t now = bs_mono_ms();

	if (w->al_read_mono != 0 && now - w->al_read_mono < WRITER_ALLOWLIST_MS)
		return;
	w->al_read_mono = now;
	al = allowlist_new();
	if (store_allowlist_each(w->st, bs_now_ms(), al_add, al) != STORE_OK) {
		if (!w->al_warned)
			log_warn("writer: cannot read the allowlist (%s); %s", store_errmsg(w->st),
			    w->al != NULL ? "keeping the last one" : "events are not filtered");
		w->al_warned = 1;
		allowlist_free(al);
		return;
	}
	w->al_warned = 0;
	allowlist_free(w->al);
	w->al = al;
}

static void nap_locked(struct writer *w, long ms);

/* Before the first batch of a writer that has never read the allowlist
 * (the database away since the start): wait, with the retries' backoff,
 * until it can be read, so that the queued events are filtered like all
 * others; a refusal that retrying cannot cure goes on without it, as
 * allowlist_refresh says.  Gives up at stop (the batch then waits in
 * record_retry as any other). */
static void
allowlist_wait(struct writer *w)
{
	long backoff = WRITER_BACKOFF_MIN_MS;

	while (w->al == NULL) {
		w->al_read_mono = 0;
		allowlist_refresh(w);
		if (w->al != NULL || !store_error_transient(w->st))
			return;
		pthread_mutex_lock(&w->mu);
		if (w->stopping) {
			pthread_mutex_unlock(&w->mu);
			return;
		}
		nap_locked(w, backoff);
		pthread_mutex_unlock(&w->mu);
		if ((backoff *= 2) > WRITER_BACKOFF_MAX_MS)
			backoff = WRITER_BACKOFF_MAX_MS;
	}
}

/* Drop the batch's allowlisted events (moved to the end, cleared); returns
 * how many remain at the front. */
static size_t
allowlist_filter(struct writer *w, struct event *batch, size_t n)
{
	size_t i, keep = 0;
	int64_t now = bs_now_ms();

	if (w->al == NULL || allowlist_count(w->al) == 0)
		return n;
	for (i = 0; i < n; i++) {
		struct allowlist_query q = { batch[i].kind, batch[i].subscriber, batch[i].client_ip,
		    NULL, now };
		const struct allowlist_entry *e = allowlist_match(w->al, &q);

		if (e != NULL) {
			log_debug("writer: event kind=%s subscriber=%s ip=%s not recorded: allowlist "
			    "entry %lld", batch[i].kind, batch[i].subscriber[0] ? batch[i].subscriber : "-",
			    batch[i].client_ip[0] ? batch[i].client_ip : "-", (long long)e->id);
			event_clear(&batch[i]);
			continue;
		}
		if (keep != i) {
			batch[keep] = batch[i];
			memset(&batch[i], 0, sizeof batch[i]);
		}
		keep++;
	}
	return keep;
}

static void
deadline_after(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Sleep ms unless stop is asked for; returns with mu held.  Caller holds mu. */
static void
nap_locked(struct writer *w, long ms)
{
	struct timespec ts;
	int stopping = w->stopping;

	/* a stop cuts a long nap short; once stopping, the (short) naps are
	 * slept in full, or a dead database is retried in a busy loop */
	deadline_after(&ts, ms);
	while (w->stopping == stopping)
		if (pthread_cond_timedwait(&w->wake, &w->mu, &ts) == ETIMEDOUT)
			break;
}

enum rec { REC_OK, REC_REJECTED, REC_GAVE_UP };

/* After a start without the database: is its schema the one this build
 * writes?  1 yes; 0 not yet (the server still away, or a schema to
 * initialise or migrate first: logged once), the batch waits. */
static int
schema_check(struct writer *w)
{
	int v = store_schema_version(w->st), latest = store_schema_latest(w->st);

	if (v == latest) {
		w->schema_ok = 1;
		if (w->schema_warned)
			log_notice("writer: the database schema is in place now; recording");
		return 1;
	}
	if (v >= 0 && !w->schema_warned) {
		w->schema_warned = 1;
		if (v == 0)
			log_err("writer: the database answers but is not initialised: run botsentry db init; "
			    "events wait in the queue");
		else if (v < latest)
			log_err("writer: the database has schema version %d, this build needs %d: run botsentry "
			    "db migrate; events wait in the queue", v, latest);
		else
			log_err("writer: the database has schema version %d, newer than this build's %d: "
			    "upgrade botsentry on this host; events wait in the queue", v, latest);
	}
	return 0;
}

/*
 * Record evs[0..n) in one transaction, retrying transient failures (busy,
 * locked, I/O, full disk) with backoff until they commit.  REC_REJECTED when
 * the database refuses the batch for a reason that retrying cannot cure (a
 * constraint, a bad value): the caller splits it.  REC_GAVE_UP only at
 * shutdown after WRITER_STOP_GIVEUP_MS of failures.
 */
static enum rec
record_retry(struct writer *w, const char *key, const struct event *evs, size_t n,
    struct record_result *res)
{
	long backoff = WRITER_BACKOFF_MIN_MS;
	struct score_settings policy;
	int64_t first_fail = 0, logged = 0;
	int stop_logged = 0;
	long tries = 0;

	pthread_mutex_lock(&w->mu);
	policy = w->policy;
	pthread_mutex_unlock(&w->mu);
	for (;;) {
		int already = 0;
		const char *why;

		if (!w->schema_ok && !schema_check(w)) {
			/* not yet: like a failed attempt */
			why = w->schema_warned ? "the database schema is not in place" : store_errmsg(w->st);
		} else if (store_record_events_once(w->st, &policy, key, evs, n, res, &already) == 0) {
			if (already) {
				log_notice("writer: batch %s of %zu events was recorded by an attempt "
				    "whose answer was lost; not recorded again", key, n);
				pthread_mutex_lock(&w->mu);
				w->already++;
				pthread_mutex_unlock(&w->mu);
			}
			return REC_OK;
		} else if (!store_error_transient(w->st))
			return REC_REJECTED;
		else
			why = store_errmsg(w->st);
		pthread_mutex_lock(&w->mu);
		w->stats.failed++;
		if (first_fail == 0)
			first_fail = bs_mono_ms();
		if (w->stopping && bs_mono_ms() - first_fail > WRITER_STOP_GIVEUP_MS) {
			log_err("writer: giving up on %zu events at shutdown after %d s of failures: %s",
			    n, WRITER_STOP_GIVEUP_MS / 1000, why);
			pthread_mutex_unlock(&w->mu);
			return REC_GAVE_UP;
		}
		/* logged when it starts, then once a minute (the backoff reaches
		 * 5 s: an hour's outage would otherwise be 720 lines) */
		if (w->stopping ? !stop_logged : (tries == 0 || bs_mono_ms() - logged >= 60000)) {
			if (tries == 0 || w->stopping)
				log_warn("writer: batch of %zu events failed, retrying in %ld ms%s: %s", n,
				    backoff, w->stopping ? " (and so on while stopping, for at most 30 s)" : "",
				    why);
			else
				log_warn("writer: batch of %zu events still failing after %ld tries in %lld s, "
				    "retrying every %ld ms: %s", n, tries + 1,
				    (long long)((bs_mono_ms() - first_fail) / 1000), backoff, why);
			logged = bs_mono_ms();
		}
		tries++;
		stop_logged = w->stopping;
		nap_locked(w, backoff);
		if (w->stopping)
			/* still retry, but do not sleep the full backoff */
			backoff = WRITER_BACKOFF_MIN_MS * 10;
		else if ((backoff *= 2) > WRITER_BACKOFF_MAX_MS)
			backoff = WRITER_BACKOFF_MAX_MS;
		policy = w->policy;      /* a reload may have fixed something */
		pthread_mutex_unlock(&w->mu);
	}
}

/*
 * Record one batch taken from the queue; fills ok[i].  A batch the database
 * rejects is recorded one event at a time, so that one bad event (which
 * would fail every retry) costs only itself: it is logged and counted in
 * stats.rejected.  Returns -1 when it gave up at shutdown.
 */
static int
record_batch(struct writer *w, const struct event *batch, size_t n, struct record_result *res,
    char *ok)
{
	enum rec r;
	size_t i;
	char key[80];

	snprintf(key, sizeof key, "%s-%llu", w->key_prefix, (unsigned long long)++w->batch_seq);
	r = record_retry(w, key, batch, n, res);
	if (r == REC_GAVE_UP)
		return -1;
	memset(ok, r == REC_OK, n);
	if (r == REC_OK)
		return 0;
	log_warn("writer: the database refused a batch of %zu events (%s); recording them one by one",
	    n, store_errmsg(w->st));
	for (i = 0; i < n; i++) {
		char one[112];

		snprintf(one, sizeof one, "%s.%zu", key, i);
		r = record_retry(w, one, &batch[i], 1, &res[i]);
		if (r == REC_GAVE_UP)
			return -1;
		if (r == REC_OK) {
			ok[i] = 1;
			continue;
		}
		{
			const struct event *e = &batch[i];
			char *sub = bs_sanitize(e->subscriber, strlen(e->subscriber), 80);
			char *src = bs_sanitize(e->source, strlen(e->source), 20);
			char *kind = bs_sanitize(e->kind, strlen(e->kind), 40);
			char *why = bs_sanitize(store_errmsg(w->st), strlen(store_errmsg(w->st)), 300);

			log_err("writer: event rejected subscriber=\"%s\" source=\"%s\" kind=\"%s\" ts=%lld: %s",
			    sub, src, kind, (long long)e->ts_ms, why);
			free(sub);
			free(src);
			free(kind);
			free(why);
		}
		pthread_mutex_lock(&w->mu);
		w->stats.rejected++;
		pthread_mutex_unlock(&w->mu);
	}
	return 0;
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct event *batch = xcalloc(w->batch, sizeof *batch);
	struct record_result *res = xcalloc(w->batch, sizeof *res);
	char *ok = xcalloc(w->batch, 1);
	size_t n, i, good;
	int gave_up;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		/* wait for a full batch, the flush deadline, or stop */
		while (!w->stopping && w->count < w->batch) {
			struct timespec ts;
			long waited;

			if (w->count == 0) {
				pthread_cond_wait(&w->wake, &w->mu);
				continue;
			}
			waited = (long)(bs_mono_ms() - w->ring_mono[w->head]);
			if (waited >= w->flush_ms)
				break;
			deadline_after(&ts, w->flush_ms - waited);
			pthread_cond_timedwait(&w->wake, &w->mu, &ts);
		}
		if (w->count == 0 && w->stopping)
			break;
		n = w->count < w->batch ? w->count : w->batch;
		for (i = 0; i < n; i++) {
			batch[i] = w->ring[w->head];
			memset(&w->ring[w->head], 0, sizeof w->ring[w->head]);
			w->head = (w->head + 1) % w->cap;
		}
		w->count -= n;
		w->stats.depth = w->count;
		pthread_mutex_unlock(&w->mu);

		allowlist_refresh(w);
		allowlist_wait(w);
		{
			size_t kept = allowlist_filter(w, batch, n);
			if (kept < n) {
				pthread_mutex_lock(&w->mu);
				w->stats.allowlisted += n - kept;
				pthread_mutex_unlock(&w->mu);
			}
			n = kept;
		}
		gave_up = n > 0 && record_batch(w, batch, n, res, ok) != 0;
		if (!gave_up) {
			for (good = 0, i = 0; i < n; i++)
				good += ok[i] != 0;
			pthread_mutex_lock(&w->mu);
			w->stats.committed += good;
			pthread_mutex_unlock(&w->mu);
			if (w->fn != NULL)
				for (i = 0; i < n; i++)
					if (ok[i])
						w->fn(w->ud, &batch[i], &res[i]);
		}
		for (i = 0; i < n; i++)
			event_clear(&batch[i]);
		pthread_mutex_lock(&w->mu);
		if (gave_up) {
			/* shutdown on a dead database: count what is left, stop */
			log_err("writer: %zu events of the last batch and %zu queued events not recorded",
			    n, w->count);
			while (w->count > 0) {
				event_clear(&w->ring[w->head]);
				w->head = (w->head + 1) % w->cap;
				w->count--;
			}
			w->stats.depth = 0;
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	free(batch);
	free(res);
	free(ok);
	return NULL;
}

/* A prefix no other writer shares: 16 random bytes in hex from the
 * kernel (getrandom, which needs no file and so works in a chroot).  Were
 * it to fail, the host name, the time in microseconds, the pid and the
 * writer's address are mixed instead: two hosts, or two processes of one
 * host, still differ. */
static void
batch_key_prefix(char *out, size_t size, const void *self)
{
	unsigned char r[16];
	uint64_t mix = 0x9e3779b97f4a7c15ULL;
	size_t i, got = 0;
	ssize_t k;
	char host[256];
	struct timespec ts;

	while (got < sizeof r) {
		k = getrandom(r + got, sizeof r - got, 0);
		if (k > 0)
			got += (size_t)k;
		else if (k < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	if (got < sizeof r) {
		if (gethostname(host, sizeof host) == 0) {
			host[sizeof host - 1] = '\0';
			for (i = 0; host[i] != '\0'; i++)
				mix = (mix ^ (unsigned char)host[i]) * 0x100000001b3ULL;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		mix ^= ((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u) * 0xbf58476d1ce4e5b9ULL;
		mix ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)self;
	}
	for (i = got; i < sizeof r; i++) {
		mix ^= mix >> 29;
		mix *= 0xbf58476d1ce4e5b9ULL;
		r[i] = (unsigned char)(mix >> 56);
	}
	for (i = 0; i < sizeof r && 2 * i + 2 < size; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

struct writer *
writer_start(const char *uri, const struct score_settings *policy,
    long capacity, long batch, long flush_ms, writer_result_fn fn, void *ud,
    char *err, size_t errlen)
{
	struct writer *w;
	pthread_condattr_t ca;
	sigset_t all, old;
	int v, latest, rc, away = 0;

	if (capacity < 1 || batch < 1 || flush_ms < 1) {
		snprintf(err, errlen, "writer: capacity, batch and flush interval must be positive");
		return NULL;
	}
	w = xcalloc(1, sizeof *w);
	batch_key_prefix(w->key_prefix, sizeof w->key_prefix, w);
	if ((w->st = store_open_waiting(uri, &away, err, errlen)) == NULL) {
		free(w);
		return NULL;
	}
	if (away) {
		log_warn("writer: %s; events are queued (up to %ld) until the database answers", err,
		    capacity);
		v = latest = 0;
	} else {
		v = store_schema_version(w->st);
		latest = store_schema_latest(w->st);
		w->schema_ok = 1;
	}
	if (v != latest) {
		if (v < 0)
			snprintf(err, errlen, "%s", store_errmsg(w->st));
		else if (v == 0)
			snprintf(err, errlen, "%s: database not initialised: run botsentry db init", uri);
		else
			snprintf(err, errlen, "%s: schema version %d, this build needs %d: run botsentry db migrate",
			    uri, v, latest);
		store_close(w->st);
		free(w);
		return NULL;
	}
	w->policy = *policy;
	w->fn = fn;
	w->ud = ud;
	w->cap = (size_t)capacity;
	w->batch = (size_t)batch;
	w->flush_ms = flush_ms;
	w->ring = xcalloc(w->cap, sizeof *w->ring);
	w->ring_mono = xcalloc(w->cap, sizeof *w->ring_mono);
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	w->drop_logged_mono = bs_mono_ms() - WRITER_DROP_LOG_MS;
	/* The thread starts with every signal blocked, so that signals go to
	 * the program's own threads (a sigwait thread, the main loop). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "writer: cannot start thread: %s", strerror(rc));
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->mu);
		store_close(w->st);
		free(w->ring);
		free(w->ring_mono);
		free(w);
		return NULL;
	}
	w->started = 1;
	return w;
}

int
writer_submit(struct writer *w, const struct event *ev)
{
	size_t slot;
	int64_t now;

	pthread_mutex_lock(&w->mu);
	if (w->count >= w->cap || w->stopping) {
		w->stats.dropped++;
		w->drops_unlogged++;
		now = bs_mono_ms();
		if (now - w->drop_logged_mono >= WRITER_DROP_LOG_MS) {
			log_warn("writer: queue full (capacity %zu), dropped=%llu since last report, total dropped=%llu",
			    w->cap, (unsigned long long)w->drops_unlogged,
			    (unsigned long long)w->stats.dropped);
			w->drops_unlogged = 0;
			w->drop_logged_mono = now;
		}
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	slot = (w->head + w->count) % w->cap;
	event_copy(&w->ring[slot], ev);
	w->ring_mono[slot] = bs_mono_ms();
	w->count++;
	w->stats.submitted++;
	w->stats.depth = w->count;
	if (w->count > w->stats.max_depth)
		w->stats.max_depth = w->count;
	if (w->count == 1 || w->count == w->batch)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void
writer_set_policy(struct writer *w, const struct score_settings *policy)
{
	pthread_mutex_lock(&w->mu);
	w->policy = *policy;
	pthread_mutex_unlock(&w->mu);
}

void
writer_get_stats(struct writer *w, struct writer_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->stats;
	out->depth = w->count;
	pthread_mutex_unlock(&w->mu);
}

uint64_t
writer_stop(struct writer *w)
{
	struct writer_stats s;
	uint64_t done;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	s = w->stats;
	log_notice("writer: stopped submitted=%llu committed=%llu allowlisted=%llu dropped=%llu rejected=%llu failed_batches=%llu retried_recorded=%llu max_depth=%llu",
	    (unsigned long long)s.submitted, (unsigned long long)s.committed,
	    (unsigned long long)s.allowlisted,
	    (unsigned long long)s.dropped, (unsigned long long)s.rejected,
	    (unsigned long long)s.failed, (unsigned long long)w->already,
	    (unsigned long long)s.max_depth);
	while (w->count > 0) {
		event_clear(&w->ring[w->head]);
		w->head = (w->head + 1) % w->cap;
		w->count--;
	}
	free(w->ring);
	free(w->ring_mono);
	allowlist_free(w->al);
	store_close(w->st);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->mu);
	free(w);
	done = s.committed + s.allowlisted + s.rejected;     /* dropped ones were never submitted */
	return s.submitted > done ? s.submitted - done : 0;
}
