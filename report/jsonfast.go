package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
)

// The groups are most of a JSON report (thousands of domains, a few
// kilobytes each), and encoding/json's reflection and its second pass to
// indent were a fifth of a report's time. appendGroup writes a group
// exactly as json.MarshalIndent with indent "  " does, without either;
// jsonfast_test.go holds it to that.

// appendGroups appends groups as an indented JSON array whose opening
// bracket is on a line indented by prefix.
func appendGroups(b []byte, groups []jsonGroup, prefix string) ([]byte, error) {
	if groups == nil {
		return append(b, "null"...), nil
	}
	if len(groups) == 0 {
		return append(b, "[]"...), nil
	}
	in := prefix + "  "
	b = append(b, '[')
	var err error
	for i := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(b, '\n'), in...)
		if b, err = appendGroup(b, &groups[i], in); err != nil {
			return nil, err
		}
	}
	return append(append(append(b, '\n'), prefix...), ']'), nil
}

// appendGroup appends g as an indented JSON object whose opening brace is
// on a line indented by prefix.
func appendGroup(b []byte, g *jsonGroup, prefix string) ([]byte, error) {
	o := object{b: append(b, '{'), prefix: prefix}
	if g.Domain != "" {
		o.key("domain").str(g.Domain)
	}
	if g.Name != "" {
		o.key("name").str(g.Name)
	}
	o.key("messages").int(g.Messages)
	o.key("recipients").int(g.Recipients)
	o.key("delivered").int(g.Delivered)
	o.key("deferred").int(g.Deferred)
	o.key("deferred_recipients").int(g.DeferredRecipients)
	o.key("bounced").int(g.Bounced)
	o.key("expired").int(g.Expired)
	o.key("rejected").int(g.Rejected)
	o.key("reasons")
	switch {
	case g.Reasons == nil:
		o.b = append(o.b, "null"...)
	case len(g.Reasons) == 0:
		o.b = append(o.b, "{}"...)
	default:
		keys := make([]string, 0, len(g.Reasons))
		for k := range g.Reasons {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		m := object{b: append(o.b, '{'), prefix: prefix + "  "}
		for _, k := range keys {
			m.key(k).int(g.Reasons[k])
		}
		o.b = m.close()
	}
	o.key("delivery_rate").float(g.DeliveryRate)
	o.key("bounce_rate").float(g.BounceRate)
	o.key("expired_rate").float(g.ExpiredRate)
	o.key("deferral_rate").float(g.DeferralRate)
	o.key("delay_median").floatPtr(g.DelayMedian)
	o.key("delay_p95").floatPtr(g.DelayP95)
	o.key("delay_sample").int(g.DelaySample)
	if g.DelayEstimated {
		o.key("delay_estimated")
		o.b = append(o.b, "true"...)
	}
	o.key("top_reasons")
	switch {
	case g.TopReasons == nil:
		o.b = append(o.b, "null"...)
	case len(g.TopReasons) == 0:
		o.b = append(o.b, "[]"...)
	default:
		in := prefix + "    "
		o.b = append(o.b, '[')
		for i, r := range g.TopReasons {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = append(append(o.b, '\n'), in...)
			o.b = appendReason(o.b, &r, in)
		}
		o.b = append(append(append(o.b, '\n'), prefix+"  "...), ']')
	}
	return o.close(), o.err
}

// appendReason appends r as an indented JSON object, as appendGroup.
func appendReason(b []byte, r *jsonReason, prefix string) []byte {
	o := object{b: append(b, '{'), prefix: prefix}
	o.key("outcome").str(r.Outcome)
	o.key("reason").str(r.Reason)
	o.key("count").int(r.Count)
	if r.Code != 0 {
		o.key("code").int(int64(r.Code))
	}
	if r.Enhanced != "" {
		o.key("enhanced").str(r.Enhanced)
	}
	if r.Example != "" {
		o.key("example").str(r.Example)
	}
	if r.Description != "" {
		o.key("description").str(r.Description)
	}
	if r.Domain != "" {
		o.key("example_domain").str(r.Domain)
	}
	return o.close()
}

// object writes the members of an indented JSON object.
type object struct {
	b      []byte
	prefix string // of the line the object starts on
	n      int    // members so far
	err    error
}

func (o *object) key(k string) *object {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(append(append(o.b, '\n'), o.prefix...), "  "...)
	o.b = appendString(o.b, k)
	o.b = append(o.b, ": "...)
	return o
}

func (o *object) str(s string) { o.b = appendString(o.b, s) }

func (o *object) int(n int64) { o.b = strconv.AppendInt(o.b, n, 10) }

// float writes f as encoding/json does (which also refuses NaN and
// infinities).
func (o *object) float(f float64) {
	v, err := json.Marshal(f)
	if err != nil && o.err == nil {
		o.err = err
	}
	o.b = append(o.b, v...)
}

func (o *object) floatPtr(f *float64) {
	if f == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.float(*f)
}

func (o *object) close() []byte {
	if o.n == 0 {
		return append(o.b, '}')
	}
	return append(append(append(o.b, '\n'), o.prefix...), '}')
}

// appendString appends s quoted as encoding/json quotes it (with its HTML
// escapes): printable ASCII that needs no escape as it is, anything else
// through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// spliceGroups puts the groups array, as key, into the indented JSON of a
// jsonReport marshalled without it, before the member named next (the
// first of those given that is there): members of the top level, and only
// they, start a line with exactly two spaces of indentation.
func spliceGroups(report []byte, key string, groups []byte, next ...string) []byte {
	at := -1
	for _, k := range next {
		if at = bytes.Index(report, []byte("\n  \""+k+"\": ")); at >= 0 {
			break
		}
	}
	out := make([]byte, 0, len(report)+len(groups)+len(key)+16)
	out = append(out, report[:at]...) // which ends with the comma after the member before
	out = append(out, "\n  \""+key+"\": "...)
	out = append(out, groups...)
	out = append(out, ',')
	return append(out, report[at:]...)
}
