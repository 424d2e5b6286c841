/*
 * cmd_event.c - botsentry event add: record one event by hand (the way
 * scripts, other tools and the tests feed the database) and correlate it
 * at once, synchronously, through store_record_events.
 */
#include "config.h"
#include "cli.h"
#include "leases.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int
cmd_event_add(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "subscriber", required_argument, NULL, 'S' },
		{ "ip", required_argument, NULL, 'i' },
		{ "time", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 's' },
		{ "kind", required_argument, NULL, 'k' },
		{ "score", required_argument, NULL, 'n' },
		{ "evidence", required_argument, NULL, 'e' },
		{ "node", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *subscriber = NULL, *ip = NULL, *source = NULL, *kind = NULL, *evidence = NULL;
	const char *node = NULL, *score_s = NULL, *attributed = "given";
	int64_t now = bs_now_ms(), ts = now;
	int ch, json = 0, rc = CLI_OK;
	double score;
	char *end, err[512];
	struct event ev;
	struct record_result res;
	struct store *st;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'S': subscriber = optarg; break;
		case 'i': ip = optarg; break;
		case 't':
			if (cli_parse_time_opt("--time", optarg, &ts) != 0)
				return CLI_USAGE;
			break;
		case 's': source = optarg; break;
		case 'k': kind = optarg; break;
		case 'n': score_s = optarg; break;
		case 'e': evidence = optarg; break;
		case 'N': node = optarg; break;
		case 'j': json = 1; break;
		default:
			return cli_usage_error("event", "add", "event add: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("event", "add", "event add: unexpected argument '%s'", argv[optind]);
	if (subscriber == NULL && ip == NULL)
		return cli_usage_error("event", "add", "event add: --subscriber or --ip is needed");
	if (source == NULL || kind == NULL || score_s == NULL)
		return cli_usage_error("event", "add", "event add: --source, --kind and --score are needed");
	errno = 0;
	score = strtod(score_s, &end);
	if (*score_s == '\0' || *end != '\0' || errno != 0 || !isfinite(score))
		return cli_usage_error("event", "add", "event add: --score: '%s' is not a number", score_s);
	if (subscriber != NULL && strlen(subscriber) >= EVENT_SUBSCRIBER_MAX)
		return cli_usage_error("event", "add", "event add: --subscriber: longer than %d bytes", EVENT_SUBSCRIBER_MAX - 1);
	if (strlen(source) >= EVENT_SOURCE_MAX || strlen(kind) >= EVENT_KIND_MAX)
		return cli_usage_error("event", "add", "event add: --source or --kind is too long");
	if (ip != NULL) {
		char key[EVENT_IP_MAX];
		if (lease_client_key(ip, 128, key, sizeof key) == NULL || strlen(ip) >= EVENT_IP_MAX)
			return cli_usage_error("event", "add", "event add: --ip: '%s' is not an IP address", ip);
	}

	event_init(&ev, ts, source, kind, score);
	if (ip != NULL)
		event_set_client_ip(&ev, ip);
	if (node != NULL)
		event_set_node(&ev, node);
	else if (c->conf->node_name != NULL)
		event_set_node(&ev, c->conf->node_name);
	if (evidence != NULL) {
		json_error_t je;
		json_t *j = json_loads(evidence, JSON_REJECT_DUPLICATES, &je);
		if (j == NULL || !json_is_object(j)) {
			json_decref(j);
			event_clear(&ev);
			if (j == NULL)
				return cli_usage_error("event", "add", "event add: --evidence: not JSON: %s (column %d)", je.text, je.column);
			return cli_usage_error("event", "add", "event add: --evidence: expected a JSON object {...}");
		}
		event_set_evidence(&ev, j);
	}
	if (subscriber != NULL)
		event_set_subscriber(&ev, subscriber);
	if (event_validate(&ev, now, err, sizeof err) != 0) {
		event_clear(&ev);
		return cli_usage_error("event", "add", "event add: %s", err);
	}

	if ((st = cli_open_store(c)) == NULL) {
		event_clear(&ev);
		return CLI_STORE;
	}
	if (subscriber == NULL) {
		struct lease_table *t = lease_table_load(c->conf, st, err, sizeof err);
		const char *who;
		if (t == NULL) {
			cli_error("check the leases section of the config", "cannot load the lease history: %s", err);
			event_clear(&ev);
			store_close(st);
			return CLI_STORE;
		}
		who = lease_table_lookup(t, ip, ts);
		if (who != NULL) {
			event_set_subscriber(&ev, who);
			attributed = "lease";
		} else
			attributed = "unattributed";
		lease_table_free(t);
	}
	memset(&res, 0, sizeof res);
	if (store_record_events(st, &c->conf->score, &ev, 1, &res) != 0) {
		rc = cli_store_fail(st, "event add: recording the event");
	} else if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "event_id", json_integer(res.event_id));
		json_object_set_new(o, "incident_id", res.incident_id > 0 ? json_integer(res.incident_id) : json_null());
		json_object_set_new(o, "new_incident", json_boolean(res.new_incident));
		json_object_set_new(o, "subscriber", json_string(ev.subscriber));
		json_object_set_new(o, "attributed_by", json_string(attributed));
		json_object_set_new(o, "level_before", json_integer(res.level_before));
		json_object_set_new(o, "level", json_integer(res.level_after));
		json_object_set_new(o, "score", json_real(res.score));
		out_json(o, stdout);
	} else {
		printf("event %lld", (long long)res.event_id);
		if (res.incident_id > 0)
		{
			printf(" -> incident %lld%s, level ", (long long)res.incident_id, res.new_incident ? " (new)" : "");
			if (res.level_after != res.level_before)
				printf("%d -> ", res.level_before);
			printf("%d, score %.1f", res.level_after, res.score);
		}
		else
			printf(" (no active incident: zero score)");
		if (ev.subscriber[0] == '\0')
			printf(", unattributed (no lease for %s at that time)", ip);
		else if (strcmp(attributed, "lease") == 0)
			printf(", subscriber %s (by lease)", ev.subscriber);
		printf("\n");
	}
	event_clear(&ev);
	store_close(st);
	return rc;
}
