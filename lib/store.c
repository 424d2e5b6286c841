/*
 * store.c - the backend-neutral part of the store: choosing a backend from
 * the URI, calling through its table of functions (store_int.h), and
 * freeing the result structs.
 *
 * "sqlite:PATH" (also "sqlite://PATH" with an absolute path) is the embedded
 * backend (lib/store_sqlite*.c); "postgresql://..." or "postgres://..." (a
 * libpq connection URI) is the PostgreSQL backend (lib/store_pg*.c) when
 * built with it.
 */
#include "config.h"
#include "store.h"
#include "correlate.h"
#include "store_int.h"
#include "store_sqlite_int.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store *
store_open_waiting(const char *uri, int *away, char *err, size_t errlen)
{
	const char *path;

	if (away != NULL)
		*away = 0;
	if (uri == NULL || *uri == '\0') {
		snprintf(err, errlen, "no database given (set 'database' in the config or use -d sqlite:PATH)");
		return NULL;
	}
	if (strncmp(uri, "sqlite:", 7) == 0) {
		path = uri + 7;
		if (strncmp(path, "//", 2) == 0)
			path += 2;
		if (*path == '\0') {
			snprintf(err, errlen, "%s: no file name after 'sqlite:'", uri);
			return NULL;
		}
		return store_sqlite_open(path, err, errlen);
	}
	if (strncmp(uri, "postgresql:", 11) == 0 || strncmp(uri, "postgres:", 9) == 0) {
#ifdef HAVE_POSTGRESQL
		return away != NULL ? store_pg_open_waiting(uri, away, err, errlen) :
		    store_pg_open(uri, err, errlen);
#else
		snprintf(err, errlen, "%s: this build has no PostgreSQL backend (configure --with-postgresql); use sqlite:PATH",
		    uri);
		return NULL;
#endif
	}
	snprintf(err, errlen, "%s: unknown database URI (expected sqlite:PATH or postgresql://...)", uri);
	return NULL;
}

struct store *
store_open(const char *uri, char *err, size_t errlen)
{
	return store_open_waiting(uri, NULL, err, errlen);
}

void
store_close(struct store *st)
{
	if (st != NULL)
		st->ops->close(st);
}

const char *
store_errmsg(const struct store *st)
{
	if (st == NULL)
		return "no store";
	return st->err[0] != '\0' ? st->err : "no error";
}

int
store_unsupported(struct store *st, const char *what)
{
	snprintf(st->err, sizeof st->err, "%s: %s is not supported by the %s backend yet",
	    st->uri != NULL ? st->uri : "store", what, st->ops->name);
	st->err_rc = 0;
	return STORE_ERR;
}

int
store_mitigation_rank(const char *action)
{
	static const char *const actions[] = { "monitor", "throttle", "quarantine", "reject" };
	int i;

	for (i = 0; action != NULL && i < 4; i++)
		if (strcmp(action, actions[i]) == 0)
			return i;
	return -1;
}

/* ---------------------------------------------------------------- dispatch */

int
store_error_transient(const struct store *st)
{
	if (st == NULL)
		return 0;
	return st->ops->error_transient(st);
}

int
store_migrate(struct store *st, int *from, int *to)
{
	if (st->ops->migrate == NULL)
		return store_unsupported(st, "migrate");
	return st->ops->migrate(st, from, to);
}

int
store_schema_version(struct store *st)
{
	if (st->ops->schema_version == NULL)
		return store_unsupported(st, "schema version");
	return st->ops->schema_version(st);
}

int
store_schema_latest(const struct store *st)
{
	if (st == NULL)
		return 0;
	return st->ops->schema_latest(st);
}

int
store_begin(struct store *st)
{
	if (st->ops->begin == NULL)
		return store_unsupported(st, "begin");
	return st->ops->begin(st);
}

int
store_commit(struct store *st)
{
	if (st->ops->commit == NULL)
		return store_unsupported(st, "commit");
	return st->ops->commit(st);
}

