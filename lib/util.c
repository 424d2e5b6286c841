/*
 * util.c - allocation, strings and time helpers.
 *
 * The allocation wrappers print one line and abort on failure: a sensor that
 * cannot allocate cannot do anything useful, and the milter's failure mode
 * (Postfix's default_action=accept) then takes over.
 */
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static BS_NORETURN void
oom(size_t n)
{
	fprintf(stderr, "botsentry: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		oom(n);
	return q;
}

char *
xstrdup(const char *s)
{
	if (s == NULL)
		return NULL;
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;
	size_t len = strnlen(s, n);

	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *p;
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		oom(0);
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

size_t
bs_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

char *
bs_sanitize(const char *s, size_t len, size_t maxlen)
{
	size_t cap = (len < maxlen ? len : maxlen) * 4 + 8, o = 0, i;
	char *out = xmalloc(cap);

	if (s == NULL) {
		out[0] = '\0';
		return out;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= maxlen) {
			memcpy(out + o, "...", 4);
			return out;
		}
		if (c == '\\' || c == '"') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

char *
bs_lower(char *s)
{
	char *p;

	for (p = s; p != NULL && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

int64_t
bs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
bs_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
bs_fmt_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)ms);
	return buf;
}

int
bs_parse_duration(const char *s, int64_t *secs)
{
	char *end;
	long long v;
	int64_t mult = 1;

	if (s == NULL || *s == '\0' || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	switch (*end) {
	case '\0': case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 7 * 86400; break;
	default: return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > INT64_MAX / mult / 1000)
		return -1;
	*secs = (int64_t)v * mult;
	return 0;
}

int
bs_parse_time(const char *s, int64_t now_ms, int64_t *ms)
{
	struct tm tm;
	const char *rest;
	int64_t secs;
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	if (*s == '-') {
		if (bs_parse_duration(s + 1, &secs) != 0)
			return -1;
		*ms = now_ms - secs * 1000;
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	rest = strptime(s, "%Y-%m-%d", &tm);
	if (rest != NULL && rest - s == 10) {
		if (*rest == 'T' || *rest == ' ') {
			const char *r2 = strptime(rest + 1, "%H:%M:%S", &tm);
			if (r2 == NULL)
				r2 = strptime(rest + 1, "%H:%M", &tm);
			if (r2 == NULL)
				return -1;
			rest = r2;
		}
		if (*rest == 'Z')
			rest++;
		if (*rest != '\0')
			return -1;
		*ms = (int64_t)timegm(&tm) * 1000;
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		return -1;
	*ms = (int64_t)v * 1000;
	return 0;
}

char *
bs_read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;
		fclose(f);
		free(buf);
		errno = e;
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

int
bs_mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path), *q;
	int rc = 0;

	for (q = p + 1; ; q++) {
		if (*q == '/' || *q == '\0') {
			char c = *q;
			*q = '\0';
			if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
				rc = -1;
				break;
			}
			*q = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	return rc;
}
