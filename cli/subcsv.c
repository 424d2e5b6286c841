/*
 * subcsv.c - one line of the subscribers CSV (botsentry subscribers
 * import): id,email,name[,login], RFC 4180 quoting without embedded line
 * breaks.  Outside input: every refusal says which field and why; NUL
 * bytes, control characters and overlong values are refused, never a
 * crash (fuzz/fuzz_subcsv.c).
 */
#include "config.h"
#include "subcsv.h"
#include "event.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
csv_split(char *line, char **f, int max, char *err, size_t errlen)
{
	char *p = line, *o;
	int n = 0;

	for (;;) {
		if (n == max) {
			snprintf(err, errlen, "more than %d fields", max);
			return -1;
		}
		f[n++] = o = p;
		if (*p == '"') {
			p++;
			for (;;) {
				if (*p == '\0') {
					snprintf(err, errlen, "unterminated quoted field %d", n);
					return -1;
				}
				if (*p == '"' && p[1] == '"') {
					*o++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else
					*o++ = *p++;
			}
			if (*p != ',' && *p != '\0') {
				snprintf(err, errlen, "field %d: text after the closing quote", n);
				return -1;
			}
		} else {
			while (*p != ',' && *p != '\0') {
				if (*p == '"') {
					snprintf(err, errlen, "field %d: a quote inside an unquoted field", n);
					return -1;
				}
				*o++ = *p++;
			}
		}
		if (*p == '\0') {
			*o = '\0';
			return n;
		}
		*o = '\0';
		p++;
	}
}

static int
valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= EVENT_SUBSCRIBER_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == ',')
			return 0;
	return 1;
}

static int
valid_email(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0' || strchr(at, '.') == NULL || strlen(s) > 254)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f || strchr("<>,;\"", *s) != NULL)
			return 0;
	return 1;
}

static int
valid_text(const char *s)
{
	if (strlen(s) > 200)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

struct sub_row {
	char *id, *email, *name, *login;
};

void
subcsv_row_clear(struct subcsv_row *r)
{
	if (r == NULL)
		return;
	free(r->id);
	free(r->email);
	free(r->name);
	free(r->login);
	memset(r, 0, sizeof *r);
}

int
subcsv_parse_line(const char *in, size_t len, int first, struct subcsv_row *row, char *err, size_t errlen)
{
	char *line, *fld[5];
	int nf, rc = 1;

	memset(row, 0, sizeof *row);
	if (memchr(in, '\0', len) != NULL) {
		snprintf(err, errlen, "a NUL byte in the line");
		return -1;
	}
	if (len > 4096) {
		snprintf(err, errlen, "line longer than 4096 bytes");
		return -1;
	}
	line = xstrndup(in, len);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (first && len >= 3 && (unsigned char)line[0] == 0xef && (unsigned char)line[1] == 0xbb &&
	    (unsigned char)line[2] == 0xbf)
		memmove(line, line + 3, len - 2);   /* a BOM from a spreadsheet */
	if (line[0] == '\0' || line[0] == '#') {
		free(line);
		return 0;
	}
	nf = csv_split(line, fld, 5, err, errlen);
	if (nf < 0)
		rc = -1;
	else if (first && strcmp(fld[0], "id") == 0)
		rc = 0;                          /* a header line */
	else if (nf < 3 || nf > 4) {
		snprintf(err, errlen, "expected 3 or 4 fields (id,email,name[,login]), got %d", nf);
		rc = -1;
	} else if (!valid_id(fld[0])) {
		snprintf(err, errlen, "field 1 (id): '%.80s' is empty, too long or holds blanks, commas or control characters",
		    fld[0]);
		rc = -1;
	} else if (fld[1][0] != '\0' && !valid_email(fld[1])) {
		snprintf(err, errlen, "field 2 (email): '%.80s' is not a mail address", fld[1]);
		rc = -1;
	} else if (!valid_text(fld[2])) {
		snprintf(err, errlen, "field 3 (name): too long or holds control characters");
		rc = -1;
	} else if (nf == 4 && fld[3][0] != '\0' && !valid_id(fld[3])) {
		snprintf(err, errlen, "field 4 (login): '%.80s' is too long or holds blanks or control characters", fld[3]);
		rc = -1;
	} else {
		row->id = xstrdup(fld[0]);
		row->email = fld[1][0] ? xstrdup(fld[1]) : NULL;
		row->name = fld[2][0] ? xstrdup(fld[2]) : NULL;
		row->login = nf == 4 && fld[3][0] ? xstrdup(fld[3]) : NULL;
	}
	free(line);
	return rc;
}
