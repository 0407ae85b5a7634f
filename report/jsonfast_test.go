package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand"
	"testing"
	"time"
)

// jsonStdlib is what JSON wrote before appendGroups: the whole report
// through encoding/json.
func jsonStdlib(s *Summary) []byte {
	var buf bytes.Buffer
	j := reportJSON(s)
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(j); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// randomSummary has groups with every optional field set or not, and
// strings that need escaping.
func randomSummary(rng *rand.Rand, by string, n int) *Summary {
	strs := []string{"", "gmail.com", "a\"b", "<script>&", "tab\there", "ünïcode", "\u2028", "bad\xffutf8", "back\\slash", "ctl\x01"}
	pick := func() string { return strs[rng.Intn(len(strs))] }
	reasons := func() []ReasonCount {
		if rng.Intn(4) == 0 {
			return nil
		}
		var rs []ReasonCount
		for range rng.Intn(5) {
			rs = append(rs, ReasonCount{Outcome: pick(), Reason: pick(), Count: rng.Int63n(1000), Code: rng.Intn(3) * 275,
				Enhanced: pick(), Example: pick(), Description: pick(), Group: pick()})
		}
		return rs
	}
	group := func() Group {
		g := Group{Name: pick(), Messages: rng.Int63n(1e6), Recipients: rng.Int63n(1e6), Delivered: rng.Int63n(1e6),
			Bounced: rng.Int63n(100), Expired: rng.Int63n(10), Deferred: rng.Int63n(1e5), DeferredRecipients: rng.Int63n(1e4),
			Rejected: rng.Int63n(50), Reasons: reasons(), DelayEstimated: rng.Intn(2) == 0}
		if rng.Intn(3) > 0 {
			g.DelaySample = rng.Int63n(1000) + 1
			g.DelayMedian, g.DelayP95 = rng.Float64()*10, rng.ExpFloat64()*1e4
		}
		return g
	}
	s := &Summary{Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Location: time.UTC, By: by, Totals: group(),
		Failures: reasons(), Rejects: reasons(), Omitted: rng.Intn(2) * 7}
	for range n {
		s.Groups = append(s.Groups, group())
	}
	return s
}

func TestJSONEqualsStdlib(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := range 200 {
		by := []string{ByDomain, ByRelay, ByHost}[i%3]
		s := randomSummary(rng, by, i%7)
		var got bytes.Buffer
		if err := JSON(&got, s); err != nil {
			t.Fatal(err)
		}
		if want := jsonStdlib(s); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("summary %d by %s: JSON differs from encoding/json:\n got %s\nwant %s", i, by, got.Bytes(), want)
		}
	}
}

func TestAppendGroupEqualsStdlib(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := range 500 {
		s := randomSummary(rng, ByDomain, 1)
		g := groupJSON(s.Groups[0], i%2 == 0)
		if i%5 == 0 {
			g.Reasons = map[string]int64{"a<b": 1, "z": 2, "\u00e9": 3, "": 4}
		}
		for _, prefix := range []string{"", "  ", "    "} {
			want, err := json.MarshalIndent(g, prefix, "  ")
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendGroup([]byte(prefix), &g, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[len(prefix):], want) {
				t.Fatalf("group %d, prefix %q:\n got %s\nwant %s", i, prefix, got[len(prefix):], want)
			}
		}
	}
}

func BenchmarkJSON(b *testing.B) {
	s := randomSummary(rand.New(rand.NewSource(3)), ByDomain, 5000)
	b.ReportAllocs()
	for range b.N {
		if err := JSON(io.Discard, s); err != nil {
			b.Fatal(err)
		}
	}
}
