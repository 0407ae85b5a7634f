package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func verifyRollup(t *testing.T, db *DB) {
	t.Helper()
	if err := db.VerifyRollup(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// moreHistory adds attempts in later batches and hours: messages of an
// earlier batch (read back from deliveries when the writer's memory is
// fresh), a recipient decided hours after its first deferral, one marked
// final afterwards, and attempts without a message.
func moreHistory(t *testing.T, db *DB) *DB {
	hour := func(h int, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	var m8, pending int64
	withBatch(t, db, func(b *Batch) {
		m8 = must[int64](t)(b.InsertMessage(Message{Host: "mx2", MTA: "exim", QueueID: "Q8", Sender: "x@Other.Sender", HasSender: true}))
		for i, rcpt := range []string{"p@example.com", "q@example.com", "r@other.org"} {
			must[int64](t)(b.AddDelivery(Delivery{MessageRef: m8, Host: "mx2", Time: hour(1, 10+i), Recipient: rcpt,
				Relay: "mx2.example.com[192.0.2.2]:25", Outcome: OutcomeDeferred, Reason: "greylisted"}))
		}
		pending = must[int64](t)(b.AddDelivery(Delivery{MessageRef: m8, Host: "mx2", Time: hour(2, 5), Recipient: "q@example.com",
			Relay: "mx3.example.com[192.0.2.3]:25", Outcome: OutcomeDelivered}))
		must[int64](t)(b.AddDelivery(Delivery{Time: hour(2, 30), Recipient: "root", Outcome: OutcomeDeferred, Reason: "network_error"}))
		must[int64](t)(b.AddDelivery(Delivery{Time: hour(2, 31), Recipient: "root", Outcome: OutcomeDeferred, Reason: "network_error"}))
		// Rejects in later hours, of other hosts, with and without a
		// recipient and a reason.
		for _, r := range []Reject{
			{Host: "mx2", Time: hour(1, 5), Recipient: "p@example.com", Code: 554, Reason: "blocked", Reply: "554 5.7.1 first"},
			{Host: "mx2", Time: hour(1, 50), Recipient: "z@other.org", Code: 550, Reason: "user_unknown"},
			{Host: "mx", Time: hour(2, 15), Recipient: "p@example.com", Code: 554, Reason: "blocked", Reply: "554 5.7.1 later"},
			{Time: hour(3, 20), Client: "bad[198.51.100.2]", Stage: "CONNECT", Code: 554},
			{Host: "mx2", Time: hour(3, 40), Recipient: "q@example.com", Code: 450},
		} {
			if err := b.AddReject(r); err != nil {
				t.Fatal(err)
			}
		}
	})
	// A new process: the writer remembers nothing of Q8.
	db.Close()
	db2, err := Open(context.Background(), db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	db = db2
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m8, Host: "mx2", Time: hour(3, 0), Recipient: "p@example.com",
			Relay: "mx2.example.com[192.0.2.2]:25", Outcome: OutcomeDelivered, Final: true, SenderDomain: "other.sender"}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m8, Host: "mx2", Time: hour(3, 1), Recipient: "r@other.org",
			Relay: "mx4.other.org[192.0.2.4]:25", Outcome: OutcomeDeferred, Reason: "mailbox_full", SenderDomain: "other.sender"}))
		if err := b.MarkFinal(pending); err != nil {
			t.Fatal(err)
		}
	})
	return db
}

