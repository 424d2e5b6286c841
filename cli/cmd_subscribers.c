/*
 * cmd_subscribers.c - botsentry subscribers import|show|mitigate|release,
 * and the lookup of a subscriber by id, login or address at a time that
 * other commands share.
 */
#include "config.h"
#include "allowlist.h"
#include "cli.h"
#include "leases.h"
#include "subcsv.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- lookup */

int
cli_resolve_subscriber(struct cli *c, struct store *st, const char *id, const char *login,
    const char *ip, int64_t at_ms, char **out, const char **how)
{
	*out = NULL;
	if (id != NULL) {
		*out = xstrdup(id);
		*how = "id";
		return CLI_OK;
	}
	if (login != NULL) {
		int rc = store_subscriber_by_login(st, login, out);
		*how = "login";
		if (rc == STORE_NOTFOUND) {
			cli_error("botsentry subscribers import sets logins (4th column); by default the login is the id",
			    "no subscriber has the login '%s'", login);
			return CLI_NOTFOUND;
		}
		return rc == 0 ? CLI_OK : cli_store_fail(st, "looking up a login");
	}
	if (ip != NULL) {
		char err[256], tb[40];
		struct lease_table *t = lease_table_load(c->conf, st, err, sizeof err);
		const char *who;
		*how = "lease";
		if (t == NULL) {
			cli_error("check the leases section of the config", "cannot load the lease history: %s", err);
			return CLI_STORE;
		}
		who = lease_table_lookup(t, ip, at_ms);
		if (who == NULL) {
			cli_error("botsentry leases import adds lease history; --at picks the time",
			    "nobody held %s at %s (no lease covers it)", ip, out_time(at_ms, tb, sizeof tb));
			lease_table_free(t);
			return CLI_NOTFOUND;
		}
		*out = xstrdup(who);
		lease_table_free(t);
		return CLI_OK;
	}
	return CLI_USAGE;
}

json_t *
cli_lease_json(const struct lease *l)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "prefix", out_json_str(l->prefix), "subscriber", out_json_str(l->subscriber),
	    "valid_from", out_json_time(l->valid_from),
	    "valid_to", l->valid_to == INT64_MAX ? json_null() : out_json_time(l->valid_to),
	    "source", out_json_str(l->source));
}

/* ---------------------------------------------------------------- import */

