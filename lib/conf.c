/*
 * conf.c - the botsentry.conf schema for the core keys, and the loader.
 *
 * Keys shared by every program live at the top level and in the queue,
 * scoring, retention and leases sections; each program's own keys live in
 * its section, declared in lib/conf_<area>.c.  Nothing here knows what a
 * program does with its section.
 */
#include "config.h"
#include "conf.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef BS_SYSCONFDIR
#define BS_SYSCONFDIR "/etc/botsentry"
#endif
#ifndef BS_STATEDIR
#define BS_STATEDIR "/var/lib/botsentry"
#endif

static const char *const mitigation_actions[] = {
	"monitor", "throttle", "quarantine", "reject", NULL
};

int
conf_parse_duration(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	int64_t secs;

	if (bs_parse_duration(value, &secs) != 0 || secs > LONG_MAX) {
		cfg_error(cfg, "option '%s': expected a duration such as 90s, 10m, 1h or 7d, got '%s'",
		    opt->name, value);
		*(long *)result = opt->def.number;
		return 0;   /* counted; parsing goes on to find further errors */
	}
	*(long *)result = (long)secs;
	return 0;
}

int
conf_parse_mode(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 8);
	if (errno != 0 || *end != '\0' || v < 0 || v > 07777) {
		cfg_error(cfg, "option '%s': expected an octal file mode such as 0660, got '%s'",
		    opt->name, value);
		*(long *)result = opt->def.number;
		return 0;
	}
	*(long *)result = v;
	return 0;
}