// moreDays adds attempts and rejects on the days after moreHistory's: a
// recipient deferred on one day and decided two days later, one decided
// the next day, a message of an earlier day attempted again, attempts
// marked final a day later, and rejects on every day.
func moreDays(t *testing.T, db *DB) *DB {
	at := func(d, h, m int) time.Time {
		return t0.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	var m9, late int64
	withBatch(t, db, func(b *Batch) {
		m9 = must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "Q9", Sender: "y@Day.Sender", HasSender: true}))
		for i, rcpt := range []string{"d1@example.com", "d2@example.com", "d3@other.org"} {
			must[int64](t)(b.AddDelivery(Delivery{MessageRef: m9, Host: "mx", Time: at(1, 1, i), Recipient: rcpt,
				Relay: "mx2.example.com[192.0.2.2]:25", Outcome: OutcomeDeferred, Reason: "greylisted"}))
		}
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m9, Host: "mx", Time: at(1, 13, 0), Recipient: "d1@example.com",
			Relay: "mx2.example.com[192.0.2.2]:25", Outcome: OutcomeDelivered, Final: true}))
		late = must[int64](t)(b.AddDelivery(Delivery{MessageRef: m9, Host: "mx", Time: at(2, 2, 0), Recipient: "d2@example.com",
			Relay: "mx3.example.com[192.0.2.3]:25", Outcome: OutcomeBounced, Reason: "user_unknown"}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m9, Host: "mx", Time: at(3, 4, 0), Recipient: "d3@other.org",
			Relay: "mx4.other.org[192.0.2.4]:25", Outcome: OutcomeExpired, Final: true, Reason: "mailbox_full"}))
		must[int64](t)(b.AddDelivery(Delivery{Time: at(2, 6, 0), Recipient: "root", Outcome: OutcomeDeferred, Reason: "network_error"}))
		for d := range 4 {
			for i, r := range []Reject{
				{Host: "mx2", Time: at(d, 11, 30), Recipient: "p@example.com", Code: 554, Reason: "blocked"},
				{Host: "mx", Time: at(d, 23, 50), Recipient: "z@other.org", Code: 550, Reason: "user_unknown"},
				{Time: at(d, 0, 10), Client: "bad[198.51.100.2]", Stage: "CONNECT", Code: 554},
			} {
				if d == 0 && i == 0 {
					continue
				}
				if err := b.AddReject(r); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	db.Close()
	db2, err := Open(context.Background(), db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	db = db2
	withBatch(t, db, func(b *Batch) {
		// An earlier day's message again, in a new process.
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m9, Host: "mx", Time: at(3, 20, 0), Recipient: "d2@example.com",
			Relay: "mx2.example.com[192.0.2.2]:25", Outcome: OutcomeDelivered, Final: true}))
		if err := b.MarkFinal(late); err != nil {
			t.Fatal(err)
		}
	})
	return db
}

// moreMonths adds attempts and rejects in the months before and after
// moreDays': a recipient deferred in March and decided in April, one
// deferred at the end of February, and rejects on both sides.
func moreMonths(t *testing.T, db *DB) *DB {
	march := time.Date(2025, 3, 31, 22, 30, 0, 0, time.UTC)
	april := time.Date(2025, 4, 1, 1, 15, 0, 0, time.UTC)
	feb := time.Date(2025, 2, 28, 23, 50, 0, 0, time.UTC)
	withBatch(t, db, func(b *Batch) {
		m := must[int64](t)(b.InsertMessage(Message{Host: "mx", MTA: "postfix", QueueID: "Q10", Sender: "z@Month.Sender", HasSender: true}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: feb, Recipient: "f@example.com",
			Relay: "mx2.example.com[192.0.2.2]:25", Outcome: OutcomeDeferred, Reason: "greylisted"}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: march, Recipient: "m@example.com",
			Relay: "mx2.example.com[192.0.2.2]:25", Outcome: OutcomeDeferred, Reason: "mailbox_full"}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx", Time: april, Recipient: "m@example.com",
			Relay: "mx3.example.com[192.0.2.3]:25", Outcome: OutcomeDelivered, Final: true}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: m, Host: "mx2", Time: april.Add(26 * time.Hour), Recipient: "f@example.com",
			Relay: "mx4.other.org[192.0.2.4]:25", Outcome: OutcomeBounced, Final: true, Reason: "user_unknown"}))
		for _, r := range []Reject{
			{Host: "mx2", Time: feb, Recipient: "p@example.com", Code: 554, Reason: "blocked"},
			{Host: "mx", Time: april, Recipient: "z@other.org", Code: 550, Reason: "user_unknown"},
			{Time: april.Add(50 * time.Hour), Client: "bad[198.51.100.2]", Stage: "CONNECT", Code: 554},
		} {
			if err := b.AddReject(r); err != nil {
				t.Fatal(err)
			}
		}
	})
	return db
}

