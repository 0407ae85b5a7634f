-- mailbounce database schema, version 2: hourly and daily rollups of the
-- deliveries and the rejects.
--
-- A report over millions of attempts must not read millions of rows. These
-- tables hold the deliveries counted per hour and per value of the columns
-- a report groups by, one table per grouping so that each stays small (a
-- single table keyed by every grouping at once has nearly a row per
-- attempt: the product of domains, relays, hosts and sender domains). The
-- writer keeps them up to date in the same transaction as the rows they
-- count (a rolled back batch leaves nothing behind), and this migration
-- fills them from the rows already stored. They are derived data:
-- deliveries (and rejects) stay the record, and every figure here can be
-- recomputed from them.
--
-- Conventions of all the tables:
--   * hour is a time in whole hours since the Unix epoch, UTC:
--     time / 3600000000, with time in microseconds as everywhere else.
--     By hand: datetime(hour * 3600, 'unixepoch').
--   * The id columns refer to the dictionaries; 0 stands for NULL there
--     (no relay named, Exim's own mainlog, the null sender <> or a sender
--     never seen), because a primary key column cannot be NULL.
--   * reason is '' where deliveries.reason is NULL.
--   * sender_domain_id is the domain of the message's envelope sender as
--     the writer knew it when it stored the attempt.
--   * "First" means lowest deliveries.id: the order the attempts were
--     stored in, which is the order of the log.
--   * A message is counted in the hour of its first attempt (of the
--     group) only, so that sums over consecutive time ranges add up;
--     attempts without a message (message_ref NULL) count in attempts
--     only.

-- Attempts per hour and per (recipient domain, relay, outcome, final,
-- reason): the per-domain table, the totals, the failure reasons, the
-- trend, the relay view and --by relay (with --domain too). Relays mostly
-- serve one domain each, so the relay in the key adds few rows.
--
--   attempts         delivery attempts (rows of deliveries); count
--                    recipients with final = 1, deferral attempts with
--                    outcome = 'deferred', as in deliveries
--   messages         attempts that are the first of their message: summed
--                    over a time range, the messages whose first attempt
--                    falls in it
--   domain_messages  attempts that are the first of their message to this
--                    recipient domain: summed per domain, that domain's
--                    messages
--   relay_messages   attempts that are the first of their message to this
--                    relay: summed per relay, the messages sent through it
CREATE TABLE delivery_hours (
	hour             INTEGER NOT NULL,
	domain_id        INTEGER NOT NULL,  -- of the recipient
	relay_id         INTEGER NOT NULL,
	outcome          TEXT NOT NULL,     -- as deliveries.outcome
	final            INTEGER NOT NULL,  -- as deliveries.final
	reason           TEXT NOT NULL,     -- as deliveries.reason, '' for NULL
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	domain_messages  INTEGER NOT NULL,
	relay_messages   INTEGER NOT NULL,
	PRIMARY KEY (hour, domain_id, relay_id, outcome, final, reason)
) WITHOUT ROWID;
-- No secondary index: a report on one domain (--domain) reads the window's
-- rows of this table, which are few, and every index would be one more
-- b-tree for the writer to update per row here.

-- The same per hour and per host that logged the attempt (--by host), and
-- per sender domain (--by sender-domain); messages as in delivery_hours (a
-- message has one host and one sender domain). --by host or sender-domain
-- with --domain reads that domain's rows of deliveries instead.
CREATE TABLE host_hours (
	hour             INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	final            INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	PRIMARY KEY (hour, host_id, outcome, final, reason)
) WITHOUT ROWID;

CREATE TABLE sender_hours (
	hour             INTEGER NOT NULL,
	sender_domain_id INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	final            INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	PRIMARY KEY (hour, sender_domain_id, outcome, final, reason)
) WITHOUT ROWID;

-- Recipients (message and address pairs) deferred at least once, counted
-- in the hour of their first deferral, with the domain and relay of that
-- deferral, and the hour their fate was decided (their first attempt with
-- final = 1 that is not a hop), 0 while they wait. A recipient decided
-- later moves from decided_hour 0 to that hour.
--
--   recipients deferred in a range of hours:  sum(recipients) WHERE hour IN range
--   of those, still waiting at its end:       ... AND NOT decided_hour IN range
--
-- A deferral without a message (message_ref NULL) is a recipient of its
-- own that is never decided. deferred_host_hours and
-- deferred_sender_hours are the same per host and per sender domain.
CREATE TABLE deferred_hours (
	hour             INTEGER NOT NULL,  -- of the first deferral
	domain_id        INTEGER NOT NULL,
	relay_id         INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,  -- 0: not decided yet
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (hour, domain_id, relay_id, decided_hour)
) WITHOUT ROWID;

