package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// journalRemote writes journal files from journal export format: the real
// journald file format, without a running journald. Debian: apt-get
// install systemd-journal-remote.
func journalRemote(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if _, err := os.Stat(p); err == nil {
			if _, err := exec.LookPath("journalctl"); err != nil {
				t.Skip("journalctl not installed")
			}
			return p
		}
	}
	t.Skip("systemd-journal-remote not installed (apt-get install systemd-journal-remote)")
	return ""
}

// writeJournal stores lines of a BSD-syslog log ("Nov 28 23:22:43 host
// prog[pid]: message", year 2026, UTC) as the entries of journal file
// name in dir, as journald would have them from Postfix's unit. journald
// stamps entries to the microsecond: line n of the log gets n µs past its
// second, so that no two entries have the same time (journalctl orders
// entries of two files that do as it likes).
func writeJournal(t *testing.T, dir, name string, lines []string, first int) {
	t.Helper()
	writeJournalShifted(t, dir, name, lines, first, 0)
}

// writeJournalShifted is writeJournal with every time later by shift.
func writeJournalShifted(t *testing.T, dir, name string, lines []string, first int, shift time.Duration) {
	t.Helper()
	writeJournalUnit(t, dir, name, lines, first, shift, "postfix@-.service", "0123456789abcdef0123456789abcdef")
}

// writeJournalUnit is writeJournalShifted with the entries' unit and boot.
func writeJournalUnit(t *testing.T, dir, name string, lines []string, first int, shift time.Duration, unit, boot string) {
	t.Helper()
	var export bytes.Buffer
	for i, l := range lines {
		ts, err := time.Parse("2006 Jan _2 15:04:05", "2026 "+l[:15])
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		ts = ts.Add(shift + time.Duration(first+i)*time.Microsecond)
		host, rest, _ := strings.Cut(l[16:], " ")
		prog, msg, ok := strings.Cut(rest, ": ")
		if !ok {
			t.Fatalf("no program in %q", l)
		}
		ident, pid, _ := strings.Cut(strings.TrimSuffix(prog, "]"), "[")
		us := strconv.FormatInt(ts.UnixMicro(), 10)
		for _, f := range [][2]string{{"__REALTIME_TIMESTAMP", us}, {"__MONOTONIC_TIMESTAMP", us},
			{"_BOOT_ID", boot}, {"_HOSTNAME", host}, {"SYSLOG_IDENTIFIER", ident},
			{"SYSLOG_PID", pid}, {"_SYSTEMD_UNIT", unit}, {"SYSLOG_FACILITY", "2"}, {"PRIORITY", "6"}, {"MESSAGE", msg}} {
			export.WriteString(f[0] + "=" + f[1] + "\n")
		}
		export.WriteString("\n")
	}
	in := filepath.Join(t.TempDir(), "export")
	if err := os.WriteFile(in, export.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(journalRemote(t), "--output="+filepath.Join(dir, name), in).CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v: %s", err, out)
	}
}

// journalSetup gives the lines of the real Postfix log and an empty
// directory for journal files, in a temporary directory of the test's.
func journalSetup(t *testing.T) (lines []string, tmp, jdir string) {
	t.Helper()
	journalRemote(t)
	data, err := os.ReadFile("testdata/mta/postfix/maillog")
	if err != nil {
		t.Fatal(err)
	}
	tmp = t.TempDir()
	jdir = filepath.Join(tmp, "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n"), tmp, jdir
}

// csvReport is the report of db, every domain, as CSV.
func csvReport(t *testing.T, db string) string {
	t.Helper()
	stdout, stderr, status := mailbounce(t, "report", "--db", db, "--format", "csv", "--top", "0")
	if status != 0 {
		t.Fatalf("report: exit %d: %s", status, stderr)
	}
	return stdout
}

