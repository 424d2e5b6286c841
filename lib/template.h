/*
 * template.h - notice templates: "{{name}}" substitution with every value
 * escaped for where it lands.
 *
 * A template file (conf/templates/NAME.txt) is a small message: header lines
 * ("Subject: ..."), a blank line, then the body.  Variables are written
 * {{name}} (spaces inside the braces are allowed); an unknown name is an
 * error that names the file and line, so a typo never reaches a subscriber.
 * The variables botsentry-notifyd sets are listed in botsentry-notifyd(8).
 *
 * Values are untrusted (a bot chooses its HELO name): in text and headers
 * control bytes become spaces and invalid UTF-8 becomes '?' (mime_clean);
 * multi-line values (set with tmpl_set_lines) keep their line breaks in a
 * body only.  JSON rendering writes each value as a JSON string through
 * jansson.  Nothing here ever runs a shell.
 */
#ifndef BS_TEMPLATE_H
#define BS_TEMPLATE_H

#include <stddef.h>

enum tmpl_target {
	TMPL_TEXT,      /* a plain-text body */
	TMPL_HEADER,    /* a header value: one line */
	TMPL_JSON       /* inside JSON: each value becomes a quoted JSON string */
};

struct tmpl_vars;

struct tmpl_vars *tmpl_vars_new(void);
void tmpl_vars_free(struct tmpl_vars *v);          /* NULL is fine */
/* Set (or replace) a one-line value; copied.  value NULL counts as "". */
void tmpl_set(struct tmpl_vars *v, const char *name, const char *value);
void tmpl_setf(struct tmpl_vars *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set a value whose line breaks are kept in a body (each line cleaned). */
void tmpl_set_lines(struct tmpl_vars *v, const char *name, const char *value);
/* Borrowed; NULL when not set. */
const char *tmpl_get(const struct tmpl_vars *v, const char *name);

/*
 * Render src.  where names the source in error messages ("new.txt").
 * Returns the text (caller frees), or NULL with "where:line: message" in err.
 */
char *tmpl_render(const char *src, const char *where, const struct tmpl_vars *v,
    enum tmpl_target target, char *err, size_t errlen);

struct tmpl_message {
	char *subject;      /* rendered as a header value; "" when none */
	char *body;         /* rendered text, LF line ends, ends in one LF */
};
void tmpl_message_clear(struct tmpl_message *m);

/*
 * Render a template message: the header part (only "Subject:" is known;
 * other names are an error) with TMPL_HEADER, the body with TMPL_TEXT.
 * 0, or -1 with a message in err.
 */
int tmpl_render_message(const char *src, const char *where, const struct tmpl_vars *v,
    struct tmpl_message *out, char *err, size_t errlen);
/* Load dir/name and render it as above. */
int tmpl_render_file(const char *dir, const char *name, const struct tmpl_vars *v,
    struct tmpl_message *out, char *err, size_t errlen);

/* Largest size of one rendered value in a body or header (bytes); longer
 * values are cut with "...". */
#define TMPL_VALUE_MAX 900

#endif