int
cmd_subscribers_import(struct cli *c, int argc, char **argv)
{
	FILE *f;
	const char *name;
	char *line = NULL, err[256];
	size_t cap = 0, i;
	ssize_t len;
	long lineno = 0, bad = 0;
	struct subcsv_row *rows = NULL;
	size_t n = 0, rcap = 0;
	struct store *st;
	int rc = CLI_OK;

	if (argc != 2)
		return cli_usage_error("subscribers", "import", "subscribers import: name one CSV file (or -)");
	name = strcmp(argv[1], "-") == 0 ? "(stdin)" : argv[1];
	f = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
	if (f == NULL) {
		cli_error("check the path", "cannot open %s: %s", argv[1], strerror(errno));
		return CLI_NOTFOUND;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct subcsv_row row;
		int r;
		lineno++;
		r = subcsv_parse_line(line, (size_t)len, lineno == 1, &row, err, sizeof err);
		if (r < 0) {
			fprintf(stderr, "%s:%ld: %s\n", name, lineno, err);
			bad++;
			continue;
		}
		if (r == 0)
			continue;
		if (n == rcap) {
			rcap = rcap ? rcap * 2 : 256;
			rows = xrealloc(rows, rcap * sizeof *rows);
		}
		rows[n++] = row;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (bad > 0) {
		cli_error("fix the lines named above and import again",
		    "subscribers import: %ld bad line%s in %s: nothing was imported", bad, bad == 1 ? "" : "s", name);
		rc = CLI_USAGE;
		goto out;
	}
	if (n == 0) {
		cli_error(NULL, "subscribers import: %s holds no subscribers", name);
		rc = CLI_NOTFOUND;
		goto out;
	}
	if ((st = cli_open_store(c)) == NULL) {
		rc = CLI_STORE;
		goto out;
	}
	if (store_begin(st) != 0)
		rc = cli_store_fail(st, "subscribers import");
	for (i = 0; rc == CLI_OK && i < n; i++) {
		if (store_subscriber_upsert(st, rows[i].id, rows[i].email, rows[i].name) != 0 ||
		    (rows[i].login != NULL && store_subscriber_login_set(st, rows[i].login, rows[i].id) != 0)) {
			char what[128];
			snprintf(what, sizeof what, "subscribers import: row for '%.60s'", rows[i].id);
			rc = cli_store_fail(st, what);
		}
	}
	if (rc == CLI_OK) {
		char detail[64];
		snprintf(detail, sizeof detail, "subscribers=%zu", n);
		if (store_audit(st, bs_now_ms(), c->actor, "subscribers.import", "", detail) != 0 ||
		    store_commit(st) != 0)
			rc = cli_store_fail(st, "subscribers import");
	}
	if (rc != CLI_OK)
		store_rollback(st);
	else
		printf("imported %zu subscriber%s\n", n, n == 1 ? "" : "s");
	store_close(st);
out:
	for (i = 0; i < n; i++)
		subcsv_row_clear(&rows[i]);
	free(rows);
	return rc;
}

/* ---------------------------------------------------------------- show */

struct show {
	json_t *leases, *incidents, *allow;
	struct table *lt, *it, *at;
	const char *who;
	int64_t now;
};

static int
show_lease(void *ud, const struct lease *l)
{
	struct show *s = ud;
	char a[40], b[40];

	json_array_append_new(s->leases, cli_lease_json(l));
	table_row(s->lt);
	table_cell(s->lt, l->prefix);
	table_cell(s->lt, out_time(l->valid_from, a, sizeof a));
	table_cell(s->lt, l->valid_to == INT64_MAX ? "open" : out_time(l->valid_to, b, sizeof b));
	table_cell(s->lt, l->source);
	return 0;
}

static int
show_incident(void *ud, const struct incident *inc)
{
	struct show *s = ud;
	char a[40];

	json_array_append_new(s->incidents, cli_incident_json(inc));
	table_row(s->it);
	table_cellf(s->it, "%lld", (long long)inc->id);
	table_cell(s->it, inc->state);
	table_colour(s->it, cli_state_colour(inc->state));
	table_cellf(s->it, "%d", inc->level);
	table_colour(s->it, cli_level_colour(inc->level));
	table_cellf(s->it, "%.1f", inc->score);
	table_cell(s->it, out_time(inc->opened_ms, a, sizeof a));
	table_cell(s->it, inc->kinds);
	return 0;
}

static int
show_allow(void *ud, const struct allowlist_entry *e)
{
	struct show *s = ud;
	char a[40];

	if (e->type != AL_SUBSCRIBER || strcmp(e->subject, s->who) != 0)
		return 0;
	json_array_append_new(s->allow, cli_allowlist_json(e, s->now));
	table_row(s->at);
	table_cellf(s->at, "%lld", (long long)e->id);
	table_cell(s->at, e->scope);
	table_cell(s->at, e->expires_ms ? out_time(e->expires_ms, a, sizeof a) : "never");
	table_cell(s->at, e->reason);
	return 0;
}

int
cmd_subscribers_show(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "login", required_argument, NULL, 'l' },
		{ "ip", required_argument, NULL, 'i' },
		{ "at", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const lcols[] = { "PREFIX", "FROM", "TO", "SOURCE", NULL };
	static const char *const icols[] = { "ID", "STATE", "LEVEL", "SCORE", "OPENED", "KINDS", NULL };
	static const char *const acols[] = { "ID", "SCOPE", "EXPIRES", "REASON", NULL };
	const char *login = NULL, *ip = NULL, *id = NULL, *how = NULL;
	int64_t at = bs_now_ms();
	int ch, json = 0, rc, found;
	struct store *st;
	struct subscriber sub;
	struct incident_filter flt;
	struct show s;
	char *who = NULL, tb[40];

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			login = optarg;
			break;
		case 'i':
			ip = optarg;
			break;
		case 't':
			if (cli_parse_time_opt("--at", optarg, &at) != 0)
				return CLI_USAGE;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return cli_usage_error("subscribers", "show", "subscribers show: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind < argc)
		return cli_usage_error("subscribers", "show", "subscribers show: unexpected '%s'", argv[optind]);
	if ((id != NULL) + (login != NULL) + (ip != NULL) != 1)
		return cli_usage_error("subscribers", "show", "subscribers show: give one of ID, --login LOGIN or --ip IP");
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	if ((rc = cli_resolve_subscriber(c, st, id, login, ip, at, &who, &how)) != CLI_OK) {
		store_close(st);
		return rc;
	}
	rc = store_subscriber_get(st, who, &sub);
	if (rc == STORE_ERR) {
		rc = cli_store_fail(st, "subscribers show");
		goto out;
	}
	found = rc == 0;
	memset(&s, 0, sizeof s);
	s.who = who;
	s.now = bs_now_ms();
	s.leases = json_array();
	s.incidents = json_array();
	s.allow = json_array();
	s.lt = table_new(lcols);
	s.it = table_new(icols);
	s.at = table_new(acols);
	table_right(s.it, 0);
	table_right(s.at, 0);
	memset(&flt, 0, sizeof flt);
	flt.subscriber = who;
	flt.sort = "opened";
	flt.descending = 1;
	if (store_leases_of(st, who, show_lease, &s) != 0 || store_incidents_list(st, &flt, show_incident, &s) != 0 ||
	    store_allowlist_each(st, 0, show_allow, &s) != 0) {
		rc = cli_store_fail(st, "subscribers show");
	} else if (!found && json_array_size(s.leases) == 0 && json_array_size(s.incidents) == 0) {
		cli_error("botsentry subscribers import adds subscribers", "no subscriber '%s'", who);
		rc = CLI_NOTFOUND;
	} else if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "id", out_json_str(who));
		json_object_set_new(o, "found_by", json_string(how));
		json_object_set_new(o, "known", json_boolean(found));
		json_object_set_new(o, "email", out_json_str(found ? sub.email : NULL));
		json_object_set_new(o, "name", out_json_str(found ? sub.name : NULL));
		json_object_set_new(o, "mitigation", json_string(found && sub.mitigation ? sub.mitigation : "monitor"));
		json_object_set_new(o, "mitigation_since", out_json_time(found ? sub.mitigation_since : 0));
		json_object_set_new(o, "mitigation_by", out_json_str(found ? sub.mitigation_by : NULL));
		json_object_set(o, "leases", s.leases);
		json_object_set(o, "incidents", s.incidents);
		json_object_set(o, "allowlist", s.allow);
		out_json(o, stdout);
		rc = CLI_OK;
	} else {
		const char *mit = found && sub.mitigation ? sub.mitigation : "monitor";
		printf("%ssubscriber %s%s%s\n", out_sgr(OUT_BOLD), who, out_reset(),
		    strcmp(how, "id") == 0 ? "" : strcmp(how, "login") == 0 ? "  (by login)" : "  (by lease)");
		if (!found)
			printf("  not in the subscribers table (seen in leases or incidents only)\n");
		else {
			char *e = out_clean(sub.email ? sub.email : "-"), *n = out_clean(sub.name ? sub.name : "-");
			printf("  name        %s\n  email       %s\n", n, e);
			free(e);
			free(n);
		}
		printf("  mitigation  %s%s%s", strcmp(mit, "monitor") ? out_sgr(OUT_RED) : "", mit,
		    strcmp(mit, "monitor") ? out_reset() : "");
		if (found && sub.mitigation_since > 0)
			printf(" since %s by %s", out_time(sub.mitigation_since, tb, sizeof tb),
			    sub.mitigation_by ? sub.mitigation_by : "?");
		printf("\n\nleases (%zu)\n", table_rows(s.lt));
		if (table_rows(s.lt))
			table_print(s.lt, stdout, c->is_tty, OUT_TEXT);
		printf("\nincidents (%zu)\n", table_rows(s.it));
		if (table_rows(s.it))
			table_print(s.it, stdout, c->is_tty, OUT_TEXT);
		printf("\nallowlist entries for this subscriber (%zu)\n", table_rows(s.at));
		if (table_rows(s.at))
			table_print(s.at, stdout, c->is_tty, OUT_TEXT);
		rc = CLI_OK;
	}
	json_decref(s.leases);
	json_decref(s.incidents);
	json_decref(s.allow);
	table_free(s.lt);
	table_free(s.it);
	table_free(s.at);
	if (found)
		subscriber_clear(&sub);
out:
	free(who);
	store_close(st);
	return rc;
}

