/*
 * cmd_incidents.c - botsentry incidents list|show|ack|resolve|false-positive.
 *
 * list: filters, sorting and a limit, as a table (aligned on a terminal,
 * tab-separated in a pipe), CSV or JSON.  show: everything the desk needs
 * to decide: the subscriber, the events with readable evidence, the score
 * over time, the notifications and their status, the ticket and the audit
 * trail.  The state changes are audited with the actor; a false positive
 * can allowlist the subscriber for the detectors that fired, in the same
 * transaction.
 */
#include "config.h"
#include "allowlist.h"
#include "cli.h"
#include "correlate.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char *
cli_level_colour(int level)
{
	return level >= 3 ? OUT_RED : level == 2 ? OUT_YELLOW : level == 1 ? OUT_BLUE : NULL;
}

const char *
cli_state_colour(const char *state)
{
	if (state == NULL)
		return NULL;
	if (strcmp(state, "open") == 0)
		return OUT_RED;
	if (strcmp(state, "notified") == 0)
		return OUT_YELLOW;
	if (strcmp(state, "acknowledged") == 0)
		return OUT_BLUE;
	if (strcmp(state, "resolved") == 0)
		return OUT_GREEN;
	return OUT_DIM;
}

/* "a,b" -> ["a","b"] */
static json_t *
csv_array(const char *s)
{
	json_t *a = json_array();
	const char *p = s;

	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n > 0)
			json_array_append_new(a, json_stringn(p, n));
		p = comma ? comma + 1 : NULL;
	}
	return a;
}

json_t *
cli_incident_json(const struct incident *inc)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(inc->id));
	json_object_set_new(o, "subscriber", out_json_str(inc->subscriber));
	json_object_set_new(o, "state", out_json_str(inc->state));
	json_object_set_new(o, "level", json_integer(inc->level));
	json_object_set_new(o, "score", json_real(inc->score));
	json_object_set_new(o, "opened", out_json_time(inc->opened_ms));
	json_object_set_new(o, "opened_ms", json_integer(inc->opened_ms));
	json_object_set_new(o, "updated", out_json_time(inc->updated_ms));
	json_object_set_new(o, "updated_ms", json_integer(inc->updated_ms));
	json_object_set_new(o, "closed", out_json_time(inc->closed_ms));
	json_object_set_new(o, "closed_ms", inc->closed_ms > 0 ? json_integer(inc->closed_ms) : json_null());
	json_object_set_new(o, "event_count", json_integer(inc->event_count));
	json_object_set_new(o, "kinds", csv_array(inc->kinds));
	json_object_set_new(o, "sources", csv_array(inc->sources));
	json_object_set_new(o, "ticket", out_json_str(inc->ticket && *inc->ticket ? inc->ticket : NULL));
	return o;
}

/* ---------------------------------------------------------------- list */

struct list_ctx {
	struct table *t;
	json_t *arr;
	int64_t now;
};

static int
list_row(void *ud, const struct incident *inc)
{
	struct list_ctx *k = ud;
	char a[40], b[40];

	if (k->arr != NULL) {
		json_array_append_new(k->arr, cli_incident_json(inc));
		return 0;
	}
	table_row(k->t);
	table_cellf(k->t, "%lld", (long long)inc->id);
	table_cell(k->t, inc->state);
	table_colour(k->t, cli_state_colour(inc->state));
	table_cellf(k->t, "%d", inc->level);
	table_colour(k->t, cli_level_colour(inc->level));
	table_cellf(k->t, "%.1f", inc->score);
	table_cell(k->t, inc->subscriber);
	table_cell(k->t, out_time(inc->opened_ms, a, sizeof a));
	table_cell(k->t, out_age(inc->updated_ms, k->now, b, sizeof b));
	table_cellf(k->t, "%lld", (long long)inc->event_count);
	table_cell(k->t, inc->kinds && *inc->kinds ? inc->kinds : "-");
	table_cell(k->t, inc->sources && *inc->sources ? inc->sources : "-");
	table_cell(k->t, inc->ticket && *inc->ticket ? inc->ticket : "-");
	return 0;
}

