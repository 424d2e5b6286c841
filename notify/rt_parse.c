/*
 * rt_parse.c - reading Request Tracker's REST 2.0 answers (outside input):
 * the created ticket's id, a ticket's Status, a search's first hit.  Junk
 * gives -1 and a message naming the field; nothing here trusts a length or
 * a type.  Fuzzed by fuzz/fuzz_rt_json.
 */
#include "config.h"
#include "channel.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A ticket id: a JSON number or a string of digits, 1..2^53. */
static int
read_id(json_t *v, long long *id)
{
	if (json_is_integer(v)) {
		*id = (long long)json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		if (*s == '\0' || strlen(s) > 16)
			return -1;
		for (const char *p = s; *p; p++)
			if (!isdigit((unsigned char)*p))
				return -1;
		errno = 0;
		*id = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
	} else {
		return -1;
	}
	return *id > 0 && *id < (1LL << 53) ? 0 : -1;
}

static json_t *
load(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j;

	if (body == NULL || len == 0) {
		snprintf(err, errlen, "empty answer");
		return NULL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		snprintf(err, errlen, "answer is not JSON: line %d: %s", je.line, je.text);
	return j;
}

int
rt_parse_ticket(const char *body, size_t len, long long *id, char *status, size_t ssize,
    char *err, size_t errlen)
{
	json_t *j = load(body, len, err, errlen), *st;
	const char *s;
	size_t i, n;

	if (j == NULL)
		return -1;
	if (!json_is_object(j)) {
		snprintf(err, errlen, "answer is not a JSON object");
		json_decref(j);
		return -1;
	}
	if (read_id(json_object_get(j, "id"), id) != 0) {
		snprintf(err, errlen, "field 'id': expected a ticket number");
		json_decref(j);
		return -1;
	}
	st = json_object_get(j, "Status");
	if (!json_is_string(st) || (n = strlen(s = json_string_value(st))) == 0 || n >= ssize || n > 64) {
		snprintf(err, errlen, "field 'Status': expected a short string");
		json_decref(j);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_' && c != '-' && c != ' ') {
			snprintf(err, errlen, "field 'Status': unexpected character");
			json_decref(j);
			return -1;
		}
		status[i] = (char)tolower(c);
	}
	status[n] = '\0';
	json_decref(j);
	return 0;
}

int
rt_parse_created(const char *body, size_t len, const char *location, long long *id,
    char *err, size_t errlen)
{
	json_t *j = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	int rc = -1;

	if (json_is_object(j) && read_id(json_object_get(j, "id"), id) == 0)
		rc = 0;
	json_decref(j);
	if (rc != 0 && location != NULL) {
		const char *p = strstr(location, "/ticket/");
		if (p != NULL) {
			json_t *s = json_string(p + 8);
			if (s != NULL && read_id(s, id) == 0)
				rc = 0;
			json_decref(s);
		}
	}
	if (rc != 0)
		snprintf(err, errlen, "no ticket id in the answer (field 'id' or Location)");
	return rc;
}

int
rt_parse_search(const char *body, size_t len, long long *id, char *err, size_t errlen)
{
	json_t *j = load(body, len, err, errlen), *items;
	int rc;

	if (j == NULL)
		return -1;
	items = json_object_get(j, "items");
	if (!json_is_array(items)) {
		snprintf(err, errlen, "field 'items': expected an array");
		json_decref(j);
		return -1;
	}
	if (json_array_size(items) == 0) {
		json_decref(j);
		return 1;
	}
	rc = read_id(json_object_get(json_array_get(items, 0), "id"), id);
	if (rc != 0)
		snprintf(err, errlen, "field 'items[0].id': expected a ticket number");
	json_decref(j);
	return rc;
}
