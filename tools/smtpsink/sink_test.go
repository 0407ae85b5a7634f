package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) entries(t *testing.T) []JournalEntry {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []JournalEntry
	dec := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for dec.Scan() {
		var e JournalEntry
		if err := json.Unmarshal(dec.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func startSink(t *testing.T, p Profile) (string, *lockedBuffer) {
	t.Helper()
	buf := &lockedBuffer{}
	s := &Sink{journal: &Journal{w: buf}, cat: newCatalogue(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), cmdTimeout: 5 * time.Second, stall: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.wg.Add(1)
	go s.serve(ctx, ln, p)
	return ln.Addr().String(), buf
}

func TestSplitAction(t *testing.T) {
	for _, tc := range []struct {
		in     string
		action string
		n      int
	}{
		{"grey2-p0001-1", "grey", 2},
		{"grey-p0001-1", "grey", 0},
		{"temp450-p0001-1", "temp450", 0},
		{"dtemp-e0004-2", "dtemp", 0},
		{"mbtest+p0003-3", "mbtest", 0},
		{"ok", "ok", 0},
	} {
		a, n := splitAction(tc.in)
		if a != tc.action || n != tc.n {
			t.Errorf("splitAction(%q) = %q, %d; want %q, %d", tc.in, a, n, tc.action, tc.n)
		}
	}
}

func TestSMTPSessionMixedRecipients(t *testing.T) {
	addr, journal := startSink(t, ProfileSMTP)
	// Driven by hand: net/smtp gives up at the first rejected recipient.
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expect := func(cmd string, code int) string {
		t.Helper()
		if cmd != "" {
			if err := c.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		got, msg, err := c.ReadResponse(0)
		if got != code {
			t.Fatalf("%q: got %d %q (%v), want %d", cmd, got, msg, err, code)
		}
		return msg
	}
	expect("", 220)
	expect("EHLO client.test", 250)
	expect("MAIL FROM:<s@bounces.example>", 250)
	expect("RCPT TO:<ok-t2-1@ok.example>", 250)
	msg := expect("RCPT TO:<unknown-t2-2@gmail-like.example>", 550)
	if !strings.Contains(msg, "NoSuchUser") || !strings.Contains(msg, "\n") {
		t.Errorf("gmail unknown user reply should be multi-line, got %q", msg)
	}
	expect("RCPT TO:<grey1-t2-3@greylist.example>", 451)
	expect("DATA", 354)
	if err := c.PrintfLine("Subject: x\r\n\r\nbody\r\n."); err != nil {
		t.Fatal(err)
	}
	msg = expect("", 250)
	if !strings.Contains(msg, "queued as") {
		t.Errorf("want a queue id in %q", msg)
	}
	// The greylisted recipient is accepted on the retry.
	expect("MAIL FROM:<s@bounces.example>", 250)
	expect("RCPT TO:<grey1-t2-3@greylist.example>", 250)
	expect("QUIT", 221)

	var got []string
	for _, e := range journal.entries(t) {
		if strings.Contains(e.Rcpt, "-t2-") {
			got = append(got, e.Stage+" "+e.Rcpt+" "+strconv.Itoa(e.Code))
		}
	}
	want := []string{
		"rcpt ok-t2-1@ok.example 250",
		"rcpt unknown-t2-2@gmail-like.example 550",
		"rcpt grey1-t2-3@greylist.example 451",
		"data ok-t2-1@ok.example 250",
		"rcpt grey1-t2-3@greylist.example 250",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("journal:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestGreet421AndHangupAreJournaled(t *testing.T) {
	for _, p := range []Profile{ProfileGreet421, ProfileHangup} {
		addr, journal := startSink(t, p)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(conn)
		conn.Close()
		if p == ProfileGreet421 && !strings.HasPrefix(string(b), "421 4.7.0 [TSS04]") {
			t.Errorf("greeting %q", b)
		}
		deadline := time.Now().Add(2 * time.Second)
		for len(journal.entries(t)) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if es := journal.entries(t); len(es) != 1 || es[0].Stage != "connect" {
			t.Errorf("%s: journal %+v", p, es)
		}
	}
}

func TestComputeExpected(t *testing.T) {
	plan := []PlannedMessage{
		{ID: "p1", Rcpts: []string{"grey1-p1-1@greylist.example", "temp450-p1-2@temp.example", "unknown-p1-3@nouser.example", "any-p1-4@hangup.example"}},
		{ID: "p2", Rcpts: []string{"any-p2-1@hangup.example", "any-p2-2@refused.example"}},
	}
	j := []JournalEntry{
		{Stage: "rcpt", Rcpt: "grey1-p1-1@greylist.example", Code: 451},
		{Stage: "rcpt", Rcpt: "temp450-p1-2@temp.example", Code: 450},
		{Stage: "rcpt", Rcpt: "unknown-p1-3@nouser.example", Code: 550},
		{Stage: "rcpt", Rcpt: "grey1-p1-1@greylist.example", Code: 250},
		{Stage: "data", Rcpt: "grey1-p1-1@greylist.example", Code: 250},
		{Stage: "rcpt", Rcpt: "temp450-p1-2@temp.example", Code: 450},
		{Stage: "connect", Profile: "hangup"},
		{Stage: "connect", Profile: "hangup"},
		{Stage: "connect", Profile: "hangup"},
	}
	var warn bytes.Buffer
	exp, _, err := computeExpected(plan, j, t.TempDir(), "Delivered-To", &warn)
	if err != nil {
		t.Fatal(err)
	}
	check := func(domain, key string, want int) {
		t.Helper()
		if got, ok := exp.Domains[domain][key]; !ok || got != want {
			t.Errorf("%s %s = %d (present %v), want %d", domain, key, got, ok, want)
		}
	}
	check("greylist.example", "delivered", 1)
	check("greylist.example", "deferred", 1)
	check("temp.example", "expired", 1)
	check("temp.example", "deferred", 2)
	check("nouser.example", "bounced", 1)
	check("hangup.example", "recipients", 2)
	check("hangup.example", "expired", 2)
	check("hangup.example", "deferred", 3)
	check("refused.example", "deferred_recipients", 1)
	if _, ok := exp.Domains["refused.example"]["deferred"]; ok {
		t.Error("refused.example deferred must be left out: attempts are not observable")
	}
	if warn.Len() != 0 {
		t.Errorf("warnings: %s", warn.String())
	}
}

// A message the admin deleted while deferred: its recipients already
// decided keep their fate; those still deferred count as recipients with
// deferrals and no outcome, as a recipient still waiting does.
func TestComputeExpectedAdminDelete(t *testing.T) {
	plan := []PlannedMessage{
		{ID: "p1", Via: "smtp", AdminDelete: true, Rcpts: []string{"ok-p1-1@ok.example", "temp450-p1-2@temp.example", "any-p1-3@hangup.example", "grey1-p1-4@greylist.example"}},
		{ID: "p2", Via: "smtp", Rcpts: []string{"temp450-p2-1@temp.example"}},
	}
	j := []JournalEntry{
		{Stage: "rcpt", Rcpt: "ok-p1-1@ok.example", Code: 250},
		{Stage: "rcpt", Rcpt: "temp450-p1-2@temp.example", Code: 450},
		{Stage: "rcpt", Rcpt: "grey1-p1-4@greylist.example", Code: 451},
		{Stage: "data", Rcpt: "ok-p1-1@ok.example", Code: 250},
		{Stage: "rcpt", Rcpt: "temp450-p1-2@temp.example", Code: 450},
		{Stage: "rcpt", Rcpt: "temp450-p2-1@temp.example", Code: 450},
		{Stage: "connect", Profile: "hangup"},
	}
	var warn bytes.Buffer
	exp, truths, err := computeExpected(plan, j, t.TempDir(), "Delivered-To", &warn)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{
		"ok.example":       {"recipients": 1, "delivered": 1, "bounced": 0, "expired": 0, "deferred": 0, "deferred_recipients": 0},
		"temp.example":     {"recipients": 2, "delivered": 0, "bounced": 0, "expired": 1, "deferred": 3, "deferred_recipients": 2},
		"hangup.example":   {"recipients": 1, "delivered": 0, "bounced": 0, "expired": 0, "deferred": 1, "deferred_recipients": 1},
		"greylist.example": {"recipients": 1, "delivered": 0, "bounced": 0, "expired": 0, "deferred": 1, "deferred_recipients": 1},
	}
	for d, w := range want {
		if !reflect.DeepEqual(exp.Domains[d], w) {
			t.Errorf("%s: %v, want %v", d, exp.Domains[d], w)
		}
	}
	n := 0
	for _, tr := range truths {
		if tr.Outcome == OutcomeDeleted {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d recipients deleted, want 3", n)
	}
	if warn.Len() != 0 {
		t.Errorf("warnings: %s", warn.String())
	}
}

func TestMarkAdminDeletes(t *testing.T) {
	plan := makePlan(300, 20261128, "p", []string{"sendmail", "smtp", "smtp-filter", "pipe-filter"}, "")
	again := makePlan(300, 20261128, "p", []string{"sendmail", "smtp", "smtp-filter", "pipe-filter"}, "")
	if err := markAdminDeletes(plan, 6, 150); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, m := range plan {
		if !m.AdminDelete {
			continue
		}
		n++
		if i < 150 {
			t.Errorf("%s flagged, before index 150", m.ID)
		}
		if m.Via != "sendmail" && m.Via != "smtp" {
			t.Errorf("%s: via %s", m.ID, m.Via)
		}
		deferred := false
		for _, rc := range m.Rcpts {
			deferred = deferred || alwaysDeferred(rc)
		}
		if !deferred {
			t.Errorf("%s: no recipient always deferred: %v", m.ID, m.Rcpts)
		}
		again[i].AdminDelete = true
	}
	if n != 6 {
		t.Errorf("%d messages flagged, want 6", n)
	}
	if !reflect.DeepEqual(plan, again) {
		t.Error("flagging changed more than the flag")
	}
	if !alwaysDeferred("temp452-p1-1@lmtp.example") || alwaysDeferred("grey1-p1-1@greylist.example") || !alwaysDeferred("any-p1-1@slow.example") {
		t.Error("alwaysDeferred")
	}
}
