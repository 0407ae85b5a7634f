// Command loggen writes large, realistic Postfix or Exim logs, the same
// bytes for the same seed and flags, together with the exact per-domain
// counts that a correct reading of the log must produce. It exists to
// benchmark `mailbounce ingest` and `mailbounce report` for speed and for
// correctness.
//
//	go run ./tools/loggen -mta postfix -size 1GB -seed 1 -o /tmp/big.log -expected /tmp/big.expected.json
//	go run ./tools/loggen -compare -expected /tmp/big.expected.json -report report.json
//
// The simulation is a discrete-event one: messages arrive as a Poisson
// process whose rate follows the time of day, and each one lives through
// queueing, an optional content-filter hop, delivery rounds per recipient
// domain, retries with Postfix's or Exim's backoff, bounces with their
// notification messages, and expiry. Lines come out in time order, many
// messages in flight at once. Once the size is reached no new message
// arrives, and the ones in flight run to their end, so that every
// recipient in the log has its final outcome in the log.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loggen:", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			mult = u.m
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suf))
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(f * float64(mult)), nil
}

var errCompare = errors.New("the report does not match the expected counts")

func run(args []string) error {
	fs := flag.NewFlagSet("loggen", flag.ContinueOnError)
	mta := fs.String("mta", "postfix", "postfix or exim")
	size := fs.String("size", "100MB", "approximate size of the log (KB, MB, GB; KiB, MiB, GiB)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed and flags give the same bytes")
	out := fs.String("o", "", "log file to write (required)")
	expPath := fs.String("expected", "", "where to write the expected per-domain counts (JSON)")
	start := fs.String("start", "2026-11-01T00:00:00Z", "time of the first line (RFC 3339)")
	domains := fs.Int("domains", 20000, "number of recipient domains")
	format := fs.String("format", "bsd", "Postfix timestamps: bsd (syslog), rfc3339 (rsyslog high precision) or postlog (maillog_file)")
	rate := fs.Float64("rate", 4, "average messages per second")
	lifetime := fs.Duration("lifetime", 24*time.Hour, "queue lifetime before a deferred recipient expires")
	eximPID := fs.Bool("exim-pid", false, "Exim: log_selector +pid")
	eximMS := fs.Bool("exim-ms", false, "Exim: log_selector +millisec")
	eximNew := fs.Bool("exim-new-ids", false, "Exim: 4.97+ message IDs (6-11-4) instead of 6-6-2")
	cmp := fs.Bool("compare", false, "compare -report (mailbounce report --format json) with -expected and exit 1 on a mismatch")
	repPath := fs.String("report", "", "with -compare: the report JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cmp {
		if *expPath == "" || *repPath == "" {
			return errors.New("-compare needs -expected and -report")
		}
		bad, err := compare(*expPath, *repPath, os.Stdout)
		if err != nil {
			return err
		}
		if bad > 0 {
			return errCompare
		}
		return nil
	}
	cfg := config{seed: *seed, domains: *domains, rate: *rate, lifetime: *lifetime,
		eximPID: *eximPID, eximMS: *eximMS, eximNewID: *eximNew}
	switch *mta {
	case "postfix":
		cfg.mta = mtaPostfix
	case "exim":
		cfg.mta = mtaExim
	default:
		return fmt.Errorf("-mta: %q is neither postfix nor exim", *mta)
	}
	switch *format {
	case "bsd":
		cfg.format = fmtBSD
	case "rfc3339":
		cfg.format = fmtRFC3339
	case "postlog":
		cfg.format = fmtPostlog
	default:
		return fmt.Errorf("-format: %q is not bsd, rfc3339 or postlog", *format)
	}
	var err error
	if cfg.size, err = parseSize(*size); err != nil {
		return err
	}
	if cfg.start, err = time.Parse(time.RFC3339, *start); err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	if *out == "" {
		return errors.New("-o is required")
	}
	if cfg.domains < len(headDomains)+len(hostedNames)+100 {
		cfg.domains = len(headDomains) + len(hostedNames) + 100
	}
	if cfg.rate <= 0 {
		return errors.New("-rate must be positive")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	t0 := time.Now()
	w := bufio.NewWriterSize(f, 1<<20)
	s := newSim(cfg, w)
	if err := s.run(); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// A log file's modification time is its last line's: readers that
	// infer the year of BSD timestamps from it get it right.
	last := time.UnixMicro(s.clock)
	if err := os.Chtimes(*out, last, last); err != nil {
		return err
	}
	el := time.Since(t0)
	ef := s.exp.file(s.lines, s.written)
	fmt.Fprintf(os.Stderr, "loggen: %d lines, %.1f MB in %.1fs (%.0f MB/s); %d recipients in %d domains, log spans %s to %s\n",
		s.lines, float64(s.written)/1e6, el.Seconds(), float64(s.written)/1e6/el.Seconds(),
		ef.Totals.Recipients, len(ef.Domains), cfg.start.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339))
	if *expPath != "" {
		return writeJSON(*expPath, ef)
	}
	return nil
}
