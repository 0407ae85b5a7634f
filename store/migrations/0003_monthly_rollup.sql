-- mailbounce database schema, version 3: monthly rollups.
--
-- The daily tables of version 2 still hold a row per group and day, and
-- a report over weeks of a busy relay reads hundreds of thousands of them
-- (10 million attempts over 13 days: 750,000 rows of delivery_days), which
-- costs more than everything else the report does. These tables hold the
-- same sums per calendar month, so that a report reads a row per group
-- and month for the whole months of its window (every month before its
-- end when it has no start, as the default report), the daily tables for
-- the whole days of the months at its ends, the hourly ones for the whole
-- hours of the days at its ends, and deliveries (rejects) for the partial
-- hours.
--
-- month is a calendar month of UTC as months since the year 0:
-- year * 12 + month - 1 (2026-11 is 24322). By hand:
-- printf('%d-%02d', month / 12, month % 12 + 1).
--
-- Each holds the sums of its daily table's rows per month and key (the
-- deferred ones keep decided_hour, an hour as in deferred_hours), kept by
-- the writer in the same transaction as the hourly and daily tables. The
-- same definitions are in store/rollup.go (monthRowsSQL, which
-- VerifyRollup checks them with).

CREATE TABLE delivery_months (
	month            INTEGER NOT NULL,
	domain_id        INTEGER NOT NULL,
	relay_id         INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	final            INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	domain_messages  INTEGER NOT NULL,
	relay_messages   INTEGER NOT NULL,
	PRIMARY KEY (month, domain_id, relay_id, outcome, final, reason)
) WITHOUT ROWID;

CREATE TABLE host_months (
	month            INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	final            INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	PRIMARY KEY (month, host_id, outcome, final, reason)
) WITHOUT ROWID;

CREATE TABLE sender_months (
	month            INTEGER NOT NULL,
	sender_domain_id INTEGER NOT NULL,
	outcome          TEXT NOT NULL,
	final            INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	PRIMARY KEY (month, sender_domain_id, outcome, final, reason)
) WITHOUT ROWID;

CREATE TABLE deferred_months (
	month            INTEGER NOT NULL,
	domain_id        INTEGER NOT NULL,
	relay_id         INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,  -- an hour, as in deferred_hours
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (month, domain_id, relay_id, decided_hour)
) WITHOUT ROWID;

CREATE TABLE deferred_host_months (
	month            INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (month, host_id, decided_hour)
) WITHOUT ROWID;

CREATE TABLE deferred_sender_months (
	month            INTEGER NOT NULL,
	sender_domain_id INTEGER NOT NULL,
	decided_hour     INTEGER NOT NULL,
	recipients       INTEGER NOT NULL,
	PRIMARY KEY (month, sender_domain_id, decided_hour)
) WITHOUT ROWID;

CREATE TABLE reject_months (
	month            INTEGER NOT NULL,
	domain_id        INTEGER NOT NULL,
	host_id          INTEGER NOT NULL,
	reason           TEXT NOT NULL,
	rejects          INTEGER NOT NULL,
	PRIMARY KEY (month, domain_id, host_id, reason)
) WITHOUT ROWID;

-- Filled from the daily tables.
INSERT INTO delivery_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), domain_id, relay_id, outcome, final, reason, sum(attempts), sum(messages), sum(domain_messages), sum(relay_messages)
FROM delivery_days GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO host_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), host_id, outcome, final, reason, sum(attempts), sum(messages)
FROM host_days GROUP BY 1, 2, 3, 4, 5;
INSERT INTO sender_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), sender_domain_id, outcome, final, reason, sum(attempts), sum(messages)
FROM sender_days GROUP BY 1, 2, 3, 4, 5;
INSERT INTO deferred_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), domain_id, relay_id, decided_hour, sum(recipients)
FROM deferred_days GROUP BY 1, 2, 3, 4;
INSERT INTO deferred_host_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), host_id, decided_hour, sum(recipients)
FROM deferred_host_days GROUP BY 1, 2, 3;
INSERT INTO deferred_sender_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), sender_domain_id, decided_hour, sum(recipients)
FROM deferred_sender_days GROUP BY 1, 2, 3;
INSERT INTO reject_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), domain_id, host_id, reason, sum(rejects)
FROM reject_days GROUP BY 1, 2, 3, 4;

-- Typical replies and delay percentiles read the latest attempts of one
-- domain, outcome and reason through deliveries_domain_outcome: the reply
-- code, enhanced code and delay of each were a table row read, and a
-- report on a thousand domains read hundreds of thousands of them. The
-- index now carries them (and id, after time, so that attempts of the same
-- time come in the order they were stored, as before): a report reads the
-- table row of one reply text per reason. Rebuilding it takes half a
-- minute to a minute and a half per 10 million attempts, once.
DROP INDEX deliveries_domain_outcome;
CREATE INDEX deliveries_domain_outcome ON deliveries (domain_id, outcome, final, reason, time, id, code, enhanced, delay);
