package store

import (
	"database/sql"
	"slices"
	"strings"
	"time"
)

// Stitching links the legs of one message across hops and hosts: an
// attempt whose reply named a queue ID (deliveries.remote_id) and the
// message stored under that queue ID, on this host or another. The attempt
// becomes a hop (its recipient is counted where its fate was decided, at
// the last of our hosts it crossed) and message_links records the link.
// See migrations/0005_stitch.sql.

// Stitching windows. Two servers' clocks and logs agree only roughly; the
// receiving side logs the message before it answers 250, so its first line
// is normally a little earlier than the sender's delivery line.
const (
	// With the Message-ID known on both sides and equal, the queue ID and
	// the Message-ID together leave no doubt: a wide window covers clocks
	// that are far off.
	stitchWindowSameMessageID = 7 * 24 * 3600 * 1e6
	// Without a Message-ID on one side, only the queue ID and the time
	// say it is the same message: a short Postfix queue ID could be
	// another server's, so the time must agree closely.
	stitchWindowQueueIDOnly = 15 * 60 * 1e6
)

// stitchChunk is how many attempt ids stitch reads candidates for at once
// (a variable for tests).
var stitchChunk int64 = 200_000

// handoff is one attempt and one message that its remote ID may name.
type handoff struct {
	delivery, fromRef int64
	hasFrom           bool
	outcome           string
	toRef             int64
	dist              int64 // |message's first line - attempt|, microseconds
}

// (In the first query, EXISTS spares the ordering subquery, which makes
// SQLite set up a sorter each time, for the attempts whose remote ID names
// no message at all: most of them, as a Gmail or Microsoft queue ID does;
// the Bloom filter (fillBloom) spares most of those lookups in turn. Hops
// linked as they were stored (Delivery.NextMessageRef: a content filter's
// next queue ID, which the collator had in hand) are left out.)

// The candidate queries: attempts that handed a message on (an accepted
// delivery or a hop with a queue ID in the reply) with the messages their
// remote ID names. A queue ID can name many messages (Postfix reuses short
// IDs; a log read twice repeats them all): SQLite picks the one nearest in
// time whose Message-ID does not contradict, so that Go reads one row per
// attempt, and the messages' side only looks at attempts not yet linked.
const stitchSelect = `SELECT d.id, d.message_ref, d.time, d.outcome, m.id, coalesce(m.first_seen, m.last_seen),
	ifnull(m.message_id, ''), ifnull(am.message_id, '')`

const stitchNewDeliveriesSQL = `SELECT x.id, x.message_ref, x.time, x.outcome, m.id, coalesce(m.first_seen, m.last_seen),
	ifnull(m.message_id, ''), x.from_mid
FROM (SELECT d.id, d.message_ref, d.time, d.outcome, ifnull(am.message_id, '') AS from_mid, (SELECT c.id FROM messages c
		WHERE c.queue_id = d.remote_id AND c.id IS NOT d.message_ref
			AND (c.message_id IS NULL OR am.message_id IS NULL OR c.message_id = am.message_id)
		ORDER BY abs(coalesce(c.first_seen, c.last_seen, 0) - d.time) LIMIT 1) AS mid
	FROM deliveries d LEFT JOIN messages am ON am.id = d.message_ref
	WHERE d.id > ? AND d.id <= ? AND d.remote_id IS NOT NULL AND d.outcome IN ('delivered', 'hop')
		AND NOT (d.outcome = 'hop' AND EXISTS (SELECT 1 FROM message_links l WHERE l.delivery_id = d.id))
		AND mailbounce_bloom_has(d.remote_id) AND EXISTS (SELECT 1 FROM messages e WHERE e.queue_id = d.remote_id)) x
CROSS JOIN messages m ON m.id = x.mid`

const insertLinkSQL = `INSERT OR IGNORE INTO message_links (delivery_id, from_ref, to_ref) VALUES (?, ?, ?)`

const stitchNewMessagesSQL = stitchSelect + `
FROM stitch_queue q
CROSS JOIN messages m ON m.id = q.message_ref
CROSS JOIN deliveries d ON d.remote_id = m.queue_id
LEFT JOIN messages am ON am.id = d.message_ref
WHERE d.id <= ? AND d.outcome IN ('delivered', 'hop') AND m.id IS NOT d.message_ref
	AND NOT EXISTS (SELECT 1 FROM message_links l WHERE l.delivery_id = d.id)`

