package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mailbounce/ingest"
	"mailbounce/parse"
	"mailbounce/report"
	"mailbounce/store"
)

// runReport prints per-domain delivery figures for a time window, from the
// database or, given log files and no --db, from just those files.
func runReport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "report", "[flags] [FILE|GLOB ...]")
	dbPath := fs.String("db", defaultDB(e), "database file (env MAILBOUNCE_DB); with FILEs and no --db, a temporary one")
	since := fs.String("since", "", "start of the window: 2026-11-28, 2026-11-28T07:00, RFC 3339, or a duration back from now (24h, 7d)")
	until := fs.String("until", "", "end of the window (same forms; default now)")
	today := fs.Bool("today", false, "the window is today, from local midnight")
	yesterday := fs.Bool("yesterday", false, "the window is yesterday, midnight to midnight")
	last := fs.String("last", "", "the window is the last DURATION (24h, 7d, 90m)")
	domain := fs.String("domain", "", "only this recipient domain")
	top := fs.Int("top", -1, "show the N largest groups; 0 shows all (default 20 for text, markdown and html, all for json and csv)")
	// -1 means "the default of the format", which the usage text says.
	fs.Lookup("top").DefValue = "0"
	by := fs.String("by", report.ByDomain, "group by domain, relay, sender-domain or host")
	format := fs.StringP("format", "f", "text", "text, json, csv, markdown or html")
	output := fs.StringP("output", "o", "", "write the report to FILE instead of standard output")
	tz := fs.String("tz", "", "time zone for dates and the report, e.g. Europe/Berlin (default: local)")
	failIf := fs.StringArray("fail-if", nil, "exit with status 3 when a rate crosses a limit: 'bounce_rate>5%' (also deferral_rate, expired_rate, delivery_rate<90%); repeatable")
	minVolume := fs.Int64("min-volume", 0, "with --fail-if: check every domain with at least N recipients instead of the totals")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file (for developers)")
	fs.MarkHidden("cpuprofile")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	loc, err := loadLocation(*tz)
	if err != nil {
		return err
	}
	if !validFormat(*format) {
		return usageError("--format %q: want one of %s", *format, strings.Join(report.Formats, ", "))
	}
	switch *by {
	case report.ByDomain, report.ByRelay, report.BySenderDomain, report.ByHost:
	default:
		return usageError("--by %q: want domain, relay, sender-domain or host", *by)
	}
	if fs.Changed("top") && *top < 0 {
		return usageError("--top %d: want 0 (all) or more", *top)
	}
	if *minVolume < 0 {
		return usageError("--min-volume %d: want 0 or more", *minVolume)
	}
	if fs.Changed("min-volume") && len(*failIf) == 0 {
		return usageError("--min-volume says which domains --fail-if checks; give --fail-if too")
	}
	var thresholds []report.Threshold
	for _, f := range *failIf {
		t, err := report.ParseThreshold(f)
		if err != nil {
			return usageError("%v", err)
		}
		if fs.Changed("min-volume") {
			t.PerGroup, t.MinVolume = true, *minVolume
		}
		thresholds = append(thresholds, t)
	}
	win, err := parseWindow(windowFlags{since: *since, until: *until, today: *today, yesterday: *yesterday, last: *last}, time.Now(), loc)
	if err != nil {
		return usageError("%v", err)
	}
	if *top < 0 {
		*top = 20
		if *format == "json" || *format == "csv" {
			*top = 0
		}
	}

	// Files and no --db: a database of just those files, removed after.
	var inputs []ingest.Input
	partial := false
	if fs.NArg() > 0 {
		var missing int
		if inputs, missing, err = expandInputs(e, "report", fs.Args()); err != nil {
			return err
		}
		partial = missing > 0
		if !fs.Changed("db") {
			dir, err := os.MkdirTemp("", "mailbounce-report-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			*dbPath = filepath.Join(dir, "report.db")
		}
	} else if _, err := os.Stat(*dbPath); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("database %s does not exist: run 'mailbounce ingest --db %s LOGS' first, or name log files to report on", *dbPath, *dbPath)
	}
	db, err := store.Open(ctx, *dbPath, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if len(inputs) > 0 {
		job := &ingestJob{db: db, inputs: inputs, loc: loc, stderr: e.stderr, cmd: "report"}
		if err := job.run(ctx); err != nil {
			return err
		}
		partial = partial || job.done.failed > 0 || job.done.truncated > 0
	}

	sum, err := buildSummary(ctx, db, win, loc, *domain, *by, *top)
	if err != nil {
		return err
	}
	var breaches []report.Breach
	for _, t := range thresholds {
		breaches = append(breaches, t.Check(&sum.Summary, sum.AllGroups)...)
	}
	sum.Thresholds = breaches

	var out io.Writer = e.stdout
	var file *os.File
	if *output != "" {
		// Reply texts and addresses come from the logs: readable by the
		// owner only, as the database is (an existing file keeps its mode).
		if file, err = os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		out = file
	}
	werr := report.Write(out, *format, &sum.Summary)
	if file != nil {
		if cerr := file.Close(); werr == nil {
			werr = cerr
		}
	}
	if werr != nil {
		return fmt.Errorf("write report: %w", werr)
	}
	if len(breaches) > 0 {
		msgs := make([]string, len(breaches))
		for i, b := range breaches {
			msgs[i] = b.String()
		}
		return &statusError{status: exitThreshold, err: fmt.Errorf("threshold crossed: %s", strings.Join(msgs, "; "))}
	}
	if partial {
		return &statusError{status: exitPartial, err: fmt.Errorf("some input was not read in full; see the messages above")}
	}
	return nil
}