int
store_rollback(struct store *st)
{
	if (st->ops->rollback == NULL)
		return store_unsupported(st, "rollback");
	return st->ops->rollback(st);
}

int
store_subscriber_upsert(struct store *st, const char *id, const char *email, const char *name)
{
	if (st->ops->subscriber_upsert == NULL)
		return store_unsupported(st, "subscriber upsert");
	return st->ops->subscriber_upsert(st, id, email, name);
}

int
store_subscriber_get(struct store *st, const char *id, struct subscriber *out)
{
	if (st->ops->subscriber_get == NULL)
		return store_unsupported(st, "subscriber get");
	return st->ops->subscriber_get(st, id, out);
}

int
store_subscriber_set_mitigation(struct store *st, const char *id, const char *action, const char *by, int64_t now_ms)
{
	if (st->ops->subscriber_set_mitigation == NULL)
		return store_unsupported(st, "subscriber set mitigation");
	return st->ops->subscriber_set_mitigation(st, id, action, by, now_ms);
}

int
store_mitigations_each(struct store *st, int (*fn)(void *ud, const char *subscriber, const char *action), void *ud)
{
	if (st->ops->mitigations_each == NULL)
		return store_unsupported(st, "mitigations each");
	return st->ops->mitigations_each(st, fn, ud);
}

int
store_leases_add(struct store *st, const struct lease *l, size_t n)
{
	if (st->ops->leases_add == NULL)
		return store_unsupported(st, "leases add");
	return st->ops->leases_add(st, l, n);
}

int
store_leases_each(struct store *st, int (*fn)(void *ud, const struct lease *l), void *ud)
{
	if (st->ops->leases_each == NULL)
		return store_unsupported(st, "leases each");
	return st->ops->leases_each(st, fn, ud);
}

int
store_record_events(struct store *st, const struct score_settings *policy, const struct event *evs, size_t n, struct record_result *res)
{
	if (st->ops->record_events == NULL)
		return store_unsupported(st, "record events");
	return st->ops->record_events(st, policy, NULL, evs, n, res, NULL);
}

int
store_record_events_once(struct store *st, const struct score_settings *policy,
    const char *batch_key, const struct event *evs, size_t n, struct record_result *res,
    int *already)
{
	int dummy = 0, rc;
	size_t i;

	if (already == NULL)
		already = &dummy;
	*already = 0;
	if (st->ops->record_events == NULL)
		return store_unsupported(st, "record events");
	rc = st->ops->record_events(st, policy, batch_key, evs, n, res, already);
	if (rc == 0 && *already && res != NULL)
		for (i = 0; i < n; i++)
			res[i].replayed = 1;
	return rc;
}

int
store_incidents_list(struct store *st, const struct incident_filter *f, int (*fn)(void *ud, const struct incident *inc), void *ud)
{
	if (st->ops->incidents_list == NULL)
		return store_unsupported(st, "incidents list");
	return st->ops->incidents_list(st, f, fn, ud);
}

int
store_incident_get(struct store *st, int64_t id, struct incident *out)
{
	if (st->ops->incident_get == NULL)
		return store_unsupported(st, "incident get");
	return st->ops->incident_get(st, id, out);
}

int
store_incident_events(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct stored_event *e), void *ud)
{
	if (st->ops->incident_events == NULL)
		return store_unsupported(st, "incident events");
	return st->ops->incident_events(st, incident_id, fn, ud);
}

int
store_incident_set_state(struct store *st, int64_t id, const char *state, const char *actor, const char *note, int64_t now_ms)
{
	if (st->ops->incident_set_state == NULL)
		return store_unsupported(st, "incident set state");
	return st->ops->incident_set_state(st, id, state, actor, note, now_ms);
}

int
store_incident_set_ticket(struct store *st, int64_t id, const char *ticket)
{
	if (st->ops->incident_set_ticket == NULL)
		return store_unsupported(st, "incident set ticket");
	return st->ops->incident_set_ticket(st, id, ticket);
}

