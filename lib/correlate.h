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
/* Is every kind in the comma-separated set one of p->volume_kinds? */
int correlate_volume_only(const struct score_settings *p, const char *kinds);
/* Is this state one in which the incident is still open (not resolved or FP)? */
int correlate_state_active(const char *state);
/* Is a transition from -> to allowed? (open->notified->acknowledged->resolved|false_positive) */
int correlate_transition_ok(const char *from, const char *to);

#endif
