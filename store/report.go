package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Report groupings: what ReportQuery.By may name.
const (
	ByDomain       = "domain"        // recipient domain
	ByRelay        = "relay"         // next hop
	BySenderDomain = "sender-domain" // envelope sender's domain
	ByHost         = "host"          // the host that logged the attempt
)

// ReportQuery says what Report computes.
type ReportQuery struct {
	// Since and Until bound the window [Since, Until); zero is open.
	Since, Until time.Time
	// Domain keeps only attempts and rejects for this recipient domain.
	Domain string
	// By groups the rows; "" is ByDomain. Totals, failures, the trend and
	// the relay view are the same whatever the grouping.
	By string
	// Top is how many groups get the costlier extras (examples of replies
	// and delay percentiles); 0 means the first maxExtraGroups (1000).
	Top int
	// Buckets are the trend's time slots, each [Start, End).
	Buckets []Bucket
	// DelaySample is how many of the most recent delivered recipients of
	// a group the delay percentiles are computed from; 0 means 1000.
	DelaySample int
	// NoRelays leaves out the relay view.
	NoRelays bool
}

// Bucket is one slot of the trend.
type Bucket struct{ Start, End time.Time }

// ReasonStat counts attempts of one outcome and reason, with the reply
// most typical of them.
type ReasonStat struct {
	Outcome  string // deferred, bounced, expired (or rejected, for rejects)
	Reason   string // "" when the attempt had none
	Count    int64
	Code     int    // the most common reply code among the latest attempts
	Enhanced string // the most common enhanced code among them
	Example  string // the latest reply with that code
	Group    string // the group the example is from (Report.Failures)
}

// GroupRow is the summary of one group (a domain, a relay...).
type GroupRow struct {
	DomainRow // Domain holds the group's name; Reasons counts failed attempts by reason
	// Messages counts distinct messages with an attempt in the group.
	Messages int64
	// Failures splits Reasons by outcome, most first; the first few (of the
	// first Top groups, by domain) carry a typical reply.
	Failures []ReasonStat
	// Delay percentiles in seconds over the delivered recipients (a sample
	// of the latest DelaySample of them when Estimated). Zero DelayN: none.
	DelayMedian, DelayP95 float64
	DelayN                int64
	DelayEstimated        bool
}

// RelayRow counts the attempts handed to one next hop.
type RelayRow struct {
	Relay                                           string // "" when the attempt named none
	Attempts, Delivered, Deferred, Bounced, Expired int64
	TopReason                                       string
}

// TrendRow counts attempts in one bucket; Delivered, Bounced and Expired
// are final attempts, Deferred all deferral attempts.
type TrendRow struct {
	Bucket
	Delivered, Deferred, Bounced, Expired int64
}

// ReportResult is what Report found.
type ReportResult struct {
	Groups    []GroupRow // ordered by recipients, most first, then name
	Totals    GroupRow   // Domain ""; Rejected also counts rejects naming no recipient
	Failures  []ReasonStat
	Relays    []RelayRow
	Rejects   []ReasonStat
	Trend     []TrendRow
	First     time.Time // first and last attempt in the window
	Last      time.Time
	Estimated bool // some figures come from samples (delays); see GroupRow
}

// examplesPerGroup is how many of a group's reasons get a typical reply,
// and exampleScan how many of the latest attempts the typical code is
// chosen from: both keep the cost a few index seeks per group.
const (
	examplesPerGroup = 3
	exampleScan      = 50
)

// maxExtraGroups caps the groups that get examples and delays when Top is
// 0 (all): each costs a few index seeks, which over tens of thousands of
// small domains would outweigh the rest of the report.
const maxExtraGroups = 1000

// extraGroups is how many of the first groups get examples and delays.
func (r *reportRun) extraGroups() int {
	if r.q.Top > 0 {
		return r.q.Top
	}
	return maxExtraGroups
}