int
store_incident_notifications(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct notification *n), void *ud)
{
	if (st->ops->incident_notifications == NULL)
		return store_unsupported(st, "incident notifications");
	return st->ops->incident_notifications(st, incident_id, fn, ud);
}

int
store_audit(struct store *st, int64_t now_ms, const char *actor, const char *action, const char *object, const char *detail)
{
	if (st->ops->audit == NULL)
		return store_unsupported(st, "audit");
	return st->ops->audit(st, now_ms, actor, action, object, detail);
}

int
store_audit_each(struct store *st, int64_t since_ms, const char *actor, const char *object, int limit, int (*fn)(void *ud, const struct audit_row *a), void *ud)
{
	if (st->ops->audit_each == NULL)
		return store_unsupported(st, "audit each");
	return st->ops->audit_each(st, since_ms, actor, object, limit, fn, ud);
}

int
store_prune(struct store *st, int64_t events_before_ms, int64_t incidents_before_ms,
    int64_t notices_before_ms, const char *actor, int64_t now_ms, struct prune_result *out)
{
	if (st->ops->prune == NULL)
		return store_unsupported(st, "prune");
	/* a notice time outlives the events when the restraint interval is longer */
	if (notices_before_ms > events_before_ms)
		notices_before_ms = events_before_ms;
	return st->ops->prune(st, events_before_ms, incidents_before_ms, notices_before_ms, actor, now_ms, out);
}

int
store_allowlist_add(struct store *st, const struct allowlist_entry *e, int64_t *id)
{
	if (st->ops->allowlist_add == NULL)
		return store_unsupported(st, "allowlist add");
	return st->ops->allowlist_add(st, e, id);
}

int
store_allowlist_get(struct store *st, int64_t id, struct allowlist_entry *out)
{
	if (st->ops->allowlist_get == NULL)
		return store_unsupported(st, "allowlist get");
	return st->ops->allowlist_get(st, id, out);
}

int
store_allowlist_remove(struct store *st, int64_t id)
{
	if (st->ops->allowlist_remove == NULL)
		return store_unsupported(st, "allowlist remove");
	return st->ops->allowlist_remove(st, id);
}

int
store_allowlist_each(struct store *st, int64_t active_at_ms, int (*fn)(void *ud, const struct allowlist_entry *e), void *ud)
{
	if (st->ops->allowlist_each == NULL)
		return store_unsupported(st, "allowlist each");
	return st->ops->allowlist_each(st, active_at_ms, fn, ud);
}

int
store_fbl_complaint_add(struct store *st, const struct fbl_complaint *c, int64_t *id)
{
	if (st->ops->fbl_complaint_add == NULL)
		return store_unsupported(st, "fbl complaint add");
	return st->ops->fbl_complaint_add(st, c, id);
}

int
store_fbl_complaints_each(struct store *st, const char *status, int64_t since_ms, int limit, int (*fn)(void *ud, const struct fbl_complaint *c), void *ud)
{
	if (st->ops->fbl_complaints_each == NULL)
		return store_unsupported(st, "fbl complaints each");
	return st->ops->fbl_complaints_each(st, status, since_ms, limit, fn, ud);
}

int
store_fbl_complaints_prune(struct store *st, int64_t before_ms, int64_t *n)
{
	if (st->ops->fbl_complaints_prune == NULL)
		return store_unsupported(st, "fbl complaints prune");
	return st->ops->fbl_complaints_prune(st, before_ms, n);
}

int
store_subscriber_by_login(struct store *st, const char *login, char **id)
{
	if (st->ops->subscriber_by_login == NULL)
		return store_unsupported(st, "subscriber by login");
	return st->ops->subscriber_by_login(st, login, id);
}

int
store_subscriber_login_set(struct store *st, const char *login, const char *subscriber)
{
	if (st->ops->subscriber_login_set == NULL)
		return store_unsupported(st, "subscriber login set");
	return st->ops->subscriber_login_set(st, login, subscriber);
}

