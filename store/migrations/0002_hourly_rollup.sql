-- mailbounce database schema, version 2: hourly rollups of the deliveries.
--
-- A report over millions of attempts must not read millions of rows. These
-- two tables hold the deliveries counted per hour and per combination of
-- the columns a report groups by; the writer keeps them up to date in the
-- same transaction as the rows they count (a rolled back batch leaves
-- nothing behind), and this migration fills them from the rows already
-- stored. They are derived data: deliveries stays the record, and every
-- figure here can be recomputed from it.
--
-- Conventions of both tables:
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

-- Attempts per hour and per (recipient domain, outcome, final, reason,
-- relay, host, sender domain): the counts of deliveries, grouped.
--
--   attempts         delivery attempts (rows of deliveries); count
--                    recipients with final = 1, deferral attempts with
--                    outcome = 'deferred', as in deliveries
--   messages         attempts that are the first of their message: summed
--                    over a time range, the messages whose first attempt
--                    falls in it (per host or sender domain too: a message
--                    has one of each)
--   domain_messages  attempts that are the first of their message to this
--                    recipient domain: summed per domain, that domain's
--                    messages
--   relay_messages   attempts that are the first of their message to this
--                    relay: summed per relay, the messages sent through it
--
-- A message is counted in the hour of its first attempt only, so that
-- sums over consecutive time ranges add up; attempts without a message
-- (message_ref NULL) count in attempts only.
CREATE TABLE delivery_hours (
	hour             INTEGER NOT NULL,
	domain_id        INTEGER NOT NULL,  -- of the recipient
	outcome          TEXT NOT NULL,     -- as deliveries.outcome
	final            INTEGER NOT NULL,  -- as deliveries.final
	reason           TEXT NOT NULL,     -- as deliveries.reason, '' for NULL
	relay_id         INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	sender_domain_id INTEGER NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	domain_messages  INTEGER NOT NULL,
	relay_messages   INTEGER NOT NULL,
	PRIMARY KEY (hour, domain_id, outcome, final, reason, relay_id, host_id, sender_domain_id)
) WITHOUT ROWID;
-- No secondary index: a report on one domain (--domain) reads the window's
-- rows of this table, which are few, and every index would be one more
-- b-tree for the writer to update per row here.

-- Recipients (message and address pairs) deferred at least once, counted
-- in the hour of their first deferral, with the relay, host and sender
-- domain of that deferral, and the hour their fate was decided (their
-- first attempt with final = 1 that is not a hop), 0 while they wait.
-- A recipient decided later moves from decided_hour 0 to that hour.
--
--   recipients deferred in a range of hours:  sum(recipients) WHERE hour IN range
--   of those, still waiting at its end:       ... AND NOT decided_hour IN range
--
-- A deferral without a message (message_ref NULL) is a recipient of its
-- own that is never decided.
CREATE TABLE deferred_hours (
	hour             INTEGER NOT NULL,  -- of the first deferral
	domain_id        INTEGER NOT NULL,
	relay_id         INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	sender_domain_id INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,  -- 0: not decided yet
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (hour, domain_id, relay_id, host_id, sender_domain_id, decided_hour)
) WITHOUT ROWID;

-- Fill both from the rows stored by version 1. The same definitions are
-- in store/rollup.go (rollupRowsSQL, deferredRowsSQL), which reads the
-- partial hours at the ends of a report's window this way.
INSERT INTO delivery_hours
SELECT d.time / 3600000000, d.domain_id, d.outcome, d.final, ifnull(d.reason, ''),
	ifnull(d.relay_id, 0), ifnull(d.host_id, 0), ifnull(m.sender_domain_id, 0),
	count(*),
	sum(d.message_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.id < d.id)),
	sum(d.message_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.domain_id = d.domain_id AND e.id < d.id)),
	sum(d.message_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.relay_id IS d.relay_id AND e.id < d.id))
FROM deliveries d
LEFT JOIN messages m ON m.id = d.message_ref
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

INSERT INTO deferred_hours
SELECT d.time / 3600000000, d.domain_id, ifnull(d.relay_id, 0), ifnull(d.host_id, 0),
	ifnull(m.sender_domain_id, 0),
	ifnull((SELECT f.time / 3600000000 FROM deliveries f
		WHERE d.message_ref IS NOT NULL AND f.message_ref = d.message_ref AND f.recipient = d.recipient
		AND f.final = 1 AND f.outcome <> 'hop' ORDER BY f.id LIMIT 1), 0),
	count(*)
FROM deliveries d
LEFT JOIN messages m ON m.id = d.message_ref
WHERE d.outcome = 'deferred'
	AND (d.message_ref IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.recipient = d.recipient
		AND e.outcome = 'deferred' AND e.id < d.id))
GROUP BY 1, 2, 3, 4, 5, 6;
