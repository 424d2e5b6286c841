/*
 * cmdline.h - the options every botsentry program takes, and start-up.
 *
 *   -c FILE  configuration file (default: sysconfdir/botsentry/botsentry.conf;
 *            when -c is not given and that file does not exist, the built-in
 *            defaults are used and a notice says so)
 *   -d URI   the store, overriding the config's 'database' key
 *            (sqlite:PATH, postgresql://...)
 *   -f       stay in the foreground and log to stderr
 *   -n       check the configuration and exit: 0 if good, 78 (EX_CONFIG) if not
 *   -v       more log output (repeatable)
 *   -V       print the version and exit
 *   -h       print usage and exit
 *
 * Programs add their own letters through extra_opts and a callback.
 */
#ifndef BS_CMDLINE_H
#define BS_CMDLINE_H

#include "conf.h"

struct cmdline {
	const char *prog;
	const char *config_path;   /* NULL: default */
	int config_given;
	const char *db_uri;        /* NULL: from the config */
	int foreground;
	int check_only;
	int verbose;
};

/* Return 0 if the option was handled, -1 to print usage and exit 64. */
typedef int (*cmdline_extra_fn)(int opt, const char *arg, void *ud);

/*
 * Parse argv.  extra_opts: getopt letters beyond "c:d:fnvVh" (may be NULL);
 * usage_extra: lines appended to the usage text.  Exits on -V, -h and usage
 * errors.  Returns optind.
 */
int cmdline_parse(struct cmdline *cl, int argc, char **argv, const char *synopsis,
    const char *extra_opts, cmdline_extra_fn extra, void *ud, const char *usage_extra);

/*
 * Load the configuration named on the command line (or the default), apply
 * -d, set up logging (stderr when foreground or logstderr, else syslog with
 * the configured facility).  With -n: report and exit 0/78.  On error:
 * prints every problem and exits 78.  Returns the conf (caller unrefs).
 */
struct conf *cmdline_load_conf(const struct cmdline *cl, int logstderr);

/* Print usage to f (used by -h and on errors). */
void cmdline_usage(FILE *f, const struct cmdline *cl, const char *synopsis,
    const char *usage_extra);

#endif
