package report

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"mailbounce/parse"
)

// Width is the widest line the text report writes: it is mailed by cron
// and read in mail clients.
const Width = 100

// column is one column of the main table, shared by text, CSV, Markdown
// and HTML so that they show the same figures.
type column struct {
	Head, CSV string
	Value     func(g Group) string
	Num       bool
}

func columns(by string) []column {
	name := map[string]string{ByDomain: "Domain", ByRelay: "Relay", BySenderDomain: "Sender domain", ByHost: "Host"}[by]
	if name == "" {
		name = "Domain"
	}
	n := func(f func(Group) int64) func(Group) string {
		return func(g Group) string { return strconv.FormatInt(f(g), 10) }
	}
	return []column{
		{name, strings.ReplaceAll(by, "-", "_"), func(g Group) string { return g.Name }, false},
		{"Msgs", "messages", n(func(g Group) int64 { return g.Messages }), true},
		{"Rcpts", "recipients", n(func(g Group) int64 { return g.Recipients }), true},
		{"Dlvd", "delivered", n(func(g Group) int64 { return g.Delivered }), true},
		{"Dfrd", "deferred", n(func(g Group) int64 { return g.Deferred }), true},
		{"DfRcp", "deferred_recipients", n(func(g Group) int64 { return g.DeferredRecipients }), true},
		{"Bncd", "bounced", n(func(g Group) int64 { return g.Bounced }), true},
		{"Expd", "expired", n(func(g Group) int64 { return g.Expired }), true},
		{"Rejd", "rejected", n(func(g Group) int64 { return g.Rejected }), true},
		{"Dlv%", "delivery_rate", func(g Group) string { return pctOf(g.DeliveryRate(), g.Recipients) }, true},
		{"Bnc%", "bounce_rate", func(g Group) string { return pctOf(g.BounceRate(), g.Recipients) }, true},
		{"Dfr%", "deferral_rate", func(g Group) string { return pctOf(g.DeferralRate(), g.Recipients) }, true},
		{"p50", "delay_median", func(g Group) string { return delayOf(g.DelayMedian, g.DelaySample) }, true},
		{"p95", "delay_p95", func(g Group) string { return delayOf(g.DelayP95, g.DelaySample) }, true},
	}
}

// pct formats a rate as a percentage with one decimal.
func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

func pctOf(v float64, volume int64) string {
	if volume == 0 {
		return "-"
	}
	return strconv.FormatFloat(v*100, 'f', 1, 64)
}

func delayOf(sec float64, n int64) string {
	if n == 0 {
		return "-"
	}
	return Duration(sec)
}

// Duration writes a delay in seconds short: 0.4s, 12s, 5.2m, 3.1h, 2.0d.
func Duration(sec float64) string {
	switch {
	case sec < 10:
		return strconv.FormatFloat(sec, 'f', 1, 64) + "s"
	case sec < 120:
		return strconv.FormatFloat(math.Round(sec), 'f', 0, 64) + "s"
	case sec < 7200:
		return strconv.FormatFloat(sec/60, 'f', 1, 64) + "m"
	case sec < 2*86400:
		return strconv.FormatFloat(sec/3600, 'f', 1, 64) + "h"
	}
	return strconv.FormatFloat(sec/86400, 'f', 1, 64) + "d"
}

