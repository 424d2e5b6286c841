/*
 * botsentry - the abuse desk's command: review incidents, manage
 * subscribers, allowlists and leases, ingest complaints, prune.
 *
 * SYNOPSIS
 *	botsentry [-c FILE] [-d URI] [-v] NOUN VERB [ARGS...]
 *
 * This file holds the command table and the dispatch; each noun's commands
 * are in cli/cmd_<noun>.c.
 */
#include "config.h"
#include "cli.h"
#include "log.h"
#include "util.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <unistd.h>

const struct cli_command cli_commands[] = {
	{ "config", "check", "[--defaults]", "validate the configuration and print the effective settings", cmd_config_check },
	{ "db", "init", "", "create the database, apply migrations, create the site secret", cmd_db_init },
	{ "db", "migrate", "", "apply pending schema migrations", cmd_db_migrate },
	{ "db", "version", "[--json]", "print the schema version", cmd_db_version },
	{ "leases", "import", "[--format kea|csv] [--subscriber-from hwaddr|client_id|hostname|user_context:KEY] FILE...",
	    "import lease history (all or nothing)", cmd_leases_import },
	{ "subscribers", "import", "FILE", "import subscribers from CSV: id,email,name[,login] (all or nothing)",
	    cmd_subscribers_import },
	{ "subscribers", "show", "ID | --login LOGIN | --ip IP [--at TIME] [--json]",
	    "a subscriber, its leases, incidents, allowlist entries", cmd_subscribers_show },
	{ "subscribers", "mitigate", "ID | --login LOGIN | --ip IP [--at TIME] --action throttle|quarantine|reject [--note TEXT]",
	    "set a mitigation by hand (audited)", cmd_subscribers_mitigate },
	{ "subscribers", "release", "ID | --login LOGIN | --ip IP [--at TIME] [--note TEXT]", "lift a mitigation (back to monitor; audited)",
	    cmd_subscribers_release },
	{ "event", "add", "--subscriber S | --ip IP [--time T] --source SRC --kind K --score N [--evidence JSON] [--node N] [--json]",
	    "record an event by hand and correlate it", cmd_event_add },
	{ "incidents", "list", "[--state S] [--level N] [--since T] [--until T] [--kind K] [--source S] [--subscriber S] [--sort F] [--limit N] [--json|--csv]",
	    "list incidents", cmd_incidents_list },
	{ "incidents", "show", "ID [--json]", "an incident: events, score over time, notifications, audit",
	    cmd_incidents_show },
	{ "incidents", "ack", "ID [--note TEXT]", "acknowledge an incident", cmd_incidents_state },
	{ "incidents", "resolve", "ID [--note TEXT]", "resolve an incident", cmd_incidents_state },
	{ "incidents", "false-positive", "ID [--note TEXT] [--allowlist [--expires T]]",
	    "close as a false positive, optionally allowlisting the subscriber", cmd_incidents_state },
	{ "allowlist", "add", "--subscriber S | --ip CIDR | --sender ADDR | --domain DOM [--scope KINDS] [--expires T] --reason TEXT [--owner O]",
	    "add an allowlist entry", cmd_allowlist_add },
	{ "allowlist", "remove", "ID [--note TEXT]", "remove an allowlist entry", cmd_allowlist_remove },
	{ "allowlist", "list", "[--all] [--json|--csv]", "list allowlist entries", cmd_allowlist_list },
	{ "allowlist", "check", "[--kind K] [--subscriber S] [--ip IP] [--sender ADDR] [--at T] [--json]",
	    "which entry, if any, would silence a detector, and why the others do not", cmd_allowlist_check },
	{ "report", NULL, "ID [--to ADDR] [--from ADDR]", "print an ARF report (RFC 5965) for an incident", cmd_report },
	{ "ingest-arf", NULL, "FILE|- [--dry-run] [--json]", "read ARF complaints (a message or an mbox)",
	    cmd_ingest_arf },
	{ "complaints", "list", "[--unattributed] [--since T] [--limit N] [--json|--csv]",
	    "list complaints read by ingest-arf", cmd_complaints_list },
	{ "stats", NULL, "[--since T] [--json]", "incidents, events, notifications and complaints in numbers", cmd_stats },
	{ "audit", NULL, "[--since T] [--actor A] [--object O] [--action A] [--limit N] [--json|--csv]",
	    "the audit log", cmd_audit },
	{ "prune", NULL, "[--dry-run]", "apply the retention periods (audited)", cmd_prune },
	{ NULL, NULL, NULL, NULL, NULL }
};

