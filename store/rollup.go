package store

import (
	"cmp"
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
// It is kept small (most messages go to one domain through one relay, and
// have few deferred recipients) so that many fit in the memory's bound.
type seenMessage struct {
	// loaded: the attempts below are all the message has. A message seen
	// only through InsertMessage or UpdateMessage is not loaded yet.
	loaded      bool
	reread      bool // forget what is known and read the rows (MarkFinal)
	senderKnown bool
	attempted   bool   // it has an attempt; domain and relay are its first's
	used        uint32 // seenMemory.clock at its last use
	domain      int64
	relay       int64
	senderID    int64
	// deferred are its recipients deferred at least once, in the order of
	// their first deferral.
	deferred []deferredRecipient
	more     *seenMore
	incoming []handedIn // usually one, or none
}

// seenMore is what only some messages need: the domains and relays of
// their attempts after the first's, and an index of their deferred
// recipients once they are many.
type seenMore struct {
	domains, relays []int64
	deferredAt      map[string]int32
}

// handedIn is a recipient that a hop of another message of ours handed to
// a message (message_links), and that message.
type handedIn struct {
	rcpt      string
	from, hop int64 // the message, and its attempt (the hop) linked
}

type deferredPair struct {
	key     deferredKey // where it is counted now
	decided bool
	byHop   bool  // its first decision was a hop
	handed  bool  // taken out: the message the hop made deferred it too
	decider int64 // the attempt of its first decision
}

type deferredRecipient struct {
	rcpt string
	deferredPair
}

// deferredIndexFrom: a message with this many deferred recipients gets a
// map to find them (mailing lists), fewer are searched in order.
const deferredIndexFrom = 16

// maxSeenMessages bounds the memory of seenMessage entries (about 100
// bytes each, more with deferred recipients: a few MB); past it the least
// recently used half is forgotten (that takes a pass over all of them: not
// for just a few), and read back from deliveries if a message appears
// again. A message retried for hours is used at each retry, while most
// others are done after one attempt: of the generated 1 GB log's 524,000
// messages, retried over up to a day, none was read back. A variable
// for tests.
var maxSeenMessages = 32_768

// seenMemory is the writer's bookkeeping of db.seen: a clock for its least
// recently used entries, and which messages reserved by this process
// (ids from newFrom on) it forgot, in a bitmap of the ids from base on
// (ids below db.seenFloor count as forgotten). The bitmap is bounded
// too: past maxForgottenWords, the floor moves up. A rollback clears
// db.seen but leaves this: a mark left over only costs a read.
type seenMemory struct {
	clock     uint32 // ages are clock - used: it may wrap
	base      int64
	forgotten []uint64
	ages      []uint32 // forgetLeastUsed's scratch
}

// maxForgottenWords bounds the bitmap of forgotten ids to 128 KiB: a
// million messages (weeks of a busy relay's log).
var maxForgottenWords = 1 << 14

// forgot tells whether message id (reserved by this process) may have
// attempts that db.seen does not hold.
func (db *DB) forgot(id int64) bool {
	m := &db.seenMem
	if id < db.seenFloor {
		return true
	}
	i := id - m.base
	if i < 0 || i >= int64(len(m.forgotten))*64 {
		return false
	}
	return m.forgotten[i/64]&(1<<(i%64)) != 0
}

// markForgotten records that message id was forgotten.
func (db *DB) markForgotten(id int64) {
	m := &db.seenMem
	if db.newFrom == 0 || id < db.newFrom || id < db.seenFloor {
		return // read back anyway
	}
	if len(m.forgotten) == 0 {
		m.base = id &^ 63
	}
	if id < m.base {
		n := (m.base - id&^63) / 64
		m.forgotten = append(make([]uint64, n, n+int64(len(m.forgotten))), m.forgotten...)
		m.base -= n * 64
	}
	w := (id - m.base) / 64
	if w >= int64(len(m.forgotten)) {
		m.forgotten = append(m.forgotten, make([]uint64, w+1-int64(len(m.forgotten)))...)
	}
	m.forgotten[w] |= 1 << ((id - m.base) % 64)
	if len(m.forgotten) > maxForgottenWords {
		// Forget the oldest half of the bitmap: ids below the new base
		// count as forgotten, whether they were or not.
		drop := len(m.forgotten) - maxForgottenWords/2
		m.forgotten = append(m.forgotten[:0], m.forgotten[drop:]...)
		m.base += int64(drop) * 64
		db.seenFloor = max(db.seenFloor, m.base)
	}
}

// touchSeen returns the memory of message ref, a new one if there is
// none, marked as used now.
func (db *DB) touchSeen(ref int64) *seenMessage {
	db.seenMem.clock++
	s := db.seen[ref]
	if s != nil {
		s.used = db.seenMem.clock
		return s
	}
	if len(db.seen) >= maxSeenMessages {
		// Before adding s: the caller's entry must stay in db.seen.
		db.forgetLeastUsed(maxSeenMessages / 2)
	}
	s = &seenMessage{used: db.seenMem.clock}
	db.seen[ref] = s
	return s
}

// forgetLeastUsed keeps at most keep seenMessage entries, the most
// recently used (by buckets of age: a few fewer than keep), and drops the
// others, remembering which of them knew something that must be read
// back: attempts, or a sender (the others, never read from deliveries,
// have no attempts).
func (db *DB) forgetLeastUsed(keep int) {
	if len(db.seen) <= keep {
		return
	}
	// The ages in a slice first: a pass over the map, whose entries are
	// scattered in memory, is the slow part.
	clock := db.seenMem.clock
	ages := db.seenMem.ages[:0]
	var oldest uint32
	for _, s := range db.seen {
		age := clock - s.used
		ages = append(ages, age)
		oldest = max(oldest, age)
	}
	db.seenMem.ages = ages[:0]
	const buckets = 1024
	width := uint64(oldest)/buckets + 1
	var n [buckets]int
	for _, age := range ages {
		n[uint64(age)/width]++
	}
	cut, kept := 0, 0
	for kept+n[cut] <= keep { // len(db.seen) > keep: it stops
		kept += n[cut]
		cut++
	}
	for id, s := range db.seen {
		if uint64(clock-s.used)/width >= uint64(cut) {
			delete(db.seen, id)
			if s.attempted || s.reread || s.senderKnown || len(s.incoming) > 0 {
				db.markForgotten(id)
			}
		}
	}
}

// seenFor returns the writer's memory of message ref, reading its stored
// attempts when it may have some that the memory lacks: a message of an
// earlier run (found again through FindMessage) or one forgotten. Only
// the rows before attempt id before count: that one is being added.
func (b *Batch) seenFor(ref, before int64) (*seenMessage, error) {
	db := b.db
	s := db.touchSeen(ref)
	if s.loaded {
		return s, nil
	}
	if s.reread {
		*s = seenMessage{used: s.used, senderID: s.senderID, senderKnown: s.senderKnown}
	} else if db.newFrom > 0 && ref >= db.newFrom && !db.forgot(ref) {
		// Reserved by this process and never forgotten: every attempt it
		// has went through here.
		s.loaded = true
		return s, nil
	}
	s.loaded = true
	stmts := db.stmts.seenReads
	if !s.senderKnown {
		var sender sql.NullInt64
		err := b.txn().StmtContext(b.ctx, stmts[0]).QueryRowContext(b.ctx, ref).Scan(&sender)
		switch {
		case err == nil:
			s.senderID, s.senderKnown = sender.Int64, true
		case !errors.Is(err, sql.ErrNoRows):
			return nil, db.wrapErr("read message", err)
		}
	}
	rows, err := b.txn().StmtContext(b.ctx, stmts[1]).QueryContext(b.ctx, ref, before)
	if err != nil {
		return nil, db.wrapErr("read message attempts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, t, domain, relay, host, sender int64
		var outcome, rcpt string
		var final bool
		if err := rows.Scan(&id, &t, &domain, &relay, &host, &outcome, &final, &rcpt, &sender); err != nil {
			return nil, db.wrapErr("read message attempts", err)
		}
		s.note(id, t, domain, relay, host, sender, outcome, final, rcpt)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrapErr("read message attempts", err)
	}
	rows.Close()
	links, err := b.txn().StmtContext(b.ctx, stmts[2]).QueryContext(b.ctx, ref)
	if err != nil {
		return nil, db.wrapErr("read message links", err)
	}
	defer links.Close()
	for links.Next() {
		var rcpt string
		var from, hop int64
		if err := links.Scan(&rcpt, &from, &hop); err != nil {
			return nil, db.wrapErr("read message links", err)
		}
		s.addIncoming(rcpt, from, hop)
	}
	return s, db.wrapErr("read message links", links.Err())
}

// addIncoming records that attempt hop of message from handed rcpt to s.
func (s *seenMessage) addIncoming(rcpt string, from, hop int64) {
	for _, h := range s.incoming {
		if h.hop == hop {
			return
		}
	}
	s.incoming = append(s.incoming, handedIn{strings.Clone(rcpt), from, hop})
}

// noteLink records a link stored from attempt hop of message from (of
// rcpt) to message to: a deferral of rcpt in to takes from's deferral of it
// out of the rollups (see handedOnSQL), once, whichever comes first.
func (b *Batch) noteLink(from, to, hop int64, rcpt string) {
	if from == 0 || to == 0 || from == to {
		return
	}
	b.db.touchSeen(to).addIncoming(rcpt, from, hop)
}

// seenReads are seenFor's queries, prepared once after the rollups'
// upserts (see rollupStatements).
var seenReads = []string{
	`SELECT sender_domain_id FROM messages WHERE id = ?`,
	`SELECT d.id, d.time, d.domain_id, ifnull(d.relay_id, 0), ifnull(d.host_id, 0),
			d.outcome, d.final, d.recipient, ifnull(m.sender_domain_id, 0)
		FROM deliveries d LEFT JOIN messages m ON m.id = d.message_ref
		WHERE d.message_ref = ? AND d.id < ? ORDER BY d.id`,
	`SELECT h.recipient, h.message_ref, h.id FROM message_links l
		JOIN deliveries h ON h.id = l.delivery_id AND h.outcome = 'hop'
		WHERE l.to_ref = ? AND h.message_ref IS NOT NULL`,
}

// deferredChange is what an attempt does to deferred_hours: a first
// deferral adds a recipient (add), a first decision of a deferred
// recipient moves it (from, to).
type deferredChange struct {
	add, move     bool
	key, from, to deferredKey
}

func (s *seenMessage) moreOf() *seenMore {
	if s.more == nil {
		s.more = &seenMore{}
	}
	return s.more
}

// findDeferred returns the recipient's entry in s.deferred, or nil.
func (s *seenMessage) findDeferred(rcpt string) *deferredPair {
	if s.more != nil && s.more.deferredAt != nil {
		if i, ok := s.more.deferredAt[rcpt]; ok {
			return &s.deferred[i].deferredPair
		}
		return nil
	}
	for i := range s.deferred {
		if s.deferred[i].rcpt == rcpt {
			return &s.deferred[i].deferredPair
		}
	}
	return nil
}

// note records one attempt in s and says which firsts it is, and what it
// does to deferred_hours.
func (s *seenMessage) note(id, t, domain, relay, host, sender int64, outcome string, final bool, rcpt string) (c hourCounts, d deferredChange) {
	c.attempts = 1
	if !s.attempted {
		s.attempted = true
		s.domain, s.relay = domain, relay
		c.messages, c.domainMessages, c.relayMessages = 1, 1, 1
	} else {
		if domain != s.domain && (s.more == nil || !slices.Contains(s.more.domains, domain)) {
			m := s.moreOf()
			m.domains = append(m.domains, domain)
			c.domainMessages = 1
		}
		if relay != s.relay && (s.more == nil || !slices.Contains(s.more.relays, relay)) {
			m := s.moreOf()
			m.relays = append(m.relays, relay)
			c.relayMessages = 1
		}
	}
	p := s.findDeferred(rcpt)
	switch {
	case outcome == OutcomeDeferred && p == nil:
		d.add, d.key = true, deferredKey{hourOf(t), domain, relay, host, sender, 0}
		// The caller's string may point into a large block of log text
		// (ingest's 256 KiB blocks): a key kept here would keep it alive.
		rcpt = strings.Clone(rcpt)
		s.deferred = append(s.deferred, deferredRecipient{rcpt, deferredPair{key: d.key}})
		if s.more != nil && s.more.deferredAt != nil {
			s.more.deferredAt[rcpt] = int32(len(s.deferred) - 1)
		} else if len(s.deferred) >= deferredIndexFrom {
			at := make(map[string]int32, 2*len(s.deferred))
			for i, r := range s.deferred {
				at[r.rcpt] = int32(i)
			}
			s.moreOf().deferredAt = at
		}
	case (final || outcome == OutcomeHop) && p != nil && !p.decided:
		// A hop decides too: the recipient is counted where the message it
		// became is decided (a content filter that deferred, then took it).
		p.decided = true
		p.byHop, p.decider = outcome == OutcomeHop, id
		d.move, d.from = true, p.key
		p.key.decidedHour = hourOf(t)
		d.to = p.key
	}
	return c, d
}

// handOn takes out of the rollups the deferral of rcpt in message from,
// when attempt hop, its first decision, handed rcpt to a message that
// deferred it too. The attempts of from before attempt before count.
func (b *Batch) handOn(from, hop, before int64, rcpt string) error {
	s, err := b.seenFor(from, before)
	if err != nil {
		return err
	}
	p := s.findDeferred(rcpt)
	if p == nil || !p.decided || !p.byHop || p.decider != hop || p.handed {
		return nil
	}
	p.handed = true
	b.addDeferred(p.key, -1)
	return nil
}

// rememberSender keeps a message's sender domain for the attempts added
// after its row: callers that write the message first need not repeat it
// in every Delivery.
func (b *Batch) rememberSender(id int64, sender int64) {
	if id == 0 {
		return
	}
	s := b.db.touchSeen(id)
	s.senderID, s.senderKnown = sender, true
}

// rollupDelivery counts one stored attempt into the batch's sums. The ids
// are 0 for none; sender is the sender domain's id, or 0 to take it from
// the message.
func (b *Batch) rollupDelivery(id, ref, t, domain, relayID, hostID, senderID int64, outcome string, final bool, reason, rcpt string, decidedAt int64) error {
	k := hourKey{hour: hourOf(t), domain: domain, outcome: outcome, final: final, reason: reason, relay: relayID, host: hostID}
	var c hourCounts
	var d deferredChange
	if ref == 0 {
		// No message: an attempt of its own, never first of anything; a
		// deferral is a recipient of its own that nothing decides.
		c.attempts = 1
		if outcome == OutcomeDeferred {
			d.add, d.key = true, deferredKey{k.hour, domain, relayID, hostID, senderID, 0}
		}
	} else {
		s, err := b.seenFor(ref, id)
		if err != nil {
			return err
		}
		if senderID == 0 && s.senderKnown {
			senderID = s.senderID
		}
		c, d = s.note(id, t, domain, relayID, hostID, senderID, outcome, final, rcpt)
		if d.add {
			// Deferred again after a hop handed it here: its deferral
			// in the message before counts here instead (handedOnSQL).
			for _, h := range s.incoming {
				if h.rcpt == rcpt {
					if err := b.handOn(h.from, h.hop, id, rcpt); err != nil {
						return err
					}
				}
			}
		}
		if d.add && decidedAt != 0 {
			// Decided by an earlier attempt (the caller knows; this
			// message's seen state holds deferred recipients only).
			d.key.decidedHour = hourOf(decidedAt)
			if p := s.findDeferred(rcpt); p != nil {
				p.decided = true
				p.key = d.key
			}
		}
	}
	k.senderID = senderID
	b.addHours(k, c)
	if d.add {
		b.addDeferred(d.key, 1)
	}
	if d.move {
		b.addDeferred(d.from, -1)
		b.addDeferred(d.to, 1)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
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

// rowsSQL is the VALUES of an INSERT of rows rows of n values each.
func rowsSQL(rows, n int) string {
	return strings.TrimSuffix(strings.Repeat("("+placeholders(n)+"), ", rows), ", ")
}

// upsertSQL adds rows rows of sums to this tier's table.
func (t hourTable) upsertSQL(tier rollupTier, rows int) string {
	var set []string
	for _, c := range strings.Split(t.counts, ", ") {
		set = append(set, c+" = "+c+" + excluded."+c)
	}
	return `INSERT INTO ` + tier.table(t.name) + ` (` + tier.col + `, ` + t.key + `, outcome, final, reason, ` + t.counts + `)
	VALUES ` + rowsSQL(rows, 1+t.nkey+3+t.ncounts) + `
	ON CONFLICT DO UPDATE SET ` + strings.Join(set, ", ")
}

func (t hourTable) deleteSQL(tier rollupTier) string {
	return `DELETE FROM ` + tier.table(t.name) + ` WHERE (` + tier.col + `, ` + t.key + `, outcome, final, reason) = (` +
		placeholders(1+t.nkey+3) + `) AND attempts = 0`
}

func (t deferredTable) upsertSQL(tier rollupTier, rows int) string {
	return `INSERT INTO ` + tier.table(t.name) + ` (` + tier.col + `, ` + t.key + `, decided_hour, recipients)
	VALUES ` + rowsSQL(rows, 1+t.nkey+2) + `
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
func (b *Batch) rollupReject(t int64, domain, host int64, reason string) {
	if b.rejects == nil {
		b.rejects = make(map[rejectKey]int64)
	}
	b.rejects[rejectKey{hourOf(t), domain, host, reason}]++
}

func upsertRejectSQL(tier rollupTier, rows int) string {
	return `INSERT INTO ` + tier.table("reject_hours") + ` (` + tier.col + `, domain_id, host_id, reason, rejects)
	VALUES ` + rowsSQL(rows, 5) + `
	ON CONFLICT DO UPDATE SET rejects = rejects + excluded.rejects`
}

// deleteRejectSQL completes the reject tables' statements: rejects are
// only ever added, so it is not run.
func deleteRejectSQL(tier rollupTier) string {
	return `DELETE FROM ` + tier.table("reject_hours") + ` WHERE (` + tier.col + `, domain_id, host_id, reason) = (?, ?, ?, ?)
	AND rejects = 0`
}

// rejectRowsSQL computes reject_hours' rows from rejects for the rows
// matching a WHERE clause, as the writer and the migration count them.
const rejectRowsSQL = `SELECT time / 3600000000 AS hour, ifnull(domain_id, 0) AS domain_id,
	ifnull(host_id, 0) AS host_id, ifnull(reason, '') AS reason, count(*) AS rejects
FROM rejects WHERE %s GROUP BY 1, 2, 3, 4`

// rollupBatchRows: the upserts write this many rows per statement, one
// call into C instead of one per row.
const rollupBatchRows = 32

// The writer's rollup statements (rollupStatements, prepared in C in
// db.cstmts.rollup): per tier (hours, days, months) and table
// (hourTables, deferredTables, then reject_hours), an upsert of one row,
// one of rollupBatchRows rows, and the delete of a row whose counts fell
// to zero.
const stmtsPerTable = 3

var tablesPerTier = len(hourTables) + len(deferredTables) + 1

func rollupStatements() []string {
	var out []string
	for _, tier := range tiers {
		for _, t := range hourTables {
			out = append(out, t.upsertSQL(tier, 1), t.upsertSQL(tier, rollupBatchRows), t.deleteSQL(tier))
		}
		for _, t := range deferredTables {
			out = append(out, t.upsertSQL(tier, 1), t.upsertSQL(tier, rollupBatchRows), t.deleteSQL(tier))
		}
		out = append(out, upsertRejectSQL(tier, 1), upsertRejectSQL(tier, rollupBatchRows), deleteRejectSQL(tier))
	}
	return out
}

// tableStmts are the statements of table i (in the order of
// rollupStatements) of tier ti.
func (b *Batch) tableStmts(ti, i int) []*cStmt {
	j := (ti*tablesPerTier + i) * stmtsPerTable
	return b.db.cstmts.rollup[j : j+stmtsPerTable]
}

// unitOfPrevious maps a tier's unit to the next tier's: hours to days,
// days to months.
var unitOfPrevious = []func(int64) int64{nil, dayOf, monthOfDay}

// compare orders rollup keys as the tables' primary keys do, so that the
// upserts walk each table's B-tree in order.
func (k rowKey) compare(o rowKey) int {
	if c := cmp.Compare(k.hour, o.hour); c != 0 {
		return c
	}
	if c := cmp.Compare(k.id1, o.id1); c != 0 {
		return c
	}
	if c := cmp.Compare(k.id2, o.id2); c != 0 {
		return c
	}
	if c := cmp.Compare(k.id3, o.id3); c != 0 {
		return c
	}
	if c := strings.Compare(k.outcome, o.outcome); c != 0 {
		return c
	}
	if k.final != o.final {
		if k.final {
			return 1
		}
		return -1
	}
	return strings.Compare(k.reason, o.reason)
}

// flushRollup adds the batch's sums to the rollup tables of every tier,
// each sum projected on each table's key, then summed per day and per
// month for the daily and monthly tables.
func (b *Batch) flushRollup() error {
	for i, t := range hourTables {
		if len(b.hours) == 0 {
			break
		}
		sums := make(map[rowKey]hourCounts, len(b.hours))
		for k, c := range b.hours {
			rk := t.project(k)
			s := sums[rk]
			s.addCounts(*c)
			sums[rk] = s
		}
		for ti, tier := range tiers {
			if ti > 0 {
				next := make(map[rowKey]hourCounts, len(sums))
				for k, c := range sums {
					k.hour = unitOfPrevious[ti](k.hour)
					s := next[k]
					s.addCounts(c)
					next[k] = s
				}
				sums = next
			}
			if err := b.writeHourRows(tier, b.tableStmts(ti, i), t, sums); err != nil {
				return err
			}
		}
	}
	for i, t := range deferredTables {
		if len(b.deferred) == 0 {
			break
		}
		sums := make(map[rowKey]int64, len(b.deferred))
		for k, n := range b.deferred {
			sums[t.project(k)] += n
		}
		for ti, tier := range tiers {
			if ti > 0 {
				next := make(map[rowKey]int64, len(sums))
				for k, n := range sums {
					k.hour = unitOfPrevious[ti](k.hour)
					next[k] += n
				}
				sums = next
			}
			if err := b.writeDeferredRows(tier, b.tableStmts(ti, len(hourTables)+i), t, sums); err != nil {
				return err
			}
		}
	}
	if len(b.rejects) > 0 {
		sums := b.rejects
		for ti, tier := range tiers {
			if ti > 0 {
				next := make(map[rejectKey]int64, len(sums))
				for k, n := range sums {
					k.hour = unitOfPrevious[ti](k.hour)
					next[k] += n
				}
				sums = next
			}
			if err := b.writeRejectRows(tier, b.tableStmts(ti, len(hourTables)+len(deferredTables)), sums); err != nil {
				return err
			}
		}
	}
	b.hours, b.deferred, b.rejects = nil, nil, nil
	return nil
}

// keyed is a rollup row: its key and its sums.
type keyed[V any] struct {
	k rowKey
	v V
}

// sortedRows lists the sums that are not zero, in the order of the
// tables' keys, and the indexes of those that went down (to delete the
// rows they leave at zero).
func sortedRows[V comparable](sums map[rowKey]V, down func(V) bool) (rows []keyed[V], zeroed []int) {
	var zero V
	rows = make([]keyed[V], 0, len(sums))
	for k, v := range sums {
		if v != zero {
			rows = append(rows, keyed[V]{k, v})
		}
	}
	slices.SortFunc(rows, func(a, b keyed[V]) int { return a.k.compare(b.k) })
	for j, r := range rows {
		if down(r.v) {
			zeroed = append(zeroed, j)
		}
	}
	return rows, zeroed
}

// putIDs packs a row key's hour and its first nkey ids, as every rollup
// table's key starts.
func (k *rowKey) putIDs(q *rowQueue, nkey int) {
	q.putInt(k.hour)
	q.putInt(k.id1)
	if nkey > 1 {
		q.putInt(k.id2)
	}
}

func (b *Batch) writeHourRows(tier rollupTier, stmts []*cStmt, t hourTable, sums map[rowKey]hourCounts) error {
	rows, zeroed := sortedRows(sums, func(c hourCounts) bool { return c.attempts < 0 })
	return b.writeRows(tier.table(t.name), stmts, len(rows), func(q *rowQueue, j int, keyOnly bool) {
		r := &rows[j]
		r.k.putIDs(q, t.nkey)
		q.putText(r.k.outcome)
		q.putInt(boolInt(r.k.final))
		q.putText(r.k.reason)
		if keyOnly {
			return
		}
		q.putInt(r.v.attempts)
		q.putInt(r.v.messages)
		if t.ncounts > 2 {
			q.putInt(r.v.domainMessages)
			q.putInt(r.v.relayMessages)
		}
	}, zeroed)
}

func (b *Batch) writeDeferredRows(tier rollupTier, stmts []*cStmt, t deferredTable, sums map[rowKey]int64) error {
	rows, zeroed := sortedRows(sums, func(n int64) bool { return n < 0 })
	return b.writeRows(tier.table(t.name), stmts, len(rows), func(q *rowQueue, j int, keyOnly bool) {
		r := &rows[j]
		r.k.putIDs(q, t.nkey)
		q.putInt(r.k.id3)
		if !keyOnly {
			q.putInt(r.v)
		}
	}, zeroed)
}

func (b *Batch) writeRejectRows(tier rollupTier, stmts []*cStmt, sums map[rejectKey]int64) error {
	type row struct {
		k rejectKey
		n int64
	}
	rows := make([]row, 0, len(sums))
	for k, n := range sums {
		if n != 0 {
			rows = append(rows, row{k, n})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.k.hour, b.k.hour), cmp.Compare(a.k.domain, b.k.domain),
			cmp.Compare(a.k.host, b.k.host), strings.Compare(a.k.reason, b.k.reason))
	})
	return b.writeRows(tier.table("reject_hours"), stmts, len(rows), func(q *rowQueue, j int, keyOnly bool) {
		r := &rows[j]
		q.putInt(r.k.hour)
		q.putInt(r.k.domain)
		q.putInt(r.k.host)
		q.putText(r.k.reason)
		if !keyOnly {
			q.putInt(r.n)
		}
	}, nil)
}

// writeRows upserts nrows rows, each packed by put (its key's values first,
// and only those with keyOnly), into a rollup table, rollupBatchRows rows
// per statement, then deletes the rows at indexes zeroed, whose counts went
// down, if they fell to zero.
func (b *Batch) writeRows(table string, stmts []*cStmt, nrows int, put func(q *rowQueue, j int, keyOnly bool), zeroed []int) error {
	// Queued for the writer goroutine, like the rows (writer.go): it
	// writes one table while the next one's sums are made here. Commit
	// waits for them.
	what := "update " + table
	j := 0
	for ; j+rollupBatchRows <= nrows; j += rollupBatchRows {
		m := b.q.start()
		for k := j; k < j+rollupBatchRows; k++ {
			put(b.q, k, false)
		}
		if err := b.endRow(stmts[1], what, m); err != nil {
			return err
		}
	}
	for ; j < nrows; j++ {
		m := b.q.start()
		put(b.q, j, false)
		if err := b.endRow(stmts[0], what, m); err != nil {
			return err
		}
	}
	for _, z := range zeroed {
		m := b.q.start()
		put(b.q, z, true)
		if err := b.endRow(stmts[2], what, m); err != nil {
			return err
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

// handedOnSQL is true for a deferred recipient (pair is the alias of one of
// its rows: message_ref, recipient) that a hop, its first decision, handed
// to a message of ours that deferred it too: it counts there, once, and
// not here (a content filter down, then greylisting after it; postsuper
// -r of a message that defers again).
func handedOnSQL(pair string) string {
	return `EXISTS (SELECT 1 FROM message_links l
		JOIN deliveries h ON h.id = l.delivery_id AND h.outcome = 'hop'
		JOIN deliveries e ON e.message_ref = l.to_ref AND e.recipient = ` + pair + `.recipient AND e.outcome = 'deferred'
		WHERE ` + pair + `.message_ref IS NOT NULL AND l.delivery_id = (SELECT f.id FROM deliveries f
			WHERE f.message_ref = ` + pair + `.message_ref AND f.recipient = ` + pair + `.recipient
			AND (f.final = 1 OR f.outcome = 'hop') ORDER BY f.id LIMIT 1))`
}

// deferredRowsSQL is rollupRowsSQL for the deferred recipients.
var deferredRowsSQL = `SELECT d.time / 3600000000 AS hour, d.domain_id AS domain_id, ifnull(d.relay_id, 0) AS relay_id,
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
	AND NOT ` + handedOnSQL("d") + `
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
	rows, err := b.txn().QueryContext(b.ctx, fmt.Sprintf(rollupRowsSQL, `d.id = ?`), id)
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
	rows, err = b.txn().QueryContext(b.ctx, fmt.Sprintf(deferredRowsSQL, `d.message_ref = ? AND d.recipient = ?`), ref.Int64, rcpt)
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