static const char *const states[] = { "open", "notified", "acknowledged", "resolved", "false_positive",
	"active", "all", NULL };

int
cmd_incidents_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "level", required_argument, NULL, 'l' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "kind", required_argument, NULL, 'k' },
		{ "source", required_argument, NULL, 'o' },
		{ "subscriber", required_argument, NULL, 'b' },
		{ "sort", required_argument, NULL, 'r' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const cols[] = { "ID", "STATE", "LEVEL", "SCORE", "SUBSCRIBER", "OPENED", "UPDATED",
		"EVENTS", "KINDS", "SOURCES", "TICKET", NULL };
	struct incident_filter f;
	struct list_ctx k;
	enum out_format fmt = OUT_TEXT;
	struct store *st;
	int ch, rc, i;
	char *end;
	const char *sort = NULL;

	memset(&f, 0, sizeof f);
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			for (i = 0; states[i] != NULL && strcmp(states[i], optarg) != 0; i++)
				;
			if (states[i] == NULL && strcmp(optarg, "false-positive") != 0)
				return cli_usage_error("incidents", "list", "--state: expected open, notified, acknowledged, "
				    "resolved, false_positive, active or all, got '%s'", optarg);
			f.state = strcmp(optarg, "all") == 0 ? NULL :
			    strcmp(optarg, "false-positive") == 0 ? "false_positive" : optarg;
			break;
		case 'l':
			f.min_level = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || f.min_level < 0 || f.min_level > 3)
				return cli_usage_error("incidents", "list", "--level: expected 0 to 3, got '%s'", optarg);
			break;
		case 'S':
			if (cli_parse_time_opt("--since", optarg, &f.since_ms) != 0)
				return CLI_USAGE;
			break;
		case 'U':
			if (cli_parse_time_opt("--until", optarg, &f.until_ms) != 0)
				return CLI_USAGE;
			break;
		case 'k': f.kind = optarg; break;
		case 'o': f.source = optarg; break;
		case 'b': f.subscriber = optarg; break;
		case 'r':
			sort = optarg;
			if (*sort == '-') {
				f.descending = 1;
				sort++;
			}
			if (strcmp(sort, "id") != 0 && strcmp(sort, "score") != 0 && strcmp(sort, "level") != 0 &&
			    strcmp(sort, "updated") != 0 && strcmp(sort, "opened") != 0)
				return cli_usage_error("incidents", "list",
				    "--sort: expected id, score, level, updated or opened (a leading - reverses), got '%s'", optarg);
			f.sort = sort;
			break;
		case 'n':
			f.limit = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || f.limit <= 0)
				return cli_usage_error("incidents", "list", "--limit: expected a positive number, got '%s'", optarg);
			break;
		case 'j': fmt = OUT_JSON; break;
		case 'c': fmt = OUT_CSV; break;
		default:
			return cli_usage_error("incidents", "list", "incidents list: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("incidents", "list", "incidents list: unexpected argument '%s'", argv[optind]);
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	memset(&k, 0, sizeof k);
	k.now = bs_now_ms();
	if (fmt == OUT_JSON)
		k.arr = json_array();
	else {
		k.t = table_new(cols);
		table_right(k.t, 0);
		table_right(k.t, 2);
		table_right(k.t, 3);
		table_right(k.t, 7);
	}
	if (store_incidents_list(st, &f, list_row, &k) != 0) {
		rc = cli_store_fail(st, "incidents list");
		json_decref(k.arr);
	} else {
		rc = CLI_OK;
		if (fmt == OUT_JSON)
			out_json(k.arr, stdout);
		else if (fmt == OUT_CSV || table_rows(k.t) > 0 || !c->is_tty)
			table_print(k.t, stdout, c->is_tty, fmt);
		else
			printf("no incidents match\n");
	}
	table_free(k.t);
	store_close(st);
	return rc;
}

