-- mailbounce database schema, version 5: the legs of one message across
-- hops and hosts.
--
-- A delivery that a server of ours accepted ends with that server's queue
-- ID in the 250 reply ("250 2.0.0 Ok: queued as 4DRBDj4tP9zdZLM", Exim's
-- "250 OK id=1ZpCCD-0002J4-Ej"), which the store keeps in
-- deliveries.remote_id; a local forward ("forwarded as 4H1bYt6Kq2z9sRB")
-- keeps the new queue ID there too. When a message with that queue ID is
-- also in the database (a content filter re-queueing on the same host, an
-- edge server handing to an internal one whose log was ingested as well),
-- the writer links the two and the attempt becomes a hop: the recipient is
-- counted once, at the last hop, where its fate was decided.
--
-- The writer stitches at every commit, whatever order the logs come in:
-- new attempts (deliveries.id above stitch_state.delivery_id) are matched
-- against the messages stored so far, and new messages (queued in
-- stitch_queue by a trigger, since message rows are written when a message
-- leaves the queue, not in id order) against the attempts stored so far.
-- A match must agree on the Message-ID where both sides know it, and fall
-- in a time window (see store/stitch.go).

-- One row per attempt that handed a message to another of our queues.
CREATE TABLE message_links (
	delivery_id INTEGER PRIMARY KEY REFERENCES deliveries(id),  -- the hand-over
	from_ref    INTEGER REFERENCES messages(id),               -- the message handed on (NULL: not known)
	to_ref      INTEGER NOT NULL REFERENCES messages(id)        -- the message it became
);
CREATE INDEX message_links_from ON message_links (from_ref);
CREATE INDEX message_links_to ON message_links (to_ref);

-- Finding the message a remote ID names, on any host.
CREATE INDEX messages_queue ON messages (queue_id);

-- The writer's place: attempts up to delivery_id have been matched.
CREATE TABLE stitch_state (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	delivery_id INTEGER NOT NULL
);
INSERT INTO stitch_state (id, delivery_id) VALUES (1, 0);

-- Messages stored since the last stitch.
CREATE TABLE stitch_queue (
	message_ref INTEGER PRIMARY KEY
);
CREATE TRIGGER stitch_new_message AFTER INSERT ON messages
BEGIN
	INSERT OR IGNORE INTO stitch_queue (message_ref) VALUES (NEW.id);
END;

-- Forwards stored before version 5 kept the new queue ID in next_queue_id
-- only. Every attempt stored so far is matched at the first commit after
-- this migration (stitch_state starts at 0).
UPDATE deliveries SET remote_id = next_queue_id
	WHERE remote_id IS NULL AND next_queue_id IS NOT NULL AND outcome IN ('delivered', 'hop');

-- Before version 5, an Exim arrival logged with +received_recipients
-- ("... id=MSGID for rcpt1 rcpt2") had " for rcpt1 rcpt2" stored as part of
-- its Message-ID, which stitching compares. A Message-ID has no spaces.
UPDATE messages SET message_id = substr(message_id, 1, instr(message_id, ' for ') - 1)
	WHERE mta = 'exim' AND instr(message_id, ' for ') > 1;

-- The receiving server's own name where its 250 reply gives one
-- (Microsoft's "[InternalId=..., Hostname=AM0PR01MB1234...]"), beside
-- remote_id; filled for the rows stored before from their reply text.
ALTER TABLE deliveries ADD COLUMN remote_name TEXT;
UPDATE deliveries SET remote_name = substr(substr(reply, instr(reply, 'Hostname=') + 9), 1,
		instr(substr(reply, instr(reply, 'Hostname=') + 9), ']') - 1)
	WHERE instr(reply, 'Hostname=') > 0 AND instr(substr(reply, instr(reply, 'Hostname=') + 9), ']') > 1
		AND code BETWEEN 200 AND 299;
-- v_deliveries gains it as its last column.
DROP VIEW v_deliveries;
CREATE VIEW v_deliveries AS
SELECT
	d.id,
	h.name AS host,
	strftime('%Y-%m-%dT%H:%M:%fZ', d.time / 1e6, 'unixepoch') AS time,
	m.queue_id,
	m.message_id,
	m.sender,
	d.recipient,
	dom.name AS domain,
	d.orig_recipient,
	r.name AS relay,
	d.outcome,
	d.final,
	d.reason,
	d.code,
	d.enhanced,
	d.dsn,
	d.stage,
	d.reply,
	d.delay,
	d.delays,
	d.remote_id,
	d.next_queue_id,
	d.time AS time_us,
	d.remote_name
FROM deliveries d
LEFT JOIN hosts h ON h.id = d.host_id
LEFT JOIN domains dom ON dom.id = d.domain_id
LEFT JOIN relays r ON r.id = d.relay_id
LEFT JOIN messages m ON m.id = d.message_ref;
