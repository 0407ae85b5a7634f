package store

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var reportRows = flag.Int("report-rows", 1_000_000, "delivery rows in BenchmarkReport's cached database")

// reportBenchVersion names the cached benchmark database; change it when
// genReportAttempt or the schema changes so that a stale file is not reused.
const reportBenchVersion = "v5"

// The report benchmark's traffic: 5,000 recipient domains with a steep
// skew (the first few take most of the mail, as gmail.com does), one or
// two relays per domain, three hosts, three recipients per message, an
// attempt every 110 ms (10 million attempts span about 300 hours), every
// outcome and the common reasons, and a reject for every fourth attempt.
var (
	reportDomains = func() []string {
		d := make([]string, 5000)
		for i := range d {
			d[i] = fmt.Sprintf("dom%d.example", i)
		}
		return d
	}()
	reportHosts          = []string{"mx1", "mx2", "mx3"}
	reportDeferReasons   = []string{"greylisted", "mailbox_full", "network_error", "rate_limited", "system_error", "policy", "dns_error"}
	reportBounceReasons  = []string{"user_unknown", "user_unknown", "mailbox_full", "policy", "spam", "domain_unknown", "message_too_big"}
	reportRejectReasons  = []string{"blocked", "blocked", "blocked", "dnsbl", "user_unknown", "user_unknown", "relay_denied", "helo", "spf", "greylisted", ""}
	reportAttemptSpacing = 110 * time.Millisecond
)

// mix is a cheap deterministic hash of i and a salt, uniform in [0, 2^32).
func mix(i, salt int) uint64 {
	x := uint64(i)*0x9E3779B97F4A7C15 + uint64(salt)*0xBF58476D1CE4E5B9
	x ^= x >> 31
	x *= 0x94D049BB133111EB
	x ^= x >> 29
	return x & 0xFFFFFFFF
}

// reportDomain is a skewed domain index: u cubed puts about half of the
// traffic on the first 1% of the domains.
func reportDomain(i, salt int) int {
	u := float64(mix(i, salt)) / (1 << 32)
	return int(u * u * u * float64(len(reportDomains)))
}

// genReportAttempt is attempt i of the report benchmark, of message ref.
func genReportAttempt(i int, ref int64) Delivery {
	dom := reportDomain(i/3, 1) // the message's recipients share a domain
	name := reportDomains[dom]
	relay := fmt.Sprintf("mx%d.%s[192.0.2.%d]:25", 1+mix(i, 2)%2*(uint64(dom)%2), name, dom%250+1)
	delay := 0.2 + float64(mix(i, 3)%1000)/400 // 0.2 s to 2.7 s, most mail
	if mix(i, 4)%20 == 0 {
		delay = float64(60 + mix(i, 5)%7200) // waited in the queue
	}
	d := Delivery{
		MessageRef: ref,
		Host:       reportHosts[(i/3)%len(reportHosts)],
		Time:       t0.Add(time.Duration(i) * reportAttemptSpacing),
		Recipient:  fmt.Sprintf("user%d@%s", mix(i, 6)%20000, name),
		Relay:      relay,
		Delay:      delay,
		Delays:     "0.1/0/0.5/0.6",
		DSN:        "2.0.0",
		Code:       250,
		Enhanced:   "2.0.0",
		Reply:      "250 2.0.0 Ok: queued as 4XyZabc",
		RemoteID:   fmt.Sprintf("4X%07X", i),
		Outcome:    OutcomeDelivered,
		Final:      true,
	}
	switch r := mix(i, 7) % 1000; {
	case r < 100:
		reason := reportDeferReasons[mix(i, 8)%uint64(len(reportDeferReasons))]
		d.Outcome, d.Final, d.Code, d.DSN, d.Enhanced, d.RemoteID = OutcomeDeferred, false, 451, "4.7.1", "4.7.1", ""
		d.Reason, d.Reply = reason, "451 4.7.1 "+reason+", try again later"
	case r < 130:
		reason := reportBounceReasons[mix(i, 8)%uint64(len(reportBounceReasons))]
		d.Outcome, d.Code, d.DSN, d.Enhanced, d.RemoteID = OutcomeBounced, 550, "5.1.1", "5.1.1", ""
		d.Reason, d.Reply = reason, "550 5.1.1 "+reason
	case r < 137:
		d.Outcome, d.Code, d.DSN, d.Enhanced, d.RemoteID = OutcomeExpired, 0, "4.4.7", "4.4.7", ""
		d.Reason, d.Reply = "expired", "message too old"
	case r < 145:
		d.Outcome, d.Final, d.NextQueueID, d.RemoteID = OutcomeHop, false, fmt.Sprintf("4H%07X", i), ""
		d.Relay, d.Reply = "127.0.0.1[127.0.0.1]:10024", "250 2.0.0 Ok: queued as 4H"
	}
	return d
}

