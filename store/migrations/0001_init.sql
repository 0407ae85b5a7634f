-- mailbounce database schema, version 1.
--
-- This schema is a public interface: it is meant to be queried directly with
-- the sqlite3 shell. Repeated strings (host names, domains, relays) live in
-- small dictionary tables and the big tables hold their integer ids, which
-- keeps rows narrow and ingest fast; the v_* views join the text back in, so
-- start with those:
--
--   sqlite3 -readonly mailbounce.db 'SELECT * FROM v_domain_summary LIMIT 20'
--
-- Conventions:
--   * Every time is INTEGER microseconds since 1970-01-01 00:00:00 UTC
--     (unix time * 1000000). The views show them as ISO 8601 text in UTC;
--     by hand: strftime('%Y-%m-%dT%H:%M:%fZ', time / 1e6, 'unixepoch').
--   * NULL means "absent from the log", never zero or an empty string.
--   * Domains are stored in lower case.
--   * Later versions only add (tables, columns, indexes, views); applied
--     versions are listed in schema_migrations.

-- Dictionaries. ------------------------------------------------------------

-- The host name of each syslog line (empty for Exim's own mainlog, which is
-- stored as NULL host_id in the tables that refer to it).
CREATE TABLE hosts (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);

-- Mail domains, of recipients and of senders, in lower case.
CREATE TABLE domains (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);

-- Next hops as the MTA wrote them: "mx.example.com[192.0.2.1]:25", "local",
-- "private/dovecot-lmtp", "none".
CREATE TABLE relays (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);

-- Messages. ----------------------------------------------------------------

-- One row per message in one queue of one host. A Postfix queue ID reused
-- later (after the first message left the queue) is a new row: queue_id is
-- not unique, (host_id, queue_id, first_seen) finds the right one.
CREATE TABLE messages (
	id               INTEGER PRIMARY KEY,
	host_id          INTEGER REFERENCES hosts(id),
	mta              TEXT CHECK (mta IN ('postfix', 'exim')),
	queue_id         TEXT NOT NULL,    -- Postfix queue ID or Exim message ID
	message_id       TEXT,             -- the Message-ID header, without <>
	sender           TEXT,             -- envelope sender; '' is the null sender <>
	sender_domain_id INTEGER REFERENCES domains(id),
	size             INTEGER,          -- bytes
	nrcpt            INTEGER,          -- recipients as counted by the MTA
	client           TEXT,             -- "name[addr]" the message came from
	first_seen       INTEGER,          -- first line about this queue ID
	last_seen        INTEGER,          -- last line about this queue ID
	removed_at       INTEGER,          -- left the queue (Postfix "removed", Exim "Completed")
	next_queue_id    TEXT,             -- the queue ID it was re-queued as (content filter, bounce)
	parent_queue_id  TEXT              -- the queue ID this message came from
);
CREATE INDEX messages_host_queue ON messages (host_id, queue_id, first_seen);

-- Delivery attempts. ---------------------------------------------------------