/* ---------------------------------------------------------------- mitigate, release */

struct who {
	const char *id, *login, *ip;
	int64_t at;
};

static int
set_mitigation(struct cli *c, const char *verb, const struct who *w, const char *action, const char *note)
{
	struct store *st;
	struct subscriber sub;
	int rc;
	char object[300], *detail, *resolved = NULL;
	const char *how, *id;

	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	if ((rc = cli_resolve_subscriber(c, st, w->id, w->login, w->ip, w->at, &resolved, &how)) != CLI_OK) {
		store_close(st);
		return rc;
	}
	id = resolved;
	if (strcmp(how, "id") != 0)
		printf("%s %s is subscriber %s\n", strcmp(how, "login") == 0 ? "login" : "address",
		    strcmp(how, "login") == 0 ? w->login : w->ip, id);
	rc = store_subscriber_get(st, id, &sub);
	if (rc == STORE_NOTFOUND) {
		cli_error("botsentry subscribers import adds subscribers", "no subscriber '%s'", id);
		free(resolved);
		store_close(st);
		return CLI_NOTFOUND;
	}
	if (rc != 0) {
		rc = cli_store_fail(st, "reading the subscriber");
		free(resolved);
		store_close(st);
		return rc;
	}
	if (sub.mitigation != NULL && strcmp(sub.mitigation, action) == 0) {
		printf("subscriber %s: mitigation is already %s; nothing to do\n", id, action);
		subscriber_clear(&sub);
		free(resolved);
		store_close(st);
		return CLI_NOTFOUND;
	}
	snprintf(object, sizeof object, "subscriber:%s", id);
	detail = xasprintf("from=%s to=%s%s%s", sub.mitigation ? sub.mitigation : "monitor", action,
	    note ? " note=" : "", note ? note : "");
	rc = CLI_OK;
	if (store_begin(st) != 0 || store_subscriber_set_mitigation(st, id, action, c->actor, bs_now_ms()) != 0 ||
	    store_audit(st, bs_now_ms(), c->actor, strcmp(verb, "release") == 0 ? "subscriber.release" : "subscriber.mitigate", object, detail) != 0 || store_commit(st) != 0) {
		rc = cli_store_fail(st, "setting the mitigation");
		store_rollback(st);
	} else
		printf("subscriber %s: mitigation %s -> %s (by %s)\n", id, sub.mitigation ? sub.mitigation : "monitor",
		    action, c->actor);
	free(detail);
	subscriber_clear(&sub);
	free(resolved);
	store_close(st);
	return rc;
}

