package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Formats lists what Write understands.
var Formats = []string{"text", "json", "csv", "markdown", "html"}

// Write writes s in format.
func Write(w io.Writer, format string, s *Summary) error {
	s = s.validUTF8()
	switch format {
	case "text", "":
		return Text(w, s)
	case "json":
		return JSON(w, s)
	case "csv":
		return CSV(w, s)
	case "markdown", "md":
		return Markdown(w, s)
	case "html":
		return HTML(w, s)
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

// The JSON shape is a public interface: the names of jsonGroup's count
// fields never change; new fields may be added.
type jsonReport struct {
	Since    *string   `json:"since"`
	Until    *string   `json:"until"`
	TimeZone string    `json:"time_zone"`
	First    *string   `json:"first_attempt"`
	Last     *string   `json:"last_attempt"`
	By       string    `json:"by"`
	Domain   string    `json:"domain_filter,omitempty"`
	Totals   jsonGroup `json:"totals"`
	// One of the two, always there ([] for an empty window): scripts
	// read it by name.
	Domains    *[]jsonGroup `json:"domains,omitempty"`
	Groups     *[]jsonGroup `json:"groups,omitempty"`
	Omitted    int          `json:"omitted,omitempty"`
	Failures   []jsonReason `json:"failure_reasons"`
	Worst      []string     `json:"worst_bounce_rate"`
	Relays     []jsonRelay  `json:"relays"`
	Rejects    []jsonReason `json:"reject_reasons"`
	Trend      jsonTrend    `json:"trend"`
	Thresholds []jsonBreach `json:"thresholds_crossed,omitempty"`
}

type jsonGroup struct {
	Domain             string           `json:"domain,omitempty"`
	Name               string           `json:"name,omitempty"`
	Messages           int64            `json:"messages"`
	Recipients         int64            `json:"recipients"`
	Delivered          int64            `json:"delivered"`
	Deferred           int64            `json:"deferred"`
	DeferredRecipients int64            `json:"deferred_recipients"`
	Bounced            int64            `json:"bounced"`
	Expired            int64            `json:"expired"`
	Rejected           int64            `json:"rejected"`
	Reasons            map[string]int64 `json:"reasons"`
	DeliveryRate       float64          `json:"delivery_rate"`
	BounceRate         float64          `json:"bounce_rate"`
	ExpiredRate        float64          `json:"expired_rate"`
	DeferralRate       float64          `json:"deferral_rate"`
	DelayMedian        *float64         `json:"delay_median"`
	DelayP95           *float64         `json:"delay_p95"`
	DelaySample        int64            `json:"delay_sample"`
	DelayEstimated     bool             `json:"delay_estimated,omitempty"`
	TopReasons         []jsonReason     `json:"top_reasons"`
}

type jsonReason struct {
	Outcome     string `json:"outcome"`
	Reason      string `json:"reason"`
	Count       int64  `json:"count"`
	Code        int    `json:"code,omitempty"`
	Enhanced    string `json:"enhanced,omitempty"`
	Example     string `json:"example,omitempty"`
	Description string `json:"description,omitempty"`
	Domain      string `json:"example_domain,omitempty"`
}

type jsonRelay struct {
	Relay       string  `json:"relay"`
	Attempts    int64   `json:"attempts"`
	Delivered   int64   `json:"delivered"`
	Deferred    int64   `json:"deferred"`
	Bounced     int64   `json:"bounced"`
	Expired     int64   `json:"expired"`
	FailureRate float64 `json:"failure_rate"`
	TopReason   string  `json:"top_reason,omitempty"`
}

type jsonTrend struct {
	Bucket string       `json:"bucket"`
	Points []jsonBucket `json:"points"`
}

type jsonBucket struct {
	Start     string `json:"start"`
	Delivered int64  `json:"delivered"`
	Deferred  int64  `json:"deferred"`
	Bounced   int64  `json:"bounced"`
	Expired   int64  `json:"expired"`
}

type jsonBreach struct {
	Threshold string  `json:"threshold"`
	Domain    string  `json:"domain,omitempty"`
	Value     float64 `json:"value"`
	Volume    int64   `json:"recipients"`
}

func rfc3339(t time.Time, loc *time.Location) *string {
	if t.IsZero() {
		return nil
	}
	s := t.In(loc).Format(time.RFC3339)
	return &s
}

func round4(v float64) float64 { return float64(int64(v*10000+0.5)) / 10000 }

func reasonsJSON(rs []ReasonCount) []jsonReason {
	out := make([]jsonReason, 0, len(rs))
	for _, r := range rs {
		out = append(out, jsonReason{Outcome: r.Outcome, Reason: r.Reason, Count: r.Count, Code: r.Code,
			Enhanced: r.Enhanced, Example: r.Example, Description: r.Description, Domain: r.Group})
	}
	return out
}

func groupJSON(g Group, byDomain bool) jsonGroup {
	j := jsonGroup{Messages: g.Messages, Recipients: g.Recipients, Delivered: g.Delivered,
		Deferred: g.Deferred, DeferredRecipients: g.DeferredRecipients, Bounced: g.Bounced, Expired: g.Expired,
		Rejected: g.Rejected, Reasons: map[string]int64{},
		DeliveryRate: round4(g.DeliveryRate()), BounceRate: round4(g.BounceRate()),
		ExpiredRate: round4(g.ExpiredRate()), DeferralRate: round4(g.DeferralRate()),
		DelaySample: g.DelaySample, DelayEstimated: g.DelayEstimated, TopReasons: reasonsJSON(g.Reasons)}
	if byDomain {
		j.Domain = g.Name
	} else {
		j.Name = g.Name
	}
	for _, r := range g.Reasons {
		if r.Reason != "" {
			j.Reasons[r.Reason] += r.Count
		}
	}
	if g.DelaySample > 0 {
		m, p := g.DelayMedian, g.DelayP95
		j.DelayMedian, j.DelayP95 = &m, &p
	}
	return j
}

// reportJSON is the report as JSON values.
func reportJSON(s *Summary) jsonReport {
	loc := s.loc()
	j := jsonReport{Since: rfc3339(s.Since, loc), Until: rfc3339(s.Until, loc), TimeZone: ZoneName(loc),
		First: rfc3339(s.First, loc), Last: rfc3339(s.Last, loc), By: s.By, Domain: s.Filter,
		Totals: groupJSON(s.Totals, false), Omitted: s.Omitted,
		Failures: reasonsJSON(s.Failures), Rejects: reasonsJSON(s.Rejects),
		Worst: []string{}, Relays: []jsonRelay{},
		Trend: jsonTrend{Bucket: bucketName(s.Trend.Bucket), Points: []jsonBucket{}}}
	byDomain := s.By == ByDomain || s.By == ""
	groups := make([]jsonGroup, 0, len(s.Groups))
	for _, g := range s.Groups {
		groups = append(groups, groupJSON(g, byDomain))
	}
	if byDomain {
		j.Domains = &groups
		for _, g := range s.WorstBounceRate(WorstMinRecipients, 10) {
			j.Worst = append(j.Worst, g.Name)
		}
	} else {
		j.Groups = &groups
	}
	for _, r := range s.Relays {
		j.Relays = append(j.Relays, jsonRelay{Relay: r.Relay, Attempts: r.Attempts, Delivered: r.Delivered,
			Deferred: r.Deferred, Bounced: r.Bounced, Expired: r.Expired, FailureRate: round4(r.FailureRate()), TopReason: r.TopReason})
	}
	for _, p := range s.Trend.Points {
		j.Trend.Points = append(j.Trend.Points, jsonBucket{Start: p.Start.In(loc).Format(time.RFC3339),
			Delivered: p.Delivered, Deferred: p.Deferred, Bounced: p.Bounced, Expired: p.Expired})
	}
	for _, b := range s.Thresholds {
		j.Thresholds = append(j.Thresholds, jsonBreach{Threshold: b.Threshold.Text, Domain: b.Group, Value: round4(b.Value), Volume: b.Volume})
	}
	return j
}

// JSON writes the report as one JSON object.
func JSON(w io.Writer, s *Summary) error {
	j := reportJSON(s)
	// The groups are written by appendGroups and put in their place in
	// the rest, which encoding/json writes: the same bytes as
	// json.NewEncoder(w) with SetIndent("", "  ") writes of the whole.
	key, groups := "groups", j.Groups
	if j.Domains != nil {
		key, groups = "domains", j.Domains
	}
	j.Domains, j.Groups = nil, nil
	rest, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if groups == nil {
		groups = &[]jsonGroup{}
	}
	list, err := appendGroups(make([]byte, 0, len(*groups)*4096), *groups, "  ")
	if err != nil {
		return err
	}
	out := spliceGroups(rest, key, list, "omitted", "failure_reasons")
	_, err = w.Write(append(out, '\n'))
	return err
}

// csvSafe keeps a spreadsheet from running a cell from a log as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// CSV writes the main table, the columns of the text report with
// machine names, the totals last (named TOTAL).
func CSV(w io.Writer, s *Summary) error {
	cw := csv.NewWriter(w)
	cols := columns(s.By)
	head := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		head = append(head, c.CSV)
	}
	head = append(head, "top_reason")
	cw.Write(head)
	rows := append(append([]Group{}, s.Groups...), s.Totals)
	rows[len(rows)-1].Name = "TOTAL"
	for _, g := range rows {
		rec := make([]string, 0, len(head))
		for i, c := range cols {
			v := c.Value(g)
			if i == 0 {
				v = csvSafe(v)
			}
			switch {
			case v == "-":
				v = ""
			case c.CSV == "delay_median":
				v = fmt.Sprintf("%.3f", g.DelayMedian)
			case c.CSV == "delay_p95":
				v = fmt.Sprintf("%.3f", g.DelayP95)
			case strings.HasSuffix(c.CSV, "_rate"):
				v = fmt.Sprintf("%.4f", map[string]float64{"delivery_rate": g.DeliveryRate(), "bounce_rate": g.BounceRate(),
					"deferral_rate": g.DeferralRate()}[c.CSV])
			}
			if g.DelaySample == 0 && strings.HasPrefix(c.CSV, "delay_") {
				v = ""
			}
			rec = append(rec, v)
		}
		top := ""
		if len(g.Reasons) > 0 {
			top = g.Reasons[0].Reason
		}
		rec = append(rec, csvSafe(top))
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// mdCell escapes what Markdown tables and the HTML that wikis accept in
// them would interpret.
func mdCell(s string) string {
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "&", "&amp;", "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "\n", " ")
	return r.Replace(clean(s))
}

// Markdown writes the summary line, the main table and the failure reasons
// as GitHub-flavoured Markdown, for a wiki page or a ticket.
func Markdown(w io.Writer, s *Summary) error {
	var b strings.Builder
	t := s.Totals
	fmt.Fprintf(&b, "### Mail report, %s\n\n", mdCell(s.WindowText()))
	fmt.Fprintf(&b, "%s recipients in %s messages: %s delivered (%s), %s bounced (%s), %s expired (%s), %s deferred at least once (%s); %s rejected.\n\n",
		num(t.Recipients), num(t.Messages), num(t.Delivered), pct(t.DeliveryRate()), num(t.Bounced), pct(t.BounceRate()),
		num(t.Expired), pct(t.ExpiredRate()), num(t.DeferredRecipients), pct(t.DeferralRate()), num(t.Rejected))
	cols := columns(s.By)
	b.WriteString("|")
	for _, c := range cols {
		b.WriteString(" " + c.Head + " |")
	}
	b.WriteString("\n|")
	for _, c := range cols {
		if c.Num {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	rows := append(append([]Group{}, s.Groups...), t)
	rows[len(rows)-1].Name = "**TOTAL**"
	for i, g := range rows {
		b.WriteString("|")
		for j, c := range cols {
			v := c.Value(g)
			if j == 0 && i < len(rows)-1 {
				v = mdCell(v)
			}
			b.WriteString(" " + v + " |")
		}
		b.WriteString("\n")
	}
	if s.Omitted > 0 {
		fmt.Fprintf(&b, "\n%d more not shown.\n", s.Omitted)
	}
	if len(s.Failures) > 0 {
		b.WriteString("\n| Outcome | Reason | Attempts | Reply | Example |\n|---|---|---:|---|---|\n")
		for i, r := range s.Failures {
			if i == 10 {
				break
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Outcome, mdCell(reasonName(r.Reason)), num(r.Count), mdCell(codeText(r)), mdCell(cut(r.Example, 120)))
		}
	}
	for _, br := range s.Thresholds {
		fmt.Fprintf(&b, "\n**Threshold crossed:** %s\n", mdCell(br.String()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
