-- mailbounce database schema, version 11: a recipient deferred before a
-- hop and again after it is one deferred recipient.
--
-- A recipient deferred on its way to a content filter (amavis down) and
-- again after it (greylisting), or deferred, requeued with postsuper -r and
-- deferred again, counted as two deferred recipients (DfRcp), one per
-- queue ID: a domain's deferral rate could pass 100%. Its deferral before
-- the hop now counts only when the message the hop made does not defer it:
-- a deferred recipient whose first decision is a hop, linked to a message
-- that deferred the same address, is left out of the deferred_* rollups
-- and of v_domain_summary's deferred_recipients (see handedOnSQL in
-- store/rollup.go). Tables, columns and the view's columns are unchanged.
DELETE FROM deferred_hours;
DELETE FROM deferred_host_hours;
DELETE FROM deferred_sender_hours;
DELETE FROM deferred_days;
DELETE FROM deferred_host_days;
DELETE FROM deferred_sender_days;
DELETE FROM deferred_months;
DELETE FROM deferred_host_months;
DELETE FROM deferred_sender_months;

CREATE TEMP TABLE deferred_backfill AS
SELECT d.time / 3600000000 AS hour, d.domain_id AS domain_id, ifnull(d.relay_id, 0) AS relay_id,
	ifnull(d.host_id, 0) AS host_id, ifnull(m.sender_domain_id, 0) AS sender_domain_id,
	ifnull((SELECT f.time / 3600000000 FROM deliveries f
		WHERE d.message_ref IS NOT NULL AND f.message_ref = d.message_ref AND f.recipient = d.recipient
		AND (f.final = 1 OR f.outcome = 'hop') ORDER BY f.id LIMIT 1), 0) AS decided_hour,
	count(*) AS recipients
FROM deliveries d
LEFT JOIN messages m ON m.id = d.message_ref
WHERE d.outcome = 'deferred'
	AND (d.message_ref IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e
		WHERE e.message_ref = d.message_ref AND e.recipient = d.recipient
		AND e.outcome = 'deferred' AND e.id < d.id))
	AND NOT EXISTS (SELECT 1 FROM message_links l
		JOIN deliveries h ON h.id = l.delivery_id AND h.outcome = 'hop'
		JOIN deliveries e ON e.message_ref = l.to_ref AND e.recipient = d.recipient AND e.outcome = 'deferred'
		WHERE d.message_ref IS NOT NULL AND l.delivery_id = (SELECT f.id FROM deliveries f
			WHERE f.message_ref = d.message_ref AND f.recipient = d.recipient
			AND (f.final = 1 OR f.outcome = 'hop') ORDER BY f.id LIMIT 1))
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO deferred_hours
SELECT hour, domain_id, relay_id, decided_hour, sum(recipients) FROM deferred_backfill GROUP BY 1, 2, 3, 4;
INSERT INTO deferred_host_hours
SELECT hour, host_id, decided_hour, sum(recipients) FROM deferred_backfill GROUP BY 1, 2, 3;
INSERT INTO deferred_sender_hours
SELECT hour, sender_domain_id, decided_hour, sum(recipients) FROM deferred_backfill GROUP BY 1, 2, 3;
DROP TABLE deferred_backfill;

INSERT INTO deferred_days
SELECT hour / 24, domain_id, relay_id, decided_hour, sum(recipients) FROM deferred_hours GROUP BY 1, 2, 3, 4;
INSERT INTO deferred_host_days
SELECT hour / 24, host_id, decided_hour, sum(recipients) FROM deferred_host_hours GROUP BY 1, 2, 3;
INSERT INTO deferred_sender_days
SELECT hour / 24, sender_domain_id, decided_hour, sum(recipients) FROM deferred_sender_hours GROUP BY 1, 2, 3;

INSERT INTO deferred_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), domain_id, relay_id, decided_hour, sum(recipients)
FROM deferred_days GROUP BY 1, 2, 3, 4;
INSERT INTO deferred_host_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), host_id, decided_hour, sum(recipients)
FROM deferred_host_days GROUP BY 1, 2, 3;
INSERT INTO deferred_sender_months
SELECT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1), sender_domain_id, decided_hour, sum(recipients)
FROM deferred_sender_days GROUP BY 1, 2, 3;

DROP VIEW v_domain_summary;
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
		sum(NOT handed) AS deferred_recipients,
		sum(NOT handed AND NOT EXISTS (SELECT 1 FROM deliveries f
			WHERE f.message_ref = p.message_ref AND f.recipient = p.recipient
			AND (f.final = 1 OR f.outcome = 'hop'))) AS waiting
	FROM (SELECT q.*, EXISTS (SELECT 1 FROM message_links l
			JOIN deliveries h ON h.id = l.delivery_id AND h.outcome = 'hop'
			JOIN deliveries e ON e.message_ref = l.to_ref AND e.recipient = q.recipient AND e.outcome = 'deferred'
			WHERE q.message_ref IS NOT NULL AND l.delivery_id = (SELECT f.id FROM deliveries f
				WHERE f.message_ref = q.message_ref AND f.recipient = q.recipient
				AND (f.final = 1 OR f.outcome = 'hop') ORDER BY f.id LIMIT 1)) AS handed
		FROM (SELECT DISTINCT domain_id, message_ref, recipient FROM deliveries
			WHERE outcome = 'deferred') q) p
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
