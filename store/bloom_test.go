package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestBloom: the filter of queue IDs (bloom.c) never says no to a name it
// was given, says no to almost every other, and without a filter says
// maybe to everything but NULL. Each connection has its own.
func TestBloom(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx := context.Background()
	conn, err := db.reader.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	has := func(name any) bool {
		t.Helper()
		var n int64
		if err := conn.QueryRowContext(ctx, `SELECT mailbounce_bloom_has(?)`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	exec := func(q string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := conn.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if !has("4DRBDj4tP9zdZLM") || has(nil) {
		t.Fatal("without a filter: want maybe for every name, and no for NULL")
	}
	const n = 50_000
	if bits := exec(`SELECT mailbounce_bloom_reset(?)`, n); bits < 16*n {
		t.Fatalf("a filter of %d bits for %d names, want 16 per name", bits, n)
	}
	for i := range n {
		if exec(`SELECT mailbounce_bloom_add(?)`, fmt.Sprintf("4D%013X", i*7919)) != 1 {
			t.Fatal("add did not add")
		}
	}
	for i := range n {
		if name := fmt.Sprintf("4D%013X", i*7919); !has(name) {
			t.Fatalf("%s was added, and the filter says no", name)
		}
	}
	var maybe int
	for i := range n {
		if has(fmt.Sprintf("1ZpCC%d-0002J4-Ej", i)) {
			maybe++
		}
	}
	if maybe > n/100 {
		t.Errorf("%d of %d names never added pass the filter, want under 1%%", maybe, n)
	}
	// The writer's connections have filters of their own.
	var other int64
	if err := db.reader.QueryRowContext(ctx, `SELECT mailbounce_bloom_has('never added')`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	if other != 1 {
		t.Error("another connection has this connection's filter")
	}
	if exec(`SELECT mailbounce_bloom_reset(0)`) != 0 || !has("never added") {
		t.Error("reset(0): want no filter, and maybe for every name")
	}
}

// TestStitchWithBloom runs the stitching tests with the filter of queue
// IDs in use however few attempts there are.
func TestStitchWithBloom(t *testing.T) {
	defer func(n int64) { bloomMinAttempts = n }(bloomMinAttempts)
	bloomMinAttempts = 1
	t.Run("counts once", TestStitchCountsOnce)
	t.Run("strangers", TestStitchLeavesStrangersAlone)
	t.Run("in chunks", TestStitchInChunks)
	t.Run("left undone", TestStitchLeftUndone)
}

// TestStaleBloom: a filter left on the writer connection by a batch that
// failed before emptying it (here, rolled back) does not hide the queue
// IDs stored after it from the next stitch.
func TestStaleBloom(t *testing.T) {
	db, _ := openTest(t, Options{})
	b, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.txn().ExecContext(b.ctx, `SELECT mailbounce_bloom_reset(10)`); err != nil {
		t.Fatal(err)
	}
	db.bloomSet = true
	b.Rollback()
	at := t0.Add(time.Hour)
	withBatch(t, db, func(b *Batch) {
		edgeLeg("4DRBDj4tP9zdZLM", "m1@example.net", "1ZpCCD-0002J4-Ej", at)(t, b)
		hubLeg("1ZpCCD-0002J4-Ej", "m1@example.net", at, OutcomeDelivered)(t, b)
	})
	if n := count(t, db, `SELECT count(*) FROM message_links`); n != 2 {
		t.Errorf("%d links, want the edge's 2 attempts linked", n)
	}
	if db.bloomSet {
		t.Error("the filter is still marked as set")
	}
}
