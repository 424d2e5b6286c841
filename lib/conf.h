/*
 * conf.h - botsentry.conf: one file, parsed with libconfuse.
 *
 * Every key is declared once (lib/conf.c for the core, lib/conf_<area>.c for
 * each program's section) with its type, default and bounds.  Errors are
 * printed as "file:line: what was expected" and every one is reported;
 * unknown keys are errors.  A loaded conf is an immutable, reference-counted
 * snapshot: a daemon that reloads builds a new one and lets connections that
 * hold the old one finish with it.
 *
 * Durations are written with a unit ("90s", "10m", "1h", "7d"; a bare number
 * is seconds) and read back as seconds through the int accessors.
 */
#ifndef BS_CONF_H
#define BS_CONF_H

#include <stdio.h>
#include <stdint.h>
#include <confuse.h>

/* One program's section, declared in lib/conf_<area>.c. */
struct conf_bound {
	const char *path;   /* "milter|rate|max_messages" */
	long lo, hi;        /* inclusive */
};
struct conf_area {
	const char *name;                 /* section name in the file */
	cfg_opt_t *opts;                  /* terminated by CFG_END() */
	const struct conf_bound *bounds;  /* terminated by { NULL }, may be NULL */
	/* Cross-field checks after parsing; report with conf_error(); may be NULL. */
	void (*check)(cfg_t *root, int *nerr);
};

struct score_settings {
	double half_life_s;     /* decay of event scores in an incident */
	double level[3];        /* score thresholds for levels 1, 2, 3 */
	char mitigation[16];    /* action set at level 3: monitor|throttle|quarantine|reject */
	/* Corroboration: an incident whose events are all of these kinds
	 * (comma-separated, e.g. "rate,fanout": volume alone) stays at or below
	 * volume_max_level until an event of another kind arrives. */
	char volume_kinds[256];
	int volume_max_level;   /* 0..3; 3 turns the rule off */
	/* Unattributed IPv6 events are keyed by this prefix ("ip:2001:db8:0:100::/56"),
	 * so that one subscriber's /56 is one incident; 0 keys by the address. */
	int ipv6_prefix_len;
};

struct conf {
	int refs;
	char *path;             /* NULL when running on the built-in defaults */
	cfg_t *cfg;             /* the parsed tree, for the area accessors */

	/* core settings, typed */
	const char *node_name;
	const char *database;
	const char *state_dir;
	const char *secret_file;
	const char *user;
	int log_facility;
	int log_level;
	long queue_capacity;
	long queue_batch;
	long queue_flush_ms;
	struct score_settings score;
	long retention_events_s;
	long retention_incidents_s;
	long ipv6_prefix_len;   /* an IPv6 client is attributed by this prefix */
};

/*
 * Load a config file.  path NULL: the built-in defaults (no file).  Errors go
 * to errout (or the log when errout is NULL) as "file:line: message".
 * Returns NULL on any error.  The caller owns one reference.
 */
struct conf *conf_load(const char *path, FILE *errout);
struct conf *conf_ref(struct conf *c);
void conf_unref(struct conf *c);     /* NULL is fine */

/* Print the effective settings, as a valid botsentry.conf, to f. */
void conf_print(const struct conf *c, FILE *f);

/* Report an error from an area's check function; counts into *nerr. */
void conf_error(cfg_t *cfg, int *nerr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, for a check over several options: reported at the line of the
 * first of keys ("section|option", NULL-terminated) that the file set. */
void conf_error_keys(cfg_t *cfg, int *nerr, const char *const *keys, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* libconfuse parse callback for durations ("10m" -> 600); use with CFG_INT_CB. */
int conf_parse_duration(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result);
/* libconfuse parse callback for octal file modes ("0660"). */
int conf_parse_mode(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result);

#define CFG_DURATION(name, def) CFG_INT_CB(name, def, CFGF_NONE, conf_parse_duration)
#define CFG_MODE(name, def) CFG_INT_CB(name, def, CFGF_NONE, conf_parse_mode)

/* The program areas; each file lib/conf_<area>.c defines one. */
extern const struct conf_area conf_area_milter;
extern const struct conf_area conf_area_flow;
extern const struct conf_area conf_area_logwatch;
extern const struct conf_area conf_area_notify;
extern const struct conf_area conf_area_counters;

/* Default config file path (sysconfdir/botsentry/botsentry.conf). */
const char *conf_default_path(void);

#endif