// TestIngestJournal: the systemd journal is read from where the last run
// stopped (its cursor is committed with the rows), and gives the same
// counts as the same lines read from a file.
func TestIngestJournal(t *testing.T) {
	lines, dir, jdir := journalSetup(t)
	half := len(lines) / 2
	writeJournal(t, jdir, "first.journal", lines[:half], 0)

	fileDB, journalDB := filepath.Join(dir, "file.db"), filepath.Join(dir, "journal.db")
	ingest := func(args ...string) string {
		t.Helper()
		_, stderr, status := mailbounce(t, append([]string{"ingest"}, args...)...)
		if status != 0 {
			t.Fatalf("ingest %v: exit %d: %s", args, status, stderr)
		}
		return stderr
	}
	report := func(db string) string {
		t.Helper()
		stdout, stderr, status := mailbounce(t, "report", "--db", db, "--format", "json")
		if status != 0 {
			t.Fatalf("report: exit %d: %s", status, stderr)
		}
		_, domains, _ := strings.Cut(stdout, `"domains"`)
		return domains
	}
	first := filepath.Join(dir, "first.log")
	if err := os.WriteFile(first, []byte(strings.Join(lines[:half], "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ingest("-q", "--db", fileDB, first)
	ingest("-q", "--db", journalDB, "--journal-dir", jdir)
	if a, b := report(fileDB), report(journalDB); a != b {
		t.Fatalf("the journal's first half:\n%s\nthe file's:\n%s", b, a)
	}
	// Again: nothing new.
	if got := ingest("--db", journalDB, "--journal-dir", jdir); !strings.Contains(got, " 0 entries") {
		t.Errorf("a second run read lines again: %s", got)
	}
	// The journal goes on in a file of its own, as after journald rotated
	// its file: the next run reads only that.
	writeJournal(t, jdir, "second.journal", lines[half:], half)
	if got := ingest("--db", journalDB, "--journal-dir", jdir); !strings.Contains(got, " "+thousands(int64(len(lines)-half))+" entries") {
		t.Errorf("the second half: %s, want %d lines", got, len(lines)-half)
	}
	ingest("-q", "--db", fileDB, "testdata/mta/postfix/maillog")
	if a, b := report(fileDB), report(journalDB); a != b {
		t.Errorf("the whole journal:\n%s\nthe file's:\n%s", b, a)
	}
}

// TestIngestJournalErrors: what stops a journal read is said plainly.
func TestIngestJournalErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	if _, stderr, status := mailbounce(t, "ingest", "--db", db, "--journal", "mail.log"); status != exitUsage || !strings.Contains(stderr, "not both") {
		t.Errorf("--journal with a file: exit %d: %s", status, stderr)
	}
	if _, stderr, status := mailbounce(t, "ingest", "--db", db, "--journal-dir", filepath.Join(t.TempDir(), "none")); status != exitError || !strings.Contains(stderr, "no such directory") {
		t.Errorf("--journal-dir of nothing: exit %d: %s", status, stderr)
	}
	if _, stderr, status := mailbounce(t, "tail", "--db", db, "--journal", "mail.log"); status != exitUsage || !strings.Contains(stderr, "not both") {
		t.Errorf("tail --journal with a file: exit %d: %s", status, stderr)
	}
	t.Setenv("PATH", t.TempDir())
	if _, stderr, status := mailbounce(t, "tail", "--db", db, "--journal"); status != exitError || !strings.Contains(stderr, "journalctl was not found") {
		t.Errorf("tail without journalctl: exit %d: %s", status, stderr)
	}
	if _, stderr, status := mailbounce(t, "ingest", "--db", db, "--journal"); status != exitError || !strings.Contains(stderr, "journalctl was not found") {
		t.Errorf("without journalctl: exit %d: %s", status, stderr)
	}
}

// TestIngestJournalInterrupted: a journal read stopped by SIGINT or SIGTERM
// keeps what it committed, with the cursor of the last entry committed;
// the next run reads on from there, and the result is that of one run.
func TestIngestJournalInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	lines, tmp, jdir := journalSetup(t)
	// Ten days of the real log, a day apart: many transactions.
	const days = 10
	for d := range days {
		writeJournalShifted(t, jdir, fmt.Sprintf("day%02d.journal", d), lines, 0, time.Duration(d)*24*time.Hour)
	}
	ref := filepath.Join(tmp, "ref.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", ref, "--journal-dir", jdir); status != 0 {
		t.Fatalf("reference ingest: %d %s", status, stderr)
	}
	db := filepath.Join(tmp, "int.db")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		before := committedLines(t, db)
		cmd := exec.Command(os.Args[0], "ingest", "--batch-rows", "300", "--db", db, "--journal-dir", jdir)
		cmd.Env = append(os.Environ(), "MAILBOUNCE_TEST_MAIN=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		deadline := time.Now().Add(60 * time.Second)
		for committedLines(t, db) <= before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		got := committedLines(t, db)
		t.Logf("%v after %d entries: %s", sig, got, strings.TrimSpace(stderr.String()))
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitError || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("after %v: %v, want exit status %d and a word that it was interrupted", sig, err, exitError)
		}
		if got >= int64(days*len(lines)) {
			t.Fatalf("the ingest finished before %v arrived; the test proves nothing", sig)
		}
	}
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, "--journal-dir", jdir); status != 0 {
		t.Fatalf("the run after: %d %s", status, stderr)
	}
	if got, want := committedLines(t, db), int64(days*len(lines)); got != want {
		t.Errorf("%d entries read in all, want %d", got, want)
	}
	if a, b := csvReport(t, ref), csvReport(t, db); a != b {
		t.Errorf("interrupted twice:\n%s\nin one run:\n%s", b, a)
	}
}

