/*
 * channel.h - the interface every notification channel of botsentry-notifyd
 * implements: a table of function pointers, one file per channel
 * (notify/ch_<name>.c).  Adding a channel is one new file, one line in the
 * table in notify/notifyd.c, and its subsection in lib/conf_notify.c.
 *
 * The daemon claims a delivery, prepares a job (the incident, its new
 * events, the subscriber, the template variables, all loaded once), calls
 * the channel's deliver(), and records the result: sent, skipped (nothing to
 * do), retry later (with backoff and jitter, up to notify.max_attempts),
 * failed for good, or deferred (not a failure: the subscriber notice
 * interval).  Channels never touch the outbox themselves.
 *
 * Every value a channel takes from the job is untrusted: it came from a bot
 * (HELO names, sender addresses) through the sensors.  Channels write it
 * only through lib/mime (headers), jansson (JSON) or lib/template; none runs
 * a shell.
 */
#ifndef BS_NOTIFY_CHANNEL_H
#define BS_NOTIFY_CHANNEL_H

#include <stdint.h>
#include <jansson.h>
#include "conf.h"
#include "store.h"
#include "template.h"

/* What the daemon shares with its channels. */
struct notify_env {
	struct conf *conf;
	cfg_t *ncfg;             /* the 'notify' section */
	struct store *st;
	const char *worker;      /* "host:pid", the claim owner */
};

/* One delivery, prepared by the daemon; everything borrowed. */
struct notify_job {
	const struct delivery *d;
	const struct incident *inc;      /* the incident (always set) */
	const struct subscriber *sub;    /* NULL when the subscriber is unknown */
	json_t *incident_json;           /* the incident as JSON (object) */
	json_t *events_json;             /* its events since the previous notification (array) */
	const struct tmpl_vars *vars;    /* template variables (botsentry-notifyd(8)) */
	int64_t now_ms;
};

enum ch_status {
	CH_SENT,        /* delivered; msg is an optional note (a ticket id) */
	CH_SKIPPED,     /* nothing to do; msg says why */
	CH_RETRY,       /* temporary failure; msg is the error */
	CH_FAIL,        /* permanent failure (retrying cannot help); msg is the error */
	CH_DEFER        /* not now, not a failure: try again at defer_until */
};

struct ch_result {
	enum ch_status status;
	int64_t defer_until;
	char msg[512];
};

struct channel_ops {
	const char *name;        /* the subsection and the delivery's channel */
	/* Set up from the channel's subsection; NULL with a message in err when
	 * the settings cannot work (a refused secret file, a bad command). */
	void *(*open)(const struct notify_env *env, cfg_t *sec, char *err, size_t errlen);
	void (*deliver)(void *ch, const struct notify_env *env, const struct notify_job *job,
	    struct ch_result *res);
	/* Periodic work between batches (RT status polling); may be NULL. */
	void (*tick)(void *ch, const struct notify_env *env, int64_t now_ms);
	void (*close)(void *ch);     /* NULL is fine */
};

extern const struct channel_ops ch_email_ops;
extern const struct channel_ops ch_arf_ops;
extern const struct channel_ops ch_exec_ops;
extern const struct channel_ops ch_rt_ops;        /* needs libcurl */
extern const struct channel_ops ch_webhook_ops;   /* needs libcurl */

/* Helpers shared by channels (notify/job.c, notify/mailer.c, notify/http.c). */

/*
 * The document the webhook posts and the exec hook reads (compact JSON,
 * caller frees): {"delivery","channel","kind","level","time","incident":{...},
 * "events":[...]} with at most max_events of the newest events (0: none).
 */
char *notify_job_json(const struct notify_job *job, const char *channel, size_t max_events);

/* Prepare a job for a claimed delivery (job.c): loads the incident, the
 * subscriber and the events, builds the JSON and the template variables.
 * 0, STORE_NOTFOUND (the incident is gone), or STORE_ERR. */
struct notify_job_data;
int notify_job_load(const struct notify_env *env, const struct delivery *d, int64_t now_ms,
    struct notify_job *job, struct notify_job_data **data);
void notify_job_free(struct notify_job_data *data);

/* Set a printf-formatted message into res with a status. */
void ch_result(struct ch_result *res, enum ch_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Send one finished message (LF line ends) to one recipient through the
 * configured transport: notify.smtp_url (libcurl) when set, else the
 * notify.sendmail program with notify.sendmail_args, "-i", "-f" sender,
 * "--", rcpt (execve, no shell), waiting at most notify.mail_timeout.
 * from_addr is the envelope sender (notify.envelope_from when set).
 * res is set to CH_SENT, or CH_RETRY with the reason.
 */
void mailer_send(const struct notify_env *env, const char *from_addr, const char *rcpt,
    const char *msg, struct ch_result *res);

/*
 * Run argv (argv[0] absolute) with envp, feeding in[0..inlen) on standard
 * input, standard output and error captured (the first out_size-1 bytes kept
 * in out, may be NULL), killed (process group, TERM then KILL) after
 * timeout_ms.  Returns the exit status (0..255), -2 on timeout, -3 if killed
 * by a signal, -1 if it could not run (errno text in out).
 */
int run_program(char *const argv[], char *const envp[], const char *in, size_t inlen,
    int64_t timeout_ms, char *out, size_t out_size);

/* Submit msg (LF line ends) to an SMTP relay (smtp:// or smtps:// URL)
 * with libcurl: 0, or -1 with the reason in err.  (http.c; nocurl.c says
 * it is not built in.) */
int smtp_send(const char *url, const char *from, const char *rcpt, const char *msg,
    int64_t timeout_ms, char *err, size_t errlen);

struct http_response {
	long status;             /* 0 when no HTTP answer (connection refused, timeout) */
	char *body;              /* caller frees (NULL if none) */
	size_t body_len;
	char *location;          /* Location header, caller frees */
	char error[256];         /* libcurl's message when status is 0 */
};
/*
 * One HTTP request with libcurl: method "GET", "POST" or "PUT"; body (may be
 * NULL) sent as-is; headers a NULL-terminated list of "Name: value" lines.
 * At most timeout_ms in total; no redirects followed; response body cut at
 * 1 MB.  Returns 0 when an HTTP answer came (any status), -1 otherwise.
 */
int http_request(const char *method, const char *url, const char *const *headers,
    const char *body, size_t body_len, int64_t timeout_ms, struct http_response *resp);
void http_response_clear(struct http_response *r);

/* Parse RT's answer to GET /ticket/N: 0 with *id and status (lower-cased),
 * or -1 with a message (notify/rt_parse.c; fuzzed by fuzz/fuzz_rt_json). */
int rt_parse_ticket(const char *body, size_t len, long long *id, char *status, size_t ssize,
    char *err, size_t errlen);
/* Parse RT's answer to POST /ticket: the new ticket's id from the body's "id"
 * (a string or a number) or, failing that, the Location header. */
int rt_parse_created(const char *body, size_t len, const char *location, long long *id,
    char *err, size_t errlen);
/* Parse the first ticket id of a GET /tickets search answer; 0 and *id, 1 when
 * there is none, -1 on junk. */
int rt_parse_search(const char *body, size_t len, long long *id, char *err, size_t errlen);

#endif
