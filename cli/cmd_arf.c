/*
 * cmd_arf.c - complaints in and out, in the Abuse Reporting Format
 * (RFC 5965): botsentry report ID, botsentry ingest-arf FILE|-, and
 * botsentry complaints list.
 *
 * ingest-arf reads one message or an mbox, attributes each report to the
 * subscriber who held the Source-IP at the Arrival-Date (lease history),
 * or else to whoever held an address in the reported message's Received
 * trace at that hop's time, and records an fbl_complaint event.  Every
 * report read is kept in fbl_complaints, attributed or not, so that none
 * is lost; a report fed twice counts once.  Header values the desk sees
 * (From, Subject, User-Agent) come from lib/arf.c with their RFC 2047
 * encoded-words decoded into clean UTF-8.
 */
#include "config.h"
#include "allowlist.h"
#include "arf.h"
#include "cli.h"
#include "leases.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FBL_DEFAULT_SCORE 5.0

/* ---------------------------------------------------------------- report */

struct report_ctx {
	int64_t first_ms, last_ms, ip_ms;
	char ip[EVENT_IP_MAX];
	char helo[128];
	char node[EVENT_NODE_MAX];
	int n;
};

static int
report_event(void *ud, const struct stored_event *e)
{
	struct report_ctx *k = ud;
	json_t *ev;

	k->n++;
	if (k->first_ms == 0 || e->ev.ts_ms < k->first_ms)
		k->first_ms = e->ev.ts_ms;
	if (e->ev.ts_ms > k->last_ms)
		k->last_ms = e->ev.ts_ms;
	if (e->ev.client_ip[0] != '\0' && e->ev.ts_ms >= k->ip_ms) {
		k->ip_ms = e->ev.ts_ms;
		bs_strlcpy(k->ip, e->ev.client_ip, sizeof k->ip);
		bs_strlcpy(k->node, e->ev.node, sizeof k->node);
	}
	ev = json_loads(e->ev.evidence ? e->ev.evidence : "{}", 0, NULL);
	if (ev != NULL && k->helo[0] == '\0') {
		json_t *h = json_object_get(ev, "helo");
		if (json_is_array(h))
			h = json_array_get(h, 0);
		if (json_is_string(h)) {
			const char *s = json_string_value(h);
			size_t i, o = 0;
			for (i = 0; s[i] != '\0' && o < sizeof k->helo - 1; i++)
				if ((unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f && s[i] != '(' && s[i] != ')')
					k->helo[o++] = s[i];
			k->helo[o] = '\0';
		}
	}
	json_decref(ev);
	return 0;
}

int
cmd_report(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "type", required_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 }
	};
	const char *to = NULL, *from = NULL, *type = "abuse";
	struct report_ctx k;
	struct incident inc;
	struct arf_compose a;
	struct arf_field extra[3];
	struct store *st;
	int64_t id;
	int ch, rc;
	char idbuf[32], lvl[16], t1[40], t2[40], *text, *hdr, *msg, *from_default = NULL, reporting[128];

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 't': to = optarg; break;
		case 'f': from = optarg; break;
		case 'y': type = optarg; break;
		default:
			return cli_usage_error("report", NULL, "report: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("report", NULL, "report: name one incident id");
	if (cli_parse_id("report", argv[optind], &id) != 0)
		return CLI_USAGE;
	if ((rc = cli_open_incident(c, "report", id, &st, &inc)) != CLI_OK)
		return rc;
	memset(&k, 0, sizeof k);
	if (store_incident_events(st, id, report_event, &k) != 0) {
		rc = cli_store_fail(st, "report: reading the events");
		incident_clear(&inc);
		store_close(st);
		return rc;
	}
	store_close(st);
	if (k.ip[0] == '\0' && strncmp(inc.subscriber, "ip:", 3) == 0)
		bs_strlcpy(k.ip, inc.subscriber + 3, sizeof k.ip);
	if (k.ip[0] == '\0')
		fprintf(stderr, "botsentry: incident %lld: no event carries a client address; the report has no Source-IP\n",
		    (long long)id);

	/* what another network needs: the address, the times, what was seen;
	 * not who our subscriber is */
	text = xasprintf("This is an abuse report about mail traffic from %s.\n\n"
	    "Between %s and %s our systems saw %lld event%s from this address\n"
	    "(detectors: %s).  We have opened incident %lld for it and are\n"
	    "working with our customer to clean the machine up.\n\n"
	    "The machine-readable part follows (RFC 5965).\n",
	    k.ip[0] ? k.ip : "one of our customers", out_time(k.first_ms ? k.first_ms : inc.opened_ms, t1, sizeof t1),
	    out_time(k.last_ms ? k.last_ms : inc.updated_ms, t2, sizeof t2), (long long)(k.n ? k.n : inc.event_count),
	    (k.n ? k.n : inc.event_count) == 1 ? "" : "s", inc.kinds && *inc.kinds ? inc.kinds : "-", (long long)id);
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
	snprintf(lvl, sizeof lvl, "%d", inc.level);
	extra[0].name = "X-Botsentry-Incident";
	extra[0].value = idbuf;
	extra[1].name = "X-Botsentry-Detectors";
	extra[1].value = inc.kinds && *inc.kinds ? inc.kinds : "none";
	extra[2].name = "X-Botsentry-Level";
	extra[2].value = lvl;
	hdr = NULL;
	if (k.ip[0] != '\0') {
		char d[40];
		snprintf(d, sizeof d, "%s", out_time(k.ip_ms, t1, sizeof t1));
		hdr = xasprintf("Received: from %s ([%s])\n\tby %s; %s\n", k.helo[0] ? k.helo : "unknown", k.ip,
		    k.node[0] ? k.node : (c->conf->node_name ? c->conf->node_name : "localhost"), d);
	}
	snprintf(reporting, sizeof reporting, "dns; %s", c->conf->node_name ? c->conf->node_name : "localhost");
	if (from == NULL)
		from = from_default = xasprintf("abuse@%s", c->conf->node_name ? c->conf->node_name : "localhost");
	memset(&a, 0, sizeof a);
	a.from = from;
	a.to = to;
	a.feedback_type = type;
	a.source_ip = k.ip[0] ? k.ip : NULL;
	a.arrival_ms = k.ip_ms ? k.ip_ms : k.last_ms;
	a.reporting_mta = reporting;
	a.incidents = (int)(k.n ? k.n : inc.event_count);
	a.extra = extra;
	a.n_extra = 3;
	a.human_text = text;
	a.headers = hdr;
	msg = arf_compose(&a);
	fputs(msg, stdout);
	free(msg);
	free(text);
	free(hdr);
	free(from_default);
	incident_clear(&inc);
	return CLI_OK;
}

