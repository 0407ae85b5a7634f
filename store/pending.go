package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"time"
)

// PendingRecipients returns, for each recipient of a message that has
// deferral attempts but no final attempt (and was not handed on by a hop),
// its last deferral. Postfix's "status=expired" line names no recipient:
// these are the ones it gave up on. Rows added earlier in this batch count.
func (b *Batch) PendingRecipients(messageRef int64) ([]Delivery, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	rows, err := b.txn().QueryContext(b.ctx, `
		SELECT d.time, d.recipient, d.orig_recipient, r.name, d.dsn, d.code, d.enhanced, d.stage, d.reply, d.reason
		FROM deliveries d LEFT JOIN relays r ON r.id = d.relay_id
		WHERE d.message_ref = ?1 AND d.outcome = 'deferred'
		  AND NOT EXISTS (SELECT 1 FROM deliveries f
		                  WHERE f.message_ref = ?1 AND f.recipient = d.recipient
		                    AND (f.final = 1 OR f.outcome = 'hop'))
		ORDER BY d.time, d.id`, messageRef)
	if err != nil {
		return nil, b.db.wrapErr("find pending recipients", err)
	}
	defer rows.Close()
	last := map[string]int{}
	var out []Delivery
	for rows.Next() {
		var t int64
		var orig, relay, dsn, enh, stage, reply, reason sql.NullString
		var code sql.NullInt64
		var d Delivery
		if err := rows.Scan(&t, &d.Recipient, &orig, &relay, &dsn, &code, &enh, &stage, &reply, &reason); err != nil {
			return nil, b.db.wrapErr("find pending recipients", err)
		}
		d.Time = FromMicros(t)
		d.MessageRef = messageRef
		d.OrigRecipient, d.Relay, d.DSN = orig.String, relay.String, dsn.String
		d.Code, d.Enhanced, d.Stage = int(code.Int64), enh.String, stage.String
		d.Reply, d.Reason, d.Outcome, d.Delay = reply.String, reason.String, OutcomeDeferred, -1
		if i, ok := last[d.Recipient]; ok {
			out[i] = d
			continue
		}
		last[d.Recipient] = len(out)
		out = append(out, d)
	}
	return out, b.db.wrapErr("find pending recipients", rows.Err())
}

// FindSourceByHead finds the input whose first bytes were head, or a prefix
// of head: a file that was shorter than the fingerprint's 1024 bytes when it
// was last read has grown since.
func (db *DB) FindSourceByHead(ctx context.Context, head []byte) (Source, bool, error) {
	sum := sha256.Sum256(head)
	if s, ok, err := db.FindSource(ctx, sum[:], len(head)); ok || err != nil {
		return s, ok, err
	}
	rows, err := db.reader.QueryContext(ctx,
		`SELECT DISTINCT content_head_len FROM sources WHERE content_head_len < ? AND content_head_len > 0`, len(head))
	if err != nil {
		return Source{}, false, db.wrapErr("find source", err)
	}
	var lens []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return Source{}, false, db.wrapErr("find source", err)
		}
		lens = append(lens, n)
	}
	rows.Close()
	for _, n := range lens {
		sum := sha256.Sum256(head[:n])
		if s, ok, err := db.FindSource(ctx, sum[:], n); ok || err != nil {
			return s, ok, err
		}
	}
	return Source{}, false, nil
}

// PipeSent is a pipe delivery stored as delivered whose message may come
// back through pickup (see collate: a pipe to a content filter is a hop).
type PipeSent struct {
	Delivery, MessageRef int64
	Host, QueueID        string
	MessageID            string
	Time                 time.Time
	Delays               string // as Postfix wrote them: with Time, tells one pipe run
}

// Injection is a message received by pickup, and the message whose pipe
// deliveries became hops to it (UsedBy, 0 for none yet).
type Injection struct {
	MessageRef int64
	Host       string
	QueueID    string
	MessageID  string
	FirstSeen  time.Time
	UsedBy     int64
	// The time and delays of the pipe delivery that took it, if any: with
	// them collate tells the other lines of that pipe run.
	HopTime   time.Time
	HopDelays string
}

