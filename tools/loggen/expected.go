package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// counts are the expected figures of one recipient domain, in the shape
// `mailbounce report --format json` prints them.
type counts struct {
	Recipients         int64 `json:"recipients"`
	Delivered          int64 `json:"delivered"`
	Deferred           int64 `json:"deferred"`
	DeferredRecipients int64 `json:"deferred_recipients"`
	Bounced            int64 `json:"bounced"`
	Expired            int64 `json:"expired"`
	Rejected           int64 `json:"rejected"`
}

func (c *counts) add(o *counts) {
	c.Recipients += o.Recipients
	c.Delivered += o.Delivered
	c.Deferred += o.Deferred
	c.DeferredRecipients += o.DeferredRecipients
	c.Bounced += o.Bounced
	c.Expired += o.Expired
	c.Rejected += o.Rejected
}

type expected struct {
	doms   *domainTable
	counts []counts
}

func newExpected(d *domainTable) *expected {
	return &expected{doms: d, counts: make([]counts, len(d.doms))}
}

func (e *expected) at(dom int32) *counts { return &e.counts[dom] }

// expectedFile is the JSON written with -expected.
type expectedFile struct {
	Domains map[string]counts `json:"domains"`
	Totals  counts            `json:"totals"`
	Lines   int64             `json:"lines"`
	Bytes   int64             `json:"bytes"`
}

func (e *expected) file(lines, bytes int64) expectedFile {
	f := expectedFile{Domains: make(map[string]counts), Lines: lines, Bytes: bytes}
	for i := range e.counts {
		c := &e.counts[i]
		if *c == (counts{}) {
			continue
		}
		f.Domains[e.doms.doms[i].name] = *c
		f.Totals.add(c)
	}
	return f
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// reportFile is what `mailbounce report --format json` prints. Pointers
// tell an absent field from a zero.
type reportFile struct {
	Domains []struct {
		Domain             string `json:"domain"`
		Recipients         *int64 `json:"recipients"`
		Delivered          *int64 `json:"delivered"`
		Deferred           *int64 `json:"deferred"`
		DeferredRecipients *int64 `json:"deferred_recipients"`
		Bounced            *int64 `json:"bounced"`
		Expired            *int64 `json:"expired"`
		Rejected           *int64 `json:"rejected"`
	} `json:"domains"`
}

// compare checks a report against the expected counts: delivered,
// deferred, bounced and expired always; recipients, deferred_recipients
// and rejected when the report has them. It returns the number of
// mismatching figures.
func compare(expPath, repPath string, out io.Writer) (int, error) {
	var exp expectedFile
	var rep reportFile
	for _, f := range []struct {
		path string
		v    any
	}{{expPath, &exp}, {repPath, &rep}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return 0, err
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			return 0, fmt.Errorf("%s: %w", f.path, err)
		}
	}
	got := make(map[string]counts)
	present := map[string]bool{}
	for _, d := range rep.Domains {
		var c counts
		for _, f := range []struct {
			name string
			p    *int64
			dst  *int64
		}{{"recipients", d.Recipients, &c.Recipients}, {"delivered", d.Delivered, &c.Delivered},
			{"deferred", d.Deferred, &c.Deferred}, {"deferred_recipients", d.DeferredRecipients, &c.DeferredRecipients},
			{"bounced", d.Bounced, &c.Bounced}, {"expired", d.Expired, &c.Expired}, {"rejected", d.Rejected, &c.Rejected}} {
			if f.p != nil {
				*f.dst = *f.p
				present[f.name] = true
			}
		}
		got[d.Domain] = c
	}
	names := make([]string, 0, len(exp.Domains)+len(got))
	for n := range exp.Domains {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := exp.Domains[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	bad, shown := 0, 0
	var totE, totG counts
	for _, n := range names {
		e, g := exp.Domains[n], got[n]
		totE.add(&e)
		totG.add(&g)
		for _, f := range []struct {
			name string
			e, g int64
		}{{"delivered", e.Delivered, g.Delivered}, {"deferred", e.Deferred, g.Deferred},
			{"bounced", e.Bounced, g.Bounced}, {"expired", e.Expired, g.Expired},
			{"recipients", e.Recipients, g.Recipients}, {"deferred_recipients", e.DeferredRecipients, g.DeferredRecipients},
			{"rejected", e.Rejected, g.Rejected}} {
			if f.e == f.g {
				continue
			}
			switch f.name {
			case "recipients", "deferred_recipients", "rejected":
				if !present[f.name] {
					continue
				}
			}
			bad++
			if shown < 20 {
				shown++
				fmt.Fprintf(out, "MISMATCH %s %s: expected %d, report %d\n", n, f.name, f.e, f.g)
			}
		}
	}
	fmt.Fprintf(out, "%-20s %12s %12s\n", "total", "expected", "report")
	for _, f := range []struct {
		name string
		e, g int64
	}{{"recipients", totE.Recipients, totG.Recipients}, {"delivered", totE.Delivered, totG.Delivered},
		{"deferred", totE.Deferred, totG.Deferred}, {"deferred_recipients", totE.DeferredRecipients, totG.DeferredRecipients},
		{"bounced", totE.Bounced, totG.Bounced}, {"expired", totE.Expired, totG.Expired}, {"rejected", totE.Rejected, totG.Rejected}} {
		fmt.Fprintf(out, "%-20s %12d %12d\n", f.name, f.e, f.g)
	}
	fmt.Fprintf(out, "domains: %d expected, %d in report; %d mismatching figures\n", len(exp.Domains), len(got), bad)
	return bad, nil
}
