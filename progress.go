package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"mailbounce/ingest"
)

// progress is ingest's bar on a terminal: the input being read, bytes read
// of the total, MB/s, lines/s and the time left, in words, after the bar.
// Rates are shown from the first second on: before that they mean little.
type progress struct {
	bar             *progressbar.ProgressBar
	w               io.Writer
	total           int64 // bytes on disk of all inputs; -1 if unknown (stdin)
	read, lines     int64
	rated           int64 // bytes read, not counting those skipped as read before
	start, describe time.Time
	input           string
}

func newProgress(w io.Writer, inputs []ingest.Input) *progress {
	var total int64
	for _, in := range inputs {
		if in.Size < 0 {
			total = -1
			break
		}
		total += in.Size
	}
	if total == 0 {
		total = -1
	}
	p := &progress{w: w, total: total, start: time.Now()}
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(20),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetDescription("ingest"),
	)
	return p
}

// add counts raw bytes (as on disk) read and lines of input, and bytes
// passed over as read before (which move the bar but not the rates).
func (p *progress) add(input string, raw, skipped, lines int64) {
	p.read += raw + skipped
	p.rated += raw
	p.lines += lines
	now := time.Now()
	if input != p.input || now.Sub(p.describe) >= 100*time.Millisecond {
		p.input, p.describe = input, now
		p.bar.Describe(p.text(now, false))
	}
	p.bar.Add64(raw + skipped)
}

func (p *progress) text(now time.Time, done bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", p.input, megabytes(p.read))
	if p.total > 0 {
		fmt.Fprintf(&b, " of %s", megabytes(p.total))
	}
	secs := now.Sub(p.start).Seconds()
	if secs < 1 {
		return b.String()
	}
	rate := float64(p.rated) / secs
	fmt.Fprintf(&b, ", %.1f MB/s, %s lines/s", rate/1e6, thousands(int64(float64(p.lines)/secs)))
	if done {
		fmt.Fprintf(&b, " in %s", now.Sub(p.start).Round(100*time.Millisecond))
	} else if p.total > 0 && rate > 0 {
		left := time.Duration(float64(p.total-p.read) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", about %s left", max(left, 0).Round(time.Second))
	}
	return b.String()
}

// finish completes the bar and says what comes next, if anything.
func (p *progress) finish(next string) {
	p.bar.Describe(p.text(time.Now(), true))
	p.bar.Finish()
	fmt.Fprintln(p.w)
	if next != "" {
		fmt.Fprintln(p.w, next)
	}
}

func megabytes(n int64) string {
	if n < 10_000_000 {
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return thousands(n/1_000_000) + " MB"
}
