-- 003-notify: what botsentry-notifyd needs beside the outbox (SQLite).
--
-- Correlation writes one 'notifications' row per level change with channel
-- ''.  notifyd fans each such row out, in one transaction, into one
-- delivery per channel that the escalation rules select; the outbox row then
-- reflects its deliveries (sending while any is pending, sent when all are,
-- failed with the error when one has failed for good), so the abuse desk sees
-- the outcome where it already looks (botsentry incidents show).

-- One row per (outbox row, channel).  idem_key is the delivery's
-- idempotency key: the email's Message-ID, the webhook's
-- X-Botsentry-Delivery header, the comment marker on an RT ticket.
-- status: pending (due at next_attempt_ms), sending (claimed by claimed_by
-- at claimed_ms; a claim older than the lease is taken over after a crash),
-- sent, failed (gave up; last_error says why), skipped (nothing to do, e.g.
-- an RT comment on an incident that never got a ticket; note says why).
CREATE TABLE notify_deliveries (
	id               INTEGER PRIMARY KEY,
	notification_id  INTEGER NOT NULL REFERENCES notifications (id),
	incident_id      INTEGER,
	subscriber       TEXT NOT NULL,
	channel          TEXT NOT NULL,
	kind             TEXT NOT NULL,
	level            INTEGER NOT NULL DEFAULT 0,
	status           TEXT NOT NULL DEFAULT 'pending'
	    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	created_ms       INTEGER NOT NULL,
	next_attempt_ms  INTEGER NOT NULL,
	claimed_by       TEXT,
	claimed_ms       INTEGER,
	done_ms          INTEGER,
	last_error       TEXT,
	note             TEXT,
	idem_key         TEXT NOT NULL UNIQUE,
	UNIQUE (notification_id, channel)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (status, next_attempt_ms);
CREATE INDEX notify_deliveries_incident ON notify_deliveries (incident_id, channel, id);

-- Subscriber notice rate limiting: when the last notice to a subscriber
-- went out (at most one per notify.subscriber_interval).
CREATE TABLE notify_notices (
	subscriber  TEXT PRIMARY KEY,
	last_ms     INTEGER NOT NULL,
	last_key    TEXT,
	count       INTEGER NOT NULL DEFAULT 0
);

-- Request Tracker: the ticket of each incident that has one, and what the
-- last poll of its status saw (the ticket reference itself is also kept on
-- the incident, incidents.ticket, as "rt:<id>").
CREATE TABLE notify_rt_tickets (
	incident_id   INTEGER PRIMARY KEY REFERENCES incidents (id),
	ticket_id     INTEGER NOT NULL,
	status        TEXT NOT NULL DEFAULT 'new',
	created_ms    INTEGER NOT NULL,
	last_poll_ms  INTEGER NOT NULL DEFAULT 0,
	closed        INTEGER NOT NULL DEFAULT 0
);

-- Retention: when pruning anonymizes an outbox row (botsentry prune), its
-- deliveries follow: the subscriber key is replaced the same way and the
-- notes (which may name an unattributed client address) are dropped.
CREATE TRIGGER notify_deliveries_anonymize AFTER UPDATE OF subscriber ON notifications
WHEN NEW.subscriber <> OLD.subscriber
BEGIN
	UPDATE notify_deliveries SET subscriber = NEW.subscriber, note = NULL
	WHERE notification_id = NEW.id;
END;
