/*
 * cli.h - the botsentry command: shared context and the command table.
 *
 * Each subcommand lives in cli/cmd_<noun>.c and registers itself in the
 * table in cli/botsentry.c.  Exit codes (botsentry(1)): 0 ok, 1 not found
 * or nothing to do, 2 usage, 3 store error; 78 for a bad configuration.
 */
#ifndef BS_CLI_H
#define BS_CLI_H

#include <stdio.h>
#include "cmdline.h"
#include "conf.h"
#include "store.h"
#include "out.h"

#define CLI_OK 0
#define CLI_NOTFOUND 1
#define CLI_USAGE 2
#define CLI_STORE 3

struct cli {
	struct cmdline cl;
	struct conf *conf;
	const char *actor;        /* --actor or the login name */
	int is_tty;               /* stdout is a terminal: align and colour */
	int colour;               /* is_tty and NO_COLOR unset */
};

struct cli_command {
	const char *noun;         /* "incidents" */
	const char *verb;         /* "list"; NULL for a noun without verbs */
	const char *args;         /* usage text for the arguments */
	const char *help;         /* one line */
	int (*run)(struct cli *c, int argc, char **argv);  /* argv[0] is the verb (or noun) */
};

/* Open the store named by the config (or -d); prints the reason and returns
 * NULL on failure (the caller exits CLI_STORE). */
struct store *cli_open_store(struct cli *c);
/* Print an error in the house style: "botsentry: what: why\n  try: hint". */
void cli_error(const char *hint, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The command table (cli/botsentry.c) and each file's entries. */
extern const struct cli_command cli_commands[];

int cmd_config_check(struct cli *c, int argc, char **argv);

/* Foundation (issue 2) and the abuse desk (issue 7). */
int cmd_db_init(struct cli *c, int argc, char **argv);
int cmd_db_migrate(struct cli *c, int argc, char **argv);
int cmd_db_version(struct cli *c, int argc, char **argv);
int cmd_leases_import(struct cli *c, int argc, char **argv);
int cmd_subscribers_import(struct cli *c, int argc, char **argv);
int cmd_subscribers_show(struct cli *c, int argc, char **argv);
int cmd_subscribers_mitigate(struct cli *c, int argc, char **argv);
int cmd_subscribers_release(struct cli *c, int argc, char **argv);
int cmd_event_add(struct cli *c, int argc, char **argv);
int cmd_incidents_list(struct cli *c, int argc, char **argv);
int cmd_incidents_show(struct cli *c, int argc, char **argv);
int cmd_incidents_state(struct cli *c, int argc, char **argv);   /* ack, resolve, false-positive */
int cmd_allowlist_add(struct cli *c, int argc, char **argv);
int cmd_allowlist_remove(struct cli *c, int argc, char **argv);
int cmd_allowlist_list(struct cli *c, int argc, char **argv);
int cmd_allowlist_check(struct cli *c, int argc, char **argv);
int cmd_report(struct cli *c, int argc, char **argv);
int cmd_ingest_arf(struct cli *c, int argc, char **argv);
int cmd_complaints_list(struct cli *c, int argc, char **argv);
int cmd_stats(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);
int cmd_prune(struct cli *c, int argc, char **argv);

/* ---------------------------------------------------------------- shared helpers (cli/cmd_*.c) */

/* Report a store failure ("botsentry: what: <store message>") and return
 * CLI_STORE. */
int cli_store_fail(struct store *st, const char *what);
/*
 * Open the store and read incident id into *inc.  Returns CLI_OK with *st
 * open (caller closes it and clears *inc), or the exit code after saying
 * why (not found: CLI_NOTFOUND; store trouble: CLI_STORE), with *st NULL.
 */
int cli_open_incident(struct cli *c, const char *what, int64_t id, struct store **st,
    struct incident *inc);
/* Usage error for a subcommand: prints the message and the command's
 * synopsis from the table; returns CLI_USAGE. */
int cli_usage_error(const char *noun, const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parse a time option (epoch seconds, ISO date/time, -2h); prints an error
 * naming the option.  0 or -1. */
int cli_parse_time_opt(const char *opt, const char *s, int64_t *ms);
/* Parse an expiry: a duration from now ("30d", "+12h", "2w") or a future
 * time.  Prints an error naming the option.  0 or -1. */
int cli_parse_expiry(const char *opt, const char *s, int64_t *ms);
/* Parse a positive incident/entry id; prints an error.  0 or -1. */
int cli_parse_id(const char *what, const char *s, int64_t *id);
/* Reset getopt for a subcommand's own options. */
void cli_getopt_reset(void);
/*
 * Who is meant: a subscriber id, a login name, or whoever held ip at
 * at_ms (lease history and the config's static map).  Exactly one of
 * id/login/ip.  *out (caller frees) and *how ("id", "login", "lease");
 * CLI_OK, CLI_NOTFOUND (message printed) or CLI_STORE.
 */
int cli_resolve_subscriber(struct cli *c, struct store *st, const char *id, const char *login,
    const char *ip, int64_t at_ms, char **out, const char **how);

/* JSON shapes shared by several commands (documented in botsentry(1)). */
struct allowlist_entry;
json_t *cli_incident_json(const struct incident *inc);
json_t *cli_allowlist_json(const struct allowlist_entry *e, int64_t now_ms);
json_t *cli_lease_json(const struct lease *l);
/* Colour for an incident level and a state (SGR codes, out.h). */
const char *cli_level_colour(int level);
const char *cli_state_colour(const char *state);

#endif
