package store

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// chainLegs stores the two legs of messages that crossed two of our hosts:
// the edge's attempts, accepted by the hub with its queue ID in the reply,
// and the hub's messages under those IDs with their own final attempts.
type chainLeg func(t *testing.T, b *Batch)

func edgeLeg(qid, mid, hubID string, at time.Time) chainLeg {
	return func(t *testing.T, b *Batch) {
		m := must[int64](t)(b.InsertMessage(Message{Host: "edge", MTA: "postfix", QueueID: qid, MessageID: mid,
			Sender: "a@example.net", HasSender: true, FirstSeen: at.Add(-2 * time.Second), LastSeen: at}))
		for _, rcpt := range []string{"x@gmail.example", "y@corp.example"} {
			must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "edge", Time: at, Recipient: rcpt,
				Relay: "hub.example[10.0.0.2]:25", Code: 250, Reply: "250 OK id=" + hubID, RemoteID: hubID,
				Outcome: OutcomeDelivered, Final: true}))
		}
	}
}

func hubLeg(hubID, mid string, at time.Time, corpOutcome string) chainLeg {
	return func(t *testing.T, b *Batch) {
		m := must[int64](t)(b.InsertMessage(Message{Host: "hub", MTA: "exim", QueueID: hubID, MessageID: mid,
			Sender: "a@example.net", HasSender: true, Client: "edge.example [10.0.0.1]", FirstSeen: at.Add(-time.Second), LastSeen: at.Add(time.Minute)}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "hub", Time: at.Add(time.Second), Recipient: "x@gmail.example",
			Relay: "mx.gmail.example[192.0.2.1]:25", Code: 250, Reply: "250 2.0.0 OK  1700000000 x12si123 - gsmtp", RemoteID: "x12si123",
			Outcome: OutcomeDelivered, Final: true}))
		d := Delivery{MessageRef: m, Host: "hub", Time: at.Add(2 * time.Second), Recipient: "y@corp.example",
			Relay: "mx.corp.example[192.0.2.2]:25", Outcome: corpOutcome, Final: corpOutcome != OutcomeDeferred}
		if corpOutcome == OutcomeBounced {
			d.Code, d.Enhanced, d.Reason, d.Reply = 550, "5.1.1", "user_unknown", "550 5.1.1 no such user"
		}
		must[int64](t)(b.AddDelivery(d))
	}
}

func summary(t *testing.T, db *DB) map[string]DomainRow {
	t.Helper()
	rows, err := db.DomainSummary(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]DomainRow)
	for _, r := range rows {
		r.Reasons = nil
		out[r.Domain] = r
	}
	return out
}

// TestStitchCountsOnce: a message that crossed the edge and the hub counts
// once per recipient, at the hub, whichever log comes first and whether
// the legs arrive in one batch or in two, in one process or two.
func TestStitchCountsOnce(t *testing.T) {
	at := t0.Add(time.Hour)
	legs := []chainLeg{
		edgeLeg("4DRBDj4tP9zdZLM", "m1@example.net", "1ZpCCD-0002J4-Ej", at),
		hubLeg("1ZpCCD-0002J4-Ej", "m1@example.net", at, OutcomeBounced),
		// The Message-ID unknown at the edge: the time decides.
		edgeLeg("4DRBDk0aaaaaaaa", "", "1ZpCCE-0002J5-Ab", at.Add(time.Minute)),
		hubLeg("1ZpCCE-0002J5-Ab", "m2@example.net", at.Add(time.Minute), OutcomeDelivered),
	}
	edgeFirst := []int{0, 2, 1, 3}
	hubFirst := []int{1, 3, 0, 2}
	want := map[string]DomainRow{
		"gmail.example": {Domain: "gmail.example", Recipients: 2, Delivered: 2},
		"corp.example":  {Domain: "corp.example", Recipients: 2, Delivered: 1, Bounced: 1},
	}
	for _, c := range []struct {
		name    string
		order   []int
		batches int // legs per batch
		reopen  bool
	}{
		{"edge first, one batch", edgeFirst, 4, false},
		{"edge first, batch per leg", edgeFirst, 1, false},
		{"hub first, batch per leg", hubFirst, 1, false},
		{"hub first, new process per leg", hubFirst, 1, true},
		{"edge first, new process per pair", edgeFirst, 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, path := openTest(t, Options{})
			for i := 0; i < len(c.order); i += c.batches {
				stitchBatch(t, db, func(b *Batch) {
					for _, j := range c.order[i : i+c.batches] {
						legs[j](t, b)
					}
				})
				if c.reopen {
					db.Close()
					db = must[*DB](t)(Open(context.Background(), path, Options{}))
					t.Cleanup(func() { db.Close() })
				}
			}
			got := summary(t, db)
			for d, w := range want {
				if g := got[d]; g.Recipients != w.Recipients || g.Delivered != w.Delivered || g.Bounced != w.Bounced {
					t.Errorf("%s: %+v, want %+v", d, g, w)
				}
			}
			if n := count(t, db, `SELECT count(*) FROM message_links`); n != 4 {
				t.Errorf("%d links, want 4", n)
			}
			if n := count(t, db, `SELECT count(*) FROM deliveries WHERE host_id = (SELECT id FROM hosts WHERE name = 'edge') AND outcome <> 'hop'`); n != 0 {
				t.Errorf("%d edge attempts still counted as deliveries", n)
			}
			verifyRollup(t, db)
		})
	}
}