CREATE TABLE deferred_host_hours (
	hour             INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (hour, host_id, decided_hour)
) WITHOUT ROWID;

CREATE TABLE deferred_sender_hours (
	hour             INTEGER NOT NULL,
	sender_domain_id INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (hour, sender_domain_id, decided_hour)
) WITHOUT ROWID;

-- Rejects (refusals at our own door, the rejects table) per hour,
-- recipient domain (0: the reject named no recipient), host and reason:
-- the rejected column per domain, the totals, rejects by reason and --by
-- host.
CREATE TABLE reject_hours (
	hour             INTEGER NOT NULL,
	domain_id        INTEGER NOT NULL,  -- of the recipient, 0 for NULL
	host_id          INTEGER NOT NULL,
	reason           TEXT NOT NULL,     -- as rejects.reason, '' for NULL
	rejects          INTEGER NOT NULL,
	PRIMARY KEY (hour, domain_id, host_id, reason)
) WITHOUT ROWID;

-- Fill them from the rows stored by version 1, through the counts per
-- every grouping at once (computed once, then summed per table). The same
-- definitions are in store/rollup.go (rollupRowsSQL, deferredRowsSQL,
-- rejectRowsSQL), which reads the partial hours at the ends of a
-- report's window this way.
CREATE TEMP TABLE rollup_backfill AS
SELECT d.time / 3600000000 AS hour, d.domain_id AS domain_id, d.outcome AS outcome, d.final AS final,
	ifnull(d.reason, '') AS reason,
	ifnull(d.relay_id, 0) AS relay_id, ifnull(d.host_id, 0) AS host_id, ifnull(m.sender_domain_id, 0) AS sender_domain_id,
	count(*) AS attempts,
	sum(d.message_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.id < d.id)) AS messages,
	sum(d.message_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.domain_id = d.domain_id AND e.id < d.id)) AS domain_messages,
	sum(d.message_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.relay_id IS d.relay_id AND e.id < d.id)) AS relay_messages
FROM deliveries d
LEFT JOIN messages m ON m.id = d.message_ref
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

INSERT INTO delivery_hours
SELECT hour, domain_id, relay_id, outcome, final, reason,
	sum(attempts), sum(messages), sum(domain_messages), sum(relay_messages)
FROM rollup_backfill GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO host_hours
SELECT hour, host_id, outcome, final, reason, sum(attempts), sum(messages)
FROM rollup_backfill GROUP BY 1, 2, 3, 4, 5;
INSERT INTO sender_hours
SELECT hour, sender_domain_id, outcome, final, reason, sum(attempts), sum(messages)
FROM rollup_backfill GROUP BY 1, 2, 3, 4, 5;
DROP TABLE rollup_backfill;

CREATE TEMP TABLE deferred_backfill AS
SELECT d.time / 3600000000 AS hour, d.domain_id AS domain_id, ifnull(d.relay_id, 0) AS relay_id,
	ifnull(d.host_id, 0) AS host_id, ifnull(m.sender_domain_id, 0) AS sender_domain_id,
	ifnull((SELECT f.time / 3600000000 FROM deliveries f
		WHERE d.message_ref IS NOT NULL AND f.message_ref = d.message_ref AND f.recipient = d.recipient
		AND f.final = 1 AND f.outcome <> 'hop' ORDER BY f.id LIMIT 1), 0) AS decided_hour,
	count(*) AS recipients
FROM deliveries d
LEFT JOIN messages m ON m.id = d.message_ref
WHERE d.outcome = 'deferred'
	AND (d.message_ref IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.recipient = d.recipient
		AND e.outcome = 'deferred' AND e.id < d.id))
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO deferred_hours
SELECT hour, domain_id, relay_id, decided_hour, sum(recipients) FROM deferred_backfill GROUP BY 1, 2, 3, 4;
INSERT INTO deferred_host_hours
SELECT hour, host_id, decided_hour, sum(recipients) FROM deferred_backfill GROUP BY 1, 2, 3;
INSERT INTO deferred_sender_hours
SELECT hour, sender_domain_id, decided_hour, sum(recipients) FROM deferred_backfill GROUP BY 1, 2, 3;
DROP TABLE deferred_backfill;

