package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestCheckpointCommitsWithRows(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx := context.Background()
	head := sha256.Sum256([]byte("Mar  1 12:00:00 mx postfix/qmgr[1]: first line\n"))
	src := Source{Path: "/var/log/mail.log", Host: "mx", HeadHash: head[:], HeadLen: 48, Offset: 4096, Lines: 40,
		Size: 8192, MTime: t0, FirstRead: t0, LastRead: t0}

	// Rolled back: neither the rows nor the checkpoint.
	b := must[*Batch](t)(db.Begin(ctx))
	must[int64](t)(b.AddDelivery(Delivery{Time: t0, Recipient: "a@example.com", Outcome: OutcomeDelivered, Final: true}))
	must[int64](t)(b.SetSource(src))
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM deliveries`) + count(t, db, `SELECT count(*) FROM sources`); n != 0 {
		t.Fatalf("rollback left %d rows", n)
	}
	if _, ok, err := db.FindSource(ctx, head[:], 48); ok || err != nil {
		t.Fatalf("FindSource after rollback: %v, %v", ok, err)
	}

	// Committed: both, and the checkpoint is found by content.
	var id int64
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.AddDelivery(Delivery{Time: t0, Recipient: "a@example.com", Outcome: OutcomeDelivered, Final: true}))
		id = must[int64](t)(b.SetSource(src))
	})
	got, ok, err := db.FindSource(ctx, head[:], 48)
	if err != nil || !ok {
		t.Fatalf("FindSource: %v, %v", ok, err)
	}
	src.ID = id
	if got.ID != src.ID || got.Offset != src.Offset || got.Lines != src.Lines || !bytes.Equal(got.HeadHash, src.HeadHash) ||
		!got.MTime.Equal(src.MTime) || got.Path != src.Path || got.Host != src.Host {
		t.Errorf("FindSource = %+v\nwant %+v", got, src)
	}
	if _, ok, _ := db.FindSource(ctx, head[:], 47); ok {
		t.Error("FindSource matched a different head length")
	}

	// The rotated, compressed file updates the same row.
	withBatch(t, db, func(b *Batch) {
		src.Path, src.Offset = "/var/log/mail.log.1.gz", 9000
		must[int64](t)(b.SetSource(src))
	})
	got, _, _ = db.FindSource(ctx, head[:], 48)
	if got.Offset != 9000 || got.Path != "/var/log/mail.log.1.gz" || count(t, db, `SELECT count(*) FROM sources`) != 1 {
		t.Errorf("after update: %+v", got)
	}
	byPath, ok, err := db.FindSourceByPath(ctx, "/var/log/mail.log.1.gz")
	if err != nil || !ok || byPath.ID != id {
		t.Errorf("FindSourceByPath: %+v, %v, %v", byPath, ok, err)
	}
}

func TestDictionaryCache(t *testing.T) {
	db, _ := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		for i := range 100 {
			must[int64](t)(b.AddDelivery(Delivery{Host: "mx1", Time: t0.Add(time.Duration(i) * time.Second),
				Recipient: "u@Example.COM", Relay: "mx.example.com[192.0.2.1]:25", Outcome: OutcomeDelivered}))
		}
	})
	if n := count(t, db, `SELECT count(*) FROM domains`); n != 1 {
		t.Errorf("domains: %d rows, want 1 (lower-cased, cached)", n)
	}
	if n := count(t, db, `SELECT count(*) FROM domains WHERE name = 'example.com'`); n != 1 {
		t.Error("domain not stored in lower case")
	}
	if len(db.domains.ids) != 1 || len(db.hosts.ids) != 1 || len(db.relays.ids) != 1 {
		t.Errorf("cache sizes %d %d %d, want 1 each", len(db.domains.ids), len(db.hosts.ids), len(db.relays.ids))
	}

	// A rolled-back batch must not leave ids of vanished rows in the cache.
	b := must[*Batch](t)(db.Begin(context.Background()))
	must[int64](t)(b.AddDelivery(Delivery{Host: "mx2", Time: t0, Recipient: "u@gone.example", Outcome: OutcomeDeferred}))
	b.Rollback()
	if _, ok := db.domains.ids["gone.example"]; ok {
		t.Error("rolled-back domain still cached")
	}
	if _, ok := db.hosts.ids["mx2"]; ok {
		t.Error("rolled-back host still cached")
	}
	withBatch(t, db, func(b *Batch) {
		// Reuses rowids freed by the rollback; with a stale cache this
		// would point at the wrong domain or fail the foreign key.
		must[int64](t)(b.AddDelivery(Delivery{Host: "mx3", Time: t0, Recipient: "u@other.example", Outcome: OutcomeDeferred}))
		must[int64](t)(b.AddDelivery(Delivery{Host: "mx2", Time: t0, Recipient: "u@gone.example", Outcome: OutcomeDeferred}))
	})
	if n := count(t, db, `SELECT count(*) FROM v_deliveries WHERE domain = 'gone.example' AND host = 'mx2'`); n != 1 {
		t.Errorf("gone.example rows after re-add: %d, want 1", n)
	}

	// A new DB (a restarted process) finds the existing ids.
	db2, err := Open(context.Background(), db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	db.Close()
	withBatch(t, db2, func(b *Batch) {
		must[int64](t)(b.AddDelivery(Delivery{Host: "mx1", Time: t0, Recipient: "v@example.com", Outcome: OutcomeDelivered}))
	})
	if n := count(t, db2, `SELECT count(*) FROM domains`); n != 3 {
		t.Errorf("domains after restart: %d, want 3", n)
	}
}

func TestMessages(t *testing.T) {
	db, _ := openTest(t, Options{})
	m := Message{Host: "mx", MTA: "postfix", QueueID: "4AbCdEf", FirstSeen: t0, LastSeen: t0}
	withBatch(t, db, func(b *Batch) {
		m.ID = must[int64](t)(b.InsertMessage(m))
		m.Sender, m.HasSender, m.Size, m.NRcpt, m.MessageID = "", true, 1234, 2, "abc@host"
		m.LastSeen, m.RemovedAt = t0.Add(time.Minute), t0.Add(time.Minute)
		if err := b.UpdateMessage(m); err != nil {
			t.Fatal(err)
		}
		// The queue ID reused later is a new row; FindMessage sees it in
		// the same batch.
		m2 := Message{Host: "mx", MTA: "postfix", QueueID: "4AbCdEf", FirstSeen: t0.Add(time.Hour)}
		id2 := must[int64](t)(b.InsertMessage(m2))
		got, ok, err := b.FindMessage("mx", "4AbCdEf")
		if err != nil || !ok || got.ID != id2 {
			t.Fatalf("FindMessage = %+v, %v, %v; want id %d", got, ok, err, id2)
		}
		if _, ok, _ := b.FindMessage("other", "4AbCdEf"); ok {
			t.Error("FindMessage matched another host")
		}
		// The newest by first_seen, not by id: rows from an older log
		// read later, or without a first line, come after in id only.
		must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "4AbCdEf", FirstSeen: t0.Add(time.Minute)}))
		must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "4AbCdEf", LastSeen: t0.Add(2 * time.Hour)}))
		id5 := must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "4AbCdEf", FirstSeen: t0.Add(time.Hour)}))
		if got, _, _ := b.FindMessage("mx", "4AbCdEf"); got.ID != id5 {
			t.Errorf("FindMessage = id %d, want %d (first seen last, then highest id)", got.ID, id5)
		}
		if _, err := b.InsertMessage(Message{Host: "mx", MTA: "sendmail", QueueID: "x"}); err == nil {
			t.Error("InsertMessage accepted an unknown MTA")
		}
	})
	if n := count(t, db, `SELECT count(*) FROM v_messages WHERE sender = '' AND size = 1234 AND removed_at LIKE '2025-03-01T12:01:00%'`); n != 1 {
		t.Errorf("updated message not found through v_messages")
	}
	if n := count(t, db, `SELECT count(*) FROM messages WHERE sender IS NULL`); n != 4 {
		t.Errorf("%d messages with a NULL sender, want the 4 without a sender line", n)
	}
}

func TestCountersAndSamples(t *testing.T) {
	db, _ := openTest(t, Options{MaxSamples: 3})
	for range 2 {
		withBatch(t, db, func(b *Batch) {
			for range 5 {
				b.AddCounter("mx", "postfix/smtpd", CounterWarning, 1)
				b.AddCounter("", "exim", CounterUnknown, 2)
				must[bool](t)(b.AddUnknownSample("postfix/smtpd", "odd line", t0))
			}
		})
	}
	if n := count(t, db, `SELECT lines FROM counters WHERE program = 'postfix/smtpd' AND kind = 'warning'`); n != 10 {
		t.Errorf("warning counter = %d, want 10", n)
	}
	if n := count(t, db, `SELECT lines FROM counters WHERE program = 'exim' AND host_id IS NULL`); n != 20 {
		t.Errorf("host-less counter = %d, want 20 (one row)", n)
	}
	if n := count(t, db, `SELECT count(*) FROM unknown_samples`); n != 3 {
		t.Errorf("samples = %d, want 3", n)
	}
}

func TestBatchValidation(t *testing.T) {
	db, _ := openTest(t, Options{})
	b := must[*Batch](t)(db.Begin(context.Background()))
	defer b.Rollback()
	for _, d := range []Delivery{
		{Recipient: "a@b", Outcome: OutcomeDelivered},
		{Time: t0, Outcome: OutcomeDelivered},
		{Time: t0, Recipient: "a@b", Outcome: "sent"},
	} {
		if _, err := b.AddDelivery(d); err == nil {
			t.Errorf("AddDelivery(%+v) accepted", d)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddDelivery(Delivery{Time: t0, Recipient: "a@b", Outcome: OutcomeDelivered}); err == nil {
		t.Error("AddDelivery after Commit accepted")
	}
}

// TestCancelledBatch: cancelling the batch's context stops it at its next
// call, and nothing it added is kept, whether it runs through database/sql
// or the C statements (cstmt.go).
func TestCancelledBatch(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	b, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref := must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "4AbC", FirstSeen: t0}))
	must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Host: "mx", Time: t0, Recipient: "a@example.com", Outcome: OutcomeDelivered}))
	cancel()
	if _, err := b.AddDelivery(Delivery{Host: "mx", Time: t0, Recipient: "b@example.com", Outcome: OutcomeDelivered}); !errors.Is(err, context.Canceled) {
		t.Errorf("AddDelivery after cancel: %v, want context.Canceled", err)
	}
	if err := b.AddReject(Reject{Host: "mx", Time: t0, Recipient: "c@example.com"}); !errors.Is(err, context.Canceled) {
		t.Errorf("AddReject after cancel: %v, want context.Canceled", err)
	}
	if err := b.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit after cancel: %v, want context.Canceled", err)
	}
	for _, table := range []string{"deliveries", "messages", "rejects", "stitch_queue"} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s after a cancelled batch", n, table)
		}
	}
	// The writer goes on with the next batch, on the same statements.
	withBatch(t, db, func(b *Batch) { addDelivered(t, b, "mx", "d@example.com") })
	if n := count(t, db, `SELECT count(*) FROM deliveries`); n != 1 {
		t.Errorf("%d deliveries after the next batch, want 1", n)
	}
	// A context cancelled before Begin fails at once.
	if _, err := db.Begin(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Begin with a cancelled context: %v", err)
	}
}

// TestDictionaryAddedElsewhere: a writer that read a small dictionary
// whole inserts names it does not know without looking them up; a name
// another process (here another DB on the same file) added since is found
// after the insert fails, and both use one id.
func TestDictionaryAddedElsewhere(t *testing.T) {
	db, path := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) { addDelivered(t, b, "mx", "a@first.example") })
	if !db.domains.complete {
		t.Fatal("the small domains table was not read whole")
	}
	inOtherProcess(t, path, func(b *Batch) { addDelivered(t, b, "mx", "b@second.example") })
	withBatch(t, db, func(b *Batch) {
		addDelivered(t, b, "mx", "c@second.example")
		addDelivered(t, b, "mx", "d@third.example")
	})
	if n := count(t, db, `SELECT count(*) FROM domains`); n != 3 {
		t.Errorf("%d domains, want 3", n)
	}
	if n := count(t, db, `SELECT count(DISTINCT domain_id) FROM deliveries WHERE recipient IN ('b@second.example', 'c@second.example')`); n != 1 {
		t.Errorf("second.example has %d ids", n)
	}
}

// TestDictionaryBounded: a dictionary that outgrows its memory forgets the
// names and looks them up again; every attempt keeps its own domain.
func TestDictionaryBounded(t *testing.T) {
	defer func(n int) { dictCacheMax = n }(dictCacheMax)
	dictCacheMax = 3
	db, _ := openTest(t, Options{})
	for range 2 {
		withBatch(t, db, func(b *Batch) {
			for i := range 10 {
				addDelivered(t, b, "mx", fmt.Sprintf("u@d%d.example", i))
			}
		})
		if n := len(db.domains.ids); n > dictCacheMax {
			t.Errorf("%d domains remembered, want at most %d", n, dictCacheMax)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM domains`); n != 10 {
		t.Errorf("%d domains stored, want 10", n)
	}
	if n := count(t, db, `SELECT count(*) FROM v_deliveries WHERE domain = substr(recipient, 3)`); n != 20 {
		t.Errorf("%d of 20 attempts have their recipient's domain", n)
	}
}