func TestRollupMatchesRows(t *testing.T) {
	db, _ := openTest(t, Options{})
	buildSample(t, db)
	verifyRollup(t, db)
	db = moreHistory(t, db)
	verifyRollup(t, db)
	db = moreDays(t, db)
	verifyRollup(t, db)
	if n := count(t, db, `SELECT count(DISTINCT day) FROM delivery_days`); n < 4 {
		t.Errorf("delivery_days has %d days, want 4 or more", n)
	}
	db = moreMonths(t, db)
	verifyRollup(t, db)
	if n := count(t, db, `SELECT count(DISTINCT month) FROM delivery_months`); n != 3 {
		t.Errorf("delivery_months has %d months, want 3", n)
	}
	if n := count(t, db, `SELECT month FROM delivery_months ORDER BY month LIMIT 1`); n != 2025*12+1 {
		t.Errorf("first month %d, want %d (2025-02)", n, 2025*12+1)
	}
	if n := count(t, db, `SELECT sum(rejects) FROM reject_hours`); n != count(t, db, `SELECT count(*) FROM rejects`) || n == 0 {
		t.Errorf("reject_hours counts %d rejects", n)
	}
	if n := count(t, db, `SELECT count(*) FROM sender_hours WHERE sender_domain_id = (SELECT id FROM domains WHERE name = 'other.sender')`); n == 0 {
		t.Error("the sender domain of a message written before its attempts is not in sender_hours")
	}
}

// A batch rolled back leaves nothing in the rollups, and the writer's
// memory of messages forgets what it saw in it.
func TestRollupRollback(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx := context.Background()
	var ref int64
	withBatch(t, db, func(b *Batch) {
		ref = must[int64](t)(b.InsertMessage(Message{Host: "mx", QueueID: "Q1"}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Time: t0, Recipient: "a@example.com", Outcome: OutcomeDeferred}))
	})
	b := must[*Batch](t)(db.Begin(ctx))
	m2 := must[int64](t)(b.InsertMessage(Message{Host: "mx", QueueID: "Q2"}))
	must[int64](t)(b.AddDelivery(Delivery{MessageRef: m2, Time: t0, Recipient: "b@example.com", Outcome: OutcomeDeferred}))
	must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Time: t0.Add(time.Hour), Recipient: "a@example.com", Outcome: OutcomeDelivered, Final: true}))
	if err := b.AddReject(Reject{Host: "mx", Time: t0, Recipient: "spam@example.com", Reason: "blocked"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"reject_hours", "reject_days", "reject_months"} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s has %d rows after a rollback, want 0", table, n)
		}
	}
	for _, table := range []string{"delivery_hours", "delivery_days", "delivery_months"} {
		if n := count(t, db, `SELECT sum(attempts) FROM `+table); n != 1 {
			t.Errorf("%s counts %d attempts after a rollback, want 1", table, n)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM deferred_days WHERE decided_hour = 0`); n != 1 {
		t.Errorf("deferred_days: %d waiting rows, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM deferred_hours WHERE decided_hour = 0`); n != 1 {
		t.Errorf("deferred_hours: %d waiting rows, want 1", n)
	}
	verifyRollup(t, db)
	// The same attempt again, committed this time, is counted once.
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Time: t0.Add(time.Hour), Recipient: "a@example.com", Outcome: OutcomeDelivered, Final: true}))
	})
	verifyRollup(t, db)
	if n := count(t, db, `SELECT sum(messages) FROM delivery_hours`); n != 1 {
		t.Errorf("messages = %d, want 1", n)
	}
}

// The writer forgets the least recently used messages past maxSeenMessages;
// they are read back.
func TestRollupForgetsAndRereads(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx := context.Background()
	b := must[*Batch](t)(db.Begin(ctx))
	var refs []int64
	for i := range 10 {
		refs = append(refs, must[int64](t)(b.InsertMessage(Message{Host: "mx", QueueID: fmt.Sprintf("Q%d", i)})))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: refs[i], Time: t0, Recipient: "a@example.com", Outcome: OutcomeDeferred}))
	}
	db.forgetLeastUsed(0)
	for _, ref := range refs {
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Time: t0.Add(time.Hour), Recipient: "a@example.com", Outcome: OutcomeDeferred}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Time: t0.Add(2 * time.Hour), Recipient: "a@example.com", Outcome: OutcomeDelivered, Final: true}))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	verifyRollup(t, db)
}

