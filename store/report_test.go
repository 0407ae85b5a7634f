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
// genDelivery or the schema changes so that a stale file is not reused.
const reportBenchVersion = "v4"

// reportBenchDB opens (building it first, once per machine) a database of
// *reportRows generated attempts cached under os.TempDir(): at the writer's
// ~35k rows/s a million rows take half a minute, too long for every run.
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
		insertGenerated(tb, db, 0, *reportRows)
		withBatch(tb, db, func(b *Batch) {
			for i := 0; i < *reportRows/100; i++ {
				if err := b.AddReject(Reject{Host: "mx1", Time: t0.Add(time.Duration(i) * 5 * time.Second),
					Recipient: fmt.Sprintf("x%d@%s", i, benchDomains[i%50]), Code: 554, Reason: "blocked",
					Client: "spam.example[203.0.113.9]", Stage: "RCPT", Reply: "554 5.7.1 Service unavailable"}); err != nil {
					tb.Fatal(err)
				}
			}
		})
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
		{"one-domain", ReportQuery{Domain: benchDomains[0], Top: 20, Buckets: hourly(first, end)}},
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
