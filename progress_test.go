package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"mailbounce/ingest"
)

// TestProgressText: the bar names the input and the bytes read of the
// total, then, from the first second on, MB/s, lines/s and the time left;
// standard input, of unknown size, has no total and no time left.
func TestProgressText(t *testing.T) {
	start := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	p := &progress{total: 200_000_000, read: 50_000_000, rated: 50_000_000, lines: 300_000, start: start, input: "mail.log.2.gz"}
	if got, want := p.text(start.Add(500*time.Millisecond), false), "mail.log.2.gz: 50 MB of 200 MB"; got != want {
		t.Errorf("before a second: %q, want %q", got, want)
	}
	if got, want := p.text(start.Add(2*time.Second), false), "mail.log.2.gz: 50 MB of 200 MB, 25.0 MB/s, 150,000 lines/s, about 6s left"; got != want {
		t.Errorf("after 2s: %q, want %q", got, want)
	}
	if got, want := p.text(start.Add(2*time.Second), true), "mail.log.2.gz: 50 MB of 200 MB, 25.0 MB/s, 150,000 lines/s in 2s"; got != want {
		t.Errorf("at the end: %q, want %q", got, want)
	}
	stdin := &progress{total: -1, read: 5_000_000, rated: 5_000_000, lines: 30_000, start: start, input: "standard input"}
	if got, want := stdin.text(start.Add(2*time.Second), false), "standard input: 5.0 MB, 2.5 MB/s, 15,000 lines/s"; got != want {
		t.Errorf("stdin: %q, want %q", got, want)
	}

	// Bytes passed over as read before move the bar, not the rates.
	resumed := &progress{total: 200_000_000, read: 50_000_000, rated: 20_000_000, lines: 100_000, start: start, input: "mail.log"}
	if got, want := resumed.text(start.Add(2*time.Second), false), "mail.log: 50 MB of 200 MB, 10.0 MB/s, 50,000 lines/s, about 15s left"; got != want {
		t.Errorf("resumed: %q, want %q", got, want)
	}

	var out bytes.Buffer
	bar := newProgress(&out, []ingest.Input{{Path: "mail.log", Size: 20_000_000}})
	bar.add("mail.log", 4_000_000, 2_000_000, 3)
	bar.finish("creating the indexes")
	if s := out.String(); !strings.Contains(s, "mail.log: 6.0 MB of 20 MB") || !strings.HasSuffix(s, "creating the indexes\n") {
		t.Errorf("bar output %q", s)
	}
}