// genReportReject is the reject next to attempt i.
func genReportReject(i int) Reject {
	r := Reject{Host: reportHosts[i%len(reportHosts)], Time: t0.Add(time.Duration(i)*reportAttemptSpacing + 7*time.Millisecond),
		Client: fmt.Sprintf("c%d.spam.example[203.0.113.%d]", mix(i, 9)%5000, mix(i, 9)%250+1),
		Reason: reportRejectReasons[mix(i, 10)%uint64(len(reportRejectReasons))], Code: 554, Enhanced: "5.7.1"}
	if mix(i, 11)%10 != 0 {
		r.Stage, r.Recipient = "RCPT", fmt.Sprintf("x%d@%s", mix(i, 12)%20000, reportDomains[reportDomain(i, 13)])
	} else {
		r.Stage = "CONNECT"
	}
	r.Reply = fmt.Sprintf("554 5.7.1 rejected: %s", r.Reason)
	return r
}

// reportBenchDB opens (building it first, once per machine) a database of
// *reportRows generated attempts (and a quarter as many rejects) cached
// under os.TempDir(), written through the writer as an ingest would: at
// its ~30k rows/s ten million rows take several minutes, too long for
// every run.
func reportBenchDB(tb testing.TB) *DB {
	tb.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("mailbounce-report-bench-%s-%d.db", reportBenchVersion, *reportRows))
	ctx := context.Background()
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".building"
		os.Remove(tmp)
		db, err := Open(ctx, tmp, Options{})
		if err != nil {
			tb.Fatal(err)
		}
		start := time.Now()
		b, err := db.Begin(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		var ref int64
		for i := 0; i < *reportRows; i++ {
			if i%3 == 0 {
				if ref, err = b.InsertMessage(genMessage(i)); err != nil {
					tb.Fatal(err)
				}
			}
			if _, err := b.AddDelivery(genReportAttempt(i, ref)); err != nil {
				tb.Fatal(err)
			}
			if i%4 == 0 {
				if err := b.AddReject(genReportReject(i)); err != nil {
					tb.Fatal(err)
				}
			}
			if b.Len() >= 20000 {
				if err := b.Commit(); err != nil {
					tb.Fatal(err)
				}
				if b, err = db.Begin(ctx); err != nil {
					tb.Fatal(err)
				}
			}
			if i%1_000_000 == 999_999 {
				tb.Logf("%d rows in %v", i+1, time.Since(start).Round(time.Second))
			}
		}
		if err := b.Commit(); err != nil {
			tb.Fatal(err)
		}
		if _, err := db.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			tb.Fatal(err)
		}
		db.Close()
		for _, suffix := range []string{"-wal", "-shm"} {
			os.Remove(tmp + suffix)
		}
		if err := os.Rename(tmp, path); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("built %s: %d rows in %v", path, *reportRows, time.Since(start).Round(time.Millisecond))
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestBuildReportBench(t *testing.T) {
	if os.Getenv("BUILD") == "" {
		t.Skip()
	}
	reportBenchDB(t)
}

// BenchmarkReport runs the whole report over the cached database (1M rows
// by default; -report-rows changes it). Figures go in the README.
func BenchmarkReport(b *testing.B) {
	db := reportBenchDB(b)
	ctx := context.Background()
	first, last, err := db.AttemptSpan(ctx, time.Time{}, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	hourly := func(since, until time.Time) []Bucket {
		var bs []Bucket
		for t := since.Truncate(time.Hour); t.Before(until); t = t.Add(time.Hour) {
			bs = append(bs, Bucket{t, t.Add(time.Hour)})
		}
		return bs
	}
	end := last.Add(time.Microsecond)
	tenth := end.Add(-end.Sub(first) / 10)
	for _, bc := range []struct {
		name string
		q    ReportQuery
	}{
		{"all", ReportQuery{Top: 20, Buckets: hourly(first, end)}},
		{"all-no-relays", ReportQuery{Top: 20, Buckets: hourly(first, end), NoRelays: true}},
		{"last-tenth", ReportQuery{Since: tenth, Top: 20, Buckets: hourly(tenth, end)}},
		{"one-domain", ReportQuery{Domain: reportDomains[0], Top: 20, Buckets: hourly(first, end)}},
		{"by-relay", ReportQuery{By: ByRelay, Top: 20, Buckets: hourly(first, end)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				res, err := db.Report(ctx, bc.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Groups) == 0 {
					b.Fatal("no groups")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}