/* ---------------------------------------------------------------- ingest */

struct ingest {
	struct cli *c;
	struct store *st;
	struct lease_table *leases;
	struct allowlist *al;
	const char *name;
	double score;
	int dry_run;
	json_t *arr;
	struct table *t;
	int n, attributed, unattributed, invalid, duplicate, allowlisted, store_failed;
};

static int
al_load(void *ud, const struct allowlist_entry *e)
{
	char err[128];

	(void)allowlist_add(ud, e, err, sizeof err);
	return 0;
}

/* Reduce "Name <a@b.example>" to the address. */
static void
bare_address(const char *s, char *out, size_t size)
{
	const char *lt = s ? strrchr(s, '<') : NULL;
	const char *gt = lt ? strchr(lt, '>') : NULL;

	if (s == NULL) {
		out[0] = '\0';
		return;
	}
	if (lt && gt && gt > lt + 1) {
		size_t n = (size_t)(gt - lt - 1);
		if (n >= size)
			n = size - 1;
		memcpy(out, lt + 1, n);
		out[n] = '\0';
	} else
		bs_strlcpy(out, s, size);
}

static void
ingest_row(struct ingest *g, int index, long line, const char *status, const char *error,
    const struct arf_report *r, const char *who, const char *by, const char *ip, int64_t at,
    const struct record_result *res, const char *note)
{
	char tb[40], reporter[256];

	bare_address(r ? r->report_from : NULL, reporter, sizeof reporter);
	if (g->arr != NULL) {
		json_t *o = json_object();
		json_object_set_new(o, "index", json_integer(index));
		json_object_set_new(o, "line", json_integer(line));
		json_object_set_new(o, "status", json_string(status));
		json_object_set_new(o, "error", out_json_str(error));
		json_object_set_new(o, "feedback_type", out_json_str(r ? r->feedback_type : NULL));
		json_object_set_new(o, "reporter", out_json_str(reporter[0] ? reporter : NULL));
		json_object_set_new(o, "user_agent", out_json_str(r ? r->user_agent : NULL));
		json_object_set_new(o, "source_ip", out_json_str(r ? r->source_ip : NULL));
		json_object_set_new(o, "arrival", out_json_time(r ? r->arrival_ms : 0));
		json_object_set_new(o, "subscriber", out_json_str(who));
		json_object_set_new(o, "attributed_by", out_json_str(by));
		json_object_set_new(o, "attributed_ip", out_json_str(ip));
		json_object_set_new(o, "attributed_at", out_json_time(at));
		json_object_set_new(o, "event_id", res && res->event_id ? json_integer(res->event_id) : json_null());
		json_object_set_new(o, "incident_id", res && res->incident_id ? json_integer(res->incident_id) : json_null());
		json_object_set_new(o, "level", res && res->incident_id ? json_integer(res->level_after) : json_null());
		json_object_set_new(o, "note", out_json_str(note));
		json_object_set_new(o, "warning", out_json_str(r && r->warning[0] ? r->warning : NULL));
		json_array_append_new(g->arr, o);
		return;
	}
	table_row(g->t);
	table_cellf(g->t, "%d", index);
	table_cellf(g->t, "%ld", line);
	table_cell(g->t, status);
	table_colour(g->t, strcmp(status, "attributed") == 0 ? OUT_GREEN : strcmp(status, "invalid") == 0 ? OUT_RED :
	    OUT_YELLOW);
	table_cell(g->t, who && *who ? who : "-");
	table_cell(g->t, ip && *ip ? ip : (r && r->source_ip ? r->source_ip : "-"));
	table_cell(g->t, out_time(at ? at : (r ? r->arrival_ms : 0), tb, sizeof tb));
	table_cell(g->t, r && r->feedback_type ? r->feedback_type : "-");
	table_cell(g->t, reporter[0] ? reporter : "-");
	if (error != NULL)
		table_cell(g->t, error);
	else if (res != NULL && res->incident_id > 0)
		table_cellf(g->t, "incident %lld level %d%s%s", (long long)res->incident_id, res->level_after,
		    note ? "; " : "", note ? note : "");
	else
		table_cell(g->t, note ? note : "-");
}