// clean makes a string from a log safe for a terminal or a mail: control
// characters (escape sequences, carriage returns) become '?', invalid
// UTF-8 becomes U+FFFD.
func clean(s string) string {
	if strings.IndexFunc(s, isControl) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return '?'
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// cut shortens s to n characters, marking the cut with '~'.
func cut(s string, n int) string {
	s = clean(s)
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n == 1 {
		return "~"
	}
	return string(r[:n-1]) + "~"
}

// cutMiddle shortens s to n characters by taking out its middle, marked
// with '~': relays that differ only in their address
// (gmail-smtp-in.l.google.com[142.250.102.27]:25) stay apart.
func cutMiddle(s string, n int) string {
	s = clean(s)
	r := []rune(s)
	if len(r) <= n || n < 8 {
		return cut(s, n)
	}
	head := (n - 1) * 2 / 5
	return string(r[:head]) + "~" + string(r[len(r)-(n-1-head):])
}

// relayLabel shortens a next hop to n columns, keeping what tells it
// apart: "gmail-smtp-in.l.google.com[142.250.147.27]:25" loses its port,
// then its address ("[...]"), then the start of its name, whose end names
// the provider.
func relayLabel(s string, n int) string {
	s = clean(s)
	if runeLen(s) <= n {
		return s
	}
	if i := strings.LastIndex(s, "]:"); i > 0 {
		s = s[:i+1]
	}
	if runeLen(s) <= n {
		return s
	}
	if i := strings.IndexByte(s, '['); i > 0 && strings.HasSuffix(s, "]") {
		if name := s[:i]; name != s[i+1:len(s)-1] {
			s = name + "[~]"
		} else {
			s = name // a bare address: "192.0.2.1[192.0.2.1]"
		}
	}
	r := []rune(s)
	if len(r) <= n || n < 8 {
		return cut(s, n)
	}
	return "~" + string(r[len(r)-(n-1):])
}

func runeLen(s string) int { return len([]rune(s)) }

// WindowText describes the window for people.
func (s *Summary) WindowText() string {
	loc := s.loc()
	f := func(t time.Time, open string) string {
		if t.IsZero() {
			return open
		}
		return t.In(loc).Format("2006-01-02 15:04")
	}
	return fmt.Sprintf("%s to %s (%s)", f(s.Since, "start"), f(s.Until, "now"), ZoneName(loc))
}

// ZoneName names a time zone for people: Go calls the machine's own zone
// "Local", which says nothing in a report mailed elsewhere. It is then the
// IANA name the system gives (TZ, /etc/timezone, the /etc/localtime link),
// or else the zone's abbreviation now.
func ZoneName(loc *time.Location) string {
	if loc.String() != "Local" {
		return loc.String()
	}
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" && !strings.HasPrefix(tz, "/") {
		return tz
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if name := strings.TrimSpace(string(b)); name != "" && !strings.ContainsAny(name, " \n") {
			return name
		}
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if i := strings.Index(target, "zoneinfo/"); i >= 0 {
			return target[i+len("zoneinfo/"):]
		}
	}
	return time.Now().In(loc).Format("MST")
}

func (s *Summary) loc() *time.Location {
	if s.Location == nil {
		return time.Local
	}
	return s.Location
}

