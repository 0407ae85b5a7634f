package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
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
