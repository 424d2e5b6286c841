-- 001-initial: the abuse database (SQLite).
--
-- Applied by `botsentry db init` / `botsentry db migrate` in one transaction,
-- together with its row in schema_version.  Times are epoch milliseconds.
-- What each field holds and why it is kept is documented in the privacy
-- section of botsentry.conf(5); this schema keeps metadata only.

CREATE TABLE schema_version (
	version     INTEGER PRIMARY KEY,
	applied_ms  INTEGER NOT NULL
);

-- The ISP's customer accounts: contact for notices (email, name: needed to
-- tell the subscriber), and the mitigation the milter enforces (set by
-- correlation at level 3 or by the abuse desk; since/by: accountability).
CREATE TABLE subscribers (
	id                TEXT PRIMARY KEY,
	email             TEXT,
	name              TEXT,
	mitigation        TEXT NOT NULL DEFAULT 'monitor'
	    CHECK (mitigation IN ('monitor', 'throttle', 'quarantine', 'reject')),
	mitigation_since  INTEGER NOT NULL DEFAULT 0,
	mitigation_by     TEXT,
	created_ms        INTEGER NOT NULL
);
CREATE INDEX subscribers_mitigated ON subscribers (id) WHERE mitigation <> 'monitor';

-- Lease history: which subscriber held an address or prefix, and when
-- (needed to attribute an event by IP at its time; imported from the DHCP
-- server or the static map, not from traffic).
CREATE TABLE leases (
	id           INTEGER PRIMARY KEY,
	prefix       TEXT NOT NULL,
	subscriber   TEXT NOT NULL,
	valid_from   INTEGER NOT NULL,
	valid_to     INTEGER NOT NULL,
	source       TEXT NOT NULL,
	imported_ms  INTEGER NOT NULL
);
CREATE INDEX leases_prefix ON leases (prefix, valid_from);
CREATE INDEX leases_subscriber ON leases (subscriber);

-- Incidents: one active (open, notified, acknowledged) per subscriber key;
-- the key is the subscriber id, or "ip:<client ip>" for unattributed events.
-- score is the decayed sum of the event scores as of score_ms; kinds and
-- sources are the sorted distinct event kinds and sources (kept on the
-- incident so that they survive the pruning of its events).
CREATE TABLE incidents (
	id           INTEGER PRIMARY KEY,
	subscriber   TEXT NOT NULL,
	state        TEXT NOT NULL DEFAULT 'open'
	    CHECK (state IN ('open', 'notified', 'acknowledged', 'resolved', 'false_positive')),
	level        INTEGER NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 3),
	score        REAL NOT NULL DEFAULT 0,
	score_ms     INTEGER NOT NULL,
	opened_ms    INTEGER NOT NULL,
	updated_ms   INTEGER NOT NULL,
	closed_ms    INTEGER,
	event_count  INTEGER NOT NULL DEFAULT 0,
	kinds        TEXT NOT NULL DEFAULT '',
	sources      TEXT NOT NULL DEFAULT '',
	ticket       TEXT,
	anonymized   INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX incidents_one_active ON incidents (subscriber)
    WHERE state IN ('open', 'notified', 'acknowledged');
CREATE INDEX incidents_subscriber ON incidents (subscriber, opened_ms);
CREATE INDEX incidents_opened ON incidents (opened_ms);
CREATE INDEX incidents_closed ON incidents (closed_ms) WHERE closed_ms IS NOT NULL;

-- Scored observations.  subscriber is '' when unattributed.  client_ip and
-- node say where it was seen (the desk must be able to show why an incident
-- exists).  evidence is a JSON object of counts, windows and samples (HELO
-- names, domains, keyed hashes of recipients), never message content or a
-- recipient in clear.  incident_id is NULL for a zero-score event that found
-- no active incident, or an unattributed event without an IP.  Deleted by
-- `botsentry prune` after the event retention, except while their incident
-- is still active; deleted with their incident's anonymization.
CREATE TABLE events (
	id           INTEGER PRIMARY KEY,
	ts_ms        INTEGER NOT NULL,
	subscriber   TEXT NOT NULL,
	source       TEXT NOT NULL,
	kind         TEXT NOT NULL,
	score        REAL NOT NULL,
	client_ip    TEXT NOT NULL DEFAULT '',
	node         TEXT NOT NULL DEFAULT '',
	evidence     TEXT NOT NULL DEFAULT '{}',
	incident_id  INTEGER REFERENCES incidents (id)
);
CREATE INDEX events_subscriber_ts ON events (subscriber, ts_ms);
CREATE INDEX events_incident ON events (incident_id);
CREATE INDEX events_ts ON events (ts_ms);

-- The outbox.  Correlation enqueues one row per level rise with channel ''
-- (notifyd fans it out into one row per configured channel); idem_key makes
-- every enqueue and every delivery idempotent.
CREATE TABLE notifications (
	id               INTEGER PRIMARY KEY,
	incident_id      INTEGER REFERENCES incidents (id),
	subscriber       TEXT NOT NULL,
	channel          TEXT NOT NULL DEFAULT '',
	kind             TEXT NOT NULL CHECK (kind IN ('new', 'update', 'resolved', 'mitigation')),
	level            INTEGER NOT NULL DEFAULT 0,
	status           TEXT NOT NULL DEFAULT 'pending'
	    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	created_ms       INTEGER NOT NULL,
	next_attempt_ms  INTEGER NOT NULL,
	last_error       TEXT,
	idem_key         TEXT NOT NULL UNIQUE,
	payload          TEXT NOT NULL DEFAULT '{}',
	claimed_by       TEXT,
	claimed_ms       INTEGER
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_ms);
CREATE INDEX notifications_incident ON notifications (incident_id);

-- Who did what, when: every abuse-desk action, every automatic mitigation,
-- every prune.  Kept: it is what answers a regulator.
CREATE TABLE audit (
	id      INTEGER PRIMARY KEY,
	ts_ms   INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	object  TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_ts ON audit (ts_ms);
CREATE INDEX audit_object ON audit (object);