static int
ingest_one(void *ud, const char *msg, size_t len, int index, long line)
{
	struct ingest *g = ud;
	struct arf_report r;
	struct fbl_complaint fc;
	struct record_result res;
	struct event ev;
	char err[512], dedup[600], reporter[256], where[96];
	const char *who = NULL, *by = NULL, *ip = NULL, *note = NULL;
	int64_t at = 0, now = bs_now_ms(), cid = 0;
	size_t i;
	int rc;

	g->n++;
	if (arf_parse_at(msg, len, line, &r, err, sizeof err) != 0) {
		g->invalid++;
		fprintf(stderr, "%s: message %d (line %ld): %s\n", g->name, index, line, err);
		ingest_row(g, index, line, "invalid", err, NULL, NULL, NULL, NULL, 0, NULL, NULL);
		return 0;
	}
	/* oddities (an encoded-word that could not be decoded, ...) name the
	 * field and its line; they are kept with the complaint too */
	if (r.warning[0] != '\0')
		fprintf(stderr, "%s: message %d (line %ld): warning: %s\n", g->name, index, line, r.warning);
	/* attribution: Source-IP at Arrival-Date, else the Received trace */
	if (r.source_ip != NULL) {
		int64_t t = r.arrival_ms;
		if (t <= 0 && r.report_date != NULL)
			t = arf_parse_date(r.report_date);
		if (t > 0 && g->leases != NULL && (who = lease_table_lookup(g->leases, r.source_ip, t)) != NULL) {
			by = "source_ip";
			ip = r.source_ip;
			at = t;
		}
	}
	for (i = 0; who == NULL && i < r.n_received; i++) {
		if (r.received[i].ip[0] == '\0' || r.received[i].ts_ms <= 0 || g->leases == NULL)
			continue;
		if ((who = lease_table_lookup(g->leases, r.received[i].ip, r.received[i].ts_ms)) != NULL) {
			by = "received";
			ip = r.received[i].ip;
			at = r.received[i].ts_ms;
		}
	}
	bare_address(r.report_from, reporter, sizeof reporter);
	if (r.report_message_id != NULL && *r.report_message_id != '\0')
		snprintf(dedup, sizeof dedup, "mid:%.500s", r.report_message_id);
	else
		snprintf(dedup, sizeof dedup, "sum:%.100s|%.60s|%lld|%.200s|%.30s", reporter, r.source_ip ? r.source_ip : "",
		    (long long)r.arrival_ms, r.msg_message_id ? r.msg_message_id : "", r.feedback_type);

	memset(&fc, 0, sizeof fc);
	fc.received_ms = now;
	fc.status = who ? "attributed" : "unattributed";
	fc.reporter = reporter;
	fc.user_agent = r.user_agent;
	fc.feedback_type = r.feedback_type;
	fc.source_ip = r.source_ip;
	fc.arrival_ms = r.arrival_ms;
	fc.reported_domain = r.reported_domain;
	fc.report_message_id = r.report_message_id;
	fc.msg_message_id = r.msg_message_id;
	fc.subscriber = who;
	fc.attributed_by = by;
	fc.attributed_ip = ip;
	fc.detail = r.warning;
	fc.dedup_key = dedup;
	memset(&res, 0, sizeof res);

	if (who != NULL && g->al != NULL) {
		struct allowlist_query q = { "fbl_complaint", who, ip, NULL, at };
		const struct allowlist_entry *m = allowlist_match(g->al, &q);
		if (m != NULL) {
			snprintf(where, sizeof where, "allowlisted by entry %lld: no event", (long long)m->id);
			note = where;
			fc.detail = where;
			g->allowlisted++;
		}
	}
	if (g->dry_run) {
		if (who)
			g->attributed++;
		else
			g->unattributed++;
		ingest_row(g, index, line, who ? "attributed" : "unattributed", NULL, &r, who, by, ip, at, NULL,
		    who ? "dry run: nothing written" : "dry run: would be kept as unattributed");
		arf_report_clear(&r);
		return 0;
	}
	rc = store_begin(g->st);
	if (rc == 0 && who != NULL && note == NULL) {
		/* values from outside may not be UTF-8: out_json_str makes them safe */
		json_t *evd = json_object();
		json_object_set_new(evd, "feedback_type", out_json_str(r.feedback_type));
		json_object_set_new(evd, "reporter", out_json_str(reporter));
		json_object_set_new(evd, "attributed_by", out_json_str(by));
		json_object_set_new(evd, "address", out_json_str(ip));
		json_object_set_new(evd, "reports", json_integer(r.incidents));
		if (r.user_agent)
			json_object_set_new(evd, "user_agent", out_json_str(r.user_agent));
		if (r.reported_domain)
			json_object_set_new(evd, "reported_domain", out_json_str(r.reported_domain));
		if (r.msg_message_id)
			json_object_set_new(evd, "message_id", out_json_str(r.msg_message_id));
		if (r.arrival_date)
			json_object_set_new(evd, "arrival_date", out_json_str(r.arrival_date));
		event_init(&ev, at, "fbl", "fbl_complaint", g->score);
		event_set_subscriber(&ev, who);
		event_set_client_ip(&ev, ip);
		event_set_node(&ev, g->c->conf->node_name ? g->c->conf->node_name : "");
		event_set_evidence(&ev, evd);
		if (event_validate(&ev, now, err, sizeof err) != 0) {
			/* e.g. an Arrival-Date far in the future: keep it, unattributed */
			snprintf(where, sizeof where, "not recorded as an event: %.40s", err);
			note = where;
			fc.detail = where;
			fc.status = "unattributed";
		} else {
			rc = store_record_events(g->st, &g->c->conf->score, &ev, 1, &res);
			fc.event_id = res.event_id;
		}
		event_clear(&ev);
	}
	if (rc == 0)
		rc = store_fbl_complaint_add(g->st, &fc, &cid);
	if (rc == STORE_NOTFOUND) {
		store_rollback(g->st);
		g->duplicate++;
		ingest_row(g, index, line, "duplicate", NULL, &r, who, by, ip, at, NULL, "already ingested; not counted again");
		arf_report_clear(&r);
		return 0;
	}
	if (rc == 0)
		rc = store_commit(g->st);
	if (rc != 0) {
		store_rollback(g->st);
		g->store_failed = 1;
		cli_store_fail(g->st, "ingest-arf: storing a complaint");
		arf_report_clear(&r);
		return 1;            /* stop: the store is failing */
	}
	if (strcmp(fc.status, "attributed") == 0)
		g->attributed++;
	else
		g->unattributed++;
	if (strcmp(fc.status, "unattributed") == 0 && note == NULL)
		note = r.source_ip || r.n_received ? "no lease matched; kept as unattributed" :
		    "no Source-IP and no Received trace; kept as unattributed";
	ingest_row(g, index, line, fc.status, NULL, &r, who, by, ip, at, res.event_id ? &res : NULL, note);
	arf_report_clear(&r);
	return 0;
}

