package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/report/*.golden")

// runCommand runs one of this file's commands as main's run would.
func runCommand(t *testing.T, name string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(nil), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	f := map[string]func(context.Context, *env, []string) error{"report": runReport, "trace": runTrace}[name]
	status := statusOf(e, name, f(context.Background(), e, args))
	return out.String(), errb.String(), status
}

// mtaDB ingests one real MTA log into a database of the test's own.
func mtaDB(t *testing.T, mta string) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join("testdata/mta", mta, "*log"))
	db := filepath.Join(t.TempDir(), mta+".db")
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(nil), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if err := runIngest(context.Background(), e, append([]string{"-q", "--db", db}, logs...)); err != nil {
		t.Fatalf("ingest %s: %v: %s", mta, err, errb.String())
	}
	return db
}

// TestReportJSONTruth is the end-to-end truth check through the public
// JSON: mailbounce report --format json, parsed back, equals the counts the
// SMTP sink recorded.
func TestReportJSONTruth(t *testing.T) {
	for _, mta := range []string{"postfix", "exim"} {
		t.Run(mta, func(t *testing.T) {
			want := truth(t, mta)
			out, stderr, status := runCommand(t, "report", "--db", mtaDB(t, mta), "--format", "json")
			if status != 0 {
				t.Fatalf("exit %d: %s", status, stderr)
			}
			var got struct {
				Totals  map[string]any   `json:"totals"`
				Domains []map[string]any `json:"domains"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			numbers := func(m map[string]any) counts {
				c := counts{}
				for k, v := range m {
					if f, ok := v.(float64); ok && f == float64(int64(f)) && !strings.HasSuffix(k, "_rate") {
						c[k] = int64(f)
					}
				}
				return c
			}
			byName := map[string]counts{}
			sum := counts{}
			for _, d := range got.Domains {
				name, _ := d["domain"].(string)
				byName[name] = numbers(d)
				for _, k := range []string{"recipients", "delivered", "deferred", "deferred_recipients", "bounced", "expired", "rejected"} {
					sum[k] += byName[name][k]
				}
			}
			compareCounts(t, want, byName)
			totals := numbers(got.Totals)
			for k, n := range sum {
				if totals[k] != n {
					t.Errorf("totals %s = %d, sum of domains %d", k, totals[k], n)
				}
			}
		})
	}
}

// TestReportGolden pins every format over the real MTA logs.
func TestReportGolden(t *testing.T) {
	for _, mta := range []string{"postfix", "exim"} {
		for _, format := range []string{"text", "json", "csv", "markdown", "html"} {
			t.Run(mta+"/"+format, func(t *testing.T) {
				out, stderr, status := runCommand(t, "report", "--db", mtaDB(t, mta), "--tz", "UTC", "--format", format)
				if status != 0 {
					t.Fatalf("exit %d: %s", status, stderr)
				}
				ext := map[string]string{"text": "txt", "markdown": "md"}[format]
				if ext == "" {
					ext = format
				}
				golden := filepath.Join("testdata", "report", mta+"."+ext+".golden")
				if *update {
					os.MkdirAll(filepath.Dir(golden), 0o755)
					if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -run TestReportGolden -update)", err)
				}
				if diff := cmp.Diff(string(want), out); diff != "" {
					t.Errorf("%s differs (-want +got):\n%s", golden, diff)
				}
				if format == "text" {
					for i, line := range strings.Split(out, "\n") {
						if n := len([]rune(line)); n > 100 {
							t.Errorf("line %d is %d columns: %q", i+1, n, line)
						}
						for _, r := range line {
							if r > 126 {
								t.Errorf("line %d is not plain ASCII: %q", i+1, line)
								break
							}
						}
					}
				}
			})
		}
	}
}

// hostileLog is a Postfix log in which a sender controls the recipient
// address and the remote server's reply.
const hostileLog = `Nov 28 23:22:43 mx postfix/qmgr[27100]: D717BBA102: from=<a@b.example>, size=2231, nrcpt=1 (queue active)
Nov 28 23:22:43 mx postfix/smtp[27116]: D717BBA102: to=<"<script>alert(1)</script>"@evil.example>, relay=mx.evil.example[192.0.2.1]:25, delay=0.06, delays=0.03/0.02/0/0.01, dsn=5.1.1, status=bounced (host mx.evil.example[192.0.2.1] said: 550 5.1.1 <script>alert('reply')</script> no such user (in reply to RCPT TO command))
Nov 28 23:22:43 mx postfix/qmgr[27100]: D717BBA102: removed
`

func TestReportHTMLEscapes(t *testing.T) {
	log := filepath.Join(t.TempDir(), "maillog")
	if err := os.WriteFile(log, []byte(hostileLog), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, status := runCommand(t, "report", "--format", "html", log)
	if status != 0 {
		t.Fatalf("exit %d: %s", status, stderr)
	}
	if !strings.Contains(out, "evil.example") || !strings.Contains(out, "no such user") {
		t.Fatalf("the hostile rows are missing:\n%s", out)
	}
	if strings.Count(out, "<script>") != 1 || strings.Contains(out, "alert(") && strings.Contains(out, "<script>alert") {
		t.Errorf("unescaped script from the log in the page:\n%s", out)
	}
	for _, bad := range []string{"http://", "https://", "<link", "@import", "src="} {
		if strings.Contains(out, bad) {
			t.Errorf("page is not self-contained: has %q", bad)
		}
	}
	// Markdown and text do not pass the markup on either.
	md, _, _ := runCommand(t, "report", "--format", "markdown", log)
	if strings.Contains(md, "<script>") {
		t.Errorf("markdown has raw <script>:\n%s", md)
	}
}

func TestReportFailIf(t *testing.T) {
	db := mtaDB(t, "postfix")
	for _, tc := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"--fail-if", "bounce_rate>5%"}, exitThreshold, "all mail: bounce_rate is"},
		{[]string{"--fail-if", "bounce_rate>90%"}, exitOK, ""},
		{[]string{"--fail-if", "deferral_rate>50%", "--min-volume", "10"}, exitThreshold, "drop.example: deferral_rate is 100.0%"},
		{[]string{"--fail-if", "expired_rate>99%", "--min-volume", "1000"}, exitOK, ""},
		{[]string{"--fail-if", "bounce_rate>90%", "--fail-if", "expired_rate>=1%"}, exitThreshold, "expired_rate"},
		{[]string{"--fail-if", "bounce_rate=5%"}, exitUsage, "want METRIC>LIMIT"},
		{[]string{"--fail-if", "spam_rate>5%"}, exitUsage, "unknown metric"},
		// No mail logged at all: ingestion stopped, or the MTA.
		{[]string{"--fail-if", "recipients<1", "--since", "2030-01-01"}, exitThreshold, "all mail: 0 recipients"},
		{[]string{"--fail-if", "recipients<1"}, exitOK, ""},
		{[]string{"--fail-if", "recipients<5%"}, exitUsage, "a count"},
	} {
		out, stderr, status := runCommand(t, "report", append([]string{"--db", db}, tc.args...)...)
		if status != tc.status {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, status, tc.status, stderr)
		}
		if tc.stderr != "" && !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: stderr %q, want %q in it", tc.args, stderr, tc.stderr)
		}
		if tc.status == exitThreshold {
			if strings.Count(stderr, "\n") != 1 {
				t.Errorf("%v: want one line on stderr, got %q", tc.args, stderr)
			}
			if !strings.Contains(out, "Domain") && !strings.Contains(out, "No mail") {
				t.Errorf("%v: the report must still be printed", tc.args)
			}
		}
	}
}

func TestParseWindow(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	now := time.Date(2026, 11, 28, 15, 30, 0, 0, berlin)
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, berlin) }
	for _, tc := range []struct {
		name string
		f    windowFlags
		want window
		err  bool
	}{
		{"open", windowFlags{}, window{}, false},
		{"date", windowFlags{since: "2026-11-20"}, window{since: at(2026, 11, 20, 0, 0)}, false},
		{"date and time", windowFlags{since: "2026-11-20T07:15", until: "2026-11-21 08:00"}, window{at(2026, 11, 20, 7, 15), at(2026, 11, 21, 8, 0)}, false},
		{"rfc3339", windowFlags{since: "2026-11-20T07:00:00Z"}, window{since: time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC)}, false},
		{"duration", windowFlags{since: "24h"}, window{since: now.Add(-24 * time.Hour)}, false},
		{"days", windowFlags{since: "7d"}, window{since: now.Add(-7 * 24 * time.Hour)}, false},
		{"today", windowFlags{today: true}, window{at(2026, 11, 28, 0, 0), at(2026, 11, 29, 0, 0)}, false},
		{"yesterday", windowFlags{yesterday: true}, window{at(2026, 11, 27, 0, 0), at(2026, 11, 28, 0, 0)}, false},
		{"last", windowFlags{last: "90m"}, window{since: now.Add(-90 * time.Minute)}, false},
		{"last week", windowFlags{last: "1w"}, window{since: now.Add(-7 * 24 * time.Hour)}, false},
		{"two windows", windowFlags{today: true, last: "24h"}, window{}, true},
		{"today and since", windowFlags{today: true, since: "2026-11-01"}, window{}, true},
		{"reversed", windowFlags{since: "2026-11-21", until: "2026-11-20"}, window{}, true},
		{"garbage", windowFlags{since: "last tuesday"}, window{}, true},
		{"negative", windowFlags{last: "-5h"}, window{}, true},
	} {
		got, err := parseWindow(tc.f, now, berlin)
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.err)
			continue
		}
		if !tc.err && (!got.since.Equal(tc.want.since) || !got.until.Equal(tc.want.until)) {
			t.Errorf("%s: got %v..%v, want %v..%v", tc.name, got.since, got.until, tc.want.since, tc.want.until)
		}
	}
}

// Where daylight saving time begins at midnight (Chile, the Azores, Cuba),
// a day begins at 01:00: a date, --today and --yesterday still cover the
// whole day, and the trend's days follow the calendar.
func TestParseWindowMidnightSkipped(t *testing.T) {
	santiago, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Skip(err)
	}
	// 2026-09-06 00:00 does not exist there: the clocks go from 23:59:59
	// (-04) to 01:00 (-03).
	start6 := time.Date(2026, 9, 6, 4, 0, 0, 0, time.UTC)
	start5 := time.Date(2026, 9, 5, 4, 0, 0, 0, time.UTC)
	start7 := time.Date(2026, 9, 7, 3, 0, 0, 0, time.UTC)
	got, err := parseWindow(windowFlags{since: "2026-09-05", until: "2026-09-06"}, start7, santiago)
	if err != nil || !got.since.Equal(start5) || !got.until.Equal(start6) {
		t.Errorf("dates: %v..%v, %v; want %v..%v", got.since.UTC(), got.until.UTC(), err, start5, start6)
	}
	got, _ = parseWindow(windowFlags{today: true}, time.Date(2026, 9, 6, 12, 0, 0, 0, santiago), santiago)
	if !got.since.Equal(start6) || !got.until.Equal(start7) {
		t.Errorf("today: %v..%v; want %v..%v", got.since.UTC(), got.until.UTC(), start6, start7)
	}
	got, _ = parseWindow(windowFlags{yesterday: true}, time.Date(2026, 9, 7, 12, 0, 0, 0, santiago), santiago)
	if !got.since.Equal(start6) || !got.until.Equal(start7) {
		t.Errorf("yesterday: %v..%v; want %v..%v", got.since.UTC(), got.until.UTC(), start6, start7)
	}
	_, bs := trendBuckets(start5, start5.AddDate(0, 0, 4), santiago)
	for _, b := range bs {
		if s := b.Start.In(santiago); s.Hour() != 0 && !b.Start.Equal(start6) || b.End.Sub(b.Start) < 23*time.Hour {
			t.Errorf("trend day %v..%v", b.Start.In(santiago), b.End.In(santiago))
		}
	}
}

func TestReportWindowAndFilters(t *testing.T) {
	db := mtaDB(t, "postfix")
	// Nothing before 2000: an empty report, not an error.
	out, stderr, status := runCommand(t, "report", "--db", db, "--until", "2000-01-01", "--format", "json")
	if status != 0 {
		t.Fatalf("exit %d: %s", status, stderr)
	}
	var empty struct {
		Totals struct{ Recipients, Deferred int64 } `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &empty); err != nil || empty.Totals.Recipients != 0 || empty.Totals.Deferred != 0 {
		t.Errorf("empty window: %v %+v", err, empty.Totals)
	}
	out, _, status = runCommand(t, "report", "--db", db, "--domain", "Greylist.Example", "--format", "json")
	var one struct {
		Domains []struct {
			Domain string `json:"domain"`
		} `json:"domains"`
	}
	if err := json.Unmarshal([]byte(out), &one); err != nil || status != 0 || len(one.Domains) != 1 || one.Domains[0].Domain != "greylist.example" {
		t.Errorf("--domain: status %d, %v, %+v", status, err, one)
	}
	for _, by := range []string{"relay", "sender-domain", "host"} {
		out, stderr, status := runCommand(t, "report", "--db", db, "--by", by, "--top", "5")
		if status != 0 || !strings.Contains(out, "TOTAL") {
			t.Errorf("--by %s: exit %d: %s\n%s", by, status, stderr, out)
		}
	}
	if _, _, status := runCommand(t, "report", "--db", filepath.Join(t.TempDir(), "none.db")); status != exitError {
		t.Errorf("missing database: exit %d", status)
	}
	if _, _, status := runCommand(t, "report", "--db", db, "--format", "pdf"); status != exitUsage {
		t.Errorf("bad format: exit %d", status)
	}
	outFile := filepath.Join(t.TempDir(), "r.html")
	if _, stderr, status := runCommand(t, "report", "--db", db, "--format", "html", "-o", outFile); status != 0 {
		t.Fatalf("-o: exit %d: %s", status, stderr)
	}
	if data, _ := os.ReadFile(outFile); !bytes.HasPrefix(data, []byte("<!DOCTYPE html>")) {
		t.Errorf("-o wrote %.60q", data)
	}
}

// TestReportFiles: FILEs and no --db report on just those files, leaving no
// database behind.
func TestReportFiles(t *testing.T) {
	log, err := filepath.Abs("testdata/mta/exim/mainlog")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	out, stderr, status := runCommand(t, "report", "--format", "json", log)
	if status != 0 {
		t.Fatalf("exit %d: %s", status, stderr)
	}
	if !strings.Contains(out, `"domains"`) {
		t.Errorf("no domains:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestTrace(t *testing.T) {
	db := mtaDB(t, "postfix")
	// The IDs of plan message p0001 in this run of the real Postfix: its
	// queue ID, its Message-ID, and its bounce's queue ID.
	log, err := os.ReadFile("testdata/mta/postfix/maillog")
	if err != nil {
		t.Fatal(err)
	}
	find := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindSubmatch(log)
		if m == nil {
			t.Fatalf("no %s in the log", re)
		}
		return string(m[1])
	}
	qid := find(`: ([0-9A-Za-z]+): to=<unknown-p0001-1@gmail-like\.example>`)
	mid := find(qid + `: message-id=<([^>]+)>`)
	dsn := find(qid + `: sender non-delivery notification: ([0-9A-Za-z]+)`)
	// A message that went through the bounce path: the DSN is followed.
	out, stderr, status := runCommand(t, "trace", "--db", db, "--tz", "UTC", qid)
	if status != 0 {
		t.Fatalf("exit %d: %s", status, stderr)
	}
	for _, want := range []string{"arrived", "bounced", "to=<unknown-p0001-1@gmail-like.example>", "means: ", dsn, "Final outcome per recipient"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	out, _, status = runCommand(t, "trace", "--db", db, "--format", "json", mid)
	var tr struct {
		Events   []map[string]any `json:"events"`
		Outcomes []struct {
			Recipient, Outcome string
		} `json:"outcomes"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil || status != 0 || len(tr.Outcomes) < 2 {
		t.Errorf("trace by Message-ID: %d %v %+v", status, err, tr.Outcomes)
	}
	out, _, status = runCommand(t, "trace", "--db", db, "ok-p0001-2@gmail-like.example")
	if status != 0 || !strings.Contains(out, "delivered") {
		t.Errorf("trace by address: %d\n%s", status, out)
	}
	if _, _, status := runCommand(t, "trace", "--db", db, "NOSUCHQUEUEID"); status != exitError {
		t.Errorf("unknown ID: exit %d", status)
	}
}

// TestReportByRelayDelays: grouped by relay, host or sender domain, every
// group that delivered has delay percentiles (from the latest deliveries:
// on this small log, all of them), equal to the nearest-rank ones computed
// from its rows.
func TestReportByRelayDelays(t *testing.T) {
	db := mtaDB(t, "postfix")
	for _, by := range []string{"relay", "host", "sender-domain"} {
		out, stderr, status := runCommand(t, "report", "--db", db, "--by", by, "--format", "json")
		if status != 0 {
			t.Fatalf("--by %s: exit %d: %s", by, status, stderr)
		}
		var rep struct {
			Groups []struct {
				Name        string   `json:"name"`
				Delivered   int64    `json:"delivered"`
				DelayMedian *float64 `json:"delay_median"`
				DelaySample int64    `json:"delay_sample"`
				Estimated   bool     `json:"delay_estimated"`
			} `json:"groups"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Groups) == 0 {
			t.Fatalf("--by %s: no groups", by)
		}
		for _, g := range rep.Groups {
			if g.Delivered > 0 && (g.DelaySample == 0 || g.DelayMedian == nil || g.Estimated) {
				t.Errorf("--by %s: group %q delivered %d but has delay sample %d (median %v, estimated %v)",
					by, g.Name, g.Delivered, g.DelaySample, g.DelayMedian, g.Estimated)
			}
			if by != "relay" || g.DelayMedian == nil {
				continue
			}
			// The nearest-rank median of the group's delivered delays.
			want := scalar(t, db, `WITH ds AS (SELECT delay, row_number() OVER (ORDER BY delay) AS i, count(*) OVER () AS n
				FROM v_deliveries WHERE relay = '`+g.Name+`' AND outcome = 'delivered' AND final = 1 AND delay IS NOT NULL)
				SELECT delay FROM ds WHERE i = max(1, (n + 1) / 2)`)
			if got := strconv.FormatFloat(*g.DelayMedian, 'f', -1, 64); got != want {
				t.Errorf("relay %q: median %s, want %s", g.Name, got, want)
			}
		}
	}
}

// Postfix's relay=none and an Exim attempt without H= both name no next
// hop: one row of the relay view, "(none)" in text, "" in JSON.
func TestReportNoRelayOneRow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "both.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--db", db, "testdata/mta/postfix/maillog", "testdata/mta/exim/mainlog"); status != 0 {
		t.Fatalf("ingest: exit %d: %s", status, stderr)
	}
	out, stderr, status := runCommand(t, "report", "--db", db, "--format", "json")
	if status != 0 {
		t.Fatalf("report: exit %d: %s", status, stderr)
	}
	var rep struct {
		Relays []struct {
			Relay    string `json:"relay"`
			Attempts int64  `json:"attempts"`
		} `json:"relays"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rep.Relays {
		switch r.Relay {
		case "none":
			t.Errorf("a row for relay %q: %d attempts", r.Relay, r.Attempts)
		case "":
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rows for no relay, want 1", n)
	}
	out, stderr, status = runCommand(t, "report", "--db", db, "--by", "relay", "--format", "json")
	if status != 0 {
		t.Fatalf("report --by relay: exit %d: %s", status, stderr)
	}
	var by struct {
		Groups []struct {
			Name string `json:"name"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &by); err != nil {
		t.Fatal(err)
	}
	n = 0
	for _, g := range by.Groups {
		switch g.Name {
		case "none":
			t.Errorf("--by relay: a group %q", g.Name)
		case "(none)":
			n++
		}
	}
	if n != 1 {
		t.Errorf("--by relay: %d groups for no relay, want 1", n)
	}
}

// An internationalised domain is one domain in either spelling, in the
// rows and in --domain (a real Postfix 3.7 with smtputf8_enable=yes logged
// the addresses as submitted).
func TestReportIDNDomain(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "mail.log")
	lines := "Nov 29 14:25:19 mx postfix/smtp[1]: 4jcqDv6dXLz5kg0: to=<ok-g1-1@exämple.example>, relay=127.0.0.1[127.0.0.1]:2601, delay=0.05, delays=0.01/0/0.02/0.02, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n" +
		"Nov 29 14:25:20 mx postfix/smtp[1]: 4jcqDw0fKwz5kg1: to=<ok-g3-1@xn--exmple-cua.example>, relay=127.0.0.1[127.0.0.1]:2601, delay=0.05, delays=0.01/0/0.02/0.02, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "i.db")
	if _, stderr, status := mailbounce(t, "ingest", "-q", "--year", "2026", "--db", db, log); status != 0 {
		t.Fatalf("ingest exit %d: %s", status, stderr)
	}
	for _, name := range []string{"XN--EXMPLE-CUA.example", "Exämple.Example"} {
		out, stderr, status := runCommand(t, "report", "--db", db, "--domain", name, "--format", "json")
		var r struct {
			Domains []struct {
				Domain    string `json:"domain"`
				Delivered int64  `json:"delivered"`
			} `json:"domains"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || status != 0 || len(r.Domains) != 1 || r.Domains[0].Domain != "exämple.example" || r.Domains[0].Delivered != 2 {
			t.Errorf("--domain %s: exit %d, %v, %+v %s", name, status, err, r, stderr)
		}
	}
}
