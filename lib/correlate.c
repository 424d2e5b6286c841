/*
 * correlate.c - incident scoring: exponential decay, levels from thresholds,
 * and the incident state machine.  Pure functions, no I/O.
 *
 * Decay: an incident's score halves every half-life, so a burst of events
 * long ago weighs less than the same burst now:
 *	score(t1) = score(t0) * 2^(-(t1 - t0) / half_life)
 * Times going backwards (events that arrive out of order) do not raise the
 * score: dt < 0 is treated as 0.
 *
 * States:
 *	open -> notified -> acknowledged -> resolved | false_positive
 * Each step may be skipped forwards (the desk may acknowledge or resolve an
 * incident that was never notified); resolved and false_positive are
 * terminal: a later event opens a new incident.
 */
#include "config.h"
#include "correlate.h"
#include "event.h"
#include "leases.h"
#include "util.h"

#include <stdio.h>

#include <math.h>
#include <string.h>

double
correlate_decay(double score, int64_t t0_ms, int64_t t1_ms, double half_life_s)
{
	double dt_s;

	if (t1_ms <= t0_ms || !(half_life_s > 0))
		return score;
	dt_s = (double)(t1_ms - t0_ms) / 1000.0;
	return score * exp2(-dt_s / half_life_s);
}

int
correlate_level(const struct score_settings *p, double score)
{
	int level = 0;
	int i;

	if (!(score > 0))
		return 0;
	for (i = 0; i < 3; i++)
		if (p->level[i] > 0 && score >= p->level[i])
			level = i + 1;
	return level;
}

/* Is item (len bytes) one of the comma-separated list? */
static int
in_list(const char *list, const char *item, size_t len)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == len && strncmp(p, item, len) == 0)
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

int
correlate_volume_only(const struct score_settings *p, const char *kinds)
{
	const char *k = kinds;

	if (p->volume_kinds[0] == '\0' || kinds == NULL || kinds[0] == '\0')
		return 0;
	while (k != NULL && *k != '\0') {
		const char *e = strchr(k, ',');
		size_t n = e ? (size_t)(e - k) : strlen(k);

		if (n > 0 && !in_list(p->volume_kinds, k, n))
			return 0;
		k = e ? e + 1 : NULL;
	}
	return 1;
}

/*
 * Volume alone (many messages, many recipient domains) is what a newsletter
 * or a mailing list looks like too; the labelled replay (bench/replay.md)
 * could not separate a 15-a-minute newsletter from a bot at the same rate
 * by volume.  So volume may notify the subscriber (level 1) but it takes a
 * second kind of evidence (a forged sender, an odd HELO, direct-to-MX
 * traffic, failed logins, a complaint) to call in the desk or mitigate.
 */
int
correlate_level_kinds(const struct score_settings *p, double score, const char *kinds)
{
	int level = correlate_level(p, score);

	if (level > p->volume_max_level && correlate_volume_only(p, kinds))
		level = p->volume_max_level;
	return level;
}

void
correlate_incident_key(const struct score_settings *p, const struct event *ev, char *key,
    size_t size)
{
	char pfx[EVENT_IP_MAX + 8];

	if (ev->subscriber[0] != '\0')
		bs_strlcpy(key, ev->subscriber, size);
	else if (ev->client_ip[0] != '\0' && p->ipv6_prefix_len > 0 && strchr(ev->client_ip, ':') != NULL
	    && lease_client_key(ev->client_ip, p->ipv6_prefix_len, pfx, sizeof pfx) != NULL)
		snprintf(key, size, "ip:%s", pfx);
	else if (ev->client_ip[0] != '\0')
		snprintf(key, size, "ip:%s", ev->client_ip);
	else
		key[0] = '\0';
}

double
correlate_cap_score(const struct score_settings *p, double score, const char *kinds)
{
	double cap;

	if (p->volume_max_level < 0 || p->volume_max_level > 2 || !correlate_volume_only(p, kinds))
		return score;
	cap = p->level[p->volume_max_level] - 0.01;
	return score > cap ? cap : score;
}

/* Rank in the life cycle; -1 for an unknown state. */
static int
state_rank(const char *state)
{
	static const char *const states[] = {
		"open", "notified", "acknowledged", "resolved", "false_positive"
	};
	int i;

	if (state == NULL)
		return -1;
	for (i = 0; i < 5; i++)
		if (strcmp(state, states[i]) == 0)
			return i;
	return -1;
}

int
correlate_state_active(const char *state)
{
	int r = state_rank(state);

	return r >= 0 && r <= 2;
}

int
correlate_transition_ok(const char *from, const char *to)
{
	int f = state_rank(from), t = state_rank(to);

	if (f < 0 || t < 0)
		return 0;
	if (f >= 3)              /* resolved, false_positive: terminal */
		return 0;
	return t > f;
}