static char *
read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = xmalloc(cap);

	while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n < 4096) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int
cmd_ingest_arf(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "score", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const cols[] = { "#", "LINE", "STATUS", "SUBSCRIBER", "ADDRESS", "AT", "TYPE", "REPORTER",
		"RESULT", NULL };
	struct ingest g;
	char *buf, err[256], *end;
	size_t len;
	int ch, json = 0, rc = CLI_OK;

	memset(&g, 0, sizeof g);
	g.score = FBL_DEFAULT_SCORE;
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': g.dry_run = 1; break;
		case 'j': json = 1; break;
		case 's':
			g.score = strtod(optarg, &end);
			if (*end != '\0' || !isfinite(g.score) || g.score < 0 || g.score > 1000)
				return cli_usage_error("ingest-arf", NULL, "--score: expected a number from 0 to 1000, got '%s'", optarg);
			break;
		default:
			return cli_usage_error("ingest-arf", NULL, "ingest-arf: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("ingest-arf", NULL, "ingest-arf: name one file (a message or an mbox), or - for standard input");
	if (strcmp(argv[optind], "-") == 0) {
		g.name = "(stdin)";
		buf = read_all(stdin, &len);
	} else {
		g.name = argv[optind];
		if ((buf = bs_read_file(argv[optind], &len)) == NULL) {
			cli_error("check the path", "cannot read %s: %s", argv[optind], strerror(errno));
			return CLI_NOTFOUND;
		}
	}
	if ((g.st = cli_open_store(c)) == NULL) {
		free(buf);
		return CLI_STORE;
	}
	g.c = c;
	g.leases = lease_table_load(c->conf, g.st, err, sizeof err);
	if (g.leases == NULL)
		fprintf(stderr, "botsentry: cannot load the lease history (%s): every report stays unattributed\n", err);
	g.al = allowlist_new();
	if (store_allowlist_each(g.st, bs_now_ms(), al_load, g.al) != 0) {
		rc = cli_store_fail(g.st, "ingest-arf: reading the allowlist");
		goto out;
	}
	if (json)
		g.arr = json_array();
	else {
		g.t = table_new(cols);
		table_right(g.t, 0);
		table_right(g.t, 1);
	}
	arf_mbox_each(buf, len, ingest_one, &g);
	if (g.store_failed) {
		rc = CLI_STORE;
		goto out;
	}
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "file", json_string(g.name));
		json_object_set_new(o, "dry_run", json_boolean(g.dry_run));
		json_object_set_new(o, "messages", json_integer(g.n));
		json_object_set_new(o, "attributed", json_integer(g.attributed));
		json_object_set_new(o, "unattributed", json_integer(g.unattributed));
		json_object_set_new(o, "duplicate", json_integer(g.duplicate));
		json_object_set_new(o, "invalid", json_integer(g.invalid));
		json_object_set_new(o, "allowlisted", json_integer(g.allowlisted));
		json_object_set(o, "reports", g.arr);
		out_json(o, stdout);
	} else {
		if (table_rows(g.t) > 0)
			table_print(g.t, stdout, c->is_tty, OUT_TEXT);
		printf("%d message%s: %d attributed, %d unattributed, %d duplicate, %d invalid\n", g.n, g.n == 1 ? "" : "s",
		    g.attributed, g.unattributed, g.duplicate, g.invalid);
		if (g.unattributed > 0 && !g.dry_run)
			printf("unattributed reports are kept: botsentry complaints list --unattributed\n");
	}
	rc = g.n == 0 ? CLI_NOTFOUND : g.invalid > 0 ? CLI_USAGE : CLI_OK;
	if (g.n == 0)
		cli_error(NULL, "ingest-arf: %s holds no message", g.name);
	else if (!g.dry_run) {
		char detail[200];
		snprintf(detail, sizeof detail, "file=%.80s messages=%d attributed=%d unattributed=%d duplicate=%d invalid=%d",
		    g.name, g.n, g.attributed, g.unattributed, g.duplicate, g.invalid);
		if (store_audit(g.st, bs_now_ms(), c->actor, "complaints.ingest", "", detail) != 0)
			rc = cli_store_fail(g.st, "ingest-arf: audit");
	}