// A memory of a few messages, and of few forgotten ones: the messages
// retried over hours, with many recipients, domains and relays, some
// marked final later, and the attempts of several batches, are counted as
// with an unbounded memory, and the memory stays within its bounds.
func TestRollupSmallMemory(t *testing.T) {
	defer func(seen, words int) { maxSeenMessages, maxForgottenWords = seen, words }(maxSeenMessages, maxForgottenWords)
	maxSeenMessages, maxForgottenWords = 8, 2
	db, _ := openTest(t, Options{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 1))
	// A recipient is tried until an attempt decides it, or until a
	// delivery is marked final afterwards (pending).
	type recipient struct {
		addr    string
		pending int64
		decided bool
	}
	type message struct {
		id     int64
		rcpts  []*recipient
		stored bool
	}
	var live []*message
	b := must[*Batch](t)(db.Begin(ctx))
	for step := range 3000 {
		now := t0.Add(time.Duration(step) * 37 * time.Second)
		switch r := rng.IntN(10); {
		case r < 3 || len(live) == 0:
			m := &message{id: must[int64](t)(b.ReserveMessageID())}
			n := 1 + rng.IntN(3)
			list := rng.IntN(20) == 0
			if list {
				n = deferredIndexFrom + 5
			}
			for i := range n {
				m.rcpts = append(m.rcpts, &recipient{addr: fmt.Sprintf("r%d@d%d.example", i, rng.IntN(6))})
			}
			if rng.IntN(3) == 0 { // written first: its sender is remembered
				must[int64](t)(b.InsertMessage(Message{ID: m.id, Host: "mx", QueueID: fmt.Sprintf("Q%d", m.id),
					Sender: fmt.Sprintf("s@s%d.example", rng.IntN(3)), HasSender: true}))
				m.stored = true
			}
			if list { // a list, all deferred at once: its recipients get an index
				for _, rc := range m.rcpts {
					must[int64](t)(b.AddDelivery(Delivery{MessageRef: m.id, Host: "mx", Time: now, Recipient: rc.addr,
						Relay: "relay0[192.0.2.0]:25", Outcome: OutcomeDeferred, Reason: "greylisted"}))
				}
			}
			live = append(live, m)
		case r < 8:
			m := live[rng.IntN(len(live))]
			rc := m.rcpts[rng.IntN(len(m.rcpts))]
			if rc.decided || rc.pending != 0 {
				break
			}
			d := Delivery{MessageRef: m.id, Host: "mx", Time: now, Recipient: rc.addr,
				Relay: fmt.Sprintf("relay%d[192.0.2.%d]:25", rng.IntN(3), rng.IntN(3)), Outcome: OutcomeDeferred, Reason: "greylisted"}
			switch rng.IntN(4) {
			case 0:
				d.Outcome, d.Final, d.Reason = OutcomeDelivered, true, ""
				rc.decided = true
			case 1:
				d.Outcome, d.Reason = OutcomeDelivered, "" // final once marked
			}
			id := must[int64](t)(b.AddDelivery(d))
			if d.Outcome == OutcomeDelivered && !d.Final {
				rc.pending = id
			}
		case r < 9:
			m := live[rng.IntN(len(live))]
			for _, rc := range m.rcpts {
				if rc.pending != 0 {
					if err := b.MarkFinal(rc.pending); err != nil {
						t.Fatal(err)
					}
					rc.pending, rc.decided = 0, true
					break
				}
			}
			for _, rc := range m.rcpts { // the message read again
				if !rc.decided && rc.pending == 0 {
					must[int64](t)(b.AddDelivery(Delivery{MessageRef: m.id, Host: "mx", Time: now, Recipient: rc.addr,
						Relay: "relay1[192.0.2.1]:25", Outcome: OutcomeDeferred, Reason: "greylisted"}))
					break
				}
			}
		default:
			i := rng.IntN(len(live))
			if m := live[i]; !m.stored {
				must[int64](t)(b.InsertMessage(Message{ID: m.id, Host: "mx", QueueID: fmt.Sprintf("Q%d", m.id), RemovedAt: now}))
			}
			live = append(live[:i], live[i+1:]...)
		}
		if len(db.seen) > maxSeenMessages || len(db.seenMem.forgotten) > maxForgottenWords {
			t.Fatalf("step %d: %d messages and %d words of forgotten ids in memory", step, len(db.seen), len(db.seenMem.forgotten))
		}
		if step%700 == 699 {
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			verifyRollup(t, db)
			b = must[*Batch](t)(db.Begin(ctx))
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	verifyRollup(t, db)
	if db.seenFloor == 0 {
		t.Error("the bitmap of forgotten messages never moved its floor")
	}
}

// The bitmap of forgotten messages, marked in any order, stays within
// maxForgottenWords by moving the floor, below which every id counts as
// forgotten.
func TestForgottenBitmap(t *testing.T) {
	defer func(words int) { maxForgottenWords = words }(maxForgottenWords)
	maxForgottenWords = 4
	db := &DB{newFrom: 100}
	for _, id := range []int64{300, 130, 99, 301, 100} {
		db.markForgotten(id)
	}
	for id := int64(90); id < 400; id++ {
		want := id == 300 || id == 130 || id == 301 || id == 100 // 99 was never this process's
		if got := db.forgot(id); got != want {
			t.Errorf("forgot(%d) = %v, want %v", id, got, want)
		}
	}
	db.markForgotten(1000) // past 4 words from 64: the floor moves up
	if len(db.seenMem.forgotten) > maxForgottenWords {
		t.Fatalf("%d words, want at most %d", len(db.seenMem.forgotten), maxForgottenWords)
	}
	if db.seenFloor <= 301 {
		t.Fatalf("floor %d, want above 301", db.seenFloor)
	}
	for id, want := range map[int64]bool{100: true, 200: true, 301: true, 999: false, 1000: true, 1001: false} {
		if got := db.forgot(id); got != want {
			t.Errorf("after the move: forgot(%d) = %v, want %v", id, got, want)
		}
	}
}

// reportBoth runs a report from the rollups and again from the raw rows.
func reportBoth(t *testing.T, db *DB, q ReportQuery) (rollup, raw *ReportResult) {
	t.Helper()
	ctx := context.Background()
	rollup, err := db.Report(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	rawHoursOnly = true
	defer func() { rawHoursOnly = false }()
	raw, err = db.Report(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return rollup, raw
}

// Whole hours come from the rollups, partial ones from the rows; both
// ways give the same report, whatever the window and grouping.
func TestReportRollupEqualsRows(t *testing.T) {
	db, _ := openTest(t, Options{})
	buildSample(t, db)
	db = moreHistory(t, db)
	db = moreDays(t, db)
	db = moreMonths(t, db)
	buckets := func(from time.Time, n int, d time.Duration) []Bucket {
		var bs []Bucket
		for i := range n {
			bs = append(bs, Bucket{from.Add(time.Duration(i) * d), from.Add(time.Duration(i+1) * d)})
		}
		return bs
	}
	day := 24 * time.Hour
	midnight := t0.Truncate(day)
	for _, w := range []struct{ since, until time.Time }{
		{},
		{t0, t0.Add(time.Hour)},
		{t0.Add(5 * time.Minute), t0.Add(3*time.Hour + 30*time.Minute)},
		{t0.Add(90 * time.Minute), time.Time{}},
		{time.Time{}, t0.Add(150 * time.Minute)},
		{t0.Add(10 * time.Minute), t0.Add(20 * time.Minute)},
		// Across days: whole days, the hours of the part-days and the
		// part-hours at the ends.
		{t0.Add(5 * time.Minute), t0.Add(3*day + 30*time.Minute)},
		{midnight.Add(day), midnight.Add(3 * day)},
		{midnight.Add(day - 30*time.Minute), midnight.Add(3*day + 5*time.Hour)},
		{t0.Add(-time.Hour), t0.Add(2*day - 11*time.Hour)},
		{midnight.Add(day + time.Hour), time.Time{}},
		{time.Time{}, midnight.Add(2*day + 150*time.Minute)},
		{midnight.Add(2 * day), time.Time{}},
		{time.Time{}, midnight.Add(day)},
		// Across months (moreMonths): whole months, the days of the
		// part-months, the hours of the part-days.
		{time.Date(2025, 2, 28, 12, 0, 0, 0, time.UTC), time.Date(2025, 4, 2, 3, 30, 0, 0, time.UTC)},
		{time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		{time.Time{}, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
		{time.Time{}, time.Date(2025, 4, 2, 2, 0, 0, 0, time.UTC)},
		{time.Date(2025, 3, 31, 22, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 2, 0, 0, 0, time.UTC)},
	} {
		for _, by := range []string{ByDomain, ByRelay, ByHost, BySenderDomain} {
			for _, domain := range []string{"", "example.com"} {
				for _, bs := range [][]Bucket{
					buckets(t0.Add(-time.Hour), 8, time.Hour),
					buckets(midnight, 5, day),
					buckets(midnight.Add(5*time.Hour), 5, day), // local days, not UTC ones
				} {
					q := ReportQuery{Since: w.since, Until: w.until, By: by, Domain: domain, Buckets: bs}
					rollup, raw := reportBoth(t, db, q)
					if diff := cmp.Diff(raw, rollup); diff != "" {
						t.Errorf("%v..%v by %s, domain %q, buckets from %v (-rows +rollup):\n%s", w.since, w.until, by, domain, bs[0].Start, diff)
					}
					// And the whole hours from the hourly tables only, and
					// from the hourly and daily ones only.
					for _, only := range []*bool{&hoursOnly, &daysOnly} {
						*only = true
						lower, err := db.Report(context.Background(), q)
						*only = false
						if err != nil {
							t.Fatal(err)
						}
						if diff := cmp.Diff(lower, rollup); diff != "" {
							t.Errorf("%v..%v by %s, domain %q, hoursOnly %v (-lower tiers +all tiers):\n%s",
								w.since, w.until, by, domain, only == &hoursOnly, diff)
						}
					}
				}
			}
		}
	}
}

// The daily tier is read where a window has whole days, the monthly one
// where it has whole months, and only there.
func TestTierSplit(t *testing.T) {
	const d = hoursPerDay
	day := func(y int, m time.Month, dd int) int64 {
		return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC).Unix() / 86400
	}
	month := func(y int, m time.Month) int64 { return int64(y)*12 + int64(m) - 1 }
	mar1, apr1, may1 := day(2025, 3, 1), day(2025, 4, 1), day(2025, 5, 1)
	for _, c := range []struct {
		hLo, hHi int64
		want     []segment
	}{
		{10*d + 3, 10*d + 20, []segment{{tierHours, 10*d + 3, 10*d + 20}}},
		{10*d + 3, 11*d + 20, []segment{{tierHours, 10*d + 3, 11*d + 20}}},
		{10 * d, 11 * d, []segment{{tierDays, 10, 11}}},
		{10*d + 3, 13*d + 2, []segment{{tierDays, 11, 13}, {tierHours, 10*d + 3, 11 * d}, {tierHours, 13 * d, 13*d + 2}}},
		{mar1 * d, apr1 * d, []segment{{tierMonths, month(2025, 3), month(2025, 4)}}},
		{(mar1-2)*d + 5, (may1+2)*d + 1, []segment{{tierMonths, month(2025, 3), month(2025, 5)},
			{tierDays, mar1 - 1, mar1}, {tierDays, may1, may1 + 2}, {tierHours, (mar1-2)*d + 5, (mar1 - 1) * d}, {tierHours, (may1 + 2) * d, (may1+2)*d + 1}}},
		{(mar1 + 1) * d, (apr1 + 3) * d, []segment{{tierDays, mar1 + 1, apr1 + 3}}},
		{math.MinInt64, (mar1+2)*d + 2, []segment{{tierMonths, math.MinInt64, month(2025, 3)}, {tierDays, mar1, mar1 + 2},
			{tierHours, (mar1 + 2) * d, (mar1+2)*d + 2}}},
		{(mar1+2)*d + 3, math.MaxInt64, []segment{{tierMonths, month(2025, 4), math.MaxInt64}, {tierDays, mar1 + 3, apr1},
			{tierHours, (mar1+2)*d + 3, (mar1 + 3) * d}}},
		{math.MinInt64, math.MaxInt64, []segment{{tierMonths, math.MinInt64, math.MaxInt64}}},
	} {
		got := tierSplit(c.hLo, c.hHi)
		if len(got) != len(c.want) {
			t.Errorf("tierSplit(%d, %d) = %v, want %v", c.hLo, c.hHi, got, c.want)
			continue
		}
		for i := range got {
			if got[i].tier.col != c.want[i].tier.col || got[i].lo != c.want[i].lo || got[i].hi != c.want[i].hi {
				t.Errorf("tierSplit(%d, %d)[%d] = %s %d..%d, want %s %d..%d", c.hLo, c.hHi, i,
					got[i].tier.col, got[i].lo, got[i].hi, c.want[i].tier.col, c.want[i].lo, c.want[i].hi)
			}
		}
	}
	for dd := day(1999, 12, 25); dd < day(2001, 3, 10); dd++ {
		m := monthOfDay(dd)
		if s := monthStart(m); s > dd || monthOfDay(s) != m || monthOfDay(s-1) != m-1 {
			t.Fatalf("day %d: month %d starts on day %d", dd, m, s)
		}
	}
}

// Over all time the rollups give DomainSummary's counts, which are
// computed from the rows with the definitions of version 1.
func TestReportEqualsDomainSummary(t *testing.T) {
	db, _ := openTest(t, Options{})
	buildSample(t, db)
	db = moreHistory(t, db)
	ctx := context.Background()
	res, err := db.Report(ctx, ReportQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := db.DomainSummary(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// One difference: deferrals without a message are each a recipient of
	// their own (as Delivery says); DomainSummary takes those to the same
	// address for one.
	var got []DomainRow
	for _, g := range res.Groups {
		if g.Domain != "(none)" {
			got = append(got, g.DomainRow)
		}
	}
	for i, r := range want {
		if r.Domain == "(none)" {
			want = append(want[:i], want[i+1:]...)
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Report (-DomainSummary +Report):\n%s", diff)
	}
}

// A database written by version 1 gets its rollups filled by the
// migration: the same rows as the writer keeps, the same report.
func TestMigrationBackfillsRollup(t *testing.T) {
	db, path := openTest(t, Options{})
	buildSample(t, db)
	db = moreHistory(t, db)
	ctx := context.Background()
	before, err := db.Report(ctx, ReportQuery{By: ByRelay})
	if err != nil {
		t.Fatal(err)
	}
	// Back to version 1: as an older mailbounce left it.
	if _, err := db.writer.ExecContext(ctx, `DROP TABLE delivery_hours; DROP TABLE host_hours; DROP TABLE sender_hours;
		DROP TABLE deferred_hours; DROP TABLE deferred_host_hours; DROP TABLE deferred_sender_hours; DROP TABLE reject_hours;
		DROP TABLE delivery_days; DROP TABLE host_days; DROP TABLE sender_days;
		DROP TABLE deferred_days; DROP TABLE deferred_host_days; DROP TABLE deferred_sender_days; DROP TABLE reject_days;
		`+dropMonths+`
		DELETE FROM schema_migrations WHERE version IN (2, 3)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := count(t, db, `SELECT max(version) FROM schema_migrations`); v != int64(SchemaVersion()) {
		t.Fatalf("schema version %d after upgrade", v)
	}
	if n := count(t, db, `SELECT count(*) FROM delivery_hours`); n == 0 {
		t.Fatal("no rollup rows after the upgrade")
	}
	if n := count(t, db, `SELECT count(*) FROM reject_hours`); n == 0 {
		t.Fatal("no reject_hours rows after the upgrade")
	}
	verifyRollup(t, db)
	after, err := db.Report(ctx, ReportQuery{By: ByRelay})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("report after the upgrade (-before +after):\n%s", diff)
	}
	// And the writer carries on from the backfilled state.
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: 3, Time: t0.Add(6 * time.Hour), Recipient: "c@example.com", Outcome: OutcomeDelivered, Final: true}))
	})
	verifyRollup(t, db)
}

// dropMonths takes a database back to version 2: the monthly tables of
// version 3 dropped.
const dropMonths = `DROP TABLE delivery_months; DROP TABLE host_months; DROP TABLE sender_months;
	DROP TABLE deferred_months; DROP TABLE deferred_host_months; DROP TABLE deferred_sender_months; DROP TABLE reject_months;`

// A database written by version 2 gets its monthly tables filled from the
// daily ones by the migration, and the wider deliveries_domain_outcome:
// the same rows as the writer keeps, the same reports, and the writer
// carries on from there.
func TestMigrationBackfillsMonths(t *testing.T) {
	db, path := openTest(t, Options{})
	buildSample(t, db)
	db = moreHistory(t, db)
	db = moreDays(t, db)
	db = moreMonths(t, db)
	ctx := context.Background()
	queries := []ReportQuery{{}, {By: ByRelay}, {By: ByHost}, {Domain: "example.com"},
		{Since: time.Date(2025, 2, 28, 12, 0, 0, 0, time.UTC), Until: time.Date(2025, 4, 2, 3, 30, 0, 0, time.UTC)}}
	var before []*ReportResult
	for _, q := range queries {
		before = append(before, must[*ReportResult](t)(db.Report(ctx, q)))
	}
	if _, err := db.writer.ExecContext(ctx, dropMonths+` DROP INDEX deliveries_domain_outcome;
		CREATE INDEX deliveries_domain_outcome ON deliveries (domain_id, outcome, final, reason, time);
		DELETE FROM schema_migrations WHERE version = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := count(t, db, `SELECT max(version) FROM schema_migrations`); v != int64(SchemaVersion()) {
		t.Fatalf("schema version %d after upgrade", v)
	}
	if n := count(t, db, `SELECT count(*) FROM delivery_months`); n == 0 {
		t.Fatal("no delivery_months rows after the upgrade")
	}
	if n := count(t, db, `SELECT count(*) FROM sqlite_master WHERE name = 'deliveries_domain_outcome' AND sql LIKE '%delay)'`); n != 1 {
		t.Error("deliveries_domain_outcome does not carry the delays after the upgrade")
	}
	verifyRollup(t, db)
	for i, q := range queries {
		if diff := cmp.Diff(before[i], must[*ReportResult](t)(db.Report(ctx, q))); diff != "" {
			t.Errorf("%+v: report after the upgrade (-before +after):\n%s", q, diff)
		}
	}
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: 3, Time: time.Date(2025, 4, 3, 0, 0, 0, 0, time.UTC),
			Recipient: "c@example.com", Outcome: OutcomeDelivered, Final: true}))
	})
	verifyRollup(t, db)
}

func TestVerifyRollupFindsDrift(t *testing.T) {
	db, _ := openTest(t, Options{})
	buildSample(t, db)
	if _, err := db.writer.Exec(`UPDATE delivery_hours SET attempts = attempts + 1 WHERE rowid IN (SELECT rowid FROM delivery_hours LIMIT 1)`); err == nil {
		t.Fatal("delivery_hours has a rowid")
	}
	if _, err := db.writer.Exec(`UPDATE delivery_hours SET attempts = attempts + 1 WHERE outcome = 'bounced'`); err != nil {
		t.Fatal(err)
	}
	if err := db.VerifyRollup(context.Background()); !errors.Is(err, ErrRollupMismatch) {
		t.Errorf("VerifyRollup = %v, want ErrRollupMismatch", err)
	}
}

// A daily table that differs from the sums of its hourly one is found too.
func TestVerifyRollupFindsDayDrift(t *testing.T) {
	for _, table := range []string{"delivery_days", "host_days", "sender_days", "deferred_days", "deferred_host_days", "deferred_sender_days", "reject_days",
		"delivery_months", "host_months", "sender_months", "deferred_months", "deferred_host_months", "deferred_sender_months", "reject_months"} {
		db, _ := openTest(t, Options{})
		buildSample(t, db)
		db = moreHistory(t, db)
		verifyRollup(t, db)
		col := map[bool]string{true: "recipients", false: "attempts"}[strings.HasPrefix(table, "deferred")]
		if strings.HasPrefix(table, "reject") {
			col = "rejects"
		}
		if _, err := db.writer.Exec(`UPDATE ` + table + ` SET ` + col + ` = ` + col + ` + 1`); err != nil {
			t.Fatal(err)
		}
		if err := db.VerifyRollup(context.Background()); !errors.Is(err, ErrRollupMismatch) || !strings.Contains(err.Error(), table) {
			t.Errorf("%s: VerifyRollup = %v, want ErrRollupMismatch", table, err)
		}
	}
}
