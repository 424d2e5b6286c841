/*
 * milter.h - what the parts of botsentry-milter share (not a library API).
 *
 *   botsentry-milter.c  start-up, privileges, signals, reload, shutdown
 *   callbacks.c         the libmilter callbacks: decode, count, detect, decide
 *   policy.c            the cache of subscribers' mitigation states and the
 *                       allowlist, refreshed from the store in a thread
 *   stats.c             counters of decisions and of what rules would do
 *
 * A configuration generation is a refcounted snapshot (struct bsm_snap):
 * every connection holds the one it started with, a SIGUSR1 reload swaps in
 * a new one.  The counter table, the firing memory, the SPF and DKIM
 * checkers and the writer live for the whole process, so a reload loses no
 * counts and drops no connection.
 */
#ifndef BS_MILTER_H
#define BS_MILTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "conf.h"
#include "counters.h"
#include "detect.h"
#include "privacy.h"

struct lease_table;
struct spf_checker;
struct dkim_checker;
struct writer;
struct policy;

/* One configuration generation. */
struct bsm_snap {
	atomic_int refs;
	struct conf *conf;
	struct detect_config *dc;
	struct lease_table *leases;
	int enforce;              /* milter|mode = enforce */
	int on_error;             /* SMFIS_* answer on an internal error */
	int add_header;
	const char *header_name;  /* borrowed from conf */
	char *throttle_text;      /* ready for smfi_setreply: no CR/LF, % doubled */
	char *reject_text;
	const char *quarantine_reason;
	enum det_action mitigation;   /* scoring|mitigation: what level 3 sets */
	int v6_prefix;
	int dkim_on;
	int64_t refresh_ms;
	int leases_partial;       /* the store did not answer: static map only */
};

/* The process. */
struct bsm {
	pthread_mutex_t lock;     /* guards snap */
	struct bsm_snap *snap;
	struct ctr_table *ctr;
	struct det_fire *fire;
	struct spf_checker *spf;
	struct dkim_checker *dkim;
	struct writer *writer;
	struct policy *policy;
	struct privacy_key key;
	int no_reply;             /* negotiate SMFIP_NR_* (unix socket) */
	const char *db_uri;
	int start_away;           /* while starting without the database */
};

extern struct bsm bsm;

/* The current snapshot with one more reference; put it back when done. */
struct bsm_snap *bsm_snap_get(void);
void bsm_snap_put(struct bsm_snap *s);     /* NULL is fine */
/* Build a snapshot from a loaded conf (takes a reference of its own).
 * NULL and a message in err. */
struct bsm_snap *bsm_snap_new(struct conf *c, char *err, size_t errlen);

/* callbacks.c: fill in the libmilter description. */
struct smfiDesc;
void bsm_callbacks(struct smfiDesc *d);

/* policy.c */
struct policy *policy_new(void);
void policy_free(struct policy *p);
/* The subscriber's mitigation state (DET_ACT_MONITOR when none). */
enum det_action policy_get(struct policy *p, const char *subscriber);
void policy_set(struct policy *p, const char *subscriber, enum det_action a);
size_t policy_count(struct policy *p);
/* Is this traffic allowlisted for kind (NULL: any detector)? */
int policy_allowlisted(struct policy *p, const char *kind, const char *subscriber,
    const char *ip, const char *sender, int64_t now_ms);
/* Load once now (0 or -1), then keep refreshing every interval in a thread
 * with its own store handle. */
int policy_refresh_now(struct policy *p, const char *uri);
/* Have the refresh thread load now rather than at the end of the interval
 * (from any thread; does not wait for it). */
void policy_refresh_soon(struct policy *p);
/* fn runs in the refresh thread after each load that reached the store. */
void policy_on_refresh(struct policy *p, void (*fn)(void));
int policy_start(struct policy *p, const char *uri);
void policy_stop(struct policy *p);

/* stats.c */
enum bsm_stat {
	ST_CONNECTIONS, ST_MESSAGES, ST_ABORTED, ST_RCPTS,
	ST_TEMPFAIL_MAIL, ST_REJECT_MAIL, ST_TEMPFAIL_EOM, ST_REJECT_EOM, ST_QUARANTINED,
	ST_HEADERS_ADDED, ST_BODY_SKIPPED, ST_DKIM_VERIFIED,
	ST_EVENTS, ST_EVENTS_DROPPED, ST_EVENTS_ALLOWLISTED, ST_INTERNAL_ERRORS,
	ST_BAD_INPUT, ST_RELOADS,
	ST_N
};
void stats_inc(enum bsm_stat s, uint64_t n);
/* A rule fired: kind (rate, fanout, helo, sender_forgery, dkim_replay, or
 * "state" for the subscriber's mitigation state), the action it has, and
 * whether that action was applied (mode enforce) or only counted. */
void stats_rule(const char *kind, enum det_action a, int applied);
/* One log line with every counter (and the writer's). */
void stats_log(const char *why);

#endif