// TestStitchLeavesStrangersAlone: replies that name a queue ID we also
// have, but of another message (another Message-ID, or hours apart with
// no Message-ID to compare), and IDs of servers that are not ours, stay
// deliveries.
func TestStitchLeavesStrangersAlone(t *testing.T) {
	at := t0.Add(time.Hour)
	db, _ := openTest(t, Options{})
	stitchBatch(t, db, func(b *Batch) {
		edgeLeg("4DRBDj4tP9zdZLM", "m1@example.net", "ABCDEF1234", at)(t, b)
		hubLeg("ABCDEF1234", "other@example.net", at, OutcomeDelivered)(t, b)
		edgeLeg("4DRBDk0aaaaaaaa", "", "BCDEF12345", at)(t, b)
		hubLeg("BCDEF12345", "m2@example.net", at.Add(3*time.Hour), OutcomeDelivered)(t, b)
		edgeLeg("4DRBDk1bbbbbbbb", "m3@example.net", "x12si999", at)(t, b)
	})
	if n := count(t, db, `SELECT count(*) FROM message_links`); n != 0 {
		t.Errorf("%d links, want none", n)
	}
	if n := count(t, db, `SELECT count(*) FROM deliveries WHERE outcome = 'hop'`); n != 0 {
		t.Errorf("%d hops, want none", n)
	}
	verifyRollup(t, db)
}

