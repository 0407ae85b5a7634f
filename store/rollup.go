package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// The hourly rollups (delivery_hours, deferred_hours; see
// migrations/0002_hourly_rollup.sql) are kept by the writer: every attempt
// added to a batch is counted in memory, per hour and per combination of
// the columns reports group by, and the sums are added to the tables at
// Commit, in the same transaction as the rows. A report then reads a few
// thousand rows per hour of its window whatever the traffic.

// hourMicros is one rollup hour in stored time units.
const hourMicros = int64(3600_000_000)

// hourOf is the rollup hour of a stored time. Like SQLite's integer
// division, it truncates: times before 1970 are not expected.
func hourOf(us int64) int64 { return us / hourMicros }

// hourKey is one row of delivery_hours; ids are 0 where NULL.
type hourKey struct {
	hour, domain          int64
	outcome               string
	final                 bool
	reason                string
	relay, host, senderID int64
}

// hourCounts are delivery_hours' counters.
type hourCounts struct {
	attempts, messages, domainMessages, relayMessages int64
}

func (c *hourCounts) addCounts(o hourCounts) {
	c.attempts += o.attempts
	c.messages += o.messages
	c.domainMessages += o.domainMessages
	c.relayMessages += o.relayMessages
}

// deferredKey is one row of deferred_hours.
type deferredKey struct {
	hour, domain, relay, host, senderID, decidedHour int64
}

// seenMessage is what the writer remembers of a message's stored
// attempts, to tell a message's first attempt (overall, to a domain, to a
// relay) and a recipient's first deferral and decision without a query.
type seenMessage struct {
	// loaded: the attempts below are all the message has. A message seen
	// only through InsertMessage or UpdateMessage is not loaded yet.
	loaded      bool
	reread      bool // forget what is known and read the rows (MarkFinal)
	attempts    int
	domains     []int64
	relays      []int64
	deferred    map[string]*deferredPair // recipient -> its first deferral
	senderID    int64
	senderKnown bool
}

type deferredPair struct {
	key     deferredKey // where it is counted now
	decided bool
}

// maxSeenMessages bounds the memory of seenMessage entries; past it the
// older half is dropped, and read back from deliveries if a message
// appears again.
const maxSeenMessages = 20_000

