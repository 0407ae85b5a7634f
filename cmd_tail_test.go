package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTail runs `mailbounce tail` as a real process (this test binary, see
// TestMain).
func startTail(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd, _ := startMailbounce(t, append([]string{"tail"}, args...)...)
	return cmd
}

// startMailbounce runs mailbounce ARGS as a real process (this test
// binary, see TestMain), killed at the end of the test; its stderr is
// logged if the test failed.
func startMailbounce(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MAILBOUNCE_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s stderr: %s", args[0], stderr.String())
		}
	})
	return cmd, &stderr
}

// waitLines waits until the checkpoints of db cover n lines.
func waitLines(t *testing.T, db string, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for committedLines(t, db) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the database covers %d lines, want %d", committedLines(t, db), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTailRotationRestart follows the real Postfix log as it is written,
// kills the follower with SIGKILL, rotates the log while it is down, starts
// it again, and stops it with SIGTERM: the counts must equal the truth,
// exactly as a batch ingest of the whole log gives them.
func TestTailRotationRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	lines := logLines(t, "testdata/mta/postfix/maillog")
	half := len(lines) / 2
	dir := t.TempDir()
	log, db := filepath.Join(dir, "mail.log"), filepath.Join(dir, "tail.db")
	// The first half is written while the follower runs.
	appendLines(t, log, lines[:half/2])
	first := startTail(t, "--db", db, log)
	appendLines(t, log, lines[half/2:half])
	waitLines(t, db, int64(half))
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()

	// Rotated while the follower is down: the rest of the old file (none
	// here) and then the new file must be read.
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, log, lines[half:half+10])
	second := startTail(t, "--db", db, log)
	// Reports read while the follower writes (WAL): no error, no wait.
	for i := half + 10; i < len(lines); i += 500 {
		appendLines(t, log, lines[i:min(i+500, len(lines))])
		start := time.Now()
		if _, stderr, status := mailbounce(t, "report", "--db", db, "--format", "json"); status != 0 {
			t.Fatalf("report while tail writes: exit %d: %s", status, stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("report took %v while tail writes", d)
		}
	}
	waitLines(t, db, int64(len(lines)))
	second.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tail after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tail did not stop within 5 s of SIGTERM")
	}

	compareCounts(t, truth(t, "postfix"), summary(t, db))
	foreignKeysHold(t, db)
}

// TestTailStdin reads a stream (journalctl -f ... | mailbounce tail -) to its
// end: the counts equal the truth.
func TestTailStdin(t *testing.T) {
	data, err := os.ReadFile("testdata/mta/exim/mainlog")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "stdin.db")
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(data), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if status := run(context.Background(), e, []string{"tail", "--db", db, "-"}); status != 0 {
		t.Fatalf("tail -: exit %d: %s", status, errb.String())
	}
	compareCounts(t, truth(t, "exim"), summary(t, db))
}

// Lines syslog folded count as the lines they stand for in tail too: rsyslog's
// "message repeated N times: [ ... ]" and FreeBSD syslogd's "last message
// repeated N times" after the line.
func TestTailRepeatedMessages(t *testing.T) {
	reject := "NOQUEUE: reject: RCPT from unknown[192.0.2.5]: 450 4.7.1 <a@example.com>: Recipient address rejected: Greylisted; from=<s@example.net> to=<a@example.com> proto=ESMTP helo=<x>"
	data := "Nov 28 10:00:00 mx postfix/smtpd[123]: " + reject + "\n" +
		"Nov 28 10:00:05 mx postfix/smtpd[123]: message repeated 2 times: [ " + reject + "]\n" +
		"Nov 28 10:00:06 mx last message repeated 3 times\n" +
		"Nov 28 10:00:07 mx dovecot: imap-login: Login: user=<u>\n" +
		"Nov 28 10:00:08 mx last message repeated 2 times\n"
	db := filepath.Join(t.TempDir(), "rep.db")
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(data), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if status := run(context.Background(), e, []string{"tail", "--db", db, "-"}); status != 0 {
		t.Fatalf("tail -: exit %d: %s", status, errb.String())
	}
	// 1, then 2 folded, then 3 more of the folded line's message.
	if got := queryString(t, db, `SELECT count(*) FROM v_rejects`); got != "6" {
		t.Errorf("%s rejects, want 6", got)
	}
}

// TestTailWaitsForLock: another process holds the write lock for longer
// than one --lock-timeout (an sqlite3 shell, a large ingest creating its
// indexes); tail warns, waits again, and stores every line once the lock
// is released, where it used to exit.
func TestTailWaitsForLock(t *testing.T) {
	data, err := os.ReadFile("testdata/mta/exim/mainlog")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "locked.db")
	// The schema first, then a write lock held by another connection.
	release := holdWriteLock(t, db)
	released := make(chan struct{})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		release()
		close(released)
	}()
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(data), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	status := run(context.Background(), e, []string{"tail", "--lock-timeout", "100ms", "--db", db, "-"})
	<-released
	if status != 0 {
		t.Fatalf("tail -: exit %d: %s", status, errb.String())
	}
	if n := strings.Count(errb.String(), "locked by another process"); n != 1 {
		t.Errorf("%d warnings while the lock was held, want 1:\n%s", n, errb.String())
	}
	compareCounts(t, truth(t, "exim"), summary(t, db))
}

