package parse

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestParseFloat: delays as Postfix and Exim write them read as the same
// float64 as strconv.ParseFloat gives, so that "0.49" is 0.49 and not
// 0.4899999999999999.
func TestParseFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []string{"0", "0.49", "0.48", "0.1", "2071", "2071.5", "0.00001", "432000", "12.", "1234567890.12345", "12345678901234567.5"}
	for range 10000 {
		cases = append(cases, fmt.Sprintf("%d.%0*d", rng.IntN(100000), 1+rng.IntN(4), rng.IntN(10000)))
	}
	for _, s := range cases {
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			want, _ = strconv.ParseFloat(s[:len(s)-1], 64) // "12."
		}
		if got := parseFloat(s); got != want {
			t.Errorf("parseFloat(%q) = %v, want %v", s, got, want)
		}
	}
	if got := parseFloat("x"); got != -1 {
		t.Errorf("parseFloat(x) = %v, want -1", got)
	}
	if got := parseFloat("0.48/0.01"); got != 0.48 {
		t.Errorf("parseFloat stops at the first non-digit: got %v", got)
	}
}