// recentRows bounds how far back RecentPipeState looks, in rows: the end
// of the last run, not the whole table.
const recentRows = 200_000

// RecentPipeState returns what an earlier run left waiting for its other
// half within window before the latest attempt stored: pipe deliveries
// ("delivered via SERVICE service") stored as delivered, and messages
// received by pickup. A run that begins between a
// pipe's line and its message's new copy finds the first half here.
func (b *Batch) RecentPipeState(window time.Duration) ([]PipeSent, []Injection, error) {
	if err := b.check(); err != nil {
		return nil, nil, err
	}
	tx := b.txn()
	var maxID, maxTime sql.NullInt64
	if err := tx.QueryRowContext(b.ctx, `SELECT max(id), max(time) FROM deliveries WHERE id > (SELECT max(id) FROM deliveries) - ?`,
		recentRows).Scan(&maxID, &maxTime); err != nil {
		return nil, nil, b.db.wrapErr("read recent pipe deliveries", err)
	}
	if !maxID.Valid {
		return nil, nil, nil
	}
	since := maxTime.Int64 - window.Microseconds()
	var pipes []PipeSent
	rows, err := tx.QueryContext(b.ctx, `SELECT d.id, d.message_ref, ifnull(h.name, ''), m.queue_id, m.message_id, d.time,
			ifnull(d.delays, '')
		FROM deliveries d JOIN messages m ON m.id = d.message_ref LEFT JOIN hosts h ON h.id = m.host_id
		WHERE d.id > ? AND d.time >= ? AND d.outcome = 'delivered' AND d.reply LIKE 'delivered via % service'
			AND m.message_id IS NOT NULL
		ORDER BY d.id`, maxID.Int64-recentRows, since)
	if err != nil {
		return nil, nil, b.db.wrapErr("read recent pipe deliveries", err)
	}
	for rows.Next() {
		var p PipeSent
		var t int64
		if err := rows.Scan(&p.Delivery, &p.MessageRef, &p.Host, &p.QueueID, &p.MessageID, &t, &p.Delays); err != nil {
			rows.Close()
			return nil, nil, b.db.wrapErr("read recent pipe deliveries", err)
		}
		p.Time = FromMicros(t)
		pipes = append(pipes, p)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, b.db.wrapErr("read recent pipe deliveries", err)
	}
	var maxMsg sql.NullInt64
	if err := tx.QueryRowContext(b.ctx, `SELECT max(id) FROM messages`).Scan(&maxMsg); err != nil || !maxMsg.Valid {
		return pipes, nil, b.db.wrapErr("read recent pickup messages", err)
	}
	var ins []Injection
	rows, err = tx.QueryContext(b.ctx, `SELECT m.id, ifnull(h.name, ''), m.queue_id, m.message_id, m.first_seen,
			ifnull(l.from_ref, 0), ifnull(d.time, 0), ifnull(d.delays, '')
		FROM messages m LEFT JOIN hosts h ON h.id = m.host_id
		LEFT JOIN message_links l ON l.to_ref = m.id AND l.delivery_id = (SELECT min(k.delivery_id) FROM message_links k WHERE k.to_ref = m.id)
		LEFT JOIN deliveries d ON d.id = l.delivery_id
		WHERE m.id > ? AND m.first_seen >= ? AND m.client = 'local' AND m.message_id IS NOT NULL
		ORDER BY m.id`, maxMsg.Int64-recentRows, since)
	if err != nil {
		return nil, nil, b.db.wrapErr("read recent pickup messages", err)
	}
	defer rows.Close()
	for rows.Next() {
		var in Injection
		var t, hopTime int64
		if err := rows.Scan(&in.MessageRef, &in.Host, &in.QueueID, &in.MessageID, &t, &in.UsedBy, &hopTime, &in.HopDelays); err != nil {
			return nil, nil, b.db.wrapErr("read recent pickup messages", err)
		}
		in.FirstSeen = FromMicros(t)
		if in.UsedBy != 0 {
			in.HopTime = FromMicros(hopTime)
		}
		ins = append(ins, in)
	}
	return pipes, ins, b.db.wrapErr("read recent pickup messages", rows.Err())
}
