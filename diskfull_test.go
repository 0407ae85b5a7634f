package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailbounce/store"
)

// TestIngestDiskFull fills a real filesystem (a tmpfs with room for the
// schema but not for the rows) in the middle of an ingest: the command fails with a message
// that names the database and the cause, what was committed stays
// consistent, and once there is room the same command completes the job
// with every count equal to the truth, nothing lost and nothing twice.
func TestIngestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=640k,mode=0755", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})

	log := filepath.Join("testdata", "mta", "postfix", "maillog")
	db := filepath.Join(mnt, "mailbounce.db")
	_, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, log)
	if status == 0 {
		t.Fatal("ingest into a full filesystem succeeded")
	}
	if !strings.Contains(stderr, db) || !strings.Contains(stderr, "full") {
		t.Errorf("exit %d, stderr %q: want the database's path and the cause", status, stderr)
	}
	t.Logf("exit %d: %s", status, strings.TrimSpace(stderr))

	// What was committed is whole, if anything was.
	if _, err := os.Stat(db); err == nil {
		d, err := store.Open(context.Background(), db, store.Options{})
		if err != nil {
			t.Fatalf("open the database after the failure: %v", err)
		}
		var ok string
		if err := d.Reader().QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Errorf("integrity_check: %q, %v", ok, err)
		}
		d.Close()
	}

	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, log); status != 0 {
		t.Fatalf("ingest with room again: exit %d: %s", status, stderr)
	}
	var want struct {
		Domains map[string]counts `json:"domains"`
	}
	data, err := os.ReadFile(filepath.Join("testdata", "mta", "postfix", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	compareCounts(t, want.Domains, summary(t, db))
	foreignKeysHold(t, db)
}
