package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// writerStmts are prepared once on the writer connection.
type writerStmts struct {
	list []*sql.Stmt

	findMessage                     *sql.Stmt
	markFinal                       *sql.Stmt
	insertSource, updateSource      *sql.Stmt
	updateCounter, insertCounter    *sql.Stmt
	countSamples, insertSample      *sql.Stmt
	findHost, findDomain, findRelay *sql.Stmt
	// messageExists runs on the read-only pool (FindMessage).
	messageExists *sql.Stmt
	seenReads     []*sql.Stmt // seenReads
}

const messageColumns = `host_id, mta, queue_id, message_id, sender, sender_domain_id, size, nrcpt,
	client, first_seen, last_seen, removed_at, next_queue_id, parent_queue_id`

const (
	insertDeliverySQL = `INSERT INTO deliveries (id, message_ref, host_id, time, recipient, domain_id,
		orig_recipient, relay_id, delay, delays, dsn, code, enhanced, stage, reply, remote_id,
		outcome, reason, final, next_queue_id, remote_name)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertRejectSQL = `INSERT INTO rejects (host_id, time, queue_id, stage, client, sender,
		recipient, domain_id, code, enhanced, reply, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertMessageSQL = `INSERT INTO messages (` + messageColumns + `, id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	updateMessageSQL = `UPDATE messages SET (` + messageColumns + `)
		= (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?`
)

func (db *DB) prepare(ctx context.Context) error {
	s := &db.stmts
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.findMessage, `SELECT id, mta, message_id, sender, size, nrcpt, client, first_seen,
			last_seen, removed_at, next_queue_id, parent_queue_id
			FROM messages WHERE host_id IS ? AND queue_id = ?`},
		{&s.markFinal, `UPDATE deliveries SET final = ? WHERE id = ?`},
		{&s.insertSource, `INSERT INTO sources (path, host, content_head, content_head_len, offset,
			lines, size, mtime, first_read, last_read, cursor, reader) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.updateSource, `UPDATE sources SET (path, host, content_head, content_head_len, offset,
			lines, size, mtime, first_read, last_read, cursor, reader) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?`},
		{&s.updateCounter, `UPDATE counters SET lines = lines + ? WHERE host_id IS ? AND program = ? AND kind = ?`},
		{&s.insertCounter, `INSERT INTO counters (host_id, program, kind, lines) VALUES (?, ?, ?, ?)`},
		{&s.countSamples, `SELECT count(*) FROM unknown_samples WHERE program = ?`},
		{&s.insertSample, `INSERT INTO unknown_samples (program, line, time) VALUES (?, ?, ?)`},
		{&s.findHost, `SELECT id FROM hosts WHERE name = ?`},
		{&s.findDomain, `SELECT id FROM domains WHERE name = ?`},
		{&s.findRelay, `SELECT id FROM relays WHERE name = ?`},
	} {
		st, err := db.writer.PrepareContext(ctx, p.query)
		if err != nil {
			return db.wrapErr("prepare statements", err)
		}
		*p.dst = st
		s.list = append(s.list, st)
	}
	st, err := db.reader.PrepareContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE queue_id = ? AND host_id IS ?)`)
	if err != nil {
		return db.wrapErr("prepare statements", err)
	}
	s.messageExists = st
	s.list = append(s.list, st)
	s.seenReads = nil
	for _, q := range seenReads {
		st, err := db.writer.PrepareContext(ctx, q)
		if err != nil {
			return db.wrapErr("prepare statements", err)
		}
		s.seenReads = append(s.seenReads, st)
		s.list = append(s.list, st)
	}
	return nil
}

// cStmts are the writer statements run from C (cstmt.go): the inserts made
// once per stored row, and the rollups' upserts.
type cStmts struct {
	insertDelivery, insertReject, insertMessage, updateMessage *cStmt
	insertLink                                                 *cStmt // stitch.go
	// Dictionary names, with the id given (a dictionary read whole) or
	// not.
	insertHost, insertDomain, insertRelay       *cStmt
	insertHostID, insertDomainID, insertRelayID *cStmt
	rollup                                      []*cStmt // rollupStatements
}

func (s *cStmts) close() {
	for _, st := range []*cStmt{s.insertDelivery, s.insertReject, s.insertMessage, s.updateMessage, s.insertLink,
		s.insertHost, s.insertDomain, s.insertRelay, s.insertHostID, s.insertDomainID, s.insertRelayID} {
		st.close()
	}
	for _, st := range s.rollup {
		st.close()
	}
	*s = cStmts{}
}

// prepareC prepares the C statements on the writer connection of tx, unless
// they are already prepared there.
func (db *DB) prepareC(ctx context.Context, tx *sql.Tx) error {
	h, err := connHandle(ctx, tx)
	if err != nil {
		return db.wrapErr("prepare statements", err)
	}
	if h == db.cHandle && db.cstmts.insertDelivery != nil {
		return nil
	}
	// On a connection that database/sql closed, these statements kept
	// it open (sqlite3_close_v2) until now.
	db.cstmts.close()
	db.cHandle = 0
	for _, p := range []struct {
		dst   **cStmt
		query string
	}{
		{&db.cstmts.insertDelivery, insertDeliverySQL},
		{&db.cstmts.insertReject, insertRejectSQL},
		{&db.cstmts.insertMessage, insertMessageSQL},
		{&db.cstmts.insertHost, `INSERT INTO hosts (name) VALUES (?)`},
		{&db.cstmts.insertDomain, `INSERT INTO domains (name) VALUES (?)`},
		{&db.cstmts.insertRelay, `INSERT INTO relays (name) VALUES (?)`},
		{&db.cstmts.insertHostID, `INSERT INTO hosts (id, name) VALUES (?, ?)`},
		{&db.cstmts.insertDomainID, `INSERT INTO domains (id, name) VALUES (?, ?)`},
		{&db.cstmts.insertRelayID, `INSERT INTO relays (id, name) VALUES (?, ?)`},
		{&db.cstmts.updateMessage, updateMessageSQL},
		{&db.cstmts.insertLink, insertLinkSQL},
	} {
		if *p.dst, err = prepareC(h, p.query); err != nil {
			db.cstmts.close()
			return db.wrapErr("prepare statements", err)
		}
	}
	for _, q := range rollupStatements() {
		st, err := prepareC(h, q)
		if err != nil {
			db.cstmts.close()
			return db.wrapErr("prepare statements", err)
		}
		db.cstmts.rollup = append(db.cstmts.rollup, st)
	}
	// Checkpoints run after each commit, on their own connection
	// (checkpoint.go).
	if _, err := tx.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		db.cstmts.close()
		return db.wrapErr("prepare statements", err)
	}
	db.cHandle = h
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
	db      *DB
	ctx     context.Context // for statements: never done
	userCtx context.Context // the caller's: the batch ends when it is done
	sqltx   *sql.Tx         // use txn()
	release func()          // of tx's context (beginTx)
	// The rows queued for the writer goroutine (writer.go).
	q, spare       *rowQueue
	writer         *rowWriter
	inFlight       bool
	writeErr       error
	nextDeliveryID int64
	messageFloor   int64 // the first free message id at Begin
	// messages are the messages written in this batch (FindMessage).
	messages map[hostQueueID]struct{}
	n        int

	findMessage                *sql.Stmt
	markFinal                  *sql.Stmt
	insertSource, updateSource *sql.Stmt

	// Dictionary entries inserted in this transaction: a rollback must take
	// them out of the shared caches, whose ids would otherwise point at rows
	// that no longer exist.
	added []dictEntry

	counters map[counterKey]int64
	// queued are the messages inserted in this batch, for stitch_queue.
	queued []int64
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
	tx, release, err := db.beginTx(ctx)
	if err != nil {
		db.batchMu.Unlock()
		return nil, db.wrapErr("start writing", err)
	}
	s := &db.stmts
	// Cancelling ctx ends the batch at its next call (check), which
	// returns ctx's error; the caller rolls back. The transaction does not
	// watch ctx itself: database/sql would roll it back from another
	// goroutine, possibly in the middle of a statement that cstmt.go runs
	// on the connection, or just before one, which would then run outside
	// any transaction. Statements run under a context that is never done:
	// the driver runs a statement under a cancellable context in a new
	// goroutine, so that it can interrupt it, and that goroutine and the
	// wake-ups it costs were a third of ingest's time at a few
	// microseconds per row. Each statement here is short.
	b := &Batch{db: db, ctx: context.WithoutCancel(ctx), userCtx: ctx, sqltx: tx, release: release, q: new(rowQueue)}
	ctx = b.ctx
	if err := b.start(); err != nil {
		tx.Rollback()
		release()
		db.batchMu.Unlock()
		return nil, err
	}
	// Tx.Stmt on the connection the statement was prepared on reuses it.
	b.findMessage = tx.StmtContext(ctx, s.findMessage)
	b.markFinal = tx.StmtContext(ctx, s.markFinal)
	b.insertSource = tx.StmtContext(ctx, s.insertSource)
	b.updateSource = tx.StmtContext(ctx, s.updateSource)
	return b, nil
}

// start prepares what the batch needs from the database: the C
// statements, the next delivery id, and the dictionaries read whole, which
// another process may have added to since this one last wrote.
func (b *Batch) start() error {
	if err := b.db.prepareC(b.ctx, b.sqltx); err != nil {
		return err
	}
	if err := b.sqltx.QueryRowContext(b.ctx, `SELECT ifnull(max(id), 0) + 1 FROM deliveries`).Scan(&b.nextDeliveryID); err != nil {
		return b.db.wrapErr("start writing", err)
	}
	// Message ids: above every stored one and every one another writer
	// has handed out (migration 7).
	if err := b.sqltx.QueryRowContext(b.ctx, `SELECT max(ifnull((SELECT max(id) FROM messages), 0) + 1,
		ifnull((SELECT next FROM id_counters WHERE name = 'messages'), 1))`).Scan(&b.messageFloor); err != nil {
		return b.db.wrapErr("start writing", err)
	}
	if db := b.db; db.nextMessageID < b.messageFloor {
		if db.nextMessageID != 0 {
			// Another writer handed out ids since this one's last batch:
			// the ids from newFrom on are no longer all this process's,
			// which the rollups' memory of messages assumes. Start it
			// again, as after a rollback.
			clear(db.seen)
			db.seenFloor, db.newFrom = 0, 0
		}
		db.nextMessageID = b.messageFloor
	}
	for _, d := range []*dictionary{b.db.hosts, b.db.domains, b.db.relays} {
		if err := b.refreshDictionary(d); err != nil {
			return err
		}
	}
	return nil
}

// txn is the batch's transaction, for a statement run through database/sql:
// the rows queued before it are written first.
func (b *Batch) txn() *sql.Tx {
	// An error of the writer is kept in b.writeErr (check reports it), and
	// has ended the transaction: the statement fails with ErrTxDone.
	b.drain()
	return b.sqltx
}

// Len is the number of rows added (deliveries, rejects, messages inserted)
// since Begin, for callers that commit every N rows.
func (b *Batch) Len() int { return b.n }

var errBatchDone = errors.New("batch already committed or rolled back")

// Commit writes the batch. After an error the batch is rolled back.
func (b *Batch) Commit() error {
	if err := b.check(); err != nil {
		if !b.done {
			b.Rollback()
		}
		return err
	}
	if err := b.drain(); err != nil {
		b.Rollback()
		return err
	}
	if b.db.nextMessageID > b.messageFloor {
		if _, err := b.txn().ExecContext(b.ctx, `INSERT INTO id_counters (name, next) VALUES ('messages', ?)
			ON CONFLICT (name) DO UPDATE SET next = max(next, excluded.next)`, b.db.nextMessageID); err != nil {
			b.Rollback()
			return b.db.wrapErr("commit batch", err)
		}
	}
	if err := b.flushCounters(); err != nil {
		b.Rollback()
		return err
	}
	if err := b.queueMessages(); err != nil {
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
	// Stitching the whole of a bulk load takes a while: Ctrl-C stops here
	// too, and the next commit or Open stitches again.
	if err := b.check(); err != nil {
		b.Rollback()
		return err
	}
	if err := b.flushRollup(); err != nil {
		b.Rollback()
		return err
	}
	if err := b.drain(); err != nil {
		b.Rollback()
		return err
	}
	b.stopWriter()
	err := b.sqltx.Commit()
	if err == nil {
		// Before finish lets the next batch begin.
		b.db.afterCommit(b.ctx)
	}
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
	// The writer stops before the transaction ends: the connection has one
	// user at a time.
	b.stopWriter()
	err := b.sqltx.Rollback()
	b.finish(false)
	if err != nil && !errors.Is(err, sql.ErrTxDone) {
		return b.db.wrapErr("roll back batch", err)
	}
	return nil
}

func (b *Batch) finish(committed bool) {
	b.done = true
	b.stopWriter()
	b.release()
	if !committed {
		for _, e := range b.added {
			delete(e.cache, e.name)
		}
		for _, d := range []*dictionary{b.db.hosts, b.db.domains, b.db.relays} {
			d.maxID = d.base
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
	if b.writeErr != nil {
		return b.writeErr
	}
	return b.userCtx.Err()
}

// beginTx starts the writer's transaction. Until BEGIN has taken the write
// lock, cancelling ctx interrupts the wait for it; after that, the
// transaction no longer watches ctx (see Begin).
// The transaction watches the context it was begun with for as long as it
// lasts: release, called once it has ended, frees that context.
func (db *DB) beginTx(ctx context.Context) (tx *sql.Tx, release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	beginCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	begun := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !begun {
			cancel()
		}
	})
	defer stop()
	tx, err = db.beginWriter(beginCtx)
	mu.Lock()
	begun = true
	interrupted := beginCtx.Err() != nil
	mu.Unlock()
	if err != nil {
		cancel()
		if interrupted {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	if interrupted {
		// Cancelled as BEGIN returned: database/sql may be rolling the
		// transaction back already.
		tx.Rollback()
		cancel()
		return nil, nil, ctx.Err()
	}
	return tx, cancel, nil
}

// dictionary is the writer's memory of one dictionary table (hosts,
// domains, relays): name to id.
type dictionary struct {
	table, what string
	ids         map[string]int64
	// loaded: the table's size was looked at in this process. complete:
	// ids holds every row of the table (a small table is read whole, and
	// Batch.start reads what another process added since), so a name not
	// in ids is new: it gets id maxID+1 and is queued for the writer,
	// without a lookup.
	loaded, complete bool
	maxID            int64
	// base is maxID when the batch began: a rollback returns to it, so
	// that the next batch reads what another process added after it.
	base int64
}

// dictWhole: a dictionary table up to this many rows is read whole at the
// first name the writer does not know, which saves a lookup per new name
// (a first ingest of a large log has tens of thousands).
const dictWhole = 100_000

func newDictionary(table, what string) *dictionary {
	return &dictionary{table: table, what: what, ids: make(map[string]int64)}
}

// loadDictionary reads the whole table into d.ids if it is small.
func (b *Batch) loadDictionary(d *dictionary) error {
	d.loaded = true
	var n int64
	if err := b.txn().QueryRowContext(b.ctx, `SELECT count(*) FROM `+d.table).Scan(&n); err != nil {
		return b.db.wrapErr("read "+d.table, err)
	}
	if n > dictWhole {
		return nil
	}
	if err := b.readDictionary(d, 0); err != nil {
		return err
	}
	d.complete = true
	return nil
}

// readDictionary adds the rows of d's table with ids above after to d.ids.
func (b *Batch) readDictionary(d *dictionary, after int64) error {
	rows, err := b.txn().QueryContext(b.ctx, `SELECT id, name FROM `+d.table+` WHERE id > ?`, after)
	if err != nil {
		return b.db.wrapErr("read "+d.table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return b.db.wrapErr("read "+d.table, err)
		}
		d.ids[name] = id
		d.maxID = max(d.maxID, id)
	}
	if err := rows.Err(); err != nil {
		return b.db.wrapErr("read "+d.table, err)
	}
	d.bound()
	return nil
}

// refreshDictionary brings a dictionary read whole up to date at the start
// of a batch: names are never deleted, and a new row's id is one more than
// the highest, so a highest id above what this process knows means another
// process added names. (A rolled-back batch's names are out of ids, and
// its maxID back to base: finish.)
func (b *Batch) refreshDictionary(d *dictionary) error {
	if !d.complete {
		return nil
	}
	var top int64
	if err := b.sqltx.QueryRowContext(b.ctx, `SELECT ifnull(max(id), 0) FROM `+d.table).Scan(&top); err != nil {
		return b.db.wrapErr("read "+d.table, err)
	}
	if top > d.maxID {
		if err := b.readDictionary(d, d.maxID); err != nil {
			return err
		}
	}
	d.maxID = top
	d.base = top
	return nil
}

// dictID returns the id of name in one dictionary table, inserting it if
// new. Repeated names are answered from memory, which is what makes storing
// them as ids cheaper than storing the text.
func (b *Batch) dictID(d *dictionary, find *sql.Stmt, insert, insertWithID *cStmt, name string) (int64, error) {
	if id, ok := d.ids[name]; ok {
		return id, nil
	}
	if !d.loaded {
		if err := b.loadDictionary(d); err != nil {
			return 0, err
		}
		if id, ok := d.ids[name]; ok {
			return id, nil
		}
	}
	if d.complete {
		id := d.maxID + 1
		if err := b.queue(insertWithID, "add "+d.what, id, name); err != nil {
			return 0, err
		}
		d.maxID = id
		b.remember(d, name, id)
		return id, nil
	}
	var id int64
	err := b.txn().StmtContext(b.ctx, find).QueryRowContext(b.ctx, name).Scan(&id)
	switch {
	case err == nil:
		// The caller's string may point into a large buffer of log lines
		// that it reuses or would free: keep a copy, not a reference.
		d.ids[strings.Clone(name)] = id
		d.bound()
		return id, nil
	case errors.Is(err, sql.ErrNoRows):
	default:
		return 0, b.db.wrapErr("look up "+d.what, err)
	}
	id, err = insert.exec(name)
	if err != nil {
		return 0, b.db.wrapErr("add "+d.what, err)
	}
	b.remember(d, name, id)
	return id, nil
}

// remember keeps a name added in this batch; a rollback forgets it.
func (b *Batch) remember(d *dictionary, name string, id int64) {
	name = strings.Clone(name)
	b.added = append(b.added, dictEntry{d.ids, name})
	d.ids[name] = id
	d.bound()
}

// dictCacheMax bounds a dictionary's memory (a large provider's log names
// a great many relays): past it, the dictionary forgets all names and is no
// longer complete, so that names are looked up again.
var dictCacheMax = 250_000

func (d *dictionary) bound() {
	if len(d.ids) > dictCacheMax {
		d.ids = make(map[string]int64)
		d.complete = false
	}
}

// hostRef, domainRef and relayRef are the dictionary ids of a name, 0 for
// none ("": a NULL reference, nullID).
func (b *Batch) hostRef(name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	c := &b.db.cstmts
	return b.dictID(b.db.hosts, b.db.stmts.findHost, c.insertHost, c.insertHostID, name)
}

func (b *Batch) domainRef(name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	c := &b.db.cstmts
	return b.dictID(b.db.domains, b.db.stmts.findDomain, c.insertDomain, c.insertDomainID, lowerASCII(name))
}

func (b *Batch) relayRef(name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	c := &b.db.cstmts
	return b.dictID(b.db.relays, b.db.stmts.findRelay, c.insertRelay, c.insertRelayID, name)
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
	domainID, err := b.domainRef(domain)
	if err != nil {
		return 0, err
	}
	hostID, err := b.hostRef(d.Host)
	if err != nil {
		return 0, err
	}
	relayID, err := b.relayRef(d.Relay)
	if err != nil {
		return 0, err
	}
	var senderDomain int64
	if d.SenderDomain != "" {
		if senderDomain, err = b.domainRef(d.SenderDomain); err != nil {
			return 0, err
		}
	}
	final := int64(0)
	if d.Final {
		final = 1
	}
	id := b.nextDeliveryID
	// The columns of insertDeliverySQL, in order.
	q := b.q
	row := q.start()
	q.putInt(id)
	q.putID(d.MessageRef)
	q.putID(hostID)
	q.putInt(d.Time.UnixMicro())
	q.putText(d.Recipient)
	q.putInt(domainID)
	q.putTextOrNull(d.OrigRecipient)
	q.putID(relayID)
	if d.Delay >= 0 {
		q.putReal(d.Delay)
	} else {
		q.putNull()
	}
	q.putTextOrNull(d.Delays)
	q.putTextOrNull(d.DSN)
	q.putPositive(int64(d.Code))
	q.putTextOrNull(d.Enhanced)
	q.putTextOrNull(d.Stage)
	q.putTextOrNull(d.Reply)
	q.putTextOrNull(d.RemoteID)
	q.putText(d.Outcome)
	q.putTextOrNull(d.Reason)
	q.putInt(final)
	q.putTextOrNull(d.NextQueueID)
	q.putTextOrNull(d.RemoteName)
	if err := b.endRow(b.db.cstmts.insertDelivery, "add delivery", row); err != nil {
		return 0, err
	}
	b.nextDeliveryID++
	linked := d.Outcome == OutcomeHop && d.NextMessageRef != 0 && d.NextMessageRef != d.MessageRef
	if linked {
		if err := b.queue(b.db.cstmts.insertLink, "add delivery: link messages", id, nullID(d.MessageRef), d.NextMessageRef); err != nil {
			return 0, err
		}
		b.noteLink(d.MessageRef, d.NextMessageRef, id, d.Recipient)
	}
	var decidedAt int64
	if !d.DecidedAt.IsZero() {
		decidedAt = d.DecidedAt.UnixMicro()
	}
	if err := b.rollupDelivery(id, d.MessageRef, d.Time.UnixMicro(), domainID, relayID, hostID, senderDomain,
		d.Outcome, d.Final, d.Reason, d.Recipient, decidedAt); err != nil {
		return 0, err
	}
	if linked && d.MessageRef != 0 {
		// The message the hop made may have deferred the recipient
		// already (its line came first: a filter that queues the message
		// again before the hop's "sent" is logged).
		next, err := b.seenFor(d.NextMessageRef, id)
		if err != nil {
			return 0, err
		}
		if next.findDeferred(d.Recipient) != nil {
			if err := b.handOn(d.MessageRef, id, id+1, d.Recipient); err != nil {
				return 0, err
			}
		}
	}
	b.n++
	return id, nil
}

// MarkFinal records that a stored attempt decided its recipient's fate, for
// callers that learn it only from a later line.
func (b *Batch) MarkFinal(deliveryID int64) error { return b.setFinal(deliveryID, true) }

// UnmarkFinal records that a stored attempt did not decide its recipient's
// fate after all: a later line of the same recipient does (an Exim copy
// through an unseen router, delivered before the real route failed).
func (b *Batch) UnmarkFinal(deliveryID int64) error { return b.setFinal(deliveryID, false) }

// setFinal changes a stored attempt's finality. The rollups count the row
// by it, and its recipient as decided or not.
func (b *Batch) setFinal(deliveryID int64, final bool) error {
	if err := b.check(); err != nil {
		return err
	}
	op, cond := "mark delivery final", "final = 0"
	if !final {
		op, cond = "unmark delivery final", "final = 1"
	}
	return b.restate(op, deliveryID, cond, func() error {
		if err := b.drain(); err != nil {
			return err
		}
		_, err := b.markFinal.ExecContext(b.ctx, boolInt(final), deliveryID)
		return err
	})
}

// MarkHop turns a stored delivery into a hop to the message it became on
// this host, for callers that learn it only from a later line (a pipe to a
// content filter that submits the message again, logged before the new
// message): the rollups move the row's part from delivered to hop, and the
// two messages are linked.
func (b *Batch) MarkHop(deliveryID, fromRef, nextRef int64, nextQueueID string) error {
	if err := b.check(); err != nil {
		return err
	}
	// The link goes in with the change: the rollups' part of the row's
	// recipient depends on it (handedOnSQL).
	return b.restate("mark hop", deliveryID, "outcome = 'delivered'", func() error {
		_, err := b.txn().ExecContext(b.ctx, `UPDATE deliveries SET outcome = 'hop', final = 0, next_queue_id = ? WHERE id = ?`,
			sql.NullString{String: nextQueueID, Valid: nextQueueID != ""}, deliveryID)
		if err != nil || nextRef == 0 || nextRef == fromRef {
			return err
		}
		if _, err := b.txn().ExecContext(b.ctx, insertLinkSQL, deliveryID, nullID(fromRef), nextRef); err != nil {
			return err
		}
		return b.linked(deliveryID, fromRef, nextRef)
	})
}

// linked notes a link stored for attempt deliveryID (noteLink).
func (b *Batch) linked(deliveryID, fromRef, nextRef int64) error {
	var rcpt string
	if err := b.txn().QueryRowContext(b.ctx, `SELECT recipient FROM deliveries WHERE id = ?`, deliveryID).Scan(&rcpt); err != nil {
		return err
	}
	b.noteLink(fromRef, nextRef, deliveryID, rcpt)
	return nil
}

// restate changes a stored attempt that the rollups have counted: they
// take the row's part out as it was and add it back as it is. The row is
// changed only if it matches cond (else nothing happens); update changes
// it.
func (b *Batch) restate(op string, deliveryID int64, cond string, update func() error) error {
	var ref sql.NullInt64
	var rcpt string
	err := b.txn().QueryRowContext(b.ctx, `SELECT message_ref, recipient FROM deliveries WHERE id = ? AND `+cond, deliveryID).Scan(&ref, &rcpt)
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
	domainID, err := b.domainRef(domain)
	if err != nil {
		return err
	}
	hostID, err := b.hostRef(r.Host)
	if err != nil {
		return err
	}
	// The columns of insertRejectSQL, in order.
	q := b.q
	row := q.start()
	q.putID(hostID)
	q.putInt(r.Time.UnixMicro())
	q.putTextOrNull(r.QueueID)
	q.putTextOrNull(r.Stage)
	q.putTextOrNull(r.Client)
	q.putTextOrNull(r.Sender)
	q.putTextOrNull(r.Recipient)
	q.putID(domainID)
	q.putPositive(int64(r.Code))
	q.putTextOrNull(r.Enhanced)
	q.putTextOrNull(r.Reply)
	q.putTextOrNull(r.Reason)
	if err := b.endRow(b.db.cstmts.insertReject, "add reject", row); err != nil {
		return err
	}
	b.rollupReject(r.Time.UnixMicro(), domainID, hostID, r.Reason)
	b.n++
	return nil
}

// messageRow is a message with the ids of its host and sender domain (0
// for none): the values of messageColumns.
type messageRow struct {
	m                    *Message
	hostID, senderDomain int64
}

func (b *Batch) messageRow(m *Message) (messageRow, error) {
	if m.QueueID == "" {
		return messageRow{}, errors.New("need a queue ID")
	}
	// The writer does not have SQLite check the schema's CHECK
	// constraints (store.go): the values they allow are checked here.
	if m.MTA != "" && m.MTA != "postfix" && m.MTA != "exim" {
		return messageRow{}, fmt.Errorf("unknown MTA %q", m.MTA)
	}
	r := messageRow{m: m}
	var err error
	if r.hostID, err = b.hostRef(m.Host); err != nil {
		return messageRow{}, err
	}
	if m.HasSender {
		if r.senderDomain, err = b.domainRef(AddressDomain(m.Sender)); err != nil {
			return messageRow{}, err
		}
	}
	return r, nil
}

// put packs the values of messageColumns, in order.
func (r messageRow) put(q *rowQueue) {
	m := r.m
	q.putID(r.hostID)
	q.putTextOrNull(m.MTA)
	q.putText(m.QueueID)
	q.putTextOrNull(m.MessageID)
	if m.HasSender {
		q.putText(m.Sender) // "" is the null sender <>, not NULL
	} else {
		q.putNull()
	}
	q.putID(r.senderDomain)
	q.putPositive(m.Size)
	q.putPositive(int64(m.NRcpt))
	q.putTextOrNull(m.Client)
	q.putTime(m.FirstSeen)
	q.putTime(m.LastSeen)
	q.putTime(m.RemovedAt)
	q.putTextOrNull(m.NextQueueID)
	q.putTextOrNull(m.ParentQueueID)
}

// ReserveMessageID returns an id for a message whose row will be written
// later in this batch with InsertMessage. Deliveries can name it at once;
// the row itself is written once, when the message has left the queue,
// instead of inserted early and updated with every line about it.
func (b *Batch) ReserveMessageID() (int64, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	id := b.db.nextMessageID // set by start
	if b.db.newFrom == 0 {
		b.db.newFrom = id
	}
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
	r, err := b.messageRow(&m)
	if err != nil {
		return 0, fmt.Errorf("insert message: %w", err)
	}
	if m.ID == 0 {
		if m.ID, err = b.ReserveMessageID(); err != nil {
			return 0, err
		}
	} else if m.ID >= b.db.nextMessageID {
		b.db.nextMessageID = m.ID + 1
	}
	if err := b.writeMessage(b.db.cstmts.insertMessage, "insert message", r); err != nil {
		return 0, err
	}
	b.queued = append(b.queued, m.ID)
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
	r, err := b.messageRow(&m)
	if err != nil {
		return fmt.Errorf("update message %d: %w", m.ID, err)
	}
	return b.writeMessage(b.db.cstmts.updateMessage, "update message", r)
}

// writeMessage queues the row of a message (insertMessageSQL or
// updateMessageSQL: its columns, then its id) and notes what later
// lookups of this batch need.
func (b *Batch) writeMessage(st *cStmt, what string, r messageRow) error {
	q := b.q
	row := q.start()
	r.put(q)
	q.putInt(r.m.ID)
	if err := b.endRow(st, what, row); err != nil {
		return err
	}
	b.wroteMessage(r.hostID, r.m.QueueID)
	b.rememberSender(r.m.ID, r.senderDomain)
	return nil
}

// hostQueueID is a message's host (its id; 0 for none) and queue ID.
type hostQueueID struct {
	host int64
	qid  string
}

// wroteMessage notes a message row written in this batch, for FindMessage.
func (b *Batch) wroteMessage(hostID int64, queueID string) {
	if b.messages == nil {
		b.messages = make(map[hostQueueID]struct{})
	}
	b.messages[hostQueueID{hostID, queueID}] = struct{}{}
}

// FindMessage returns the newest message with this queue ID on this host,
// including rows added in this batch: a restarted ingest uses it to pick up
// messages that were still in the queue.
func (b *Batch) FindMessage(host, queueID string) (Message, bool, error) {
	if err := b.check(); err != nil {
		return Message{}, false, err
	}
	hostID, err := b.hostRef(host)
	if err != nil {
		return Message{}, false, err
	}
	// The newest by first_seen (then id): sorted here, not by SQL. With an
	// ORDER BY, SQLite prepared the statement again at every call (its
	// plan may depend on the bound values), a tenth of a millisecond each.
	// Most queue IDs asked for are new (Postfix's bounce daemon creates
	// messages whose first line is cleanup's): a read-only connection
	// says whether the committed database has the queue ID at all, and
	// the writer's connection, which must wait for the rows queued before
	// (drain), is asked only if it or this batch might.
	if _, ok := b.messages[hostQueueID{hostID, queueID}]; !ok {
		var maybe bool
		if err := b.db.stmts.messageExists.QueryRowContext(b.ctx, queueID, nullID(hostID)).Scan(&maybe); err != nil {
			return Message{}, false, b.db.wrapErr("find message", err)
		}
		if !maybe {
			return Message{}, false, nil
		}
	}
	if err := b.drain(); err != nil {
		return Message{}, false, err
	}
	rows, err := b.findMessage.QueryContext(b.ctx, nullID(hostID), queueID)
	if err != nil {
		return Message{}, false, b.db.wrapErr("find message", err)
	}
	defer rows.Close()
	var m Message
	var bestFirst sql.NullInt64
	found := false
	for rows.Next() {
		c := Message{Host: host, QueueID: queueID}
		var mta, messageID, sender, client, next, parent sql.NullString
		var size, nrcpt, first, last, removed sql.NullInt64
		if err := rows.Scan(&c.ID, &mta, &messageID, &sender,
			&size, &nrcpt, &client, &first, &last, &removed, &next, &parent); err != nil {
			return Message{}, false, b.db.wrapErr("find message", err)
		}
		if found && !newerMessage(first, c.ID, bestFirst, m.ID) {
			continue
		}
		bestFirst = first
		c.MTA, c.MessageID, c.Client = mta.String, messageID.String, client.String
		c.Sender, c.HasSender = sender.String, sender.Valid
		c.NextQueueID, c.ParentQueueID = next.String, parent.String
		c.Size, c.NRcpt = size.Int64, int(nrcpt.Int64)
		c.FirstSeen, c.LastSeen, c.RemovedAt = timeOf(first), timeOf(last), timeOf(removed)
		m, found = c, true
	}
	if err := rows.Err(); err != nil {
		return Message{}, false, b.db.wrapErr("find message", err)
	}
	return m, found, nil
}

// newerMessage says whether a message first seen at first with id comes
// after one first seen at otherFirst with otherID, as ORDER BY first_seen,
// id sorts them (NULL first).
func newerMessage(first sql.NullInt64, id int64, otherFirst sql.NullInt64, otherID int64) bool {
	switch {
	case first.Valid != otherFirst.Valid:
		return first.Valid
	case first.Int64 != otherFirst.Int64:
		return first.Int64 > otherFirst.Int64
	}
	return id > otherID
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
	if err := b.drain(); err != nil {
		return 0, err
	}
	if s.Path == "" || s.Offset < 0 {
		return 0, errors.New("set source: need a path and an offset >= 0")
	}
	args := []any{s.Path, nullString(s.Host), s.HeadHash, s.HeadLen, s.Offset, s.Lines,
		s.Size, nullTime(s.MTime), nullTime(s.FirstRead), nullTime(s.LastRead), nullString(s.Cursor), nullString(s.Reader)}
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
	if s.Expect != nil {
		// Compare and set: another writer that moved the row since read
		// the same lines as this one.
		var offset int64
		var cursor sql.NullString
		err := b.txn().QueryRowContext(b.ctx, `SELECT offset, cursor FROM sources WHERE id = ?`, s.ID).Scan(&offset, &cursor)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, b.db.wrapErr("set source", err)
		}
		if err == nil && (offset != s.Expect.Offset || cursor.String != s.Expect.Cursor) {
			return 0, fmt.Errorf("%w: %s", ErrSourceMoved, s.Path)
		}
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

// ErrSourceMoved: another process committed a source's row since this one
// read it (Source.Expect): both read the same lines. The batch must not be
// committed.
var ErrSourceMoved = errors.New("another mailbounce stored lines of this source while this one read them")

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
		ref, err := b.hostRef(k.host)
		if err != nil {
			return err
		}
		hostID := nullID(ref)
		res, err := b.txn().StmtContext(b.ctx, b.db.stmts.updateCounter).ExecContext(b.ctx, n, hostID, k.program, k.kind)
		if err != nil {
			return b.db.wrapErr("update counter", err)
		}
		if rows, err := res.RowsAffected(); err != nil || rows > 0 {
			continue
		}
		if _, err := b.txn().StmtContext(b.ctx, b.db.stmts.insertCounter).ExecContext(b.ctx, hostID, k.program, k.kind, n); err != nil {
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
		if err := b.txn().StmtContext(b.ctx, b.db.stmts.countSamples).QueryRowContext(b.ctx, program).Scan(&have); err != nil {
			return false, b.db.wrapErr("count samples", err)
		}
	}
	if have >= limit {
		b.db.samples[program] = have
		return false, nil
	}
	if _, err := b.txn().StmtContext(b.ctx, b.db.stmts.insertSample).ExecContext(b.ctx, program, line, nullTime(t)); err != nil {
		return false, b.db.wrapErr("add sample", err)
	}
	b.db.samples[program] = have + 1
	return true, nil
}
