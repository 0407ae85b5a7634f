package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The hourly rollups (delivery_hours, host_hours, sender_hours, their
// deferred_* counterparts and reject_hours; see
// migrations/0002_hourly_rollup.sql) are kept by the writer: every attempt
// (and reject) added to a batch is counted in memory, per hour and per
// combination of all the columns reports group by, and at Commit those
// sums are projected on each table's key and added to it, in the same
// transaction as the rows, and summed again per day into the daily tables
// (delivery_days and so on) and per calendar month into the monthly ones
// (delivery_months and so on, migrations/0003_monthly_rollup.sql). A
// report then reads the window's rows of one or two small tables per
// tier: months for the whole months of the window, days for the whole
// days of the months at its ends, hours for the whole hours of the days at
// its ends (see tierSplit).

// hourMicros is one rollup hour in stored time units.
const hourMicros = int64(3600_000_000)

// hourOf is the rollup hour of a stored time. Like SQLite's integer
// division, it truncates: times before 1970 are not expected.
func hourOf(us int64) int64 { return us / hourMicros }

// hourKey is the writer's sums' key, every grouping at once; ids are 0
// where NULL. Each rollup table keeps a projection of it.
type hourKey struct {
	hour, domain          int64
	outcome               string
	final                 bool
	reason                string
	relay, host, senderID int64
}

// hourCounts are delivery_hours' counters (host_hours and sender_hours
// keep the first two).
type hourCounts struct {
	attempts, messages, domainMessages, relayMessages int64
}

func (c *hourCounts) addCounts(o hourCounts) {
	c.attempts += o.attempts
	c.messages += o.messages
	c.domainMessages += o.domainMessages
	c.relayMessages += o.relayMessages
}

// deferredKey is the writer's key of the deferred recipients; the
// deferred_* tables keep projections of it.
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

// The rollup tables, each a projection of the writer's sums (hourKey,
// deferredKey) on its own key columns. Each has a daily and a monthly
// counterpart (see rollupTier.table) with the same key but the day or the
// month for the hour, kept the same way: the sums per hour are summed
// again per day and per month at Commit.
type hourTable struct {
	name    string // the hourly table
	key     string // key columns after hour
	counts  string // counter columns
	nkey    int    // number of key columns after hour, ids first
	ncounts int
	project func(k hourKey) rowKey
}

type deferredTable struct {
	name    string
	key     string // key columns between hour and decided_hour
	nkey    int
	project func(k deferredKey) rowKey
}

// rowKey is the key of a row of any rollup table: hour (or day), up to two
// ids, then outcome, final and reason (delivery tables) or the decided
// hour (deferred tables, in id3).
type rowKey struct {
	hour, id1, id2, id3 int64
	outcome             string
	final               bool
	reason              string
}

// hoursPerDay: a rollup day is 24 rollup hours, UTC.
const hoursPerDay = 24

// dayOf is the rollup day of a rollup hour (hours before 1970 are not
// expected, as for hourOf).
func dayOf(hour int64) int64 { return hour / hoursPerDay }

// monthOfDay is the rollup month of a rollup day: the calendar month
// (UTC) as months since the year 0, year * 12 + month - 1.
func monthOfDay(day int64) int64 {
	t := time.Unix(day*86400, 0).UTC()
	return int64(t.Year())*12 + int64(t.Month()) - 1
}

// monthStart is the first rollup day of rollup month m.
func monthStart(m int64) int64 {
	return time.Date(int(m/12), time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// monthSQL is monthOfDay in SQL, of a day column.
func monthSQL(day string) string {
	return `(CAST(strftime('%Y', ` + day + ` * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', ` + day + ` * 86400, 'unixepoch') AS INTEGER) - 1)`
}

// A rollup tier: the hourly tables, the daily ones or the monthly ones.
type rollupTier struct {
	col    string                 // "hour", "day" or "month"
	suffix string                 // of the tables' names
	of     func(hour int64) int64 // the unit of a rollup hour
}

var (
	tierHours  = rollupTier{"hour", "_hours", func(h int64) int64 { return h }}
	tierDays   = rollupTier{"day", "_days", dayOf}
	tierMonths = rollupTier{"month", "_months", func(h int64) int64 { return monthOfDay(dayOf(h)) }}
	tiers      = []rollupTier{tierHours, tierDays, tierMonths}
)

// table is this tier's table of an hourly table (delivery_hours:
// delivery_days, delivery_months).
func (tier rollupTier) table(hourly string) string {
	return strings.TrimSuffix(hourly, "_hours") + tier.suffix
}

var hourTables = []hourTable{
	{"delivery_hours", "domain_id, relay_id", "attempts, messages, domain_messages, relay_messages", 2, 4,
		func(k hourKey) rowKey { return rowKey{k.hour, k.domain, k.relay, 0, k.outcome, k.final, k.reason} }},
	{"host_hours", "host_id", "attempts, messages", 1, 2,
		func(k hourKey) rowKey { return rowKey{k.hour, k.host, 0, 0, k.outcome, k.final, k.reason} }},
	{"sender_hours", "sender_domain_id", "attempts, messages", 1, 2,
		func(k hourKey) rowKey { return rowKey{k.hour, k.senderID, 0, 0, k.outcome, k.final, k.reason} }},
}

var deferredTables = []deferredTable{
	{"deferred_hours", "domain_id, relay_id", 2,
		func(k deferredKey) rowKey {
			return rowKey{hour: k.hour, id1: k.domain, id2: k.relay, id3: k.decidedHour}
		}},
	{"deferred_host_hours", "host_id", 1,
		func(k deferredKey) rowKey { return rowKey{hour: k.hour, id1: k.host, id3: k.decidedHour} }},
	{"deferred_sender_hours", "sender_domain_id", 1,
		func(k deferredKey) rowKey { return rowKey{hour: k.hour, id1: k.senderID, id3: k.decidedHour} }},
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func (t hourTable) upsertSQL(tier rollupTier) string {
	var set []string
	for _, c := range strings.Split(t.counts, ", ") {
		set = append(set, c+" = "+c+" + excluded."+c)
	}
	return `INSERT INTO ` + tier.table(t.name) + ` (` + tier.col + `, ` + t.key + `, outcome, final, reason, ` + t.counts + `)
	VALUES (` + placeholders(1+t.nkey+3+t.ncounts) + `)
	ON CONFLICT DO UPDATE SET ` + strings.Join(set, ", ")
}

func (t hourTable) deleteSQL(tier rollupTier) string {
	return `DELETE FROM ` + tier.table(t.name) + ` WHERE (` + tier.col + `, ` + t.key + `, outcome, final, reason) = (` +
		placeholders(1+t.nkey+3) + `) AND attempts = 0`
}

func (t deferredTable) upsertSQL(tier rollupTier) string {
	return `INSERT INTO ` + tier.table(t.name) + ` (` + tier.col + `, ` + t.key + `, decided_hour, recipients)
	VALUES (` + placeholders(1+t.nkey+2) + `)
	ON CONFLICT DO UPDATE SET recipients = recipients + excluded.recipients`
}

func (t deferredTable) deleteSQL(tier rollupTier) string {
	return `DELETE FROM ` + tier.table(t.name) + ` WHERE (` + tier.col + `, ` + t.key + `, decided_hour) = (` +
		placeholders(1+t.nkey+1) + `) AND recipients = 0`
}

// rejectKey is the key of reject_hours; ids are 0 where NULL.
type rejectKey struct {
	hour, domain, host int64
	reason             string
}

// rollupReject counts one stored reject into the batch's sums.
func (b *Batch) rollupReject(t int64, domain, host any, reason string) {
	if b.rejects == nil {
		b.rejects = make(map[rejectKey]int64)
	}
	b.rejects[rejectKey{hourOf(t), idOrZero(domain), idOrZero(host), reason}]++
}

func upsertRejectSQL(tier rollupTier) string {
	return `INSERT INTO ` + tier.table("reject_hours") + ` (` + tier.col + `, domain_id, host_id, reason, rejects)
	VALUES (?, ?, ?, ?, ?)
	ON CONFLICT DO UPDATE SET rejects = rejects + excluded.rejects`
}

// rejectRowsSQL computes reject_hours' rows from rejects for the rows
// matching a WHERE clause, as the writer and the migration count them.
const rejectRowsSQL = `SELECT time / 3600000000 AS hour, ifnull(domain_id, 0) AS domain_id,
	ifnull(host_id, 0) AS host_id, ifnull(reason, '') AS reason, count(*) AS rejects
FROM rejects WHERE %s GROUP BY 1, 2, 3, 4`

// rollupUpserts are the writer's prepared upserts, per tier (hours, days,
// months): hourTables, then deferredTables, then reject_hours (reject_days,
// reject_months).
func rollupUpserts() []string {
	var out []string
	for _, tier := range tiers {
		for _, t := range hourTables {
			out = append(out, t.upsertSQL(tier))
		}
		for _, t := range deferredTables {
			out = append(out, t.upsertSQL(tier))
		}
		out = append(out, upsertRejectSQL(tier))
	}
	return out
}

// flushRollup adds the batch's sums to the rollup tables of every tier,
// each sum projected on each table's key (and summed per day or month for
// the daily and monthly tables).
func (b *Batch) flushRollup() error {
	stmts := b.db.stmts.upsertRollup
	perTier := len(hourTables) + len(deferredTables) + 1
	for ti, tier := range tiers {
		stmts := stmts[ti*perTier : (ti+1)*perTier]
		if err := b.flushTier(tier, stmts); err != nil {
			return err
		}
	}
	b.hours, b.deferred, b.rejects = nil, nil, nil
	return nil
}

func (b *Batch) flushTier(tier rollupTier, stmts []*sql.Stmt) error {
	for i, t := range hourTables {
		if len(b.hours) == 0 {
			break
		}
		sums := make(map[rowKey]*hourCounts, len(b.hours))
		for k, c := range b.hours {
			rk := t.project(k)
			rk.hour = tier.of(rk.hour)
			if p := sums[rk]; p != nil {
				p.addCounts(*c)
			} else {
				cc := *c
				sums[rk] = &cc
			}
		}
		up := b.tx.StmtContext(b.ctx, stmts[i])
		args := make([]any, 0, 12)
		for k, c := range sums {
			if *c == (hourCounts{}) {
				continue
			}
			args = append(args[:0], k.hour, k.id1)
			if t.nkey > 1 {
				args = append(args, k.id2)
			}
			args = append(args, k.outcome, k.final, k.reason)
			keyLen := len(args)
			args = append(args, c.attempts, c.messages)
			if t.ncounts > 2 {
				args = append(args, c.domainMessages, c.relayMessages)
			}
			if _, err := up.ExecContext(b.ctx, args...); err != nil {
				return b.db.wrapErr("update "+tier.table(t.name), err)
			}
			if c.attempts < 0 {
				if _, err := b.tx.ExecContext(b.ctx, t.deleteSQL(tier), args[:keyLen]...); err != nil {
					return b.db.wrapErr("update "+tier.table(t.name), err)
				}
			}
		}
	}
	for i, t := range deferredTables {
		if len(b.deferred) == 0 {
			break
		}
		sums := make(map[rowKey]int64, len(b.deferred))
		for k, n := range b.deferred {
			rk := t.project(k)
			rk.hour = tier.of(rk.hour)
			sums[rk] += n
		}
		up := b.tx.StmtContext(b.ctx, stmts[len(hourTables)+i])
		args := make([]any, 0, 5)
		for k, n := range sums {
			if n == 0 {
				continue
			}
			args = append(args[:0], k.hour, k.id1)
			if t.nkey > 1 {
				args = append(args, k.id2)
			}
			args = append(args, k.id3)
			keyLen := len(args)
			args = append(args, n)
			if _, err := up.ExecContext(b.ctx, args...); err != nil {
				return b.db.wrapErr("update "+tier.table(t.name), err)
			}
			if n < 0 {
				if _, err := b.tx.ExecContext(b.ctx, t.deleteSQL(tier), args[:keyLen]...); err != nil {
					return b.db.wrapErr("update "+tier.table(t.name), err)
				}
			}
		}
	}
	if len(b.rejects) > 0 {
		sums := make(map[rejectKey]int64, len(b.rejects))
		for k, n := range b.rejects {
			k.hour = tier.of(k.hour)
			sums[k] += n
		}
		up := b.tx.StmtContext(b.ctx, stmts[len(hourTables)+len(deferredTables)])
		for k, n := range sums {
			if _, err := up.ExecContext(b.ctx, k.hour, k.domain, k.host, k.reason, n); err != nil {
				return b.db.wrapErr("update "+tier.table("reject_hours"), err)
			}
		}
	}
	return nil
}

// rollupRowsSQL computes the writer's sums (hourKey) from deliveries for
// the attempts matching a WHERE clause (on d), exactly as the writer and
// the migration count them: Report uses it for the partial hours at the
// ends of a window, MarkFinal for the one row it changes, VerifyRollup
// for everything.
const rollupRowsSQL = `SELECT d.time / 3600000000 AS hour, d.domain_id AS domain_id, d.outcome AS outcome,
	d.final AS final, ifnull(d.reason, '') AS reason,
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
WHERE %s
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`

// deferredRowsSQL is rollupRowsSQL for the deferred recipients.
const deferredRowsSQL = `SELECT d.time / 3600000000 AS hour, d.domain_id AS domain_id, ifnull(d.relay_id, 0) AS relay_id,
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

// dayRowsSQL computes a daily table's rows from its hourly table, as the
// writer and the migration sum them.
func dayRowsSQL(hourly, key, sums string) string {
	return `SELECT hour / 24 AS day, ` + key + `, ` + sums + ` FROM ` + hourly + ` GROUP BY day, ` + key
}

// monthRowsSQL computes a monthly table's rows from its daily table, as
// the writer and the migration sum them.
func monthRowsSQL(daily, key, sums string) string {
	return `SELECT ` + monthSQL(`day`) + ` AS month, ` + key + `, ` + sums + ` FROM ` + daily + ` GROUP BY month, ` + key
}

// hoursOnly makes reports read the whole hours from the hourly tables
// only, and daysOnly from the hourly and daily ones, never the monthly
// ones: tests compare the tiers.
var hoursOnly, daysOnly = false, false

// segment is a range [lo, hi) of hours, days or months read from one tier.
type segment struct {
	tier   rollupTier
	lo, hi int64
}

// tierSplit cuts the whole hours [hLo, hHi) of a window into the whole
// months that the monthly tables answer, the whole days of the
// part-months at its ends, which the daily tables answer, and the hours of
// the part-days at its ends, read from the hourly ones. Open ends stay
// open: a window without a start reads every month before its end.
func tierSplit(hLo, hHi int64) []segment {
	if hLo >= hHi {
		return nil
	}
	dLo, dHi := int64(math.MinInt64), int64(math.MaxInt64)
	if hLo != math.MinInt64 {
		dLo = dayOf(hLo)
		if dLo*hoursPerDay < hLo {
			dLo++
		}
	}
	if hHi != math.MaxInt64 {
		dHi = dayOf(hHi)
	}
	if hoursOnly || dLo >= dHi {
		return []segment{{tierHours, hLo, hHi}}
	}
	mLo, mHi := int64(math.MinInt64), int64(math.MaxInt64)
	if dLo != math.MinInt64 {
		mLo = monthOfDay(dLo)
		if monthStart(mLo) < dLo {
			mLo++
		}
	}
	if dHi != math.MaxInt64 {
		mHi = monthOfDay(dHi)
	}
	var segs []segment
	if daysOnly || mLo >= mHi {
		segs = append(segs, segment{tierDays, dLo, dHi})
	} else {
		segs = append(segs, segment{tierMonths, mLo, mHi})
		if dLo != math.MinInt64 && dLo < monthStart(mLo) {
			segs = append(segs, segment{tierDays, dLo, monthStart(mLo)})
		}
		if dHi != math.MaxInt64 && monthStart(mHi) < dHi {
			segs = append(segs, segment{tierDays, monthStart(mHi), dHi})
		}
	}
	if hLo != math.MinInt64 && hLo < dLo*hoursPerDay {
		segs = append(segs, segment{tierHours, hLo, dLo * hoursPerDay})
	}
	if hHi != math.MaxInt64 && dHi*hoursPerDay < hHi {
		segs = append(segs, segment{tierHours, dHi * hoursPerDay, hHi})
	}
	return segs
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

// rollupSink receives what rollupScan reads, summed over the window's
// hours: counts per (recipient domain, relay, outcome, final, reason), per
// trend hour and outcome, per group of --by host or sender-domain, and the
// deferred recipients (all, and those still waiting at the window's end)
// per domain and relay and per other group. other and deferredOther are
// only called for --by host and sender-domain.
type rollupSink struct {
	domain        func(domain, relay int64, outcome string, final bool, reason string, c hourCounts)
	trend         func(hour int64, outcome string, n int64)
	other         func(id int64, outcome string, final bool, reason string, c hourCounts)
	deferred      func(domain, relay int64, n, waiting int64)
	deferredOther func(id int64, n, waiting int64)
}

// trendOutcome: the attempts the trend counts.
func trendOutcome(outcome string, final bool) bool {
	return outcome == OutcomeDeferred || final && outcome != OutcomeHop
}

// rollupScan reads the rollups over the report's window: the whole months
// from the monthly tables, the other whole days from the daily ones and
// the other whole hours from the hourly ones (see tierSplit), summed over
// the months, days and hours (by SQLite, or here for delivery_*) so
// that the rows read are per group rather than per group and hour, and the
// partial hours at the ends from deliveries by the same definitions. The
// trend, which needs hours, reads host_hours (or, with --domain,
// delivery_hours only). With --domain, --by host and sender-domain read
// that domain's rows of deliveries for the whole window: host_hours and
// sender_hours have no domain.
func (r *reportRun) rollupScan(s rollupSink) error {
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
	otherTable := map[string]int{ByHost: 1, BySenderDomain: 2}[r.q.By] // in hourTables, deferredTables
	otherFromRows := otherTable > 0 && domain != nil
	query := func(q string, args []any, scan func(rows *sql.Rows) error) error {
		rows, err := r.tx.QueryContext(r.ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var outcome, reason sql.RawBytes
	// Still waiting: not decided within the window (see decidedIn).
	waitingSQL := `sum(CASE WHEN decided_hour <> 0 AND decided_hour * 3600000000 + 3600000000 > ?
		AND decided_hour * 3600000000 < ? THEN 0 ELSE recipients END)`
	if hLo < hHi {
		segs := tierSplit(hLo, hHi)
		var domainID, relay, unit int64
		var final bool
		// The trend needs hours: without --domain it comes from
		// host_hours (few rows: a host has every outcome and reason of
		// the hour once; summed over hosts, the attempts per hour and
		// outcome are delivery_hours'), and delivery_* is read per month
		// and day (see tierSplit);
		// with --domain from that domain's rows of delivery_hours.
		deliverySegs, trendInScan := segs, false
		if s.trend != nil && domain != nil {
			deliverySegs, trendInScan = []segment{{tierHours, hLo, hHi}}, true
		}
		if s.trend != nil && domain == nil {
			var n int64
			if err := query(`SELECT hour, outcome, final, sum(attempts) FROM host_hours
				WHERE hour >= ? AND hour < ? AND (outcome = 'deferred' OR final AND outcome <> 'hop')
				GROUP BY 1, 2, 3`, []any{hLo, hHi}, func(rows *sql.Rows) error {
				if err := rows.Scan(&unit, &outcome, &final, &n); err != nil {
					return err
				}
				o := r.intern(outcome)
				if trendOutcome(o, final) {
					s.trend(unit, o, n)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		// One pass over the window's rows, each handed to the sink as it
		// comes: a GROUP BY would sort them all, and the trend would be a
		// second pass. The values are scanned as they come from the driver
		// (into any: no conversion), and only the columns this report
		// needs; the strings, which come in runs, are interned.
		cols := []string{`domain_id`, `relay_id`, `outcome`, `final`, `reason`, `attempts`, `messages`, `domain_messages`}
		if r.q.By == ByRelay {
			cols = append(cols, `relay_messages`)
		}
		if trendInScan {
			cols = append(cols, `hour`)
		}
		v := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range v {
			ptrs[i] = &v[i]
		}
		var ints [10]int64 // the integer columns, by position in cols
		lastOutcome, lastReason := "", ""
		t := hourTables[0]
		for _, g := range deliverySegs { // hours only when trendInScan
			if err := query(`SELECT `+strings.Join(cols, ", ")+` FROM `+g.tier.table(t.name)+`
				WHERE `+g.tier.col+` >= ? AND `+g.tier.col+` < ?`+domainWhere,
				args(g.lo, g.hi), func(rows *sql.Rows) error {
					if err := rows.Scan(ptrs...); err != nil {
						return err
					}
					o, ok1 := v[2].(string)
					rs, ok2 := v[4].(string)
					if !ok1 || !ok2 {
						return fmt.Errorf("%s: outcome %T, reason %T", t.name, v[2], v[4])
					}
					if o != lastOutcome || lastOutcome == "" {
						lastOutcome = r.internString(o)
					}
					if rs != lastReason || lastReason == "" {
						lastReason = r.internString(rs)
					}
					for i := range v {
						if i == 2 || i == 4 {
							continue
						}
						x, ok := v[i].(int64)
						if !ok {
							return fmt.Errorf("%s: %s is %T", t.name, cols[i], v[i])
						}
						ints[i] = x
					}
					final := ints[3] != 0
					c := hourCounts{attempts: ints[5], messages: ints[6], domainMessages: ints[7]}
					if r.q.By == ByRelay {
						c.relayMessages = ints[8]
					}
					s.domain(ints[0], ints[1], lastOutcome, final, lastReason, c)
					if trendInScan && trendOutcome(lastOutcome, final) {
						s.trend(ints[len(cols)-1], lastOutcome, c.attempts)
					}
					return nil
				}); err != nil {
				return err
			}
		}
		var n, waiting int64
		dt := deferredTables[0]
		for _, g := range segs {
			if err := query(`SELECT domain_id, relay_id, sum(recipients), `+waitingSQL+`
				FROM `+g.tier.table(dt.name)+` WHERE `+g.tier.col+` >= ? AND `+g.tier.col+` < ?`+domainWhere+`
				GROUP BY domain_id, relay_id`, args(r.lo, r.hi, g.lo, g.hi), func(rows *sql.Rows) error {
				if err := rows.Scan(&domainID, &relay, &n, &waiting); err != nil {
					return err
				}
				s.deferred(domainID, relay, n, waiting)
				return nil
			}); err != nil {
				return err
			}
		}
		if otherTable > 0 && !otherFromRows {
			t, dt := hourTables[otherTable], deferredTables[otherTable]
			var id int64
			var c hourCounts
			for _, g := range segs {
				if err := query(`SELECT `+t.key+`, outcome, final, reason, sum(attempts), sum(messages)
					FROM `+g.tier.table(t.name)+` WHERE `+g.tier.col+` >= ? AND `+g.tier.col+` < ? GROUP BY 1, 2, 3, 4`,
					[]any{g.lo, g.hi}, func(rows *sql.Rows) error {
						if err := rows.Scan(&id, &outcome, &final, &reason, &c.attempts, &c.messages); err != nil {
							return err
						}
						s.other(id, r.intern(outcome), final, r.intern(reason), c)
						return nil
					}); err != nil {
					return err
				}
				if err := query(`SELECT `+dt.key+`, sum(recipients), `+waitingSQL+`
					FROM `+g.tier.table(dt.name)+` WHERE `+g.tier.col+` >= ? AND `+g.tier.col+` < ? GROUP BY 1`,
					[]any{r.lo, r.hi, g.lo, g.hi}, func(rows *sql.Rows) error {
						if err := rows.Scan(&id, &n, &waiting); err != nil {
							return err
						}
						s.deferredOther(id, n, waiting)
						return nil
					}); err != nil {
					return err
				}
			}
		}
	}
	// From deliveries: the partial hours for everything, and the whole
	// window for the other groups of otherFromRows.
	otherID := func(host, sender int64) int64 {
		if r.q.By == ByHost {
			return host
		}
		return sender
	}
	fromRows := func(lo, hi int64, main, other bool) error {
		where := `d.time >= ? AND d.time < ?`
		if domain != nil {
			where += ` AND d.domain_id = ?`
		}
		var k hourKey
		var c hourCounts
		if err := query(fmt.Sprintf(rollupRowsSQL, where), args(lo, hi), func(rows *sql.Rows) error {
			if err := rows.Scan(&k.hour, &k.domain, &outcome, &k.final, &reason, &k.relay, &k.host, &k.senderID,
				&c.attempts, &c.messages, &c.domainMessages, &c.relayMessages); err != nil {
				return err
			}
			k.outcome, k.reason = r.intern(outcome), r.intern(reason)
			if main {
				s.domain(k.domain, k.relay, k.outcome, k.final, k.reason, c)
				if s.trend != nil && trendOutcome(k.outcome, k.final) {
					s.trend(k.hour, k.outcome, c.attempts)
				}
			}
			if other {
				s.other(otherID(k.host, k.senderID), k.outcome, k.final, k.reason, c)
			}
			return nil
		}); err != nil {
			return err
		}
		var d deferredKey
		var n int64
		return query(fmt.Sprintf(deferredRowsSQL, where), args(lo, hi), func(rows *sql.Rows) error {
			if err := rows.Scan(&d.hour, &d.domain, &d.relay, &d.host, &d.senderID, &d.decidedHour, &n); err != nil {
				return err
			}
			waiting := n
			if r.decidedIn(d.decidedHour) {
				waiting = 0
			}
			if main {
				s.deferred(d.domain, d.relay, n, waiting)
			}
			if other {
				s.deferredOther(otherID(d.host, d.senderID), n, waiting)
			}
			return nil
		})
	}
	for _, e := range edges {
		if err := fromRows(e[0], e[1], true, otherTable > 0 && !otherFromRows); err != nil {
			return err
		}
	}
	if otherFromRows {
		if err := fromRows(r.lo, r.hi, false, true); err != nil {
			return err
		}
	}
	return nil
}

// rejectCounts are the rejects of the window, from reject_months,
// reject_days and reject_hours for the whole months, days and hours (see
// tierSplit) and from rejects for the partial hours.
type rejectCounts struct {
	total    int64
	byDomain map[int64]int64 // recipient domains only (no 0)
	byHost   map[int64]int64 // only for --by host
	byReason map[string]int64
}

// rejectScan reads the rejects of the window (of the --domain only, if
// given) from the rollup, like rollupScan.
func (r *reportRun) rejectScan() (*rejectCounts, error) {
	c := &rejectCounts{byDomain: make(map[int64]int64), byReason: make(map[string]int64)}
	byHost := r.q.By == ByHost
	if byHost {
		c.byHost = make(map[int64]int64)
	}
	var domain any
	domainWhere := ``
	if r.q.Domain != "" {
		id, ok := r.domainID(r.q.Domain)
		if !ok {
			return c, nil
		}
		domain, domainWhere = id, ` AND domain_id = ?`
	}
	args := func(args ...any) []any {
		if domain != nil {
			args = append(args, domain)
		}
		return args
	}
	hostCol := `0`
	if byHost {
		hostCol = `host_id`
	}
	read := func(q string, args []any) error {
		rows, err := r.tx.QueryContext(r.ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var domainID, host, n int64
		var reason sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&domainID, &host, &reason, &n); err != nil {
				return err
			}
			c.total += n
			if domainID != 0 {
				c.byDomain[domainID] += n
			}
			if byHost {
				c.byHost[host] += n
			}
			c.byReason[r.intern(reason)] += n
		}
		return rows.Err()
	}
	hLo, hHi, edges := hoursSplit(r.lo, r.hi)
	for _, g := range tierSplit(hLo, hHi) {
		if err := read(`SELECT domain_id, `+hostCol+`, reason, sum(rejects) FROM `+g.tier.table("reject_hours")+`
			WHERE `+g.tier.col+` >= ? AND `+g.tier.col+` < ?`+domainWhere+` GROUP BY 1, 2, 3`, args(g.lo, g.hi)); err != nil {
			return nil, err
		}
	}
	for _, e := range edges {
		if err := read(`SELECT domain_id, `+hostCol+`, reason, sum(rejects) FROM (`+
			fmt.Sprintf(rejectRowsSQL, `time >= ? AND time < ?`+domainWhere)+`) GROUP BY 1, 2, 3`,
			args(e[0], e[1])); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// intern returns the one string for an outcome or reason, so that the
// scan of thousands of rows allocates one per distinct value.
func (r *reportRun) intern(b sql.RawBytes) string {
	if s, ok := r.strings[string(b)]; ok {
		return s
	}
	return r.internString(string(b))
}

// internString is intern for a string.
func (r *reportRun) internString(s string) string {
	if is, ok := r.strings[s]; ok {
		return is
	}
	if r.strings == nil {
		r.strings = make(map[string]string)
	}
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

// VerifyRollup recomputes the rollup tables from the deliveries and
// compares them with the stored ones. It reads every row: a check for
// tests and for a database edited by hand, not for reports.
func (db *DB) VerifyRollup(ctx context.Context) error {
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return db.wrapErr("verify rollup", err)
	}
	defer tx.Rollback()
	type check struct{ table, columns, want string }
	var checks []check
	for _, t := range hourTables {
		cols := `hour, ` + t.key + `, outcome, final, reason`
		var sums []string
		for _, c := range strings.Split(t.counts, ", ") {
			sums = append(sums, "sum("+c+")")
		}
		checks = append(checks, check{t.name, cols + `, ` + t.counts,
			`SELECT ` + cols + `, ` + strings.Join(sums, ", ") + ` FROM (` + fmt.Sprintf(rollupRowsSQL, `1`) + `)
			GROUP BY ` + cols})
	}
	for _, t := range deferredTables {
		cols := `hour, ` + t.key + `, decided_hour`
		checks = append(checks, check{t.name, cols + `, recipients`,
			`SELECT ` + cols + `, sum(recipients) FROM (` + fmt.Sprintf(deferredRowsSQL, `1`) + `) GROUP BY ` + cols})
	}
	checks = append(checks, check{"reject_hours", `hour, domain_id, host_id, reason, rejects`,
		fmt.Sprintf(rejectRowsSQL, `1`)})
	// The daily tables: the sums of the hourly ones per day; the monthly
	// ones: the sums of the daily ones per month.
	sumTable := func(tier rollupTier, hourly, key, counts, sums string) {
		want := dayRowsSQL(hourly, key, sums)
		if tier.col == tierMonths.col {
			want = monthRowsSQL(tierDays.table(hourly), key, sums)
		}
		checks = append(checks, check{tier.table(hourly), tier.col + `, ` + key + `, ` + counts, want})
	}
	for _, tier := range []rollupTier{tierDays, tierMonths} {
		for _, t := range hourTables {
			var sums []string
			for _, c := range strings.Split(t.counts, ", ") {
				sums = append(sums, "sum("+c+")")
			}
			sumTable(tier, t.name, t.key+`, outcome, final, reason`, t.counts, strings.Join(sums, ", "))
		}
		for _, t := range deferredTables {
			sumTable(tier, t.name, t.key+`, decided_hour`, `recipients`, `sum(recipients)`)
		}
		sumTable(tier, "reject_hours", `domain_id, host_id, reason`, `rejects`, `sum(rejects)`)
	}
	var diffs []string
	for _, c := range checks {
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