// AttemptSpan returns the times of the first and last delivery attempt in
// [since, until) (zero times when there are none). It costs two index seeks.
func (db *DB) AttemptSpan(ctx context.Context, since, until time.Time) (first, last time.Time, err error) {
	lo, hi := window(since, until)
	var a, b sql.NullInt64
	err = db.reader.QueryRowContext(ctx, spanSQL, lo, hi, lo, hi).Scan(&a, &b)
	if err != nil {
		return first, last, db.wrapErr("attempt span", err)
	}
	return timeOf(a), timeOf(b), nil
}

// spanSQL finds the first and last attempt in [?, ?) twice over: min()
// and max() in one SELECT would walk every index entry of the window
// (SQLite's min/max optimisation takes a single aggregate).
const spanSQL = `SELECT (SELECT min(time) FROM deliveries WHERE time >= ? AND time < ?),
	(SELECT max(time) FROM deliveries WHERE time >= ? AND time < ?)`

func window(since, until time.Time) (lo, hi int64) {
	lo, hi = int64(math.MinInt64), int64(math.MaxInt64)
	if !since.IsZero() {
		lo = since.UnixMicro()
	}
	if !until.IsZero() {
		hi = until.UnixMicro()
	}
	return lo, hi
}

// Report computes a delivery report in one read transaction, so that every
// figure comes from the same snapshot even while an ingest commits.
//
// The counts per group, the failure reasons, the relay view and the trend
// come from the rollups (delivery_*, deferred_*, and host_* or sender_* for
// those groupings) summed over the whole months, the other whole days and
// the other whole hours of the window (see tierSplit), and from
// deliveries for the partial hours at its ends (see count). Typical replies are a
// few index seeks per reason; delay percentiles read at most DelaySample
// rows per group.
func (db *DB) Report(ctx context.Context, q ReportQuery) (*ReportResult, error) {
	// As stored: "xn--exmple-cua.example" names "exämple.example".
	q.Domain = DomainName(q.Domain)
	if q.By == "" {
		q.By = ByDomain
	}
	switch q.By {
	case ByDomain, ByRelay, BySenderDomain, ByHost:
	default:
		return nil, fmt.Errorf("report: unknown grouping %q", q.By)
	}
	if q.DelaySample <= 0 {
		q.DelaySample = 1000
	}
	conn, err := db.reader.Conn(ctx)
	if err != nil {
		return nil, db.wrapErr("report", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, db.wrapErr("report", err)
	}
	defer tx.Rollback()
	r := &reportRun{db: db, tx: tx, ctx: ctx, q: q}
	r.lo, r.hi = window(q.Since, q.Until)
	res, err := r.run()
	if err != nil {
		return nil, db.wrapErr("report", err)
	}
	return res, nil
}

type reportRun struct {
	db     *DB
	tx     *sql.Tx
	ctx    context.Context
	q      ReportQuery
	lo, hi int64

	domainNames map[int64]string
	strings     map[string]string // see intern
}

// domainFilter is the set of domain ids the walk covers, as a subquery.
func (r *reportRun) domainFilter() (string, []any) {
	if r.q.Domain == "" {
		return `SELECT id FROM domains`, nil
	}
	return `SELECT id FROM domains WHERE name = ?`, []any{r.q.Domain}
}

func (r *reportRun) run() (*ReportResult, error) {
	res := &ReportResult{}
	var err error
	if r.domainNames, err = r.names("domains"); err != nil {
		return nil, err
	}
	c, err := r.count()
	if err != nil {
		return nil, err
	}
	byDomain := c.byDomain
	rc, err := r.rejectScan()
	if err != nil {
		return nil, err
	}
	for id, n := range rc.byDomain {
		rowOf(byDomain, id).Rejected = n
	}
	var a, b sql.NullInt64
	if err := r.tx.QueryRowContext(r.ctx, spanSQL, r.lo, r.hi, r.lo, r.hi).Scan(&a, &b); err != nil {
		return nil, err
	}
	res.First, res.Last = timeOf(a), timeOf(b)

	domains := r.sorted(byDomain, r.domainNames)
	res.Totals = r.totals(domains)
	res.Totals.Messages = c.messages
	if r.q.Domain == "" {
		// Rejects naming no recipient count in the totals only.
		res.Totals.Rejected = rc.total
	}
	res.Failures = mergeFailures(domains)
	if err := r.examples(domains, byDomain, res.Failures); err != nil {
		return nil, err
	}
	res.Trend = c.trend
	if res.Rejects, err = r.rejectReasons(rc.byReason); err != nil {
		return nil, err
	}
	if r.q.By == ByDomain {
		res.Groups = domains
		if err := r.delays(res.Groups, &res.Totals); err != nil {
			return nil, err
		}
	} else {
		// Per relay, host or sender domain no index carries the delays:
		// the groups' come from the totals' sample of the latest
		// deliveries (estimates, where it holds fewer than they had).
		if err := r.sampledDelays(c.byOther, &res.Totals); err != nil {
			return nil, err
		}
		if res.Groups, err = r.otherGroups(c.byOther, rc.byHost); err != nil {
			return nil, err
		}
	}
	if !r.q.NoRelays {
		if res.Relays, err = r.relays(c.relays); err != nil {
			return nil, err
		}
	}
	for _, g := range res.Groups {
		res.Estimated = res.Estimated || g.DelayEstimated
	}
	return res, nil
}

// reportCounts is what one pass over the rollups yields.
type reportCounts struct {
	byDomain, byOther map[int64]*GroupRow
	relays            map[int64]*relayAcc
	trend             []TrendRow
	messages          int64
}

type relayAcc struct {
	RelayRow
	reasons map[string]int64
}

// count reads the rollups over the window and sums them per domain, per
// group of the other groupings, per relay and per trend bucket: the rows
// read are about one per group, outcome and reason (SQLite sums the hours)
// plus one per hour and outcome for the trend, however many attempts the
// window holds.
//
// A group's messages are those whose first attempt in the group falls in
// the window, and its deferred recipients those first deferred in it;
// for a window that starts before the first stored attempt (no --since,
// or an earlier one) that is every message and recipient with an attempt
// in the window, as before the rollup. With --domain, the messages of the
// relay, host and sender-domain groups count only messages whose first
// attempt of the group is to that domain.
func (r *reportRun) count() (*reportCounts, error) {
	c := &reportCounts{byDomain: make(map[int64]*GroupRow), relays: make(map[int64]*relayAcc)}
	if r.q.By != ByDomain {
		c.byOther = make(map[int64]*GroupRow)
	}
	if len(r.q.Buckets) > 0 {
		c.trend = make([]TrendRow, len(r.q.Buckets))
		for i, b := range r.q.Buckets {
			c.trend[i].Bucket = b
		}
	}
	bucketOf := func(hour int64) int {
		t := max(hour*hourMicros, r.lo)
		i := sort.Search(len(r.q.Buckets), func(i int) bool {
			_, hi := window(r.q.Buckets[i].Start, r.q.Buckets[i].End)
			return hi > t
		})
		if i < len(r.q.Buckets) {
			if lo, _ := window(r.q.Buckets[i].Start, r.q.Buckets[i].End); lo <= t {
				return i
			}
		}
		return -1
	}
	lastHour, lastBucket := int64(math.MinInt64), -1
	// Postfix's "relay=none" (no next hop was reached: a DNS failure, a
	// refused connection) is what an attempt without a relay says (Exim's
	// without H=): one next hop, "(none)", in the relay view and --by relay.
	noneRelay := int64(-1)
	if err := r.tx.QueryRowContext(r.ctx, `SELECT id FROM relays WHERE name = 'none'`).Scan(&noneRelay); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	sink := rollupSink{
		domain: func(domain, relay int64, outcome string, final bool, reasonS string, n hourCounts) {
			if relay == noneRelay {
				relay = 0
			}
			reason := sql.NullString{String: reasonS, Valid: reasonS != ""}
			g := rowOf(c.byDomain, domain)
			g.add(outcome, final, reason, n.attempts)
			// A message handed on to another of our queues (a content
			// filter, a second host) is counted there, once, not on
			// every leg.
			hop := outcome == OutcomeHop
			if !hop {
				g.Messages += n.domainMessages
				if r.q.Domain != "" {
					c.messages += n.domainMessages
				} else {
					c.messages += n.messages
				}
			}
			if r.q.By == ByRelay {
				o := rowOf(c.byOther, relay)
				o.add(outcome, final, reason, n.attempts)
				if !hop {
					o.Messages += n.relayMessages
				}
			}
			if outcome != OutcomeHop {
				a := c.relays[relay]
				if a == nil {
					a = &relayAcc{reasons: make(map[string]int64)}
					c.relays[relay] = a
				}
				a.Attempts += n.attempts
				switch outcome {
				case OutcomeDelivered:
					a.Delivered += n.attempts
				case OutcomeDeferred:
					a.Deferred += n.attempts
				case OutcomeBounced:
					a.Bounced += n.attempts
				case OutcomeExpired:
					a.Expired += n.attempts
				}
				if reason.Valid {
					a.reasons[reasonS] += n.attempts
				}
			}
		},
		other: func(id int64, outcome string, final bool, reason string, n hourCounts) {
			o := rowOf(c.byOther, id)
			o.add(outcome, final, sql.NullString{String: reason, Valid: reason != ""}, n.attempts)
			if outcome != OutcomeHop {
				o.Messages += n.messages
			}
		},
		deferred: func(domain, relay int64, n, waiting int64) {
			if relay == noneRelay {
				relay = 0
			}
			g := rowOf(c.byDomain, domain)
			g.DeferredRecipients += n
			g.Recipients += waiting
			if r.q.By == ByRelay {
				o := rowOf(c.byOther, relay)
				o.DeferredRecipients += n
				o.Recipients += waiting
			}
		},
		deferredOther: func(id int64, n, waiting int64) {
			o := rowOf(c.byOther, id)
			o.DeferredRecipients += n
			o.Recipients += waiting
		},
	}
	if c.trend != nil {
		sink.trend = func(hour int64, outcome string, n int64) {
			if hour != lastHour {
				lastHour, lastBucket = hour, bucketOf(hour)
			}
			if lastBucket >= 0 {
				p := &c.trend[lastBucket]
				switch outcome {
				case OutcomeDelivered:
					p.Delivered += n
				case OutcomeDeferred:
					p.Deferred += n
				case OutcomeBounced:
					p.Bounced += n
				case OutcomeExpired:
					p.Expired += n
				}
			}
		}
	}
	if err := r.rollupScan(sink); err != nil {
		return nil, err
	}
	return c, nil
}

// domainID is the id of a domain name, from the names read at the start.
func (r *reportRun) domainID(name string) (int64, bool) {
	for id, n := range r.domainNames {
		if n == name {
			return id, true
		}
	}
	return 0, false
}

// otherGroups names and orders the groups of --by relay, host or
// sender-domain, and adds the rejects per host.
func (r *reportRun) otherGroups(out map[int64]*GroupRow, hostRejects map[int64]int64) ([]GroupRow, error) {
	var names map[int64]string
	var err error
	switch r.q.By {
	case ByRelay:
		names, err = r.names("relays")
	case ByHost:
		names, err = r.names("hosts")
		for id, n := range hostRejects {
			rowOf(out, id).Rejected = n
		}
	case BySenderDomain:
		names = r.domainNames
	}
	if err != nil {
		return nil, err
	}
	for id, g := range out {
		// A next hop that only took hops (a content filter, another of our
		// hosts) has nothing to show.
		if g.Recipients == 0 && g.Deferred == 0 && g.DeferredRecipients == 0 && g.Rejected == 0 && g.Messages == 0 {
			delete(out, id)
		}
	}
	if _, ok := out[0]; ok {
		// NULL keys: no relay named, Exim's own mainlog, the null sender
		// (or a message never seen arriving).
		names[0] = map[string]string{ByRelay: "(none)", ByHost: "(mainlog)", BySenderDomain: "<>"}[r.q.By]
	}
	return r.sorted(out, names), nil
}

// relays is the per-next-hop view: attempts by outcome and the commonest
// failure reason.
func (r *reportRun) relays(m map[int64]*relayAcc) ([]RelayRow, error) {
	names, err := r.names("relays")
	if err != nil {
		return nil, err
	}
	out := make([]RelayRow, 0, len(m))
	for id, a := range m {
		a.Relay = names[id]
		var best int64
		for reason, n := range a.reasons {
			if n > best || n == best && reason < a.TopReason {
				a.TopReason, best = reason, n
			}
		}
		out = append(out, a.RelayRow)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Attempts != out[j].Attempts {
			return out[i].Attempts > out[j].Attempts
		}
		return out[i].Relay < out[j].Relay
	})
	return out, nil
}