int
store_leases_of(struct store *st, const char *subscriber, int (*fn)(void *ud, const struct lease *l), void *ud)
{
	if (st->ops->leases_of == NULL)
		return store_unsupported(st, "leases of");
	return st->ops->leases_of(st, subscriber, fn, ud);
}

int
store_stats(struct store *st, enum store_stat which, int64_t since_ms, int64_t now_ms, int (*fn)(void *ud, const char *key, const char *sub, int64_t n), void *ud)
{
	if (st->ops->stats == NULL)
		return store_unsupported(st, "stats");
	return st->ops->stats(st, which, since_ms, now_ms, fn, ud);
}

int
store_notify_fanout(struct store *st, int64_t now_ms, int limit, store_notify_route_fn route, void *ud)
{
	if (st->ops->notify_fanout == NULL)
		return store_unsupported(st, "notify fanout");
	return st->ops->notify_fanout(st, now_ms, limit, route, ud);
}

int
store_notify_claim(struct store *st, const char *worker, int64_t now_ms, int64_t lease_ms, int limit, struct delivery **out, size_t *n)
{
	if (st->ops->notify_claim == NULL)
		return store_unsupported(st, "notify claim");
	return st->ops->notify_claim(st, worker, now_ms, lease_ms, limit, out, n);
}

int
store_notify_sent(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note)
{
	if (st->ops->notify_sent == NULL)
		return store_unsupported(st, "notify sent");
	return st->ops->notify_sent(st, id, worker, now_ms, note);
}

int
store_notify_skipped(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *note)
{
	if (st->ops->notify_skipped == NULL)
		return store_unsupported(st, "notify skipped");
	return st->ops->notify_skipped(st, id, worker, now_ms, note);
}

int
store_notify_retry(struct store *st, int64_t id, const char *worker, int64_t now_ms, int64_t next_ms, const char *error, int counted)
{
	if (st->ops->notify_retry == NULL)
		return store_unsupported(st, "notify retry");
	return st->ops->notify_retry(st, id, worker, now_ms, next_ms, error, counted);
}

int
store_notify_failed(struct store *st, int64_t id, const char *worker, int64_t now_ms, const char *error)
{
	if (st->ops->notify_failed == NULL)
		return store_unsupported(st, "notify failed");
	return st->ops->notify_failed(st, id, worker, now_ms, error);
}

int
store_notify_deliveries(struct store *st, int64_t incident_id, int (*fn)(void *ud, const struct delivery *d), void *ud)
{
	if (st->ops->notify_deliveries == NULL)
		return store_unsupported(st, "notify deliveries");
	return st->ops->notify_deliveries(st, incident_id, fn, ud);
}

int
store_notify_notice_slot(struct store *st, const char *subscriber, const char *key, int64_t now_ms, int64_t interval_ms, int64_t *next_ms)
{
	if (st->ops->notify_notice_slot == NULL)
		return store_unsupported(st, "notify notice slot");
	return st->ops->notify_notice_slot(st, subscriber, key, now_ms, interval_ms, next_ms);
}

int
store_notify_notice_release(struct store *st, const char *subscriber, int64_t prev_ms)
{
	if (st->ops->notify_notice_release == NULL)
		return store_unsupported(st, "notify notice release");
	return st->ops->notify_notice_release(st, subscriber, prev_ms);
}

int
store_notify_superseded(struct store *st, const struct delivery *d)
{
	if (st->ops->notify_superseded == NULL)
		return store_unsupported(st, "notify superseded");
	return st->ops->notify_superseded(st, d);
}

int64_t
store_notify_prev_ms(struct store *st, int64_t incident_id, int64_t notification_id)
{
	if (st->ops->notify_prev_ms == NULL)
		return store_unsupported(st, "notify prev ms");
	return st->ops->notify_prev_ms(st, incident_id, notification_id);
}