-- One row per attempt to deliver one message to one recipient.
--
-- outcome:
--   delivered  the next hop accepted responsibility
--   deferred   temporary failure, will be retried
--   bounced    permanent failure, returned to the sender
--   expired    given up after retrying without a permanent failure
--   hop        handed on to a content filter or another MTA instance that
--              re-queued it as next_queue_id; the recipient's fate is decided
--              under that queue ID
-- final is 1 on the one attempt that decided the recipient's fate (a
-- delivered, bounced or expired row); count recipients with final = 1, and
-- deferral attempts with outcome = 'deferred'.
CREATE TABLE deliveries (
	id             INTEGER PRIMARY KEY,
	message_ref    INTEGER REFERENCES messages(id),
	host_id        INTEGER REFERENCES hosts(id),
	time           INTEGER NOT NULL,
	recipient      TEXT NOT NULL,
	domain_id      INTEGER NOT NULL REFERENCES domains(id),  -- of recipient
	orig_recipient TEXT,             -- the address before alias/virtual expansion
	relay_id       INTEGER REFERENCES relays(id),
	delay          REAL,             -- seconds from arrival to this attempt
	delays         TEXT,             -- Postfix delays=a/b/c/d as written
	dsn            TEXT,             -- Postfix dsn= as written
	code           INTEGER,          -- SMTP reply code (RFC 5321)
	enhanced       TEXT,             -- enhanced status code (RFC 3463), "5.1.1"
	stage          TEXT,             -- SMTP stage of the reply: "RCPT TO", "end of DATA"
	reply          TEXT,             -- the reply or explanation as written
	remote_id      TEXT,             -- the queue ID the receiving server gave
	outcome        TEXT NOT NULL CHECK (outcome IN ('delivered', 'deferred', 'bounced', 'expired', 'hop')),
	reason         TEXT,             -- short stable failure class: "user_unknown", "mailbox_full"
	final          INTEGER NOT NULL DEFAULT 0 CHECK (final IN (0, 1)),
	next_queue_id  TEXT              -- the queue ID a hop or forward created
);
-- Per-domain reports: counts by (domain, outcome, final, reason) come out of
-- one walk of this index in GROUP BY order, without reading the table rows
-- or sorting. time is last so that the index also covers the time filter.
CREATE INDEX deliveries_domain_outcome ON deliveries (domain_id, outcome, final, reason, time);
-- Recipients deferred per domain over a time range (distinct message and
-- recipient pairs). Partial: deferrals are a small share of the rows, so
-- the rest cost nothing here.
CREATE INDEX deliveries_deferred ON deliveries (domain_id, time, message_ref, recipient)
	WHERE outcome = 'deferred';
CREATE INDEX deliveries_time ON deliveries (time);
CREATE INDEX deliveries_message ON deliveries (message_ref);
-- Following a message to the server it was handed to.
CREATE INDEX deliveries_remote_id ON deliveries (remote_id) WHERE remote_id IS NOT NULL;

-- Messages and recipients refused at our own door (smtpd, postscreen, Exim
-- ACLs). queue_id is often NULL (Postfix NOQUEUE).
CREATE TABLE rejects (
	id        INTEGER PRIMARY KEY,
	host_id   INTEGER REFERENCES hosts(id),
	time      INTEGER NOT NULL,
	queue_id  TEXT,
	stage     TEXT,                  -- RCPT, DATA, CONNECT, ...
	client    TEXT,                  -- "name[addr]"
	sender    TEXT,
	recipient TEXT,
	domain_id INTEGER REFERENCES domains(id),  -- of recipient
	code      INTEGER,
	enhanced  TEXT,
	reply     TEXT,
	reason    TEXT
);
CREATE INDEX rejects_time ON rejects (time);

-- Input bookkeeping. ---------------------------------------------------------

-- The checkpoint of each input: how much of its decompressed content is
-- committed. It is written in the same transaction as the rows it covers, so
-- a crash can neither lose nor double a line. An input is recognised by the
-- hash of its first bytes, not by its name, so that mail.log.1.gz after a
-- rotation is known to be the mail.log read before.
CREATE TABLE sources (
	id               INTEGER PRIMARY KEY,
	path             TEXT NOT NULL,
	host             TEXT,
	content_head     BLOB,             -- sha256 of the first up to 1024 decompressed bytes
	content_head_len INTEGER,          -- how many bytes content_head covers
	offset           INTEGER NOT NULL, -- bytes of decompressed content committed
	lines            INTEGER,          -- lines committed
	size             INTEGER,          -- file size when last read
	mtime            INTEGER,          -- file modification time when last read
	first_read       INTEGER,
	last_read        INTEGER
);
CREATE INDEX sources_head ON sources (content_head, content_head_len);
CREATE INDEX sources_path ON sources (path);

-- Lines that were not deliveries: warnings, fatal errors, and lines that were
-- not understood, counted by program ("postfix/smtp") and kind.
CREATE TABLE counters (
	host_id INTEGER REFERENCES hosts(id),
	program TEXT NOT NULL,
	kind    TEXT NOT NULL,             -- 'warning', 'fatal', 'unknown'
	lines   INTEGER NOT NULL
);
-- Not UNIQUE: NULL host_ids would never conflict. The writer sums in memory
-- and updates the one row per key itself.
CREATE INDEX counters_key ON counters (program, kind, host_id);

-- A few lines per program that were not understood, so that a user can see
-- what mailbounce missed.
CREATE TABLE unknown_samples (
	program TEXT NOT NULL,
	line    TEXT NOT NULL,
	time    INTEGER
);
CREATE INDEX unknown_samples_program ON unknown_samples (program);

