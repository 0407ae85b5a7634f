package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Outcome is a recipient's final fate.
type Outcome string

const (
	OutcomeDelivered Outcome = "delivered"
	OutcomeBounced   Outcome = "bounced"
	OutcomeExpired   Outcome = "expired"
	// OutcomeDeleted: still deferred when the admin deleted the message
	// from the queue (postsuper -d). No outcome column counts it: like a
	// recipient still waiting, it counts in recipients, deferred and
	// deferred_recipients only.
	OutcomeDeleted Outcome = "deleted"
)

// RecipientTruth is what happened to one planned recipient, from the journal
// (or, for local delivery, from the plan and the mailbox files).
type RecipientTruth struct {
	Message   string  `json:"message"`
	Rcpt      string  `json:"rcpt"`
	Domain    string  `json:"domain"`
	Outcome   Outcome `json:"outcome"`
	Deferrals *int    `json:"deferrals,omitempty"` // nil where not knowable
	LastCode  int     `json:"last_code,omitempty"`
	LastText  string  `json:"last_text,omitempty"`
}

func readJournal(path string) ([]JournalEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	var out []JournalEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e JournalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("journal line %d: %w", len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// countMbox counts messages in an mbox file by their "From " separator lines
// (local delivery quotes body lines that start with "From ").
func countMbox(path string) (int, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open mailbox: %w", err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "From ") {
			n++
		}
	}
	return n, sc.Err()
}

// mboxRecipients lists the planned local recipients found in a mailbox
// (Delivered-To / Envelope-to headers), so local truth is checked against
// what actually arrived.
func mboxHeaderValues(path, header string) (map[string]int, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]int{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open mailbox: %w", err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	prefix := strings.ToLower(header) + ":"
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(strings.ToLower(l), prefix) {
			out[strings.ToLower(strings.TrimSpace(l[len(prefix):]))]++
		}
	}
	return out, sc.Err()
}

type expectation struct {
	Domains map[string]map[string]int `json:"domains"`
}