// TestTailJournal: tail --journal follows the journal as entries come (here
// a journal file written while it runs), stops cleanly on SIGTERM, and
// when started again, and after it ingest --journal, reads only what is
// new: the counts are those of the same log read from a file.
func TestTailJournal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	lines, tmp, jdir := journalSetup(t)
	half := len(lines) / 2
	writeJournal(t, jdir, "first.journal", lines[:half], 0)
	db := filepath.Join(tmp, "t.db")
	stop := func(cmd *exec.Cmd) {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("tail after SIGTERM: %v, want exit status 0", err)
		}
	}
	cmd := startTail(t, "--db", db, "--journal-dir", jdir)
	waitLines(t, db, int64(half))
	writeJournal(t, jdir, "second.journal", lines[half:], half)
	waitLines(t, db, int64(len(lines)))
	stop(cmd)
	// Started again: nothing new to read.
	cmd = startTail(t, "--db", db, "--journal-dir", jdir)
	time.Sleep(500 * time.Millisecond)
	stop(cmd)
	if got := committedLines(t, db); got != int64(len(lines)) {
		t.Errorf("%d entries committed after a restart, want %d", got, len(lines))
	}
	if _, stderr, _ := mailbounce(t, "ingest", "--db", db, "--journal-dir", jdir); !strings.Contains(stderr, " 0 entries") {
		t.Errorf("ingest --journal after tail --journal read entries again: %s", stderr)
	}
	ref := filepath.Join(tmp, "ref.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", ref, "testdata/mta/postfix/maillog"); status != 0 {
		t.Fatalf("ingest: %d %s", status, stderr)
	}
	if a, b := csvReport(t, ref), csvReport(t, db); a != b {
		t.Errorf("followed:\n%s\nfrom the file:\n%s", b, a)
	}
}

