/*
 * stats.c - botsentry-milter's counters: decisions taken, and what each
 * rule did or, in monitor mode, would have done.
 *
 * The "would have" counts are what lets a postmaster switch a rule on with
 * evidence: in mode monitor every firing is counted under the action the
 * rule is configured with (e.g. rate would_throttle=1234) without touching
 * the mail.  Lock-free: relaxed atomics, read together only for the log
 * line (every ten minutes, on SIGUSR2 and at exit).
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "milter.h"
#include "writer.h"
#include "counters.h"

static atomic_uint_fast64_t counters[ST_N];

static const char *const names[ST_N] = {
	"connections", "messages", "aborted", "recipients",
	"tempfail_mail", "reject_mail", "tempfail_eom", "reject_eom", "quarantined",
	"headers_added", "body_skipped", "dkim_verified",
	"events", "events_dropped", "events_allowlisted", "internal_errors",
	"bad_input", "reloads",
};

static const char *const kinds[] = {
	"rate", "fanout", "helo", "sender_forgery", "dkim_replay", "state",
};
#define NKINDS (sizeof kinds / sizeof kinds[0])
/* [kind][action][applied] */
static atomic_uint_fast64_t rules[NKINDS][4][2];

void
stats_inc(enum bsm_stat s, uint64_t n)
{
	if ((unsigned)s < ST_N)
		atomic_fetch_add_explicit(&counters[s], n, memory_order_relaxed);
}

void
stats_rule(const char *kind, enum det_action a, int applied)
{
	size_t k;

	if ((unsigned)a > DET_ACT_REJECT)
		return;
	for (k = 0; k < NKINDS; k++)
		if (strcmp(kinds[k], kind) == 0)
			break;
	if (k == NKINDS)
		return;
	atomic_fetch_add_explicit(&rules[k][a][applied ? 1 : 0], 1, memory_order_relaxed);
}

void
stats_log(const char *why)
{
	char buf[4096];
	size_t off = 0;
	unsigned i, a;
	size_t k;
	struct writer_stats ws;
	struct ctr_stats cs;

#define PUT(...) do { \
		int n_ = snprintf(buf + off, sizeof buf - off, __VA_ARGS__); \
		if (n_ > 0 && (size_t)n_ < sizeof buf - off) off += (size_t)n_; \
	} while (0)

	PUT("stats: why=%s", why);
	for (i = 0; i < ST_N; i++)
		PUT(" %s=%llu", names[i], (unsigned long long)atomic_load(&counters[i]));
	for (k = 0; k < NKINDS; k++) {
		for (a = DET_ACT_MONITOR; a <= DET_ACT_REJECT; a++) {
			unsigned long long did = atomic_load(&rules[k][a][1]);
			unsigned long long would = atomic_load(&rules[k][a][0]);
			if (a == DET_ACT_MONITOR) {
				if (would + did > 0)
					PUT(" %s.fired_monitor=%llu", kinds[k], would + did);
				continue;
			}
			if (did > 0)
				PUT(" %s.%s=%llu", kinds[k], det_action_name((enum det_action)a), did);
			if (would > 0)
				PUT(" %s.would_%s=%llu", kinds[k], det_action_name((enum det_action)a), would);
		}
	}
	if (bsm.ctr != NULL) {
		ctr_get_stats(bsm.ctr, &cs);
		PUT(" subscribers=%zu counter_bytes=%zu evictions=%llu", cs.keys, cs.bytes,
		    (unsigned long long)cs.evictions);
	}
	{
		struct ctr_redis_stats rs;

		if (bsm.ctr != NULL && ctr_redis_get_stats(bsm.ctr, &rs) == 0)
			PUT(" counters_redis=%s redis_updates=%llu redis_fallbacks=%llu redis_errors=%llu",
			    rs.connected ? "up" : "down", (unsigned long long)rs.updates,
			    (unsigned long long)rs.fallbacks, (unsigned long long)rs.errors);
	}
	if (bsm.policy != NULL)
		PUT(" mitigated=%zu", policy_count(bsm.policy));
	if (bsm.writer != NULL) {
		writer_get_stats(bsm.writer, &ws);
		PUT(" queue_submitted=%llu queue_committed=%llu queue_dropped=%llu queue_depth=%llu",
		    (unsigned long long)ws.submitted, (unsigned long long)ws.committed,
		    (unsigned long long)ws.dropped, (unsigned long long)ws.depth);
	}
#undef PUT
	log_notice("%s", buf);
}
