package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// writerStmts are prepared once on the writer connection.
type writerStmts struct {
	list []*sql.Stmt

	insertDelivery, insertReject              *sql.Stmt
	insertMessage, updateMessage, findMessage *sql.Stmt
	markFinal                                 *sql.Stmt
	insertSource, updateSource                *sql.Stmt
	updateCounter, insertCounter              *sql.Stmt
	countSamples, insertSample                *sql.Stmt
	findHost, insertHost                      *sql.Stmt
	findDomain, insertDomain                  *sql.Stmt
	findRelay, insertRelay                    *sql.Stmt
	rollup                                    []*sql.Stmt // rollupStatements
}

const messageColumns = `host_id, mta, queue_id, message_id, sender, sender_domain_id, size, nrcpt,
	client, first_seen, last_seen, removed_at, next_queue_id, parent_queue_id`

func (db *DB) prepare(ctx context.Context) error {
	s := &db.stmts
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.insertDelivery, `INSERT INTO deliveries (message_ref, host_id, time, recipient, domain_id,
			orig_recipient, relay_id, delay, delays, dsn, code, enhanced, stage, reply, remote_id,
			outcome, reason, final, next_queue_id, remote_name)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.insertReject, `INSERT INTO rejects (host_id, time, queue_id, stage, client, sender,
			recipient, domain_id, code, enhanced, reply, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.insertMessage, `INSERT INTO messages (` + messageColumns + `, id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.updateMessage, `UPDATE messages SET (` + messageColumns + `)
			= (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?`},
		{&s.findMessage, `SELECT id, mta, message_id, sender, size, nrcpt, client, first_seen,
			last_seen, removed_at, next_queue_id, parent_queue_id
			FROM messages WHERE host_id IS ? AND queue_id = ?
			ORDER BY first_seen DESC, id DESC LIMIT 1`},
		{&s.markFinal, `UPDATE deliveries SET final = 1 WHERE id = ?`},
		{&s.insertSource, `INSERT INTO sources (path, host, content_head, content_head_len, offset,
			lines, size, mtime, first_read, last_read) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.updateSource, `UPDATE sources SET (path, host, content_head, content_head_len, offset,
			lines, size, mtime, first_read, last_read) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?`},
		{&s.updateCounter, `UPDATE counters SET lines = lines + ? WHERE host_id IS ? AND program = ? AND kind = ?`},
		{&s.insertCounter, `INSERT INTO counters (host_id, program, kind, lines) VALUES (?, ?, ?, ?)`},
		{&s.countSamples, `SELECT count(*) FROM unknown_samples WHERE program = ?`},
		{&s.insertSample, `INSERT INTO unknown_samples (program, line, time) VALUES (?, ?, ?)`},
		{&s.findHost, `SELECT id FROM hosts WHERE name = ?`},
		{&s.insertHost, `INSERT INTO hosts (name) VALUES (?)`},
		{&s.findDomain, `SELECT id FROM domains WHERE name = ?`},
		{&s.insertDomain, `INSERT INTO domains (name) VALUES (?)`},
		{&s.findRelay, `SELECT id FROM relays WHERE name = ?`},
		{&s.insertRelay, `INSERT INTO relays (name) VALUES (?)`},
	} {
		st, err := db.writer.PrepareContext(ctx, p.query)
		if err != nil {
			return db.wrapErr("prepare statements", err)
		}
		*p.dst = st
		s.list = append(s.list, st)
	}
	s.rollup = nil
	for _, q := range rollupStatements() {
		st, err := db.writer.PrepareContext(ctx, q)
		if err != nil {
			return db.wrapErr("prepare statements", err)
		}
		s.rollup = append(s.rollup, st)
		s.list = append(s.list, st)
	}
	return nil
}

func (s *writerStmts) close() {
	for _, st := range s.list {
		st.Close()
	}
	s.list = nil
}