// TestTailRestartCompressedRotationThenIngest: the log grows and is
// rotated and compressed while the follower is down; on restart it reads
// the rest of mail.log.1.gz, then the new mail.log. A batch ingest of the
// whole rotated set afterwards must add nothing: the rotated content's
// final position is committed too, though the follower left it for the
// new file within one batch.
func TestTailRestartCompressedRotationThenIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("gzip not installed")
	}
	lines := logLines(t, "testdata/mta/postfix/maillog")
	third := len(lines) / 3
	dir := t.TempDir()
	log, db := filepath.Join(dir, "mail.log"), filepath.Join(dir, "tail.db")
	if err := os.WriteFile(log, bytes.Join(lines[:third], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	tailUntil(t, db, log, int64(third))

	// While it is down: the log grows, is rotated and compressed, and a
	// new one begins.
	appendLines(t, log, lines[third:2*third])
	rotateCompressed(t, log)
	appendLines(t, log, lines[2*third:])
	tailUntil(t, db, log, int64(len(lines)))

	ingestAddsNothing(t, db, log+"*")
	compareCounts(t, truth(t, "postfix"), summary(t, db))
}

// TestTailRestartTwoRotations: two rotations (both compressed) while the
// follower is down; on restart it reads the rest of mail.log.2.gz, all of
// mail.log.1.gz, then mail.log. Each content keeps one checkpoint row with
// all its lines (a compressed file's head, growing line by line in its
// first kilobyte, once made a row per line), and a later ingest of the
// rotated set adds nothing.
func TestTailRestartTwoRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("gzip not installed")
	}
	lines := logLines(t, "testdata/mta/postfix/maillog")
	q := len(lines) / 4
	dir := t.TempDir()
	log, db := filepath.Join(dir, "mail.log"), filepath.Join(dir, "tail.db")
	if err := os.WriteFile(log, bytes.Join(lines[:q], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	tailUntil(t, db, log, int64(q))

	appendLines(t, log, lines[q:2*q])
	rotateCompressed(t, log)
	if err := os.Rename(log+".1.gz", log+".2.gz"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, log, lines[2*q:3*q])
	rotateCompressed(t, log)
	appendLines(t, log, lines[3*q:])

	tailUntil(t, db, log, int64(len(lines)))

	if n := scalar(t, db, `SELECT count(*) FROM sources`); n != "3" {
		t.Errorf("%s checkpoint rows, want 3 (one per content): %s", n,
			scalar(t, db, `SELECT group_concat(offset || ':' || lines || ':' || content_head_len, ' ') FROM sources`))
	}
	ingestAddsNothing(t, db, log+"*")
	compareCounts(t, truth(t, "postfix"), summary(t, db))
}

// logLines is the lines of a log, each with its "\n".
func logLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// tailUntil follows log with a tail process until the database covers n
// lines, then stops it with SIGTERM.
func tailUntil(t *testing.T, db, log string, n int64) {
	t.Helper()
	cmd := startTail(t, "--db", db, log)
	waitLines(t, db, n)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// ingestAddsNothing ingests args into db and expects no new attempt.
func ingestAddsNothing(t *testing.T, db string, args ...string) {
	t.Helper()
	q := `SELECT count(*) || ' ' || sum(final) FROM deliveries`
	before := scalar(t, db, q)
	if _, stderr, status := mailbounce(t, append([]string{"ingest", "-q", "--db", db}, args...)...); status != 0 {
		t.Fatalf("ingest %v: exit %d: %s", args, status, stderr)
	}
	if after := scalar(t, db, q); after != before {
		t.Errorf("ingest %v added attempts: (count, final) %s, then %s", args, before, after)
	}
}

// holdWriteLock creates the database db (if need be) and holds its write
// lock, as an sqlite3 shell with a transaction open does, until release.
func holdWriteLock(t *testing.T, db string) (release func()) {
	t.Helper()
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, "/dev/null"); status != 0 && status != exitPartial {
		t.Fatalf("create the database: exit %d: %s", status, stderr)
	}
	other, err := sql.Open("sqlite3", "file:"+db+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO counters (program, kind, lines) VALUES ('test', 'unknown', 0)`); err != nil {
		t.Fatal(err)
	}
	release = func() { tx.Rollback(); other.Close() }
	t.Cleanup(release)
	return release
}

// TestTailAfterIngest: logs backfilled with ingest, then followed by tail
// under another path (ingest given a relative path, the service an
// absolute one; or a copy): tail reads on from where ingest stopped,
// found by the first kilobyte, instead of storing it all again.
func TestTailAfterIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	lines := logLines(t, "testdata/mta/postfix/maillog")
	half := len(lines) / 2
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	backfill, live := filepath.Join(dir, "backfill.log"), filepath.Join(dir, "mail.log")
	if err := os.WriteFile(backfill, bytes.Join(lines[:half], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, backfill); status != 0 {
		t.Fatalf("ingest: exit %d: %s", status, stderr)
	}
	// The live log holds the same first half, and grows.
	if err := os.WriteFile(live, bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	tailUntil(t, db, live, int64(len(lines)))
	compareCounts(t, truth(t, "postfix"), summary(t, db))
}

// appendLines appends lines to the file at path, creating it.
func appendLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Join(lines, nil)); err != nil {
		t.Fatal(err)
	}
}

// rotateCompressed rotates log as logrotate's compress does: log.1.gz, and
// no log until the next line is written.
func rotateCompressed(t *testing.T, log string) {
	t.Helper()
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gzip", log+".1").CombinedOutput(); err != nil {
		t.Fatalf("gzip: %v: %s", err, out)
	}
}
