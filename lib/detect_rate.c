/*
 * detect_rate.c - the 'rate' detector: messages or recipients accepted per
 * window above the subscriber's limit (defaults from milter|rate, overrides
 * from milter|subscriber "ID").  Bulk senders never fire.  Counting is the
 * milter's job (only accepted messages count); this file only judges the
 * counter values it is given.
 */
#include "config.h"
#include "detect.h"
#include "detect_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static json_int_t
ival(double d)
{
	return (json_int_t)llround(d);
}

static const char *const details[2][DET_N_WINDOWS] = {
	{ "messages:1m", "messages:10m", "messages:1h" },
	{ "recipients:1m", "recipients:10m", "recipients:1h" },
};

static void
judge(const struct detect_config *dc, struct det_fire *f, const struct det_subject *s,
    const char *key, const char *what, int idx, const struct det_limits *lim,
    const struct ctr_values *v, const char *helo, struct det_out *out)
{
	int w;

	for (w = 0; w < DET_N_WINDOWS; w++) {
		double n = v->count[idx][w];
		long limit = lim->v[w];
		const char *detail = details[idx == DET_C_MESSAGES ? 0 : 1][w];

		if (limit <= 0)
			continue;
		if (n <= (double)limit) {
			det_fire_rearm(f, key, "rate", detail);
			continue;
		}
		if (det_fire_check(f, key, "rate", detail, n, (double)limit, s->now_ms,
		    dc->refire_s * 1000)) {
			struct event *ev = det_out_push(out, s, "rate", dc->rate.score);
			json_t *o = json_object();

			json_object_set_new(o, "check", json_string(what));
			json_object_set_new(o, "window", json_string(det_window_name(w)));
			json_object_set_new(o, what, json_integer(ival(n)));
			json_object_set_new(o, "limit", json_integer(limit));
			json_object_set_new(o, "messages_in_window",
			    json_integer(ival(v->count[DET_C_MESSAGES][w])));
			json_object_set_new(o, "recipients_in_window",
			    json_integer(ival(v->count[DET_C_RECIPIENTS][w])));
			json_object_set_new(o, "connections_in_window",
			    json_integer(ival(v->count[DET_C_CONNECTIONS][w])));
			if (helo != NULL)
				json_object_set_new(o, "helo", det_json_str(helo, strlen(helo), 0));
			det_sample_add_json(f, key, DET_S_HELO, o, "sample_helos");
			event_set_evidence(ev, o);
		}
	}
}

void
detect_rate(const struct detect_config *dc, struct det_fire *f, const struct det_subject *s,
    const struct ctr_values *v, const char *helo, struct det_out *out)
{
	struct det_limits msgs, rcpts;
	char buf[EVENT_IP_MAX + 8];
	const char *key;

	if (!dc->rate.enabled || v == NULL || detect_is_bulk(dc, s->subscriber))
		return;
	key = det_subject_key(s, buf, sizeof buf);
	detect_limits(dc, s->subscriber, &msgs, &rcpts, NULL);
	judge(dc, f, s, key, "messages", DET_C_MESSAGES, &msgs, v, helo, out);
	judge(dc, f, s, key, "recipients", DET_C_RECIPIENTS, &rcpts, v, helo, out);
}

int
detect_rate_check(const struct detect_config *dc, const char *subscriber,
    const struct ctr_values *v, int *window)
{
	struct det_limits msgs, rcpts;
	int w;

	if (!dc->rate.enabled || v == NULL || detect_is_bulk(dc, subscriber))
		return 0;
	detect_limits(dc, subscriber, &msgs, &rcpts, NULL);
	for (w = 0; w < DET_N_WINDOWS; w++) {
		if ((msgs.v[w] > 0 && v->count[DET_C_MESSAGES][w] >= (double)msgs.v[w])
		    || (rcpts.v[w] > 0 && v->count[DET_C_RECIPIENTS][w] >= (double)rcpts.v[w])) {
			if (window != NULL)
				*window = w;
			return 1;
		}
	}
	return 0;
}
