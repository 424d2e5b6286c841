/*
 * counters.h - per-key sliding-window counters and distinct-count
 * estimates, for a million keys in modest memory.
 *
 * A table tracks, per key (a subscriber id, an IP, a prefix), n_counts
 * plain counters and n_distinct distinct-count estimators, each over every
 * configured window (e.g. 60 s, 600 s, 3600 s).  One call updates a key and
 * returns its values, under one lock stripe: this is the milter's hot path.
 * Idle keys expire; when max_keys is reached the least recently used key is
 * evicted and counted.
 *
 * Keys are kept as 64-bit hashes, not strings (memory); the collision
 * probability at 1M keys is about 3e-8 and only merges two keys' counts.
 */
#ifndef BS_COUNTERS_H
#define BS_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#define CTR_MAX_COUNTS 4
#define CTR_MAX_DISTINCT 4
#define CTR_MAX_WINDOWS 3

struct ctr_spec {
	int n_counts;                       /* <= CTR_MAX_COUNTS */
	int n_distinct;                     /* <= CTR_MAX_DISTINCT */
	int n_windows;                      /* 1..CTR_MAX_WINDOWS */
	int64_t window_s[CTR_MAX_WINDOWS];  /* ascending */
	size_t max_keys;                    /* eviction cap */
	int64_t idle_s;                     /* a key untouched this long expires */
	/* Added by the counters module (0 = default): slots per distinct
	 * estimator; more slots, less error, more memory (counters.c). */
	int distinct_slots;
};

#define CTR_DEFAULT_DISTINCT_SLOTS 96

struct ctr_values {
	double count[CTR_MAX_COUNTS][CTR_MAX_WINDOWS];
	double distinct[CTR_MAX_DISTINCT][CTR_MAX_WINDOWS];
};

struct ctr_stats {
	size_t keys;
	uint64_t evictions;
	uint64_t expirations;
	size_t bytes;                       /* memory held by the table */
};

struct ctr_table;

/* NULL if the spec is out of range (windows must be ascending, 1 s..366 d;
 * max_keys and idle_s >= 1).  Windows that are each a multiple of the one
 * before (60/600/3600) give the most compact distinct estimators. */
struct ctr_table *ctr_new(const struct ctr_spec *spec);
void ctr_free(struct ctr_table *t);                /* NULL is fine */

/*
 * Update key at now_ms: add inc[i] to count i (inc may be NULL), add
 * item hash dh[j] to distinct set j (dh may be NULL; a 0 hash is skipped);
 * then fill *out (may be NULL) with the values over every window.
 */
void ctr_update(struct ctr_table *t, const char *key, int64_t now_ms,
    const uint32_t *inc, const uint64_t *dh, struct ctr_values *out);
/* The same, adding the item hashes more[0..nmore) (0s skipped) to
 * distinct set `set` as well: a message's recipient domains in one call,
 * which is one round trip with a shared (Redis) table. */
void ctr_update_n(struct ctr_table *t, const char *key, int64_t now_ms, const uint32_t *inc,
    const uint64_t *dh, int set, const uint64_t *more, size_t nmore, struct ctr_values *out);
/* Read without changing; returns 0 if the key is tracked, else 1 (out zeroed). */
int ctr_peek(struct ctr_table *t, const char *key, int64_t now_ms, struct ctr_values *out);
/* Drop expired keys now (the table also does this incrementally). */
void ctr_expire(struct ctr_table *t, int64_t now_ms);
void ctr_get_stats(struct ctr_table *t, struct ctr_stats *out);
/* Bytes of one key's slot (without the index), for sizing. */
size_t ctr_entry_bytes(const struct ctr_table *t);

/*
 * Shared counters (issue 8).  A table may carry a remote backend: then
 * ctr_update updates the local table as always (the fallback) and the
 * remote one, and returns the remote values when it answered (update
 * returns 0), the local ones otherwise.  ctr_peek makes no round trip: it
 * answers the local counts, raised to the summed counts the last shared
 * update of the key returned while those are younger than a tenth of the
 * window (distinct estimates stay local).  ctr_expire and ctr_get_stats
 * stay local.  ctr_free frees the remote backend too.
 */
struct ctr_remote;
struct ctr_redis_stats {
	uint64_t updates;        /* answered by Redis */
	uint64_t fallbacks;      /* answered locally because Redis did not */
	uint64_t errors;         /* failed round trips (each starts a fallback period) */
	uint64_t reconnects;
	int connected;           /* at the moment */
};
struct ctr_remote_ops {
	int (*update)(struct ctr_remote *r, const char *key, int64_t now_ms,
	    const uint32_t *inc, const uint64_t *dh, int set, const uint64_t *more, size_t nmore,
	    struct ctr_values *out);
	void (*free)(struct ctr_remote *r);
	void (*stats)(struct ctr_remote *r, struct ctr_redis_stats *out);
};
void ctr_set_remote(struct ctr_table *t, struct ctr_remote *r, const struct ctr_remote_ops *ops);
struct ctr_remote *ctr_get_remote(const struct ctr_table *t);

/* Redis (lib/counters_redis.c; configure --with-redis).  url is
 * "redis://[USER@]HOST[:PORT]" or "unix:PATH"; password (NULL: none; needed
 * with a USER) is sent with AUTH on every connection; keys are "PREFIX:..." (tables that
 * share a prefix share counts); timeout_ms bounds connecting and every
 * command (the milter's hot path: keep it small).  When Redis does not
 * answer the table falls back to its local counters, logs it once, and
 * tries to reconnect every retry_s seconds.  NULL with a message in err for
 * a bad spec or URL (an unreachable server is not an error: it starts in
 * fallback), or when the build has no Redis support (counters_redis_none.c). */
struct ctr_table *ctr_new_redis(const struct ctr_spec *spec, const char *url,
    const char *password, const char *prefix, int timeout_ms, char *err, size_t errlen);
/* The user name in a Redis URL, given the part after "redis://": 0 none,
 * 1 found (*user, *ulen; *ulen may be 0), -1 a password in it
 * (USER:PASS@), which the configuration must not hold. */
int ctr_redis_url_user(const char *rest, const char **user, size_t *ulen);
/* The remote backend's statistics: 0, or -1 when the table has none. */
int ctr_redis_get_stats(struct ctr_table *t, struct ctr_redis_stats *out);

/* A good 64-bit hash of bytes (for keys and distinct items). Never 0. */
uint64_t ctr_hash(const void *data, size_t len);
static inline uint64_t ctr_hash_str(const char *s);

#include <string.h>
static inline uint64_t
ctr_hash_str(const char *s)
{
	return ctr_hash(s, strlen(s));
}

#endif