// seenFor returns the writer's memory of message ref, reading its stored
// attempts when it may have some that the memory lacks: a message of an
// earlier run (found again through FindMessage) or one forgotten. Only
// the rows before attempt id before count: that one is being added.
func (b *Batch) seenFor(ref, before int64) (*seenMessage, error) {
	db := b.db
	s := db.seen[ref]
	if s != nil && s.loaded {
		return s, nil
	}
	if s == nil {
		s = &seenMessage{}
		db.seen[ref] = s
		if len(db.seen) > maxSeenMessages {
			db.forgetOldest()
		}
	}
	if s.reread {
		*s = seenMessage{senderID: s.senderID, senderKnown: s.senderKnown}
	} else if db.newFrom > 0 && ref >= db.newFrom && ref >= db.seenFloor {
		// Reserved by this process and never forgotten: every attempt it
		// has went through here.
		s.loaded = true
		return s, nil
	}
	s.loaded = true
	if !s.senderKnown {
		var sender sql.NullInt64
		err := b.tx.QueryRowContext(b.ctx, `SELECT sender_domain_id FROM messages WHERE id = ?`, ref).Scan(&sender)
		switch {
		case err == nil:
			s.senderID, s.senderKnown = sender.Int64, true
		case !errors.Is(err, sql.ErrNoRows):
			return nil, db.wrapErr("read message", err)
		}
	}
	rows, err := b.tx.QueryContext(b.ctx, `SELECT d.time, d.domain_id, ifnull(d.relay_id, 0), ifnull(d.host_id, 0),
			d.outcome, d.final, d.recipient, ifnull(m.sender_domain_id, 0)
		FROM deliveries d LEFT JOIN messages m ON m.id = d.message_ref
		WHERE d.message_ref = ? AND d.id < ? ORDER BY d.id`, ref, before)
	if err != nil {
		return nil, db.wrapErr("read message attempts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t, domain, relay, host, sender int64
		var outcome, rcpt string
		var final bool
		if err := rows.Scan(&t, &domain, &relay, &host, &outcome, &final, &rcpt, &sender); err != nil {
			return nil, db.wrapErr("read message attempts", err)
		}
		s.note(t, domain, relay, host, sender, outcome, final, rcpt)
	}
	return s, db.wrapErr("read message attempts", rows.Err())
}

// note records one attempt in s and says which firsts it is, and what it
// does to deferred_hours: a first deferral adds a recipient (add), a first
// decision of a deferred recipient moves it (from, to).
func (s *seenMessage) note(t, domain, relay, host, sender int64, outcome string, final bool, rcpt string) (c hourCounts, add, from, to *deferredKey) {
	c.attempts = 1
	if s.attempts == 0 {
		c.messages = 1
	}
	s.attempts++
	if !slices.Contains(s.domains, domain) {
		s.domains = append(s.domains, domain)
		c.domainMessages = 1
	}
	if !slices.Contains(s.relays, relay) {
		s.relays = append(s.relays, relay)
		c.relayMessages = 1
	}
	p := s.deferred[rcpt]
	switch {
	case outcome == OutcomeDeferred && p == nil:
		if s.deferred == nil {
			s.deferred = make(map[string]*deferredPair)
		}
		p = &deferredPair{key: deferredKey{hourOf(t), domain, relay, host, sender, 0}}
		s.deferred[rcpt] = p
		add = &p.key
	case final && outcome != OutcomeHop && p != nil && !p.decided:
		p.decided = true
		old := p.key
		p.key.decidedHour = hourOf(t)
		from, to = &old, &p.key
	}
	return c, add, from, to
}

// forgetOldest drops the older half of the seenMessage entries (by id,
// which grows with time) and remembers that ids below the cut must be read
// back from deliveries.
func (db *DB) forgetOldest() {
	ids := make([]int64, 0, len(db.seen))
	for id := range db.seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	cut := ids[len(ids)/2]
	for _, id := range ids[:len(ids)/2] {
		delete(db.seen, id)
	}
	db.seenFloor = max(db.seenFloor, cut)
}

// rememberSender keeps a message's sender domain for the attempts added
// after its row: callers that write the message first need not repeat it
// in every Delivery.
func (b *Batch) rememberSender(id int64, sender any) {
	if id == 0 {
		return
	}
	s := b.db.seen[id]
	if s == nil {
		if len(b.db.seen) >= maxSeenMessages {
			return
		}
		s = &seenMessage{}
		b.db.seen[id] = s
	}
	s.senderID, s.senderKnown = 0, true
	if v, ok := sender.(int64); ok {
		s.senderID = v
	}
}

// rollupDelivery counts one stored attempt into the batch's sums. sender
// is the sender domain's id, or nil to take it from the message.
func (b *Batch) rollupDelivery(id, ref, t, domain int64, relay, host, sender any, outcome string, final bool, reason, rcpt string) error {
	relayID, hostID, senderID := idOrZero(relay), idOrZero(host), idOrZero(sender)
	k := hourKey{hour: hourOf(t), domain: domain, outcome: outcome, final: final, reason: reason, relay: relayID, host: hostID}
	var c hourCounts
	var add, from, to *deferredKey
	if ref == 0 {
		// No message: an attempt of its own, never first of anything; a
		// deferral is a recipient of its own that nothing decides.
		c.attempts = 1
		if outcome == OutcomeDeferred {
			add = &deferredKey{k.hour, domain, relayID, hostID, senderID, 0}
		}
	} else {
		s, err := b.seenFor(ref, id)
		if err != nil {
			return err
		}
		if sender == nil && s.senderKnown {
			senderID = s.senderID
		}
		c, add, from, to = s.note(t, domain, relayID, hostID, senderID, outcome, final, rcpt)
	}
	k.senderID = senderID
	b.addHours(k, c)
	if add != nil {
		b.addDeferred(*add, 1)
	}
	if from != nil {
		b.addDeferred(*from, -1)
		b.addDeferred(*to, 1)
	}
	return nil
}

func idOrZero(v any) int64 {
	if id, ok := v.(int64); ok {
		return id
	}
	return 0
}

// addHours and addDeferred add to the batch's in-memory sums; deltas may
// be negative (a recipient moved, an attempt marked final).
func (b *Batch) addHours(k hourKey, c hourCounts) {
	if b.hours == nil {
		b.hours = make(map[hourKey]*hourCounts)
	}
	if p := b.hours[k]; p != nil {
		p.addCounts(c)
		return
	}
	b.hours[k] = &c
}

func (b *Batch) addDeferred(k deferredKey, n int64) {
	if b.deferred == nil {
		b.deferred = make(map[deferredKey]int64)
	}
	b.deferred[k] += n
}

// flushRollup adds the batch's sums to the rollup tables.
func (b *Batch) flushRollup() error {
	if len(b.hours) > 0 {
		up := b.tx.StmtContext(b.ctx, b.db.stmts.upsertHours)
		for k, c := range b.hours {
			if *c == (hourCounts{}) {
				continue
			}
			if _, err := up.ExecContext(b.ctx, k.hour, k.domain, k.outcome, k.final, k.reason, k.relay, k.host, k.senderID,
				c.attempts, c.messages, c.domainMessages, c.relayMessages); err != nil {
				return b.db.wrapErr("update delivery_hours", err)
			}
			if c.attempts < 0 {
				if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM delivery_hours WHERE hour = ? AND domain_id = ? AND outcome = ?
					AND final = ? AND reason = ? AND relay_id = ? AND host_id = ? AND sender_domain_id = ? AND attempts = 0`,
					k.hour, k.domain, k.outcome, k.final, k.reason, k.relay, k.host, k.senderID); err != nil {
					return b.db.wrapErr("update delivery_hours", err)
				}
			}
		}
	}
	if len(b.deferred) > 0 {
		up := b.tx.StmtContext(b.ctx, b.db.stmts.upsertDeferred)
		for k, n := range b.deferred {
			if n == 0 {
				continue
			}
			if _, err := up.ExecContext(b.ctx, k.hour, k.domain, k.relay, k.host, k.senderID, k.decidedHour, n); err != nil {
				return b.db.wrapErr("update deferred_hours", err)
			}
			if n < 0 {
				if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM deferred_hours WHERE hour = ? AND domain_id = ? AND relay_id = ?
					AND host_id = ? AND sender_domain_id = ? AND decided_hour = ? AND recipients = 0`,
					k.hour, k.domain, k.relay, k.host, k.senderID, k.decidedHour); err != nil {
					return b.db.wrapErr("update deferred_hours", err)
				}
			}
		}
	}
	b.hours, b.deferred = nil, nil
	return nil
}

