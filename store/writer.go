package store

import (
	"fmt"
	"math"
	"time"
)

// The batch's rows are written by a goroutine of their own (one per batch),
// so that SQLite inserting them (most of ingest's time) runs on one core
// while the collator works out the next ones on the other. AddDelivery,
// AddReject, InsertMessage, UpdateMessage and new dictionary names append
// their row to a queue, with the row's id decided beforehand; the writer
// runs a full queue with one call into C. Everything else that uses the
// connection (a lookup, Commit) first waits until the writer has written
// all that was queued (Batch.drain): the connection has one user at a time,
// and every statement sees the rows added before it.

// queueRows is how many rows a queue takes before it goes to the writer.
const queueRows = 256

// rowQueue is rows waiting for the writer.
type rowQueue struct {
	stmts []cStmtPtr
	what  []string // per row, for errors: "add delivery"
	nvals []int32
	kinds []uint8
	vals  []int64
	text  []byte
}

func (q *rowQueue) reset() {
	q.stmts, q.what, q.nvals = q.stmts[:0], q.what[:0], q.nvals[:0]
	q.kinds, q.vals, q.text = q.kinds[:0], q.vals[:0], q.text[:0]
}

// add packs one row of st.
func (q *rowQueue) add(st *cStmt, what string, args ...any) error {
	k, v, t := len(q.kinds), len(q.vals), len(q.text)
	for _, a := range args {
		kind, val, err := packValue(a, &q.text)
		if err != nil {
			q.kinds, q.vals, q.text = q.kinds[:k], q.vals[:v], q.text[:t]
			return fmt.Errorf("%s: %w", what, err)
		}
		q.kinds = append(q.kinds, kind)
		q.vals = append(q.vals, val)
	}
	if len(q.text) > math.MaxInt32 {
		q.kinds, q.vals, q.text = q.kinds[:k], q.vals[:v], q.text[:t]
		return fmt.Errorf("%s: values of %d bytes are too long", what, len(q.text)-t)
	}
	q.stmts = append(q.stmts, st.ptr())
	q.what = append(q.what, what)
	q.nvals = append(q.nvals, int32(len(args)))
	return nil
}

// The typed appenders pack one value each, without boxing it in an any (an
// allocation per value, most of ingest's): a row is started with start,
// its values appended in the statement's order, and finished with
// Batch.endRow.

// rowMark is where a row started in a queue.
type rowMark struct{ vals, text int }

func (q *rowQueue) start() rowMark { return rowMark{len(q.kinds), len(q.text)} }

func (q *rowQueue) putNull() {
	q.kinds = append(q.kinds, kindNull)
	q.vals = append(q.vals, 0)
}

func (q *rowQueue) putInt(v int64) {
	q.kinds = append(q.kinds, kindInt)
	q.vals = append(q.vals, v)
}

func (q *rowQueue) putReal(v float64) {
	q.kinds = append(q.kinds, kindReal)
	q.vals = append(q.vals, int64(math.Float64bits(v)))
}

func (q *rowQueue) putText(s string) {
	q.kinds = append(q.kinds, kindText)
	q.vals = append(q.vals, int64(len(q.text))<<32|int64(len(s)))
	q.text = append(q.text, s...)
}

// putID packs NULL for 0 (as nullID), putPositive for 0 and less,
// putTextOrNull for "" (nullString), putTime for the zero time (nullTime).
func (q *rowQueue) putID(v int64) {
	if v == 0 {
		q.putNull()
		return
	}
	q.putInt(v)
}

func (q *rowQueue) putPositive(v int64) {
	if v <= 0 {
		q.putNull()
		return
	}
	q.putInt(v)
}

func (q *rowQueue) putTextOrNull(s string) {
	if s == "" {
		q.putNull()
		return
	}
	q.putText(s)
}

func (q *rowQueue) putTime(t time.Time) {
	if t.IsZero() {
		q.putNull()
		return
	}
	q.putInt(t.UnixMicro())
}

// endRow finishes the row of st started at m, and hands the queue to the
// writer when it is full.
func (b *Batch) endRow(st *cStmt, what string, m rowMark) error {
	q := b.q
	if len(q.text) > math.MaxInt32 {
		n := len(q.text) - m.text
		q.kinds, q.vals, q.text = q.kinds[:m.vals], q.vals[:m.vals], q.text[:m.text]
		return fmt.Errorf("%s: values of %d bytes are too long", what, n)
	}
	q.stmts = append(q.stmts, st.ptr())
	q.what = append(q.what, what)
	q.nvals = append(q.nvals, int32(len(q.kinds)-m.vals))
	if len(q.stmts) >= queueRows {
		return b.submit()
	}
	return nil
}

// rowWriter is the goroutine that writes a batch's queues.
type rowWriter struct {
	work    chan *rowQueue
	results chan writeResult
	arena   rowsArena
}

type writeResult struct {
	q   *rowQueue
	err error
}

func startRowWriter() *rowWriter {
	w := &rowWriter{
		work:    make(chan *rowQueue),
		results: make(chan writeResult),
		arena:   newRowsArena(),
	}
	go func() {
		for q := range w.work {
			w.results <- writeResult{q, execRows(q, w.arena)}
		}
		freeRowsArena(w.arena)
		close(w.results)
	}()
	return w
}

// queue adds a row to the batch's queue, and hands the queue to the writer
// when it is full.
func (b *Batch) queue(st *cStmt, what string, args ...any) error {
	if err := b.q.add(st, what, args...); err != nil {
		return err
	}
	if len(b.q.stmts) >= queueRows {
		return b.submit()
	}
	return nil
}

// submit hands the queue to the writer, after the one it is writing, if
// any, is done.
func (b *Batch) submit() error {
	if err := b.wait(); err != nil {
		return err
	}
	if b.writer == nil {
		b.writer = startRowWriter()
	}
	b.writer.work <- b.q
	b.inFlight = true
	b.q, b.spare = b.spare, nil
	if b.q == nil {
		b.q = new(rowQueue)
	}
	return nil
}

// wait waits for the queue the writer has, if any.
func (b *Batch) wait() error {
	if !b.inFlight {
		return b.writeErr
	}
	r := <-b.writer.results
	b.inFlight = false
	r.q.reset()
	b.spare = r.q
	if r.err != nil && b.writeErr == nil {
		b.writeErr = b.db.wrapErr("write rows", r.err)
		// The batch is lost. End its transaction now: after some errors
		// (a full disk, an I/O error) SQLite has rolled it back already,
		// and a later statement of this batch would run, and stay, on its
		// own. Later calls fail (check, and database/sql's ErrTxDone).
		b.sqltx.Rollback()
	}
	return b.writeErr
}

// drain writes everything queued and waits for it: after it, the
// connection is the caller's alone. It returns the first error the writer
// met in this batch.
func (b *Batch) drain() error {
	if len(b.q.stmts) > 0 {
		if err := b.submit(); err != nil {
			return err
		}
	}
	return b.wait()
}

// stopWriter ends the writer goroutine; the batch has drained.
func (b *Batch) stopWriter() {
	if b.writer == nil {
		return
	}
	if b.inFlight {
		b.wait()
	}
	close(b.writer.work)
	for range b.writer.results {
	}
	b.writer = nil
}
