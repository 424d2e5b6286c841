/*
 * cmd_allowlist.c - botsentry allowlist add|remove|list|check.
 *
 * Every change is audited.  `check` answers the question the desk is asked
 * most: would this detector fire on this subscriber, address or sender, and
 * if an entry was meant to silence it, why does it not (expired, a
 * detector outside its scope, a different subject)?
 */
#include "config.h"
#include "allowlist.h"
#include "cli.h"
#include "leases.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

json_t *
cli_allowlist_json(const struct allowlist_entry *e, int64_t now_ms)
{
	json_t *scope = json_array();
	const char *p = e->scope ? e->scope : "*";

	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		json_array_append_new(scope, json_stringn(p, n));
		p = comma ? comma + 1 : NULL;
	}
	return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "id", (json_int_t)e->id,
	    "type", allowlist_type_name(e->type), "subject", out_json_str(e->subject), "scope", scope,
	    "created", out_json_time(e->created_ms), "expires", out_json_time(e->expires_ms),
	    "expired", e->expires_ms != 0 && e->expires_ms <= now_ms,
	    "owner", out_json_str(e->owner), "reason", out_json_str(e->reason));
}

static void
entry_row(struct table *t, const struct allowlist_entry *e, int64_t now)
{
	char tb[40];
	int expired = e->expires_ms != 0 && e->expires_ms <= now;

	table_row(t);
	table_cellf(t, "%lld", (long long)e->id);
	table_cell(t, allowlist_type_name(e->type));
	table_cell(t, e->subject);
	table_cell(t, e->scope);
	if (e->expires_ms == 0)
		table_cell(t, "never");
	else {
		table_cellf(t, "%s%s", out_time(e->expires_ms, tb, sizeof tb), expired ? " (expired)" : "");
		if (expired)
			table_colour(t, OUT_DIM);
	}
	table_cell(t, e->owner);
	table_cell(t, e->reason);
}

static const char *const entry_cols[] = { "ID", "TYPE", "SUBJECT", "SCOPE", "EXPIRES", "OWNER", "REASON", NULL };

/* ---------------------------------------------------------------- add */

int
cmd_allowlist_add(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "subscriber", required_argument, NULL, AL_SUBSCRIBER },
		{ "ip", required_argument, NULL, AL_IP },
		{ "sender", required_argument, NULL, AL_SENDER },
		{ "domain", required_argument, NULL, AL_DOMAIN },
		{ "scope", required_argument, NULL, 's' },
		{ "expires", required_argument, NULL, 'e' },
		{ "reason", required_argument, NULL, 'r' },
		{ "owner", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct allowlist_entry e;
	const char *subject = NULL, *scope = "*", *reason = NULL, *owner = NULL;
	enum allowlist_type type = 0;
	int ch, json = 0, rc = CLI_OK, nsubj = 0;
	int64_t expires = 0, id = 0, now = bs_now_ms();
	char subj[320], err[256], object[64], *detail;
	struct store *st;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case AL_SUBSCRIBER: case AL_IP: case AL_SENDER: case AL_DOMAIN:
			type = (enum allowlist_type)ch;
			subject = optarg;
			nsubj++;
			break;
		case 's': scope = optarg; break;
		case 'e':
			if (cli_parse_expiry("--expires", optarg, &expires) != 0)
				return CLI_USAGE;
			break;
		case 'r': reason = optarg; break;
		case 'o': owner = optarg; break;
		case 'j': json = 1; break;
		default:
			return cli_usage_error("allowlist", "add", "allowlist add: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("allowlist", "add", "allowlist add: unexpected argument '%s'", argv[optind]);
	if (nsubj != 1)
		return cli_usage_error("allowlist", "add", "allowlist add: give exactly one of --subscriber, --ip, --sender, --domain");
	if (reason == NULL || *reason == '\0')
		return cli_usage_error("allowlist", "add", "allowlist add: --reason is needed (the next person will ask why)");
	if (allowlist_normalize_subject(type, subject, subj, sizeof subj, err, sizeof err) != 0)
		return cli_usage_error("allowlist", "add", "allowlist add: --%s: %s", allowlist_type_name(type), err);
	memset(&e, 0, sizeof e);
	e.type = type;
	e.subject = subj;
	if ((e.scope = allowlist_normalize_scope(scope, err, sizeof err)) == NULL)
		return cli_usage_error("allowlist", "add", "allowlist add: --%s", err);
	e.created_ms = now;
	e.expires_ms = expires;
	e.owner = (char *)(owner ? owner : c->actor);
	e.reason = (char *)reason;
	if ((st = cli_open_store(c)) == NULL) {
		free(e.scope);
		return CLI_STORE;
	}
	if (store_begin(st) != 0 || store_allowlist_add(st, &e, &id) != 0)
		rc = cli_store_fail(st, "allowlist add");
	if (rc == CLI_OK) {
		e.id = id;
		snprintf(object, sizeof object, "allowlist:%lld", (long long)id);
		detail = xasprintf("type=%s subject=%s scope=%s expires=%lld owner=%s reason=%s", allowlist_type_name(type),
		    e.subject, e.scope, (long long)expires, e.owner, reason);
		if (store_audit(st, now, c->actor, "allowlist.add", object, detail) != 0 || store_commit(st) != 0)
			rc = cli_store_fail(st, "allowlist add");
		free(detail);
	}
	if (rc != CLI_OK)
		store_rollback(st);
	else if (json)
		out_json(cli_allowlist_json(&e, now), stdout);
	else {
		char tb[40];
		printf("allowlist entry %lld: %s %s, detectors %s, %s%s\n", (long long)id, allowlist_type_name(type), e.subject,
		    e.scope, expires ? "expires " : "never expires", expires ? out_time(expires, tb, sizeof tb) : "");
	}
	free(e.scope);
	store_close(st);
	return rc;
}

/* ---------------------------------------------------------------- remove */

int
cmd_allowlist_remove(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "note", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
	const char *note = NULL;
	struct allowlist_entry e;
	struct store *st;
	int64_t id;
	int ch, rc;
	char object[64], *detail;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'n')
			note = optarg;
		else
			return cli_usage_error("allowlist", "remove", "allowlist remove: unknown option '%s'", argv[optind - 1]);
	}
	if (optind + 1 != argc)
		return cli_usage_error("allowlist", "remove", "allowlist remove: name one entry id");
	if (cli_parse_id("allowlist remove", argv[optind], &id) != 0)
		return CLI_USAGE;
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	rc = store_allowlist_get(st, id, &e);
	if (rc == STORE_NOTFOUND) {
		cli_error("botsentry allowlist list shows the ids", "no allowlist entry %lld", (long long)id);
		store_close(st);
		return CLI_NOTFOUND;
	}
	if (rc != 0) {
		rc = cli_store_fail(st, "allowlist remove");
		store_close(st);
		return rc;
	}
	snprintf(object, sizeof object, "allowlist:%lld", (long long)id);
	detail = xasprintf("type=%s subject=%s scope=%s owner=%s reason=%s%s%s", allowlist_type_name(e.type), e.subject,
	    e.scope, e.owner, e.reason, note ? " note=" : "", note ? note : "");
	rc = CLI_OK;
	if (store_begin(st) != 0 || store_allowlist_remove(st, id) != 0 ||
	    store_audit(st, bs_now_ms(), c->actor, "allowlist.remove", object, detail) != 0 || store_commit(st) != 0) {
		rc = cli_store_fail(st, "allowlist remove");
		store_rollback(st);
	} else
		printf("removed allowlist entry %lld (%s %s)\n", (long long)id, allowlist_type_name(e.type), e.subject);
	free(detail);
	allowlist_entry_clear(&e);
	store_close(st);
	return rc;
}

