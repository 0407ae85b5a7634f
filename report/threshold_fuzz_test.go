package report

import (
	"math"
	"testing"
)

// FuzzParseThreshold: --fail-if takes any text; what it accepts is a known
// metric, a comparison and a rate between 0 and 1.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"bounce_rate>5%", "deferral_rate >= 0.2", "delivery_rate<90%", "expired_rate<=1", "bounce_rate>NaN", "bounce_rate>1e400%", "x>", ">5", "recipients<1", "recipients<5%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			return
		}
		switch th.Metric {
		case MetricBounce, MetricDeferral, MetricExpired, MetricDelivery:
		case MetricRecipients:
			if math.IsNaN(th.Limit) || th.Limit < 0 {
				t.Errorf("%q: count %v", s, th.Limit)
			}
			return
		default:
			t.Errorf("%q: metric %q", s, th.Metric)
		}
		switch th.Op {
		case ">", ">=", "<", "<=":
		default:
			t.Errorf("%q: op %q", s, th.Op)
		}
		if math.IsNaN(th.Limit) || th.Limit < 0 || th.Limit > 1 {
			t.Errorf("%q: limit %v", s, th.Limit)
		}
	})
}