const upsertHoursSQL = `INSERT INTO delivery_hours (hour, domain_id, outcome, final, reason, relay_id, host_id,
		sender_domain_id, attempts, messages, domain_messages, relay_messages)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO UPDATE SET attempts = attempts + excluded.attempts, messages = messages + excluded.messages,
		domain_messages = domain_messages + excluded.domain_messages,
		relay_messages = relay_messages + excluded.relay_messages`

const upsertDeferredSQL = `INSERT INTO deferred_hours (hour, domain_id, relay_id, host_id, sender_domain_id,
		decided_hour, recipients)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO UPDATE SET recipients = recipients + excluded.recipients`

// rollupRowsSQL computes delivery_hours rows from deliveries for the
// attempts matching a WHERE clause (on d), exactly as the writer and the
// migration count them: Report uses it for the partial hours at the ends
// of a window, MarkFinal for the one row it changes.
const rollupRowsSQL = `SELECT d.time / 3600000000, d.domain_id, d.outcome, d.final, ifnull(d.reason, ''),
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
WHERE %s
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`

// deferredRowsSQL is rollupRowsSQL for deferred_hours.
const deferredRowsSQL = `SELECT d.time / 3600000000, d.domain_id, ifnull(d.relay_id, 0), ifnull(d.host_id, 0),
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
	AND %s
GROUP BY 1, 2, 3, 4, 5, 6`

// rawHoursOnly makes reports read every hour from deliveries, as they do
// the partial ones: tests compare the two.
var rawHoursOnly = false

