/*
 * correlate.h - incident scoring: decay and levels.  Pure functions; the
 * store calls them inside the recording transaction, the unit tests and the
 * replay call them directly.
 */
#ifndef BS_CORRELATE_H
#define BS_CORRELATE_H

#include <stdint.h>
#include "conf.h"

/* Score decayed from t0 to t1 with the half-life (t1 >= t0; ms). */
double correlate_decay(double score, int64_t t0_ms, int64_t t1_ms, double half_life_s);
/* Level 0..3 for a score under the policy thresholds. */
int correlate_level(const struct score_settings *p, double score);
/*
 * Level for a score given the incident's kinds (comma-separated set, as the
 * store keeps it): like correlate_level, but held at p->volume_max_level
 * while every kind is one of p->volume_kinds.
 */
int correlate_level_kinds(const struct score_settings *p, double score, const char *kinds);
/*
 * The score an incident keeps: while every kind is a volume kind, it is held
 * just under the threshold of the level above volume_max_level, so that
 * volume cannot bank a score that one later event of another kind would
 * carry straight to mitigation.
 */
double correlate_cap_score(const struct score_settings *p, double score, const char *kinds);
/* Is every kind in the comma-separated set one of p->volume_kinds? */
int correlate_volume_only(const struct score_settings *p, const char *kinds);
/*
 * The incident key of an event: its subscriber, else "ip:<client address>"
 * (an IPv6 address reduced to p->ipv6_prefix_len), else "" (no incident).
 */
struct event;
void correlate_incident_key(const struct score_settings *p, const struct event *ev,
    char *key, size_t size);
/* Is this state one in which the incident is still open (not resolved or FP)? */
int correlate_state_active(const char *state);
/* Is a transition from -> to allowed? (open->notified->acknowledged->resolved|false_positive) */
int correlate_transition_ok(const char *from, const char *to);

#endif
