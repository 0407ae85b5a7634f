package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"sort"
	"time"
)

const sourceColumns = `id, path, host, content_head, content_head_len, offset, lines, size, mtime, first_read, last_read, cursor, reader`

func scanSource(row *sql.Row) (Source, bool, error) {
	var s Source
	var host, cursor, reader sql.NullString
	var headLen, lines, size, mtime, first, last sql.NullInt64
	err := row.Scan(&s.ID, &s.Path, &host, &s.HeadHash, &headLen, &s.Offset, &lines, &size, &mtime, &first, &last, &cursor, &reader)
	if errors.Is(err, sql.ErrNoRows) {
		return Source{}, false, nil
	}
	if err != nil {
		return Source{}, false, err
	}
	s.Host, s.HeadLen, s.Lines, s.Size, s.Cursor = host.String, int(headLen.Int64), lines.Int64, size.Int64, cursor.String
	s.Reader = reader.String
	s.MTime, s.FirstRead, s.LastRead = timeOf(mtime), timeOf(first), timeOf(last)
	return s, true, nil
}

// FindSource returns the committed checkpoint of the content whose first
// headLen decompressed bytes hash to headHash, wherever it was read from:
// the same file read twice, or mail.log.1.gz after mail.log was read live.
// If several match, the one with the most bytes committed wins, so that no
// byte is counted twice.
func (db *DB) FindSource(ctx context.Context, headHash []byte, headLen int) (Source, bool, error) {
	s, ok, err := scanSource(db.reader.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources
		WHERE content_head = ? AND content_head_len = ?
		ORDER BY offset DESC, id DESC LIMIT 1`, headHash, headLen))
	if err != nil {
		return Source{}, false, db.wrapErr("find source", err)
	}
	return s, ok, nil
}

// FindSourceByPath returns the most recently read checkpoint for path. A file
// that was shorter than the head length when first read has a shorter head
// hash than it has now; this finds it so that the caller can compare the
// first HeadLen bytes again.
func (db *DB) FindSourceByPath(ctx context.Context, path string) (Source, bool, error) {
	s, ok, err := scanSource(db.reader.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources
		WHERE path = ? ORDER BY last_read DESC, id DESC LIMIT 1`, path))
	if err != nil {
		return Source{}, false, db.wrapErr("find source", err)
	}
	return s, ok, nil
}

// DomainRow is the summary of one recipient domain over a time range.
type DomainRow struct {
	Domain string
	// Recipients counts (message, recipient) pairs: those whose fate was
	// decided in the range (one final attempt each) plus those deferred in
	// the range and not decided in it.
	Recipients int64
	Delivered  int64 // recipients delivered (final attempt in the range)
	Bounced    int64 // recipients bounced
	Expired    int64 // recipients expired
	Deferred   int64 // deferral attempts
	// DeferredRecipients counts (message, recipient) pairs deferred at
	// least once in the range.
	DeferredRecipients int64
	Rejected           int64 // rejects rows naming a recipient in this domain
	// Reasons counts deferred, bounced and expired attempts by reason;
	// attempts without a reason are not counted here.
	Reasons map[string]int64
}

