package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCheckpointer: the writer does not checkpoint in its commits; the
// checkpointer does, after them; past the cap the writer does it itself;
// and Close leaves the database whole with no WAL behind.
func TestCheckpointer(t *testing.T) {
	db, path := openTest(t, Options{})
	for i := range 3 {
		withBatch(t, db, func(b *Batch) {
			for j := range 500 {
				must[int64](t)(b.AddDelivery(Delivery{Host: "mx", Time: t0.Add(time.Duration(i*500+j) * time.Second),
					Recipient: "u@example.com", Outcome: OutcomeDelivered}))
			}
		})
	}
	var auto int
	if err := db.writer.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Errorf("writer's wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	if db.ckpt == nil {
		t.Fatal("no checkpointer after three commits")
	}
	deadline := time.Now().Add(10 * time.Second)
	for db.ckpt.frames.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if db.ckpt.frames.Load() == 0 {
		t.Error("the checkpointer never reported a checkpoint")
	}
	// Past the cap, the writer checkpoints itself and does not wait for
	// the checkpointer; under it, the checkpointer is asked. (A stand-in
	// with no goroutine, so that nothing else moves the figures.)
	bg := db.ckpt
	stub := &checkpointer{kick: make(chan struct{}, 1)}
	db.ckpt = stub
	stub.frames.Store(walCapFrames + 1)
	db.afterCommit(context.Background())
	if n := stub.frames.Load(); n > walCapFrames || len(stub.kick) != 0 {
		t.Errorf("past the cap: %d frames left, %d kicks; want the writer's own checkpoint and no kick", n, len(stub.kick))
	}
	stub.frames.Store(0)
	db.afterCommit(context.Background())
	if len(stub.kick) != 1 {
		t.Error("under the cap, the checkpointer was not asked")
	}
	db.ckpt = bg
	withBatch(t, db, func(b *Batch) { addDelivered(t, b, "mx", "v@example.com") })
	db.Close()
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WAL left after Close: %v", err)
	}
	db = must[*DB](t)(Open(context.Background(), path, Options{}))
	defer db.Close()
	if n := count(t, db, `SELECT count(*) FROM deliveries`); n != 1501 {
		t.Errorf("%d deliveries after reopening, want 1501", n)
	}
	var check string
	if err := db.Reader().QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %s, %v", check, err)
	}
}

// TestOpenFailureStopsCheckpointer: an Open that restored deferred indexes
// (a commit, so the checkpointer started) and then failed leaves no
// checkpointer running.
func TestOpenFailureStopsCheckpointer(t *testing.T) {
	db, path := openTest(t, Options{})
	if _, err := db.DeferIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.writer.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'x')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), path, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		if !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*checkpointer).run") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a checkpointer is still running after Open failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
