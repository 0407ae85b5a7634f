package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestFormatsValidUTF8: a domain, a relay and a reply from a log may hold
// any bytes; every format writes valid UTF-8, and the text report no
// escape sequence.
func TestFormatsValidUTF8(t *testing.T) {
	bad := "ex\xc3ample\x1b[31m.org"
	s := &Summary{
		By:     ByDomain,
		Totals: Group{Name: "TOTAL", Recipients: 1, Bounced: 1},
		Groups: []Group{{Name: bad, Recipients: 1, Bounced: 1,
			Reasons: []ReasonCount{{Outcome: "bounced", Reason: "user_unknown", Count: 1, Code: 550, Example: "user \xff unknown \x1b]0;x\x07"}}}},
		Failures: []ReasonCount{{Outcome: "bounced", Reason: "user_unknown", Count: 1, Example: "\xfe\x1b[2J", Group: bad}},
		Relays:   []RelayCount{{Relay: "mx.\xc3[192.0.2.1]:25", Attempts: 1, Bounced: 1}},
	}
	for _, f := range Formats {
		var out bytes.Buffer
		if err := Write(&out, f, s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !utf8.Valid(out.Bytes()) {
			t.Errorf("%s: output is not valid UTF-8", f)
		}
		if !strings.Contains(out.String(), "ex\uFFFDample") && !strings.Contains(out.String(), `ex\ufffdample`) {
			t.Errorf("%s: the domain's invalid byte is not shown as U+FFFD", f)
		}
		if f == "text" && bytes.IndexByte(out.Bytes(), 0x1b) >= 0 {
			t.Errorf("text: an escape character reached the output")
		}
	}
}

// TestJSONEmptyWindow: an empty window still has its list of groups, [],
// under the name scripts read ("domains", or "groups" with --by).
func TestJSONEmptyWindow(t *testing.T) {
	for by, key := range map[string]string{ByDomain: `"domains": []`, ByRelay: `"groups": []`} {
		var out bytes.Buffer
		if err := JSON(&out, &Summary{By: by}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), key) {
			t.Errorf("by %s: no %s in\n%s", by, key, out.String())
		}
	}
}