out:
	json_decref(g.arr);
	table_free(g.t);
	lease_table_free(g.leases);
	allowlist_free(g.al);
	store_close(g.st);
	free(buf);
	return rc;
}

/* ---------------------------------------------------------------- complaints list */

struct clist {
	struct table *t;
	json_t *arr;
};

static int
complaint_row(void *ud, const struct fbl_complaint *fc)
{
	struct clist *k = ud;
	char a[40], b[40];

	if (k->arr != NULL) {
		json_array_append_new(k->arr, json_pack("{s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		    "id", (json_int_t)fc->id, "received", out_json_time(fc->received_ms), "status", fc->status,
		    "feedback_type", out_json_str(fc->feedback_type), "reporter", out_json_str(*fc->reporter ? fc->reporter : NULL),
		    "user_agent", out_json_str(fc->user_agent && *fc->user_agent ? fc->user_agent : NULL),
		    "source_ip", out_json_str(*fc->source_ip ? fc->source_ip : NULL), "arrival", out_json_time(fc->arrival_ms),
		    "reported_domain", out_json_str(*fc->reported_domain ? fc->reported_domain : NULL),
		    "subscriber", out_json_str(*fc->subscriber ? fc->subscriber : NULL),
		    "attributed_by", out_json_str(*fc->attributed_by ? fc->attributed_by : NULL),
		    "attributed_ip", out_json_str(*fc->attributed_ip ? fc->attributed_ip : NULL),
		    "event_id", fc->event_id ? json_integer(fc->event_id) : json_null(),
		    "message_id", out_json_str(*fc->msg_message_id ? fc->msg_message_id : NULL),
		    "detail", out_json_str(*fc->detail ? fc->detail : NULL)));
		return 0;
	}
	table_row(k->t);
	table_cellf(k->t, "%lld", (long long)fc->id);
	table_cell(k->t, out_time(fc->received_ms, a, sizeof a));
	table_cell(k->t, fc->status);
	table_colour(k->t, strcmp(fc->status, "attributed") == 0 ? OUT_GREEN : OUT_YELLOW);
	table_cell(k->t, *fc->feedback_type ? fc->feedback_type : "-");
	table_cell(k->t, *fc->reporter ? fc->reporter : "-");
	table_cell(k->t, *fc->source_ip ? fc->source_ip : "-");
	table_cell(k->t, out_time(fc->arrival_ms, b, sizeof b));
	table_cell(k->t, *fc->subscriber ? fc->subscriber : "-");
	table_cell(k->t, *fc->detail ? fc->detail : "-");
	return 0;
}