// computeExpected applies the truth rules documented in scripts/mta/README.md.
func computeExpected(plan []PlannedMessage, journal []JournalEntry, mboxDir, deliveredHeader string, warn io.Writer) (expectation, []RecipientTruth, error) {
	byRcpt := map[string][]JournalEntry{}
	connections := map[Profile]int{}
	planned := map[string]bool{}
	for _, e := range journal {
		if e.Rcpt != "" {
			byRcpt[e.Rcpt] = append(byRcpt[e.Rcpt], e)
		}
		switch Profile(e.Profile) {
		case ProfileHangup, ProfileGreet421:
			if e.Stage == "connect" {
				connections[Profile(e.Profile)]++
			}
		case ProfileTLSBroken:
			if e.Stage == "connect" {
				connections[ProfileTLSBroken]++
			}
			if e.Stage == "mail" {
				fmt.Fprintf(warn, "warning: MTA sent MAIL FROM without TLS on the tls-broken listener (session %s)\n", e.Session)
			}
		}
	}

	delivered, err := mboxHeaderValues(filepath.Join(mboxDir, "mbtest"), deliveredHeader)
	if err != nil {
		return expectation{}, nil, err
	}

	var truths []RecipientTruth
	oneConnPerAttempt := map[string]int{} // domain -> planned recipients
	for _, m := range plan {
		deleted := 0
		for _, rc := range m.Rcpts {
			rc = strings.ToLower(rc)
			planned[rc] = true
			local, domain := splitAddress(rc)
			d, ok := domainByName(domain)
			if !ok {
				return expectation{}, nil, fmt.Errorf("plan %s: unknown domain %q", m.ID, domain)
			}
			t := RecipientTruth{Message: m.ID, Rcpt: rc, Domain: domain}
			zero := 0
			switch d.Profile {
			case ProfileLocal:
				t.Deferrals = &zero
				if user, _, _ := strings.Cut(local, "+"); user == "mbtest" {
					t.Outcome = OutcomeDelivered
					if delivered[rc] != 1 {
						fmt.Fprintf(warn, "warning: %s planned for local delivery, found %d times in the mailbox\n", rc, delivered[rc])
					}
				} else {
					t.Outcome = OutcomeBounced
				}
			case ProfileHangup, ProfileGreet421, ProfileTLSBroken, ProfileRefused:
				// Every attempt fails before MAIL FROM, so the recipient is
				// deferred until the MTA gives up. Attempts are counted per
				// domain from the connections (one recipient per message).
				t.Outcome = OutcomeExpired
				oneConnPerAttempt[domain]++
			default:
				n := 0
				t.Outcome = ""
				for _, e := range byRcpt[rc] {
					switch {
					case e.Stage == "rcpt" && e.Code/100 == 4,
						e.Stage == "data" && (e.Code/100 == 4 || e.Code == 0):
						n++
						t.Outcome = OutcomeExpired
					case e.Stage == "rcpt" && e.Code/100 == 5,
						e.Stage == "data" && e.Code/100 == 5:
						t.Outcome = OutcomeBounced
					case e.Stage == "data" && e.Code/100 == 2:
						t.Outcome = OutcomeDelivered
					default:
						continue
					}
					t.LastCode, t.LastText = e.Code, e.Text
					if e.Event != "" {
						t.LastText = e.Event
					}
				}
				t.Deferrals = &n
				if t.Outcome == "" {
					fmt.Fprintf(warn, "warning: %s (%s) never reached a final answer in the journal\n", rc, m.ID)
					t.Outcome = "unknown"
				}
			}
			if m.AdminDelete && t.Outcome == OutcomeExpired {
				// Only ever deferred until the admin deleted the message:
				// the MTA never gave up on it.
				t.Outcome = OutcomeDeleted
				deleted++
			}
			truths = append(truths, t)
		}
		if m.AdminDelete && deleted == 0 {
			fmt.Fprintf(warn, "warning: %s was planned for deletion while deferred, but no recipient was still deferred\n", m.ID)
		}
	}
	for rc := range byRcpt {
		if !planned[rc] {
			fmt.Fprintf(warn, "warning: journal has recipient %s that is not in the plan\n", rc)
		}
	}

	exp := expectation{Domains: map[string]map[string]int{}}
	for _, t := range truths {
		c := exp.Domains[t.Domain]
		if c == nil {
			c = map[string]int{"recipients": 0, "delivered": 0, "bounced": 0, "expired": 0, "deferred": 0, "deferred_recipients": 0}
			exp.Domains[t.Domain] = c
		}
		c["recipients"]++
		if t.Outcome != OutcomeDeleted {
			c[string(t.Outcome)]++
		}
		if t.Deferrals != nil {
			c["deferred"] += *t.Deferrals
			if *t.Deferrals > 0 {
				c["deferred_recipients"]++
			}
		} else {
			c["deferred_recipients"]++
		}
	}
	for domain := range oneConnPerAttempt {
		d, _ := domainByName(domain)
		if d.Profile == ProfileRefused {
			// Nothing listens: the number of attempts is not observable.
			delete(exp.Domains[domain], "deferred")
			continue
		}
		exp.Domains[domain]["deferred"] = connections[d.Profile]
	}

	// The MTA's own bounce messages, counted from the mailbox they land in.
	dsn, err := countMbox(filepath.Join(mboxDir, "dsnbox"))
	if err != nil {
		return expectation{}, nil, err
	}
	exp.Domains[dsnDomain] = map[string]int{"recipients": dsn, "delivered": dsn, "bounced": 0, "expired": 0, "deferred": 0, "deferred_recipients": 0}

	sort.Slice(truths, func(i, j int) bool { return truths[i].Rcpt < truths[j].Rcpt })
	return exp, truths, nil
}