// TestIngestJournalEdges: what the journal holds beyond the plain case. A
// Postfix entry of another unit (postsuper run by an admin, in a session
// scope) is read: the mail facility is what is selected. An entry of more
// than 4 KiB (a long bounce reply) is read whole. journalctl's output cut
// in the middle of an entry (journalctl killed) commits the entries before
// it, and the next run reads that one whole.
func TestIngestJournalEdges(t *testing.T) {
	lines, tmp, jdir := journalSetup(t)
	head := lines[:200]
	long := "Nov 28 23:59:00 postfix postfix/smtp[9]: 7E57AB1000: to=<long@reply.example>, relay=mx.reply.example[192.0.2.9]:25, delay=1, delays=0/0/0/1, dsn=5.7.1, status=bounced (host mx.reply.example[192.0.2.9] said: 550 5.7.1 " +
		strings.Repeat("x", 5000) + " (in reply to end of DATA command))"
	writeJournal(t, jdir, "a.journal", append(append([]string{}, head...), long), 0)
	writeJournalUnit(t, jdir, "b.journal", []string{"Nov 28 23:59:30 postfix postfix/postsuper[77]: 7E57AB1001: removed"}, 500, 0, "session-3.scope", "0123456789abcdef0123456789abcdef")

	// journalctl killed after 30,000 bytes of output: a stand-in on PATH
	// that cuts the real one's output there.
	real, err := exec.LookPath("journalctl")
	if err != nil {
		t.Skip("journalctl not installed")
	}
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n" + real + " \"$@\" | head -c 30000\n"
	if err := os.WriteFile(filepath.Join(bin, "journalctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(tmp, "j.db")
	path := os.Getenv("PATH")
	t.Setenv("PATH", bin+":"+path)
	_, stderr, _ := mailbounce(t, "ingest", "--db", db, "--journal-dir", jdir)
	cut := committedLines(t, db)
	if cut == 0 || cut >= int64(len(head)) || !strings.Contains(stderr, "middle of an entry") {
		t.Fatalf("cut short: %d entries committed (want some, not all %d): %s", cut, len(head)+2, stderr)
	}
	t.Setenv("PATH", path)
	if _, stderr, status := mailbounce(t, "ingest", "--db", db, "--journal-dir", jdir); status != 0 {
		t.Fatalf("the run after: exit %d: %s", status, stderr)
	}
	if got, want := committedLines(t, db), int64(len(head)+2); got != want {
		t.Errorf("%d entries read in all, want %d (the cut one read twice, or lost?)", got, want)
	}
	if got := scalar(t, db, `SELECT count(*) FROM deliveries WHERE recipient = 'long@reply.example' AND outcome = 'bounced'`); got != "1" {
		t.Errorf("the entry of 5 KB: %s bounce rows, want 1", got)
	}
	ref := filepath.Join(tmp, "ref.db")
	file := filepath.Join(tmp, "same.log")
	all := append(append(append([]string{}, head...), long), "Nov 28 23:59:30 postfix postfix/postsuper[77]: 7E57AB1001: removed")
	if err := os.WriteFile(file, []byte(strings.Join(all, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mailbounce(t, "ingest", "-q", "--db", ref, file)
	if a, b := csvReport(t, ref), csvReport(t, db); a != b {
		t.Errorf("from the journal:\n%s\nfrom the file:\n%s", b, a)
	}
}

// TestTailJournalFewEntries: the first entries are stored as they come,
// not once a few kilobytes have (a quiet server's journal after a
// restart); a first start reads the boots before the last one too, and a
// restart with more than ten entries waiting reads all of them.
func TestTailJournalFewEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	lines, tmp, jdir := journalSetup(t)
	writeJournalUnit(t, jdir, "boot1.journal", lines[:2], 0, 0, "postfix@-.service", strings.Repeat("a", 32))
	writeJournalUnit(t, jdir, "boot2.journal", lines[2:3], 2, 0, "postfix@-.service", strings.Repeat("b", 32))
	db := filepath.Join(tmp, "t.db")
	stop := func(cmd *exec.Cmd) {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("tail after SIGTERM: %v", err)
		}
	}
	cmd := startTail(t, "--db", db, "--journal-dir", jdir)
	waitLines(t, db, 3)
	stop(cmd)
	writeJournalUnit(t, jdir, "boot3.journal", lines[3:40], 3, 0, "postfix@-.service", strings.Repeat("b", 32))
	cmd = startTail(t, "--db", db, "--journal-dir", jdir)
	waitLines(t, db, 40)
	stop(cmd)
}

// A last line without its newline is not an entry.
func TestReadJournalLine(t *testing.T) {
	long := strings.Repeat("y", 100<<10)
	br := bufio.NewReaderSize(strings.NewReader("a\n"+long+"\nhalf"), 64<<10)
	for _, want := range []string{"a", long} {
		if got, err := readJournalLine(br); err != nil || got != want {
			t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
	}
	if got, err := readJournalLine(br); err != io.EOF {
		t.Errorf("the half line: %q, %v; want io.EOF", got, err)
	}
}
