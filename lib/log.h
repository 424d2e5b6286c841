/*
 * log.h - one line per event, key=value, to syslog or (foreground) stderr.
 *
 * Convention: the first field is a context id (queue id, peer, incident id,
 * file:line), then key=value pairs.  Values that came from outside go through
 * bs_sanitize() first (see util.h) so that a hostile HELO cannot forge lines.
 */
#ifndef BS_LOG_H
#define BS_LOG_H

#include <syslog.h>
#include "util.h"

/* ident: program name; foreground: stderr instead of syslog. */
void log_init(const char *ident, int foreground, int facility, int min_level);
void log_set_level(int min_level);
void log_set_facility(int facility);
int log_get_level(void);

void log_msg(int prio, const char *fmt, ...) BS_PRINTF(2, 3);
void log_vmsg(int prio, const char *fmt, va_list ap) BS_PRINTF(2, 0);

#define log_err(...)    log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_DEBUG, __VA_ARGS__)

/* Print a message and exit(code).  For start-up failures. */
BS_NORETURN void log_fatal(int code, const char *fmt, ...) BS_PRINTF(2, 3);

/* "mail", "daemon", "local0".."local7", "user" -> LOG_*; -1 if unknown. */
int log_facility_from_name(const char *name);
/* "err", "warning", "notice", "info", "debug" -> LOG_*; -1 if unknown. */
int log_level_from_name(const char *name);

#endif
