package parse

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds the parser arbitrary lines, seeded with every real line
// in testdata, and checks what must hold whatever the input.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.log")
	for _, path := range files {
		fh, err := os.Open(path)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			f.Add(sc.Text())
		}
		fh.Close()
	}
	f.Add("Nov 28 07:04:05 mx postfix/smtp[1]: 4Xkp2N0KJjz9sR9: to=<a@b>, relay=x[::1]:25, status=sent (250 2.0.0 Ok: queued as 1A2B)")
	f.Add("2026-11-28 07:04:05.123 +0100 [1] 1rKo4K-00000000Xkp-2abc == a@b R=r T=t defer (-1): x")
	f.Add(`<22>1 2026-11-28T07:04:05.123Z mx postfix/smtp 1 - [m a="\"]"] 4Xkp2N0KJjz9sR9: to=<a@b>, relay=x[::1]:25, status=sent (250 OK)`)
	f.Add("2026-11-28 07:04:05 mx postfix/smtp[1]: [ID 197553 mail.info] 4Xkp2N0KJjz9sR9: to=<a@b>, status=bounced (550 no)")
	f.Add("1795849445.123456 mx exim[1]: 1rKo4K-00000000Xkp-2abc ** a@b: 550 no")
	f.Add(`{"__REALTIME_TIMESTAMP":"1795849445123456","SYSLOG_IDENTIFIER":"postfix/smtp","_HOSTNAME":"mx","MESSAGE":"4Xkp2N0KJjz9sR9: to=<a@b>, status=sent (250 OK)"}`)
	f.Add(`{"log":"Nov 28 07:04:05 mx postfix/smtp[1]: 4Xkp2N0KJjz9sR9: to=<a@b>, status=sent (250 OK)\n","stream":"stdout"}`)
	f.Add(`{"SYSLOG_IDENTIFIER":["exim",[101]],"MESSAGE":[49,255]}`)
	f.Fuzz(func(t *testing.T, line string) {
		p := NewParser(Options{Reference: ref})
		ev := p.Parse(line)
		for name, field := range map[string]string{
			"queue ID": ev.QueueID, "recipient": ev.Recipient, "sender": ev.Sender, "host": ev.Host,
			"program": ev.Program, "relay name": ev.Relay.Name, "relay address": ev.Relay.Addr, "message-id": ev.MessageID, "next queue ID": ev.NextQueueID,
			"remote host": ev.Reply.RemoteHost, "remote ID": ev.Reply.RemoteID, "status": ev.Status,
		} {
			// Exim's mainlog names no program and Exim's status words are
			// mailbounce's own.
			synthetic := name == "program" && field == "exim" || name == "status" && ev.MTA == Exim
			// Exim's relays are written as Postfix writes them; their
			// parts are in the line.
			// A JSON line's text is escaped (json.go).
			if field != "" && !strings.Contains(line, field) && !synthetic && !strings.HasPrefix(line, "{") {
				t.Errorf("%s %q is not in the line %q", name, field, line)
			}
		}
		if ev.Outcome.String() == "" && ev.Outcome != OutcomeNone {
			t.Errorf("unknown outcome %d", ev.Outcome)
		}
		if ev.Kind.String() == "unknown" && ev.Kind != KindUnknown {
			t.Errorf("unknown kind %d", ev.Kind)
		}
		if ev.Kind == KindDelivery && ev.Outcome == OutcomeNone {
			t.Errorf("delivery without outcome: %q", line)
		}
		if c := ev.Reply.Code; c != 0 && (c < 200 || c > 599) {
			t.Errorf("reply code %d out of range", c)
		}
		if ev.Reason.String() == "" && ev.Reason != ReasonNone {
			t.Errorf("reason %d without a name", ev.Reason)
		}
	})
}

// FuzzParseReply checks the reply reader alone.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"host mx[1.2.3.4] said: 550-5.7.1 no 550 5.7.1 no (in reply to RCPT TO command)",
		"connect to mx[1.2.3.4]:25: Connection refused",
		"250 2.0.0 Ok: queued as 4Xkp2N0KJjz9sR9",
		"SMTP error from remote mail server after RCPT TO:<a@b>: host x [1.2.3.4]: 550 no",
		"lost connection with mx[1.2.3.4] while sending end of data -- message may be sent more than once",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := ParseReply(s)
		if r.Raw != s {
			t.Errorf("raw %q != input", r.Raw)
		}
		if r.Text != "" && !strings.Contains(s, r.Text) {
			t.Errorf("text %q not in %q", r.Text, s)
		}
		if r.Enhanced.Class != 0 && r.Enhanced.Class != 2 && r.Enhanced.Class != 4 && r.Enhanced.Class != 5 {
			t.Errorf("enhanced class %d", r.Enhanced.Class)
		}
	})
}