// TestStitchUpgrade: a database written before stitching existed (its
// legs stored, unlinked) is stitched at the first commit after the
// upgrade, and a forward that kept its new queue ID only in
// next_queue_id is linked too.
func TestStitchUpgrade(t *testing.T) {
	at := t0.Add(time.Hour)
	db, _ := openTest(t, Options{})
	stitchBatch(t, db, func(b *Batch) {
		edgeLeg("4DRBDj4tP9zdZLM", "m1@example.net", "1ZpCCD-0002J4-Ej", at)(t, b)
		hubLeg("1ZpCCD-0002J4-Ej", "m1@example.net", at, OutcomeDelivered)(t, b)
		m := must[int64](t)(b.InsertMessage(Message{Host: "hub", MTA: "postfix", QueueID: "4H1bYt5ZJvz9sR9", FirstSeen: at, LastSeen: at}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "hub", Time: at, Recipient: "bob@local.example", Relay: "local",
			Reply: "forwarded as 4H1bYt6Kq2z9sRB", NextQueueID: "4H1bYt6Kq2z9sRB", Outcome: OutcomeDelivered, Final: true}))
		f := must[int64](t)(b.InsertMessage(Message{Host: "hub", MTA: "postfix", QueueID: "4H1bYt6Kq2z9sRB", FirstSeen: at, LastSeen: at}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: f, Host: "hub", Time: at.Add(time.Second), Recipient: "bob@gmail.example",
			Relay: "mx.gmail.example[192.0.2.1]:25", Outcome: OutcomeDelivered, Final: true}))
	})
	// Undo the hops the first stitch made, rollups included (the links
	// stay for now, so the commit stitches nothing again).
	withBatch(t, db, func(b *Batch) {
		rows := must[[]int64](t)(idsOf(b, `SELECT id FROM deliveries WHERE outcome = 'hop'`))
		for _, id := range rows {
			var ref int64
			var rcpt string
			if err := b.txn().QueryRow(`SELECT message_ref, recipient FROM deliveries WHERE id = ?`, id).Scan(&ref, &rcpt); err != nil {
				t.Fatal(err)
			}
			nref := nullRef(ref)
			if err := b.rollupRows(id, nref, rcpt, -1); err != nil {
				t.Fatal(err)
			}
			if _, err := b.txn().Exec(`UPDATE deliveries SET outcome = 'delivered', final = 1 WHERE id = ?`, id); err != nil {
				t.Fatal(err)
			}
			if err := b.rollupRows(id, nref, rcpt, 1); err != nil {
				t.Fatal(err)
			}
		}
	})
	// Back to how a version 2 database was: no links, no remote ID on
	// forwards, nothing to stitch.
	w := db.writer
	for _, q := range []string{
		`DELETE FROM message_links`,
		`UPDATE deliveries SET remote_id = NULL WHERE next_queue_id IS NOT NULL AND reply LIKE 'forwarded as %'`,
		`DELETE FROM schema_migrations WHERE version >= 5`,
		`DROP TRIGGER IF EXISTS stitch_new_message`, `DROP TABLE id_counters`, `DROP TABLE stitch_queue`, `DROP TABLE stitch_state`, `DROP TABLE message_links`,
		`DROP INDEX messages_queue`,
		`DROP VIEW v_domain_summary`, `CREATE VIEW v_domain_summary AS SELECT 1 AS placeholder`, // version 10 makes it again
		`DROP VIEW v_deliveries`, `ALTER TABLE deliveries DROP COLUMN remote_name`, `ALTER TABLE sources DROP COLUMN cursor`, `ALTER TABLE sources DROP COLUMN reader`,
		`CREATE VIEW v_deliveries AS SELECT 1 AS placeholder`, // version 5 makes it again
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM deliveries WHERE outcome = 'hop'`); n != 0 {
		t.Fatalf("%d hops left before the upgrade", n)
	}
	// The rollups' queries read message_links (empty in such a database).
	if _, err := w.Exec(`CREATE TABLE message_links (delivery_id INTEGER PRIMARY KEY, from_ref INTEGER, to_ref INTEGER)`); err != nil {
		t.Fatal(err)
	}
	verifyRollup(t, db)
	if _, err := w.Exec(`DROP TABLE message_links`); err != nil {
		t.Fatal(err)
	}
	// Opening it, as a report would, upgrades and stitches.
	db.Close()
	db = must[*DB](t)(Open(context.Background(), db.Path(), Options{}))
	t.Cleanup(func() { db.Close() })
	if n := count(t, db, `SELECT count(*) FROM message_links`); n != 3 {
		t.Errorf("%d links, want 3 (two recipients handed to the hub, one forward)", n)
	}
	got := summary(t, db)
	if g := got["gmail.example"]; g.Recipients != 2 || g.Delivered != 2 {
		t.Errorf("gmail.example: %+v, want 2 recipients delivered", g)
	}
	if g := got["local.example"]; g.Recipients != 0 {
		t.Errorf("local.example: %+v, want the forward counted as a hop", g)
	}
	verifyRollup(t, db)
}

// stitchBatch is withBatch with a stitch before the commit.
func stitchBatch(t testing.TB, db *DB, f func(b *Batch)) {
	t.Helper()
	withBatch(t, db, func(b *Batch) {
		f(b)
		if err := b.stitch(); err != nil {
			t.Fatal(err)
		}
	})
}

func nullRef(ref int64) sql.NullInt64 { return sql.NullInt64{Int64: ref, Valid: true} }

func idsOf(b *Batch, query string) ([]int64, error) {
	rows, err := b.txn().Query(query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// TestStitchLeftUndone: stitching that was not done (a bulk load
// interrupted while it stitched) is done by the next Open.
func TestStitchLeftUndone(t *testing.T) {
	db, path := openTest(t, Options{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	db.stitchDeferred = true
	withBatch(t, db, func(b *Batch) {
		edgeLeg("E1", "<m1@x>", "1hub-AAAAAA-00", at)(t, b)
		hubLeg("1hub-AAAAAA-00", "<m1@x>", at, OutcomeDelivered)(t, b)
	})
	if n := count(t, db, `SELECT count(*) FROM message_links`); n != 0 {
		t.Fatalf("%d links with stitching deferred", n)
	}
	db.Close()
	db = must[*DB](t)(Open(context.Background(), path, Options{}))
	t.Cleanup(func() { db.Close() })
	if n := count(t, db, `SELECT count(*) FROM message_links`); n != 2 {
		t.Errorf("%d links after Open, want the edge's 2 attempts linked", n)
	}
	if g := summary(t, db)["gmail.example"]; g.Recipients != 1 || g.Delivered != 1 {
		t.Errorf("gmail.example: %+v, want 1 recipient delivered (counted at the hub)", g)
	}
	verifyRollup(t, db)
}

// TestStitchInChunks: stitching the attempts a few ids at a time links
// the same legs as all at once.
func TestStitchInChunks(t *testing.T) {
	defer func(n int64) { stitchChunk = n }(stitchChunk)
	stitchChunk = 1
	db, _ := openTest(t, Options{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	db.stitchDeferred = true
	withBatch(t, db, func(b *Batch) {
		for i, hub := range []string{"1hub-AAAAAA-00", "1hub-BBBBBB-00", "1hub-CCCCCC-00"} {
			mid := fmt.Sprintf("<m%d@x>", i)
			edgeLeg(fmt.Sprint("E", i), mid, hub, at.Add(time.Duration(i)*time.Minute))(t, b)
			hubLeg(hub, mid, at.Add(time.Duration(i)*time.Minute), OutcomeDelivered)(t, b)
		}
	})
	if err := db.stitchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM message_links`); n != 6 {
		t.Errorf("%d links, want the edge's 6 attempts linked", n)
	}
	if g := summary(t, db)["gmail.example"]; g.Recipients != 3 || g.Delivered != 3 {
		t.Errorf("gmail.example: %+v, want 3 recipients delivered, counted at the hub", g)
	}
	verifyRollup(t, db)
}