func (r *reportRun) names(table string) (map[int64]string, error) {
	rows, err := r.tx.QueryContext(r.ctx, `SELECT id, name FROM `+table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := make(map[int64]string)
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		m[id] = name
	}
	return m, rows.Err()
}

// add counts n attempts of one outcome, finality and reason into g, and
// keeps the failures split by outcome.
func (g *GroupRow) add(outcome string, final bool, reason sql.NullString, n int64) {
	g.DomainRow.add(outcome, final, reason, n)
	if outcome == OutcomeDeferred || outcome == OutcomeBounced || outcome == OutcomeExpired {
		for i := range g.Failures {
			if f := &g.Failures[i]; f.Outcome == outcome && f.Reason == reason.String {
				f.Count += n
				return
			}
		}
		g.Failures = append(g.Failures, ReasonStat{Outcome: outcome, Reason: reason.String, Count: n})
	}
}

func rowOf(m map[int64]*GroupRow, id int64) *GroupRow {
	g := m[id]
	if g == nil {
		g = &GroupRow{}
		m[id] = g
	}
	return g
}

// rowFilter is the WHERE clause for reads of deliveries d by time.
func (r *reportRun) rowFilter() (string, []any) {
	if r.q.Domain == "" {
		return `d.time >= ? AND d.time < ?`, []any{r.lo, r.hi}
	}
	filter, args := r.domainFilter()
	return `d.domain_id IN (` + filter + `) AND d.time >= ? AND d.time < ?`, append(args, r.lo, r.hi)
}