INSERT INTO reject_hours
SELECT time / 3600000000, ifnull(domain_id, 0), ifnull(host_id, 0), ifnull(reason, ''), count(*)
FROM rejects GROUP BY 1, 2, 3, 4;

-- The daily tier: the same tables per day instead of per hour, so that a
-- report over weeks reads a row per group and day rather than per group
-- and hour. day is a time in whole days since the Unix epoch, UTC:
-- hour / 24 (time / 86400000000); by hand: date(day * 86400, 'unixepoch').
-- Each holds the sums of its hourly table's rows per day and key (the
-- deferred ones keep decided_hour: a report tells a recipient decided in
-- its window to the hour). The writer adds to them in the same
-- transaction as to the hourly tables; a report reads them for the whole
-- days of its window, the hourly tables for the whole hours of the days at
-- its ends, and deliveries (rejects) for the partial hours.
CREATE TABLE delivery_days (
	day              INTEGER NOT NULL,
	domain_id        INTEGER NOT NULL,
	relay_id         INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	final            INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	domain_messages  INTEGER NOT NULL,
	relay_messages   INTEGER NOT NULL,
	PRIMARY KEY (day, domain_id, relay_id, outcome, final, reason)
) WITHOUT ROWID;

CREATE TABLE host_days (
	day              INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	final            INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	PRIMARY KEY (day, host_id, outcome, final, reason)
) WITHOUT ROWID;

CREATE TABLE sender_days (
	day              INTEGER NOT NULL,
	sender_domain_id INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	final            INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	PRIMARY KEY (day, sender_domain_id, outcome, final, reason)
) WITHOUT ROWID;

CREATE TABLE deferred_days (
	day              INTEGER NOT NULL,  -- of the first deferral
	domain_id        INTEGER NOT NULL,
	relay_id         INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,  -- an hour, as in deferred_hours
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (day, domain_id, relay_id, decided_hour)
) WITHOUT ROWID;

CREATE TABLE deferred_host_days (
	day              INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (day, host_id, decided_hour)
) WITHOUT ROWID;

CREATE TABLE deferred_sender_days (
	day              INTEGER NOT NULL,
	sender_domain_id INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (day, sender_domain_id, decided_hour)
) WITHOUT ROWID;

CREATE TABLE reject_days (
	day              INTEGER NOT NULL,
	domain_id        INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	rejects          INTEGER NOT NULL,
	PRIMARY KEY (day, domain_id, host_id, reason)
) WITHOUT ROWID;

-- Filled from the hourly tables just filled (the same definitions are in
-- store/rollup.go, dayRowsSQL, which VerifyRollup checks them with).
INSERT INTO delivery_days
SELECT hour / 24, domain_id, relay_id, outcome, final, reason,
	sum(attempts), sum(messages), sum(domain_messages), sum(relay_messages)
FROM delivery_hours GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO host_days
SELECT hour / 24, host_id, outcome, final, reason, sum(attempts), sum(messages)
FROM host_hours GROUP BY 1, 2, 3, 4, 5;
INSERT INTO sender_days
SELECT hour / 24, sender_domain_id, outcome, final, reason, sum(attempts), sum(messages)
FROM sender_hours GROUP BY 1, 2, 3, 4, 5;
INSERT INTO deferred_days
SELECT hour / 24, domain_id, relay_id, decided_hour, sum(recipients) FROM deferred_hours GROUP BY 1, 2, 3, 4;
INSERT INTO deferred_host_days
SELECT hour / 24, host_id, decided_hour, sum(recipients) FROM deferred_host_hours GROUP BY 1, 2, 3;
INSERT INTO deferred_sender_days
SELECT hour / 24, sender_domain_id, decided_hour, sum(recipients) FROM deferred_sender_hours GROUP BY 1, 2, 3;
INSERT INTO reject_days
SELECT hour / 24, domain_id, host_id, reason, sum(rejects) FROM reject_hours GROUP BY 1, 2, 3, 4;