// Batch is one write transaction. Rows added to it, and the checkpoint set
// in it, become visible together at Commit or not at all. Commit every few
// thousand rows or every second or so: a transaction per row would make the
// fsync (or, with synchronous=NORMAL, the WAL append) the bottleneck, and a
// huge one holds the write lock and memory for long.
//
// A Batch is not safe for concurrent use.
type Batch struct {
	db  *DB
	ctx context.Context
	tx  *sql.Tx
	n   int

	insertDelivery, insertReject              *sql.Stmt
	insertMessage, updateMessage, findMessage *sql.Stmt
	markFinal                                 *sql.Stmt
	insertSource, updateSource                *sql.Stmt

	// Dictionary entries inserted in this transaction: a rollback must take
	// them out of the shared caches, whose ids would otherwise point at rows
	// that no longer exist.
	added []dictEntry

	counters map[counterKey]int64
	// Sums for the rollups, added to their hourly and daily tables at Commit.
	hours    map[hourKey]*hourCounts
	deferred map[deferredKey]int64
	rejects  map[rejectKey]int64
	done     bool
}

type dictEntry struct {
	cache map[string]int64
	name  string
}

type counterKey struct {
	host, program, kind string
}

// Begin starts a batch on the writer connection, waiting for the previous
// batch to end. It takes the write lock at once, so a database held by
// another writer fails here (after Options.BusyTimeout) with ErrLocked.
func (db *DB) Begin(ctx context.Context) (*Batch, error) {
	db.batchMu.Lock()
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		db.batchMu.Unlock()
		return nil, db.wrapErr("begin batch", err)
	}
	s := &db.stmts
	// The transaction watches ctx (cancelling it rolls the batch back), but
	// its statements run under a context that is never done: the driver
	// runs a statement under a cancellable context in a new goroutine, so
	// that it can interrupt it, and that goroutine and the wake-ups it
	// costs were a third of ingest's time at a few microseconds per row.
	// Each statement here is short; a cancelled batch stops at the next.
	b := &Batch{db: db, ctx: context.WithoutCancel(ctx), tx: tx}
	ctx = b.ctx
	// Tx.Stmt on the connection the statement was prepared on reuses it.
	b.insertDelivery = tx.StmtContext(ctx, s.insertDelivery)
	b.insertReject = tx.StmtContext(ctx, s.insertReject)
	b.insertMessage = tx.StmtContext(ctx, s.insertMessage)
	b.updateMessage = tx.StmtContext(ctx, s.updateMessage)
	b.findMessage = tx.StmtContext(ctx, s.findMessage)
	b.markFinal = tx.StmtContext(ctx, s.markFinal)
	b.insertSource = tx.StmtContext(ctx, s.insertSource)
	b.updateSource = tx.StmtContext(ctx, s.updateSource)
	return b, nil
}

// Len is the number of rows added (deliveries, rejects, messages inserted)
// since Begin, for callers that commit every N rows.
func (b *Batch) Len() int { return b.n }

var errBatchDone = errors.New("batch already committed or rolled back")

// Commit writes the batch. After an error the batch is rolled back.
func (b *Batch) Commit() error {
	if b.done {
		return errBatchDone
	}
	if err := b.flushCounters(); err != nil {
		b.Rollback()
		return err
	}
	// Stitching may turn deliveries into hops: before the rollups' sums
	// are written. A bulk load leaves it to its end (DeferIndexes).
	if !b.db.stitchDeferred {
		if err := b.stitch(); err != nil {
			b.Rollback()
			return err
		}
	}
	if err := b.flushRollup(); err != nil {
		b.Rollback()
		return err
	}
	err := b.tx.Commit()
	b.finish(err == nil)
	if err != nil {
		return b.db.wrapErr("commit batch", err)
	}
	return nil
}

// Rollback discards the batch. It is safe to call after Commit (it does
// nothing then), so a caller can defer it.
func (b *Batch) Rollback() error {
	if b.done {
		return nil
	}
	err := b.tx.Rollback()
	b.finish(false)
	if err != nil && !errors.Is(err, sql.ErrTxDone) {
		return b.db.wrapErr("roll back batch", err)
	}
	return nil
}

