package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTextWidthBigNumbers: the summary sentences of a big report wrap
// within Width instead of running past it (cron mails it).
func TestTextWidthBigNumbers(t *testing.T) {
	s := &Summary{}
	// A month of a busy relay.
	s.Totals.Recipients, s.Totals.Messages = 9_456_789, 8_765_432
	s.Totals.Delivered, s.Totals.Bounced, s.Totals.Expired = 8_000_000, 1_000_000, 456_789
	s.Totals.Deferred, s.Totals.DeferredRecipients, s.Totals.Rejected = 5_678_901, 2_345_678, 9_876_543
	var b bytes.Buffer
	if err := Write(&b, "text", s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "9,456,789 recipients") {
		t.Fatalf("no summary in:\n%s", b.String())
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > Width {
			t.Errorf("%d columns: %q", n, line)
		}
	}
}

// TestTextEmptyWindow: a window without mail says so instead of printing
// an empty table and a trend of zeros.
func TestTextEmptyWindow(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "text", &Summary{Filter: "nosuch.example"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No mail in this window for nosuch.example.") || strings.Contains(b.String(), "TOTAL") {
		t.Errorf("empty report:\n%s", b.String())
	}
}

// Next hops keep the end of the name, which names the provider, and drop the
// port, then the address, to fit.
func TestRelayLabel(t *testing.T) {
	for in, want := range map[string]string{
		"local":                                                 "local",
		"127.0.0.1[127.0.0.1]:10024":                            "127.0.0.1[127.0.0.1]:10024",
		"mx.example.com[192.0.2.1]:25":                          "mx.example.com[192.0.2.1]:25",
		"mx.example.com[192.0.2.123]:25":                        "mx.example.com[192.0.2.123]:25",
		"mx.example.com[192.0.2.123]:2525":                      "mx.example.com[192.0.2.123]",
		"gmail-smtp-in.l.google.com[142.250.147.27]:25":         "gmail-smtp-in.l.google.com[~]",
		"mx1.very-long-provider-name.example.com[192.0.2.1]:25": "~-provider-name.example.com[~]",
		"192.0.2.123[192.0.2.123]:2525":                         "192.0.2.123[192.0.2.123]:2525",
		"2001:db8::1234:5678[2001:db8::1234:5678]:25":           "2001:db8::1234:5678",
	} {
		if got := relayLabel(in, 30); got != want || runeLen(got) > 30 {
			t.Errorf("relayLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