static cfg_opt_t queue_opts[] = {
	CFG_INT("capacity", 65536, CFGF_NONE),
	CFG_INT("batch_size", 512, CFGF_NONE),
	CFG_INT("flush_interval_ms", 200, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t scoring_opts[] = {
	CFG_DURATION("half_life", 86400),
	CFG_FLOAT("level1", 10.0, CFGF_NONE),
	CFG_FLOAT("level2", 30.0, CFGF_NONE),
	CFG_FLOAT("level3", 60.0, CFGF_NONE),
	CFG_STR("mitigation", "throttle", CFGF_NONE),
	CFG_STR_LIST("volume_kinds", "{rate,fanout}", CFGF_NONE),
	CFG_INT("volume_max_level", 1, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t retention_opts[] = {
	CFG_DURATION("events", 90 * 86400),
	CFG_DURATION("incidents", 365 * 86400),
	CFG_END()
};

static cfg_opt_t lease_static_opts[] = {
	CFG_STR("subscriber", NULL, CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t leases_opts[] = {
	CFG_INT("ipv6_prefix_len", 56, CFGF_NONE),
	CFG_SEC("static", lease_static_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

static const struct conf_bound core_bounds[] = {
	{ "queue|capacity", 16, 16 * 1024 * 1024 },
	{ "queue|batch_size", 1, 100000 },
	{ "queue|flush_interval_ms", 1, 60000 },
	{ "scoring|half_life", 60, 365L * 86400 },
	{ "retention|events", 86400, 10L * 365 * 86400 },
	{ "retention|incidents", 86400, 10L * 365 * 86400 },
	{ "leases|ipv6_prefix_len", 32, 128 },
	{ "scoring|volume_max_level", 0, 3 },
	{ NULL, 0, 0 }
};

static const struct conf_area *const areas[] = {
	&conf_area_milter, &conf_area_flow, &conf_area_logwatch, &conf_area_notify,
	&conf_area_counters,
};

/* Error counting: libconfuse calls our error function with the tree whose
 * filename and line say where the parser is. */
struct errsink {
	FILE *out;
	int count;
};
static __thread struct errsink *cur_sink;
/* The tree being parsed: libconfuse keeps file and line on the root only,
 * so errors raised on a section borrow them from here. */
static __thread cfg_t *cur_root;

struct linemap;
static __thread struct linemap *cur_map;
static void map_lookup(const struct linemap *m, int combined, const char **file, int *line);

static void
where(cfg_t *cfg, const char **file, int *line)
{
	if (cur_map != NULL && cur_root != NULL) {
		/* parsing our preprocessed buffer: the root's counter is the
		 * combined line unless a section keeps its own */
		int combined = cur_root->line;

		if (cfg != NULL && cfg != cur_root && cfg->line > 0)
			combined = cfg->line;
		map_lookup(cur_map, combined, file, line);
		return;
	}
	*file = cfg ? cfg->filename : NULL;
	*line = cfg ? cfg->line : 0;
	if (*file == NULL && cur_root != NULL && cfg != cur_root) {
		/* a section knows its line but not its file */
		*file = cur_root->filename;
		*line = cur_root->line > 0 && cfg != NULL ? cfg->line : 0;
	} else if (*file == NULL && cur_root != NULL) {
		*file = cur_root->filename;
		*line = cur_root->line;
	}
}

static void __attribute__((format(printf, 3, 0)))
report(const char *file, int line, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (cur_sink != NULL)
		cur_sink->count++;
	if (cur_sink != NULL && cur_sink->out != NULL) {
		if (file != NULL && line > 0)
			fprintf(cur_sink->out, "%s:%d: %s\n", file, line, msg);
		else
			fprintf(cur_sink->out, "%s: %s\n", file ? file : "config", msg);
	} else if (file != NULL && line > 0) {
		log_err("%s:%d: %s", file, line, msg);
	} else {
		log_err("%s: %s", file ? file : "config", msg);
	}
}

static void report_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
report_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(file, line, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 0)))
errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	const char *file;
	int line;

	where(cfg, &file, &line);
	report(file, line, fmt, ap);
}

/*
 * Where each option was set: "section|name" -> file:line, recorded while
 * parsing, so that the checks that run on the whole tree afterwards can
 * still say where the value they refuse came from.
 */
struct seen {
	char *key;
	const char *file;      /* borrowed from the line map */
	int line;
};
static __thread struct seen *cur_seen;
static __thread size_t cur_nseen;

static void
seen_record(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *file;
	int line;
	char *key;
	size_t i;

	where(cfg, &file, &line);
	if (file == NULL || line <= 0)
		return;
	if (opt->type == CFGT_SEC) {
		/* a section is validated when it closes: key "parent|name title" */
		cfg_t *sec = cfg_opt_size(opt) > 0 ? cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1) : NULL;
		const char *title = sec != NULL ? cfg_title(sec) : NULL;
		key = xasprintf("%s|%s%s%s", cfg->name ? cfg->name : "root", opt->name,
		    title ? " " : "", title ? title : "");
	} else {
		key = xasprintf("%s|%s", cfg->name ? cfg->name : "root", opt->name);
	}
	for (i = 0; i < cur_nseen; i++) {
		if (strcmp(cur_seen[i].key, key) == 0) {
			free(key);
			cur_seen[i].file = file;
			cur_seen[i].line = line;
			return;
		}
	}
	cur_seen = xrealloc(cur_seen, (cur_nseen + 1) * sizeof *cur_seen);
	cur_seen[cur_nseen].key = key;
	cur_seen[cur_nseen].file = file;
	cur_seen[cur_nseen].line = line;
	cur_nseen++;
}

/* For a message "option 'a|b|c': ...", where c (in section b) was set. */
static int
seen_lookup(const char *msg, const char **file, int *line)
{
	const char *p, *q, *name, *sect;
	char key[256];
	size_t i;

	if (strncmp(msg, "section '", 9) == 0)
		p = msg + 9;
	else if (strncmp(msg, "option '", 8) == 0)
		p = msg + 8;
	else
		return 0;
	if ((q = strchr(p, '\'')) == NULL || (size_t)(q - p) >= sizeof key)
		return 0;
	for (name = q; name > p && name[-1] != '|'; name--)
		;
	if (name == p) {
		snprintf(key, sizeof key, "root|%.*s", (int)(q - p), p);
	} else {
		for (sect = name - 1; sect > p && sect[-1] != '|'; sect--)
			;
		snprintf(key, sizeof key, "%.*s", (int)(q - sect), sect);
	}
	for (i = 0; i < cur_nseen; i++) {
		if (strcmp(cur_seen[i].key, key) == 0) {
			*file = cur_seen[i].file;
			*line = cur_seen[i].line;
			return 1;
		}
	}
	return 0;
}

static void
seen_free(void)
{
	size_t i;

	for (i = 0; i < cur_nseen; i++)
		free(cur_seen[i].key);
	free(cur_seen);
	cur_seen = NULL;
	cur_nseen = 0;
}

/* Report a check's message at the line of the first of keys the file set,
 * else where cfg is, else where the option the message names was set. */
static void __attribute__((format(printf, 4, 0)))
conf_verror(cfg_t *cfg, int *nerr, const char *const *keys, const char *fmt, va_list ap)
{
	const char *file = NULL;
	int line = 0;
	char msg[1024], probe[300];
	size_t i;

	vsnprintf(msg, sizeof msg, fmt, ap);
	for (i = 0; keys != NULL && keys[i] != NULL && line <= 0; i++) {
		snprintf(probe, sizeof probe, "option '%s'", keys[i]);
		seen_lookup(probe, &file, &line);
	}
	if (line <= 0)
		where(cfg, &file, &line);
	if (line <= 0)
		seen_lookup(msg, &file, &line);
	report_at(file, line, "%s", msg);
	if (nerr != NULL)
		(*nerr)++;
}

void
conf_error(cfg_t *cfg, int *nerr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(cfg, nerr, NULL, fmt, ap);
	va_end(ap);
}

void
conf_error_keys(cfg_t *cfg, int *nerr, const char *const *keys, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(cfg, nerr, keys, fmt, ap);
	va_end(ap);
}

/* Bounds are matched by option name and enclosing section name, because
 * libconfuse validates on the section instance, not on the prototype. */
struct bound_ref {
	const char *section;   /* NULL for the top level */
	const char *name;
	long lo, hi;
};
static __thread struct bound_ref *cur_bounds;
static __thread size_t cur_nbounds;

static int
validate_bound(cfg_t *cfg, cfg_opt_t *opt)
{
	size_t i;
	unsigned j;

	for (i = 0; i < cur_nbounds; i++) {
		const struct bound_ref *b = &cur_bounds[i];
		if (strcmp(b->name, opt->name) != 0)
			continue;
		if (b->section != NULL && (cfg->name == NULL || strcmp(b->section, cfg->name) != 0))
			continue;
		for (j = 0; j < cfg_opt_size(opt); j++) {
			long v = cfg_opt_getnint(opt, j);
			if (v < b->lo || v > b->hi) {
				/* report and go on, so that every error is listed;
				 * the count makes conf_load() fail */
				cfg_error(cfg, "option '%s': value %ld out of range, expected %ld to %ld",
				    opt->name, v, b->lo, b->hi);
				return 0;
			}
		}
	}
	return 0;
}

static int
validate_any(cfg_t *cfg, cfg_opt_t *opt)
{
	seen_record(cfg, opt);
	return validate_bound(cfg, opt);
}

/* Register validate_any on every option of the schema under prefix. */
static void
watch_all(cfg_t *root, cfg_opt_t *opts, const char *prefix)
{
	cfg_opt_t *o;

	for (o = opts; o != NULL && o->name != NULL; o++) {
		char *path = prefix ? xasprintf("%s|%s", prefix, o->name) : xstrdup(o->name);

		if (o->type == CFGT_SEC) {
			watch_all(root, o->subopts, path);
			cfg_set_validate_func(root, path, validate_any);
		} else if (o->type != CFGT_FUNC)
			cfg_set_validate_func(root, path, validate_any);
		free(path);
	}
}

static void
add_bounds(cfg_t *root, const struct conf_bound *b)
{
	for (; b != NULL && b->path != NULL; b++) {
		const char *last = strrchr(b->path, '|');
		struct bound_ref *r;

		if (cfg_getopt(root, b->path) == NULL) {
			log_err("internal: bound for unknown option %s", b->path);
			continue;
		}
		cur_bounds = xrealloc(cur_bounds, (cur_nbounds + 1) * sizeof *cur_bounds);
		r = &cur_bounds[cur_nbounds++];
		r->name = last ? last + 1 : b->path;
		r->section = NULL;
		if (last != NULL) {
			const char *prev = last;
			while (prev > b->path && prev[-1] != '|')
				prev--;
			r->section = xstrndup(prev, (size_t)(last - prev));
		}
		r->lo = b->lo;
		r->hi = b->hi;
		cfg_set_validate_func(root, b->path, validate_bound);
	}
}

static void
free_bounds(void)
{
	size_t i;

	for (i = 0; i < cur_nbounds; i++)
		free((char *)cur_bounds[i].section);
	free(cur_bounds);
	cur_bounds = NULL;
	cur_nbounds = 0;
}

/*
 * Preprocessing.  libconfuse 3.3 miscounts lines after comments (each '#'
 * comment line advances its counter by three), so file:line in errors would
 * be wrong.  We strip comments and expand include("FILE") ourselves, and
 * keep a map from each line of the combined text to its file and line; the
 * parser then sees one buffer without comments, whose line numbers it gets
 * right.  A relative include is taken from the including file's folder.
 */
struct linemap {
	char **files;          /* owned names, one per file read */
	size_t nfiles;
	int *file_of;          /* per combined line (1-based index - 1) */
	int *line_of;
	size_t nlines, cap;
};

static void
map_lookup(const struct linemap *m, int combined, const char **file, int *line)
{
	if (m->nfiles == 0) {
		*file = NULL;
		*line = 0;
	} else if (combined < 1 || (size_t)combined > m->nlines) {
		*file = m->files[0];   /* after the last line, or a whole-tree check */
		*line = 0;
	} else {
		*file = m->files[m->file_of[combined - 1]];
		*line = m->line_of[combined - 1];
	}
}

static void
map_line(struct linemap *m, int file, int line)
{
	if (m->nlines == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->file_of = xrealloc(m->file_of, m->cap * sizeof *m->file_of);
		m->line_of = xrealloc(m->line_of, m->cap * sizeof *m->line_of);
	}
	m->file_of[m->nlines] = file;
	m->line_of[m->nlines] = line;
	m->nlines++;
}

static void
map_free(struct linemap *m)
{
	size_t i;

	for (i = 0; i < m->nfiles; i++)
		free(m->files[i]);
	free(m->files);
	free(m->file_of);
	free(m->line_of);
}

/* Remove comments from text in place, keeping newlines and strings. */
static void
strip_comments(char *t)
{
	char *r = t, *w = t, quote = 0;

	while (*r != '\0') {
		if (quote) {
			if (*r == '\\' && r[1] != '\0') {
				*w++ = *r++;
			} else if (*r == quote) {
				quote = 0;
			}
			*w++ = *r++;
		} else if (*r == '"' || *r == '\'') {
			quote = *r;
			*w++ = *r++;
		} else if (*r == '#' || (*r == '/' && r[1] == '/')) {
			while (*r != '\0' && *r != '\n')
				r++;
		} else if (*r == '/' && r[1] == '*') {
			r += 2;
			while (*r != '\0' && !(*r == '*' && r[1] == '/')) {
				if (*r == '\n')
					*w++ = '\n';
				r++;
			}
			if (*r != '\0')
				r += 2;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* If line is include("NAME") (spaces allowed), return a copy of NAME. */
static char *
include_target(const char *line)
{
	const char *p = line, *q;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "include", 7) != 0)
		return NULL;
	p += 7;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '(')
		return NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '"')
		return NULL;
	q = strchr(p, '"');
	if (q == NULL)
		return NULL;
	return xstrndup(p, (size_t)(q - p));
}

/* Append path's text (comments stripped, includes expanded) to *buf. */
static int
preprocess(const char *path, int depth, struct linemap *m, char **buf, size_t *len,
    struct errsink *sink, const char *from_file, int from_line)
{
	char *text, *line, *next;
	int fileno, lineno = 0;

	if (depth > 8) {
		report_at(from_file, from_line, "include(\"%s\"): nested too deeply (more than 8 levels)", path);
		return -1;
	}
	{
		struct stat sb;

		/* a device or a fifo named by mistake must not hang the loader */
		if (strcmp(path, "/dev/null") != 0 && stat(path, &sb) == 0
		    && (!S_ISREG(sb.st_mode) || sb.st_size > 4 * 1024 * 1024)) {
			if (from_file != NULL)
				report_at(from_file, from_line, "include(\"%s\"): not a regular file of at most 4 MiB", path);
			else
				report_at(path, 0, "not a regular file of at most 4 MiB");
			return -1;
		}
	}
	text = bs_read_file(path, NULL);
	if (text == NULL) {
		int e = errno;

		if (from_file != NULL)
			report_at(from_file, from_line, "include(\"%s\"): cannot read: %s", path, strerror(e));
		else
			report_at(path, 0, "cannot read: %s", strerror(e));
		return -1;
	}
	m->files = xrealloc(m->files, (m->nfiles + 1) * sizeof *m->files);
	m->files[m->nfiles] = xstrdup(path);
	fileno = (int)m->nfiles++;
	strip_comments(text);
	for (line = text; line != NULL; line = next) {
		char *inc;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		inc = include_target(line);
		if (inc != NULL) {
			char *full;

			if (inc[0] != '/' && strchr(path, '/') != NULL)
				full = xasprintf("%.*s/%s", (int)(strrchr(path, '/') - path), path, inc);
			else
				full = xstrdup(inc);
			free(inc);
			preprocess(full, depth + 1, m, buf, len, sink, path, lineno);
			free(full);
			continue;
		}
		*buf = xrealloc(*buf, *len + strlen(line) + 2);
		memcpy(*buf + *len, line, strlen(line));
		*len += strlen(line);
		(*buf)[(*len)++] = '\n';
		(*buf)[*len] = '\0';
		map_line(m, fileno, lineno);
	}
	free(text);
	return 0;
}

static cfg_opt_t *
build_schema(void)
{
	static cfg_opt_t core[] = {
		CFG_STR("node_name", NULL, CFGF_NONE),
		CFG_STR("database", "sqlite:" BS_STATEDIR "/botsentry.db", CFGF_NONE),
		CFG_STR("state_dir", BS_STATEDIR, CFGF_NONE),
		CFG_STR("secret_file", BS_SYSCONFDIR "/secret", CFGF_NONE),
		CFG_STR("user", "", CFGF_NONE),
		CFG_STR("log_facility", "mail", CFGF_NONE),
		CFG_STR("log_level", "info", CFGF_NONE),
		CFG_SEC("queue", queue_opts, CFGF_NONE),
		CFG_SEC("scoring", scoring_opts, CFGF_NONE),
		CFG_SEC("retention", retention_opts, CFGF_NONE),
		CFG_SEC("leases", leases_opts, CFGF_NONE),
	};
	size_t ncore = BS_ARRAY_LEN(core), n = ncore + BS_ARRAY_LEN(areas) + 1, i;
	cfg_opt_t *opts = xcalloc(n, sizeof *opts);
	cfg_opt_t sec_proto[] = { CFG_SEC("x", NULL, CFGF_NONE), CFG_END() };

	memcpy(opts, core, sizeof core);
	for (i = 0; i < BS_ARRAY_LEN(areas); i++) {
		opts[ncore + i] = sec_proto[0];
		opts[ncore + i].name = (char *)areas[i]->name;
		opts[ncore + i].subopts = areas[i]->opts;
	}
	opts[n - 1] = sec_proto[1];
	return opts;
}

static int
one_of(const char *v, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(v, *list) == 0)
			return 1;
	return 0;
}

static void
check_core(cfg_t *root, struct conf *c, int *nerr)
{
	cfg_t *sc = cfg_getsec(root, "scoring");
	const char *db = cfg_getstr(root, "database");
	unsigned i;

	c->log_facility = log_facility_from_name(cfg_getstr(root, "log_facility"));
	if (c->log_facility < 0)
		conf_error(root, nerr, "option 'log_facility': expected mail, daemon, user, auth, authpriv or local0..local7, got '%s'",
		    cfg_getstr(root, "log_facility"));
	c->log_level = log_level_from_name(cfg_getstr(root, "log_level"));
	if (c->log_level < 0)
		conf_error(root, nerr, "option 'log_level': expected err, warning, notice, info or debug, got '%s'",
		    cfg_getstr(root, "log_level"));
	if (db == NULL || (strncmp(db, "sqlite:", 7) != 0 && strncmp(db, "postgresql://", 13) != 0
	    && strncmp(db, "postgres://", 11) != 0))
		conf_error(root, nerr, "option 'database': expected sqlite:PATH or postgresql://..., got '%s'",
		    db ? db : "");
	if (!one_of(cfg_getstr(sc, "mitigation"), mitigation_actions))
		conf_error(root, nerr, "option 'scoring|mitigation': expected monitor, throttle, quarantine or reject, got '%s'",
		    cfg_getstr(sc, "mitigation"));
	if (!(cfg_getfloat(sc, "level1") > 0 && cfg_getfloat(sc, "level1") < cfg_getfloat(sc, "level2")
	    && cfg_getfloat(sc, "level2") < cfg_getfloat(sc, "level3")))
	{
		static const char *const keys[] = { "scoring|level1", "scoring|level2", "scoring|level3",
		    NULL };
		conf_error_keys(root, nerr, keys,
		    "section 'scoring': expected 0 < level1 < level2 < level3, got %g, %g, %g",
		    cfg_getfloat(sc, "level1"), cfg_getfloat(sc, "level2"), cfg_getfloat(sc, "level3"));
	}
	for (i = 0; i < cfg_size(cfg_getsec(root, "leases"), "static"); i++) {
		cfg_t *s = cfg_getnsec(cfg_getsec(root, "leases"), "static", i);
		if (cfg_getstr(s, "subscriber") == NULL || *cfg_getstr(s, "subscriber") == '\0')
			conf_error(s, nerr, "section 'leases|static %s': expected a subscriber = \"...\" key",
			    cfg_title(s));
	}
}

const char *
conf_default_path(void)
{
	return BS_SYSCONFDIR "/botsentry.conf";
}

struct conf *
conf_load(const char *path, FILE *errout)
{
	struct errsink sink = { errout, 0 };
	struct conf *c = xcalloc(1, sizeof *c);
	cfg_opt_t *opts = build_schema();
	cfg_t *cfg;
	size_t i;
	int nerr = 0, rc;
	char host[256];
	struct linemap map;

	cur_sink = &sink;
	cfg = cfg_init(opts, CFGF_NONE);
	free(opts);    /* cfg_init copies the option tree */
	cfg_set_error_function(cfg, errfunc);
	cur_root = cfg;
	cur_nbounds = 0;
	add_bounds(cfg, core_bounds);
	for (i = 0; i < BS_ARRAY_LEN(areas); i++)
		add_bounds(cfg, areas[i]->bounds);
	watch_all(cfg, cfg->opts, NULL);

	if (path != NULL) {
		char *buf = xstrdup("");
		size_t len = 0;

		memset(&map, 0, sizeof map);
		cur_map = &map;
		if (preprocess(path, 0, &map, &buf, &len, &sink, NULL, 0) == 0) {
			rc = cfg_parse_buf(cfg, buf);
			if (rc == CFG_PARSE_ERROR && sink.count == 0)
				report_at(path, 0, "cannot parse");
		}
		free(buf);
	}
	if (sink.count == 0) {
		/* cross-field checks run on the whole tree: no line to name */
		cfg->line = 0;
		if (cur_map != NULL)
			cur_map->nlines = 0;
		check_core(cfg, c, &nerr);
		for (i = 0; i < BS_ARRAY_LEN(areas); i++)
			if (areas[i]->check != NULL)
				areas[i]->check(cfg, &nerr);
	}
	free_bounds();
	seen_free();
	cur_sink = NULL;
	cur_root = NULL;
	if (cur_map != NULL) {
		map_free(cur_map);
		cur_map = NULL;
	}
	if (sink.count > 0 || nerr > 0) {
		cfg_free(cfg);
		free(c);
		return NULL;
	}
	cfg_set_error_function(cfg, NULL);

	c->refs = 1;
	c->path = xstrdup(path);
	c->cfg = cfg;
	if (cfg_getstr(cfg, "node_name") == NULL) {
		if (gethostname(host, sizeof host) != 0)
			bs_strlcpy(host, "localhost", sizeof host);
		host[sizeof host - 1] = '\0';
		cfg_setstr(cfg, "node_name", host);
	}
	/* relative file names are taken from the config file's folder */
	if (path != NULL && strchr(path, '/') != NULL) {
		static const char *const relkeys[] = { "secret_file", "state_dir" };
		for (i = 0; i < BS_ARRAY_LEN(relkeys); i++) {
			const char *v = cfg_getstr(cfg, relkeys[i]);
			if (v != NULL && v[0] != '/' && v[0] != '\0') {
				char *full = xasprintf("%.*s/%s", (int)(strrchr(path, '/') - path), path, v);
				cfg_setstr(cfg, relkeys[i], full);
				free(full);
			}
		}
	}
	c->node_name = cfg_getstr(cfg, "node_name");
	c->database = cfg_getstr(cfg, "database");
	c->state_dir = cfg_getstr(cfg, "state_dir");
	c->secret_file = cfg_getstr(cfg, "secret_file");
	c->user = cfg_getstr(cfg, "user");
	c->queue_capacity = cfg_getint(cfg, "queue|capacity");
	c->queue_batch = cfg_getint(cfg, "queue|batch_size");
	c->queue_flush_ms = cfg_getint(cfg, "queue|flush_interval_ms");
	c->score.half_life_s = (double)cfg_getint(cfg, "scoring|half_life");
	c->score.level[0] = cfg_getfloat(cfg, "scoring|level1");
	c->score.level[1] = cfg_getfloat(cfg, "scoring|level2");
	c->score.level[2] = cfg_getfloat(cfg, "scoring|level3");
	bs_strlcpy(c->score.mitigation, cfg_getstr(cfg, "scoring|mitigation"), sizeof c->score.mitigation);
	c->score.volume_max_level = (int)cfg_getint(cfg, "scoring|volume_max_level");
	c->score.ipv6_prefix_len = (int)cfg_getint(cfg, "leases|ipv6_prefix_len");
	c->score.volume_kinds[0] = '\0';
	for (i = 0; i < cfg_size(cfg, "scoring|volume_kinds"); i++) {
		size_t used = strlen(c->score.volume_kinds);
		snprintf(c->score.volume_kinds + used, sizeof c->score.volume_kinds - used, "%s%s",
		    used ? "," : "", cfg_getnstr(cfg, "scoring|volume_kinds", (unsigned)i));
	}
	c->retention_events_s = cfg_getint(cfg, "retention|events");
	c->retention_incidents_s = cfg_getint(cfg, "retention|incidents");
	c->ipv6_prefix_len = cfg_getint(cfg, "leases|ipv6_prefix_len");
	return c;
}

struct conf *
conf_ref(struct conf *c)
{
	if (c != NULL)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	return c;
}

void
conf_unref(struct conf *c)
{
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	cfg_free(c->cfg);
	free(c->path);
	free(c);
}

/* Modes print in octal and durations with a unit, so that the output of
 * `config check` reads back as the same settings. */
static void
print_mode(cfg_opt_t *opt, unsigned int index, FILE *fp)
{
	fprintf(fp, "\"%04lo\"", cfg_opt_getnint(opt, index));
}

static void
print_duration(cfg_opt_t *opt, unsigned int index, FILE *fp)
{
	long v = cfg_opt_getnint(opt, index);

	if (v != 0 && v % 86400 == 0)
		fprintf(fp, "%ldd", v / 86400);
	else if (v != 0 && v % 3600 == 0)
		fprintf(fp, "%ldh", v / 3600);
	else if (v != 0 && v % 60 == 0)
		fprintf(fp, "%ldm", v / 60);
	else
		fprintf(fp, "%lds", v);
}

static void
set_printers(cfg_t *cfg)
{
	cfg_opt_t *opt;
	unsigned i;

	for (opt = cfg->opts; opt != NULL && opt->name != NULL; opt++) {
		if (opt->type == CFGT_SEC) {
			for (i = 0; i < cfg_opt_size(opt); i++)
				set_printers(cfg_opt_getnsec(opt, i));
		} else if (opt->parsecb == conf_parse_mode) {
			cfg_opt_set_print_func(opt, print_mode);
		} else if (opt->parsecb == conf_parse_duration) {
			cfg_opt_set_print_func(opt, print_duration);
		}
	}
}

void
conf_print(const struct conf *c, FILE *f)
{
	set_printers(c->cfg);
	fprintf(f, "# effective settings%s%s\n", c->path ? " of " : " (built-in defaults)",
	    c->path ? c->path : "");
	cfg_print(c->cfg, f);
}
