package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mailbounce/store"
)

// TestIngestBulkLoad ingests the real MTA logs with the report indexes set
// aside (--bulk on, what a large first ingest does by itself) and with them
// in place, and expects the same database: the same rows, rollups and
// per-domain counts, and every index back at the end.
func TestIngestBulkLoad(t *testing.T) {
	for _, dir := range []string{"testdata/mta/postfix", "testdata/mta/exim", "testdata/mta/chain"} {
		logs, _ := filepath.Glob(filepath.Join(dir, "*log"))
		if len(logs) == 0 {
			t.Fatalf("no logs in %s", dir)
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			tmp := t.TempDir()
			dbs := map[string]string{}
			for _, mode := range []string{"on", "off"} {
				db := filepath.Join(tmp, mode+".db")
				dbs[mode] = db
				args := append([]string{"ingest", "-q", "--bulk", mode, "--db", db}, logs...)
				if _, stderr, status := mailbounce(t, args...); status != 0 {
					t.Fatalf("ingest --bulk %s: exit %d: %s", mode, status, stderr)
				}
				// Read before anything opens the database through store.Open,
				// which would create missing indexes itself.
				if n := scalar(t, db, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN
					('deliveries_domain_outcome', 'deliveries_deferred', 'deliveries_time', 'rejects_time', 'deliveries_remote_id')`); n != "5" {
					t.Errorf("--bulk %s: %s of the 5 bulk-load indexes after the ingest", mode, n)
				}
				if n := scalar(t, db, `SELECT count(*) FROM deferred_indexes`); n != "0" {
					t.Errorf("--bulk %s: %s indexes still deferred", mode, n)
				}
			}
			for _, q := range []string{
				`SELECT count(*) || ' ' || sum(final) || ' ' || group_concat(DISTINCT outcome) FROM deliveries`,
				`SELECT count(*) FROM messages`,
				`SELECT count(*) FROM rejects`,
				`SELECT count(*) || ' ' || sum(attempts) || ' ' || sum(messages) FROM delivery_hours`,
				`SELECT ifnull(sum(recipients), 0) FROM deferred_hours`,
				`SELECT count(*) || ' ' || ifnull(sum(to_ref), 0) FROM message_links`,
				`SELECT count(*) FROM stitch_queue`,
				`SELECT group_concat(domain || recipients || delivered || bounced || expired || deferrals || deferred_recipients, ',') FROM v_domain_summary`,
			} {
				if on, off := scalar(t, dbs["on"], q), scalar(t, dbs["off"], q); on != off {
					t.Errorf("%s: bulk %s, indexed %s", q, on, off)
				}
			}
			compareCounts(t, summary(t, dbs["off"]), summary(t, dbs["on"]))
			foreignKeysHold(t, dbs["on"])
			db, err := store.Open(context.Background(), dbs["on"], store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.VerifyRollup(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestIngestResumesBulkLoad: an ingest that stopped with the indexes set
// aside (simulated: deferred and never restored) leaves a database that
// the next ingest completes and restores, and that a report opens.
func TestIngestResumesBulkLoad(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	path := filepath.Join(tmp, "resume.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeferIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if n := scalar(t, path, `SELECT count(*) FROM deferred_indexes`); n != "5" {
		t.Fatalf("%s indexes deferred, want 5", n)
	}
	// A small ingest does not load in bulk: it restores the indexes first.
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", path, "testdata/mta/postfix/maillog"); status != 0 {
		t.Fatalf("ingest: exit %d: %s", status, stderr)
	}
	if n := scalar(t, path, `SELECT count(*) FROM deferred_indexes`); n != "0" {
		t.Errorf("%s indexes still deferred after the next ingest", n)
	}
	// A report on a database left with deferred indexes restores them.
	db, err = store.Open(ctx, path, store.Options{KeepDeferredIndexes: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeferIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, stderr, status := mailbounce(t, "report", "--db", path, "--format", "json"); status != 0 {
		t.Fatalf("report: exit %d: %s", status, stderr)
	}
	if n := scalar(t, path, `SELECT count(*) FROM deferred_indexes`); n != "0" {
		t.Errorf("%s indexes still deferred after a report", n)
	}
}

// TestIngestCopiesAddNothing: an older, shorter copy of a log read before
// (a snapshot taken while it grew), and the same content under a second
// name in one run (a copy, a .gz twin), add nothing, in either order and
// in any number of runs; and the record of what was read keeps the longer
// log's offset, so that the next read of the growing log goes on from there.
func TestIngestCopiesAddNothing(t *testing.T) {
	tmp := t.TempDir()
	full, err := os.ReadFile("testdata/mta/postfix/maillog")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(full, []byte("\n"))
	write := func(name string, data []byte) string {
		path := filepath.Join(tmp, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(full)
	zw.Close()
	logPath := write("mail.log", full)
	snap := write("snapshot.log", bytes.Join(lines[:len(lines)/2], nil))
	twin := write("twin.log.gz", gz.Bytes())
	copyPath := write("copy.log", full)

	want := func() string {
		db := filepath.Join(tmp, "want.db")
		if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, logPath); status != 0 {
			t.Fatalf("ingest: exit %d: %s", status, stderr)
		}
		return scalar(t, db, `SELECT count(*) || ' ' || sum(final) FROM deliveries`)
	}()
	for i, runs := range [][][]string{
		{{snap}, {logPath}, {snap}, {logPath}, {snap}},
		{{logPath}, {snap}, {logPath}},
		{{snap, twin}, {snap, twin}, {logPath}},
		{{logPath, twin, copyPath}},
		{{twin, snap}, {copyPath}},
	} {
		db := filepath.Join(tmp, fmt.Sprintf("runs%d.db", i))
		for _, args := range runs {
			if _, stderr, status := mailbounce(t, append([]string{"ingest", "-q", "--db", db}, args...)...); status != 0 {
				t.Fatalf("ingest %v: exit %d: %s", args, status, stderr)
			}
		}
		if got := scalar(t, db, `SELECT count(*) || ' ' || sum(final) FROM deliveries`); got != want {
			t.Errorf("runs %v: attempts (count, final) %s, want %s as from the log once", runs, got, want)
		}
	}

	// The summary counts the copy's own lines as skipped, not the log's.
	db := filepath.Join(tmp, "summary.db")
	mailbounce(t, "ingest", "-q", "--db", db, logPath)
	_, stderr, status := mailbounce(t, "ingest", "--db", db, snap)
	if status != 0 {
		t.Fatalf("ingest of the snapshot: exit %d: %s", status, stderr)
	}
	if wantLine := fmt.Sprintf("%s lines already in the database were skipped", thousands(int64(len(lines)/2))); !strings.Contains(stderr, wantLine) {
		t.Errorf("summary of the snapshot:\n%s\nwant %q", stderr, wantLine)
	}
}

// TestIngestWarnsWorldReadable: a database readable by every user (an
// older file, a copy) gets a warning; one shared with a group does not.
func TestIngestWarnsWorldReadable(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, "testdata/mta/exim/mainlog"); status != 0 {
		t.Fatalf("ingest: exit %d: %s", status, stderr)
	}
	for mode, warn := range map[os.FileMode]bool{0o644: true, 0o640: false, 0o600: false} {
		if err := os.Chmod(db, mode); err != nil {
			t.Fatal(err)
		}
		_, stderr, _ := mailbounce(t, "ingest", "-q", "--db", db, "testdata/mta/exim/mainlog")
		if got := strings.Contains(stderr, "is readable by every user"); got != warn {
			t.Errorf("mode %04o: warning %v, want %v: %q", mode, got, warn, stderr)
		}
	}
}

// TestIngestNamedPipe: a named pipe (or bash's <(...)) is read once, from
// its first byte: weighing the inputs for a bulk load must not read it,
// or its first bytes would be lost and its fingerprint differ from the
// file's. Ingesting the file afterwards then adds nothing.
func TestIngestNamedPipe(t *testing.T) {
	data, err := os.ReadFile("testdata/mta/postfix/maillog")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fifo, db, file := filepath.Join(dir, "pipe"), filepath.Join(dir, "p.db"), filepath.Join(dir, "mail.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, fifo); status != 0 {
		t.Fatalf("ingest of a named pipe: exit %d: %s", status, stderr)
	}
	want := fmt.Sprint(bytes.Count(data, []byte("\n")))
	if got := scalar(t, db, `SELECT sum(lines) FROM sources`); got != want {
		t.Errorf("lines read from the pipe: %s, want %s", got, want)
	}
	before := scalar(t, db, `SELECT count(*) FROM deliveries`)
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, file); status != 0 {
		t.Fatalf("ingest of the file: exit %d: %s", status, stderr)
	}
	if after := scalar(t, db, `SELECT count(*) FROM deliveries`); after != before {
		t.Errorf("the file after the pipe added attempts: %s, then %s", before, after)
	}
}

// TestIngestBlankHeads: logs that start with a kilobyte of NULs (a
// copytruncate's hole) all have the same first kilobyte; they are known by
// their path. Two different such logs, ingested together again and again,
// in either order, are each stored once, whole.
func TestIngestBlankHeads(t *testing.T) {
	data, err := os.ReadFile("testdata/mta/postfix/maillog")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	dir := t.TempDir()
	hole := make([]byte, 2048)
	a := filepath.Join(dir, "a.log")
	b := filepath.Join(dir, "b.log")
	if err := os.WriteFile(a, append(append([]byte{}, hole...), bytes.Join(lines[:len(lines)/2], nil)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, append(append([]byte{}, hole[:1500]...), bytes.Join(lines[len(lines)/2:], nil)...), 0o644); err != nil {
		t.Fatal(err)
	}
	count := func(db string) string {
		return scalar(t, db, `SELECT count(*) || ' ' || sum(final) FROM deliveries`)
	}
	ref := filepath.Join(dir, "ref.db")
	for _, f := range []string{a, b} {
		if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", ref, f); status != 0 {
			t.Fatalf("reference ingest of %s: exit %d: %s", f, status, stderr)
		}
	}
	want := count(ref)
	// Each alone in a database of its own: the reference holds both whole.
	var alone int
	for i, f := range []string{a, b} {
		db := filepath.Join(dir, fmt.Sprintf("alone%d.db", i))
		if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, f); status != 0 {
			t.Fatalf("ingest of %s alone: exit %d: %s", f, status, stderr)
		}
		n, _ := strconv.Atoi(scalar(t, db, `SELECT count(*) FROM deliveries`))
		alone += n
	}
	if got := scalar(t, ref, `SELECT count(*) FROM deliveries`); got != fmt.Sprint(alone) || alone == 0 {
		t.Fatalf("the reference holds %s attempts, the two logs alone %d", got, alone)
	}
	for i, order := range [][]string{{a, b}, {b, a}} {
		db := filepath.Join(dir, fmt.Sprintf("runs%d.db", i))
		for run := 0; run < 3; run++ {
			if _, stderr, status := mailbounce(t, append([]string{"ingest", "-q", "--db", db}, order...)...); status != 0 {
				t.Fatalf("run %d of %v: exit %d: %s", run, order, status, stderr)
			}
		}
		// Read in the wrong order (the second half first), a message
		// whose lines straddle the two may end otherwise (a pipe line read
		// before its Message-ID): its attempts are the same, the
		// reference for what is final is one run in that order.
		wantOrder := want
		if i == 1 {
			one := filepath.Join(dir, "one-run.db")
			if _, stderr, status := mailbounce(t, append([]string{"ingest", "-q", "--db", one}, order...)...); status != 0 {
				t.Fatalf("one run of %v: exit %d: %s", order, status, stderr)
			}
			wantOrder = count(one)
			if n, _, _ := strings.Cut(wantOrder, " "); n != fmt.Sprint(alone) {
				t.Errorf("one run of %v: attempts (count, final) %s, want %d attempts", order, wantOrder, alone)
			}
		}
		if got := count(db); got != wantOrder {
			t.Errorf("order %v, three runs: attempts (count, final) %s, want %s", order, got, wantOrder)
		}
	}
}

// TestIngestLastLine: a log's last line without "\n" (a sample or an
// excerpt often ends so) is stored when the file is not growing; one that
// is being written (the file grew while it was read) is left for the next
// run, which reads it whole.
func TestIngestLastLine(t *testing.T) {
	line := "Nov 28 10:00:01 mx postfix/smtp[123]: 4ABCD1234: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)"
	dir := t.TempDir()
	log, db := filepath.Join(dir, "sample.log"), filepath.Join(dir, "s.db")
	if err := os.WriteFile(log, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, log); status != 0 {
		t.Fatalf("ingest: exit %d: %s", status, stderr)
	}
	if n := scalar(t, db, `SELECT count(*) FROM deliveries`); n != "1" {
		t.Errorf("a file whose only line has no end of line: %s attempts stored, want 1", n)
	}
	if growing(log, int64(len(line))) || !growing(log, int64(len(line)-1)) {
		t.Errorf("growing: a file of %d bytes read in full is not growing; read but for one byte, it is", len(line))
	}
}

// TestUnknownEnvelope: lines that name Postfix or Exim in a log format
// mailbounce does not know are not silently another program's: ingest
// counts them as not understood, and parse --unknown shows them.
func TestUnknownEnvelope(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "odd.log")
	lines := "28.11.2026 07:00:00 mx postfix/qmgr[3]: 1A1A1A1A1A: removed\n" +
		"28.11.2026 07:00:00 mx dovecot[4]: imap-login: Login: user=<u@example.com>\n" +
		"Nov 28 07:00:00 mx dovecot[4]: imap-login: Login: user=<u@example.com>\n" +
		// journalctl -o cat: no envelope at all.
		"4Xkp2N0KJjz9sR9: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n" +
		"1pXyZ1-0001Ab-Cd => a@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1]\n" +
		"connect from unknown[192.0.2.1]\n" +
		// An Exim reject log's quoted header, continued.
		"P Received: from [127.0.0.1] (helo=localhost)\n\tby exim.mailbounce.test with utf8esmtp (Exim 4.96)\n"
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, status := mailbounce(t, "ingest", "--db", filepath.Join(dir, "u.db"), log)
	if status != 0 || !strings.Contains(stderr, "3 Postfix/Exim lines not understood") || !strings.Contains(stderr, "2 of them carry no time or host (journalctl -o cat?)") {
		t.Errorf("ingest: exit %d, want 0 and three lines not understood: %s", status, stderr)
	}
	stdout, _, _ := mailbounce(t, "parse", "--unknown", log)
	if want := "28.11.2026 07:00:00 mx postfix/qmgr[3]: 1A1A1A1A1A: removed\n" +
		"4Xkp2N0KJjz9sR9: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n" +
		"1pXyZ1-0001Ab-Cd => a@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1]\n"; stdout != want {
		t.Errorf("parse --unknown printed %q, want %q", stdout, want)
	}
}

// TestIngestEximRejectLog: Exim writes the first line of each rejection to
// its rejectlog as well as its mainlog; a run over the whole log directory
// counts each once. The mainlog is the real Exim's with the rejections of
// a real server's log (crowdsec's sample) among its lines; the rejectlog
// holds those lines, each followed by the envelope lines Exim adds.
func TestIngestEximRejectLog(t *testing.T) {
	dir := t.TempDir()
	mainlog, err := os.ReadFile("testdata/mta/exim/mainlog")
	if err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile("parse/testdata/corpus/crowdsec_exim-logs__exim-logs.log")
	if err != nil {
		t.Fatal(err)
	}
	var rejects, rejectlog []string
	for _, l := range strings.Split(string(sample), "\n") {
		if strings.Contains(l, " rejected ") {
			rejects = append(rejects, l)
			rejectlog = append(rejectlog, l, "Envelope-from: <s@example.org>", "Envelope-to: <r@example.com>")
		}
	}
	if len(rejects) == 0 {
		t.Fatal("no rejection in the sample")
	}
	writeLog := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeLog("mainlog", strings.Join(rejects, "\n")+"\n"+string(mainlog))
	writeLog("rejectlog", strings.Join(rejectlog, "\n")+"\n")
	mainLines := int64(len(rejects) + bytes.Count(mainlog, []byte("\n")))
	rejected := func(db string) int {
		t.Helper()
		stdout, stderr, status := mailbounce(t, "report", "--db", db, "--format", "json")
		var r struct {
			Totals struct {
				Rejected int `json:"rejected"`
			} `json:"totals"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil || status != 0 {
			t.Fatalf("report: exit %d, %v: %s", status, err, stderr)
		}
		return r.Totals.Rejected
	}
	one := filepath.Join(dir, "one.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", one, filepath.Join(dir, "mainlog")); status != 0 {
		t.Fatalf("ingest mainlog: exit %d: %s", status, stderr)
	}
	both := filepath.Join(dir, "both.db")
	_, stderr, status := mailbounce(t, "ingest", "-q", "--db", both, filepath.Join(dir, "*log"))
	if status != 0 || !strings.Contains(stderr, "rejectlog skipped") {
		t.Fatalf("ingest mainlog and rejectlog: exit %d, want 0 and the rejectlog skipped: %s", status, stderr)
	}
	// Alone, the rejectlog is read.
	alone := filepath.Join(dir, "alone.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", alone, filepath.Join(dir, "rejectlog")); status != 0 || strings.Contains(stderr, "skipped") {
		t.Fatalf("ingest rejectlog: exit %d: %s", status, stderr)
	}
	// tail given both follows the mainlog only.
	tailed := filepath.Join(dir, "tail.db")
	cmd, tailErr := startMailbounce(t, "tail", "--db", tailed, filepath.Join(dir, "mainlog"), filepath.Join(dir, "rejectlog"))
	waitLines(t, tailed, mainLines)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if !strings.Contains(tailErr.String(), "rejectlog skipped") {
		t.Errorf("tail did not say it skipped the rejectlog: %s", tailErr)
	}
	for _, db := range []string{one, both, alone, tailed} {
		if got := rejected(db); got != len(rejects) {
			t.Errorf("%s: %d rejected, want %d", filepath.Base(db), got, len(rejects))
		}
	}
}