void
cli_error(const char *hint, const char *fmt, ...)
{
	va_list ap;

	fputs("botsentry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (hint != NULL)
		fprintf(stderr, "  try: %s\n", hint);
}

struct store *
cli_open_store(struct cli *c)
{
	char err[512];
	struct store *st = store_open(c->conf->database, err, sizeof err);

	if (st == NULL)
		cli_error("check the database key in the config, or pass -d sqlite:PATH",
		    "cannot open the store %s: %s", c->conf->database, err);
	return st;
}

int
cli_store_fail(struct store *st, const char *what)
{
	cli_error("check that the database exists and is migrated (botsentry db init / db migrate)",
	    "%s: %s", what, st != NULL ? store_errmsg(st) : "no store");
	return CLI_STORE;
}

int
cli_open_incident(struct cli *c, const char *what, int64_t id, struct store **stp,
    struct incident *inc)
{
	struct store *st;
	int rc;

	*stp = NULL;
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	rc = store_incident_get(st, id, inc);
	if (rc == STORE_NOTFOUND) {
		cli_error("botsentry incidents list shows the ids", "no incident %lld", (long long)id);
		store_close(st);
		return CLI_NOTFOUND;
	}
	if (rc != 0) {
		rc = cli_store_fail(st, what);
		store_close(st);
		return rc;
	}
	*stp = st;
	return CLI_OK;
}

static const struct cli_command *
find_command(const char *noun, const char *verb)
{
	const struct cli_command *cmd;

	for (cmd = cli_commands; cmd->noun != NULL; cmd++)
		if (strcmp(cmd->noun, noun) == 0 &&
		    (cmd->verb == NULL || (verb != NULL && strcmp(cmd->verb, verb) == 0)))
			return cmd;
	return NULL;
}

int
cli_usage_error(const char *noun, const char *verb, const char *fmt, ...)
{
	const struct cli_command *cmd = find_command(noun, verb);
	va_list ap;

	fputs("botsentry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd != NULL)
		fprintf(stderr, "usage: botsentry %s%s%s %s\n", cmd->noun, cmd->verb ? " " : "",
		    cmd->verb ? cmd->verb : "", cmd->args);
	fprintf(stderr, "  try: botsentry %s%s%s --help, or man botsentry\n", noun, verb ? " " : "", verb ? verb : "");
	return CLI_USAGE;
}

int
cli_parse_time_opt(const char *opt, const char *s, int64_t *ms)
{
	if (s == NULL || bs_parse_time(s, bs_now_ms(), ms) != 0) {
		cli_error("give epoch seconds, YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] (UTC) or a relative -30m, -2h, -7d",
		    "%s: cannot read the time '%s'", opt, s ? s : "");
		return -1;
	}
	return 0;
}

int
cli_parse_expiry(const char *opt, const char *s, int64_t *ms)
{
	int64_t secs, now = bs_now_ms();
	const char *p = s && *s == '+' ? s + 1 : s;

	if (p != NULL && strspn(p, "0123456789") != strlen(p) && bs_parse_duration(p, &secs) == 0 && secs > 0) {
		*ms = now + secs * 1000;
		return 0;
	}
	if (p != NULL && bs_parse_time(p, now, ms) == 0 && *ms > now)
		return 0;
	cli_error("give a duration (30d, 12h, 2w) or a future time (YYYY-MM-DD, YYYY-MM-DDTHH:MM, epoch seconds)",
	    "%s: '%s' is not a future time or a duration", opt, s ? s : "");
	return -1;
}

int
cli_parse_id(const char *what, const char *s, int64_t *id)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0') {
		cli_error(NULL, "%s: missing id", what);
		return -1;
	}
	if (*s == '#')
		s++;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v <= 0) {
		cli_error(NULL, "%s: '%s' is not an id (a positive number)", what, s);
		return -1;
	}
	*id = v;
	return 0;
}

void
cli_getopt_reset(void)
{
	optind = 0;      /* glibc: full re-initialisation */
	opterr = 0;
}

