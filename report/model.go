// Package report turns the figures of a delivery report into text, JSON,
// CSV, Markdown and HTML. It owns the presentation and the definitions of
// the rates; it does not open files or databases: the caller fills a
// Summary from its queries and hands it over with a writer.
//
// Rates are over recipients (a recipient is one message to one address):
//
//	delivery rate  = delivered / recipients
//	bounce rate    = bounced / recipients
//	expired rate   = expired / recipients
//	deferral rate  = deferred recipients / recipients
//
// where recipients counts those whose fate was decided in the window plus
// those deferred in it and still waiting, so the three outcome rates add up
// to at most 100% and the rest is still in the queue.
package report

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Summary is everything one report shows.
type Summary struct {
	// Since and Until bound the window [Since, Until); a zero time is an
	// open end. Location is the zone the report shows times in.
	Since, Until time.Time
	Location     *time.Location
	// First and Last are the times of the first and last attempt seen in
	// the window (zero when there were none).
	First, Last time.Time
	// By names what Groups are grouped by: one of the By constants.
	By string
	// Filter is the --domain filter, if any.
	Filter string

	Totals Group
	Groups []Group // ordered by recipients, most first
	// Omitted is how many groups the caller left out (--top).
	Omitted int

	// Failures are the reasons of deferred, bounced and expired attempts
	// over all groups, by outcome and count.
	Failures []ReasonCount
	// Relays is the per-next-hop view.
	Relays []RelayCount
	// Rejects are the rejections at our own door by reason.
	Rejects []ReasonCount
	// Trend is attempts per time bucket.
	Trend Trend
	// Thresholds are the --fail-if checks and what they found.
	Thresholds []Breach
}

// What groups can be.
const (
	ByDomain       = "domain"
	ByRelay        = "relay"
	BySenderDomain = "sender-domain"
	ByHost         = "host"
)

// Group is one row of the report: one recipient domain (or relay, sender
// domain, host), or the totals.
type Group struct {
	Name string
	// Messages counts distinct messages with an attempt in the group.
	Messages int64
	// Recipients counts (message, recipient) pairs decided in the window
	// plus those deferred in it and still waiting.
	Recipients int64
	Delivered  int64 // recipients delivered
	Bounced    int64 // recipients bounced
	Expired    int64 // recipients given up after retrying
	Deferred   int64 // deferral attempts
	// DeferredRecipients counts recipients deferred at least once.
	DeferredRecipients int64
	// Rejected counts recipients refused at our own door (smtpd,
	// postscreen, Exim ACLs); the totals also count rejections that named
	// no recipient.
	Rejected int64
	// Reasons counts deferred, bounced and expired attempts by reason,
	// most first; Code, Enhanced and Example describe a typical attempt.
	Reasons []ReasonCount
	// Delay percentiles, in seconds, of the delivered recipients' delays
	// (arrival to delivery); DelaySample is how many delays they were
	// computed from, 0 when none.
	DelayMedian, DelayP95 float64
	DelaySample           int64
	// DelayEstimated is set when the percentiles come from a sample of
	// the delivered recipients rather than from all of them.
	DelayEstimated bool
}

// Rates, defined in the package documentation. Zero recipients give 0.
func (g Group) DeliveryRate() float64 { return ratio(g.Delivered, g.Recipients) }
func (g Group) BounceRate() float64   { return ratio(g.Bounced, g.Recipients) }
func (g Group) ExpiredRate() float64  { return ratio(g.Expired, g.Recipients) }
func (g Group) DeferralRate() float64 { return ratio(g.DeferredRecipients, g.Recipients) }

func ratio(n, d int64) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// ReasonCount is how often one reason occurred, with a typical reply.
type ReasonCount struct {
	Outcome     string // "deferred", "bounced", "expired", "rejected"
	Reason      string // "user_unknown"; "" when the MTA gave none
	Count       int64
	Code        int    // most common SMTP reply code, 0 if none
	Enhanced    string // most common enhanced status code
	Example     string // one reply text as logged
	Description string // what the reason means, for people
	Group       string // where the example came from (a domain)
}

