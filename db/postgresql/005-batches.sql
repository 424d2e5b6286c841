-- 005-batches: batches of events already recorded (PostgreSQL).
--
-- A sensor's writer gives every batch a key of its own and keeps it when it
-- retries the batch.  Recording a batch first inserts its key here, in the
-- same transaction: a retry whose first attempt did commit (the answer to
-- COMMIT was lost with the connection) finds the key and records nothing,
-- so the events are stored once, not twice.  Keys older than a day are
-- deleted as new ones come in.
CREATE TABLE event_batches (
	batch_key    TEXT PRIMARY KEY,
	committed_ms BIGINT NOT NULL
);
CREATE INDEX event_batches_ms ON event_batches (committed_ms);
