package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestQueuedRowsVisible: rows queued for the writer goroutine are seen by
// every read in the same batch, in order, across several full queues.
func TestQueuedRowsVisible(t *testing.T) {
	db, _ := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		n := 3*queueRows + 7
		for i := range n {
			ref := must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: fmt.Sprint("Q", i), FirstSeen: t0}))
			id := must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Host: "mx", Time: t0,
				Recipient: fmt.Sprintf("u%d@d%d.example", i, i%50), Outcome: OutcomeDeferred}))
			if i%97 == 0 {
				// A read right after: the row must be there.
				var got int64
				if err := b.txn().QueryRow(`SELECT count(*) FROM deliveries WHERE id = ? AND message_ref = ?`, id, ref).Scan(&got); err != nil || got != 1 {
					t.Fatalf("row %d not visible to the batch: %d, %v", i, got, err)
				}
				m, ok, err := b.FindMessage("mx", fmt.Sprint("Q", i))
				if err != nil || !ok || m.ID != ref {
					t.Fatalf("FindMessage(Q%d) = %+v, %v, %v; want id %d", i, m, ok, err, ref)
				}
				p := must[[]Delivery](t)(b.PendingRecipients(ref))
				if len(p) != 1 {
					t.Fatalf("PendingRecipients(%d) = %v", ref, p)
				}
			}
		}
		if _, ok, _ := b.FindMessage("mx", "never"); ok {
			t.Error("FindMessage found a queue ID never written")
		}
	})
	if n := count(t, db, `SELECT count(*) FROM deliveries`); n != 3*queueRows+7 {
		t.Errorf("%d deliveries stored", n)
	}
	if n := count(t, db, `SELECT count(DISTINCT domain_id) FROM deliveries`); n != 50 {
		t.Errorf("%d domains used, want 50", n)
	}
	verifyRollup(t, db)
	// Committed messages are found through the read-only connection.
	withBatch(t, db, func(b *Batch) {
		if _, ok, err := b.FindMessage("mx", "Q5"); !ok || err != nil {
			t.Errorf("FindMessage of a committed message: %v, %v", ok, err)
		}
	})
}

// TestQueuedRowFails: a row the writer goroutine cannot write fails the
// batch at its next call or at Commit, and nothing of the batch is kept.
func TestQueuedRowFails(t *testing.T) {
	db, _ := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.InsertMessage(Message{ID: 5, Host: "mx", MTA: "postfix", QueueID: "A"}))
	})
	b, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	must[int64](t)(b.AddDelivery(Delivery{Host: "mx", Time: t0, Recipient: "a@example.com", Outcome: OutcomeDelivered}))
	// The same message id again: the queued insert fails in SQLite.
	if _, err := b.InsertMessage(Message{ID: 5, Host: "mx", MTA: "postfix", QueueID: "B"}); err != nil {
		t.Fatalf("queueing returned %v; the failure comes later", err)
	}
	err = b.Commit()
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrConstraint || !strings.Contains(err.Error(), "insert message") {
		t.Fatalf("Commit = %v, want the constraint error of the queued message insert", err)
	}
	if n := count(t, db, `SELECT count(*) FROM deliveries`); n != 0 {
		t.Errorf("%d deliveries kept from the failed batch", n)
	}
	if n := count(t, db, `SELECT count(*) FROM messages`); n != 1 {
		t.Errorf("%d messages, want the first batch's one", n)
	}
	// The next batch works, with the same statements.
	withBatch(t, db, func(b *Batch) { addDelivered(t, b, "mx", "b@example.com") })
	if n := count(t, db, `SELECT count(*) FROM deliveries`); n != 1 {
		t.Errorf("%d deliveries after the next batch, want 1", n)
	}
}

