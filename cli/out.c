/*
 * out.c - tables, colour and JSON for the botsentry command (see out.h).
 */
#include "config.h"
#include "out.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct cell {
	char *text;
	const char *sgr;
};

struct table {
	size_t ncols;
	char **head;
	int *right;
	struct cell *cells;      /* rows * ncols */
	size_t nrows, cap;
	size_t cur;              /* next column in the current row */
};

static int colour_on;

void
out_set_colour(int on)
{
	colour_on = on;
}

int
out_colour_on(void)
{
	return colour_on;
}

const char *
out_sgr(const char *sgr)
{
	static char buf[4][24];
	static int k;

	if (!colour_on || sgr == NULL)
		return "";
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "\033[%sm", sgr);
	return buf[k];
}

const char *
out_reset(void)
{
	return colour_on ? "\033[0m" : "";
}

char *
out_clean(const char *s)
{
	size_t n, o = 0;
	char *d;
	const unsigned char *p;

	if (s == NULL)
		return xstrdup("-");
	n = strlen(s);
	d = xmalloc(n * 4 + 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)sprintf(d + o, "\\x%02x", *p);
		else
			d[o++] = (char)*p;
	}
	d[o] = '\0';
	return d;
}

struct table *
table_new(const char *const *cols)
{
	struct table *t = xcalloc(1, sizeof *t);
	size_t i;

	while (cols[t->ncols] != NULL)
		t->ncols++;
	t->head = xcalloc(t->ncols, sizeof *t->head);
	t->right = xcalloc(t->ncols, sizeof *t->right);
	for (i = 0; i < t->ncols; i++)
		t->head[i] = xstrdup(cols[i]);
	t->cur = t->ncols;
	return t;
}

void
table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncols; i++)
		free(t->head[i]);
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].text);
	free(t->head);
	free(t->right);
	free(t->cells);
	free(t);
}

void
table_right(struct table *t, int col)
{
	if (col >= 0 && (size_t)col < t->ncols)
		t->right[col] = 1;
}

void
table_row(struct table *t)
{
	size_t i;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
	}
	for (i = 0; i < t->ncols; i++) {
		t->cells[t->nrows * t->ncols + i].text = NULL;
		t->cells[t->nrows * t->ncols + i].sgr = NULL;
	}
	t->nrows++;
	t->cur = 0;
}

void
table_cell(struct table *t, const char *s)
{
	if (t->nrows == 0 || t->cur >= t->ncols)
		return;
	t->cells[(t->nrows - 1) * t->ncols + t->cur++].text = out_clean(s);
}

void
table_cellf(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	table_cell(t, s);
	free(s);
}

void
table_colour(struct table *t, const char *sgr)
{
	if (t->nrows == 0 || t->cur == 0)
		return;
	t->cells[(t->nrows - 1) * t->ncols + t->cur - 1].sgr = sgr;
}

size_t
table_rows(const struct table *t)
{
	return t->nrows;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void
csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void
table_print(const struct table *t, FILE *f, int tty, enum out_format fmt)
{
	size_t r, c, *w;

	if (fmt == OUT_CSV) {
		for (c = 0; c < t->ncols; c++) {
			if (c)
				fputc(',', f);
			csv_field(f, t->head[c]);
		}
		fputs("\r\n", f);
		for (r = 0; r < t->nrows; r++) {
			for (c = 0; c < t->ncols; c++) {
				const char *s = t->cells[r * t->ncols + c].text;
				if (c)
					fputc(',', f);
				csv_field(f, s ? s : "");
			}
			fputs("\r\n", f);
		}
		return;
	}
	if (!tty) {
		for (c = 0; c < t->ncols; c++)
			fprintf(f, "%s%s", c ? "\t" : "", t->head[c]);
		fputc('\n', f);
		for (r = 0; r < t->nrows; r++) {
			for (c = 0; c < t->ncols; c++) {
				const char *s = t->cells[r * t->ncols + c].text;
				fprintf(f, "%s%s", c ? "\t" : "", s ? s : "-");
			}
			fputc('\n', f);
		}
		return;
	}
	w = xcalloc(t->ncols, sizeof *w);
	for (c = 0; c < t->ncols; c++) {
		w[c] = width(t->head[c]);
		for (r = 0; r < t->nrows; r++) {
			const char *s = t->cells[r * t->ncols + c].text;
			size_t cw = width(s ? s : "-");
			if (cw > w[c])
				w[c] = cw;
		}
	}
	for (c = 0; c < t->ncols; c++) {
		size_t pad = w[c] - width(t->head[c]);
		int last = c + 1 == t->ncols;
		if (t->right[c])
			fprintf(f, "%*s", (int)pad, "");
		fprintf(f, "%s%s%s", out_sgr(OUT_BOLD), t->head[c], out_reset());
		if (!t->right[c] && !last)
			fprintf(f, "%*s", (int)pad, "");
		if (!last)
			fputs("  ", f);
	}
	fputc('\n', f);
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const struct cell *cl = &t->cells[r * t->ncols + c];
			const char *s = cl->text ? cl->text : "-";
			size_t pad = w[c] - width(s);
			int last = c + 1 == t->ncols;
			if (t->right[c])
				fprintf(f, "%*s", (int)pad, "");
			if (cl->sgr != NULL)
				fprintf(f, "%s%s%s", out_sgr(cl->sgr), s, out_reset());
			else
				fputs(s, f);
			if (!t->right[c] && !last)
				fprintf(f, "%*s", (int)pad, "");
			if (!last)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
	free(w);
}

const char *
out_time(int64_t ms, char *buf, size_t size)
{
	if (ms <= 0) {
		bs_strlcpy(buf, "-", size);
		return buf;
	}
	return bs_fmt_time(ms, buf, size);
}

json_t *
out_json_time(int64_t ms)
{
	char buf[40];

	if (ms <= 0)
		return json_null();
	return json_string(bs_fmt_time(ms, buf, sizeof buf));
}

json_t *
out_json_str(const char *s)
{
	json_t *j;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	if (j == NULL) {
		/* not UTF-8: keep it readable and valid */
		char *c = bs_sanitize(s, strlen(s), 4096);
		char *p;
		for (p = c; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		j = json_string(c);
		free(c);
	}
	return j;
}

const char *
out_age(int64_t ms, int64_t now_ms, char *buf, size_t size)
{
	int64_t s = (now_ms - ms) / 1000;

	if (ms <= 0)
		snprintf(buf, size, "-");
	else if (s < 0)
		snprintf(buf, size, "in future");
	else if (s < 120)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, size, "%lldd", (long long)(s / 86400));
	return buf;
}

void
out_json(json_t *j, FILE *f)
{
	json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	fputc('\n', f);
	json_decref(j);
}
