package main

import (
	"testing"
	"time"
)

// FuzzParseWindow: --since, --until and --last take any text; a window
// they accept runs forwards, and a duration is positive.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"2026-11-28", "2026-11-28T07:00", "2026-11-28T07:00:00+01:00", "24h", "7d", "2w", "1e300d", "-5d", "0.5d", "NaNd", "Infd"} {
		f.Add(s, "")
		f.Add("", s)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, since, last string) {
		if d, err := parseDuration(last); err == nil && d <= 0 {
			t.Errorf("duration %q = %v", last, d)
		}
		w, err := parseWindow(windowFlags{since: since, last: last}, now, time.UTC)
		if err != nil {
			return
		}
		if last != "" && (w.since.IsZero() || w.since.After(now)) {
			t.Errorf("--last %q: since %v", last, w.since)
		}
		if !w.since.IsZero() && !w.until.IsZero() && !w.since.Before(w.until) {
			t.Errorf("window %v..%v", w.since, w.until)
		}
	})
}
