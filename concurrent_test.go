package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two writers reading one log at the same time would both store its new
// lines. Ingests take turns (a lock beside the database); an ingest leaves
// a log that a live tail follows to it; a tail started during an ingest
// waits for it.
func TestConcurrentWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	data, err := os.ReadFile("testdata/mta/postfix/maillog")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n") // the last without "\n"
	lines[len(lines)-1] += "\n"
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", ref, "testdata/mta/postfix/maillog"); status != 0 {
		t.Fatalf("reference: exit %d: %s", status, stderr)
	}
	want := csvReport(t, ref)

	t.Run("two ingests at once", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "two.db")
		var cmds []*exec.Cmd
		for range 3 {
			cmd, _ := startMailbounce(t, "ingest", "-q", "--db", db, "testdata/mta/postfix/maillog")
			cmds = append(cmds, cmd)
		}
		for _, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("ingest: %v", err)
			}
		}
		if got := csvReport(t, db); got != want {
			t.Errorf("three at once:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("ingest while tail follows", func(t *testing.T) {
		tmp := t.TempDir()
		db := filepath.Join(tmp, "t.db")
		log := filepath.Join(tmp, "mail.log")
		half := len(lines) / 2
		if err := os.WriteFile(log, []byte(strings.Join(lines[:half], "")), 0o644); err != nil {
			t.Fatal(err)
		}
		tail := startTail(t, "--db", db, log)
		waitLines(t, db, int64(half))
		appendLines(t, log, toBytes(lines[half:]))
		// The lines just appended: tail reads them; the ingest must not.
		_, stderr, status := mailbounce(t, "ingest", "--db", db, log)
		if status != 0 || !strings.Contains(stderr, "follows it") {
			t.Errorf("ingest of a followed log: exit %d, want 0 and a word that tail follows it: %s", status, stderr)
		}
		waitLines(t, db, int64(len(lines)))
		tail.Process.Signal(syscall.SIGTERM)
		if err := tail.Wait(); err != nil {
			t.Fatalf("tail: %v", err)
		}
		if got := csvReport(t, db); got != want {
			t.Errorf("tail and ingest:\n%s\nwant:\n%s", got, want)
		}
		// Stopped, it leaves the log to the next ingest at once.
		if _, stderr, _ := mailbounce(t, "ingest", "--db", db, log); strings.Contains(stderr, "follows it") {
			t.Errorf("after tail stopped: %s", stderr)
		}
	})

	t.Run("tail started during an ingest", func(t *testing.T) {
		tmp := t.TempDir()
		db := filepath.Join(tmp, "w.db")
		log := filepath.Join(tmp, "mail.log")
		if err := os.WriteFile(log, data, 0o644); err != nil {
			t.Fatal(err)
		}
		release, err := ingestLock(t.Context(), db, os.Stderr, "")
		if err != nil {
			t.Fatal(err)
		}
		tail, stderr := startMailbounce(t, "tail", "--db", db, log)
		time.Sleep(500 * time.Millisecond)
		if got := committedLines(t, db); got != 0 {
			t.Errorf("tail read %d lines while an ingest held the lock", got)
		}
		release()
		waitLines(t, db, int64(len(lines)))
		tail.Process.Signal(syscall.SIGTERM)
		tail.Wait()
		// Read once the process has ended: its stderr is written by
		// another goroutine while it runs.
		if !strings.Contains(stderr.String(), "waiting for it to end") {
			t.Errorf("tail did not say it waits: %s", stderr)
		}
	})
}

func toBytes(lines []string) [][]byte {
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = []byte(l)
	}
	return out
}