// queueMessages adds the messages inserted in this batch to stitch_queue
// (migration 6 explains why not by trigger).
func (b *Batch) queueMessages() error {
	if len(b.queued) == 0 {
		return nil
	}
	// While no attempt has been stitched (a first load, in bulk: its
	// stitching waits for its end), the next stitch matches every attempt
	// against every message, these included: nothing to queue. The write
	// lock keeps another writer's stitch out until this batch commits.
	var mark int64
	if err := b.txn().QueryRowContext(b.ctx, `SELECT delivery_id FROM stitch_state`).Scan(&mark); err != nil {
		return b.db.wrapErr("queue new messages for stitching", err)
	}
	if mark == 0 {
		b.queued = b.queued[:0]
		return nil
	}
	const perStatement = 500
	for len(b.queued) > 0 {
		n := min(len(b.queued), perStatement)
		args := make([]any, n)
		for i, id := range b.queued[:n] {
			args[i] = id
		}
		q := `INSERT OR IGNORE INTO stitch_queue (message_ref) VALUES ` + strings.TrimSuffix(strings.Repeat("(?), ", n), ", ")
		if _, err := b.txn().ExecContext(b.ctx, q, args...); err != nil {
			return b.db.wrapErr("queue new messages for stitching", err)
		}
		b.queued = b.queued[n:]
	}
	return nil
}