func validFormat(f string) bool {
	for _, g := range report.Formats {
		if f == g {
			return true
		}
	}
	return false
}

// reportSummary is a report.Summary plus every group, for thresholds that look
// past --top.
type reportSummary struct {
	report.Summary
	AllGroups []report.Group
}

func buildSummary(ctx context.Context, db *store.DB, win window, loc *time.Location, domain, by string, top int) (*reportSummary, error) {
	first, last, err := db.AttemptSpan(ctx, win.since, win.until)
	if err != nil {
		return nil, err
	}
	from, to := win.since, win.until
	if from.IsZero() {
		from = first
	}
	if to.IsZero() {
		to = last.Add(time.Microsecond)
	}
	bucket, buckets := trendBuckets(from, to, loc)
	res, err := db.Report(ctx, store.ReportQuery{Since: win.since, Until: win.until, Domain: domain, By: by, Top: top, Buckets: buckets})
	if err != nil {
		return nil, err
	}
	s := &reportSummary{Summary: report.Summary{Since: win.since, Until: win.until, Location: loc, First: res.First, Last: res.Last,
		By: by, Filter: store.DomainName(domain), Totals: group(res.Totals), Failures: reasons(res.Failures), Rejects: reasons(res.Rejects)}}
	for _, g := range res.Groups {
		s.AllGroups = append(s.AllGroups, group(g))
	}
	s.Groups = s.AllGroups
	if top > 0 && len(s.Groups) > top {
		s.Omitted = len(s.Groups) - top
		s.Groups = s.Groups[:top]
	}
	for _, r := range res.Relays {
		s.Relays = append(s.Relays, report.RelayCount{Relay: r.Relay, Attempts: r.Attempts, Delivered: r.Delivered,
			Deferred: r.Deferred, Bounced: r.Bounced, Expired: r.Expired, TopReason: r.TopReason})
	}
	s.Trend.Bucket = bucket
	for _, p := range res.Trend {
		s.Trend.Points = append(s.Trend.Points, report.TrendPoint{Start: p.Start, Delivered: p.Delivered,
			Deferred: p.Deferred, Bounced: p.Bounced, Expired: p.Expired})
	}
	return s, nil
}

func group(g store.GroupRow) report.Group {
	return report.Group{Name: g.Domain, Messages: g.Messages, Recipients: g.Recipients, Delivered: g.Delivered,
		Bounced: g.Bounced, Expired: g.Expired, Deferred: g.Deferred, DeferredRecipients: g.DeferredRecipients,
		Rejected: g.Rejected, Reasons: reasons(g.Failures), DelayMedian: g.DelayMedian, DelayP95: g.DelayP95,
		DelaySample: g.DelayN, DelayEstimated: g.DelayEstimated}
}

