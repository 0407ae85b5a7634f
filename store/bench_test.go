package store

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var summaryRows = flag.Int("summary-rows", 1_000_000, "delivery rows in BenchmarkDomainSummary's database")

// Generated traffic: a few big domains and a long tail, ~2.5 attempts per
// message, 10% deferrals, 2% bounces, a few expiries, as on a real relay.
var (
	benchDomains = func() []string {
		d := make([]string, 2000)
		for i := range d {
			d[i] = fmt.Sprintf("domain%d.example", i)
		}
		return d
	}()
	benchReasons = []string{"greylisted", "mailbox_full", "network_error", "rate_limited", "user_unknown"}
)

// genDelivery is attempt i; messages and times advance with i, so the
// table grows in time order as a log does.
func genDelivery(i int, messageRef int64) Delivery {
	// Squaring a uniform number skews traffic towards the first domains.
	u := (i*7919 + 13) % 1000
	dom := benchDomains[(u*u/1000)*len(benchDomains)/1000]
	d := Delivery{
		MessageRef: messageRef,
		Host:       "mx1",
		Time:       t0.Add(time.Duration(i) * 50 * time.Millisecond),
		Recipient:  fmt.Sprintf("user%d@%s", i%5000, dom),
		Relay:      "mx." + dom + "[192.0.2.1]:25",
		Delay:      1.25,
		Delays:     "0.1/0/0.5/0.6",
		DSN:        "2.0.0",
		Code:       250,
		Enhanced:   "2.0.0",
		Reply:      "250 2.0.0 Ok: queued as 4XyZabc",
		RemoteID:   "4XyZabc",
		Outcome:    OutcomeDelivered,
		Final:      true,
	}
	switch r := i % 100; {
	case r < 10:
		d.Outcome, d.Final, d.Code, d.DSN, d.Enhanced, d.RemoteID = OutcomeDeferred, false, 450, "4.2.0", "4.2.0", ""
		d.Reason, d.Reply = benchReasons[i%len(benchReasons)], "450 4.2.0 try again later"
	case r < 12:
		d.Outcome, d.Code, d.DSN, d.Enhanced, d.RemoteID = OutcomeBounced, 550, "5.1.1", "5.1.1", ""
		d.Reason, d.Reply = "user_unknown", "550 5.1.1 no such user"
	case r == 12:
		d.Outcome, d.Code, d.DSN, d.Enhanced, d.RemoteID = OutcomeExpired, 0, "4.4.7", "4.4.7", ""
		d.Reason, d.Reply = "expired", "message too old"
	}
	return d
}

// genMessage is the message of attempts i to i+2.
func genMessage(i int) Message {
	at := t0.Add(time.Duration(i) * 50 * time.Millisecond)
	return Message{Host: "mx1", MTA: "postfix", QueueID: fmt.Sprintf("4Q%08X", i), MessageID: fmt.Sprintf("%d@client.example", i),
		Sender: "newsletter@sender.example", HasSender: true, Size: 4096, NRcpt: 3, Client: "client.example[198.51.100.7]",
		FirstSeen: at, LastSeen: at}
}

// insertGenerated writes n generated rows starting at attempt start,
// committing every 10000 rows as an ingest would.
func insertGenerated(tb testing.TB, db *DB, start, n int) {
	ctx := context.Background()
	b, err := db.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var ref int64
	for i := start; i < start+n; i++ {
		if i%3 == 0 {
			if ref, err = b.InsertMessage(genMessage(i)); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := b.AddDelivery(genDelivery(i, ref)); err != nil {
			tb.Fatal(err)
		}
		if b.Len() == 10000 {
			if err := b.Commit(); err != nil {
				tb.Fatal(err)
			}
			if b, err = db.Begin(ctx); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := b.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkInsertDeliveries(b *testing.B) {
	db, _ := openTest(b, Options{})
	// Pre-generate outside the timer so that only the store is measured.
	rows := make([]Delivery, 10000)
	for i := range rows {
		rows[i] = genDelivery(i, 0)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	batch, err := db.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var ref int64
	for i := 0; i < b.N; i++ {
		// One message per three attempts, as in real traffic; the message
		// insert is part of the cost of storing an attempt.
		if i%3 == 0 {
			if ref, err = batch.InsertMessage(genMessage(i)); err != nil {
				b.Fatal(err)
			}
		}
		d := rows[i%len(rows)]
		d.MessageRef = ref
		d.Time = t0.Add(time.Duration(i) * 50 * time.Millisecond)
		if _, err := batch.AddDelivery(d); err != nil {
			b.Fatal(err)
		}
		if batch.Len() == 10000 {
			if err := batch.Commit(); err != nil {
				b.Fatal(err)
			}
			if batch, err = db.Begin(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := batch.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// The summary database is built once per process and shared by every run of
// BenchmarkDomainSummary (b.N grows between runs).
var (
	summaryOnce sync.Once
	summaryDir  string
	summaryDB   *DB
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if summaryDB != nil {
		summaryDB.Close()
	}
	if summaryDir != "" {
		os.RemoveAll(summaryDir)
	}
	os.Exit(code)
}

func BenchmarkDomainSummary(b *testing.B) {
	summaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mailbounce-bench")
		if err != nil {
			b.Fatal(err)
		}
		summaryDir = dir
		db, err := Open(context.Background(), filepath.Join(dir, "mailbounce.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		insertGenerated(b, db, 0, *summaryRows)
		b.Logf("setup: %d rows in %v", *summaryRows, time.Since(start).Round(time.Millisecond))
		summaryDB = db
	})
	if summaryDB == nil {
		b.Skip("setup failed")
	}
	ctx := context.Background()
	end := t0.Add(time.Duration(*summaryRows) * 50 * time.Millisecond)
	for _, bc := range []struct {
		name         string
		since, until time.Time
	}{
		{"all", time.Time{}, time.Time{}},
		{"last-tenth", end.Add(-(end.Sub(t0) / 10)), end},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				rows, err := summaryDB.DomainSummary(ctx, bc.since, bc.until)
				if err != nil {
					b.Fatal(err)
				}
				if len(rows) == 0 {
					b.Fatal("no rows")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}