// TestHopLinkedWithAttempt: a hop whose next message the caller names
// (Delivery.NextMessageRef) is linked as it is stored, and stitching
// leaves it: even where another host's message under the same queue ID
// would be nearer in time.
func TestHopLinkedWithAttempt(t *testing.T) {
	db, _ := openTest(t, Options{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var hop, next int64
	withBatch(t, db, func(b *Batch) {
		from := must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "1A1A1A1A1A", FirstSeen: at, LastSeen: at}))
		next = must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "2B2B2B2B2B", FirstSeen: at.Add(-time.Minute), LastSeen: at}))
		must[int64](t)(b.InsertMessage(Message{Host: "other", MTA: "postfix", QueueID: "2B2B2B2B2B", FirstSeen: at, LastSeen: at}))
		hop = must[int64](t)(b.AddDelivery(Delivery{MessageRef: from, Host: "mx", Time: at, Recipient: "u@b.example",
			Relay: "127.0.0.1[127.0.0.1]:10025", Code: 250, Reply: "250 2.0.0 Ok: queued as 2B2B2B2B2B",
			RemoteID: "2B2B2B2B2B", NextQueueID: "2B2B2B2B2B", Outcome: OutcomeHop, NextMessageRef: next}))
		var to int64
		if err := b.txn().QueryRowContext(b.ctx, `SELECT to_ref FROM message_links WHERE delivery_id = ?`, hop).Scan(&to); err != nil || to != next {
			t.Errorf("in the batch: link to %d (%v), want %d", to, err, next)
		}
	})
	if n := count(t, db, `SELECT count(*) FROM message_links WHERE delivery_id = ? AND to_ref = ?`, hop, next); n != 1 {
		t.Errorf("after commit: %d links of the hop to its next message, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM message_links`); n != 1 {
		t.Errorf("%d links, want 1", n)
	}
	verifyRollup(t, db)
}

// TestBulkLoadQueuesNothing: while no attempt has been stitched, as in a
// first bulk load, new messages are not queued for stitching (the end's
// stitch matches every attempt against every message), and legs that came
// in different batches are linked all the same.
func TestBulkLoadQueuesNothing(t *testing.T) {
	db, _ := openTest(t, Options{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	db.stitchDeferred = true
	hubs := []string{"1hub-AAAAAA-00", "1hub-BBBBBB-00", "1hub-CCCCCC-00"}
	withBatch(t, db, func(b *Batch) {
		for i, hub := range hubs {
			hubLeg(hub, fmt.Sprintf("<m%d@x>", i), at.Add(time.Duration(i)*time.Minute), OutcomeDelivered)(t, b)
		}
	})
	withBatch(t, db, func(b *Batch) {
		for i, hub := range hubs {
			edgeLeg(fmt.Sprint("E", i), fmt.Sprintf("<m%d@x>", i), hub, at.Add(time.Duration(i)*time.Minute))(t, b)
		}
	})
	if n := count(t, db, `SELECT count(*) FROM stitch_queue`); n != 0 {
		t.Errorf("%d messages queued while nothing was stitched, want 0", n)
	}
	if err := db.stitchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM message_links`); n != 6 {
		t.Errorf("%d links, want the edge's 6 attempts linked", n)
	}
	// Stitched once: from now on new messages are queued (and, stitching
	// deferred again, left in the queue).
	db.stitchDeferred = true
	withBatch(t, db, func(b *Batch) {
		hubLeg("1hub-DDDDDD-00", "<m9@x>", at.Add(time.Hour), OutcomeDelivered)(t, b)
	})
	if n := count(t, db, `SELECT count(*) FROM stitch_queue`); n != 1 {
		t.Errorf("%d messages queued after a stitch, want 1", n)
	}
	verifyRollup(t, db)
}
