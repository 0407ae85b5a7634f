package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func openTest(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mailbounce.db")
	db, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// withBatch runs f in a batch and commits it.
func withBatch(t testing.TB, db *DB, f func(b *Batch)) {
	t.Helper()
	b, err := db.Begin(context.Background())
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer b.Rollback()
	f(b)
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func count(t testing.TB, db *DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Reader().QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// addDelivered adds a delivered attempt to rcpt on host at t0.
func addDelivered(t testing.TB, b *Batch, host, rcpt string) int64 {
	t.Helper()
	return must[int64](t)(b.AddDelivery(Delivery{Host: host, Time: t0, Recipient: rcpt, Outcome: OutcomeDelivered}))
}

// inOtherProcess runs f in a batch of another DB on the file at path, as
// another mailbounce process would.
func inOtherProcess(t *testing.T, path string, f func(b *Batch)) {
	t.Helper()
	other, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	withBatch(t, other, f)
}