int
cmd_complaints_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "unattributed", no_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const cols[] = { "ID", "RECEIVED", "STATUS", "TYPE", "REPORTER", "SOURCE-IP", "ARRIVAL",
		"SUBSCRIBER", "DETAIL", NULL };
	struct clist k;
	const char *status = NULL;
	int64_t since = 0;
	int ch, limit = 0, rc = CLI_OK;
	enum out_format fmt = OUT_TEXT;
	char *end;
	struct store *st;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u': status = "unattributed"; break;
		case 's':
			if (cli_parse_time_opt("--since", optarg, &since) != 0)
				return CLI_USAGE;
			break;
		case 'n':
			limit = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || limit <= 0)
				return cli_usage_error("complaints", "list", "--limit: expected a positive number, got '%s'", optarg);
			break;
		case 'j': fmt = OUT_JSON; break;
		case 'c': fmt = OUT_CSV; break;
		default:
			return cli_usage_error("complaints", "list", "complaints list: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("complaints", "list", "complaints list: unexpected argument '%s'", argv[optind]);
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	memset(&k, 0, sizeof k);
	if (fmt == OUT_JSON)
		k.arr = json_array();
	else {
		k.t = table_new(cols);
		table_right(k.t, 0);
	}
	if (store_fbl_complaints_each(st, status, since, limit, complaint_row, &k) != 0) {
		rc = cli_store_fail(st, "complaints list");
		json_decref(k.arr);
	} else if (fmt == OUT_JSON)
		out_json(k.arr, stdout);
	else if (fmt == OUT_CSV || table_rows(k.t) > 0 || !c->is_tty)
		table_print(k.t, stdout, c->is_tty, fmt);
	else
		printf("no complaints%s\n", status ? " left unattributed" : "");
	table_free(k.t);
	store_close(st);
	return rc;
}