int
store_notify_rt_set(struct store *st, int64_t incident_id, int64_t ticket_id, int64_t now_ms)
{
	if (st->ops->notify_rt_set == NULL)
		return store_unsupported(st, "notify rt set");
	return st->ops->notify_rt_set(st, incident_id, ticket_id, now_ms);
}

int
store_notify_rt_get(struct store *st, int64_t incident_id, int64_t *ticket_id)
{
	if (st->ops->notify_rt_get == NULL)
		return store_unsupported(st, "notify rt get");
	return st->ops->notify_rt_get(st, incident_id, ticket_id);
}

int
store_notify_rt_due(struct store *st, int64_t now_ms, int64_t interval_ms, int limit, int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id), void *ud)
{
	if (st->ops->notify_rt_due == NULL)
		return store_unsupported(st, "notify rt due");
	return st->ops->notify_rt_due(st, now_ms, interval_ms, limit, fn, ud);
}

int
store_notify_rt_polled(struct store *st, int64_t incident_id, const char *status, int closed, int64_t now_ms)
{
	if (st->ops->notify_rt_polled == NULL)
		return store_unsupported(st, "notify rt polled");
	return st->ops->notify_rt_polled(st, incident_id, status, closed, now_ms);
}

int
store_notify_rt_closing(struct store *st, int limit, int (*fn)(void *ud, int64_t incident_id, int64_t ticket_id, const char *state), void *ud)
{
	if (st->ops->notify_rt_closing == NULL)
		return store_unsupported(st, "notify rt closing");
	return st->ops->notify_rt_closing(st, limit, fn, ud);
}

/* ---------------------------------------------------------------- shared by the backends */

/* The sorted comma-separated set list with item added (caller frees); NULL
 * when item is empty or already in the list. */
char *
store_set_add(const char *list, const char *item)
{
	size_t ilen = strlen(item), llen = strlen(list), n, m;
	const char *p = list, *comma;
	int c;

	if (ilen == 0)
		return NULL;
	while (*p != '\0') {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		m = n < ilen ? n : ilen;
		c = memcmp(p, item, m);
		if (c == 0)
			c = (n > ilen) - (n < ilen);
		if (c == 0)
			return NULL;
		if (c > 0)       /* item goes before this token */
			return xasprintf("%.*s%s,%s", (int)(p - list), list, item, p);
		p = comma != NULL ? comma + 1 : p + n;
	}
	return llen > 0 ? xasprintf("%s,%s", list, item) : xstrdup(item);
}

static json_t *
set_to_json(const char *list)
{
	json_t *a = json_array();
	const char *p = list, *comma;

	while (*p != '\0') {
		comma = strchr(p, ',');
		if (comma == NULL) {
			json_array_append_new(a, json_string(p));
			break;
		}
		json_array_append_new(a, json_stringn(p, (size_t)(comma - p)));
		p = comma + 1;
	}
	return a;
}

/* The JSON payload of an outbox row (caller frees): the same for every backend. */
char *
store_note_payload(int64_t incident, const char *key, int level, double score,
    const char *kinds, const char *sources, const char *mitigation)
{
	json_t *j;
	char *payload;

	j = json_pack("{s:I, s:s, s:i, s:f, s:o, s:o}", "incident", (json_int_t)incident,
	    "subscriber", key, "level", level, "score", score,
	    "kinds", set_to_json(kinds), "sources", set_to_json(sources));
	if (mitigation != NULL)
		json_object_set_new(j, "mitigation", json_string(mitigation));
	payload = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return payload;
}

int
store_enqueue_note(struct store *st, int64_t incident, const char *key, const char *kind,
    int level, double score, const char *kinds, const char *sources, const char *mitigation,
    const char *idem, int64_t now_ms)
{
	char *payload = store_note_payload(incident, key, level, score, kinds, sources, mitigation);
	int rc = st->ops->outbox_add(st, incident, key, kind, level, now_ms, idem, payload);

	free(payload);
	return rc;
}