// DomainSummary summarises deliveries and rejects per recipient domain over
// [since, until); a zero time leaves that end open. Rows come ordered by
// recipients, most first, then by name.
//
// Each query walks one covering index in its own order (no table reads, no
// sort of all rows), and only the deferred rows are grouped by recipient.
func (db *DB) DomainSummary(ctx context.Context, since, until time.Time) ([]DomainRow, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !since.IsZero() {
		lo = since.UnixMicro()
	}
	if !until.IsZero() {
		hi = until.UnixMicro()
	}

	conn, err := db.reader.Conn(ctx)
	if err != nil {
		return nil, db.wrapErr("domain summary", err)
	}
	defer conn.Close()
	// One read transaction, so the four queries see one snapshot even while
	// an ingest commits.
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, db.wrapErr("domain summary", err)
	}
	defer tx.Rollback()

	byID := make(map[int64]*DomainRow)
	row := func(id int64) *DomainRow {
		r := byID[id]
		if r == nil {
			r = &DomainRow{}
			byID[id] = r
		}
		return r
	}

	// Attempts by outcome, finality and reason, in one walk of the covering
	// index deliveries_domain_outcome in its own order: per row SQLite only
	// compares the group key and counts, which measured twice as fast as
	// summing expressions per domain, and it yields the reasons too.
	rows, err := tx.QueryContext(ctx, `SELECT domain_id, outcome, final, reason, count(*)
		FROM deliveries INDEXED BY deliveries_domain_outcome
		WHERE time >= ? AND time < ?
		GROUP BY domain_id, outcome, final, reason`, lo, hi)
	if err != nil {
		return nil, db.wrapErr("domain summary", err)
	}
	for rows.Next() {
		var id, n int64
		var outcome string
		var final bool
		var reason sql.NullString
		if err := rows.Scan(&id, &outcome, &final, &reason, &n); err != nil {
			rows.Close()
			return nil, db.wrapErr("domain summary", err)
		}
		row(id).add(outcome, final, reason, n)
	}
	if err := rows.Close(); err != nil {
		return nil, db.wrapErr("domain summary", err)
	}

	// Recipients deferred in the range, and among them those still waiting
	// (no final attempt in the range). Deferrals are a minority, so the
	// DISTINCT and the per-pair lookup stay affordable; they are still the
	// larger part of the cost. "domain_id IN (SELECT id FROM domains)" turns
	// the time range into one index seek per domain. The lookup goes through
	// deliveries_message, so it needs message_ref: a deferral without one
	// ("=" never matches NULL) counts as a recipient still waiting; "IS"
	// would match every other row without a message and scan them all.
	rows, err = tx.QueryContext(ctx, `SELECT domain_id, sum(NOT handed), sum(NOT handed AND NOT EXISTS (SELECT 1 FROM deliveries f
				WHERE f.message_ref = p.message_ref AND f.recipient = p.recipient
				AND (f.final = 1 OR f.outcome = 'hop') AND f.time >= ? AND f.time < ?))
		FROM (SELECT *, `+handedOnSQL("q")+` AS handed FROM (SELECT DISTINCT domain_id, message_ref, recipient
			FROM deliveries INDEXED BY deliveries_deferred
			WHERE domain_id IN (SELECT id FROM domains) AND time >= ? AND time < ?
			AND outcome = 'deferred') q) p
		GROUP BY domain_id`, lo, hi, lo, hi)
	if err != nil {
		return nil, db.wrapErr("domain summary", err)
	}
	for rows.Next() {
		var id, recipients, waiting int64
		if err := rows.Scan(&id, &recipients, &waiting); err != nil {
			rows.Close()
			return nil, db.wrapErr("domain summary", err)
		}
		r := row(id)
		r.DeferredRecipients = recipients
		r.Recipients += waiting
	}
	if err := rows.Close(); err != nil {
		return nil, db.wrapErr("domain summary", err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT domain_id, count(*) FROM rejects
		WHERE time >= ? AND time < ? AND domain_id IS NOT NULL GROUP BY domain_id`, lo, hi)
	if err != nil {
		return nil, db.wrapErr("domain summary", err)
	}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, db.wrapErr("domain summary", err)
		}
		row(id).Rejected = n
	}
	if err := rows.Close(); err != nil {
		return nil, db.wrapErr("domain summary", err)
	}

	// Names last: only for the domains that appeared, from the small table.
	rows, err = tx.QueryContext(ctx, `SELECT id, name FROM domains`)
	if err != nil {
		return nil, db.wrapErr("domain summary", err)
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, db.wrapErr("domain summary", err)
		}
		if r := byID[id]; r != nil {
			r.Domain = name
		}
	}
	if err := rows.Close(); err != nil {
		return nil, db.wrapErr("domain summary", err)
	}

	out := make([]DomainRow, 0, len(byID))
	for _, r := range byID {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Recipients != out[j].Recipients {
			return out[i].Recipients > out[j].Recipients
		}
		return out[i].Domain < out[j].Domain
	})
	return out, nil
}

// add counts n attempts of one outcome, finality and reason: a recipient
// once, on its final attempt (a hop decides nothing); deferrals as
// attempts; failure reasons over deferred, bounced and expired attempts.
func (r *DomainRow) add(outcome string, final bool, reason sql.NullString, n int64) {
	if final && outcome != OutcomeHop {
		r.Recipients += n
		switch outcome {
		case OutcomeDelivered:
			r.Delivered += n
		case OutcomeBounced:
			r.Bounced += n
		case OutcomeExpired:
			r.Expired += n
		}
	}
	if outcome == OutcomeDeferred {
		r.Deferred += n
	}
	if reason.Valid && (outcome == OutcomeDeferred || outcome == OutcomeBounced || outcome == OutcomeExpired) {
		if r.Reasons == nil {
			r.Reasons = make(map[string]int64)
		}
		r.Reasons[reason.String] += n
	}
}

// Totals sums domain rows into one, named "".
func Totals(rows []DomainRow) DomainRow {
	var t DomainRow
	for _, r := range rows {
		t.Recipients += r.Recipients
		t.Delivered += r.Delivered
		t.Bounced += r.Bounced
		t.Expired += r.Expired
		t.Deferred += r.Deferred
		t.DeferredRecipients += r.DeferredRecipients
		t.Rejected += r.Rejected
		for k, n := range r.Reasons {
			if t.Reasons == nil {
				t.Reasons = make(map[string]int64)
			}
			t.Reasons[k] += n
		}
	}
	return t
}

// ReleaseSources takes a stopped tail's mark (Source.Reader) off the
// sources it followed, so that an ingest need not wait for it to age.
func (db *DB) ReleaseSources(ctx context.Context, reader string) error {
	_, err := db.writer.ExecContext(ctx, `UPDATE sources SET reader = NULL WHERE reader = ?`, reader)
	return db.wrapErr("release sources", err)
}