static int
mitigation_args(const char *verb, int argc, char **argv, struct who *w, const char **action,
    const char **note)
{
	static const struct option opts[] = {
		{ "action", required_argument, NULL, 'a' },
		{ "note", required_argument, NULL, 'n' },
		{ "login", required_argument, NULL, 'l' },
		{ "ip", required_argument, NULL, 'i' },
		{ "at", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(w, 0, sizeof *w);
	w->at = bs_now_ms();
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a' && strcmp(verb, "mitigate") == 0)
			*action = optarg;
		else if (ch == 'n')
			*note = optarg;
		else if (ch == 'l')
			w->login = optarg;
		else if (ch == 'i')
			w->ip = optarg;
		else if (ch == 't') {
			if (cli_parse_time_opt("--at", optarg, &w->at) != 0)
				return CLI_USAGE;
		} else
			return cli_usage_error("subscribers", verb, "subscribers %s: unknown option '%s'", verb, argv[optind - 1]);
	}
	if (optind < argc)
		w->id = argv[optind++];
	if (optind < argc)
		return cli_usage_error("subscribers", verb, "subscribers %s: unexpected '%s'", verb, argv[optind]);
	if ((w->id != NULL) + (w->login != NULL) + (w->ip != NULL) != 1)
		return cli_usage_error("subscribers", verb, "subscribers %s: give one of ID, --login LOGIN or --ip IP", verb);
	return CLI_OK;
}

int
cmd_subscribers_mitigate(struct cli *c, int argc, char **argv)
{
	const char *action = NULL, *note = NULL;
	struct who w;
	int rc;

	if ((rc = mitigation_args("mitigate", argc, argv, &w, &action, &note)) != CLI_OK)
		return rc;
	if (action == NULL || (strcmp(action, "throttle") != 0 && strcmp(action, "quarantine") != 0 &&
	    strcmp(action, "reject") != 0))
		return cli_usage_error("subscribers", "mitigate",
		    "subscribers mitigate: --action throttle, quarantine or reject is needed");
	return set_mitigation(c, "mitigate", &w, action, note);
}

int
cmd_subscribers_release(struct cli *c, int argc, char **argv)
{
	const char *action = NULL, *note = NULL;
	struct who w;
	int rc;

	if ((rc = mitigation_args("release", argc, argv, &w, &action, &note)) != CLI_OK)
		return rc;
	return set_mitigation(c, "release", &w, "monitor", note);
}