// hoursSplit cuts the window [lo, hi) into the whole hours [hLo, hHi) that
// the rollup answers and the partial hours at its ends, which are read
// from deliveries. An open end (math.MinInt64, math.MaxInt64) stays open.
func hoursSplit(lo, hi int64) (hLo, hHi int64, edges [][2]int64) {
	if rawHoursOnly {
		return 0, 0, [][2]int64{{lo, hi}}
	}
	hLo, hHi = int64(math.MinInt64), int64(math.MaxInt64)
	if lo != math.MinInt64 {
		hLo = hourOf(lo)
		if hLo*hourMicros < lo {
			hLo++
		}
	}
	if hi != math.MaxInt64 {
		hHi = hourOf(hi)
	}
	if hLo >= hHi {
		return 0, 0, [][2]int64{{lo, hi}}
	}
	if lo != math.MinInt64 && lo < hLo*hourMicros {
		edges = append(edges, [2]int64{lo, hLo * hourMicros})
	}
	if hi != math.MaxInt64 && hHi*hourMicros < hi {
		edges = append(edges, [2]int64{hHi * hourMicros, hi})
	}
	return hLo, hHi, edges
}

// rollupRows adds sign times the rollup rows of attempt id, and of the
// first deferral of its recipient, as computed from deliveries.
func (b *Batch) rollupRows(id int64, ref sql.NullInt64, rcpt string, sign int64) error {
	rows, err := b.tx.QueryContext(b.ctx, fmt.Sprintf(rollupRowsSQL, `d.id = ?`), id)
	if err != nil {
		return b.db.wrapErr("update delivery_hours", err)
	}
	for rows.Next() {
		var k hourKey
		var c hourCounts
		if err := rows.Scan(&k.hour, &k.domain, &k.outcome, &k.final, &k.reason, &k.relay, &k.host, &k.senderID,
			&c.attempts, &c.messages, &c.domainMessages, &c.relayMessages); err != nil {
			rows.Close()
			return b.db.wrapErr("update delivery_hours", err)
		}
		c.attempts, c.messages, c.domainMessages, c.relayMessages = sign*c.attempts, sign*c.messages, sign*c.domainMessages, sign*c.relayMessages
		b.addHours(k, c)
	}
	if err := rows.Close(); err != nil {
		return b.db.wrapErr("update delivery_hours", err)
	}
	if !ref.Valid {
		return nil
	}
	rows, err = b.tx.QueryContext(b.ctx, fmt.Sprintf(deferredRowsSQL, `d.message_ref = ? AND d.recipient = ?`), ref.Int64, rcpt)
	if err != nil {
		return b.db.wrapErr("update deferred_hours", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k deferredKey
		var n int64
		if err := rows.Scan(&k.hour, &k.domain, &k.relay, &k.host, &k.senderID, &k.decidedHour, &n); err != nil {
			return b.db.wrapErr("update deferred_hours", err)
		}
		b.addDeferred(k, sign*n)
	}
	return b.db.wrapErr("update deferred_hours", rows.Err())
}

// rollupScan reads the rollups over the report's window: the whole hours
// from delivery_hours and deferred_hours, the partial hours at the ends
// from deliveries by the same definitions. Each row goes to fh or fd.
func (r *reportRun) rollupScan(fh func(k hourKey, c hourCounts), fd func(k deferredKey, n int64)) error {
	hLo, hHi, edges := hoursSplit(r.lo, r.hi)
	var domain any
	domainWhere := ``
	if r.q.Domain != "" {
		id, ok := r.domainID(r.q.Domain)
		if !ok {
			return nil // a domain never seen has nothing
		}
		domain = id
		domainWhere = ` AND domain_id = ?`
	}
	args := func(args ...any) []any {
		if domain != nil {
			args = append(args, domain)
		}
		return args
	}
	scanHours := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		var k hourKey
		var c hourCounts
		var outcome, reason sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&k.hour, &k.domain, &outcome, &k.final, &reason, &k.relay, &k.host, &k.senderID,
				&c.attempts, &c.messages, &c.domainMessages, &c.relayMessages); err != nil {
				return err
			}
			k.outcome, k.reason = r.intern(outcome), r.intern(reason)
			fh(k, c)
		}
		return rows.Err()
	}
	scanDeferred := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		var k deferredKey
		var n int64
		for rows.Next() {
			if err := rows.Scan(&k.hour, &k.domain, &k.relay, &k.host, &k.senderID, &k.decidedHour, &n); err != nil {
				return err
			}
			fd(k, n)
		}
		return rows.Err()
	}
	if hLo < hHi {
		if err := scanHours(r.tx.QueryContext(r.ctx, `SELECT hour, domain_id, outcome, final, reason, relay_id, host_id,
				sender_domain_id, attempts, messages, domain_messages, relay_messages
			FROM delivery_hours WHERE hour >= ? AND hour < ?`+domainWhere, args(hLo, hHi)...)); err != nil {
			return err
		}
		if err := scanDeferred(r.tx.QueryContext(r.ctx, `SELECT hour, domain_id, relay_id, host_id, sender_domain_id,
				decided_hour, recipients
			FROM deferred_hours WHERE hour >= ? AND hour < ?`+domainWhere, args(hLo, hHi)...)); err != nil {
			return err
		}
	}
	for _, e := range edges {
		where := `d.time >= ? AND d.time < ?`
		if domain != nil {
			where += ` AND d.domain_id = ?`
		}
		if err := scanHours(r.tx.QueryContext(r.ctx, fmt.Sprintf(rollupRowsSQL, where), args(e[0], e[1])...)); err != nil {
			return err
		}
		if err := scanDeferred(r.tx.QueryContext(r.ctx, fmt.Sprintf(deferredRowsSQL, where), args(e[0], e[1])...)); err != nil {
			return err
		}
	}
	return nil
}

