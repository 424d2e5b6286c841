-- 002-desk: what the abuse desk's command needs beside the core tables
-- (SQLite): the allowlist, the complaints other networks send us (feedback
-- loops, ARF), and login names that differ from subscriber ids.
-- Times are epoch milliseconds.

-- Who the detectors must leave alone.  type says what subject holds:
-- a subscriber id, an IP address or CIDR prefix (normalised, host bits
-- clear), a sender address (lower-case) or a sender domain (and its
-- subdomains).  scope is '*' or a sorted comma list of detector kinds.
-- expires_ms 0 means never.  Removing an entry deletes the row; the audit
-- table keeps what it was, who removed it and why.
CREATE TABLE allowlist (
	id          INTEGER PRIMARY KEY,
	type        TEXT NOT NULL CHECK (type IN ('subscriber', 'ip', 'sender', 'domain')),
	subject     TEXT NOT NULL,
	scope       TEXT NOT NULL DEFAULT '*',
	created_ms  INTEGER NOT NULL,
	expires_ms  INTEGER NOT NULL DEFAULT 0,
	owner       TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX allowlist_subject ON allowlist (type, subject);

-- Complaints received from other networks (botsentry ingest-arf).  Every
-- report read is kept, attributed or not, so that nothing is lost: status
-- 'attributed' (an fbl_complaint event was recorded: event_id), or
-- 'unattributed' (no lease matched; the desk can look again later).
-- Metadata only: who complained, about which address and time, the
-- reported message's Message-ID; never its body, subject or recipients.
-- dedup_key keeps a report fed twice (an mbox read again) from counting
-- twice.
CREATE TABLE fbl_complaints (
	id                 INTEGER PRIMARY KEY,
	received_ms        INTEGER NOT NULL,
	status             TEXT NOT NULL CHECK (status IN ('attributed', 'unattributed')),
	reporter           TEXT NOT NULL DEFAULT '',
	user_agent         TEXT NOT NULL DEFAULT '',
	feedback_type      TEXT NOT NULL DEFAULT '',
	source_ip          TEXT NOT NULL DEFAULT '',
	arrival_ms         INTEGER NOT NULL DEFAULT 0,
	reported_domain    TEXT NOT NULL DEFAULT '',
	report_message_id  TEXT NOT NULL DEFAULT '',
	msg_message_id     TEXT NOT NULL DEFAULT '',
	subscriber         TEXT NOT NULL DEFAULT '',
	attributed_by      TEXT NOT NULL DEFAULT '',
	attributed_ip      TEXT NOT NULL DEFAULT '',
	event_id           INTEGER,
	detail             TEXT NOT NULL DEFAULT '',
	dedup_key          TEXT NOT NULL UNIQUE
);
CREATE INDEX fbl_complaints_status ON fbl_complaints (status, received_ms);

-- SASL login names that are not the subscriber id (by default the login
-- is the id and needs no row here).
CREATE TABLE subscriber_logins (
	login       TEXT PRIMARY KEY,
	subscriber  TEXT NOT NULL
);
CREATE INDEX subscriber_logins_subscriber ON subscriber_logins (subscriber);