// Two writers that read one source from the same row: the second to commit
// finds the row moved (Source.Expect) and must not commit its rows.
func TestSetSourceExpect(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx := context.Background()
	head := sha256.Sum256([]byte("first line\n"))
	src := Source{Path: "/var/log/mail.log", HeadHash: head[:], HeadLen: 11, Offset: 100, Lines: 1}
	withBatch(t, db, func(b *Batch) { src.ID = must[int64](t)(b.SetSource(src)) })
	seen := &SourceMark{Offset: 100}
	// The first writer reads on to 200 and commits.
	first := src
	first.Offset, first.Expect = 200, seen
	withBatch(t, db, func(b *Batch) { must[int64](t)(b.SetSource(first)) })
	// The second read from 100 too.
	second := src
	second.Offset, second.Expect = 250, seen
	b := must[*Batch](t)(db.Begin(ctx))
	defer b.Rollback()
	if _, err := b.SetSource(second); !errors.Is(err, ErrSourceMoved) {
		t.Errorf("the second writer's commit: %v, want ErrSourceMoved", err)
	}
	// With what it committed last, the first goes on.
	first.Offset, first.Expect = 300, &SourceMark{Offset: 200}
	if _, err := b.SetSource(first); err != nil {
		t.Errorf("the first writer again: %v", err)
	}
}
