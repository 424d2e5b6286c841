/*
 * cmd_admin.c - botsentry stats, audit and prune.
 */
#include "config.h"
#include "cli.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- stats */

struct stat_ctx {
	json_t *obj;             /* key -> n, or key -> {sub -> n} */
	struct table *t;
	int two;                 /* sub-keys are meaningful */
	int64_t total;
};

static int
stat_row(void *ud, const char *key, const char *sub, int64_t n)
{
	struct stat_ctx *k = ud;
	json_t *tmp_key, *tmp_sub;

	k->total += n;
	/* keys may come from outside (a complaint's feedback type): JSON keys
	 * must be UTF-8 */
	tmp_key = out_json_str(key);
	tmp_sub = out_json_str(sub);
	if (!json_is_string(tmp_key) || !json_is_string(tmp_sub)) {
		json_decref(tmp_key);
		json_decref(tmp_sub);
		return 0;
	}
	key = json_string_value(tmp_key);
	sub = json_string_value(tmp_sub);
	if (k->two) {
		json_t *inner = json_object_get(k->obj, key);
		if (inner == NULL) {
			inner = json_object();
			json_object_set_new(k->obj, key, inner);
		}
		json_object_set_new(inner, sub && *sub ? sub : "-", json_integer(n));
	} else
		json_object_set_new(k->obj, key, json_integer(n));
	table_row(k->t);
	table_cell(k->t, key);
	if (k->two)
		table_cell(k->t, sub && *sub ? sub : "-");
	table_cellf(k->t, "%lld", (long long)n);
	json_decref(tmp_key);
	json_decref(tmp_sub);
	return 0;
}

static const struct {
	enum store_stat which;
	const char *group, *name, *title, *col1, *col2;
} stat_list[] = {
	{ STORE_STAT_INCIDENTS_BY_STATE, "incidents", "by_state", "incidents opened in the period, by state", "STATE", NULL },
	{ STORE_STAT_INCIDENTS_BY_LEVEL, "incidents", "by_level", "incidents opened in the period, by level", "LEVEL", NULL },
	{ STORE_STAT_INCIDENTS_BY_KIND, "incidents", "by_kind", "incidents opened in the period, by detector", "KIND", NULL },
	{ STORE_STAT_INCIDENTS_BY_DAY, "incidents", "by_day", "incidents opened, by day (UTC)", "DAY", NULL },
	{ STORE_STAT_EVENTS_BY_KIND, "events", "by_kind", "events, by detector and source", "KIND", "SOURCE" },
	{ STORE_STAT_EVENTS_BY_DAY, "events", "by_day", "events, by day (UTC) and detector", "DAY", "KIND" },
	{ STORE_STAT_OPEN_BY_AGE, "incidents", "open_by_age", "incidents still active, by age and level", "AGE", "LEVEL" },
	{ STORE_STAT_NOTIFICATIONS_BY_STATUS, "notifications", "by_status", "notifications, by status and kind", "STATUS", "KIND" },
	{ STORE_STAT_COMPLAINTS_BY_STATUS, "complaints", "by_status", "complaints received (ARF), by status and type", "STATUS", "TYPE" },
};

