package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// TestMain lets a test run this binary as mailbounce itself, so that real
// signals can be sent to a real process.
func TestMain(m *testing.M) {
	if os.Getenv("MAILBOUNCE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestIngestInterrupted stops an ingest with SIGINT and then SIGTERM in the
// middle, runs it again, and checks that the database then holds exactly
// what one uninterrupted run stores: nothing lost, nothing twice.
func TestIngestInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	tmp := t.TempDir()
	// A log long enough for many transactions: the real Postfix log, over
	// and over (Postfix reuses queue IDs too; each copy is new mail).
	one, err := os.ReadFile("testdata/mta/postfix/maillog")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(tmp, "mail.log")
	if err := os.WriteFile(log, bytes.Repeat(one, 30), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat("testdata/mta/postfix/maillog")
	os.Chtimes(log, fi.ModTime(), fi.ModTime())

	ref := filepath.Join(tmp, "ref.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", ref, log); status != 0 {
		t.Fatalf("reference ingest: %d %s", status, stderr)
	}

	db := filepath.Join(tmp, "int.db")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(os.Args[0], "ingest", "--batch-rows", "300", "--db", db, log)
		cmd.Env = append(os.Environ(), "MAILBOUNCE_TEST_MAIN=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		// Wait until it has committed something beyond the last run, then
		// interrupt it.
		before := committedLines(t, db)
		attemptsBefore := countRows(t, db, "deliveries")
		deadline := time.Now().Add(60 * time.Second)
		for committedLines(t, db) <= before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		got := committedLines(t, db)
		t.Logf("%v after %d lines: %v: %s", sig, got, err, strings.TrimSpace(stderr.String()))
		if got >= int64(bytes.Count(one, []byte("\n"))*30) {
			t.Fatalf("the ingest finished before %v arrived; the test proves nothing", sig)
		}
		// The summary tells what was committed, not what was read.
		want := fmt.Sprintf("ingested 1 file(s), %s lines", thousands(got-before))
		wantRows := fmt.Sprintf(": %s delivery attempts,", thousands(countRows(t, db, "deliveries")-attemptsBefore))
		if out := stderr.String(); !strings.Contains(out, want) || !strings.Contains(out, wantRows) {
			t.Errorf("after %v the summary says\n%s\nwant %q and %q (what was committed)", sig, out, want, wantRows)
		}
		if out := stderr.String(); !strings.Contains(out, "interrupted; what was committed is kept") {
			t.Errorf("after %v: no word of the interruption in\n%s", sig, out)
		}
	}
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, log); status != 0 {
		t.Fatalf("resumed ingest: %d %s", status, stderr)
	}
	for _, q := range []string{
		`SELECT count(*) FROM deliveries`,
		`SELECT count(*) FROM messages`,
		`SELECT count(*) || ' ' || sum(final) || ' ' || sum(outcome = 'expired') FROM deliveries`,
		`SELECT group_concat(domain || recipients || delivered || bounced || expired || deferrals || deferred_recipients, ',') FROM v_domain_summary`,
	} {
		if a, b := scalar(t, ref, q), scalar(t, db, q); a != b {
			t.Errorf("%s: uninterrupted %s, interrupted and resumed %s", q, a, b)
		}
	}
	foreignKeysHold(t, db)
}

func countRows(t *testing.T, path, table string) int64 {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	n, err := strconv.ParseInt(scalar(t, path, `SELECT count(*) FROM `+table), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func committedLines(t *testing.T, path string) int64 {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	var n sql.NullInt64
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.QueryRowContext(context.Background(), `SELECT sum(lines) FROM sources`).Scan(&n)
	return n.Int64
}

func scalar(t *testing.T, path, q string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s sql.NullString
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s.String
}

// TestIngestInterruptedWhileLocked: Ctrl-C ends the wait for another
// process's write lock at once, not when --lock-timeout runs out (SQLite's
// own wait does not see a signal).
func TestIngestInterruptedWhileLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	db := filepath.Join(t.TempDir(), "locked.db")
	holdWriteLock(t, db)
	cmd, stderr := startMailbounce(t, "ingest", "--lock-timeout", "60s", "--db", db, "testdata/mta/exim/mainlog")
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitError || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("after SIGINT: %v: %s", err, stderr.String())
		}
		t.Logf("stopped %v after SIGINT", time.Since(sent).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatalf("still waiting for the lock 10 s after SIGINT: %s", stderr.String())
	}
}
