/*
 * allowlist.h - who the detectors must leave alone, and why.
 *
 * An entry names a subject (a subscriber id, an IP address or CIDR prefix,
 * a sender address, or a sender domain), a scope (the detector kinds it
 * silences, or every kind), an expiry, an owner and a reason.  This module
 * is pure matching over entries held in memory: the store keeps them
 * (store_allowlist_*), the CLI's `allowlist check` and the milter build a
 * table and ask it.  Read-only after building, so threads may share one.
 *
 * Allowlists that silently do not match are the desk's most common
 * complaint, so allowlist_explain() says for every entry why it did or did
 * not match a question.
 */
#ifndef BS_ALLOWLIST_H
#define BS_ALLOWLIST_H

#include <stddef.h>
#include <stdint.h>

enum allowlist_type {
	AL_SUBSCRIBER = 1,       /* exact subscriber id */
	AL_IP,                   /* address or CIDR prefix, IPv4 or IPv6 */
	AL_SENDER,               /* exact envelope sender address (case-insensitive) */
	AL_DOMAIN                /* sender domain and its subdomains */
};

struct allowlist_entry {
	int64_t id;              /* store id; 0 before it is stored */
	enum allowlist_type type;
	char *subject;           /* normalised text: "alice", "100.64.0.0/24", "bulk@shop.example", "shop.example" */
	char *scope;             /* "*" or comma-separated detector kinds, sorted, no blanks */
	int64_t created_ms;
	int64_t expires_ms;      /* 0: never */
	char *owner;
	char *reason;
};
void allowlist_entry_clear(struct allowlist_entry *e);
void allowlist_entry_copy(struct allowlist_entry *dst, const struct allowlist_entry *src);

/* Type names as the CLI, the store and the JSON use them:
 * "subscriber", "ip", "sender", "domain".  0 if unknown. */
enum allowlist_type allowlist_type_parse(const char *s);
const char *allowlist_type_name(enum allowlist_type t);

/*
 * Check and normalise a subject for its type (CIDR host bits cleared and
 * the prefix written out, addresses lower-cased, "@shop.example" accepted
 * for a domain).  Writes into out; 0, or -1 with a message in err.
 */
int allowlist_normalize_subject(enum allowlist_type t, const char *in, char *out, size_t outlen,
    char *err, size_t errlen);
/*
 * Check and normalise a scope: "*", "all" or a comma list of kinds of
 * [a-z0-9_].  Sorted, duplicates removed.  Caller frees; NULL and err.
 */
char *allowlist_normalize_scope(const char *in, char *err, size_t errlen);
/* Does the scope cover this kind?  A NULL kind means "any detector". */
int allowlist_scope_covers(const char *scope, const char *kind);

/* ---------------------------------------------------------------- the table */
struct allowlist;

struct allowlist *allowlist_new(void);
void allowlist_free(struct allowlist *al);   /* NULL is fine */
/* Add a copy of an entry (normalised already; re-checked).  0, or -1 and err. */
int allowlist_add(struct allowlist *al, const struct allowlist_entry *e, char *err, size_t errlen);
size_t allowlist_count(const struct allowlist *al);

/* A question: would this detector firing on this traffic be silenced?
 * Fields may be NULL/"" when unknown. */
struct allowlist_query {
	const char *kind;        /* the detector; NULL: any */
	const char *subscriber;
	const char *ip;          /* client address, text form */
	const char *sender;      /* envelope sender address */
	int64_t now_ms;
};

/*
 * The entry that silences the query, or NULL.  When several match, the most
 * specific wins: subscriber, then sender, then domain (longest), then IP
 * (longest prefix); ties go to the entry that expires last.  Borrowed.
 */
const struct allowlist_entry *allowlist_match(const struct allowlist *al,
    const struct allowlist_query *q);

enum allowlist_verdict {
	AL_MATCH = 0,            /* silences the query */
	AL_NO_SUBJECT,           /* subject does not concern this query */
	AL_OUT_OF_SCOPE,         /* subject matches, but the detector is not in the scope */
	AL_EXPIRED,              /* subject and scope match, but it has expired */
	AL_NOT_COMPARABLE        /* the query lacks the field this entry looks at */
};
const char *allowlist_verdict_text(enum allowlist_verdict v);

/* Call fn for every entry with its verdict for the query, in table order.
 * fn returning nonzero stops; that value is returned, else 0. */
int allowlist_explain(const struct allowlist *al, const struct allowlist_query *q,
    int (*fn)(void *ud, const struct allowlist_entry *e, enum allowlist_verdict v), void *ud);

#endif
