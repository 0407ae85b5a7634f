package parse

import (
	"strings"
	"testing"
)

func TestDescribeBasic(t *testing.T) {
	for _, code := range []int{250, 251, 252, 354, 421, 450, 451, 452, 454, 455, 500, 501, 502, 503, 504,
		521, 530, 534, 535, 550, 551, 552, 553, 554, 555, 556} {
		ci := DescribeBasic(code)
		if ci.Meaning == "" || ci.Causes == "" || ci.Advice == "" {
			t.Errorf("%d: incomplete %+v", code, ci)
		}
		for i, d := range ci.Digits {
			if d == "" {
				t.Errorf("%d: digit %d has no meaning", code, i)
			}
		}
	}
	if ci := DescribeBasic(550); !strings.Contains(ci.Meaning, "mailbox unavailable") ||
		!strings.HasPrefix(ci.Digits[0], "permanent negative") || !strings.HasPrefix(ci.Digits[1], "mail system") {
		t.Errorf("550: %+v", ci)
	}
	if ci := DescribeBasic(421); !strings.HasPrefix(ci.Digits[0], "transient negative") || !strings.HasPrefix(ci.Digits[1], "connections") {
		t.Errorf("421: %+v", ci)
	}
	// Unregistered: explained by its digits.
	ci := DescribeBasic(599)
	if ci.Code != "599" || ci.Meaning != "" || ci.Digits[0] == "" || ci.Advice == "" {
		t.Errorf("599: %+v", ci)
	}
	if ci := DescribeBasic(475); ci.Digits[1] != "not defined by RFC 5321" {
		t.Errorf("475: %+v", ci)
	}
	for _, bad := range []int{0, 99, 199, 600, 1000} {
		if !DescribeBasic(bad).IsZero() {
			t.Errorf("%d: want zero", bad)
		}
	}
}

func TestDescribeEnhanced(t *testing.T) {
	for _, c := range []struct {
		code, meaning string
	}{
		{"5.1.1", "Bad destination mailbox address"},
		{"5.1.10", "Recipient address has null MX"},
		{"4.2.2", "Mailbox full"},
		{"5.3.4", "Message too big for system"},
		{"4.4.7", "Delivery time expired"},
		{"5.5.3", "Too many recipients"},
		{"5.6.9", "UTF-8 header message cannot be transferred to one or more recipients, so the message must be rejected"},
		{"5.7.1", "Delivery not authorized, message refused"},
		{"5.7.23", "SPF validation failed"},
		{"5.7.25", "Reverse DNS validation failed"},
		{"5.7.26", "Multiple authentication checks failed"},
		{"5.7.27", "Sender address has null MX"},
		{"4.7.28", "Mail flood detected"},
		{"5.7.30", "REQUIRETLS support required"},
		{"2.0.0", "Other undefined Status"},
		{"5.7.606", "Access denied, banned sending IP (Microsoft)"},
		{"5.9.9", "Unregistered detail code (provider-specific)"},
		{"5.1.99", "Unregistered detail code (provider-specific)"},
	} {
		e, n := ParseEnhanced(c.code)
		if n != len(c.code) {
			t.Fatalf("bad code %q", c.code)
		}
		ci := DescribeEnhanced(e)
		if ci.Code != c.code || ci.Meaning != c.meaning {
			t.Errorf("%s: %q, want %q", c.code, ci.Meaning, c.meaning)
		}
		if ci.Digits[0] == "" || ci.Digits[1] == "" || ci.Digits[2] == "" || ci.Advice == "" {
			t.Errorf("%s: incomplete %+v", c.code, ci)
		}
	}
	// Every registered detail of subjects 1-7 is present.
	want := map[int]int{1: 10, 2: 4, 3: 6, 4: 7, 5: 6, 6: 10, 7: 30}
	for subj, last := range want {
		for d := 0; d <= last; d++ {
			if _, ok := enhancedDetails[subj*1000+d]; !ok {
				t.Errorf("X.%d.%d missing", subj, d)
			}
		}
	}
	if !DescribeEnhanced(EnhancedStatus{}).IsZero() || !DescribeEnhanced(EnhancedStatus{Class: 3}).IsZero() {
		t.Error("class 0 or 3 should give a zero CodeInfo")
	}
	if ci := DescribeEnhanced(EnhancedStatus{Class: 4, Subject: 2, Detail: 2}); !strings.Contains(ci.Advice, "retries") {
		t.Errorf("4.2.2 advice should say it is retried: %q", ci.Advice)
	}
}