// sorted names the groups and orders them by recipients, most first.
func (r *reportRun) sorted(m map[int64]*GroupRow, names map[int64]string) []GroupRow {
	out := make([]GroupRow, 0, len(m))
	for id, g := range m {
		if g.Recipients == 0 && g.Deferred == 0 && g.DeferredRecipients == 0 && g.Rejected == 0 && g.Messages == 0 {
			// Only hops to it (an alias domain forwarded elsewhere, the
			// leg to a content filter): its recipients count where they
			// were decided, and a row of zeros says nothing.
			continue
		}
		g.Domain = names[id]
		sortFailures(g.Failures)
		out = append(out, *g)
	}
	sortGroups(out)
	return out
}

func sortGroups(out []GroupRow) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Recipients != out[j].Recipients {
			return out[i].Recipients > out[j].Recipients
		}
		if out[i].Deferred+out[i].Rejected != out[j].Deferred+out[j].Rejected {
			return out[i].Deferred+out[i].Rejected > out[j].Deferred+out[j].Rejected
		}
		return out[i].Domain < out[j].Domain
	})
}

func sortFailures(fs []ReasonStat) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Count != fs[j].Count {
			return fs[i].Count > fs[j].Count
		}
		if fs[i].Outcome != fs[j].Outcome {
			return fs[i].Outcome < fs[j].Outcome
		}
		return fs[i].Reason < fs[j].Reason
	})
}

