/*
 * subcsv.h - parse one line of the subscribers CSV (id,email,name[,login]).
 */
#ifndef BS_CLI_SUBCSV_H
#define BS_CLI_SUBCSV_H

#include <stddef.h>

struct subcsv_row {
	char *id, *email, *name, *login;     /* email, name, login may be NULL */
};

/*
 * line: one line, its end included or not (need not be NUL-terminated).
 * first: it is the file's first line (a header and a BOM are allowed).
 * Returns 1 and fills *row (subcsv_row_clear it), 0 for a line to skip
 * (blank, comment, header), or -1 with a message naming the field.
 */
int subcsv_parse_line(const char *line, size_t len, int first, struct subcsv_row *row,
    char *err, size_t errlen);
void subcsv_row_clear(struct subcsv_row *r);

#endif