// Text writes the report as plain ASCII, at most Width columns wide.
func Text(w io.Writer, s *Summary) error {
	var b strings.Builder
	title := "mailbounce report, " + s.WindowText()
	if s.Filter != "" {
		title += ", domain " + s.Filter
	}
	fmt.Fprintf(&b, "%s\n", cut(title, Width))
	if !s.First.IsZero() {
		fmt.Fprintf(&b, "attempts from %s to %s\n", s.First.In(s.loc()).Format("2006-01-02 15:04:05"), s.Last.In(s.loc()).Format("2006-01-02 15:04:05"))
	}
	t := s.Totals
	if len(s.Groups) == 0 && t.Recipients == 0 && t.Deferred == 0 && t.Rejected == 0 {
		b.WriteString("\nNo mail in this window")
		if s.Filter != "" {
			b.WriteString(" for " + clean(s.Filter))
		}
		b.WriteString(".\n")
		_, err := io.WriteString(w, b.String())
		return err
	}

	// Big numbers make these longer than Width: wrapped, not cut.
	b.WriteString("\n")
	wrap(&b, fmt.Sprintf("%s recipients in %s messages: %s delivered (%s), %s bounced (%s), %s expired (%s); "+
		"%s deferrals of %s recipients (%s), %s rejected at our door.",
		num(t.Recipients), num(t.Messages), num(t.Delivered), pct(t.DeliveryRate()), num(t.Bounced), pct(t.BounceRate()),
		num(t.Expired), pct(t.ExpiredRate()),
		num(t.Deferred), num(t.DeferredRecipients), pct(t.DeferralRate()), num(t.Rejected)), "", "")
	if t.DelaySample > 0 {
		est := ""
		if t.DelayEstimated {
			est = fmt.Sprintf(" (from the latest %s)", num(t.DelaySample))
		}
		fmt.Fprintf(&b, "Delivery delay: median %s, 95th percentile %s%s.\n", Duration(t.DelayMedian), Duration(t.DelayP95), est)
	}
	for _, br := range s.Thresholds {
		fmt.Fprintf(&b, "THRESHOLD CROSSED: %s\n", cut(br.String(), Width-19))
	}

	// The main table.
	cols := columns(s.By)
	rows := append(append([]Group{}, s.Groups...), t)
	rows[len(rows)-1].Name = "TOTAL"
	widths := make([]int, len(cols))
	used := 0
	for i, c := range cols {
		widths[i] = runeLen(c.Head)
		for _, g := range rows {
			if i > 0 {
				widths[i] = max(widths[i], len(c.Value(g)))
			}
		}
		if i > 0 {
			used += widths[i] + 1
		}
	}
	for _, g := range rows {
		widths[0] = max(widths[0], runeLen(g.Name))
	}
	widths[0] = max(8, min(widths[0], Width-used))
	line := func(vals []string) {
		var l strings.Builder
		for i, v := range vals {
			if i == 0 {
				if s.By == ByRelay {
					v = cutMiddle(v, widths[0])
				}
				fmt.Fprintf(&l, "%-*s", widths[0], cut(v, widths[0]))
				continue
			}
			fmt.Fprintf(&l, " %*s", widths[i], v)
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	b.WriteString("\n")
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = c.Head
	}
	line(heads)
	rule := func() { b.WriteString(strings.Repeat("-", min(Width, widths[0]+used)) + "\n") }
	rule()
	for j, g := range rows {
		if j == len(rows)-1 {
			if s.Omitted > 0 {
				fmt.Fprintf(&b, "(%d more not shown; --top 0 shows all)\n", s.Omitted)
			}
			rule()
		}
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = c.Value(g)
		}
		line(vals)
	}
	b.WriteString("Msgs messages with an attempt, Rcpts recipients, Dfrd deferral attempts, DfRcp recipients deferred\n")
	b.WriteString("at least once; rates over recipients; p50/p95 delivery delay of delivered recipients.\n")

	// Reasons per group.
	var per []string
	for _, g := range s.Groups {
		if len(g.Reasons) == 0 {
			continue
		}
		var parts []string
		for i, r := range g.Reasons {
			if i == 3 {
				break
			}
			p := fmt.Sprintf("%s %s %s", r.Outcome, reasonName(r.Reason), num(r.Count))
			if code := codeText(r); code != "" {
				p += " (" + code + ")"
			}
			parts = append(parts, p)
		}
		per = append(per, clean(g.Name)+": "+strings.Join(parts, ", "))
	}
	if len(per) > 0 {
		section(&b, "Top failure reasons per "+strings.ToLower(cols[0].Head))
		for _, p := range per {
			wrap(&b, p, "  ", "      ")
		}
	}

	reasonTable := func(title string, rs []ReasonCount, limit int) {
		if len(rs) == 0 {
			return
		}
		section(&b, title)
		fmt.Fprintf(&b, "  %-9s %-22s %9s  %-10s %s\n", "outcome", "reason", "count", "reply", "example")
		for i, r := range rs {
			if i == limit {
				fmt.Fprintf(&b, "  (%d more)\n", len(rs)-limit)
				break
			}
			head := fmt.Sprintf("  %-9s %-22s %9s  %-10s ", r.Outcome, cut(reasonName(r.Reason), 22), num(r.Count), codeText(r))
			b.WriteString(head + cut(shortReply(r.Example), Width-len(head)) + "\n")
		}
	}
	reasonTable("Bounce, expiry and deferral reasons (attempts)", s.Failures, 15)

	if worst := s.WorstBounceRate(WorstMinRecipients, 10); len(worst) > 0 && s.By == ByDomain {
		section(&b, fmt.Sprintf("Worst bounce rates (at least %d recipients)", WorstMinRecipients))
		nw := 8
		for _, g := range worst {
			nw = max(nw, min(40, runeLen(g.Name)))
		}
		fmt.Fprintf(&b, "  %-*s %9s %9s %7s  %s\n", nw, "domain", "rcpts", "bounced", "bnc%", "top reason")
		for _, g := range worst {
			top := ""
			for _, r := range g.Reasons {
				if r.Outcome == "bounced" {
					top = reasonName(r.Reason)
					break
				}
			}
			fmt.Fprintf(&b, "  %-*s %9s %9s %7s  %s\n", nw, cut(g.Name, nw), num(g.Recipients), num(g.Bounced), pctOf(g.BounceRate(), 1), top)
		}
	}

	if len(s.Relays) > 0 {
		section(&b, "Next hops (attempts)")
		fmt.Fprintf(&b, "  %-30s %9s %9s %8s %7s %7s %6s  %s\n", "relay", "attempts", "delivered", "deferred", "bounced", "expired", "fail%", "top reason")
		for i, r := range s.Relays {
			if i == 15 {
				fmt.Fprintf(&b, "  (%d more)\n", len(s.Relays)-15)
				break
			}
			name := r.Relay
			if name == "" {
				name = "(none)"
			}
			l := fmt.Sprintf("  %-30s %9s %9s %8s %7s %7s %6s  %s", relayLabel(name, 30), num(r.Attempts), num(r.Delivered), num(r.Deferred),
				num(r.Bounced), num(r.Expired), pctOf(r.FailureRate(), r.Attempts), clean(r.TopReason))
			b.WriteString(cut(l, Width) + "\n")
		}
	}

	reasonTable("Rejected at our door", s.Rejects, 10)

	if len(s.Trend.Points) > 0 {
		section(&b, "Trend (attempts per "+bucketName(s.Trend.Bucket)+")")
		var peak int64
		for _, p := range s.Trend.Points {
			peak = max(peak, p.Total())
		}
		layout := "2006-01-02 15:04"
		fmt.Fprintf(&b, "  %-16s %9s %9s %8s %8s  %s\n", "from", "delivered", "deferred", "bounced", "expired", "# delivered ~ deferred ! failed")
		for _, p := range s.Trend.Points {
			l := fmt.Sprintf("  %-16s %9s %9s %8s %8s  ", p.Start.In(s.loc()).Format(layout), num(p.Delivered), num(p.Deferred), num(p.Bounced), num(p.Expired))
			room := Width - len(l)
			b.WriteString(l + bar(p, peak, room) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func bar(p TrendPoint, peak int64, width int) string {
	if peak == 0 || width <= 0 {
		return ""
	}
	scale := func(n int64) int { return int(math.Round(float64(n) * float64(width) / float64(peak))) }
	d, f, x := scale(p.Delivered), scale(p.Deferred), scale(p.Bounced+p.Expired)
	return strings.TrimRight(strings.Repeat("#", d)+strings.Repeat("~", f)+strings.Repeat("!", x), " ")
}

func bucketName(d time.Duration) string {
	switch d {
	case 24 * time.Hour:
		return "day"
	case time.Hour:
		return "hour"
	}
	return d.String()
}

func section(b *strings.Builder, title string) {
	fmt.Fprintf(b, "\n%s\n%s\n", title, strings.Repeat("=", min(Width, len(title))))
}

// wrap writes text in lines of at most Width columns.
func wrap(b *strings.Builder, text, first, indent string) {
	prefix := first
	line := ""
	for _, word := range strings.Fields(clean(text)) {
		word = cut(word, Width-len(indent))
		if line != "" && len(prefix)+runeLen(line)+1+runeLen(word) > Width {
			b.WriteString(prefix + line + "\n")
			prefix, line = indent, ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	b.WriteString(prefix + line + "\n")
}

func reasonName(r string) string {
	if r == "" {
		return "(none)"
	}
	return r
}

func codeText(r ReasonCount) string {
	var parts []string
	if r.Code != 0 {
		parts = append(parts, strconv.Itoa(r.Code))
	}
	if r.Enhanced != "" {
		parts = append(parts, clean(r.Enhanced))
	}
	return cut(strings.Join(parts, " "), 10)
}

// num writes n with thousands separators: 1,234,567.
func num(n int64) string {
	if n < 0 {
		return "-" + num(-n)
	}
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// shortReply is a reply's text without Postfix's "host NAME[ADDR] said: ",
// Exim's "SMTP error from remote mail server after RCPT TO:<a>: " and the
// codes, which have their own columns: the text report has little room.
func shortReply(s string) string {
	if t := parse.ParseReply(s).Text; t != "" {
		return t
	}
	return s
}