func (r *reportRun) totals(groups []GroupRow) GroupRow {
	var t GroupRow
	t.DomainRow = Totals(domainRows(groups))
	t.Failures = mergeFailures(groups)
	return t
}

func domainRows(groups []GroupRow) []DomainRow {
	out := make([]DomainRow, len(groups))
	for i, g := range groups {
		out[i] = g.DomainRow
	}
	return out
}

// mergeFailures sums the groups' failures by outcome and reason.
func mergeFailures(groups []GroupRow) []ReasonStat {
	type key struct{ outcome, reason string }
	sum := make(map[key]int64)
	for _, g := range groups {
		for _, f := range g.Failures {
			sum[key{f.Outcome, f.Reason}] += f.Count
		}
	}
	out := make([]ReasonStat, 0, len(sum))
	for k, n := range sum {
		out = append(out, ReasonStat{Outcome: k.outcome, Reason: k.reason, Count: n})
	}
	sortFailures(out)
	return out
}

// examples fills Code, Enhanced and Example of the first reasons of the
// first Top domains, and of every overall failure (from the domain that
// had most of it), each from the latest exampleScan attempts: a walk of
// deliveries_domain_outcome, which carries the codes, and one table row
// for the reply text, whatever the size of the window.
func (r *reportRun) examples(domains []GroupRow, byDomain map[int64]*GroupRow, overall []ReasonStat) error {
	ids := make(map[string]int64, len(byDomain))
	for id := range byDomain {
		ids[r.domainNames[id]] = id
	}
	stmt, err := r.tx.PrepareContext(r.ctx, `SELECT code, enhanced, id
		FROM deliveries INDEXED BY deliveries_domain_outcome
		WHERE domain_id = ? AND outcome = ? AND final = ? AND reason IS ? AND time >= ? AND time < ?
		ORDER BY time DESC, id DESC LIMIT ?`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	// The reply texts are read at the end, all in one query: id -> the
	// reasons that take that attempt's reply as their example.
	examples := make(map[int64][]*ReasonStat)
	// The overall failures mostly take their example from a domain whose
	// reason was filled already.
	type filled struct {
		domain          int64
		outcome, reason string
	}
	done := make(map[filled]int64) // -> the id of the example, 0: none
	type reply struct {
		code     int
		enhanced string
	}
	var order []reply
	var counts []int
	var latest []int64 // the id of the latest attempt with each reply
	fill := func(domain int64, f *ReasonStat) error {
		fk := filled{domain, f.Outcome, f.Reason}
		if id, ok := done[fk]; ok {
			if id != 0 {
				f.Code, f.Enhanced = examples[id][0].Code, examples[id][0].Enhanced
				examples[id] = append(examples[id], f)
			}
			return nil
		}
		final := f.Outcome != OutcomeDeferred
		var reason any
		if f.Reason != "" {
			reason = f.Reason
		}
		rows, err := stmt.QueryContext(r.ctx, domain, f.Outcome, final, reason, r.lo, r.hi, exampleScan)
		if err != nil {
			return err
		}
		defer rows.Close()
		// The replies in the order they come (latest first) with their
		// counts; the scan stops once no other reply, seen or not, can
		// catch up with the commonest in the rows left.
		order, counts, latest = order[:0], counts[:0], latest[:0]
		best := -1
		for n := 1; rows.Next(); n++ {
			var code sql.NullInt64
			var enh sql.NullString
			var id int64
			if err := rows.Scan(&code, &enh, &id); err != nil {
				return err
			}
			k := reply{int(code.Int64), enh.String}
			i := slices.Index(order, k)
			if i < 0 {
				order, counts, latest = append(order, k), append(counts, 0), append(latest, id)
				i = len(order) - 1
			}
			counts[i]++
			best = 0
			for j := range counts {
				if counts[j] > counts[best] {
					best = j
				}
			}
			second := 0
			for j := range counts {
				if j != best {
					second = max(second, counts[j])
				}
			}
			if counts[best] > second+exampleScan-n {
				break
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		done[fk] = 0
		if best >= 0 {
			f.Code, f.Enhanced = order[best].code, order[best].enhanced
			examples[latest[best]] = append(examples[latest[best]], f)
			done[fk] = latest[best]
		}
		return nil
	}
	for i := range domains {
		if i >= r.extraGroups() {
			break
		}
		g := &domains[i]
		for j := range g.Failures {
			if j >= examplesPerGroup {
				break
			}
			if err := fill(ids[g.Domain], &g.Failures[j]); err != nil {
				return err
			}
		}
	}
	// Overall: from the domain with the most attempts of that kind (the
	// first in the order of domains on a tie), found in one pass.
	type kind struct{ outcome, reason string }
	bestOf := make(map[kind]*GroupRow, len(overall))
	bestN := make(map[kind]int64, len(overall))
	for j := range domains {
		for _, gf := range domains[j].Failures {
			if k := (kind{gf.Outcome, gf.Reason}); gf.Count > bestN[k] {
				bestOf[k], bestN[k] = &domains[j], gf.Count
			}
		}
	}
	for i := range overall {
		f := &overall[i]
		best := bestOf[kind{f.Outcome, f.Reason}]
		if best == nil {
			continue
		}
		f.Group = best.Domain
		if err := fill(ids[best.Domain], f); err != nil {
			return err
		}
	}
	if len(examples) == 0 {
		return nil
	}
	idList := make([]int64, 0, len(examples))
	for id := range examples {
		idList = append(idList, id)
	}
	list, err := json.Marshal(idList)
	if err != nil {
		return err
	}
	rows, err := r.tx.QueryContext(r.ctx, `SELECT id, reply FROM deliveries WHERE id IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var text sql.NullString
		if err := rows.Scan(&id, &text); err != nil {
			return err
		}
		for _, f := range examples[id] {
			f.Example = text.String
		}
	}
	return rows.Err()
}

// rejectReasons lists the rejects by reason (counted by rejectScan), each
// with its latest reply.
func (r *reportRun) rejectReasons(counts map[string]int64) ([]ReasonStat, error) {
	where, args := `time >= ? AND time < ?`, []any{r.lo, r.hi}
	if r.q.Domain != "" {
		filter, fargs := r.domainFilter()
		where += ` AND domain_id IN (` + filter + `)`
		args = append(args, fargs...)
	}
	var out []ReasonStat
	for reason, n := range counts {
		if n != 0 {
			out = append(out, ReasonStat{Outcome: "rejected", Reason: reason, Count: n})
		}
	}
	sortFailures(out)
	for i := range out {
		f := &out[i]
		var reason any
		if f.Reason != "" {
			reason = f.Reason
		}
		var code sql.NullInt64
		var enh, reply sql.NullString
		err := r.tx.QueryRowContext(r.ctx, `SELECT code, enhanced, reply FROM rejects WHERE `+where+` AND reason IS ?
			ORDER BY time DESC LIMIT 1`, append(append([]any{}, args...), reason)...).Scan(&code, &enh, &reply)
		if err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		f.Code, f.Enhanced, f.Example = int(code.Int64), enh.String, reply.String
	}
	return out, nil
}

// delays computes the delay percentiles of the delivered recipients of the
// first Top groups (the first 1000 when Top is 0; past the hundredth group with a
// tenth of the sample) from at most DelaySample of the latest of them
// each, read from deliveries_domain_outcome, which carries the delays; the
// totals from the latest 10 DelaySample deliveries of the window, read
// backwards through deliveries_time, a table row each: the samples bound
// that cost, whatever the size of the window.
func (r *reportRun) delays(groups []GroupRow, totals *GroupRow) error {
	ids := make(map[string]int64, len(r.domainNames))
	for id, name := range r.domainNames {
		ids[name] = id
	}
	stmt, err := r.tx.PrepareContext(r.ctx, `SELECT delay FROM deliveries INDEXED BY deliveries_domain_outcome
		WHERE domain_id = ? AND outcome = 'delivered' AND final = 1 AND reason IS NULL
		AND time >= ? AND time < ? AND delay IS NOT NULL
		ORDER BY time DESC, id DESC LIMIT ?`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range groups {
		g := &groups[i]
		if i >= r.extraGroups() {
			break
		}
		if g.Delivered == 0 {
			continue
		}
		limit := r.q.DelaySample
		if i >= 100 {
			limit = max(1, limit/10)
		}
		rows, err := stmt.QueryContext(r.ctx, ids[g.Domain], r.lo, r.hi, limit)
		if err != nil {
			return err
		}
		var ds []float64
		for rows.Next() {
			var d float64
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			ds = append(ds, d)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		setDelays(g, ds, len(ds) == limit)
	}
	all, _, cut, err := r.latestDelays("")
	if err != nil {
		return err
	}
	setDelays(totals, all, cut)
	if r.q.Domain != "" && len(groups) == 1 {
		// The totals are the one domain's: its row shows the same
		// figures, from the larger sample, not two estimates that differ.
		g := &groups[0]
		g.DelayMedian, g.DelayP95, g.DelayN, g.DelayEstimated = totals.DelayMedian, totals.DelayP95, totals.DelayN, totals.DelayEstimated
	}
	return nil
}

// sampledDelays computes the totals' delay percentiles as delays does, and
// those of each relay, host or sender domain (byID, by the grouping's id)
// from the same sample: every group that had a delivery among them gets
// percentiles, marked estimated when the sample holds fewer than it
// delivered.
func (r *reportRun) sampledDelays(byID map[int64]*GroupRow, totals *GroupRow) error {
	var key string
	switch r.q.By {
	case ByRelay:
		key = `ifnull(d.relay_id, 0)`
	case ByHost:
		key = `ifnull(d.host_id, 0)`
	case BySenderDomain:
		key = `ifnull((SELECT m.sender_domain_id FROM messages m WHERE m.id = d.message_ref), 0)`
	default:
		return r.delays(nil, totals)
	}
	all, per, cut, err := r.latestDelays(key)
	if err != nil {
		return err
	}
	setDelays(totals, all, cut)
	for id, ds := range per {
		if g := byID[id]; g != nil {
			setDelays(g, ds, cut)
		}
	}
	return nil
}

// latestDelays reads the delays of the latest 10 DelaySample deliveries of
// the window, backwards through deliveries_time, a table row each, and, if
// key is an SQL expression of d, splits them by its value. cut says the
// sample stopped at its limit (the window has more).
func (r *reportRun) latestDelays(key string) (all []float64, per map[int64][]float64, cut bool, err error) {
	if key == "" {
		key = "0"
	}
	where, args := r.rowFilter()
	limit := 10 * r.q.DelaySample
	rows, err := r.tx.QueryContext(r.ctx, `SELECT d.delay, `+key+` FROM deliveries d INDEXED BY deliveries_time
		WHERE `+where+` AND d.outcome = 'delivered' AND d.final = 1 AND d.delay IS NOT NULL
		ORDER BY d.time DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, nil, false, err
	}
	defer rows.Close()
	per = make(map[int64][]float64)
	for rows.Next() {
		var d float64
		var id int64
		if err := rows.Scan(&d, &id); err != nil {
			return nil, nil, false, err
		}
		all = append(all, d)
		per[id] = append(per[id], d)
	}
	return all, per, len(all) == limit, rows.Err()
}

// setDelays sets g's delay percentiles from ds (in any order), estimated
// when the sample was cut and holds fewer than g delivered.
func setDelays(g *GroupRow, ds []float64, cut bool) {
	if len(ds) == 0 {
		return
	}
	sort.Float64s(ds)
	g.DelayMedian, g.DelayP95 = quantile(ds, 0.5), quantile(ds, 0.95)
	g.DelayN = int64(len(ds))
	g.DelayEstimated = cut && int64(len(ds)) < g.Delivered
}

// quantile is the nearest-rank q-quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