/* ---------------------------------------------------------------- list */

struct list_ctx {
	struct table *t;
	json_t *arr;
	int64_t now;
};

static int
list_one(void *ud, const struct allowlist_entry *e)
{
	struct list_ctx *k = ud;

	if (k->arr)
		json_array_append_new(k->arr, cli_allowlist_json(e, k->now));
	else
		entry_row(k->t, e, k->now);
	return 0;
}

int
cmd_allowlist_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct list_ctx k;
	enum out_format fmt = OUT_TEXT;
	int ch, all = 0, rc = CLI_OK;
	struct store *st;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a')
			all = 1;
		else if (ch == 'j')
			fmt = OUT_JSON;
		else if (ch == 'c')
			fmt = OUT_CSV;
		else
			return cli_usage_error("allowlist", "list", "allowlist list: unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return cli_usage_error("allowlist", "list", "allowlist list: unexpected argument '%s'", argv[optind]);
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	memset(&k, 0, sizeof k);
	k.now = bs_now_ms();
	if (fmt == OUT_JSON)
		k.arr = json_array();
	else {
		k.t = table_new(entry_cols);
		table_right(k.t, 0);
	}
	if (store_allowlist_each(st, all ? 0 : k.now, list_one, &k) != 0) {
		rc = cli_store_fail(st, "allowlist list");
		json_decref(k.arr);
	} else if (fmt == OUT_JSON)
		out_json(k.arr, stdout);
	else if (fmt == OUT_CSV || table_rows(k.t) > 0 || !c->is_tty)
		table_print(k.t, stdout, c->is_tty, fmt);
	else
		printf("the allowlist is empty%s\n", all ? "" : " (--all shows expired entries)");
	table_free(k.t);
	store_close(st);
	return rc;
}

/* ---------------------------------------------------------------- check */

struct check_ctx {
	struct allowlist *al;
	json_t *arr;
	struct table *t;
	int64_t now;
	int near;
};

static int
load_one(void *ud, const struct allowlist_entry *e)
{
	struct check_ctx *k = ud;
	char err[256];

	if (allowlist_add(k->al, e, err, sizeof err) != 0)
		fprintf(stderr, "botsentry: allowlist entry %lld is unusable: %s\n", (long long)e->id, err);
	return 0;
}

