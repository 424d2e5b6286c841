/*
 * template.c - "{{name}}" substitution with per-target escaping.  See
 * template.h.  The variable table is a short list: a notice has a few dozen
 * variables at most, so a linear search is the simplest thing that works.
 */
#include "config.h"
#include "template.h"
#include "mime.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

struct tvar {
	char *name;
	char *value;
	int lines;
};

struct tmpl_vars {
	struct tvar *v;
	size_t n, cap;
};

struct tmpl_vars *
tmpl_vars_new(void)
{
	return xcalloc(1, sizeof(struct tmpl_vars));
}

void
tmpl_vars_free(struct tmpl_vars *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		free(v->v[i].name);
		free(v->v[i].value);
	}
	free(v->v);
	free(v);
}

static struct tvar *
find(const struct tmpl_vars *v, const char *name, size_t nlen)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strlen(v->v[i].name) == nlen && memcmp(v->v[i].name, name, nlen) == 0)
			return &v->v[i];
	return NULL;
}

static void
set(struct tmpl_vars *v, const char *name, const char *value, int lines)
{
	struct tvar *t = find(v, name, strlen(name));

	if (t == NULL) {
		if (v->n == v->cap) {
			v->cap = v->cap ? v->cap * 2 : 32;
			v->v = xrealloc(v->v, v->cap * sizeof *v->v);
		}
		t = &v->v[v->n++];
		t->name = xstrdup(name);
	} else {
		free(t->value);
	}
	t->value = xstrdup(value ? value : "");
	t->lines = lines;
}

void
tmpl_set(struct tmpl_vars *v, const char *name, const char *value)
{
	set(v, name, value, 0);
}

void
tmpl_set_lines(struct tmpl_vars *v, const char *name, const char *value)
{
	set(v, name, value, 1);
}

void
tmpl_setf(struct tmpl_vars *v, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	set(v, name, s, 0);
	free(s);
}

const char *
tmpl_get(const struct tmpl_vars *v, const char *name)
{
	struct tvar *t = find(v, name, strlen(name));

	return t ? t->value : NULL;
}

/* Append one value escaped for the target. */
static void
put_value(struct mbuf *b, const struct tvar *t, enum tmpl_target target)
{
	char *c;

	if (target == TMPL_TEXT && t->lines) {
		const char *p = t->value;
		int first = 1;

		while (*p || first) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);

			if (!first)
				mbuf_adds(b, "\n");
			c = mime_clean(p, n);
			mbuf_adds(b, c);
			free(c);
			first = 0;
			p += n;
			if (*p == '\n')
				p++;
			else
				break;
		}
		return;
	}
	c = mime_clean(t->value, strlen(t->value));
	if (target == TMPL_JSON) {
		json_t *j = json_string(c);
		char *s = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

		mbuf_adds(b, s ? s : "\"\"");
		free(s);
		json_decref(j);
	} else {
		mbuf_adds(b, c);
	}
	free(c);
}

static char *
render_at(const char *src, const char *where, int line, const struct tmpl_vars *v,
    enum tmpl_target target, char *err, size_t errlen)
{
	struct mbuf b = { 0 };
	const char *p = src;

	while (*p) {
		const char *open = strstr(p, "{{"), *close, *ns, *ne, *q;
		const struct tvar *t;

		if (open == NULL) {
			mbuf_adds(&b, p);
			break;
		}
		for (q = p; q < open; q++)
			if (*q == '\n')
				line++;
		mbuf_add(&b, p, (size_t)(open - p));
		close = strstr(open + 2, "}}");
		if (close == NULL || memchr(open, '\n', (size_t)(close - open)) != NULL) {
			snprintf(err, errlen, "%s:%d: '{{' without a closing '}}' on the same line",
			    where, line);
			mbuf_free(&b);
			return NULL;
		}
		ns = open + 2;
		ne = close;
		while (ns < ne && *ns == ' ')
			ns++;
		while (ne > ns && ne[-1] == ' ')
			ne--;
		t = find(v, ns, (size_t)(ne - ns));
		if (t == NULL) {
			snprintf(err, errlen, "%s:%d: unknown variable '%.*s'", where, line,
			    (int)(ne - ns > 64 ? 64 : ne - ns), ns);
			mbuf_free(&b);
			return NULL;
		}
		put_value(&b, t, target);
		p = close + 2;
	}
	return mbuf_take(&b);
}

char *
tmpl_render(const char *src, const char *where, const struct tmpl_vars *v,
    enum tmpl_target target, char *err, size_t errlen)
{
	return render_at(src, where, 1, v, target, err, errlen);
}

void
tmpl_message_clear(struct tmpl_message *m)
{
	free(m->subject);
	free(m->body);
	m->subject = m->body = NULL;
}

int
tmpl_render_message(const char *src, const char *where, const struct tmpl_vars *v,
    struct tmpl_message *out, char *err, size_t errlen)
{
	const char *p = src, *body;
	int line = 1;
	char *subject_src = NULL, *bodytext;
	int subject_line = 1;
	size_t bl;

	memset(out, 0, sizeof *out);
	/* header part: lines up to the first empty line */
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0) {
			body = nl ? nl + 1 : p + strlen(p);
			line++;
			break;
		}
		if (n >= 8 && strncasecmp(p, "Subject:", 8) == 0) {
			const char *s = p + 8;
			while (*s == ' ' || *s == '\t')
				s++;
			free(subject_src);
			subject_src = xstrndup(s, n - (size_t)(s - p));
			subject_line = line;
		} else {
			snprintf(err, errlen, "%s:%d: expected 'Subject: ...' or an empty line before the body",
			    where, line);
			free(subject_src);
			return -1;
		}
		if (nl == NULL) {
			body = p + strlen(p);
			break;
		}
		p = nl + 1;
		line++;
	}
	out->subject = render_at(subject_src ? subject_src : "", where, subject_line, v,
	    TMPL_HEADER, err, errlen);
	free(subject_src);
	if (out->subject == NULL)
		return -1;
	bodytext = render_at(body, where, line, v, TMPL_TEXT, err, errlen);
	if (bodytext == NULL) {
		tmpl_message_clear(out);
		return -1;
	}
	bl = strlen(bodytext);
	while (bl > 0 && (bodytext[bl - 1] == '\n' || bodytext[bl - 1] == ' '))
		bl--;
	bodytext[bl] = '\0';
	out->body = xasprintf("%s\n", bodytext);
	free(bodytext);
	return 0;
}

int
tmpl_render_file(const char *dir, const char *name, const struct tmpl_vars *v,
    struct tmpl_message *out, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *src = bs_read_file(path, NULL);
	int rc;

	if (src == NULL) {
		snprintf(err, errlen, "%s: cannot read template: %s", path, strerror(errno));
		memset(out, 0, sizeof *out);
		free(path);
		return -1;
	}
	rc = tmpl_render_message(src, path, v, out, err, errlen);
	free(src);
	free(path);
	return rc;
}
