package parse

import (
	"testing"
	"time"
)

// TestRemoteID reads the identifier receiving servers give in their 250
// replies, in the shapes real logs show (the shared corpus and the issue),
// and leaves unknown shapes empty rather than guess.
func TestRemoteID(t *testing.T) {
	for _, c := range []struct{ reply, id, name string }{
		{"250 2.0.0 Ok: queued as 4DRBDj4tP9zdZLM", "4DRBDj4tP9zdZLM", ""},
		{"250 2.0.0 Ok: queued as 3F2A1B2C3D", "3F2A1B2C3D", ""},
		{"250 OK id=1ZpCCD-0002J4-Ej", "1ZpCCD-0002J4-Ej", ""},
		{"250 OK id=1kmGfT-00056j-NK", "1kmGfT-00056j-NK", ""},
		{"250 2.0.0 OK  1700000000 x12si123 - gsmtp", "x12si123", ""},
		{"250 2.0.0 OK  1642704487 v125si7680590wme.216 - smtp", "v125si7680590wme.216", ""},
		{"250 ok: Message 12345 accepted", "12345", ""},
		{"250 2.6.0 <h-bb18fbf7@h-5e67b9b4406.com> [InternalId=1885490670798, Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com] 18754 bytes in 0.258, 70.863 KB/sec Queued mail for delivery -> 250 2.1.5",
			"h-bb18fbf7@h-5e67b9b4406.com", "AM0PR01MB1234.eurprd01.prod.exchangelabs.com"},
		{"250 2.0.0 <rcpt@example.com> 3Nw9LLrgaF+hPgAA9Bt4Rw Saved", "3Nw9LLrgaF+hPgAA9Bt4Rw", ""},
		{"250 2.0.0 <h-f16@h-ffeb17e38996c.com> plg/GrF5EmAAPQAAWP5Hkg:2 Saved", "plg/GrF5EmAAPQAAWP5Hkg:2", ""},
		{"250 Ok 010001805204880d-1c44c665-2190-439a-be35-87019be5e2b5-000000", "010001805204880d-1c44c665-2190-439a-be35-87019be5e2b5-000000", ""},
		{"250 2.0.0 6FVIjIMwUJwU66FVIjAEB0 mail accepted for delivery", "6FVIjIMwUJwU66FVIjAEB0", ""},
		// No identifier in these: nothing is guessed.
		{"250 ok dirdel", "", ""},
		{"250 Message received", "", ""},
		{"250 2.1.5 h-10@h-e858bb21f.com Ok", "", ""},
		{"250 OK", "", ""},
		{"250 OK got that", "", ""},
		{"250 2.0.0 from MTA(smtp:[127.0.0.1]:10025)", "", ""},
		// Not a success: no remote ID even when the text has one.
		{"451 4.3.0 Ok: queued as ABCDEF", "", ""},
	} {
		r := ParseReply(c.reply)
		if r.RemoteID != c.id || r.RemoteName != c.name {
			t.Errorf("%q: remote id %q name %q, want %q %q", c.reply, r.RemoteID, r.RemoteName, c.id, c.name)
		}
	}
}

// TestForwardedAs: a local forward names the queue ID it created as the
// remote ID too, so that the store can link the two messages.
func TestForwardedAs(t *testing.T) {
	ev := NewParser(Options{Year: 2026}).Parse("Nov 28 10:00:00 mx postfix/local[123]: 4H1bYt5ZJvz9sR9: to=<bob@example.org>, relay=local, delay=0.1, delays=0.05/0/0/0.05, dsn=2.0.0, status=sent (forwarded as 4H1bYt6Kq2z9sRB)")
	if ev.Outcome != Delivered || ev.NextQueueID != "4H1bYt6Kq2z9sRB" || ev.Reply.RemoteID != "4H1bYt6Kq2z9sRB" {
		t.Errorf("outcome %v next %q remote %q", ev.Outcome, ev.NextQueueID, ev.Reply.RemoteID)
	}
}

func TestEximDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0s", 0, true}, {"18s", 18, true}, {"2m3s", 123, true}, {"1m", 60, true}, {"1h2m", 3720, true},
		{"1d2h3m4s", 93784, true}, {"1w", 604800, true}, {"1.333s", 1.333, true},
		{"", 0, false}, {"12", 0, false}, {"3x", 0, false}, {"s", 0, false}, {"1..2s", 0, false},
	} {
		got, ok := eximDuration(c.in)
		if ok != c.ok || ok && (got-c.want > 1e-9 || c.want-got > 1e-9) {
			t.Errorf("eximDuration(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	ev := NewParser(Options{}).Parse(`2026-11-28 07:04:06 1pXyZ1-0001Ab-Cd => bob@gmail.com R=dnslookup T=remote_smtp H=gmail-smtp-in.l.google.com [142.250.1.27] C="250 OK" QT=2m3s DT=1s`)
	if ev.Outcome != Delivered || ev.Delay != 123 {
		t.Errorf("outcome %v delay %v, want delivered after 123 s", ev.Outcome, ev.Delay)
	}
}

func TestEximIDTime(t *testing.T) {
	for _, c := range []struct {
		id   string
		want string
	}{
		{"1xXTgL-0001Sj-0X", "2026-11-29T01:26:21Z"},
		{"1ZpCCD-0002J4-Ej", "2015-10-22T09:30:05Z"},
		{"1rKo4K-00000000Xkp-2abc", "2024-01-02T23:21:08Z"},
		{"4DRBDj4tP9zdZLM", ""},
		{"1xXTgL", ""},
	} {
		got, ok := EximIDTime(c.id)
		if c.want == "" {
			if ok {
				t.Errorf("%s: %v, want not an Exim ID", c.id, got)
			}
			continue
		}
		if !ok || got.UTC().Format(time.RFC3339) != c.want {
			t.Errorf("%s: %v %v, want %s", c.id, got.UTC(), ok, c.want)
		}
	}
}

// TestEximLMTPError: Exim's lmtp transport writes its own prefix before the
// reply; the codes and the stage must be read through it.
func TestEximLMTPError(t *testing.T) {
	r := ParseReply("LMTP error after DATA: 452 4.2.2 <temp452-e0175-1@lmtp.example> Quota exceeded (mailbox for user is full)")
	if r.Code != 452 || r.Enhanced.String() != "4.2.2" || r.Stage != "DATA" {
		t.Errorf("code %d enhanced %s stage %q", r.Code, r.Enhanced, r.Stage)
	}
}

// TestPostfixUnknownStatus: a status word mailbounce does not know is a
// line not understood (shown by parse --unknown), a verify probe is not.
func TestPostfixUnknownStatus(t *testing.T) {
	p := NewParser(Options{Year: 2026})
	ev := p.Parse("Nov 28 10:00:01 mx postfix/smtp[4]: ABCDEF1234: to=<b@x.example>, relay=x, delay=1, delays=0/0/0/1, dsn=2.0.0, status=weird (foo)")
	if ev.Kind != KindUnknown {
		t.Errorf("status=weird: kind %v, want unknown", ev.Kind)
	}
	ev = p.Parse("Nov 28 10:00:01 mx postfix/smtp[4]: ABCDEF1234: to=<b@x.example>, relay=x, delay=1, delays=0/0/0/1, dsn=2.0.0, status=deliverable (250 2.1.5 Ok)")
	if ev.Kind != KindOther {
		t.Errorf("status=deliverable: kind %v, want other", ev.Kind)
	}
}
