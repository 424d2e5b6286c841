/*
 * detect_fanout.c - the 'fanout' detector: distinct recipient domains per
 * window above the subscriber's limit.  A person writes to a handful of
 * domains; a spam run sprays hundreds.  The milter counts the domains
 * (hashed, lib/counters) and may pass a few of the current message's domains
 * as a sample for the evidence (domains only, never addresses).
 */
#include "config.h"
#include "detect.h"
#include "detect_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void
detect_fanout(const struct detect_config *dc, struct det_fire *f, const struct det_subject *s,
    const struct ctr_values *v, const char *const *sample_domains, size_t nsample,
    struct det_out *out)
{
	struct det_limits lim;
	static const char *const details[DET_N_WINDOWS] = { "domains:1m", "domains:10m", "domains:1h" };
	char buf[EVENT_IP_MAX + 8];
	const char *key;
	int w;

	if (!dc->fanout.enabled || v == NULL || detect_is_bulk(dc, s->subscriber))
		return;
	key = det_subject_key(s, buf, sizeof buf);
	detect_limits(dc, s->subscriber, NULL, NULL, &lim);
	for (w = 0; w < DET_N_WINDOWS; w++) {
		double n = v->distinct[DET_D_RCPT_DOMAINS][w];
		const char *detail = details[w];

		if (lim.v[w] <= 0)
			continue;
		if (n <= (double)lim.v[w]) {
			det_fire_rearm(f, key, "fanout", detail);
			continue;
		}
		if (det_fire_check(f, key, "fanout", detail, n, (double)lim.v[w], s->now_ms,
		    dc->refire_s * 1000)) {
			struct event *ev = det_out_push(out, s, "fanout", dc->fanout.score);
			json_t *o = json_object(), *arr = json_array();
			size_t i;

			json_object_set_new(o, "window", json_string(det_window_name(w)));
			json_object_set_new(o, "domains", json_integer((json_int_t)llround(n)));
			json_object_set_new(o, "limit", json_integer(lim.v[w]));
			json_object_set_new(o, "recipients_in_window",
			    json_integer((json_int_t)llround(v->count[DET_C_RECIPIENTS][w])));
			json_object_set_new(o, "messages_in_window",
			    json_integer((json_int_t)llround(v->count[DET_C_MESSAGES][w])));
			for (i = 0; sample_domains != NULL && i < nsample && i < 10; i++)
				if (sample_domains[i] != NULL)
					json_array_append_new(arr, det_json_str(sample_domains[i],
					    strlen(sample_domains[i]), 0));
			json_object_set_new(o, "sample_domains", arr);
			event_set_evidence(ev, o);
		}
	}
}