static void
usage(FILE *f, const struct cli *c)
{
	const struct cli_command *cmd;

	cmdline_usage(f, &c->cl, "[options] COMMAND [ARGS...]",
	    "  -a ACTOR  who is acting, for the audit log (default: the login name)\n");
	fprintf(f, "\ncommands:\n");
	for (cmd = cli_commands; cmd->noun != NULL; cmd++) {
		char left[64];
		snprintf(left, sizeof left, "%s%s%s", cmd->noun, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
		fprintf(f, "  %-25s %s\n", left, cmd->help);
	}
	fprintf(f, "\nexit status: 0 ok, 1 not found or nothing to do, 2 usage, 3 store error, 78 bad configuration\n"
	    "see botsentry(1) for every command and the JSON fields\n");
}

static int
extra_opt(int opt, const char *arg, void *ud)
{
	struct cli *c = ud;

	if (opt == 'a') {
		c->actor = arg;
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct cli c;
	const struct cli_command *cmd, *noun_match = NULL;
	const char *noun, *verb;
	int first, rc;

	memset(&c, 0, sizeof c);
	c.cl.prog = "botsentry";
	c.cl.foreground = 1;
	first = cmdline_parse(&c.cl, argc, argv, "[options] COMMAND [ARGS...]", "a:", extra_opt, &c,
	    "  -a ACTOR  who is acting, for the audit log (default: the login name)\n");
	if (first >= argc) {
		usage(stderr, &c);
		return CLI_USAGE;
	}
	noun = argv[first];
	verb = first + 1 < argc ? argv[first + 1] : NULL;
	if (strcmp(noun, "help") == 0) {
		usage(stdout, &c);
		return CLI_OK;
	}
	for (cmd = cli_commands; cmd->noun != NULL; cmd++) {
		if (strcmp(cmd->noun, noun) != 0)
			continue;
		noun_match = cmd;
		if (cmd->verb == NULL || (verb != NULL && strcmp(cmd->verb, verb) == 0))
			break;
	}
	if (cmd->noun == NULL) {
		if (noun_match != NULL) {
			const struct cli_command *k;
			cli_error("botsentry help", "%s: unknown or missing subcommand%s%s", noun,
			    verb ? " " : "", verb ? verb : "");
			fprintf(stderr, "  %s takes:", noun);
			for (k = cli_commands; k->noun != NULL; k++)
				if (strcmp(k->noun, noun) == 0 && k->verb != NULL)
					fprintf(stderr, " %s", k->verb);
			fputc('\n', stderr);
		}
		else
			cli_error("botsentry help", "unknown command '%s'", noun);
		return CLI_USAGE;
	}
	/* --help anywhere after the command, and --actor as a long form of -a */
	{
		int i, j, start = first + (cmd->verb ? 2 : 1);
		for (i = start; i < argc; i++) {
			if (strcmp(argv[i], "--") == 0)
				break;
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				printf("usage: botsentry %s%s%s %s\n  %s\n", cmd->noun, cmd->verb ? " " : "",
				    cmd->verb ? cmd->verb : "", cmd->args, cmd->help);
				return CLI_OK;
			}
			/* (audit has its own --actor: a filter) */
			if (cmd->run != cmd_audit && (strcmp(argv[i], "--actor") == 0 || strncmp(argv[i], "--actor=", 8) == 0)) {
				int drop = argv[i][7] == '=' ? 1 : 2;
				if (drop == 2 && i + 1 >= argc) {
					cli_error(NULL, "--actor needs a name");
					return CLI_USAGE;
				}
				c.actor = drop == 1 ? argv[i] + 8 : argv[i + 1];
				for (j = i; j + drop < argc; j++)
					argv[j] = argv[j + drop];
				argc -= drop;
				argv[argc] = NULL;
				i--;
			}
		}
	}
	if (c.actor == NULL) {
		struct passwd *pw = getpwuid(getuid());
		const char *login = getenv("SUDO_USER");
		c.actor = login ? login : pw ? pw->pw_name : "unknown";
	}
	c.is_tty = isatty(STDOUT_FILENO);
	c.colour = c.is_tty && getenv("NO_COLOR") == NULL;
	out_set_colour(c.colour);
	c.conf = cmdline_load_conf(&c.cl, 1);
	if (cmd->verb == NULL)
		rc = cmd->run(&c, argc - first, argv + first);
	else
		rc = cmd->run(&c, argc - first - 1, argv + first + 1);
	conf_unref(c.conf);
	return rc;
}