// stitch links the attempts and messages stored since the last stitch to
// each other and to what was stored before. Commit calls it before the
// rollups are written, since a delivery turned hop changes their sums.
func (b *Batch) stitch() error {
	if err := b.queueMessages(); err != nil {
		return err
	}
	var mark, last int64
	var queued bool
	err := b.txn().QueryRowContext(b.ctx, `SELECT s.delivery_id, ifnull((SELECT max(id) FROM deliveries), 0),
		EXISTS (SELECT 1 FROM stitch_queue) FROM stitch_state s`).Scan(&mark, &last, &queued)
	if err != nil {
		return b.db.wrapErr("stitch: read state", err)
	}
	if last <= mark && !queued {
		return nil
	}
	best := make(map[int64]*handoff)
	read := func(query string, args ...any) error {
		rows, err := b.txn().QueryContext(b.ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h handoff
			var from sql.NullInt64
			var at int64
			var mt sql.NullInt64
			var mid, fromMID string
			if err := rows.Scan(&h.delivery, &from, &at, &h.outcome, &h.toRef, &mt, &mid, &fromMID); err != nil {
				return err
			}
			h.fromRef, h.hasFrom = from.Int64, from.Valid
			var ok bool
			h.dist, ok = sameMessage(at, mt, mid, fromMID)
			if !ok {
				continue
			}
			if p := best[h.delivery]; p == nil || h.dist < p.dist {
				best[h.delivery] = &h
			}
		}
		return rows.Err()
	}
	var link *sql.Stmt
	defer func() {
		if link != nil {
			link.Close()
		}
	}()
	// apply links the attempts in best to their messages, in id order, and
	// empties best. Attempts above the mark (fresh) were never linked: their
	// links go to the writer goroutine's queue, a few hundred per call into
	// C. Others may have been, and the link's insert says whether it is new.
	apply := func(fresh bool) error {
		if len(best) == 0 {
			return nil
		}
		ids := make([]int64, 0, len(best))
		for id := range best {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if link == nil && !fresh {
			if link, err = b.txn().PrepareContext(b.ctx, insertLinkSQL); err != nil {
				return b.db.wrapErr("stitch: link messages", err)
			}
		}
		for i, id := range ids {
			if i%1024 == 1023 {
				if err := b.check(); err != nil {
					return err
				}
			}
			h := best[id]
			var from any
			if h.hasFrom {
				from = h.fromRef
			}
			// A hop's link changes its recipient's part of the rollups
			// (handedOnSQL): it goes in within a restatement of the row.
			// A delivery becomes a hop (markHop) after it is linked.
			insert := func() (bool, error) {
				if fresh {
					if err := b.queue(b.db.cstmts.insertLink, "stitch: link messages", h.delivery, from, h.toRef); err != nil {
						return false, err
					}
				} else {
					res, err := link.ExecContext(b.ctx, h.delivery, from, h.toRef)
					if err != nil {
						return false, b.db.wrapErr("stitch: link messages", err)
					}
					if n, _ := res.RowsAffected(); n == 0 {
						return false, nil // linked before
					}
				}
				return true, b.linked(h.delivery, h.fromRef, h.toRef)
			}
			if h.outcome == OutcomeDelivered {
				if ok, err := insert(); err != nil || !ok {
					if err != nil {
						return err
					}
					continue
				}
				if err := b.markHop(h.delivery); err != nil {
					return err
				}
				continue
			}
			if err := b.restate("stitch: link hop", h.delivery, "outcome = 'hop'", func() error {
				_, err := insert()
				return err
			}); err != nil {
				return err
			}
		}
		clear(best)
		return nil
	}
	// The filter is the connection's, and the query consults it: one left
	// over by a batch that failed before emptying it would hide the queue
	// IDs stored since.
	if b.db.bloomSet {
		if err := b.emptyBloom(); err != nil {
			return err
		}
	}
	filled, err := b.fillBloom(last - mark)
	if filled {
		defer b.emptyBloom()
	}
	if err != nil {
		return err
	}
	// New attempts a range of ids at a time: the end of a bulk load
	// stitches millions, and the candidates of all of them at once took
	// memory in proportion.
	for lo := mark; lo < last; lo += stitchChunk {
		if err := read(stitchNewDeliveriesSQL, lo, min(lo+stitchChunk, last)); err != nil {
			return b.db.wrapErr("stitch new attempts", err)
		}
		if err := apply(true); err != nil {
			return err
		}
	}
	if queued && mark > 0 {
		// Attempts above the mark were matched against every message
		// just above; those at or below it (none when the mark is 0, as
		// in a first bulk load) against the new messages here.
		if err := read(stitchNewMessagesSQL, mark); err != nil {
			return b.db.wrapErr("stitch new messages", err)
		}
		if err := apply(false); err != nil {
			return err
		}
	}
	if _, err := b.txn().ExecContext(b.ctx, `UPDATE stitch_state SET delivery_id = ?`, max(last, mark)); err != nil {
		return b.db.wrapErr("stitch: save state", err)
	}
	if queued {
		if _, err := b.txn().ExecContext(b.ctx, `DELETE FROM stitch_queue`); err != nil {
			return b.db.wrapErr("stitch: save state", err)
		}
	}
	return nil
}

// bloomMinAttempts is how many attempts stitch must look at before it
// reads every queue ID into a Bloom filter (bloom.c) to spare most of their
// lookups; and it must be at least a quarter of the messages, which it
// reads (a variable for tests).
var bloomMinAttempts int64 = 20_000

// fillBloom fills the connection's filter of queue IDs for stitching n
// attempts, if that pays, and says whether it made one (to be emptied
// after); otherwise there is none, and every attempt is looked up.
func (b *Batch) fillBloom(n int64) (filled bool, err error) {
	if n < bloomMinAttempts {
		return false, nil
	}
	var messages int64
	if err := b.txn().QueryRowContext(b.ctx, `SELECT ifnull(max(id), 0) FROM messages`).Scan(&messages); err != nil {
		return false, b.db.wrapErr("stitch: count messages", err)
	}
	if messages == 0 || n*4 < messages {
		return false, nil
	}
	b.db.bloomSet = true // until emptyBloom succeeds
	if _, err := b.txn().ExecContext(b.ctx, `SELECT mailbounce_bloom_reset(?)`, messages); err != nil {
		return true, b.db.wrapErr("stitch: read queue IDs", err)
	}
	// The scan reads messages_queue, which is smaller than the table.
	var added int64
	err = b.txn().QueryRowContext(b.ctx, `SELECT count(mailbounce_bloom_add(queue_id)) FROM messages`).Scan(&added)
	return true, b.db.wrapErr("stitch: read queue IDs", err)
}

// Handed says whether a message first seen at firstSeen (zero: not known)
// can be what an attempt at time at handed on, given both sides'
// Message-IDs ("" where not known): stitching's own test, for a caller that
// links a hop itself (Delivery.NextMessageRef).
func Handed(at, firstSeen time.Time, mid, fromMID string) bool {
	var mt sql.NullInt64
	if !firstSeen.IsZero() {
		mt = sql.NullInt64{Int64: firstSeen.UnixMicro(), Valid: true}
	}
	_, ok := sameMessage(at.UnixMicro(), mt, mid, fromMID)
	return ok
}

// emptyBloom frees the connection's filter: stitching looks up every
// attempt again.
func (b *Batch) emptyBloom() error {
	if _, err := b.txn().ExecContext(b.ctx, `SELECT mailbounce_bloom_reset(0)`); err != nil {
		return b.db.wrapErr("stitch: free the queue ID filter", err)
	}
	b.db.bloomSet = false
	return nil
}

// sameMessage says whether a message whose first line is at mt can be
// what an attempt at time at handed on, given the Message-IDs of both
// sides ("" where not known), and how far apart they are.
func sameMessage(at int64, mt sql.NullInt64, mid, fromMID string) (dist int64, ok bool) {
	window := int64(stitchWindowQueueIDOnly)
	if mid != "" && fromMID != "" {
		if mid != fromMID {
			return 0, false
		}
		window = stitchWindowSameMessageID
	}
	if !mt.Valid {
		return 1 << 62, window == stitchWindowSameMessageID
	}
	dist = mt.Int64 - at
	if dist < 0 {
		dist = -dist
	}
	return dist, dist <= window
}

// markHop turns a stored delivery into a hop: the next hop was one of our
// own queues, where the recipient's fate is decided and counted. The
// rollups move the row's part from delivered to hop.
func (b *Batch) markHop(deliveryID int64) error {
	return b.restate("stitch: mark hop", deliveryID, "outcome = 'delivered'", func() error {
		_, err := b.txn().ExecContext(b.ctx, `UPDATE deliveries SET outcome = 'hop', final = 0,
			next_queue_id = coalesce(next_queue_id, remote_id) WHERE id = ?`, deliveryID)
		return err
	})
}