-- Views. ---------------------------------------------------------------------

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
	d.time AS time_us
FROM deliveries d
LEFT JOIN hosts h ON h.id = d.host_id
LEFT JOIN domains dom ON dom.id = d.domain_id
LEFT JOIN relays r ON r.id = d.relay_id
LEFT JOIN messages m ON m.id = d.message_ref;

CREATE VIEW v_messages AS
SELECT
	m.id,
	h.name AS host,
	m.mta,
	m.queue_id,
	m.message_id,
	m.sender,
	sd.name AS sender_domain,
	m.size,
	m.nrcpt,
	m.client,
	strftime('%Y-%m-%dT%H:%M:%fZ', m.first_seen / 1e6, 'unixepoch') AS first_seen,
	strftime('%Y-%m-%dT%H:%M:%fZ', m.last_seen / 1e6, 'unixepoch') AS last_seen,
	strftime('%Y-%m-%dT%H:%M:%fZ', m.removed_at / 1e6, 'unixepoch') AS removed_at,
	m.next_queue_id,
	m.parent_queue_id
FROM messages m
LEFT JOIN hosts h ON h.id = m.host_id
LEFT JOIN domains sd ON sd.id = m.sender_domain_id;

CREATE VIEW v_rejects AS
SELECT
	j.id,
	h.name AS host,
	strftime('%Y-%m-%dT%H:%M:%fZ', j.time / 1e6, 'unixepoch') AS time,
	j.queue_id,
	j.stage,
	j.client,
	j.sender,
	j.recipient,
	dom.name AS domain,
	j.code,
	j.enhanced,
	j.reason,
	j.reply
FROM rejects j
LEFT JOIN hosts h ON h.id = j.host_id
LEFT JOIN domains dom ON dom.id = j.domain_id;

-- Per recipient domain, over all time (the report command adds time ranges):
--   recipients           recipients whose fate was decided (final = 1) plus
--                        those deferred and still waiting
--   delivered, bounced, expired
--                        recipients by final outcome
--   deferrals            deferral attempts (a recipient may have many)
--   deferred_recipients  recipients deferred at least once
--   rejected             recipients refused at our own door
CREATE VIEW v_domain_summary AS
WITH att AS (
	SELECT domain_id,
		sum(final = 1 AND outcome <> 'hop') AS decided,
		sum(final = 1 AND outcome = 'delivered') AS delivered,
		sum(final = 1 AND outcome = 'bounced') AS bounced,
		sum(final = 1 AND outcome = 'expired') AS expired,
		sum(outcome = 'deferred') AS deferrals
	FROM deliveries
	GROUP BY domain_id
), deferred AS (
	SELECT domain_id,
		count(*) AS deferred_recipients,
		sum(NOT EXISTS (SELECT 1 FROM deliveries f
			WHERE f.message_ref = p.message_ref AND f.recipient = p.recipient AND f.final = 1)) AS waiting
	FROM (SELECT DISTINCT domain_id, message_ref, recipient FROM deliveries
		WHERE outcome = 'deferred') p
	GROUP BY domain_id
), rej AS (
	SELECT domain_id, count(*) AS rejected FROM rejects
	WHERE domain_id IS NOT NULL GROUP BY domain_id
), ids AS (
	SELECT domain_id FROM att UNION SELECT domain_id FROM rej
)
SELECT
	dom.name AS domain,
	coalesce(att.decided, 0) + coalesce(deferred.waiting, 0) AS recipients,
	coalesce(att.delivered, 0) AS delivered,
	coalesce(att.bounced, 0) AS bounced,
	coalesce(att.expired, 0) AS expired,
	coalesce(att.deferrals, 0) AS deferrals,
	coalesce(deferred.deferred_recipients, 0) AS deferred_recipients,
	coalesce(rej.rejected, 0) AS rejected
FROM ids
JOIN domains dom ON dom.id = ids.domain_id
LEFT JOIN att ON att.domain_id = ids.domain_id
LEFT JOIN deferred ON deferred.domain_id = ids.domain_id
LEFT JOIN rej ON rej.domain_id = ids.domain_id
ORDER BY recipients DESC, dom.name;