/* ---------------------------------------------------------------- show */

/* Evidence as "key=value, key=value" for people; arrays joined with ",". */
static void
evidence_text(json_t *j, const char *prefix, char **out)
{
	const char *key;
	json_t *v;

	json_object_foreach(j, key, v) {
		char *name = prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
		char *val = NULL, *next;
		if (json_is_object(v)) {
			evidence_text(v, name, out);
			free(name);
			continue;
		}
		if (json_is_array(v)) {
			size_t i;
			json_t *x;
			val = xstrdup("");
			json_array_foreach(v, i, x) {
				char *s = json_is_string(x) ? xstrdup(json_string_value(x)) :
				    json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
				char *n = xasprintf("%s%s%s", val, i ? "," : "", s ? s : "?");
				free(s);
				free(val);
				val = n;
			}
		} else if (json_is_string(v))
			val = xstrdup(json_string_value(v));
		else if (json_is_real(v))
			val = xasprintf("%g", json_real_value(v));
		else
			val = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		next = xasprintf("%s%s%s=%s", *out, **out ? ", " : "", name, val ? val : "?");
		free(*out);
		*out = next;
		free(val);
		free(name);
	}
}

struct show_ctx {
	json_t *events, *timeline, *notes, *audit;
	struct table *et, *st, *nt, *at;
	const struct score_settings *policy;
	double score;
	int64_t last_ms;
	int level;
};

static int
show_event(void *ud, const struct stored_event *e)
{
	struct show_ctx *k = ud;
	json_t *ev = json_loads(e->ev.evidence ? e->ev.evidence : "{}", 0, NULL);
	char tb[40], *txt = xstrdup("");
	int level;

	if (ev == NULL || !json_is_object(ev)) {
		json_decref(ev);
		ev = json_object();
	}
	json_array_append_new(k->events, json_pack("{s:I, s:o, s:I, s:o, s:o, s:f, s:o, s:o, s:O}",
	    "id", (json_int_t)e->id, "time", out_json_time(e->ev.ts_ms), "time_ms", (json_int_t)e->ev.ts_ms,
	    "source", out_json_str(e->ev.source), "kind", out_json_str(e->ev.kind), "score", e->ev.score,
	    "client_ip", out_json_str(e->ev.client_ip[0] ? e->ev.client_ip : NULL),
	    "node", out_json_str(e->ev.node[0] ? e->ev.node : NULL), "evidence", ev));
	evidence_text(ev, NULL, &txt);
	table_row(k->et);
	table_cell(k->et, out_time(e->ev.ts_ms, tb, sizeof tb));
	table_cell(k->et, e->ev.source);
	table_cell(k->et, e->ev.kind);
	table_cellf(k->et, "%.1f", e->ev.score);
	table_cell(k->et, e->ev.client_ip[0] ? e->ev.client_ip : "-");
	table_cell(k->et, e->ev.node[0] ? e->ev.node : "-");
	table_cell(k->et, *txt ? txt : "-");
	free(txt);
	json_decref(ev);

	/* the score as correlation saw it: decayed sum, event by event */
	if (k->last_ms > 0 && e->ev.ts_ms > k->last_ms)
		k->score = correlate_decay(k->score, k->last_ms, e->ev.ts_ms, k->policy->half_life_s);
	k->score += e->ev.score;
	if (e->ev.ts_ms > k->last_ms)
		k->last_ms = e->ev.ts_ms;
	level = correlate_level(k->policy, k->score);
	if (level > k->level)
		k->level = level;
	json_array_append_new(k->timeline, json_pack("{s:o, s:I, s:I, s:f, s:f, s:i}",
	    "time", out_json_time(e->ev.ts_ms), "time_ms", (json_int_t)e->ev.ts_ms, "event_id", (json_int_t)e->id,
	    "added", e->ev.score, "score", k->score, "level", k->level));
	table_row(k->st);
	table_cell(k->st, out_time(e->ev.ts_ms, tb, sizeof tb));
	table_cellf(k->st, "+%.1f", e->ev.score);
	table_cellf(k->st, "%.1f", k->score);
	table_cellf(k->st, "%d", k->level);
	table_colour(k->st, cli_level_colour(k->level));
	return 0;
}

