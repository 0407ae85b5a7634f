package parse

import (
	"errors"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	for _, c := range []struct {
		in         string
		code       int
		enh        string
		reason     Reason
		stage      string
		host       string
		wantInText []string
	}{
		{"550 5.1.1", 550, "5.1.1", ReasonUserUnknown, "", "",
			[]string{"550 5.1.1  permanent failure: user unknown (hard)", "Basic code 550:", "Enhanced code 5.1.1: Bad destination mailbox address", "class 5", "subject 1  addressing status", "detail 1 "}},
		{"550", 550, "", ReasonOther, "", "", []string{"550  permanent failure: other", "mailbox unavailable"}},
		{"250", 250, "", ReasonNone, "", "", []string{"250  success\n", "positive completion"}},
		{"4.2.2", 0, "4.2.2", ReasonMailboxFull, "", "", []string{"4.2.2  temporary failure: mailbox full (soft)", "Mailbox full"}},
		{"5.7.26", 0, "5.7.26", ReasonDMARCFailure, "", "", []string{"Multiple authentication checks failed"}},
		{"550-5.7.1", 550, "5.7.1", ReasonPolicy, "", "", []string{"Delivery not authorized"}},
		{"550 5.1.1 <x@y>: Recipient address rejected: User unknown in virtual mailbox table", 550, "5.1.1", ReasonUserUnknown, "", "",
			[]string{"Reply: <x@y>: Recipient address rejected"}},
		{"status=deferred (host mx[1.2.3.4] said: 451 4.7.1 Greylisted (in reply to RCPT TO command))", 451, "4.7.1", ReasonGreylisted, "RCPT TO", "mx",
			[]string{"greylisted (soft)", "Remote host: mx [1.2.3.4]", "Stage: in reply to RCPT TO"}},
		// lightmeter 1_bounce_simple-style line (corpus/lightmeter).
		{"Jan 28 16:10:56 mail postfix/smtp[3793]: E83BB301202A: to=<h-x@h-y.com>, relay=h-bbc4b9165ca87161771776f10f217c9a551bfc[254.112.58.83]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=5.7.1, status=bounced (host h-bbc4b9165ca87161771776f10f217c9a551bfc[254.112.58.83] said: 550 5.7.1 Unfortunately, messages from [95.232.162.33] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140). (in reply to MAIL FROM command))",
			550, "5.7.1", ReasonBlocked, "MAIL FROM", "h-bbc4b9165ca87161771776f10f217c9a551bfc", []string{"blocked (soft)"}},
		{"Oct  4 11:01:10 mx postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <smtp@example.com>: Relay access denied; from=<a@b> to=<smtp@example.com> proto=ESMTP helo=<x>",
			554, "5.7.1", ReasonRelayDenied, "", "", []string{"relay denied (hard)"}},
		// Exim test suite line (corpus/exim_testsuite).
		{"2017-07-30 18:51:05.712 10HmaX-0005vi-00 == userx@domain1 R=others T=smtp defer (-44) H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT TO:<userx@domain1>: 450 Temporary error",
			450, "", ReasonOther, "RCPT TO", "", []string{"450  temporary failure"}},
		{"2017-07-30 18:51:05.712 10HmaX-0005vi-00 ** a@x.y R=r9 T=t1: Connection refused",
			0, "", ReasonNetworkError, "", "", []string{"failure: network error (soft)"}},
		{"Jan 1 00:00:00 h postfix/qmgr[1]: ABC: from=<a@b>, status=expired, returned to sender", 0, "", ReasonExpired, "", "", []string{"expired"}},
		{"Remote Server returned '550 5.4.1 Recipient address rejected: Access denied. AS(201806281)'", 550, "5.4.1", ReasonUserUnknown, "", "", nil},
	} {
		x, err := Explain(c.in)
		if err != nil {
			t.Errorf("Explain(%q): %v", c.in, err)
			continue
		}
		if x.Reply.Code != c.code || x.Reply.Enhanced.String() != c.enh || x.Reason != c.reason {
			t.Errorf("Explain(%q) = %d %q %v, want %d %q %v", c.in, x.Reply.Code, x.Reply.Enhanced, x.Reason, c.code, c.enh, c.reason)
		}
		if c.stage != "" && x.Reply.Stage != c.stage {
			t.Errorf("Explain(%q): stage %q, want %q", c.in, x.Reply.Stage, c.stage)
		}
		if c.host != "" && x.Reply.RemoteHost != c.host {
			t.Errorf("Explain(%q): host %q, want %q", c.in, x.Reply.RemoteHost, c.host)
		}
		s := x.String()
		for _, want := range c.wantInText {
			if !strings.Contains(s, want) {
				t.Errorf("Explain(%q).String() lacks %q:\n%s", c.in, want, s)
			}
		}
		for _, line := range strings.Split(s, "\n") {
			if len(line) >= 100 {
				t.Errorf("Explain(%q): line of %d columns: %q", c.in, len(line), line)
			}
		}
	}
}

func TestExplainNothing(t *testing.T) {
	for _, in := range []string{"", "   ", "hello world", "999", "1.2.3"} {
		if _, err := Explain(in); !errors.Is(err, ErrNothingToExplain) {
			t.Errorf("Explain(%q): err %v, want ErrNothingToExplain", in, err)
		}
	}
}

func TestExplainExample(t *testing.T) {
	x, err := Explain("550 5.1.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + x.String())
}
