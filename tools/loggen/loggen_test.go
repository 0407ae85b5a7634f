package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbounce/parse"
)

func generate(t *testing.T, cfg config) ([]byte, expectedFile) {
	t.Helper()
	if cfg.start.IsZero() {
		cfg.start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.domains == 0 {
		cfg.domains = 5000
	}
	if cfg.rate == 0 {
		cfg.rate = 4
	}
	if cfg.lifetime == 0 {
		cfg.lifetime = 6 * time.Hour
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	s := newSim(cfg, w)
	if err := s.run(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), s.exp.file(s.lines, s.written)
}

func TestDeterministic(t *testing.T) {
	for _, mta := range []mtaKind{mtaPostfix, mtaExim} {
		a, ea := generate(t, config{mta: mta, size: 2e6, seed: 7})
		b, eb := generate(t, config{mta: mta, size: 2e6, seed: 7})
		if !bytes.Equal(a, b) || ea.Totals != eb.Totals {
			t.Fatalf("mta %d: same seed, different output", mta)
		}
		c, _ := generate(t, config{mta: mta, size: 2e6, seed: 8})
		if bytes.Equal(a, c) {
			t.Fatalf("mta %d: different seeds, same output", mta)
		}
	}
}

func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// TestCountsByGrep checks the expected totals against counts made with
// nothing but substring tests on the generated text.
func TestCountsByGrep(t *testing.T) {
	for _, f := range []stampFormat{fmtBSD, fmtRFC3339, fmtPostlog} {
		log, exp := generate(t, config{mta: mtaPostfix, size: 4e6, seed: 3, format: f})
		var got counts
		for _, l := range strings.Split(string(log), "\n") {
			switch {
			case strings.Contains(l, " status=bounced ("):
				got.Bounced++
			case strings.Contains(l, " status=deferred ("):
				got.Deferred++
			case strings.Contains(l, " status=sent (") && !strings.Contains(l, "relay=127.0.0.1[127.0.0.1]:10024, ") ||
				strings.Contains(l, ", discarded, id="):
				got.Delivered++
			case strings.Contains(l, "reject: RCPT from ") || strings.Contains(l, ": milter-reject: "):
				got.Rejected++
			}
		}
		if got.Bounced != exp.Totals.Bounced || got.Deferred != exp.Totals.Deferred ||
			got.Delivered != exp.Totals.Delivered || got.Rejected != exp.Totals.Rejected {
			t.Errorf("format %d: grep %+v, expected %+v", f, got, exp.Totals)
		}
		if exp.Totals.Expired == 0 || exp.Totals.Bounced == 0 || exp.Totals.Deferred == 0 {
			t.Errorf("format %d: a log without expiries, bounces or deferrals: %+v", f, exp.Totals)
		}
		checkSums(t, exp)
	}
	log, exp := generate(t, config{mta: mtaExim, size: 4e6, seed: 3, eximPID: true, eximMS: true})
	var got counts
	for _, l := range strings.Split(string(log), "\n") {
		switch {
		case strings.Contains(l, ": retry timeout exceeded"):
			got.Expired++
		case strings.Contains(l, " ** "):
			got.Bounced++
		case strings.Contains(l, " == "):
			got.Deferred++
		case strings.Contains(l, " => ") || strings.Contains(l, " -> "):
			got.Delivered++
		case strings.Contains(l, "rejected RCPT "):
			got.Rejected++
		}
	}
	exp.Totals.Recipients, exp.Totals.DeferredRecipients = 0, 0
	if got != exp.Totals {
		t.Errorf("exim: grep %+v, expected %+v", got, exp.Totals)
	}
}

func checkSums(t *testing.T, exp expectedFile) {
	t.Helper()
	for d, c := range exp.Domains {
		if c.Recipients != c.Delivered+c.Bounced+c.Expired || c.DeferredRecipients > c.Deferred {
			t.Errorf("%s: inconsistent %+v", d, c)
		}
	}
}

// TestParserAgrees reads the generated logs with mailbounce's parser and
// counts outcomes per domain from its events, one line at a time (plus a
// little queue-ID bookkeeping for Postfix expiries, which name no
// recipient).
func TestParserAgrees(t *testing.T) {
	cases := []config{
		{mta: mtaPostfix, size: 8e6, seed: 11, format: fmtBSD},
		{mta: mtaPostfix, size: 3e6, seed: 12, format: fmtRFC3339},
		{mta: mtaPostfix, size: 3e6, seed: 13, format: fmtPostlog},
		{mta: mtaExim, size: 6e6, seed: 11},
		{mta: mtaExim, size: 3e6, seed: 12, eximPID: true, eximMS: true, eximNewID: true},
	}
	for _, cfg := range cases {
		log, exp := generate(t, cfg)
		p := parse.NewParser(parse.Options{Year: 2026, Location: time.UTC})
		got := map[string]*counts{}
		at := func(d string) *counts {
			c := got[d]
			if c == nil {
				c = &counts{}
				got[d] = c
			}
			return c
		}
		deferred := map[string]map[string]bool{} // host+qid -> recipients whose last attempt was deferred
		hops, hopLines, unknown := 0, 0, 0
		var ev parse.Event
		for _, l := range strings.Split(string(log), "\n") {
			if l == "" {
				continue
			}
			if strings.Contains(l, "relay=127.0.0.1[127.0.0.1]:10024, ") && strings.Contains(l, "queued as ") {
				hopLines++
			}
			p.ParseInto(&ev, l)
			ours := cfg.mta == mtaExim || strings.Contains(l, " postfix/") || strings.Contains(l, " postfix-out/")
			if ev.Kind == parse.KindUnknown {
				if ours {
					unknown++
					if unknown <= 5 {
						t.Errorf("not understood: %s", l)
					}
				}
				continue
			}
			key := ev.Host + " " + ev.QueueID
			switch ev.Kind {
			case parse.KindDelivery:
				d := domainOf(ev.Recipient)
				switch ev.Outcome {
				case parse.Delivered:
					at(d).Delivered++
				case parse.Deferred:
					at(d).Deferred++
				case parse.Bounced:
					at(d).Bounced++
				case parse.Expired:
					at(d).Expired++
				case parse.Hop:
					hops++
				}
				if cfg.mta == mtaPostfix {
					if ev.Outcome == parse.Deferred {
						if deferred[key] == nil {
							deferred[key] = map[string]bool{}
						}
						deferred[key][ev.Recipient] = true
					} else {
						delete(deferred[key], ev.Recipient)
					}
				}
			case parse.KindExpired:
				for r := range deferred[key] {
					at(domainOf(r)).Expired++
				}
				delete(deferred, key)
			case parse.KindRemoved:
				delete(deferred, key)
			case parse.KindReject:
				if ev.Recipient != "" {
					at(domainOf(ev.Recipient)).Rejected++
				}
			}
		}
		if hops != hopLines {
			t.Errorf("mta %d: %d hops parsed, %d content-filter lines", cfg.mta, hops, hopLines)
		}
		if hops == 0 && cfg.mta == mtaPostfix {
			t.Errorf("no content-filter hops")
		}
		bad := 0
		for d, e := range exp.Domains {
			g := at(d)
			if g.Delivered != e.Delivered || g.Deferred != e.Deferred || g.Bounced != e.Bounced ||
				g.Expired != e.Expired || g.Rejected != e.Rejected {
				bad++
				if bad <= 5 {
					t.Errorf("mta %d format %d: %s: parsed %+v, expected %+v", cfg.mta, cfg.format, d, *g, e)
				}
			}
		}
		for d := range got {
			if _, ok := exp.Domains[d]; !ok && *got[d] != (counts{}) {
				t.Errorf("mta %d: parsed counts for %s, which expected.json does not have", cfg.mta, d)
			}
		}
	}
}

// TestQueueIDReuse checks that a removed queue ID comes back now and then.
func TestQueueIDReuse(t *testing.T) {
	log, _ := generate(t, config{mta: mtaPostfix, size: 6e6, seed: 5})
	seen := map[string]bool{}
	reused := 0
	for _, l := range strings.Split(string(log), "\n") {
		i := strings.Index(l, "/qmgr[")
		if i < 0 {
			continue
		}
		rest := l[strings.Index(l[i:], "]: ")+i+3:]
		c := strings.IndexByte(rest, ':')
		if c < 0 {
			continue
		}
		host := strings.Fields(l)[3]
		key := host + " " + rest[:c]
		if strings.HasSuffix(rest, ": removed") {
			seen[key] = true
		} else if strings.HasSuffix(rest, "(queue active)") && seen[key] && strings.Contains(rest, "nrcpt=") {
			// A queue ID removed earlier and active again is a new message
			// only if its arrival follows; retries of a deferred message
			// never follow a removal.
			reused++
			delete(seen, key)
		}
	}
	if reused == 0 {
		t.Error("no queue ID was reused")
	}
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "e.json")
	rep := filepath.Join(dir, "r.json")
	if err := writeJSON(exp, expectedFile{Domains: map[string]counts{
		"gmail.com": {Recipients: 3, Delivered: 2, Bounced: 1, Deferred: 4, DeferredRecipients: 1}}}); err != nil {
		t.Fatal(err)
	}
	good := `{"domains":[{"domain":"gmail.com","recipients":3,"delivered":2,"deferred":4,"bounced":1,"expired":0}],"totals":{}}`
	if err := os.WriteFile(rep, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if bad, err := compare(exp, rep, &out); err != nil || bad != 0 {
		t.Fatalf("good report: %d mismatches, %v\n%s", bad, err, out.String())
	}
	wrong := strings.Replace(good, `"delivered":2`, `"delivered":3`, 1)
	if err := os.WriteFile(rep, []byte(wrong), 0o644); err != nil {
		t.Fatal(err)
	}
	if bad, err := compare(exp, rep, &out); err != nil || bad != 1 {
		t.Fatalf("wrong report: %d mismatches, %v", bad, err)
	}
}

func TestAppendDelay(t *testing.T) {
	for us, want := range map[int64]string{0: "0", 4999: "0", 10000: "0.01", 200000: "0.2", 550000: "0.55",
		2300000: "2.3", 2000000: "2", 17000000: "17", 2071000000: "2071"} {
		if got := string(appendDelay(nil, us)); got != want {
			t.Errorf("appendDelay(%d) = %q, want %q", us, got, want)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, mta := range []mtaKind{mtaPostfix, mtaExim} {
		b.Run([]string{"postfix", "exim"}[mta], func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for i := 0; i < b.N; i++ {
				cfg := config{mta: mta, size: 50e6, seed: uint64(i + 1), domains: 20000, rate: 4, lifetime: 24 * time.Hour,
					start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
				w := bufio.NewWriterSize(io.Discard, 1<<20)
				s := newSim(cfg, w)
				if err := s.run(); err != nil {
					b.Fatal(err)
				}
				n = s.written
			}
			b.SetBytes(n)
		})
	}
}
