/*
 * detect_helo.c - the 'helo' detector: an anomalous HELO/EHLO argument (its
 * class from helo.c, each class with its own score), and churn: many
 * distinct HELO names from one subscriber in a window.  Bots randomise
 * their greeting; a real mail client keeps one.
 */
#include "config.h"
#include "detect.h"
#include "detect_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const churn_details[DET_N_WINDOWS] = { "churn:1m", "churn:10m", "churn:1h" };

void
detect_helo(const struct detect_config *dc, struct det_fire *f, const struct det_subject *s,
    const struct helo_obs *h, const struct ctr_values *v, struct det_out *out)
{
	struct helo_lists lists;
	enum helo_class cls;
	char buf[EVENT_IP_MAX + 8];
	const char *key;
	int w;

	if (!dc->helo.enabled || h == NULL)
		return;
	key = det_subject_key(s, buf, sizeof buf);
	lists.own_hosts = (const char *const *)dc->hostnames.v;
	lists.n_own_hosts = dc->hostnames.n;
	lists.own_domains = (const char *const *)dc->own_domains.v;
	lists.n_own_domains = dc->own_domains.n;
	lists.providers = (const char *const *)dc->helo.providers.v;
	lists.n_providers = dc->helo.providers.n;
	cls = helo_classify(h->helo, h->helo ? h->len : 0, h->client_ip, &lists);

	if (h->helo != NULL && h->len > 0
	    && (v == NULL || v->distinct[DET_D_HELOS][DET_N_WINDOWS - 1] >= 2))
		det_sample_note(f, key, DET_S_HELO, h->helo, h->len);

	if (cls != HELO_OK && dc->helo.score[cls] > 0
	    && det_fire_check(f, key, "helo", helo_class_name(cls), 1, 1, s->now_ms,
	    dc->refire_oneoff_s * 1000)) {
		struct event *ev = det_out_push(out, s, "helo", dc->helo.score[cls]);
		json_t *o = json_object();

		json_object_set_new(o, "check", json_string(helo_class_name(cls)));
		json_object_set_new(o, "helo", det_json_str(h->helo, h->helo ? h->len : 0, 0));
		json_object_set_new(o, "helo_length", json_integer((json_int_t)(h->helo ? h->len : 0)));
		if (cls == HELO_LITERAL_OTHER && h->client_ip != NULL)
			json_object_set_new(o, "client_ip", det_json_str(h->client_ip,
			    strlen(h->client_ip), 0));
		event_set_evidence(ev, o);
	}

	if (v == NULL || dc->helo.score_churn <= 0)
		return;
	for (w = 0; w < DET_N_WINDOWS; w++) {
		double n = v->distinct[DET_D_HELOS][w];
		long limit = dc->helo.max_helos.v[w];

		const char *detail = churn_details[w];

		if (limit <= 0)
			continue;
		if (n <= (double)limit) {
			det_fire_rearm(f, key, "helo", detail);
			continue;
		}
		if (det_fire_check(f, key, "helo", detail, n, (double)limit, s->now_ms,
		    dc->refire_s * 1000)) {
			struct event *ev = det_out_push(out, s, "helo", dc->helo.score_churn);
			json_t *o = json_object();

			json_object_set_new(o, "check", json_string("churn"));
			json_object_set_new(o, "window", json_string(det_window_name(w)));
			json_object_set_new(o, "helos", json_integer((json_int_t)llround(n)));
			json_object_set_new(o, "limit", json_integer(limit));
			json_object_set_new(o, "connections_in_window",
			    json_integer((json_int_t)llround(v->count[DET_C_CONNECTIONS][w])));
			det_sample_add_json(f, key, DET_S_HELO, o, "sample_helos");
			event_set_evidence(ev, o);
		}
	}
}