static int
show_note(void *ud, const struct notification *n)
{
	struct show_ctx *k = ud;
	char a[40], b[40];

	json_array_append_new(k->notes, json_pack("{s:I, s:o, s:o, s:i, s:o, s:o, s:i, s:o, s:o}",
	    "id", (json_int_t)n->id, "created", out_json_time(n->created_ms), "kind", out_json_str(n->kind ? n->kind : ""),
	    "level", n->level, "channel", out_json_str(n->channel && *n->channel ? n->channel : NULL),
	    "status", out_json_str(n->status ? n->status : ""), "attempts", n->attempts,
	    "next_attempt", out_json_time(strcmp(n->status ? n->status : "", "pending") == 0 ? n->next_attempt_ms : 0),
	    "last_error", out_json_str(n->last_error)));
	table_row(k->nt);
	table_cellf(k->nt, "%lld", (long long)n->id);
	table_cell(k->nt, out_time(n->created_ms, a, sizeof a));
	table_cell(k->nt, n->kind);
	table_cellf(k->nt, "%d", n->level);
	table_cell(k->nt, n->channel && *n->channel ? n->channel : "(all)");
	table_cell(k->nt, n->status);
	table_colour(k->nt, n->status && strcmp(n->status, "failed") == 0 ? OUT_RED :
	    n->status && strcmp(n->status, "sent") == 0 ? OUT_GREEN : OUT_YELLOW);
	table_cellf(k->nt, "%d", n->attempts);
	table_cell(k->nt, n->last_error && *n->last_error ? n->last_error :
	    (n->status && strcmp(n->status, "pending") == 0 ? out_time(n->next_attempt_ms, b, sizeof b) : "-"));
	return 0;
}

/* The audit trail: rows about the incident, and rows about its subscriber
 * (mitigations set by correlation or by hand) since it opened, merged in
 * id order. */
struct audit_copy {
	int64_t id, ts_ms;
	char *actor, *action, *object, *detail;
};
struct audit_list {
	struct audit_copy *v;
	size_t n, cap;
	int64_t since_ms;
};

static int
collect_audit(void *ud, const struct audit_row *a)
{
	struct audit_list *l = ud;
	size_t i;

	if (a->ts_ms < l->since_ms)
		return 0;
	for (i = 0; i < l->n; i++)
		if (l->v[i].id == a->id)
			return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n].id = a->id;
	l->v[l->n].ts_ms = a->ts_ms;
	l->v[l->n].actor = xstrdup(a->actor);
	l->v[l->n].action = xstrdup(a->action);
	l->v[l->n].object = xstrdup(a->object);
	l->v[l->n].detail = xstrdup(a->detail);
	l->n++;
	return 0;
}

static int
cmp_audit(const void *a, const void *b)
{
	const struct audit_copy *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int
show_audit(void *ud, const struct audit_row *a)
{
	struct show_ctx *k = ud;
	char tb[40];

	json_array_append_new(k->audit, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)a->id,
	    "time", out_json_time(a->ts_ms), "actor", out_json_str(a->actor), "action", out_json_str(a->action),
	    "object", out_json_str(a->object), "detail", out_json_str(a->detail)));
	table_row(k->at);
	table_cell(k->at, out_time(a->ts_ms, tb, sizeof tb));
	table_cell(k->at, a->actor);
	table_cell(k->at, a->action);
	table_cell(k->at, a->detail && *a->detail ? a->detail : "-");
	return 0;
}