static const char *
verdict_key(enum allowlist_verdict v)
{
	switch (v) {
	case AL_MATCH: return "match";
	case AL_NO_SUBJECT: return "different_subject";
	case AL_OUT_OF_SCOPE: return "out_of_scope";
	case AL_EXPIRED: return "expired";
	case AL_NOT_COMPARABLE: return "not_comparable";
	}
	return "?";
}

static int
explain_one(void *ud, const struct allowlist_entry *e, enum allowlist_verdict v)
{
	struct check_ctx *k = ud;

	if (v == AL_NO_SUBJECT || v == AL_NOT_COMPARABLE)
		return 0;
	k->near++;
	if (k->arr != NULL) {
		json_array_append_new(k->arr, json_pack("{s:o, s:s, s:s}", "entry", cli_allowlist_json(e, k->now),
		    "verdict", verdict_key(v), "why", allowlist_verdict_text(v)));
		return 0;
	}
	entry_row(k->t, e, k->now);
	table_cell(k->t, v == AL_MATCH ? "MATCHES" : allowlist_verdict_text(v));
	table_colour(k->t, v == AL_MATCH ? OUT_GREEN : OUT_YELLOW);
	return 0;
}

int
cmd_allowlist_check(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "subscriber", required_argument, NULL, 's' },
		{ "ip", required_argument, NULL, 'i' },
		{ "sender", required_argument, NULL, 'e' },
		{ "at", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const cols[] = { "ID", "TYPE", "SUBJECT", "SCOPE", "EXPIRES", "OWNER", "REASON", "VERDICT", NULL };
	struct allowlist_query q;
	struct check_ctx k;
	const struct allowlist_entry *m;
	struct store *st;
	int ch, json = 0, rc = CLI_OK;
	char *leased = NULL, tb[40];

	memset(&q, 0, sizeof q);
	q.now_ms = bs_now_ms();
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': q.kind = optarg; break;
		case 's': q.subscriber = optarg; break;
		case 'i': q.ip = optarg; break;
		case 'e': q.sender = optarg; break;
		case 't':
			if (cli_parse_time_opt("--at", optarg, &q.now_ms) != 0)
				return CLI_USAGE;
			break;
		case 'j': json = 1; break;
		default:
			return cli_usage_error("allowlist", "check", "allowlist check: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("allowlist", "check", "allowlist check: unexpected argument '%s'", argv[optind]);
	if (q.subscriber == NULL && q.ip == NULL && q.sender == NULL)
		return cli_usage_error("allowlist", "check", "allowlist check: give --subscriber, --ip or --sender (or several)");
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	/* the milter knows who holds the address: so does the check */
	if (q.ip != NULL && q.subscriber == NULL) {
		char err[256];
		struct lease_table *t = lease_table_load(c->conf, st, err, sizeof err);
		if (t != NULL) {
			const char *who = lease_table_lookup(t, q.ip, q.now_ms);
			if (who != NULL) {
				leased = xstrdup(who);
				q.subscriber = leased;
			}
			lease_table_free(t);
		}
	}
	memset(&k, 0, sizeof k);
	k.now = q.now_ms;
	k.al = allowlist_new();
	if (store_allowlist_each(st, 0, load_one, &k) != 0) {
		rc = cli_store_fail(st, "allowlist check");
		goto out;
	}
	m = allowlist_match(k.al, &q);
	if (json) {
		json_t *o = json_object();
		k.arr = json_array();
		allowlist_explain(k.al, &q, explain_one, &k);
		json_object_set_new(o, "query", json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}", "kind", out_json_str(q.kind),
		    "subscriber", out_json_str(q.subscriber), "ip", out_json_str(q.ip), "sender", out_json_str(q.sender),
		    "at", out_json_time(q.now_ms), "subscriber_from_lease", leased != NULL));
		json_object_set_new(o, "allowlisted", json_boolean(m != NULL));
		json_object_set_new(o, "match", m ? cli_allowlist_json(m, k.now) : json_null());
		json_object_set_new(o, "considered", k.arr);
		out_json(o, stdout);
	} else {
		k.t = table_new(cols);
		table_right(k.t, 0);
		allowlist_explain(k.al, &q, explain_one, &k);
		if (leased != NULL)
			printf("%s was held by subscriber %s at %s\n", q.ip, leased, out_time(q.now_ms, tb, sizeof tb));
		if (m != NULL)
			printf("%sallowlisted%s by entry %lld (%s %s, detectors %s): %s\n", out_sgr(OUT_GREEN), out_reset(),
			    (long long)m->id, allowlist_type_name(m->type), m->subject, m->scope, m->reason);
		else
			printf("%snot allowlisted%s: %s would fire%s\n", out_sgr(OUT_RED), out_reset(),
			    q.kind ? q.kind : "any detector", k.near ? "; entries that concern this question:" : " (no entry concerns it)");
		if (k.near > 0 && (m == NULL || k.near > 1)) {
			if (m != NULL)
				printf("entries that concern this question:\n");
			table_print(k.t, stdout, c->is_tty, OUT_TEXT);
		}
	}
	rc = m != NULL ? CLI_OK : CLI_NOTFOUND;
out:
	table_free(k.t);
	allowlist_free(k.al);
	free(leased);
	store_close(st);
	return rc;
}
