/*
 * detect_sender.c - the 'sender_forgery' detector: a message whose envelope
 * sender or From: header is in a domain the subscriber may not use, scored
 * by what SPF says about the smarthost sending for that domain (a domain
 * that forbids the ISP's outbound addresses confirms the forgery; softfail,
 * neutral and none weigh less); and churn of distinct envelope senders per
 * window (bots rotate senders, people keep one or two).
 *
 * Allowed without SPF: the ISP's own domains (milter|own_domains) and the
 * subscriber's own (milter|subscriber "ID" { domains }).  With
 * allow_spf_pass, a domain whose SPF passes for the outbound addresses is
 * allowed too (a customer's vanity domain that includes the ISP).
 */
#include "config.h"
#include "detect.h"
#include "detect_int.h"
#include "addr.h"
#include "spf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const churn_details[DET_N_WINDOWS] = { "churn:1m", "churn:10m", "churn:1h" };

/* Order of strength when several outbound addresses give different answers. */
static int
strength(enum spf_res r)
{
	switch (r) {
	case SPF_R_FAIL: return 6;
	case SPF_R_SOFTFAIL: return 5;
	case SPF_R_PERMERROR: return 4;
	case SPF_R_TEMPERROR: return 3;
	case SPF_R_NEUTRAL: return 2;
	case SPF_R_NONE: return 1;
	default: return 0;
	}
}

static double
score_for(const struct detect_config *dc, enum spf_res r, int checked)
{
	if (!checked)
		return dc->sender.score_unchecked;
	switch (r) {
	case SPF_R_FAIL: return dc->sender.score_fail;
	case SPF_R_SOFTFAIL: return dc->sender.score_softfail;
	case SPF_R_NEUTRAL: return dc->sender.score_neutral;
	case SPF_R_NONE: return dc->sender.score_none;
	case SPF_R_PASS: return 0;
	default: return dc->sender.score_error;
	}
}

static void
judge_domain(const struct detect_config *dc, struct det_fire *f, struct spf_checker *spf,
    const struct det_subject *s, const char *key, const char *domain, const char *where,
    const struct sender_obs *o, int from_count, struct det_out *out)
{
	enum spf_res best = SPF_R_INVALID;
	const char *best_ip = NULL;
	char why[256] = "", sender[ADDR_MAX];
	int checked = 0, any_pass = 0;
	size_t i;
	double score;

	if (detect_domain_allowed(dc, s->subscriber, domain))
		return;
	/* raised for this domain lately: spare the resolver */
	if (det_fire_quiet(f, key, "sender_forgery", domain, s->now_ms, dc->refire_oneoff_s * 1000))
		return;
	if (dc->sender.spf && spf != NULL && dc->outbound.n > 0) {
		snprintf(sender, sizeof sender, "postmaster@%s", domain);
		for (i = 0; i < dc->outbound.n; i++) {
			char w[256];
			enum spf_res r = spf_check(spf, dc->outbound.v[i], o->helo, sender, w, sizeof w);

			if (r == SPF_R_INVALID)
				continue;
			checked = 1;
			if (r == SPF_R_PASS)
				any_pass = 1;
			if (best_ip == NULL || strength(r) > strength(best)) {
				best = r;
				best_ip = dc->outbound.v[i];
				snprintf(why, sizeof why, "%s", w);
			}
		}
		if (any_pass && dc->sender.allow_spf_pass)
			return;
	}
	score = score_for(dc, best, checked);
	if (score <= 0)
		return;
	if (det_fire_check(f, key, "sender_forgery", domain, 1, 1, s->now_ms,
	    dc->refire_oneoff_s * 1000)) {
		struct event *ev = det_out_push(out, s, "sender_forgery", score);
		json_t *j = json_object();

		json_object_set_new(j, "check", json_string("domain"));
		json_object_set_new(j, "domain", det_json_str(domain, strlen(domain), 0));
		json_object_set_new(j, "where", json_string(where));
		json_object_set_new(j, "spf", json_string(checked ? spf_res_name(best) : "unchecked"));
		if (checked && best_ip != NULL)
			json_object_set_new(j, "spf_checked_ip", json_string(best_ip));
		if (why[0] != '\0')
			json_object_set_new(j, "spf_comment", det_json_str(why, strlen(why), 0));
		if (o->env_from != NULL)
			json_object_set_new(j, "env_from", det_json_str(o->env_from, strlen(o->env_from), 0));
		if (o->from_header != NULL)
			json_object_set_new(j, "from_header",
			    det_json_str(o->from_header, strlen(o->from_header), 0));
		if (from_count > 1)
			json_object_set_new(j, "from_mailboxes", json_integer(from_count));
		event_set_evidence(ev, j);
	}
}

void
detect_sender(const struct detect_config *dc, struct det_fire *f, struct spf_checker *spf,
    const struct det_subject *s, const struct sender_obs *o, const struct ctr_values *v,
    struct det_out *out)
{
	struct addr env, hdr;
	char buf[EVENT_IP_MAX + 8], err[64];
	const char *key, *envd = NULL, *hdrd = NULL;
	int from_count = 0, w;

	if (!dc->sender.enabled || o == NULL)
		return;
	key = det_subject_key(s, buf, sizeof buf);
	if (o->env_from != NULL
	    && addr_parse_envelope(o->env_from, (size_t)-1, &env, err, sizeof err) == 0
	    && !env.null_sender) {
		if (env.domain[0] != '\0' && !env.domain_literal)
			envd = env.domain;
		if (v == NULL || v->distinct[DET_D_SENDERS][DET_N_WINDOWS - 1] >= 2)
			det_sample_note(f, key, DET_S_SENDER, env.addr, strlen(env.addr));
	}
	if (dc->sender.check_from_header && o->from_header != NULL
	    && addr_parse_from_header(o->from_header, (size_t)-1, &hdr, &from_count, err,
	    sizeof err) == 0
	    && hdr.domain[0] != '\0' && !hdr.domain_literal)
		hdrd = hdr.domain;
	if (envd != NULL)
		judge_domain(dc, f, spf, s, key, envd,
		    hdrd != NULL && strcmp(envd, hdrd) == 0 ? "both" : "envelope", o, from_count, out);
	if (hdrd != NULL && (envd == NULL || strcmp(envd, hdrd) != 0))
		judge_domain(dc, f, spf, s, key, hdrd, "header", o, from_count, out);

	if (v == NULL || dc->sender.score_churn <= 0)
		return;
	for (w = 0; w < DET_N_WINDOWS; w++) {
		double n = v->distinct[DET_D_SENDERS][w];
		long limit = dc->sender.max_senders.v[w];

		const char *detail = churn_details[w];

		if (limit <= 0)
			continue;
		if (n <= (double)limit) {
			det_fire_rearm(f, key, "sender_forgery", detail);
			continue;
		}
		if (det_fire_check(f, key, "sender_forgery", detail, n, (double)limit, s->now_ms,
		    dc->refire_s * 1000)) {
			struct event *ev = det_out_push(out, s, "sender_forgery", dc->sender.score_churn);
			json_t *j = json_object();

			json_object_set_new(j, "check", json_string("churn"));
			json_object_set_new(j, "window", json_string(det_window_name(w)));
			json_object_set_new(j, "senders", json_integer((json_int_t)llround(n)));
			json_object_set_new(j, "limit", json_integer(limit));
			json_object_set_new(j, "messages_in_window",
			    json_integer((json_int_t)llround(v->count[DET_C_MESSAGES][w])));
			det_sample_add_json(f, key, DET_S_SENDER, j, "sample_senders");
			event_set_evidence(ev, j);
		}
	}
}
