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