// RelayCount is the attempts to one next hop.
type RelayCount struct {
	Relay                                 string
	Attempts                              int64
	Delivered, Deferred, Bounced, Expired int64
	TopReason                             string
}

// FailureRate is the share of attempts that failed (deferred, bounced or
// expired).
func (r RelayCount) FailureRate() float64 {
	return ratio(r.Deferred+r.Bounced+r.Expired, r.Attempts)
}

// Trend is attempts per bucket of time.
type Trend struct {
	Bucket time.Duration
	Points []TrendPoint
}

// TrendPoint is one bucket, starting at Start.
type TrendPoint struct {
	Start                                 time.Time
	Delivered, Deferred, Bounced, Expired int64
}

// Total is all attempts in the bucket.
func (p TrendPoint) Total() int64 { return p.Delivered + p.Deferred + p.Bounced + p.Expired }

// WorstBounceRate returns up to n groups with at least minRecipients
// recipients and a bounce rate above zero, worst first.
func (s *Summary) WorstBounceRate(minRecipients int64, n int) []Group {
	var out []Group
	for _, g := range s.Groups {
		if g.Recipients >= minRecipients && g.Bounced > 0 {
			out = append(out, g)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].BounceRate(), out[j].BounceRate()
		if a != b {
			return a > b
		}
		return out[i].Recipients > out[j].Recipients
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// WorstMinRecipients is the volume below which a domain is left out of the
// worst-bounce-rate list: one bounce out of two is noise.
const WorstMinRecipients = 10

// Metrics that --fail-if understands.
const (
	MetricBounce   = "bounce_rate"
	MetricDeferral = "deferral_rate"
	MetricExpired  = "expired_rate"
	MetricDelivery = "delivery_rate"
	// MetricRecipients is a count, not a rate: "recipients<1" alerts when
	// no mail was logged at all (ingestion stopped, the MTA down).
	MetricRecipients = "recipients"
)

// Threshold is one --fail-if condition: Metric Op Limit, checked on the
// totals, or on every group with at least MinVolume recipients when
// PerGroup is set.
type Threshold struct {
	Metric    string
	Op        string // ">", ">=", "<", "<="
	Limit     float64
	PerGroup  bool
	MinVolume int64
	Text      string // as the user wrote it
}

// Breach is a threshold crossed by one group (or the totals, Group "").
type Breach struct {
	Threshold Threshold
	Group     string
	Value     float64
	Volume    int64
}

func (b Breach) String() string {
	where := "all mail"
	if b.Group != "" {
		where = clean(b.Group) // from a log, for a terminal or a mail
	}
	if b.Threshold.Metric == MetricRecipients {
		return fmt.Sprintf("%s: %d recipients (threshold %s)", where, b.Volume, clean(b.Threshold.Text))
	}
	return fmt.Sprintf("%s: %s is %s over %d recipients (threshold %s)",
		where, b.Threshold.Metric, pct(b.Value), b.Volume, clean(b.Threshold.Text))
}

// ParseThreshold reads "bounce_rate>5%", "deferral_rate >= 0.2",
// "delivery_rate<90%". A percent sign divides by 100.
func ParseThreshold(s string) (Threshold, error) {
	t := Threshold{Text: s}
	compact := strings.ReplaceAll(s, " ", "")
	i := strings.IndexAny(compact, "<>")
	if i <= 0 {
		return t, fmt.Errorf("--fail-if %q: want METRIC>LIMIT such as bounce_rate>5%%", s)
	}
	t.Metric = compact[:i]
	rest := compact[i:]
	switch t.Metric {
	case MetricBounce, MetricDeferral, MetricExpired, MetricDelivery, MetricRecipients:
	default:
		return t, fmt.Errorf("--fail-if %q: unknown metric %q (want bounce_rate, deferral_rate, expired_rate, delivery_rate or recipients)", s, t.Metric)
	}
	t.Op = rest[:1]
	if len(rest) > 1 && rest[1] == '=' {
		t.Op = rest[:2]
	}
	num := rest[len(t.Op):]
	percent := strings.HasSuffix(num, "%")
	num = strings.TrimSuffix(num, "%")
	var v float64
	if _, err := fmt.Sscanf(num, "%g", &v); err != nil || num == "" {
		return t, fmt.Errorf("--fail-if %q: %q is not a number", s, num)
	}
	if t.Metric == MetricRecipients {
		if percent || !(v >= 0 && v < 1e15) {
			return t, fmt.Errorf("--fail-if %q: recipients is a count, such as recipients<1", s)
		}
		t.Limit = v
		return t, nil
	}
	if percent {
		v /= 100
	}
	if !(v >= 0 && v <= 1) { // NaN too
		return t, fmt.Errorf("--fail-if %q: a rate is between 0 and 1 (or 0%% and 100%%)", s)
	}
	t.Limit = v
	return t, nil
}

func (t Threshold) value(g Group) float64 {
	switch t.Metric {
	case MetricBounce:
		return g.BounceRate()
	case MetricDeferral:
		return g.DeferralRate()
	case MetricExpired:
		return g.ExpiredRate()
	case MetricRecipients:
		return float64(g.Recipients)
	default:
		return g.DeliveryRate()
	}
}

func (t Threshold) crossed(v float64) bool {
	switch t.Op {
	case ">":
		return v > t.Limit
	case ">=":
		return v >= t.Limit
	case "<":
		return v < t.Limit
	default:
		return v <= t.Limit
	}
}

// Check returns the breaches of t in s: on the totals, or per group when
// t.PerGroup (groups with fewer than t.MinVolume recipients are skipped).
// A window without recipients crosses no rate (recipients<N it does).
func (t Threshold) Check(s *Summary, all []Group) []Breach {
	var out []Breach
	test := func(name string, g Group) {
		if t.Metric != MetricRecipients && (g.Recipients == 0 || g.Recipients < t.MinVolume) {
			return
		}
		if v := t.value(g); t.crossed(v) {
			out = append(out, Breach{Threshold: t, Group: name, Value: v, Volume: g.Recipients})
		}
	}
	if !t.PerGroup {
		test("", s.Totals)
		return out
	}
	for _, g := range all {
		test(g.Name, g)
	}
	return out
}

// validUTF8 returns s with every string from a log made valid UTF-8
// (invalid bytes become U+FFFD), as every format needs: a log may hold any
// bytes, and a terminal, a spreadsheet or a browser shown raw ones may
// misread what follows them.
func (s *Summary) validUTF8() *Summary {
	v := func(x string) string { return strings.ToValidUTF8(x, "\uFFFD") }
	reasons := func(rs []ReasonCount) []ReasonCount {
		out := make([]ReasonCount, len(rs))
		for i, r := range rs {
			r.Reason, r.Enhanced, r.Example, r.Group = v(r.Reason), v(r.Enhanced), v(r.Example), v(r.Group)
			out[i] = r
		}
		return out
	}
	group := func(g Group) Group {
		g.Name = v(g.Name)
		g.Reasons = reasons(g.Reasons)
		return g
	}
	c := *s
	c.Filter = v(c.Filter)
	c.Totals = group(c.Totals)
	c.Groups = make([]Group, len(s.Groups))
	for i, g := range s.Groups {
		c.Groups[i] = group(g)
	}
	c.Failures = reasons(s.Failures)
	c.Rejects = reasons(s.Rejects)
	c.Relays = make([]RelayCount, len(s.Relays))
	for i, r := range s.Relays {
		r.Relay, r.TopReason = v(r.Relay), v(r.TopReason)
		c.Relays[i] = r
	}
	c.Thresholds = make([]Breach, len(s.Thresholds))
	for i, b := range s.Thresholds {
		b.Group = v(b.Group)
		c.Thresholds[i] = b
	}
	return &c
}