/* Level 3 reached: raise the subscriber's mitigation to the policy's. */
static int
mitigate(struct store *st, const struct score_settings *policy, int64_t incident,
    const char *key, double score, const char *kinds, const char *sources, int64_t now)
{
	struct subscriber sub;
	char idem[64], detail[256];
	int cur = 0, want = store_mitigation_rank(policy->mitigation), rc;

	if (want <= 0)
		return 0;        /* monitor, or unknown (conf checks it) */
	memset(&sub, 0, sizeof sub);
	rc = st->ops->subscriber_get(st, key, &sub);
	if (rc == STORE_OK)
		cur = store_mitigation_rank(sub.mitigation);
	subscriber_clear(&sub);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return STORE_ERR;
	if (cur >= want)
		return 0;
	if (st->ops->subscriber_set_mitigation(st, key, policy->mitigation, "correlation", now) != 0)
		return STORE_ERR;
	snprintf(idem, sizeof idem, "inc-%lld-mitigation", (long long)incident);
	if (store_enqueue_note(st, incident, key, "mitigation", 3, score, kinds, sources,
	    policy->mitigation, idem, now) != 0)
		return STORE_ERR;
	snprintf(detail, sizeof detail, "action=%s incident=%lld level=3 score=%.3f",
	    policy->mitigation, (long long)incident, score);
	return st->ops->audit(st, now, "correlation", "mitigation", key, detail);
}

int
store_level_rise(struct store *st, const struct score_settings *policy, int64_t incident,
    const char *key, int level_before, int level, double score, const char *kinds,
    const char *sources, int64_t now_ms)
{
	char idem[64];

	if (level <= level_before)
		return 0;
	snprintf(idem, sizeof idem, "inc-%lld-lvl-%d", (long long)incident, level);
	if (store_enqueue_note(st, incident, key, level_before == 0 ? "new" : "update", level, score,
	    kinds, sources, NULL, idem, now_ms) != 0)
		return STORE_ERR;
	if (level >= 3 && level_before < 3)
		return mitigate(st, policy, incident, key, score, kinds, sources, now_ms);
	return 0;
}

/* ---------------------------------------------------------------- result structs */

void
subscriber_clear(struct subscriber *s)
{
	if (s == NULL)
		return;
	free(s->id);
	free(s->email);
	free(s->name);
	free(s->mitigation);
	free(s->mitigation_by);
	memset(s, 0, sizeof *s);
}

void
incident_clear(struct incident *inc)
{
	if (inc == NULL)
		return;
	free(inc->subscriber);
	free(inc->state);
	free(inc->kinds);
	free(inc->sources);
	free(inc->ticket);
	memset(inc, 0, sizeof *inc);
}

void
notification_clear(struct notification *n)
{
	if (n == NULL)
		return;
	free(n->subscriber);
	free(n->channel);
	free(n->kind);
	free(n->status);
	free(n->last_error);
	free(n->idem_key);
	free(n->payload);
	memset(n, 0, sizeof *n);
}

int
store_correlate_event(const struct score_settings *policy, const struct event *ev,
    int level_before, double *score, int64_t *score_ms, int64_t *updated_ms,
    char **kinds, char **sources)
{
	char *set;
	int level;

	if (ev->ts_ms > *score_ms) {
		*score = correlate_decay(*score, *score_ms, ev->ts_ms, policy->half_life_s);
		*score_ms = ev->ts_ms;
	}
	*score += ev->score;
	if (ev->ts_ms > *updated_ms)
		*updated_ms = ev->ts_ms;
	if ((set = store_set_add(*kinds, ev->kind)) != NULL) {
		free(*kinds);
		*kinds = set;
	}
	if ((set = store_set_add(*sources, ev->source)) != NULL) {
		free(*sources);
		*sources = set;
	}
	/* the level follows the score, held back while only volume kinds have
	 * been seen (correlate_cap_score, correlate_level_kinds) */
	*score = correlate_cap_score(policy, *score, *kinds);
	level = correlate_level_kinds(policy, *score, *kinds);
	return level < level_before ? level_before : level;
}