func reasons(rs []store.ReasonStat) []report.ReasonCount {
	out := make([]report.ReasonCount, 0, len(rs))
	for _, r := range rs {
		rc := report.ReasonCount{Outcome: r.Outcome, Reason: r.Reason, Count: r.Count, Code: r.Code,
			Enhanced: r.Enhanced, Example: r.Example, Group: r.Group}
		if pr, ok := parse.ParseReason(r.Reason); ok {
			rc.Description = pr.Description()
		}
		out = append(out, rc)
	}
	return out
}

// trendBuckets cuts [from, to) into hours, or into days (local midnights)
// when it spans more than three days.
func trendBuckets(from, to time.Time, loc *time.Location) (time.Duration, []store.Bucket) {
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		return time.Hour, nil
	}
	from, to = from.In(loc), to.In(loc)
	var bs []store.Bucket
	if to.Sub(from) > 72*time.Hour {
		for d := dayStart(from, 0, loc); d.Before(to); d = dayStart(d, 1, loc) {
			bs = append(bs, store.Bucket{Start: d, End: dayStart(d, 1, loc)})
		}
		return 24 * time.Hour, bs
	}
	for h := from.Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		bs = append(bs, store.Bucket{Start: h, End: h.Add(time.Hour)})
	}
	return time.Hour, bs
}

type windowFlags struct {
	since, until, last string
	today, yesterday   bool
}

// window is [since, until); a zero time is an open end.
type window struct{ since, until time.Time }

func parseWindow(f windowFlags, now time.Time, loc *time.Location) (window, error) {
	var w window
	n := 0
	for _, set := range []bool{f.today, f.yesterday, f.last != ""} {
		if set {
			n++
		}
	}
	if n > 1 || n == 1 && (f.since != "" || f.until != "") {
		return w, fmt.Errorf("use one of --today, --yesterday, --last, or --since/--until")
	}
	now = now.In(loc)
	midnight := dayStart(now, 0, loc)
	switch {
	case f.today:
		return window{midnight, dayStart(now, 1, loc)}, nil
	case f.yesterday:
		return window{dayStart(now, -1, loc), midnight}, nil
	case f.last != "":
		d, err := parseDuration(f.last)
		if err != nil {
			return w, fmt.Errorf("--last: %v", err)
		}
		return window{now.Add(-d), time.Time{}}, nil
	}
	var err error
	if f.since != "" {
		if w.since, err = parseWhen(f.since, now, loc); err != nil {
			return w, fmt.Errorf("--since: %v", err)
		}
	}
	if f.until != "" {
		if w.until, err = parseWhen(f.until, now, loc); err != nil {
			return w, fmt.Errorf("--until: %v", err)
		}
	}
	if !w.since.IsZero() && !w.until.IsZero() && !w.since.Before(w.until) {
		return w, fmt.Errorf("--since %s is not before --until %s (--until is the first moment left out: for one day, --since 2026-11-28 --until 2026-11-29, or --yesterday)", f.since, f.until)
	}
	return w, nil
}

// dayStart is the first instant of the local day days after t's. Where a
// daylight saving change skips midnight (Chile, the Azores, Cuba), the day
// begins at the change; time.Date would give an hour of the day before.
func dayStart(t time.Time, days int, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	y, m, d = time.Date(y, m, d+days, 12, 0, 0, 0, loc).Date()
	s := time.Date(y, m, d, 0, 0, 0, 0, loc)
	for i := 0; i < 16 && s.Day() != d; i++ {
		s = s.Add(15 * time.Minute)
	}
	return s
}

// parseWhen reads a date (local midnight), a date and time, RFC 3339, or a
// duration back from now.
func parseWhen(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return dayStart(time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, loc), 0, loc), nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if d, err := parseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-11-28), a time (2026-11-28T07:00, RFC 3339) or a duration (24h, 7d)", s)
}

// parseDuration is time.ParseDuration plus days (d) and weeks (w).
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration such as 90m, 24h, 7d or 2w", s)
	if s == "" || strings.HasPrefix(s, "-") {
		return 0, bad
	}
	for unit, d := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if strings.HasSuffix(s, unit) {
			n, err := strconv.ParseFloat(strings.TrimSuffix(s, unit), 64)
			// Within what a time.Duration holds (about 292 years); NaN fails.
			if err != nil || !(n > 0 && n*float64(d) < math.MaxInt64) {
				return 0, bad
			}
			if dur := time.Duration(n * float64(d)); dur > 0 {
				return dur, nil
			}
			return 0, bad
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}
