package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbounce/store"
)

// counts is one domain's line of testdata/mta/*/expected.json, which was
// computed from the SMTP sink's journal, not from any log. A count the sink
// could not know (the deferrals of a port where nothing listens) is absent,
// and not compared.
type counts map[string]int64

func mailbounce(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(nil), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	status := run(context.Background(), e, args)
	return out.String(), errb.String(), status
}

// TestRealMTALogs ingests the logs that real Postfix and Exim wrote on
// loopback (scripts/mta) and compares the per-domain counts with the truth.
// Where they differ, fix the parser or the correlation, never the truth.
func TestRealMTALogs(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/mta/*")
	if len(dirs) == 0 {
		t.Fatal("no logs under testdata/mta")
	}
	for _, dir := range dirs {
		logs, _ := filepath.Glob(filepath.Join(dir, "*log"))
		if len(logs) == 0 {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var want struct {
				Domains map[string]counts `json:"domains"`
			}
			data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(t.TempDir(), "e2e.db")
			if _, stderr, status := mailbounce(t, append([]string{"ingest", "-q", "--db", db}, logs...)...); status != 0 {
				t.Fatalf("ingest exit %d: %s", status, stderr)
			}
			got := summary(t, db)
			compareCounts(t, want.Domains, got)
			foreignKeysHold(t, db)

			// Again: nothing new may be added.
			if _, stderr, status := mailbounce(t, append([]string{"ingest", "-q", "--db", db}, logs...)...); status != 0 {
				t.Fatalf("second ingest exit %d: %s", status, stderr)
			}
			compareCounts(t, want.Domains, summary(t, db))
		})
	}
}

// TestRealMTALogsSplit ingests a real log cut in two, in two runs, the
// first half compressed as logrotate leaves it: a message whose lines
// straddle the cut must still be one message with one outcome.
func TestRealMTALogsSplit(t *testing.T) {
	for _, mta := range []string{"postfix", "exim"} {
		t.Run(mta, func(t *testing.T) {
			logs, _ := filepath.Glob(filepath.Join("testdata/mta", mta, "*log"))
			if len(logs) != 1 {
				t.Skipf("want one log, have %v", logs)
			}
			data, err := os.ReadFile(logs[0])
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(logs[0])
			cut := bytes.IndexByte(data[len(data)/2:], '\n') + len(data)/2 + 1
			tmp := t.TempDir()
			older, newer := filepath.Join(tmp, "mail.log.1.gz"), filepath.Join(tmp, "mail.log")
			writeGzip(t, older, data[:cut])
			if err := os.WriteFile(newer, data[cut:], 0o644); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{older, newer} {
				os.Chtimes(p, fi.ModTime(), fi.ModTime())
			}
			var want struct {
				Domains map[string]counts `json:"domains"`
			}
			exp, _ := os.ReadFile(filepath.Join("testdata/mta", mta, "expected.json"))
			if err := json.Unmarshal(exp, &want); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(tmp, "split.db")
			for _, p := range []string{older, newer} {
				if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, p); status != 0 {
					t.Fatalf("ingest %s: exit %d: %s", p, status, stderr)
				}
			}
			compareCounts(t, want.Domains, summary(t, db))
		})
	}
}

// truth is the per-domain counts of testdata/mta/MTA, computed from the
// SMTP sink's journal when the logs were made.
func truth(t *testing.T, mta string) map[string]counts {
	t.Helper()
	var want struct {
		Domains map[string]counts `json:"domains"`
	}
	data, err := os.ReadFile(filepath.Join("testdata/mta", mta, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	return want.Domains
}

func summary(t *testing.T, path string) map[string]counts {
	t.Helper()
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.DomainSummary(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]counts{}
	for _, r := range rows {
		got[r.Domain] = counts{"recipients": r.Recipients, "delivered": r.Delivered, "deferred": r.Deferred,
			"deferred_recipients": r.DeferredRecipients, "bounced": r.Bounced, "expired": r.Expired}
	}
	return got
}

func compareCounts(t *testing.T, want, got map[string]counts) {
	t.Helper()
	for d, w := range want {
		for k, n := range w {
			if g := got[d][k]; g != n {
				t.Errorf("%s: %s = %d, want %d (all: %v)", d, k, g, n, got[d])
			}
		}
	}
	for d, g := range got {
		if _, ok := want[d]; !ok {
			t.Errorf("%s: not in the truth, got %+v", d, g)
		}
	}
}

func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// foreignKeysHold checks the references that the writer does not enforce
// (for speed): every row refers to rows that exist.
func foreignKeysHold(t *testing.T, path string) {
	t.Helper()
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Reader().Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid, fkid any
		rows.Scan(&table, &rowid, &parent, &fkid)
		t.Errorf("row %v of %s refers to a missing row of %s", rowid, table, parent)
	}
}

// --year is the year of the first line: in a rotated set read oldest first,
// the January lines of the newer file after the older one's December are
// the next year's, whether read by ingest or by parse.
func TestYearAcrossRotatedSet(t *testing.T) {
	dir := t.TempDir()
	line := func(stamp, qid, rcpt string) string {
		return stamp + " mx postfix/smtp[1]: " + qid + ": to=<" + rcpt + ">, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "mail.log.1"), []byte(line("Dec 31 23:50:00", "1A2B3C4D5E", "a@example.org")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mail.log"), []byte(line("Jan  1 00:10:00", "2A2B3C4D5E", "b@example.org")), 0o644); err != nil {
		t.Fatal(err)
	}
	// Another host's log, a set of its own: it starts over at --year.
	if err := os.Mkdir(filepath.Join(dir, "h2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "h2", "maillog"), []byte(line("Dec 30 10:00:00", "3A2B3C4D5E", "c@example.org")), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "c@example.org 2025-12-30 a@example.org 2025-12-31 b@example.org 2026-01-01"
	db := filepath.Join(dir, "y.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--tz", "UTC", "--year", "2025", "--db", db, filepath.Join(dir, "mail.log*"), filepath.Join(dir, "h2", "maillog")); status != 0 {
		t.Fatalf("ingest exit %d: %s", status, stderr)
	}
	if got := queryString(t, db, `SELECT group_concat(recipient || ' ' || substr(time, 1, 10), ' ') FROM (SELECT * FROM v_deliveries ORDER BY time)`); got != want {
		t.Errorf("ingest: %q, want %q", got, want)
	}
	out, stderr, status := mailbounce(t, "parse", "--tz", "UTC", "--year", "2025", filepath.Join(dir, "mail.log*"), filepath.Join(dir, "h2", "maillog"))
	if status != 0 {
		t.Fatalf("parse exit %d: %s", status, stderr)
	}
	var evs []string
	for _, l := range bytes.Split(bytes.TrimSpace([]byte(out)), []byte("\n")) {
		var ev struct{ Time, Recipient string }
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev.Recipient+" "+ev.Time[:10])
	}
	if got := strings.Join(evs, " "); got != "a@example.org 2025-12-31 b@example.org 2026-01-01 c@example.org 2025-12-30" {
		t.Errorf("parse: %q", evs)
	}
}

// rsyslog's $RepeatedMsgReduction (Ubuntu's default) folds identical lines
// into "message repeated N times: [ ... ]", FreeBSD's syslogd (and the old
// sysklogd) into "last message repeated N times" after the line: they count
// as the lines they stand for, in ingest and in parse --stats.
func TestRepeatedMessages(t *testing.T) {
	reject := "Nov 28 10:00:00 mx postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.5]: 450 4.7.1 <a@example.com>: Recipient address rejected: Greylisted; from=<s@example.net> to=<a@example.com> proto=ESMTP helo=<x>"
	for _, c := range []struct {
		name, log string
		want      int
	}{
		{"rsyslog", reject + "\n" + strings.Replace(reject, "NOQUEUE:", "message repeated 2 times: [ NOQUEUE:", 1) + "]\n", 3},
		// The second marker follows another program's line: nothing more.
		{"FreeBSD syslogd", reject + "\nNov 28 10:00:06 mx last message repeated 3 times\n" +
			"Nov 28 10:00:07 mx dovecot: imap-login: Login: user=<u>\nNov 28 10:00:08 mx last message repeated 2 times\n", 4},
		// ingest reads blocks of 1,024 lines: the reject ends the first,
		// the marker opens the second.
		{"FreeBSD syslogd, the marker after a block", strings.Repeat("Nov 28 09:59:00 mx dovecot: imap-login: Login: user=<u>\n", 1023) +
			reject + "\nNov 28 10:00:06 mx last message repeated 3 times\n", 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "mail.log")
			if err := os.WriteFile(log, []byte(c.log), 0o644); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, "r.db")
			if _, stderr, status := mailbounce(t, "ingest", "-q", "--year", "2026", "--db", db, log); status != 0 {
				t.Fatalf("ingest exit %d: %s", status, stderr)
			}
			if got, want := queryString(t, db, `SELECT count(*) FROM v_rejects`), fmt.Sprint(c.want); got != want {
				t.Errorf("%s rejects, want %s", got, want)
			}
			out, _, _ := mailbounce(t, "parse", "--stats", "--year", "2026", log)
			if !strings.Contains(out, fmt.Sprintf("reject %18d", c.want)) {
				t.Errorf("parse --stats:\n%s", out)
			}
		})
	}
}

// queryString opens the database at path and returns one value of q.
func queryString(t *testing.T, path, q string) string {
	t.Helper()
	d, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var v sql.NullString
	if err := d.Reader().QueryRow(q).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v.String
}
