package collate

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbounce/parse"
	"mailbounce/store"
)

// feed runs lines through a parser and a Collator into a real database,
// committing after each group, with a fresh Collator per group when
// restart is set (as a new run of mailbounce would have).
func feed(t *testing.T, db *store.DB, c *Collator, restart bool, groups ...string) *Collator {
	t.Helper()
	p := parse.NewParser(parse.Options{Year: 2026, Location: time.UTC})
	for _, g := range groups {
		b, err := db.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c == nil || restart {
			c = New(b, Options{})
		}
		c.SetSink(b)
		for _, line := range strings.Split(strings.TrimSpace(g), "\n") {
			ev := p.Parse(strings.TrimSpace(line))
			if ev.Kind == parse.KindUnknown {
				t.Fatalf("not understood: %s", line)
			}
			if err := c.Add(&ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func query(t *testing.T, db *store.DB, q string) string {
	t.Helper()
	rows, err := db.Reader().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// A Postfix queue ID is reused once its message has left the queue: the
// second message must not inherit the first one's sender or recipients.
func TestQueueIDReuse(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, false, `
Nov 28 07:00:00 mx postfix/smtpd[1]: 1A2B3C4D5E: client=a.example[192.0.2.1]
Nov 28 07:00:00 mx postfix/qmgr[2]: 1A2B3C4D5E: from=<one@a.example>, size=100, nrcpt=1 (queue active)
Nov 28 07:00:01 mx postfix/smtp[3]: 1A2B3C4D5E: to=<x@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.27]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK  1700000000 x12si123 - gsmtp)
Nov 28 07:00:01 mx postfix/qmgr[2]: 1A2B3C4D5E: removed
Nov 28 09:00:00 mx postfix/pickup[4]: 1A2B3C4D5E: uid=0 from=<two@b.example>
Nov 28 09:00:00 mx postfix/qmgr[2]: 1A2B3C4D5E: from=<two@b.example>, size=200, nrcpt=1 (queue active)
Nov 28 09:00:01 mx postfix/smtp[3]: 1A2B3C4D5E: to=<y@yahoo.com>, relay=mta5.am0.yahoodns.net[67.195.204.72]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.0.0, status=bounced (host mta5.am0.yahoodns.net[67.195.204.72] said: 554 delivery error: dd This user doesn't have a yahoo.com account (in reply to end of DATA command))
Nov 28 09:00:01 mx postfix/qmgr[2]: 1A2B3C4D5E: removed`)
	got := query(t, db, `SELECT m.sender || ' ' || m.size || ' ' || d.recipient || ' ' || d.outcome || ' ' || ifnull(d.reason, '-')
		FROM deliveries d JOIN messages m ON m.id = d.message_ref ORDER BY d.time`)
	want := "one@a.example 100 x@gmail.com delivered -\ntwo@b.example 200 y@yahoo.com bounced user_unknown"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if n := query(t, db, `SELECT count(*) FROM messages`); n != "2" {
		t.Errorf("%s messages, want 2", n)
	}
}

// Postfix's expiry names no recipient: those still pending are expired,
// even when their deferrals were stored by an earlier run.
func TestExpiryAcrossRuns(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, true, `
Nov 25 07:00:00 mx postfix/smtpd[1]: 4Xkp2N0KJjz9sR9: client=a.example[192.0.2.1]
Nov 25 07:00:00 mx postfix/qmgr[2]: 4Xkp2N0KJjz9sR9: from=<s@a.example>, size=100, nrcpt=3 (queue active)
Nov 25 07:00:01 mx postfix/smtp[3]: 4Xkp2N0KJjz9sR9: to=<ok@dead.example>, relay=mx.dead.example[192.0.2.9]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F8E7D)
Nov 25 07:00:01 mx postfix/smtp[3]: 4Xkp2N0KJjz9sR9: to=<full@dead.example>, relay=mx.dead.example[192.0.2.9]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.2.2, status=deferred (host mx.dead.example[192.0.2.9] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command))
Nov 25 07:00:01 mx postfix/smtp[3]: 4Xkp2N0KJjz9sR9: to=<grey@other.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.other.example[192.0.2.10]:25: Connection refused)`, `
Nov 27 07:00:01 mx postfix/smtp[3]: 4Xkp2N0KJjz9sR9: to=<grey@other.example>, relay=none, delay=172800, delays=172799/0/1/0, dsn=4.4.1, status=deferred (connect to mx.other.example[192.0.2.10]:25: Connection timed out)`, `
Nov 30 07:00:02 mx postfix/qmgr[2]: 4Xkp2N0KJjz9sR9: from=<s@a.example>, status=expired, returned to sender
Nov 30 07:00:02 mx postfix/qmgr[2]: 4Xkp2N0KJjz9sR9: removed`)
	got := query(t, db, `SELECT recipient || ' ' || outcome || ' ' || final || ' ' || ifnull(reason, '-') || ' ' || ifnull(enhanced, '-')
		FROM deliveries ORDER BY time, recipient`)
	want := strings.Join([]string{
		"full@dead.example deferred 0 mailbox_full 4.2.2",
		"grey@other.example deferred 0 network_error 4.4.1",
		"ok@dead.example delivered 1 - 2.0.0",
		"grey@other.example deferred 0 network_error 4.4.1",
		"full@dead.example expired 1 mailbox_full 4.2.2",
		"grey@other.example expired 1 network_error 4.4.1",
	}, "\n")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if n := query(t, db, `SELECT count(*) FROM messages`); n != "1" {
		t.Errorf("%s messages, want 1", n)
	}
}

// A 250 whose new queue ID is a message this host has just received is a
// hop, whatever the port: the recipient's fate is decided on the next leg.
func TestHopToSecondInstance(t *testing.T) {
	db := openDB(t)
	c := feed(t, db, nil, false, `
Sep  4 01:24:11 smtpnode06 postfix-170.55.103.23/smtpd[1]: DADADADADA: client=a.example[192.0.2.1]
Sep  4 01:24:11 smtpnode06 postfix-170.55.103.23/qmgr[2]: DADADADADA: from=<s@a.example>, size=100, nrcpt=1 (queue active)
Sep  4 01:24:11 smtpnode06 postfix-170.55.103.23/smtpd[5]: BABABABABA: client=170.55.103.23[170.55.103.23]
Sep  4 01:24:11 smtpnode06 postfix-170.55.103.23/smtp[3]: DADADADADA: to=<u@gmail.com>, relay=170.55.103.23[170.55.103.23]:2501, delay=0.15, delays=0.13/0/0/0.02, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BABABABABA)
Sep  4 01:24:11 smtpnode06 postfix-170.55.103.23/qmgr[2]: BABABABABA: from=<s@a.example>, size=150, nrcpt=1 (queue active)
Sep  4 01:24:11 smtpnode06 postfix-170.55.103.23/qmgr[2]: DADADADADA: removed
Sep  4 01:24:12 smtpnode06 postfix-170.55.103.23/smtp[6]: BABABABABA: to=<u@gmail.com>, relay=gmail-smtp-in.l.google.com[180.50.229.68]:25, delay=0.49, delays=0.02/0/0.15/0.32, dsn=2.0.0, status=sent (250 2.0.0 OK  1567556651 f15si16200992plm.292 - gsmtp)
Sep  4 01:24:12 smtpnode06 postfix-170.55.103.23/qmgr[2]: BABABABABA: removed`)
	got := query(t, db, `SELECT m.queue_id || ' ' || d.outcome || ' ' || d.final FROM deliveries d JOIN messages m ON m.id = d.message_ref ORDER BY d.time, d.id`)
	want := "DADADADADA hop 0\nBABABABABA delivered 1"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if p := query(t, db, `SELECT parent_queue_id FROM messages WHERE queue_id = 'BABABABABA'`); p != "DADADADADA" {
		t.Errorf("parent %q, want DADADADADA", p)
	}
	if c.Stats.Hops != 1 || c.InFlight() != 0 {
		t.Errorf("hops %d, in flight %d", c.Stats.Hops, c.InFlight())
	}
}

// Messages whose end was never logged are dropped from memory after
// MaxIdle of log time, so that memory does not grow with the input.
func TestEvictIdle(t *testing.T) {
	db := openDB(t)
	b, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := New(b, Options{MaxIdle: time.Hour})
	p := parse.NewParser(parse.Options{Year: 2026, Location: time.UTC})
	for i := 0; i < 200; i++ {
		stamp := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 10 * time.Minute).Format(time.Stamp)
		ev := p.Parse(stamp + " mx postfix/smtpd[1]: " + strings.ToUpper(strings.Repeat("A", 4)) + string(rune('A'+i%26)) + string(rune('A'+i/26)) + "0: client=x[192.0.2.1]")
		if err := c.Add(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if c.InFlight() > 20 || c.Stats.Evicted == 0 {
		t.Errorf("%d in flight, %d evicted: idle messages are not dropped", c.InFlight(), c.Stats.Evicted)
	}
	if n := query(t, db, `SELECT count(*) FROM messages`); n != "200" {
		t.Errorf("%s messages stored, want 200", n)
	}
}

// hopSink records the attempts the collator hands the store.
type hopSink struct {
	*store.Batch
	got []store.Delivery
}

func (s *hopSink) AddDelivery(d store.Delivery) (int64, error) {
	s.got = append(s.got, d)
	return s.Batch.AddDelivery(d)
}

// A hop to a message this host has just received is linked to it at once
// (store: the link goes with the attempt, and stitching leaves it alone),
// unless stitching's own test says they cannot be one message: here, two
// different Message-IDs.
func TestHopLinkedAtOnce(t *testing.T) {
	lines := func(nextMID string) string {
		return `
Nov 28 07:00:00 mx postfix/smtpd[1]: 1A1A1A1A1A: client=a.example[192.0.2.1]
Nov 28 07:00:00 mx postfix/cleanup[2]: 1A1A1A1A1A: message-id=<m1@a.example>
Nov 28 07:00:00 mx postfix/qmgr[3]: 1A1A1A1A1A: from=<s@a.example>, size=100, nrcpt=1 (queue active)
Nov 28 07:00:01 mx postfix/smtpd[4]: 2B2B2B2B2B: client=localhost[127.0.0.1]
Nov 28 07:00:01 mx postfix/cleanup[2]: 2B2B2B2B2B: message-id=<` + nextMID + `>
Nov 28 07:00:01 mx postfix/smtp[5]: 1A1A1A1A1A: to=<u@b.example>, relay=127.0.0.1[127.0.0.1]:10025, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 2B2B2B2B2B)
Nov 28 07:00:01 mx postfix/qmgr[3]: 1A1A1A1A1A: removed`
	}
	for _, c := range []struct {
		name, nextMID string
		linked        bool
	}{
		{"same message", "m1@a.example", true},
		{"another message", "other@filter.example", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openDB(t)
			b, err := db.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Rollback()
			sink := &hopSink{Batch: b}
			col := New(sink, Options{})
			p := parse.NewParser(parse.Options{Year: 2026, Location: time.UTC})
			for _, line := range strings.Split(strings.TrimSpace(lines(c.nextMID)), "\n") {
				ev := p.Parse(line)
				if err := col.Add(&ev); err != nil {
					t.Fatal(err)
				}
			}
			if len(sink.got) != 1 || sink.got[0].Outcome != store.OutcomeHop {
				t.Fatalf("attempts %+v, want one hop", sink.got)
			}
			if got := sink.got[0].NextMessageRef != 0; got != c.linked {
				t.Errorf("linked at once: %v, want %v", got, c.linked)
			}
			if err := col.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			checkLinked(t, db, c.linked)
		})
	}
}

// A pipe to a content filter that submits the message again (Debian's
// spamassassin setup: "spamc ... | sendmail") is a hop, not a delivery: the
// recipient is counted once, where the message submitted again is
// delivered. The pipe's "sent" and the new message come in either order,
// also in different batches; a pipe delivery that nothing comes back from
// (dovecot's deliver) stays a delivery.
func TestPipeFilterHop(t *testing.T) {
	const (
		q1 = `Nov 28 07:00:00 mx postfix/smtpd[1]: 1A1A1A1A1A: client=a.example[192.0.2.1]
Nov 28 07:00:00 mx postfix/cleanup[2]: 1A1A1A1A1A: message-id=<m1@a.example>
Nov 28 07:00:00 mx postfix/qmgr[3]: 1A1A1A1A1A: from=<s@a.example>, size=100, nrcpt=1 (queue active)`
		injected = `Nov 28 07:00:02 mx postfix/pickup[4]: 2B2B2B2B2B: uid=110 from=<s@a.example>
Nov 28 07:00:02 mx postfix/cleanup[2]: 2B2B2B2B2B: message-id=<%s>`
		pipe      = `Nov 28 07:00:02 mx postfix/pipe[5]: 1A1A1A1A1A: to=<u@b.example>, relay=spamassassin, delay=2, delays=0/0/0/2, dsn=2.0.0, status=sent (delivered via spamassassin service)`
		removed   = `Nov 28 07:00:02 mx postfix/qmgr[3]: 1A1A1A1A1A: removed`
		sent      = pipe + "\n" + removed
		delivered = `Nov 28 07:00:02 mx postfix/qmgr[3]: 2B2B2B2B2B: from=<s@a.example>, size=1531, nrcpt=1 (queue active)
Nov 28 07:00:03 mx postfix/local[6]: 2B2B2B2B2B: to=<u@b.example>, relay=local, delay=0.04, delays=0.02/0.02/0/0, dsn=2.0.0, status=sent (delivered to maildir)
Nov 28 07:00:03 mx postfix/qmgr[3]: 2B2B2B2B2B: removed`
	)
	inj := func(mid string) string { return strings.Replace(injected, "%s", mid, 1) }
	for _, c := range []struct {
		name    string
		groups  []string
		want    string // outcomes in row order
		linked  bool
		restart bool // each group a run of its own
	}{
		{"submitted again before the pipe's line", []string{q1 + "\n" + inj("m1@a.example") + "\n" + sent + "\n" + delivered}, "hop delivered", true, false},
		{"pipe's line first", []string{q1 + "\n" + sent + "\n" + inj("m1@a.example") + "\n" + delivered}, "hop delivered", true, false},
		{"pipe's line first, next batch", []string{q1 + "\n" + sent, inj("m1@a.example") + "\n" + delivered}, "hop delivered", true, false},
		// The first message's row is not written yet when its attempt
		// becomes a hop: the rollups must still take it out as counted.
		{"pipe's line first, removed after", []string{q1 + "\n" + pipe + "\n" + inj("m1@a.example") + "\n" + removed + "\n" + delivered}, "hop delivered", true, false},
		// A run ends between the two halves (cron over a live log): the
		// next run finds the first half in the database.
		{"pipe's line first, next run", []string{q1 + "\n" + pipe, inj("m1@a.example") + "\n" + removed + "\n" + delivered}, "hop delivered", true, true},
		{"submitted again first, next run", []string{q1 + "\n" + inj("m1@a.example"), pipe + "\n" + removed + "\n" + delivered}, "hop delivered", true, true},
		{"another message", []string{q1 + "\n" + sent + "\n" + inj("other@a.example") + "\n" + delivered}, "delivered delivered", false, false},
		{"nothing comes back", []string{q1 + "\n" + sent}, "delivered", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openDB(t)
			feed(t, db, nil, c.restart, c.groups...)
			if got := query(t, db, `SELECT group_concat(outcome, ' ') FROM (SELECT outcome FROM deliveries ORDER BY time, id)`); got != c.want {
				t.Errorf("outcomes %q, want %q", got, c.want)
			}
			checkLinked(t, db, c.linked)
			if err := db.VerifyRollup(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkLinked checks that message 1A1A1A1A1A is linked to 2B2B2B2B2B, or
// that nothing is linked.
func checkLinked(t *testing.T, db *store.DB, linked bool) {
	t.Helper()
	want := ""
	if linked {
		want = "1A1A1A1A1A>2B2B2B2B2B"
	}
	if got := query(t, db, `SELECT f.queue_id || '>' || n.queue_id FROM message_links l
		JOIN messages f ON f.id = l.from_ref JOIN messages n ON n.id = l.to_ref`); got != want {
		t.Errorf("links %q, want %q", got, want)
	}
}

// One pipe run for two recipients (the pipe transport's default recipient
// limit): two "delivered via" lines, one copy submitted again with both.
// Both lines are hops, in either order of the lines and across runs.
func TestPipeFilterHopTwoRecipients(t *testing.T) {
	const (
		q1 = `Nov 28 07:00:00 mx postfix/smtpd[1]: 1A1A1A1A1A: client=a.example[192.0.2.1]
Nov 28 07:00:00 mx postfix/cleanup[2]: 1A1A1A1A1A: message-id=<m2@a.example>
Nov 28 07:00:00 mx postfix/qmgr[3]: 1A1A1A1A1A: from=<s@a.example>, size=100, nrcpt=2 (queue active)`
		pipe = `Nov 28 07:00:02 mx postfix/pipe[5]: 1A1A1A1A1A: to=<a@one.example>, relay=spamassassin, delay=2, delays=0/0/0/2, dsn=2.0.0, status=sent (delivered via spamassassin service)
Nov 28 07:00:02 mx postfix/pipe[5]: 1A1A1A1A1A: to=<b@two.example>, relay=spamassassin, delay=2, delays=0/0/0/2, dsn=2.0.0, status=sent (delivered via spamassassin service)`
		inj = `Nov 28 07:00:02 mx postfix/pickup[4]: 2B2B2B2B2B: uid=110 from=<s@a.example>
Nov 28 07:00:02 mx postfix/cleanup[2]: 2B2B2B2B2B: message-id=<m2@a.example>`
		rest = `Nov 28 07:00:02 mx postfix/qmgr[3]: 1A1A1A1A1A: removed
Nov 28 07:00:02 mx postfix/qmgr[3]: 2B2B2B2B2B: from=<s@a.example>, size=1531, nrcpt=2 (queue active)
Nov 28 07:00:03 mx postfix/local[6]: 2B2B2B2B2B: to=<a@one.example>, relay=local, delay=0.04, delays=0.02/0.02/0/0, dsn=2.0.0, status=sent (delivered to maildir)
Nov 28 07:00:03 mx postfix/local[6]: 2B2B2B2B2B: to=<b@two.example>, relay=local, delay=0.04, delays=0.02/0.02/0/0, dsn=2.0.0, status=sent (delivered to maildir)
Nov 28 07:00:03 mx postfix/qmgr[3]: 2B2B2B2B2B: removed`
	)
	for _, c := range []struct {
		name    string
		groups  []string
		restart bool
	}{
		{"submitted again first", []string{q1 + "\n" + inj + "\n" + pipe + "\n" + rest}, false},
		{"pipe's lines first", []string{q1 + "\n" + pipe + "\n" + inj + "\n" + rest}, false},
		{"a run ends between the pipe's lines", []string{q1 + "\n" + inj + "\n" + strings.Split(pipe, "\n")[0],
			strings.Split(pipe, "\n")[1] + "\n" + rest}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openDB(t)
			feed(t, db, nil, c.restart, c.groups...)
			if got := query(t, db, `SELECT group_concat(recipient || ' ' || outcome, ', ') FROM (SELECT recipient, outcome FROM deliveries ORDER BY outcome DESC, recipient)`); got != "a@one.example hop, b@two.example hop, a@one.example delivered, b@two.example delivered" {
				t.Errorf("attempts: %s", got)
			}
			if err := db.VerifyRollup(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// Pipe lines of different runs each wait for a copy of their own: a
// dovecot deliver for three recipients, of which one's sieve redirects the
// message (one copy through pickup), is one hop and two deliveries; runs
// of one recipient each (the Debian setup) are linked each to a copy.
func TestPipeFilterHopRuns(t *testing.T) {
	const q1 = `Nov 28 07:00:00 mx postfix/smtpd[1]: 1A1A1A1A1A: client=a.example[192.0.2.1]
Nov 28 07:00:00 mx postfix/cleanup[2]: 1A1A1A1A1A: message-id=<m3@a.example>
Nov 28 07:00:00 mx postfix/qmgr[3]: 1A1A1A1A1A: from=<s@a.example>, size=100, nrcpt=3 (queue active)`
	pipe := func(pid int, rcpt string) string {
		return fmt.Sprintf("Nov 28 07:00:02 mx postfix/pipe[%d]: 1A1A1A1A1A: to=<%s>, relay=dovecot, delay=2, delays=0/0/0/2, dsn=2.0.0, status=sent (delivered via dovecot service)", pid, rcpt)
	}
	copyOf := func(qid string) string {
		return "Nov 28 07:00:02 mx postfix/pickup[4]: " + qid + ": uid=110 from=<s@a.example>\nNov 28 07:00:02 mx postfix/cleanup[2]: " + qid + ": message-id=<m3@a.example>"
	}
	t.Run("sieve redirect", func(t *testing.T) {
		db := openDB(t)
		feed(t, db, nil, false, q1+"\n"+pipe(5, "a@mx.example")+"\n"+pipe(6, "b@mx.example")+"\n"+pipe(7, "c@mx.example")+"\n"+copyOf("2B2B2B2B2B"))
		if got := query(t, db, `SELECT group_concat(outcome, ' ') FROM (SELECT outcome FROM deliveries ORDER BY outcome)`); got != "delivered delivered hop" {
			t.Errorf("outcomes %q, want one hop", got)
		}
	})
	t.Run("one recipient a run", func(t *testing.T) {
		db := openDB(t)
		feed(t, db, nil, false, q1+"\n"+pipe(5, "a@mx.example")+"\n"+pipe(6, "b@mx.example")+"\n"+copyOf("2B2B2B2B2B")+"\n"+copyOf("3C3C3C3C3C"))
		if got := query(t, db, `SELECT group_concat(n.queue_id, ' ') FROM (SELECT to_ref FROM message_links ORDER BY to_ref) l JOIN messages n ON n.id = l.to_ref`); got != "2B2B2B2B2B 3C3C3C3C3C" {
			t.Errorf("links to %q, want one to each copy", got)
		}
	})
}

// A recipient deferred on its way to a content filter (amavis restarting)
// and handed to it later, or requeued by hand (postsuper -r, then pickup's
// orig_id=), is one recipient, decided where the message it became is
// delivered; not also a recipient "still waiting" under the first queue ID.
func TestDeferredThenHandedOn(t *testing.T) {
	const (
		q1 = `Nov 20 10:00:00 mx postfix/smtpd[100]: 1A2B3C4D5E: client=ext.example.net[192.0.2.10]
Nov 20 10:00:00 mx postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.net>
Nov 20 10:00:00 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<s@example.net>, size=1000, nrcpt=1 (queue active)`
		deferred = `Nov 20 10:00:01 mx postfix/smtp[103]: 1A2B3C4D5E: to=<u@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10024: Connection refused)`
		filter   = `Nov 20 10:10:00 mx postfix/smtp[104]: 1A2B3C4D5E: to=<u@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=600, delays=599/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 6F7A8B9C0D)
Nov 20 10:10:00 mx postfix/smtpd[105]: 6F7A8B9C0D: client=localhost[127.0.0.1]
Nov 20 10:10:00 mx postfix/cleanup[101]: 6F7A8B9C0D: message-id=<m1@example.net>
Nov 20 10:10:00 mx postfix/qmgr[102]: 1A2B3C4D5E: removed`
		requeue = `Nov 20 10:10:00 mx postfix/postsuper[110]: 1A2B3C4D5E: requeued
Nov 20 10:10:00 mx postfix/pickup[111]: 6F7A8B9C0D: uid=0 from=<s@example.net> orig_id=1A2B3C4D5E
Nov 20 10:10:00 mx postfix/cleanup[101]: 6F7A8B9C0D: message-id=<m1@example.net>`
		delivered = `Nov 20 10:10:00 mx postfix/qmgr[102]: 6F7A8B9C0D: from=<s@example.net>, size=1500, nrcpt=1 (queue active)
Nov 20 10:10:01 mx postfix/virtual[106]: 6F7A8B9C0D: to=<u@example.org>, relay=virtual, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to maildir)
Nov 20 10:10:01 mx postfix/qmgr[102]: 6F7A8B9C0D: removed`
	)
	for _, c := range []struct {
		name    string
		groups  []string
		restart bool
	}{
		{"content filter", []string{q1 + "\n" + deferred + "\n" + filter + "\n" + delivered}, false},
		{"content filter, next run", []string{q1 + "\n" + deferred, filter + "\n" + delivered}, true},
		{"requeued", []string{q1 + "\n" + deferred + "\n" + requeue + "\n" + delivered}, false},
		{"requeued, next run", []string{q1 + "\n" + deferred, requeue + "\n" + delivered}, true},
		{"requeued, next batch", []string{q1 + "\n" + deferred, requeue, delivered}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openDB(t)
			feed(t, db, nil, c.restart, c.groups...)
			if got := query(t, db, `SELECT group_concat(outcome, ' ') FROM (SELECT outcome FROM deliveries ORDER BY time, id)`); got != "deferred hop delivered" {
				t.Errorf("outcomes %q, want deferred hop delivered", got)
			}
			if got := query(t, db, `SELECT f.queue_id || '>' || n.queue_id FROM message_links l
				JOIN messages f ON f.id = l.from_ref JOIN messages n ON n.id = l.to_ref`); got != "1A2B3C4D5E>6F7A8B9C0D" {
				t.Errorf("links %q", got)
			}
			if got := query(t, db, `SELECT count(*) FROM messages WHERE removed_at IS NULL`); got != "0" {
				t.Errorf("%s messages never left the queue", got)
			}
			if err := db.VerifyRollup(context.Background()); err != nil {
				t.Error(err)
			}
			if got := query(t, db, `SELECT domain || ' ' || recipients || ' ' || delivered || ' ' || deferred_recipients FROM v_domain_summary`); got != "example.org 1 1 1" {
				t.Errorf("v_domain_summary %q, want example.org 1 1 1", got)
			}
			since, until := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			rows, err := db.DomainSummary(context.Background(), since, until)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := db.Report(context.Background(), store.ReportQuery{Since: since, Until: until})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range rep.Groups {
				rows = append(rows, g.DomainRow)
			}
			if len(rows) != 2 {
				t.Errorf("%d domain rows, want 1 from each", len(rows))
			}
			for _, r := range rows {
				if r.Domain != "example.org" || r.Recipients != 1 || r.Delivered != 1 || r.DeferredRecipients != 1 {
					t.Errorf("%s: %d recipients, %d delivered, %d deferred recipients; want 1, 1, 1", r.Domain, r.Recipients, r.Delivered, r.DeferredRecipients)
				}
			}
		})
	}
}

// One recipient, two final lines: an Exim archive copy through an unseen
// router to the same address (a real Debian exim4 log), or a line a log
// shipper wrote twice. One recipient, decided by the first; the second is
// an attempt.
func TestSecondFinalLine(t *testing.T) {
	for _, c := range []struct{ name, log, want string }{
		{"exim archive copy", `2016-05-24 09:51:32 1b56Bg-0004ft-Fe <= s@example.ru H=(mx.example.ru) [10.0.100.50] P=esmtp S=73670 id=1464072602.721386.27049.nullmailer@example.ru
2016-05-24 09:51:32 1b56Bg-0004ft-Fe => news@example.org P=<s@example.ru> R=mailarchive T=remote_smtp S=75389 H=piler01.example.local [10.0.100.25] C="250 Ok 400000005743f7fb35101d340064856fb577 <news@example.org>"
2016-05-24 09:51:57 1b56Bg-0004ft-Fe => news@example.org P=<s@example.ru> R=dnslookup T=remote_smtp S=75389 H=mx.example.org [192.0.2.88] CV=yes C="250 2.0.0 5743fa0d-00c6e519 Message accepted for delivery"
2016-05-24 09:51:57 1b56Bg-0004ft-Fe Completed`, "delivered1 delivered0"},
		{"line written twice", `Nov 20 10:00:00 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<s@example.net>, size=1000, nrcpt=1 (queue active)
Nov 20 10:00:01 mx postfix/smtp[103]: 1A2B3C4D5E: to=<news@example.org>, relay=mx.example.org[192.0.2.88]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 20 10:00:01 mx postfix/smtp[103]: 1A2B3C4D5E: to=<news@example.org>, relay=mx.example.org[192.0.2.88]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 20 10:00:01 mx postfix/qmgr[102]: 1A2B3C4D5E: removed`, "delivered1 delivered0"},
		// The real route greylisted first: the deferral is an attempt of
		// a recipient the archive copy decided, here and in a rebuild.
		{"exim archive copy, then the real route deferred", `2016-05-24 09:51:32 1b56Bg-0004ft-Fe <= s@example.ru H=(mx.example.ru) [10.0.100.50] P=esmtp S=73670 id=1464072602.721386.27049.nullmailer@example.ru
2016-05-24 09:51:32 1b56Bg-0004ft-Fe => news@example.org P=<s@example.ru> R=mailarchive T=remote_smtp S=75389 H=piler01.example.local [10.0.100.25] C="250 Ok 400000005743f7fb35101d340064856fb577 <news@example.org>"
2016-05-24 09:51:33 1b56Bg-0004ft-Fe == news@example.org R=dnslookup T=remote_smtp defer (-44) H=mx.example.org [192.0.2.88]: SMTP error from remote mail server after RCPT TO:<news@example.org>: 451 4.7.1 Greylisted, try again
2016-05-24 11:10:57 1b56Bg-0004ft-Fe => news@example.org P=<s@example.ru> R=dnslookup T=remote_smtp S=75389 H=mx.example.org [192.0.2.88] CV=yes C="250 2.0.0 5743fa0d-00c6e519 Message accepted for delivery"
2016-05-24 11:10:57 1b56Bg-0004ft-Fe Completed`, "delivered1 deferred0 delivered0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openDB(t)
			feed(t, db, nil, false, c.log)
			if got := query(t, db, `SELECT group_concat(outcome || final, ' ') FROM (SELECT outcome, final FROM deliveries ORDER BY id)`); got != c.want {
				t.Errorf("outcomes %q, want %q", got, c.want)
			}
			if got := query(t, db, `SELECT domain || ' ' || recipients || ' ' || delivered FROM v_domain_summary`); got != "example.org 1 1" {
				t.Errorf("v_domain_summary %q, want example.org 1 1", got)
			}
			if err := db.VerifyRollup(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// A domain that only forwards (an alias domain) has hops and nothing else:
// no row of zeros in the report; its recipient counts where delivered.
func TestForwardOnlyDomainNoRow(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, false, `Nov 20 10:00:00 mx postfix/smtpd[100]: 1A2B3C4D5E: client=ext.example.net[192.0.2.10]
Nov 20 10:00:00 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<s@example.net>, size=1000, nrcpt=1 (queue active)
Nov 20 10:00:01 mx postfix/local[103]: 1A2B3C4D5E: to=<a@alias.example>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (forwarded as 6F7A8B9C0D)
Nov 20 10:00:01 mx postfix/qmgr[102]: 6F7A8B9C0D: from=<s@example.net>, size=1100, nrcpt=1 (queue active)
Nov 20 10:00:01 mx postfix/qmgr[102]: 1A2B3C4D5E: removed
Nov 20 10:00:02 mx postfix/smtp[104]: 6F7A8B9C0D: to=<b@real.example>, relay=mx.real.example[192.0.2.20]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 20 10:00:02 mx postfix/qmgr[102]: 6F7A8B9C0D: removed`)
	if got := query(t, db, `SELECT group_concat(outcome, ' ') FROM (SELECT outcome FROM deliveries ORDER BY id)`); got != "hop delivered" {
		t.Fatalf("outcomes %q, want hop delivered", got)
	}
	rep, err := db.Report(context.Background(), store.ReportQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range rep.Groups {
		names = append(names, g.Domain)
	}
	if strings.Join(names, " ") != "real.example" {
		t.Errorf("domains %q, want real.example only", names)
	}
}

// postsuper -r of a message whose recipients were deferred in an earlier
// run, one of them again in this one: every waiting recipient is handed on,
// not only those this run saw.
func TestRequeueAfterEarlierRun(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, true, `Nov 20 10:00:00 mx postfix/smtpd[100]: 1A2B3C4D5E: client=ext.example.net[192.0.2.10]
Nov 20 10:00:00 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<s@example.net>, size=1000, nrcpt=2 (queue active)
Nov 20 10:00:01 mx postfix/smtp[103]: 1A2B3C4D5E: to=<a@example.org>, relay=mx.example.org[192.0.2.20]:25, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.20]:25: Connection refused)
Nov 20 10:00:01 mx postfix/smtp[103]: 1A2B3C4D5E: to=<b@example.org>, relay=mx.example.org[192.0.2.20]:25, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.20]:25: Connection refused)`,
		`Nov 20 10:30:01 mx postfix/smtp[103]: 1A2B3C4D5E: to=<a@example.org>, relay=mx.example.org[192.0.2.20]:25, delay=1801, delays=1800/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.20]:25: Connection refused)
Nov 20 10:40:00 mx postfix/postsuper[110]: 1A2B3C4D5E: requeued
Nov 20 10:40:00 mx postfix/pickup[111]: 6F7A8B9C0D: uid=0 from=<s@example.net> orig_id=1A2B3C4D5E
Nov 20 10:40:00 mx postfix/qmgr[102]: 6F7A8B9C0D: from=<s@example.net>, size=1000, nrcpt=2 (queue active)
Nov 20 10:40:01 mx postfix/smtp[104]: 6F7A8B9C0D: to=<a@example.org>, relay=mx.example.org[192.0.2.20]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 20 10:40:01 mx postfix/smtp[104]: 6F7A8B9C0D: to=<b@example.org>, relay=mx.example.org[192.0.2.20]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 20 10:40:01 mx postfix/qmgr[102]: 6F7A8B9C0D: removed`)
	if got := query(t, db, `SELECT count(*) FROM deliveries WHERE outcome = 'hop'`); got != "2" {
		t.Errorf("%s hops, want 2 (both recipients waiting)", got)
	}
	if got := query(t, db, `SELECT domain || ' ' || recipients || ' ' || delivered || ' ' || deferred_recipients FROM v_domain_summary`); got != "example.org 2 2 2" {
		t.Errorf("v_domain_summary %q, want example.org 2 2 2", got)
	}
	if err := db.VerifyRollup(context.Background()); err != nil {
		t.Error(err)
	}
}

// Exim's "cancelled by root" (exim -Mg) fails the addresses still waiting,
// with no "**" line; "cancelled by timeout_frozen_after" gives them up.
func TestEximCancelled(t *testing.T) {
	for _, c := range []struct{ by, want string }{{"root", "deferred bounced"}, {"timeout_frozen_after", "deferred expired"}} {
		t.Run(c.by, func(t *testing.T) {
			db := openDB(t)
			feed(t, db, nil, false, `2026-11-20 10:00:00 1xXRtT-0000Ls-1M <= s@example.net H=(x) [192.0.2.1] P=esmtp S=1000
2026-11-20 10:00:01 1xXRtT-0000Ls-1M == a@example.org R=dnslookup T=remote_smtp defer (-44) H=mx.example.org [192.0.2.20]: SMTP error from remote mail server after RCPT TO:<a@example.org>: 451 4.3.0 Try later
2026-11-21 10:00:00 1xXRtT-0000Ls-1M cancelled by `+c.by+`
2026-11-21 10:00:00 1xXRtc-0000Rz-1Y <= <> R=1xXRtT-0000Ls-1M U=Debian-exim P=local S=3915
2026-11-21 10:00:00 1xXRtT-0000Ls-1M Completed`)
			if got := query(t, db, `SELECT group_concat(outcome, ' ') FROM (SELECT outcome FROM deliveries ORDER BY id)`); got != c.want {
				t.Errorf("outcomes %q, want %q", got, c.want)
			}
			if got := query(t, db, `SELECT recipients || ' ' || delivered || ' ' || bounced || ' ' || expired FROM v_domain_summary`); got != map[string]string{"root": "1 0 1 0", "timeout_frozen_after": "1 0 0 1"}[c.by] {
				t.Errorf("v_domain_summary %q", got)
			}
			if err := db.VerifyRollup(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// A real Exim 4.96 (log_selector +received_recipients, a system filter that
// fails one message and freezes another until timeout_frozen_after): a
// message given up on before any attempt names its recipients only on its
// arrival line; they bounced, or expired.
func TestEximCancelledBeforeAttempt(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, false, `2026-11-29 14:02:57 1xXfUX-00071r-3D <= dsnbox+r0014@bounces.example U=root P=local S=1286 id=r0014.1795960977@mailbounce.test for ffail-r0014-1@ok.example ok-r0014-2@corp.example ok-r0014-3@lmtp.example
2026-11-29 14:02:58 1xXfUY-00071t-1M <= dsnbox+r0016@bounces.example U=root P=local S=1253 id=r0016.1795960978@mailbounce.test for ffreeze-r0016-1@ok.example ok-r0016-2@corp.example
2026-11-29 14:03:09 1xXfUX-00071r-3D cancelled by system filter: blocked by policy
2026-11-29 14:03:09 1xXfUX-00071r-3D Completed QT=11s
2026-11-29 14:03:10 1xXfUY-00071t-1M Frozen by the system filter: held for review
2026-11-29 14:06:10 1xXfUY-00071t-1M cancelled by timeout_frozen_after
2026-11-29 14:06:10 1xXfUY-00071t-1M Completed QT=3m12s`)
	got := query(t, db, `SELECT group_concat(domain || ' ' || recipients || ' ' || bounced || ' ' || expired, ', ') FROM (SELECT * FROM v_domain_summary ORDER BY domain)`)
	if want := "corp.example 2 1 1, lmtp.example 1 1 0, ok.example 2 1 1"; got != want {
		t.Errorf("v_domain_summary %q, want %q", got, want)
	}
	if err := db.VerifyRollup(context.Background()); err != nil {
		t.Error(err)
	}
}

// A real Exim 4.96 with an unseen router that archives every address to a
// file before the real route: the copy's "=>" comes first, and the remote
// server's 5xx after it decides, or its 4xx leaves the address waiting (the
// last two messages: Exim's testsuite 0374 and 4111 in short). A line
// written twice stays one recipient.
func TestEximUnseenCopy(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, false, `2026-11-29 14:02:57 1xXfUX-00071l-0R <= dsnbox+r0010@bounces.example U=root P=local S=1298 id=r0010.1795960977@mailbounce.test for unknown-r0010-1@nouser.example ok-r0010-2@nouser.example spam-r0010-3@mixed.example ok-r0010-4@mixed.example
2026-11-29 14:03:10 1xXfUX-00071l-0R => unknown-r0010-1 <unknown-r0010-1@nouser.example> R=archive T=archive_file S=1402 DT=0s
2026-11-29 14:03:10 1xXfUX-00071l-0R => ok-r0010-2 <ok-r0010-2@nouser.example> R=archive T=archive_file S=1397 DT=0s
2026-11-29 14:03:10 1xXfUX-00071l-0R => ok-r0010-2 <ok-r0010-2@nouser.example> R=archive T=archive_file S=1397 DT=0s
2026-11-29 14:03:10 1xXfUX-00071l-0R ** unknown-r0010-1@nouser.example R=sink T=sink_main H=127.0.0.1 [127.0.0.1]:2701: SMTP error from remote mail server after RCPT TO:<unknown-r0010-1@nouser.example>: 550 5.1.1 <unknown-r0010-1@nouser.example>: Recipient address rejected: User unknown in virtual mailbox table DT=0s
2026-11-29 14:03:10 1xXfUX-00071l-0R Completed QT=12s
2026-11-29 14:04:00 1xXfUY-00071l-0S <= s@bounces.example U=root P=local S=1298
2026-11-29 14:04:01 1xXfUY-00071l-0S => c1 <c1@later.example> R=archive T=archive_file S=1402 DT=0s
2026-11-29 14:04:01 1xXfUY-00071l-0S == c1@later.example R=sink T=sink_main defer (-44) H=127.0.0.1 [127.0.0.1]:2701: SMTP error from remote mail server after RCPT TO:<c1@later.example>: 450 4.2.0 try later
2026-11-29 14:05:00 1xXfUZ-00071l-0T <= s@bounces.example U=root P=local S=1298
2026-11-29 14:05:01 1xXfUZ-00071l-0T => userx <page+userx@pager.example> R=localuser T=local_delivery
2026-11-29 14:05:01 1xXfUZ-00071l-0T ** |callpager <page+userx@pager.example> R=userforward T=address_pipe : "callpager" command not found for address_pipe transport
2026-11-29 14:05:01 1xXfUZ-00071l-0T Completed`)
	// later.example's address is waiting after the copy; a .forward's
	// pipe that failed beside the mailbox leaves pager.example delivered.
	got := query(t, db, `SELECT group_concat(domain || ' ' || recipients || ' ' || delivered || ' ' || bounced || ' ' || deferred_recipients, ', ') FROM (SELECT * FROM v_domain_summary ORDER BY domain)`)
	if want := "later.example 1 0 0 1, nouser.example 2 1 1 0, pager.example 1 1 0 0"; got != want {
		t.Errorf("v_domain_summary %q, want %q (recipients delivered bounced deferred_recipients)", got, want)
	}
	if got := query(t, db, `SELECT group_concat(outcome || final, ' ') FROM (SELECT outcome, final FROM deliveries ORDER BY id)`); got != "delivered0 delivered1 delivered0 bounced1 delivered0 deferred0 delivered1 bounced0" {
		t.Errorf("outcome and final of the rows: %q", got)
	}
	if err := db.VerifyRollup(context.Background()); err != nil {
		t.Error(err)
	}
}

// A real Exim 4.96 with local_part_suffix: the deferrals name the mailbox
// and, in brackets, the address sent to; the give-up names that address
// only. One recipient, expired.
func TestEximExpiryOfRoutedAddress(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, false, `2026-11-29 14:21:45 1xXfmj-0002YI-2n <= dsnbox+x0013@bounces.example U=root P=local S=3819 id=x0013.1795962105@mailbounce.test
2026-11-29 14:21:57 1xXfmj-0002YI-2n == mbtest@local.example <mbtest+x0013-9@local.example> R=quota_user T=quota_delivery defer (-22) DT=0s: mailbox is full (MTA-imposed quota exceeded while writing to /var/tmp/mb-q2/work/quota/mail/mbtest)
2026-11-29 14:22:29 1xXfmj-0002YI-2n == mbtest@local.example <mbtest+x0013-9@local.example> R=quota_user T=quota_delivery defer (-22) DT=0s: mailbox is full (MTA-imposed quota exceeded while writing to /var/tmp/mb-q2/work/quota/mail/mbtest)
2026-11-29 14:23:06 1xXfmj-0002YI-2n ** mbtest+x0013-9@local.example: retry timeout exceeded
2026-11-29 14:23:06 1xXfmj-0002YI-2n Completed QT=1m20s`)
	got := query(t, db, `SELECT recipients || ' ' || expired || ' ' || deferrals || ' ' || deferred_recipients FROM v_domain_summary`)
	if want := "1 1 2 1"; got != want {
		t.Errorf("v_domain_summary %q, want %q (recipients expired deferrals deferred_recipients)", got, want)
	}
	if got := query(t, db, `SELECT reason FROM deliveries WHERE final = 1`); got != "mailbox_full" {
		t.Errorf("the expiry's reason %q, want the deferrals' mailbox_full", got)
	}
	if err := db.VerifyRollup(context.Background()); err != nil {
		t.Error(err)
	}
}

// A real Exim 4.96 logging to syslog with syslog_duplication (the default):
// each rejection is written twice, its main log's line and its reject
// log's (after DATA, the reject log's comes in numbered pieces, its header
// lines after the first). Each counts once; a third identical line (the
// client tried again) is a rejection of its own.
func TestEximSyslogDuplication(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, false, `Nov 29 14:13:51 vm exim[5866]: 2026-11-29 14:13:51.990 [5866] H=(localhost) [127.0.0.1]:41652 I=[127.0.0.1]:2725 F=<dsnbox+s0001@bounces.example> rejected RCPT <aclreject-s0001-9@ok.example>: recipient blocked by local policy
Nov 29 14:13:51 vm exim[5866]: 2026-11-29 14:13:51.990 [5866] H=(localhost) [127.0.0.1]:41652 I=[127.0.0.1]:2725 F=<dsnbox+s0001@bounces.example> rejected RCPT <aclreject-s0001-9@ok.example>: recipient blocked by local policy
Nov 29 14:13:51 vm exim[5866]: 2026-11-29 14:13:51.990 [5866] H=(localhost) [127.0.0.1]:41652 I=[127.0.0.1]:2725 F=<dsnbox+s0001@bounces.example> rejected RCPT <aclreject-s0001-9@ok.example>: recipient blocked by local policy
Nov 29 14:13:52 vm exim[5873]: 2026-11-29 14:13:52.615 [5873] 1xXff6-0001Wj-1y H=(localhost) [127.0.0.1]:41678 I=[127.0.0.1]:2725 F=<dsnbox+s0003@bounces.example> rejected after DATA: message content rejected
Nov 29 14:13:52 vm exim[5873]: [1\23] 2026-11-29 14:13:52.615 [5873] 1xXff6-0001Wj-1y H=(localhost) [127.0.0.1]:41678 I=[127.0.0.1]:2725 F=<dsnbox+s0003@bounces.example> rejected after DATA: message content rejected
Nov 29 14:13:52 vm exim[5873]: [2\23] Envelope-from: <dsnbox+s0003@bounces.example>
Nov 29 14:13:52 vm exim[5873]: [3\23] Envelope-to: <ok-s0003-1@yahoo-mail.example>`)
	if got := query(t, db, `SELECT count(*) FROM rejects`); got != "3" {
		t.Errorf("%s rejects, want 3 (two RCPT, one after DATA)", got)
	}
}

// A recipient deferred before a hop and again after it is one deferred
// recipient (DfRcp), counted where the message the hop made defers it;
// deferred before the hop only, it counts there. Real Postfix 3.7 runs (a
// content filter down, then greylisting; postsuper -r), and a pipe filter
// whose two halves come in either order, in one batch or two.
func TestDeferredAcrossHop(t *testing.T) {
	const (
		q1 = `Nov 28 07:00:00 mx postfix/smtpd[1]: 1A1A1A1A1A: client=a.example[192.0.2.1]
Nov 28 07:00:00 mx postfix/cleanup[2]: 1A1A1A1A1A: message-id=<m1@a.example>
Nov 28 07:00:00 mx postfix/qmgr[3]: 1A1A1A1A1A: from=<s@a.example>, size=100, nrcpt=1 (queue active)
Nov 28 07:00:01 mx postfix/pipe[5]: 1A1A1A1A1A: to=<u@b.example>, relay=spamassassin, delay=1, delays=0/0/0/1, dsn=4.3.0, status=deferred (temporary failure)`
		pipe = `Nov 28 08:00:02 mx postfix/pipe[5]: 1A1A1A1A1A: to=<u@b.example>, relay=spamassassin, delay=2, delays=0/0/0/2, dsn=2.0.0, status=sent (delivered via spamassassin service)
Nov 28 08:00:02 mx postfix/qmgr[3]: 1A1A1A1A1A: removed`
		inj = `Nov 28 08:00:02 mx postfix/pickup[4]: 2B2B2B2B2B: uid=110 from=<s@a.example>
Nov 28 08:00:02 mx postfix/cleanup[2]: 2B2B2B2B2B: message-id=<m1@a.example>
Nov 28 08:00:02 mx postfix/qmgr[3]: 2B2B2B2B2B: from=<s@a.example>, size=1531, nrcpt=1 (queue active)`
		deferredAgain = `Nov 28 08:00:03 mx postfix/smtp[6]: 2B2B2B2B2B: to=<u@b.example>, relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=4.7.1, status=deferred (host mx.b.example[192.0.2.2] said: 451 4.7.1 Greylisted (in reply to RCPT TO command))`
		delivered     = `Nov 28 09:00:03 mx postfix/smtp[6]: 2B2B2B2B2B: to=<u@b.example>, relay=mx.b.example[192.0.2.2]:25, delay=3601, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 28 09:00:03 mx postfix/qmgr[3]: 2B2B2B2B2B: removed`
	)
	for _, c := range []struct {
		name    string
		groups  []string
		restart bool
		want    string // recipients delivered expired deferrals deferred_recipients
	}{
		{"content filter", []string{`Nov 29 14:12:07 postfix postfix/filtered/smtpd[2583]: 4jcpxg6rGkz5kgD: client=localhost[127.0.0.1]
Nov 29 14:12:07 postfix postfix/cleanup[2585]: 4jcpxg6rGkz5kgD: message-id=<d2.1795961527@mailbounce.test>
Nov 29 14:12:07 postfix postfix/qmgr[2539]: 4jcpxg6rGkz5kgD: from=<dsnbox+d2@bounces.example>, size=466, nrcpt=1 (queue active)
Nov 29 14:12:07 postfix postfix/smtp[2586]: 4jcpxg6rGkz5kgD: to=<grey1-d2-1@ok.example>, relay=none, delay=0, delays=0/0/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10025: Connection refused)
Nov 29 14:12:27 postfix postfix/qmgr[2539]: 4jcpxg6rGkz5kgD: from=<dsnbox+d2@bounces.example>, size=466, nrcpt=1 (queue active)
Nov 29 14:12:27 postfix postfix/smtp[2586]: 4jcpxg6rGkz5kgD: to=<grey1-d2-1@ok.example>, relay=none, delay=19, delays=19/0/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10025: Connection refused)
Nov 29 14:12:49 postfix postfix/qmgr[3242]: 4jcpxg6rGkz5kgD: from=<dsnbox+d2@bounces.example>, size=466, nrcpt=1 (queue active)
Nov 29 14:12:49 postfix postfix/reinject/smtpd[3437]: 4jcpyT5tSyz5kfr: client=localhost[127.0.0.1]
Nov 29 14:12:49 postfix postfix/cleanup[3441]: 4jcpyT5tSyz5kfr: message-id=<d2.1795961527@mailbounce.test>
Nov 29 14:12:49 postfix postfix/qmgr[3242]: 4jcpyT5tSyz5kfr: from=<dsnbox+d2@bounces.example>, size=668, nrcpt=1 (queue active)
Nov 29 14:12:49 postfix postfix/smtp[3434]: 4jcpxg6rGkz5kgD: to=<grey1-d2-1@ok.example>, relay=127.0.0.1[127.0.0.1]:10025, delay=42, delays=42/0.02/0.02/0.02, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4jcpyT5tSyz5kfr)
Nov 29 14:12:49 postfix postfix/qmgr[3242]: 4jcpxg6rGkz5kgD: removed
Nov 29 14:12:49 postfix postfix/smtp[3434]: 4jcpyT5tSyz5kfr: to=<grey1-d2-1@ok.example>, relay=127.0.0.1[127.0.0.1]:2601, delay=0.04, delays=0.02/0.01/0.01/0, dsn=4.7.1, status=deferred (host 127.0.0.1[127.0.0.1] said: 451 4.7.1 <grey1-d2-1@ok.example>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/ok.example.html (in reply to RCPT TO command))
Nov 29 14:13:09 postfix postfix/qmgr[3242]: 4jcpyT5tSyz5kfr: from=<dsnbox+d2@bounces.example>, size=668, nrcpt=1 (queue active)
Nov 29 14:13:09 postfix postfix/smtp[3438]: 4jcpyT5tSyz5kfr: to=<grey1-d2-1@ok.example>, relay=127.0.0.1[127.0.0.1]:2601, delay=20, delays=20/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as N0P893rSYM3Nflc)
Nov 29 14:13:09 postfix postfix/qmgr[3242]: 4jcpyT5tSyz5kfr: removed`}, false, "ok.example 1 1 0 3 1"},
		{"postsuper -r", []string{`Nov 29 13:59:01 postfix postfix/smtpd[11228]: 4jcpfY2D8yz5kg9: client=localhost[127.0.0.1]
Nov 29 13:59:01 postfix postfix/cleanup[11269]: 4jcpfY2D8yz5kg9: message-id=<r1.1795960741@mailbounce.test>
Nov 29 13:59:01 postfix postfix/qmgr[11173]: 4jcpfY2D8yz5kg9: from=<dsnbox+r1@bounces.example>, size=465, nrcpt=2 (queue active)
Nov 29 13:59:01 postfix postfix/smtp[11232]: 4jcpfY2D8yz5kg9: to=<temp450-r1-2@temp.example>, relay=127.0.0.1[127.0.0.1]:2601, delay=0.01, delays=0/0/0/0, dsn=4.2.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.2.0 <temp450-r1-2@temp.example>: Recipient address rejected: Mailbox temporarily unavailable (in reply to RCPT TO command))
Nov 29 13:59:02 postfix postfix/postsuper[11308]: 4jcpfY2D8yz5kg9: requeued
Nov 29 13:59:43 postfix postfix/pickup[11172]: 4jcpgM0J5qz5kgT: uid=102 from=<dsnbox+r1@bounces.example> orig_id=4jcpfY2D8yz5kg9
Nov 29 13:59:43 postfix postfix/cleanup[11269]: 4jcpgM0J5qz5kgT: message-id=<r1.1795960741@mailbounce.test>
Nov 29 13:59:43 postfix postfix/qmgr[11173]: 4jcpgM0J5qz5kgT: from=<dsnbox+r1@bounces.example>, size=590, nrcpt=2 (queue active)
Nov 29 13:59:43 postfix postfix/smtp[11232]: 4jcpgM0J5qz5kgT: to=<temp450-r1-2@temp.example>, relay=127.0.0.1[127.0.0.1]:2601, delay=42, delays=42/0/0.01/0.01, dsn=4.2.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.2.0 <temp450-r1-2@temp.example>: Recipient address rejected: Mailbox temporarily unavailable (in reply to RCPT TO command))
Nov 29 14:02:17 postfix postfix/smtp[11260]: 4jcpgM0J5qz5kgT: to=<temp450-r1-2@temp.example>, relay=127.0.0.1[127.0.0.1]:2601, delay=196, delays=196/0/0/0, dsn=4.2.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.2.0 <temp450-r1-2@temp.example>: Recipient address rejected: Mailbox temporarily unavailable (in reply to RCPT TO command))
Nov 29 14:02:17 postfix postfix/qmgr[11173]: 4jcpgM0J5qz5kgT: from=<dsnbox+r1@bounces.example>, status=expired, returned to sender
Nov 29 14:02:17 postfix postfix/qmgr[11173]: 4jcpgM0J5qz5kgT: removed`}, false, "temp.example 1 0 1 3 1"},
		{"pipe filter, submitted again first", []string{q1 + "\n" + inj + "\n" + pipe + "\n" + deferredAgain + "\n" + delivered}, false, "b.example 1 1 0 2 1"},
		{"pipe filter, pipe's line first", []string{q1 + "\n" + pipe + "\n" + inj + "\n" + deferredAgain + "\n" + delivered}, false, "b.example 1 1 0 2 1"},
		{"pipe filter, deferred after, next batch", []string{q1 + "\n" + pipe + "\n" + inj, deferredAgain, delivered}, false, "b.example 1 1 0 2 1"},
		{"pipe filter, deferred after, next run", []string{q1 + "\n" + pipe, inj + "\n" + deferredAgain, delivered}, true, "b.example 1 1 0 2 1"},
		{"pipe filter, deferred before only", []string{q1 + "\n" + pipe + "\n" + inj + "\n" + delivered}, false, "b.example 1 1 0 1 1"},
		// The message submitted again is deferred before the pipe's
		// "sent" is logged (the pipe ends after the filter's sendmail).
		{"pipe filter, deferred after before the pipe's line", []string{q1 + "\n" + inj + "\n" + deferredAgain + "\n" + pipe + "\n" + delivered}, false, "b.example 1 1 0 2 1"},
		{"pipe filter, deferred after before the pipe's line, batches", []string{q1, inj + "\n" + deferredAgain, pipe, delivered}, false, "b.example 1 1 0 2 1"},
		// A content filter queues the message again before the 250 that
		// the hand-over's "sent" line logs reaches the client, and the
		// new queue ID is deferred at once (a destination held dead).
		{"content filter, deferred after before the hop's line", []string{`Nov 29 14:12:07 postfix postfix/smtpd[2583]: 4jcpxg6rGkz5kgD: client=localhost[127.0.0.1]
Nov 29 14:12:07 postfix postfix/cleanup[2585]: 4jcpxg6rGkz5kgD: message-id=<d2.1795961527@mailbounce.test>
Nov 29 14:12:07 postfix postfix/qmgr[2539]: 4jcpxg6rGkz5kgD: from=<dsnbox+d2@bounces.example>, size=466, nrcpt=1 (queue active)
Nov 29 14:12:07 postfix postfix/smtp[2586]: 4jcpxg6rGkz5kgD: to=<grey1-d2-1@ok.example>, relay=none, delay=0, delays=0/0/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10025: Connection refused)
Nov 29 14:12:49 postfix postfix/reinject/smtpd[3437]: 4jcpyT5tSyz5kfr: client=localhost[127.0.0.1]
Nov 29 14:12:49 postfix postfix/cleanup[3441]: 4jcpyT5tSyz5kfr: message-id=<d2.1795961527@mailbounce.test>
Nov 29 14:12:49 postfix postfix/qmgr[3242]: 4jcpyT5tSyz5kfr: from=<dsnbox+d2@bounces.example>, size=668, nrcpt=1 (queue active)
Nov 29 14:12:49 postfix postfix/smtp[3434]: 4jcpyT5tSyz5kfr: to=<grey1-d2-1@ok.example>, relay=none, delay=0.04, delays=0.02/0.01/0.01/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]:2601: Connection refused)
Nov 29 14:12:49 postfix postfix/smtp[3434]: 4jcpxg6rGkz5kgD: to=<grey1-d2-1@ok.example>, relay=127.0.0.1[127.0.0.1]:10025, delay=42, delays=42/0.02/0.02/0.02, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4jcpyT5tSyz5kfr)
Nov 29 14:12:49 postfix postfix/qmgr[3242]: 4jcpxg6rGkz5kgD: removed`}, false, "ok.example 1 0 0 2 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openDB(t)
			feed(t, db, nil, c.restart, c.groups...)
			got := query(t, db, `SELECT domain || ' ' || recipients || ' ' || delivered || ' ' || expired || ' ' || deferrals || ' ' || deferred_recipients FROM v_domain_summary`)
			if got != c.want {
				t.Errorf("v_domain_summary %q, want %q", got, c.want)
			}
			if err := db.VerifyRollup(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// An unseen router's copy to another address (an archive server, down)
// waits; the address itself is delivered, and counts under its domain.
func TestEximUnseenRemoteCopyWaits(t *testing.T) {
	db := openDB(t)
	feed(t, db, nil, false, `2026-11-28 07:00:00 1xXfmj-0002YI-2n <= s@a.example H=a.example [192.0.2.1] P=esmtp S=100 id=m1@a.example
2026-11-28 07:00:01 1xXfmj-0002YI-2n == archive@backup.example <u@b.example> R=archive T=remote_smtp defer (111): Connection refused
2026-11-28 07:00:02 1xXfmj-0002YI-2n => u@b.example R=dnslookup T=remote_smtp H=mx.b.example [192.0.2.2] C="250 OK"`)
	got := query(t, db, `SELECT group_concat(domain || ' ' || recipients || ' ' || delivered || ' ' || deferred_recipients, ', ') FROM (SELECT * FROM v_domain_summary ORDER BY domain)`)
	if want := "b.example 1 1 0, backup.example 1 0 1"; got != want {
		t.Errorf("v_domain_summary %q, want %q (recipients delivered deferred_recipients)", got, want)
	}
	if err := db.VerifyRollup(context.Background()); err != nil {
		t.Error(err)
	}
}