int
cmd_stats(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int64_t now = bs_now_ms(), since = now - 30LL * 86400 * 1000;
	int ch, json = 0, rc = CLI_OK;
	size_t i;
	struct store *st;
	json_t *root;
	char tb[40];

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 's') {
			if (cli_parse_time_opt("--since", optarg, &since) != 0)
				return CLI_USAGE;
		} else if (ch == 'j')
			json = 1;
		else
			return cli_usage_error("stats", NULL, "stats: unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return cli_usage_error("stats", NULL, "stats: unexpected argument '%s'", argv[optind]);
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	root = json_object();
	json_object_set_new(root, "since", out_json_time(since));
	json_object_set_new(root, "now", out_json_time(now));
	if (!json)
		printf("%sstatistics since %s%s (--since changes the period)\n", out_sgr(OUT_BOLD),
		    out_time(since, tb, sizeof tb), out_reset());
	for (i = 0; i < BS_ARRAY_LEN(stat_list) && rc == CLI_OK; i++) {
		struct stat_ctx k;
		const char *cols[4];
		json_t *group = json_object_get(root, stat_list[i].group);
		int n = 0;
		if (group == NULL) {
			group = json_object();
			json_object_set_new(root, stat_list[i].group, group);
		}
		cols[n++] = stat_list[i].col1;
		if (stat_list[i].col2)
			cols[n++] = stat_list[i].col2;
		cols[n++] = "COUNT";
		cols[n] = NULL;
		memset(&k, 0, sizeof k);
		k.two = stat_list[i].col2 != NULL;
		k.obj = json_object();
		k.t = table_new(cols);
		table_right(k.t, n - 1);
		if (store_stats(st, stat_list[i].which, since, now, stat_row, &k) != 0)
			rc = cli_store_fail(st, "stats");
		else if (!json) {
			printf("\n%s (%lld)\n", stat_list[i].title, (long long)k.total);
			if (table_rows(k.t) > 0)
				table_print(k.t, stdout, c->is_tty, OUT_TEXT);
		}
		json_object_set_new(group, stat_list[i].name, k.obj);
		table_free(k.t);
	}
	if (rc == CLI_OK && json)
		out_json(root, stdout);
	else
		json_decref(root);
	store_close(st);
	return rc;
}

/* ---------------------------------------------------------------- audit */

struct audit_ctx {
	struct table *t;
	json_t *arr;
	const char *action;
	int limit, n;
};

static int
audit_row(void *ud, const struct audit_row *a)
{
	struct audit_ctx *k = ud;
	char tb[40];

	if (k->action != NULL && strcmp(a->action, k->action) != 0 &&
	    !(strchr(k->action, '.') == NULL && strncmp(a->action, k->action, strlen(k->action)) == 0 &&
	    a->action[strlen(k->action)] == '.'))
		return 0;
	if (k->limit > 0 && k->n >= k->limit)
		return 1;
	k->n++;
	if (k->arr != NULL) {
		json_array_append_new(k->arr, json_pack("{s:I, s:o, s:I, s:o, s:o, s:o, s:o}", "id", (json_int_t)a->id,
		    "time", out_json_time(a->ts_ms), "time_ms", (json_int_t)a->ts_ms, "actor", out_json_str(a->actor),
		    "action", out_json_str(a->action), "object", out_json_str(a->object), "detail", out_json_str(a->detail)));
		return 0;
	}
	table_row(k->t);
	table_cellf(k->t, "%lld", (long long)a->id);
	table_cell(k->t, out_time(a->ts_ms, tb, sizeof tb));
	table_cell(k->t, a->actor);
	table_cell(k->t, a->action);
	table_cell(k->t, *a->object ? a->object : "-");
	table_cell(k->t, *a->detail ? a->detail : "-");
	return 0;
}

int
cmd_audit(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "actor", required_argument, NULL, 'a' },
		{ "object", required_argument, NULL, 'o' },
		{ "action", required_argument, NULL, 'A' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const cols[] = { "ID", "TIME", "ACTOR", "ACTION", "OBJECT", "DETAIL", NULL };
	struct audit_ctx k;
	const char *actor = NULL, *object = NULL;
	int64_t since = 0;
	enum out_format fmt = OUT_TEXT;
	int ch, rc = CLI_OK;
	char *end;
	struct store *st;

	memset(&k, 0, sizeof k);
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (cli_parse_time_opt("--since", optarg, &since) != 0)
				return CLI_USAGE;
			break;
		case 'a': actor = optarg; break;
		case 'o': object = optarg; break;
		case 'A': k.action = optarg; break;
		case 'n':
			k.limit = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || k.limit <= 0)
				return cli_usage_error("audit", NULL, "--limit: expected a positive number, got '%s'", optarg);
			break;
		case 'j': fmt = OUT_JSON; break;
		case 'c': fmt = OUT_CSV; break;
		default:
			return cli_usage_error("audit", NULL, "audit: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("audit", NULL, "audit: unexpected argument '%s'", argv[optind]);
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	if (fmt == OUT_JSON)
		k.arr = json_array();
	else {
		k.t = table_new(cols);
		table_right(k.t, 0);
	}
	rc = store_audit_each(st, since, actor, object, k.action ? 0 : k.limit, audit_row, &k);
	if (rc != 0 && rc != 1) {
		rc = cli_store_fail(st, "audit");
		json_decref(k.arr);
	} else {
		rc = CLI_OK;
		if (fmt == OUT_JSON)
			out_json(k.arr, stdout);
		else if (fmt == OUT_CSV || table_rows(k.t) > 0 || !c->is_tty)
			table_print(k.t, stdout, c->is_tty, fmt);
		else
			printf("no audit rows match\n");
	}
	table_free(k.t);
	store_close(st);
	return rc;
}

