package store

import (
	"context"
	"database/sql"
	"flag"
	"path/filepath"
	"testing"
)

// benchSource is a database made by `mailbounce ingest` (of a tools/loggen
// log, say) whose delivery attempts BenchmarkAddDelivery writes again
// through a Batch, without parsing or collating: the store's own cost per
// row.
var benchSource = flag.String("ingest-source", "", "database whose deliveries BenchmarkAddDelivery replays")

// BenchmarkAddDelivery replays the attempts of -ingest-source into a new
// database, in transactions of 100,000 rows as ingest commits them, with
// the indexes in place and as a bulk load (DeferIndexes, RestoreIndexes).
// Run:
//
//	go test ./store -run '^$' -bench AddDelivery -benchtime 1x -ingest-source /var/tmp/mailbounce-bench/t.db
func BenchmarkAddDelivery(b *testing.B) {
	if *benchSource == "" {
		b.Skip("no -ingest-source database")
	}
	src, err := sql.Open("sqlite3", "file:"+*benchSource+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	rows, err := src.Query(`SELECT ifnull(message_ref, 0), ifnull(h.name, ''), time, recipient, dom.name,
		ifnull(orig_recipient, ''), ifnull(r.name, ''), ifnull(delay, -1), ifnull(delays, ''), ifnull(dsn, ''),
		ifnull(code, 0), ifnull(enhanced, ''), ifnull(stage, ''), ifnull(reply, ''), ifnull(remote_id, ''),
		outcome, ifnull(reason, ''), final, ifnull(next_queue_id, '')
		FROM deliveries d LEFT JOIN hosts h ON h.id = d.host_id JOIN domains dom ON dom.id = d.domain_id
		LEFT JOIN relays r ON r.id = d.relay_id ORDER BY d.id`)
	if err != nil {
		b.Fatal(err)
	}
	var ds []Delivery
	for rows.Next() {
		var d Delivery
		var t int64
		if err := rows.Scan(&d.MessageRef, &d.Host, &t, &d.Recipient, &d.Domain, &d.OrigRecipient, &d.Relay,
			&d.Delay, &d.Delays, &d.DSN, &d.Code, &d.Enhanced, &d.Stage, &d.Reply, &d.RemoteID, &d.Outcome,
			&d.Reason, &d.Final, &d.NextQueueID); err != nil {
			b.Fatal(err)
		}
		d.Time = FromMicros(t)
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	for _, bulk := range []bool{false, true} {
		name := "indexed"
		if bulk {
			name = "bulk"
		}
		b.Run(name, func(b *testing.B) { replayDeliveries(b, ds, bulk) })
	}
}

func replayDeliveries(b *testing.B, ds []Delivery, bulk bool) {
	b.ReportAllocs()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		refs := make(map[int64]int64)
		b.StartTimer()
		if bulk {
			if _, err := db.DeferIndexes(ctx); err != nil {
				b.Fatal(err)
			}
		}
		var batch *Batch
		for j, d := range ds {
			if batch == nil {
				if batch, err = db.Begin(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if d.MessageRef != 0 {
				ref, ok := refs[d.MessageRef]
				if !ok {
					if ref, err = batch.ReserveMessageID(); err != nil {
						b.Fatal(err)
					}
					refs[d.MessageRef] = ref
				}
				d.MessageRef = ref
			}
			if _, err := batch.AddDelivery(d); err != nil {
				b.Fatal(err)
			}
			if batch.Len() >= 100_000 || j == len(ds)-1 {
				if err := batch.Commit(); err != nil {
					b.Fatal(err)
				}
				batch = nil
			}
		}
		if err := db.RestoreIndexes(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ds))/1000, "µs/row")
}