int
cmd_incidents_show(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 } };
	static const char *const ecols[] = { "TIME", "SOURCE", "KIND", "SCORE", "CLIENT", "NODE", "EVIDENCE", NULL };
	static const char *const scols[] = { "TIME", "ADDED", "SCORE", "LEVEL", NULL };
	static const char *const ncols[] = { "ID", "CREATED", "KIND", "LEVEL", "CHANNEL", "STATUS", "TRIES",
		"ERROR / NEXT TRY", NULL };
	static const char *const acols[] = { "TIME", "ACTOR", "ACTION", "DETAIL", NULL };
	struct show_ctx k;
	struct incident inc;
	struct subscriber sub;
	struct store *st;
	int64_t id;
	int ch, json = 0, rc, have_sub = 0;
	char object[64], a[40], b[40];

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			json = 1;
		else
			return cli_usage_error("incidents", "show", "incidents show: unknown option '%s'", argv[optind - 1]);
	}
	if (optind + 1 != argc)
		return cli_usage_error("incidents", "show", "incidents show: name one incident id");
	if (cli_parse_id("incidents show", argv[optind], &id) != 0)
		return CLI_USAGE;
	if ((rc = cli_open_incident(c, "incidents show", id, &st, &inc)) != CLI_OK)
		return rc;
	if (store_subscriber_get(st, inc.subscriber, &sub) == 0)
		have_sub = 1;
	memset(&k, 0, sizeof k);
	k.policy = &c->conf->score;
	k.events = json_array();
	k.timeline = json_array();
	k.notes = json_array();
	k.audit = json_array();
	k.et = table_new(ecols);
	k.st = table_new(scols);
	k.nt = table_new(ncols);
	k.at = table_new(acols);
	table_right(k.et, 3);
	table_right(k.st, 1);
	table_right(k.st, 2);
	table_right(k.nt, 0);
	snprintf(object, sizeof object, "incident:%lld", (long long)id);
	rc = CLI_OK;
	{
		struct audit_list al;
		char *subobj = xasprintf("subscriber:%s", inc.subscriber);
		size_t i;
		memset(&al, 0, sizeof al);
		if (store_incident_events(st, id, show_event, &k) != 0 ||
		    store_incident_notifications(st, id, show_note, &k) != 0 ||
		    store_audit_each(st, 0, NULL, object, 0, collect_audit, &al) != 0)
			rc = cli_store_fail(st, "incidents show");
		al.since_ms = inc.opened_ms;
		if (rc == CLI_OK && (store_audit_each(st, inc.opened_ms, NULL, inc.subscriber, 0, collect_audit, &al) != 0 ||
		    store_audit_each(st, inc.opened_ms, NULL, subobj, 0, collect_audit, &al) != 0))
			rc = cli_store_fail(st, "incidents show");
		if (al.n > 0)
			qsort(al.v, al.n, sizeof *al.v, cmp_audit);
		for (i = 0; i < al.n; i++) {
			struct audit_row r = { al.v[i].id, al.v[i].ts_ms, al.v[i].actor, al.v[i].action, al.v[i].object,
				al.v[i].detail };
			if (rc == CLI_OK)
				show_audit(&k, &r);
			free(al.v[i].actor);
			free(al.v[i].action);
			free(al.v[i].object);
			free(al.v[i].detail);
		}
		free(al.v);
		free(subobj);
	}
	if (rc != CLI_OK)
		;
	else if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "incident", cli_incident_json(&inc));
		if (have_sub)
			json_object_set_new(o, "subscriber", json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", out_json_str(sub.id),
			    "email", out_json_str(sub.email), "name", out_json_str(sub.name),
			    "mitigation", out_json_str(sub.mitigation ? sub.mitigation : "monitor"),
			    "mitigation_since", out_json_time(sub.mitigation_since),
			    "mitigation_by", out_json_str(sub.mitigation_by)));
		else
			json_object_set_new(o, "subscriber", json_null());
		json_object_set(o, "events", k.events);
		json_object_set(o, "score_timeline", k.timeline);
		json_object_set(o, "notifications", k.notes);
		json_object_set(o, "audit", k.audit);
		out_json(o, stdout);
	} else {
		char *subj = out_clean(inc.subscriber);
		printf("%sincident %lld%s  %s%s%s  level %s%d%s  score %.1f\n", out_sgr(OUT_BOLD), (long long)inc.id,
		    out_reset(), out_sgr(cli_state_colour(inc.state)), inc.state, out_reset(),
		    out_sgr(cli_level_colour(inc.level)), inc.level, out_reset(), inc.score);
		printf("subscriber  %s", subj);
		if (have_sub) {
			char *n = out_clean(sub.name ? sub.name : "-"), *e = out_clean(sub.email ? sub.email : "-");
			printf(" (%s, %s), mitigation %s", n, e, sub.mitigation ? sub.mitigation : "monitor");
			free(n);
			free(e);
		} else if (strncmp(inc.subscriber, "ip:", 3) == 0)
			printf(" (unattributed: no lease covered the address)");
		printf("\nopened      %s   updated %s   closed %s\n", out_time(inc.opened_ms, a, sizeof a),
		    out_time(inc.updated_ms, b, sizeof b), inc.closed_ms ? out_time(inc.closed_ms, object, sizeof object) : "-");
		printf("detectors   %s   sources %s\n", inc.kinds && *inc.kinds ? inc.kinds : "-",
		    inc.sources && *inc.sources ? inc.sources : "-");
		printf("ticket      %s\n", inc.ticket && *inc.ticket ? inc.ticket : "-");
		printf("\n%sevents%s (%lld)\n", out_sgr(OUT_BOLD), out_reset(), (long long)table_rows(k.et));
		if (table_rows(k.et))
			table_print(k.et, stdout, c->is_tty, OUT_TEXT);
		else if (inc.event_count > 0)
			printf("  (pruned by retention)\n");
		printf("\n%sscore over time%s (half-life %.0fs; levels at %.0f/%.0f/%.0f)\n", out_sgr(OUT_BOLD),
		    out_reset(), c->conf->score.half_life_s, c->conf->score.level[0], c->conf->score.level[1],
		    c->conf->score.level[2]);
		if (table_rows(k.st))
			table_print(k.st, stdout, c->is_tty, OUT_TEXT);
		printf("\n%snotifications%s (%zu)\n", out_sgr(OUT_BOLD), out_reset(), table_rows(k.nt));
		if (table_rows(k.nt))
			table_print(k.nt, stdout, c->is_tty, OUT_TEXT);
		printf("\n%saudit trail%s (%zu)\n", out_sgr(OUT_BOLD), out_reset(), table_rows(k.at));
		if (table_rows(k.at))
			table_print(k.at, stdout, c->is_tty, OUT_TEXT);
		free(subj);
	}
	json_decref(k.events);
	json_decref(k.timeline);
	json_decref(k.notes);
	json_decref(k.audit);
	table_free(k.et);
	table_free(k.st);
	table_free(k.nt);
	table_free(k.at);
	if (have_sub)
		subscriber_clear(&sub);
	incident_clear(&inc);
	store_close(st);
	return rc;
}

