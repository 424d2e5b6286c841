/*
 * util.h - allocation, strings and time helpers shared by every program.
 *
 * Out of memory is fatal everywhere: the x* family never returns NULL, so no
 * caller checks.  Destructor-style helpers accept NULL.
 */
#ifndef BS_UTIL_H
#define BS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define BS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define BS_NORETURN __attribute__((noreturn))
#define BS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);                  /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) BS_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) BS_PRINTF(1, 0);

/* Copy at most size-1 bytes and always terminate; returns strlen(src). */
size_t bs_strlcpy(char *dst, const char *src, size_t size);

/*
 * Make an untrusted string safe to print in a log line, a table or a notice:
 * control bytes (CR, LF, NUL, ESC, ...) become \xNN, backslash and double
 * quote are escaped, the result is cut at maxlen bytes with "..." appended.
 * len is the input length (the input may hold NUL bytes).  Caller frees.
 */
char *bs_sanitize(const char *s, size_t len, size_t maxlen);

/* Lower-case ASCII in place; returns s. */
char *bs_lower(char *s);

/* Wall-clock milliseconds since the epoch, and a monotonic clock in ms. */
int64_t bs_now_ms(void);
int64_t bs_mono_ms(void);

/* Format epoch ms as "2026-11-26T14:06:00Z" (UTC) into buf (>= 32 bytes). */
const char *bs_fmt_time(int64_t ms, char *buf, size_t size);

/*
 * Parse a time given by a person: epoch seconds, "YYYY-MM-DD",
 * "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC), or a relative "-30m", "-2h", "-7d".
 * Returns 0 and sets *ms, or -1.
 */
int bs_parse_time(const char *s, int64_t now_ms, int64_t *ms);

/*
 * Parse a duration: "90" (seconds), "90s", "15m", "2h", "7d", "1w".
 * Returns 0 and sets *secs, or -1.
 */
int bs_parse_duration(const char *s, int64_t *secs);

/* Read a whole file into a NUL-terminated buffer; NULL and errno on error. */
char *bs_read_file(const char *path, size_t *len);

/*
 * Read a secret (webhook signing key, RT token, Redis password) from a
 * file, with the rules of privacy_load_secret: refuse a missing, empty or
 * non-regular file, or one that group or others may read or write.  The
 * trailing newline is not part of the secret.  Returns the secret (caller
 * frees, *len set), or NULL with a message naming the file in err
 * (lib/secretfile.c).
 */
char *bs_read_secret(const char *path, size_t *len, char *err, size_t errlen);

/* mkdir -p with a mode for every folder it creates; 0 or -1 and errno. */
int bs_mkdir_p(const char *path, unsigned mode);

#endif
