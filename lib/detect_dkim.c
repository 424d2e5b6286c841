/*
 * detect_dkim.c - the 'dkim_replay' detector: judges the result of a DKIM
 * check (dkim.c) of a subscriber's message.  A valid signature of a
 * third-party domain means the subscriber sends a replayed signed message
 * (a classic way to borrow a big sender's reputation); a broken one is a
 * forged signature.  Temporary errors and skipped checks raise nothing.
 */
#include "config.h"
#include "detect.h"
#include "detect_int.h"
#include "dkim.h"

#include <stdio.h>
#include <string.h>

int
detect_dkim_foreign(const struct detect_config *dc, const char *subscriber, const char *domain)
{
	if (domain == NULL || *domain == '\0')
		return 0;
	return !detect_domain_allowed(dc, subscriber, domain);
}

void
detect_dkim(const struct detect_config *dc, struct det_fire *f, const struct det_subject *s,
    const struct dkim_check_result *r, struct det_out *out)
{
	char buf[EVENT_IP_MAX + 8], detail[DKIM_CHECK_DOMAIN_MAX + 8];
	const char *key;
	double score;
	int valid;

	if (!dc->dkim.enabled || r == NULL)
		return;
	if (r->verdict != DKIM_CHECK_PASS && r->verdict != DKIM_CHECK_FAIL)
		return;
	if (!detect_dkim_foreign(dc, s->subscriber, r->domain))
		return;                    /* belt and braces: the check filters too */
	valid = r->verdict == DKIM_CHECK_PASS;
	score = valid ? dc->dkim.score_replay : dc->dkim.score_forgery;
	if (score <= 0)
		return;
	key = det_subject_key(s, buf, sizeof buf);
	snprintf(detail, sizeof detail, "%s:%s", valid ? "replay" : "forgery", r->domain);
	if (!det_fire_check(f, key, "dkim_replay", detail, 1, 1, s->now_ms, dc->refire_oneoff_s * 1000))
		return;
	{
		struct event *ev = det_out_push(out, s, "dkim_replay", score);
		json_t *o = json_object();

		json_object_set_new(o, "check", json_string(valid ? "replay" : "forgery"));
		json_object_set_new(o, "signature", json_string(valid ? "valid" : "broken"));
		json_object_set_new(o, "d", det_json_str(r->domain, strlen(r->domain), 0));
		if (r->selector[0] != '\0')
			json_object_set_new(o, "s", det_json_str(r->selector, strlen(r->selector), 0));
		if (!valid && r->error[0] != '\0')
			json_object_set_new(o, "error", det_json_str(r->error, strlen(r->error), 0));
		json_object_set_new(o, "signatures", json_integer(r->nsigs));
		event_set_evidence(ev, o);
	}
}
