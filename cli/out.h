/*
 * out.h - how botsentry prints: aligned tables (with colour) on a terminal,
 * tab-separated lines through a pipe, CSV, and JSON.
 *
 * On a terminal a table is aligned with spaces, its header is bold and
 * cells may carry a colour (NO_COLOR in the environment turns colour off).
 * Through a pipe the same table is plain tab-separated text with the
 * header line first: no escape codes and no padding, so that cut, awk and
 * sort work on it.  Every cell is cleaned of control bytes first: values
 * come from outside (HELO names, complaint fields).
 */
#ifndef BS_CLI_OUT_H
#define BS_CLI_OUT_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#define OUT_RED "31"
#define OUT_GREEN "32"
#define OUT_YELLOW "33"
#define OUT_BLUE "34"
#define OUT_MAGENTA "35"
#define OUT_DIM "2"
#define OUT_BOLD "1"

struct table;

/* cols: the header names, NULL-terminated. */
struct table *table_new(const char *const *cols);
void table_free(struct table *t);                 /* NULL is fine */
void table_right(struct table *t, int col);       /* right-align a (numeric) column */
void table_row(struct table *t);                  /* start a new row */
void table_cell(struct table *t, const char *s);  /* NULL prints as "-" */
void table_cellf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void table_colour(struct table *t, const char *sgr);   /* colour of the last cell */
size_t table_rows(const struct table *t);

enum out_format { OUT_TEXT = 0, OUT_CSV, OUT_JSON };

/* Print: tty -> aligned and coloured; else tab-separated; csv -> RFC 4180. */
void table_print(const struct table *t, FILE *f, int tty, enum out_format fmt);

/* Colour helpers for free text (empty strings when not on a colour tty). */
void out_set_colour(int on);
int out_colour_on(void);
const char *out_sgr(const char *sgr);     /* "\033[<sgr>m" or "" */
const char *out_reset(void);              /* "\033[0m" or "" */

/* A value from outside made printable: control bytes as \xNN.  Caller frees. */
char *out_clean(const char *s);

/* "2026-11-26T14:06:00Z", or "-" for 0.  buf >= 32 bytes. */
const char *out_time(int64_t ms, char *buf, size_t size);
/* An ISO time as a JSON string, or JSON null for 0. */
json_t *out_json_time(int64_t ms);
/* A JSON string, or JSON null for NULL. */
json_t *out_json_str(const char *s);
/* "3h ago", "2d" style age of ms relative to now_ms.  buf >= 32. */
const char *out_age(int64_t ms, int64_t now_ms, char *buf, size_t size);

/* Print a JSON value (indented, keys in insertion order) and a newline;
 * drops the reference. */
void out_json(json_t *j, FILE *f);

#endif
