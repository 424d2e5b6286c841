/*
 * event.c - constructing, copying and validating events.
 */
#include "config.h"
#include "event.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sources[] = {
	"milter", "flow", "logwatch", "fbl", "manual", "replay", NULL
};

int
event_source_known(const char *source)
{
	const char *const *s;

	for (s = sources; *s != NULL; s++)
		if (strcmp(*s, source) == 0)
			return 1;
	return 0;
}

void
event_init(struct event *ev, int64_t ts_ms, const char *source, const char *kind, double score)
{
	memset(ev, 0, sizeof *ev);
	ev->ts_ms = ts_ms;
	bs_strlcpy(ev->source, source ? source : "", sizeof ev->source);
	bs_strlcpy(ev->kind, kind ? kind : "", sizeof ev->kind);
	ev->score = score;
}

void
event_set_subscriber(struct event *ev, const char *subscriber)
{
	bs_strlcpy(ev->subscriber, subscriber ? subscriber : "", sizeof ev->subscriber);
}

void
event_set_client_ip(struct event *ev, const char *ip)
{
	bs_strlcpy(ev->client_ip, ip ? ip : "", sizeof ev->client_ip);
}

void
event_set_node(struct event *ev, const char *node)
{
	bs_strlcpy(ev->node, node ? node : "", sizeof ev->node);
}

void
event_set_evidence(struct event *ev, json_t *obj)
{
	free(ev->evidence);
	ev->evidence = NULL;
	if (obj == NULL)
		return;
	ev->evidence = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
}

void
event_clear(struct event *ev)
{
	if (ev == NULL)
		return;
	free(ev->evidence);
	ev->evidence = NULL;
}

void
event_copy(struct event *dst, const struct event *src)
{
	*dst = *src;
	dst->evidence = xstrdup(src->evidence);
}

int
event_validate(const struct event *ev, int64_t now_ms, char *err, size_t errlen)
{
	const char *p;

	if (!event_source_known(ev->source)) {
		snprintf(err, errlen, "field 'source': unknown source '%s' (expected milter, flow, logwatch, fbl, manual or replay)",
		    ev->source);
		return -1;
	}
	if (ev->kind[0] == '\0') {
		snprintf(err, errlen, "field 'kind': empty");
		return -1;
	}
	for (p = ev->kind; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
			snprintf(err, errlen, "field 'kind': expected lower-case letters, digits and '_', got '%s'", ev->kind);
			return -1;
		}
	}
	if (!isfinite(ev->score) || ev->score < 0 || ev->score > 1000) {
		snprintf(err, errlen, "field 'score': expected a number from 0 to 1000, got %g", ev->score);
		return -1;
	}
	if (ev->ts_ms < 946684800000LL || ev->ts_ms > now_ms + 86400000LL) {
		snprintf(err, errlen, "field 'time': %lld is before 2000 or more than a day ahead", (long long)ev->ts_ms);
		return -1;
	}
	if (ev->evidence != NULL) {
		json_error_t je;
		json_t *j = json_loads(ev->evidence, 0, &je);
		int ok = j != NULL && json_is_object(j);

		json_decref(j);
		if (!ok) {
			snprintf(err, errlen, "field 'evidence': expected a JSON object%s%s",
			    j == NULL ? ": " : "", j == NULL ? je.text : "");
			return -1;
		}
	}
	return 0;
}