// intern returns the one string for an outcome or reason, so that the
// scan of thousands of rows allocates one per distinct value.
func (r *reportRun) intern(b sql.RawBytes) string {
	if s, ok := r.strings[string(b)]; ok {
		return s
	}
	if r.strings == nil {
		r.strings = make(map[string]string)
	}
	s := string(b)
	r.strings[s] = s
	return s
}

// decidedIn tells whether a deferred recipient decided in hour h was
// decided within the window, to the hour: in the partial last hour of a
// window, a decision after its end counts as within.
func (r *reportRun) decidedIn(h int64) bool {
	if h == 0 {
		return false
	}
	start := h * hourMicros
	return start+hourMicros > r.lo && start < r.hi
}

// ErrRollupMismatch: the rollup tables do not match the deliveries.
var ErrRollupMismatch = errors.New("rollup tables differ from deliveries")

// VerifyRollup recomputes delivery_hours and deferred_hours from the
// deliveries and compares them with the stored ones. It reads every row:
// a check for tests and for a database edited by hand, not for reports.
func (db *DB) VerifyRollup(ctx context.Context) error {
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return db.wrapErr("verify rollup", err)
	}
	defer tx.Rollback()
	var diffs []string
	for _, c := range []struct{ table, columns, want string }{
		{"delivery_hours", `hour, domain_id, outcome, final, reason, relay_id, host_id, sender_domain_id,
			attempts, messages, domain_messages, relay_messages`, fmt.Sprintf(rollupRowsSQL, `1`)},
		{"deferred_hours", `hour, domain_id, relay_id, host_id, sender_domain_id, decided_hour, recipients`,
			fmt.Sprintf(deferredRowsSQL, `1`)},
	} {
		q := `WITH want AS (` + c.want + `), have AS (SELECT ` + c.columns + ` FROM ` + c.table + `)
			SELECT 'missing', * FROM (SELECT * FROM want EXCEPT SELECT * FROM have)
			UNION ALL SELECT 'extra', * FROM (SELECT * FROM have EXCEPT SELECT * FROM want)
			LIMIT 10`
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return db.wrapErr("verify rollup", err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return db.wrapErr("verify rollup", err)
			}
			diffs = append(diffs, fmt.Sprintf("%s %v", c.table, vals))
		}
		if err := rows.Close(); err != nil {
			return db.wrapErr("verify rollup", err)
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s", ErrRollupMismatch, strings.Join(diffs, "; "))
	}
	return nil
}
