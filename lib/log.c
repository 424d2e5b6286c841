/*
 * log.c - syslog or stderr logging with levels.
 *
 * In the foreground each line gets a UTC time stamp, the program name and the
 * level, so that test logs and an operator's terminal read the same as the
 * syslog.  Safe to call from any thread: one write(2)-sized fprintf per line.
 */
#include "config.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static char log_ident[64] = "botsentry";
static int log_foreground = 1;
static int log_level = LOG_INFO;
static int log_opened;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct { const char *name; int value; } facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};
static const struct { const char *name; int value; } levels[] = {
	{ "err", LOG_ERR }, { "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "warn", LOG_WARNING }, { "notice", LOG_NOTICE }, { "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};

int
log_facility_from_name(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < BS_ARRAY_LEN(facilities); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].value;
	return -1;
}

int
log_level_from_name(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < BS_ARRAY_LEN(levels); i++)
		if (strcasecmp(name, levels[i].name) == 0)
			return levels[i].value;
	return -1;
}

void
log_init(const char *ident, int foreground, int facility, int min_level)
{
	pthread_mutex_lock(&log_lock);
	bs_strlcpy(log_ident, ident, sizeof log_ident);
	log_foreground = foreground;
	log_level = min_level;
	if (!foreground) {
		if (log_opened)
			closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
		log_opened = 1;
	}
	pthread_mutex_unlock(&log_lock);
}

void
log_set_level(int min_level)
{
	log_level = min_level;
}

int
log_get_level(void)
{
	return log_level;
}

void
log_set_facility(int facility)
{
	pthread_mutex_lock(&log_lock);
	if (!log_foreground) {
		closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
		log_opened = 1;
	}
	pthread_mutex_unlock(&log_lock);
}

static const char *
level_name(int prio)
{
	switch (prio) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[4096];
	char ts[40];
	struct timespec now;
	struct tm tm;

	if (prio > log_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	if (!log_foreground) {
		syslog(prio, "%s", line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ldZ %s[%ld]: %s: %s\n", ts, now.tv_nsec / 1000000L,
	    log_ident, (long)getpid(), level_name(prio), line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

void
log_fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(code);
}