func (b *Batch) finish(committed bool) {
	b.done = true
	if !committed {
		for _, e := range b.added {
			delete(e.cache, e.name)
		}
		// Counts may include rows that are now gone; look them up again.
		clear(b.db.samples)
		b.db.nextMessageID = 0
		// The memory of stored attempts may hold rows that are now gone:
		// start again, reading from the database what it has.
		clear(b.db.seen)
		b.db.seenFloor, b.db.newFrom = 0, 0
	}
	b.added = nil
	b.db.batchMu.Unlock()
}

func (b *Batch) check() error {
	if b.done {
		return errBatchDone
	}
	return nil
}

// dictID returns the id of name in one dictionary table, inserting it if
// new. Repeated names are answered from memory, which is what makes storing
// them as ids cheaper than storing the text.
func (b *Batch) dictID(cache map[string]int64, find, insert *sql.Stmt, what, name string) (int64, error) {
	if id, ok := cache[name]; ok {
		return id, nil
	}
	var id int64
	err := b.tx.StmtContext(b.ctx, find).QueryRowContext(b.ctx, name).Scan(&id)
	switch {
	case err == nil:
	case errors.Is(err, sql.ErrNoRows):
		res, err := b.tx.StmtContext(b.ctx, insert).ExecContext(b.ctx, name)
		if err != nil {
			return 0, b.db.wrapErr("add "+what, err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return 0, err
		}
		b.added = append(b.added, dictEntry{cache, strings.Clone(name)})
	default:
		return 0, b.db.wrapErr("look up "+what, err)
	}
	// The caller's string may point into a large buffer of log lines that
	// it reuses or would free: keep a copy, not a reference.
	name = strings.Clone(name)
	cache[name] = id
	return id, nil
}

// optionalID is dictID for a nullable reference: "" is NULL.
func (b *Batch) optionalID(cache map[string]int64, find, insert *sql.Stmt, what, name string) (any, error) {
	if name == "" {
		return nil, nil
	}
	return b.dictID(cache, find, insert, what, name)
}

func (b *Batch) hostID(name string) (any, error) {
	return b.optionalID(b.db.hosts, b.db.stmts.findHost, b.db.stmts.insertHost, "host", name)
}

func (b *Batch) domainID(name string) (any, error) {
	return b.optionalID(b.db.domains, b.db.stmts.findDomain, b.db.stmts.insertDomain, "domain", lowerASCII(name))
}

func (b *Batch) relayID(name string) (any, error) {
	return b.optionalID(b.db.relays, b.db.stmts.findRelay, b.db.stmts.insertRelay, "relay", name)
}

// AddDelivery stores one delivery attempt and returns its id.
func (b *Batch) AddDelivery(d Delivery) (int64, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	if d.Time.IsZero() || d.Recipient == "" || !validOutcome(d.Outcome) {
		return 0, fmt.Errorf("add delivery: need a time, a recipient and a known outcome (got %v, %q, %q)",
			d.Time, d.Recipient, d.Outcome)
	}
	domain := d.Domain
	if domain == "" {
		domain = AddressDomain(d.Recipient)
	}
	if domain == "" {
		// A local recipient without a domain ("root"): keep it countable
		// under one visible name rather than dropping the row.
		domain = "(none)"
	}
	domainID, err := b.domainID(domain)
	if err != nil {
		return 0, err
	}
	hostID, err := b.hostID(d.Host)
	if err != nil {
		return 0, err
	}
	relayID, err := b.relayID(d.Relay)
	if err != nil {
		return 0, err
	}
	var senderDomain any
	if d.SenderDomain != "" {
		if senderDomain, err = b.domainID(d.SenderDomain); err != nil {
			return 0, err
		}
	}
	var delay any
	if d.Delay >= 0 {
		delay = d.Delay
	}
	final := 0
	if d.Final {
		final = 1
	}
	res, err := b.insertDelivery.ExecContext(b.ctx,
		nullID(d.MessageRef), hostID, d.Time.UnixMicro(), d.Recipient, domainID,
		nullString(d.OrigRecipient), relayID, delay, nullString(d.Delays), nullString(d.DSN),
		nullPositive(int64(d.Code)), nullString(d.Enhanced), nullString(d.Stage), nullString(d.Reply),
		nullString(d.RemoteID), d.Outcome, nullString(d.Reason), final, nullString(d.NextQueueID), nullString(d.RemoteName))
	if err != nil {
		return 0, b.db.wrapErr("add delivery", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	if err := b.rollupDelivery(id, d.MessageRef, d.Time.UnixMicro(), domainID.(int64), relayID, hostID, senderDomain,
		d.Outcome, d.Final, d.Reason, d.Recipient); err != nil {
		return 0, err
	}
	b.n++
	return id, nil
}

// MarkFinal records that a stored attempt decided its recipient's fate, for
// callers that learn it only from a later line.
func (b *Batch) MarkFinal(deliveryID int64) error {
	if err := b.check(); err != nil {
		return err
	}
	// The rollups count the row by its finality, and its recipient as
	// decided.
	return b.restate("mark delivery final", deliveryID, "final = 0", func() error {
		_, err := b.markFinal.ExecContext(b.ctx, deliveryID)
		return err
	})
}

// restate changes a stored attempt that the rollups have counted: they
// take the row's part out as it was and add it back as it is. The row is
// changed only if it matches cond (else nothing happens); update changes
// it.
func (b *Batch) restate(op string, deliveryID int64, cond string, update func() error) error {
	var ref sql.NullInt64
	var rcpt string
	err := b.tx.QueryRowContext(b.ctx, `SELECT message_ref, recipient FROM deliveries WHERE id = ? AND `+cond, deliveryID).Scan(&ref, &rcpt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // changed already, or no such row
	}
	if err != nil {
		return b.db.wrapErr(op, err)
	}
	if err := b.rollupRows(deliveryID, ref, rcpt, -1); err != nil {
		return err
	}
	if err := update(); err != nil {
		return b.db.wrapErr(op, err)
	}
	if err := b.rollupRows(deliveryID, ref, rcpt, 1); err != nil {
		return err
	}
	if s := b.db.seen[ref.Int64]; ref.Valid && s != nil {
		// Read the message's attempts again when it is next needed.
		s.reread = true
		s.loaded = false
	}
	return nil
}

// AddReject stores one refusal at our own door.
func (b *Batch) AddReject(r Reject) error {
	if err := b.check(); err != nil {
		return err
	}
	if r.Time.IsZero() {
		return errors.New("add reject: need a time")
	}
	domain := r.Domain
	if domain == "" {
		domain = AddressDomain(r.Recipient)
	}
	domainID, err := b.domainID(domain)
	if err != nil {
		return err
	}
	hostID, err := b.hostID(r.Host)
	if err != nil {
		return err
	}
	if _, err := b.insertReject.ExecContext(b.ctx,
		hostID, r.Time.UnixMicro(), nullString(r.QueueID), nullString(r.Stage), nullString(r.Client),
		nullString(r.Sender), nullString(r.Recipient), domainID, nullPositive(int64(r.Code)),
		nullString(r.Enhanced), nullString(r.Reply), nullString(r.Reason)); err != nil {
		return b.db.wrapErr("add reject", err)
	}
	b.rollupReject(r.Time.UnixMicro(), domainID, hostID, r.Reason)
	b.n++
	return nil
}

// messageArgs are the values of messageColumns.
func (b *Batch) messageArgs(m Message) ([]any, error) {
	if m.QueueID == "" {
		return nil, errors.New("need a queue ID")
	}
	hostID, err := b.hostID(m.Host)
	if err != nil {
		return nil, err
	}
	var sender, senderDomain any
	if m.HasSender {
		sender = m.Sender
		if senderDomain, err = b.domainID(AddressDomain(m.Sender)); err != nil {
			return nil, err
		}
	}
	return []any{hostID, nullString(m.MTA), m.QueueID, nullString(m.MessageID), sender, senderDomain,
		nullPositive(m.Size), nullPositive(int64(m.NRcpt)), nullString(m.Client), nullTime(m.FirstSeen),
		nullTime(m.LastSeen), nullTime(m.RemovedAt), nullString(m.NextQueueID), nullString(m.ParentQueueID)}, nil
}

// ReserveMessageID returns an id for a message whose row will be written
// later in this batch with InsertMessage. Deliveries can name it at once;
// the row itself is written once, when the message has left the queue,
// instead of inserted early and updated with every line about it.
func (b *Batch) ReserveMessageID() (int64, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	if b.db.nextMessageID == 0 {
		var max int64
		if err := b.tx.QueryRowContext(b.ctx, `SELECT ifnull(max(id), 0) FROM messages`).Scan(&max); err != nil {
			return 0, b.db.wrapErr("reserve message id", err)
		}
		b.db.nextMessageID = max + 1
		if b.db.newFrom == 0 {
			b.db.newFrom = max + 1
		}
	}
	id := b.db.nextMessageID
	b.db.nextMessageID++
	return id, nil
}

// InsertMessage stores a new message row and returns its id: m.ID when it
// was reserved, a new one when it is zero. The caller decides when a queue
// ID seen again is a new message (Postfix reuses them).
func (b *Batch) InsertMessage(m Message) (int64, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	args, err := b.messageArgs(m)
	if err != nil {
		return 0, fmt.Errorf("insert message: %w", err)
	}
	if m.ID == 0 {
		if m.ID, err = b.ReserveMessageID(); err != nil {
			return 0, err
		}
	} else if m.ID >= b.db.nextMessageID && b.db.nextMessageID != 0 {
		b.db.nextMessageID = m.ID + 1
	}
	if _, err := b.insertMessage.ExecContext(b.ctx, append(args, m.ID)...); err != nil {
		return 0, b.db.wrapErr("insert message", err)
	}
	b.rememberSender(m.ID, args[5])
	b.n++
	return m.ID, nil
}

// UpdateMessage rewrites every column of message m.ID from m: the caller
// keeps the whole message as it learns more about it.
func (b *Batch) UpdateMessage(m Message) error {
	if err := b.check(); err != nil {
		return err
	}
	if m.ID == 0 {
		return errors.New("update message: need an id")
	}
	args, err := b.messageArgs(m)
	if err != nil {
		return fmt.Errorf("update message %d: %w", m.ID, err)
	}
	if _, err := b.updateMessage.ExecContext(b.ctx, append(args, m.ID)...); err != nil {
		return b.db.wrapErr("update message", err)
	}
	b.rememberSender(m.ID, args[5])
	return nil
}

// FindMessage returns the newest message with this queue ID on this host,
// including rows added in this batch: a restarted ingest uses it to pick up
// messages that were still in the queue.
func (b *Batch) FindMessage(host, queueID string) (Message, bool, error) {
	if err := b.check(); err != nil {
		return Message{}, false, err
	}
	hostID, err := b.hostID(host)
	if err != nil {
		return Message{}, false, err
	}
	m := Message{Host: host, QueueID: queueID}
	var mta, messageID, sender, client, next, parent sql.NullString
	var size, nrcpt, first, last, removed sql.NullInt64
	err = b.findMessage.QueryRowContext(b.ctx, hostID, queueID).Scan(&m.ID, &mta, &messageID, &sender,
		&size, &nrcpt, &client, &first, &last, &removed, &next, &parent)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, false, b.db.wrapErr("find message", err)
	}
	m.MTA, m.MessageID, m.Client = mta.String, messageID.String, client.String
	m.Sender, m.HasSender = sender.String, sender.Valid
	m.NextQueueID, m.ParentQueueID = next.String, parent.String
	m.Size, m.NRcpt = size.Int64, int(nrcpt.Int64)
	m.FirstSeen, m.LastSeen, m.RemovedAt = timeOf(first), timeOf(last), timeOf(removed)
	return m, true, nil
}

func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return FromMicros(n.Int64)
}

// SetSource writes a checkpoint: a new row when s.ID is 0, else an update of
// row s.ID. It returns the row's id. Set it in the batch that holds the rows
// read up to s.Offset, so that both commit together.
func (b *Batch) SetSource(s Source) (int64, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	if s.Path == "" || s.Offset < 0 {
		return 0, errors.New("set source: need a path and an offset >= 0")
	}
	args := []any{s.Path, nullString(s.Host), s.HeadHash, s.HeadLen, s.Offset, s.Lines,
		s.Size, nullTime(s.MTime), nullTime(s.FirstRead), nullTime(s.LastRead)}
	if len(s.HeadHash) == 0 {
		args[2], args[3] = nil, nil
	}
	if s.ID == 0 {
		res, err := b.insertSource.ExecContext(b.ctx, args...)
		if err != nil {
			return 0, b.db.wrapErr("set source", err)
		}
		return res.LastInsertId()
	}
	res, err := b.updateSource.ExecContext(b.ctx, append(args, s.ID)...)
	if err != nil {
		return 0, b.db.wrapErr("set source", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return 0, fmt.Errorf("set source: no source with id %d", s.ID)
	}
	return s.ID, nil
}

// AddCounter adds n lines of a kind (CounterWarning, CounterFatal,
// CounterUnknown) for a program. Counts are summed in memory and written at
// Commit, so counting every line costs no query.
func (b *Batch) AddCounter(host, program, kind string, n int64) {
	if b.done || n == 0 {
		return
	}
	if b.counters == nil {
		b.counters = make(map[counterKey]int64)
	}
	b.counters[counterKey{host, program, kind}] += n
}

func (b *Batch) flushCounters() error {
	for k, n := range b.counters {
		hostID, err := b.hostID(k.host)
		if err != nil {
			return err
		}
		res, err := b.tx.StmtContext(b.ctx, b.db.stmts.updateCounter).ExecContext(b.ctx, n, hostID, k.program, k.kind)
		if err != nil {
			return b.db.wrapErr("update counter", err)
		}
		if rows, err := res.RowsAffected(); err != nil || rows > 0 {
			continue
		}
		if _, err := b.tx.StmtContext(b.ctx, b.db.stmts.insertCounter).ExecContext(b.ctx, hostID, k.program, k.kind, n); err != nil {
			return b.db.wrapErr("add counter", err)
		}
	}
	b.counters = nil
	return nil
}

// AddUnknownSample keeps line as an example of what program wrote that was
// not understood, unless Options.MaxSamples lines are already kept for it.
// It reports whether the line was kept.
func (b *Batch) AddUnknownSample(program, line string, t time.Time) (bool, error) {
	if err := b.check(); err != nil {
		return false, err
	}
	limit := b.db.opts.MaxSamples
	if limit < 0 {
		return false, nil
	}
	have, ok := b.db.samples[program]
	if !ok {
		if err := b.tx.StmtContext(b.ctx, b.db.stmts.countSamples).QueryRowContext(b.ctx, program).Scan(&have); err != nil {
			return false, b.db.wrapErr("count samples", err)
		}
	}
	if have >= limit {
		b.db.samples[program] = have
		return false, nil
	}
	if _, err := b.tx.StmtContext(b.ctx, b.db.stmts.insertSample).ExecContext(b.ctx, program, line, nullTime(t)); err != nil {
		return false, b.db.wrapErr("add sample", err)
	}
	b.db.samples[program] = have + 1
	return true, nil
}