/* ---------------------------------------------------------------- prune */

int
cmd_prune(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int64_t now = bs_now_ms(), ev_before, inc_before, notices_before, complaints = 0;
	struct prune_result r = { 0, 0, 0, 0, 0 };
	int ch, dry = 0, json = 0, rc = CLI_OK;
	struct store *st;
	char a[40], b[40];

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'n')
			dry = 1;
		else if (ch == 'j')
			json = 1;
		else
			return cli_usage_error("prune", NULL, "prune: unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return cli_usage_error("prune", NULL, "prune: unexpected argument '%s'", argv[optind]);
	ev_before = now - (int64_t)c->conf->retention_events_s * 1000;
	inc_before = now - (int64_t)c->conf->retention_incidents_s * 1000;
	/* a subscriber told within notify.subscriber_interval keeps the notice
	 * time, or the next notice would go out at once */
	notices_before = now - (int64_t)cfg_getint(cfg_getsec(c->conf->cfg, "notify"),
	    "subscriber_interval") * 1000;
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	/* a dry run does the work in a transaction and rolls it back */
	if (store_begin(st) != 0 || store_prune(st, ev_before, inc_before, notices_before, c->actor, now, &r) != 0 ||
	    store_fbl_complaints_prune(st, ev_before, &complaints) != 0)
		rc = cli_store_fail(st, "prune");
	if (rc == CLI_OK && !dry && store_commit(st) != 0)
		rc = cli_store_fail(st, "prune: commit");
	if (rc != CLI_OK || dry)
		store_rollback(st);
	if (rc == CLI_OK) {
		if (json)
			out_json(json_pack("{s:b, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "dry_run", dry,
			    "events_before", out_json_time(ev_before), "incidents_before", out_json_time(inc_before),
			    "events_deleted", (json_int_t)r.events_deleted,
			    "incidents_anonymized", (json_int_t)r.incidents_anonymized,
			    "deliveries_anonymized", (json_int_t)r.deliveries_anonymized,
			    "notices_deleted", (json_int_t)r.notices_deleted,
			    "leases_deleted", (json_int_t)r.leases_deleted,
			    "complaints_deleted", (json_int_t)complaints), stdout);
		else
			printf("%s%lld event%s older than %s deleted, %lld closed incident%s (closed before %s) anonymized "
			    "with %lld deliver%s, %lld complaint%s, %lld notice time%s and %lld lease%s deleted\n",
			    dry ? "dry run, nothing changed: " : "",
			    (long long)r.events_deleted, r.events_deleted == 1 ? "" : "s", out_time(ev_before, a, sizeof a),
			    (long long)r.incidents_anonymized, r.incidents_anonymized == 1 ? "" : "s",
			    out_time(inc_before, b, sizeof b),
			    (long long)r.deliveries_anonymized, r.deliveries_anonymized == 1 ? "y" : "ies",
			    (long long)complaints, complaints == 1 ? "" : "s",
			    (long long)r.notices_deleted, r.notices_deleted == 1 ? "" : "s",
			    (long long)r.leases_deleted, r.leases_deleted == 1 ? "" : "s");
	}
	store_close(st);
	return rc;
}