/* ---------------------------------------------------------------- state changes */

int
cmd_incidents_state(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "note", required_argument, NULL, 'n' },
		{ "allowlist", no_argument, NULL, 'a' },
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	const char *verb = argv[0], *note = NULL, *state;
	int fp = strcmp(verb, "false-positive") == 0, allow = 0, ch, rc;
	int64_t id, expires = 0, now = bs_now_ms(), al_id = 0;
	struct store *st;
	struct incident inc;

	state = strcmp(verb, "ack") == 0 ? "acknowledged" : strcmp(verb, "resolve") == 0 ? "resolved" : "false_positive";
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			note = optarg;
			break;
		case 'a':
			if (!fp)
				return cli_usage_error("incidents", verb, "--allowlist goes with false-positive only");
			allow = 1;
			break;
		case 'e':
			if (cli_parse_expiry("--expires", optarg, &expires) != 0)
				return CLI_USAGE;
			break;
		default:
			return cli_usage_error("incidents", verb, "incidents %s: unknown option '%s'", verb, argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("incidents", verb, "incidents %s: name one incident id", verb);
	if (cli_parse_id(verb, argv[optind], &id) != 0)
		return CLI_USAGE;
	if (expires != 0 && !allow)
		return cli_usage_error("incidents", verb, "--expires goes with --allowlist");
	if (expires != 0 && expires <= now)
		return cli_usage_error("incidents", verb, "--expires: that time has passed");
	if ((rc = cli_open_incident(c, "reading the incident", id, &st, &inc)) != CLI_OK)
		return rc;
	if (strcmp(inc.state, state) == 0) {
		printf("incident %lld is already %s; nothing to do\n", (long long)id, inc.state);
		incident_clear(&inc);
		store_close(st);
		return CLI_NOTFOUND;
	}
	if (!correlate_transition_ok(inc.state, state)) {
		cli_error(strcmp(inc.state, "resolved") == 0 || strcmp(inc.state, "false_positive") == 0 ?
		    "a closed incident stays closed; new events open a new one" : NULL,
		    "incident %lld: cannot go from %s to %s", (long long)id, inc.state, state);
		incident_clear(&inc);
		store_close(st);
		return CLI_USAGE;
	}
	rc = CLI_OK;
	if (store_begin(st) != 0 || store_incident_set_state(st, id, state, c->actor, note, now) != 0)
		rc = cli_store_fail(st, "changing the state");
	if (rc == CLI_OK && allow) {
		struct allowlist_entry e;
		char err[256], subj[320], object[64], *detail;
		int is_ip = strncmp(inc.subscriber, "ip:", 3) == 0;
		memset(&e, 0, sizeof e);
		e.type = is_ip ? AL_IP : AL_SUBSCRIBER;
		if (allowlist_normalize_subject(e.type, is_ip ? inc.subscriber + 3 : inc.subscriber, subj, sizeof subj,
		    err, sizeof err) != 0) {
			cli_error(NULL, "cannot allowlist '%s': %s", inc.subscriber, err);
			rc = CLI_USAGE;
		} else {
			e.subject = subj;
			e.scope = allowlist_normalize_scope(inc.kinds, err, sizeof err);
			e.created_ms = now;
			e.expires_ms = expires;
			e.owner = (char *)c->actor;
			e.reason = xasprintf("false positive, incident %lld%s%s", (long long)id, note ? ": " : "", note ? note : "");
			if (e.scope == NULL) {
				cli_error(NULL, "cannot allowlist: %s", err);
				rc = CLI_USAGE;
			} else if (store_allowlist_add(st, &e, &al_id) != 0)
				rc = cli_store_fail(st, "adding the allowlist entry");
			else {
				snprintf(object, sizeof object, "allowlist:%lld", (long long)al_id);
				detail = xasprintf("type=%s subject=%s scope=%s expires=%lld incident=%lld", allowlist_type_name(e.type),
				    e.subject, e.scope, (long long)e.expires_ms, (long long)id);
				if (store_audit(st, now, c->actor, "allowlist.add", object, detail) != 0)
					rc = cli_store_fail(st, "auditing the allowlist entry");
				free(detail);
				if (rc == CLI_OK) {
					char tb[40];
					printf("allowlisted %s %s for %s (entry %lld, %s%s)\n", allowlist_type_name(e.type), e.subject,
					    e.scope, (long long)al_id, expires ? "expires " : "no expiry",
					    expires ? out_time(expires, tb, sizeof tb) : "");
				}
			}
			free(e.scope);
			free(e.reason);
		}
	}
	if (rc == CLI_OK && store_commit(st) != 0)
		rc = cli_store_fail(st, "committing");
	if (rc != CLI_OK)
		store_rollback(st);
	else
		printf("incident %lld: %s -> %s (by %s)\n", (long long)id, inc.state, state, c->actor);
	incident_clear(&inc);
	store_close(st);
	return rc;
}
