/*
 * arf.h - Abuse Reporting Format (RFC 5965): read the complaints other
 * networks send (feedback loops), and write reports of our own.
 *
 * The parser takes one message as bytes from outside (hostile input): MIME
 * with multipart/report; report-type=feedback-report, base64 and
 * quoted-printable parts, a message/feedback-report part, and the reported
 * message as message/rfc822 or text/rfc822-headers.  Only header fields are
 * kept, never the reported message's body.  It never crashes on junk: it
 * returns -1 with a message naming the part or field.  RFC 2047
 * encoded-words are decoded in From, Subject (of the report and of the
 * reported message) and User-Agent, which come out as clean UTF-8
 * (lib/rfc2047.h); the other fields are given as they came.
 *
 * The composer writes a report with three parts: a human-readable text, the
 * machine-readable message/feedback-report, and the reported message's
 * headers only (text/rfc822-headers, RFC 6522): botsentry stores no bodies.
 * Every value is stripped of CR/LF so that no caller can inject headers.
 *
 * Used by: botsentry report, botsentry ingest-arf, botsentry-notifyd's arf
 * channel, fuzz/fuzz_arf.c.
 */
#ifndef BS_ARF_H
#define BS_ARF_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- reading */

#define ARF_MAX_RECEIVED 16

/* One hop of the reported message's Received: trace, top (newest) first. */
struct arf_received {
	char ip[64];             /* the connecting client's address, "" if none found */
	int64_t ts_ms;           /* the date after ';', 0 if missing or unreadable */
};

struct arf_report {
	/* message/feedback-report fields; NULL when absent */
	char *feedback_type;     /* abuse, fraud, virus, other, not-spam, auth-failure (lower-cased) */
	char *user_agent;
	char *version;
	char *source_ip;         /* as given (checked to be an address; else NULL and a warning) */
	char *arrival_date;      /* as given */
	int64_t arrival_ms;      /* parsed Arrival-Date (or Received-Date), 0 if absent/unreadable */
	char *reported_domain;   /* first Reported-Domain */
	char *reported_uri;      /* first Reported-URI */
	char *original_mail_from;
	char *reporting_mta;
	int original_rcpt_count; /* how many Original-Rcpt-To fields (the addresses are not kept) */
	int incidents;           /* Incidents: field, 1 when absent */

	/* the reported message's headers (third part), when present */
	int has_message;         /* a message/rfc822 or text/rfc822-headers part was found */
	char *msg_from;
	char *msg_subject;
	char *msg_message_id;
	char *msg_date;
	struct arf_received received[ARF_MAX_RECEIVED];
	size_t n_received;

	/* the report message itself */
	char *report_from;       /* From: of the report (who complains) */
	char *report_subject;
	char *report_date;
	char *report_message_id;

	char warning[256];       /* non-fatal oddities ("" when none), each naming
	                          * the field and its line or part */
};

/*
 * Parse one message (buf need not be NUL-terminated).  0 and *out filled
 * (arf_report_clear it), or -1 with a message in err naming the part or field
 * (out is cleared).
 */
int arf_parse(const char *buf, size_t len, struct arf_report *out, char *err, size_t errlen);
/* The same for a message that starts on line first_line of its file (an
 * mbox): warnings then name lines of the file. */
int arf_parse_at(const char *buf, size_t len, long first_line, struct arf_report *out, char *err,
    size_t errlen);
void arf_report_clear(struct arf_report *r);

/*
 * Split an mbox (or a single message, which is an mbox of one) and call fn
 * for each message with its 1-based index and the line it starts on.  The
 * "From " separator line is not passed; ">From " quoting (mboxrd) is undone.
 * fn returning nonzero stops the walk and is returned; else 0.
 */
int arf_mbox_each(const char *buf, size_t len,
    int (*fn)(void *ud, const char *msg, size_t len, int index, long line), void *ud);

/* RFC 5322 date ("Thu, 26 Nov 2026 14:06:00 +0000", also without the day
 * name, with obsolete zones such as GMT/UT/EST, or a trailing comment) to
 * epoch ms; -1 if it cannot be read. */
int64_t arf_parse_date(const char *s);

/* ---------------------------------------------------------------- writing */

/* An extra field for the machine-readable part (e.g. "X-Botsentry-Incident"). */
struct arf_field {
	const char *name;
	const char *value;
};

struct arf_compose {
	/* the report message's own header; NULL: left out (To/From) or made up */
	const char *from;            /* "abuse@isp.example" */
	const char *to;
	const char *subject;         /* NULL: "Abuse report for <source_ip>" */
	const char *message_id;      /* without <>; NULL: generated */
	int64_t date_ms;             /* 0: now */

	/* message/feedback-report */
	const char *feedback_type;   /* NULL: "abuse" */
	const char *user_agent;      /* NULL: "botsentry/" PACKAGE_VERSION */
	const char *source_ip;       /* may be NULL */
	int64_t arrival_ms;          /* 0: field left out */
	const char *reported_domain; /* may be NULL */
	const char *original_mail_from;  /* may be NULL */
	const char *reporting_mta;   /* "dns; host.example"; may be NULL */
	int incidents;               /* > 1 adds Incidents: */
	const struct arf_field *extra;   /* n_extra fields appended */
	size_t n_extra;

	/* first part: UTF-8 text for people; NULL: a short default */
	const char *human_text;
	/* third part: the reported message's header block.  Anything after the
	 * first empty line (a body) is dropped; NULL: the part holds a minimal
	 * made-up header naming the source (RFC 5965 wants the third part). */
	const char *headers;
	const char *boundary;        /* NULL: generated */
};

/* Write the whole report (CRLF line ends, 7-bit safe: non-ASCII text is
 * sent quoted-printable).  Caller frees. */
char *arf_compose(const struct arf_compose *a);

#endif