// TestRollbackWithQueuedRows: rolling back a batch whose rows are still
// queued or being written keeps none of them, and the ids it handed out
// are given again.
func TestRollbackWithQueuedRows(t *testing.T) {
	db, _ := openTest(t, Options{})
	b, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var first int64
	for i := range queueRows + 10 {
		id := must[int64](t)(b.AddDelivery(Delivery{Host: "mx", Time: t0, Recipient: fmt.Sprintf("u%d@new%d.example", i, i), Outcome: OutcomeDelivered}))
		if i == 0 {
			first = id
		}
	}
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"deliveries", "domains", "hosts"} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s after rollback", n, table)
		}
	}
	withBatch(t, db, func(b *Batch) {
		if id := must[int64](t)(b.AddDelivery(Delivery{Host: "mx", Time: t0, Recipient: "x@new3.example", Outcome: OutcomeDelivered})); id != first {
			t.Errorf("first id after rollback %d, want %d again", id, first)
		}
	})
	if n := count(t, db, `SELECT count(*) FROM domains WHERE name = 'new3.example'`); n != 1 {
		t.Errorf("new3.example stored %d times", n)
	}
	verifyRollup(t, db)
}

// TestDictionaryAfterRollback: a batch that added a host is rolled back,
// another process then adds a host; this process knows that host at its
// next batch (its dictionary goes back to what it knew before the
// rolled-back batch, and reads what is above).
func TestDictionaryAfterRollback(t *testing.T) {
	db, path := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) { addDelivered(t, b, "a", "x@d.example") })
	b, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	addDelivered(t, b, "b", "x@d.example")
	b.Rollback()
	inOtherProcess(t, path, func(b *Batch) { addDelivered(t, b, "c", "x@d.example") })
	withBatch(t, db, func(b *Batch) {
		addDelivered(t, b, "c", "y@d.example")
		addDelivered(t, b, "b", "y@d.example")
	})
	if n := count(t, db, `SELECT count(*) FROM hosts`); n != 3 {
		t.Errorf("%d hosts, want a, c and b", n)
	}
	if n := count(t, db, `SELECT count(DISTINCT host_id) FROM deliveries`); n != 3 {
		t.Errorf("deliveries name %d hosts, want 3", n)
	}
}

// TestNothingKeptAfterWriterFailure: after a queued row fails in a way that
// makes SQLite roll the whole transaction back (a full disk or an I/O error
// does; a trigger's RAISE(ROLLBACK) stands in for them here), nothing the
// batch does afterwards is kept on its own.
func TestNothingKeptAfterWriterFailure(t *testing.T) {
	db, path := openTest(t, Options{})
	other, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(`CREATE TRIGGER boom BEFORE INSERT ON deliveries WHEN NEW.recipient = 'boom@example.com'
		BEGIN SELECT RAISE(ROLLBACK, 'the transaction is gone'); END`); err != nil {
		t.Fatal(err)
	}
	other.Close()
	b, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Rollback()
	addDelivered(t, b, "mx", "boom@example.com")
	// Its drain meets the error; the sample must not be written alone.
	if _, err := b.AddUnknownSample("postfix/smtpd", "a line", t0); err == nil {
		t.Error("AddUnknownSample after the failure succeeded")
	}
	if _, err := b.AddDelivery(Delivery{Host: "mx", Time: t0, Recipient: "later@new.example", Outcome: OutcomeDelivered}); err == nil {
		t.Error("AddDelivery after the failure succeeded")
	}
	if err := b.Commit(); err == nil {
		t.Fatal("Commit succeeded")
	}
	for _, table := range []string{"unknown_samples", "deliveries", "domains", "hosts"} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s kept from the failed batch", n, table)
		}
	}
}

// TestMessageIDsOfAnotherWriter: ids another writer (tail beside ingest)
// handed out, stored or still only reserved, are not handed out again.
func TestMessageIDsOfAnotherWriter(t *testing.T) {
	db, path := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "A1", FirstSeen: t0}))
	})
	var reserved int64
	inOtherProcess(t, path, func(b *Batch) {
		must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "B1", FirstSeen: t0}))
		// Reserved, its row not written yet (the message is in flight).
		reserved = must[int64](t)(b.ReserveMessageID())
	})
	withBatch(t, db, func(b *Batch) {
		id := must[int64](t)(b.ReserveMessageID())
		if id <= reserved {
			t.Errorf("reserved id %d; the other writer has stored or reserved up to %d", id, reserved)
		}
	})
}
