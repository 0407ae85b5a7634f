package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/smtp"
	"os"
	"os/exec"
	"strings"
	"time"
)

// PlannedMessage is one message to inject. The plan, written before any MTA
// runs, says which recipient got which behaviour.
type PlannedMessage struct {
	ID        string   `json:"id"`
	Via       string   `json:"via"` // sendmail, smtp, smtp-filter, pipe-filter
	From      string   `json:"from"`
	Rcpts     []string `json:"rcpts"`
	BodyLines int      `json:"body_lines"`
	// MessageID, when set, is the Message-ID header the message is sent
	// with; fixed in the plan so that a message can be traced across hosts
	// (scripts/mta/chain.sh). Without it the header is made up at injection.
	MessageID string `json:"message_id,omitempty"`
	// AdminDelete: once the message sits in the deferred queue, the
	// harness deletes it with "postsuper -d QUEUEID deferred" (postfix.sh).
	// Its recipients still pending then are neither delivered, bounced nor
	// expired (see computeExpected).
	AdminDelete bool `json:"admin_delete,omitempty"`
}

// Vias, the injection paths:
//
//	sendmail     the MTA's sendmail(1)
//	smtp         SMTP to the MTA's port 25 (-smtp)
//	smtp-filter  SMTP to a port whose content filter is an SMTP hop that
//	             re-injects (amavis style; -filter)
//	pipe-filter  SMTP to a port whose content filter is a pipe(8) service
//	             that re-injects with sendmail(1), one run per recipient
//	             (spamassassin's "spamc | sendmail" style; -pipe-filter)
var knownVias = map[string]bool{"sendmail": true, "smtp": true, "smtp-filter": true, "pipe-filter": true}

// alwaysDeferred tells a recipient that the sink never accepts nor refuses
// for good: its message stays in the queue until the MTA gives up.
func alwaysDeferred(rcpt string) bool {
	local, domain := splitAddress(strings.ToLower(rcpt))
	d, ok := domainByName(domain)
	if !ok {
		return false
	}
	switch d.Profile {
	case ProfileGreet421, ProfileHangup, ProfileDropData, ProfileSlow, ProfileTLSBroken, ProfileRefused:
		return true
	case ProfileSMTP, ProfileLMTP:
		action, _, _ := strings.Cut(local, "-")
		switch action {
		case "temp450", "temp452", "temp454", "temp455":
			return true
		}
	}
	return false
}

// markAdminDeletes flags n messages, spread evenly over plan[from:], for
// deletion by the admin while deferred (postfix.sh passes the second half:
// the messages it submits after its reload). Only messages with one queue id
// (via sendmail or smtp, found in the queue by their sender) and at least
// one recipient that is always deferred qualify, so that each one is sure
// to sit in the deferred queue when the harness looks for it. No random
// draws: the rest of the plan is as without the flag.
func markAdminDeletes(plan []PlannedMessage, n, from int) error {
	var eligible []int
	for i, m := range plan {
		if i < from || m.Via != "sendmail" && m.Via != "smtp" {
			continue
		}
		for _, rc := range m.Rcpts {
			if alwaysDeferred(rc) {
				eligible = append(eligible, i)
				break
			}
		}
	}
	if n > len(eligible) {
		// A short trial plan (MESSAGES=40) may not have that many.
		fmt.Fprintf(os.Stderr, "smtpsink plan: admin-delete: %d messages wanted, only %d qualify\n", n, len(eligible))
		n = len(eligible)
	}
	if n <= 0 {
		return nil
	}
	for k := 0; k < n; k++ {
		// The middle of each of n equal slices of the eligible messages.
		plan[eligible[(2*k+1)*len(eligible)/(2*n)]].AdminDelete = true
	}
	return nil
}

func pickWeighted[T any](r *rand.Rand, items []T, weight func(T) int) T {
	total := 0
	for _, it := range items {
		total += weight(it)
	}
	n := r.IntN(total)
	for _, it := range items {
		if n -= weight(it); n < 0 {
			return it
		}
	}
	return items[len(items)-1]
}

// makePlan draws n messages. prefix ("p" or "e") keeps the two MTAs'
// addresses apart; vias are the injection paths the MTA offers. A non-empty
// msgidDomain gives every message a fixed Message-ID <ID@msgidDomain>.
func makePlan(n int, seed uint64, prefix string, vias []string, msgidDomain string) []PlannedMessage {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var plan []PlannedMessage
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s%04d", prefix, i)
		var count int
		switch x := r.IntN(100); {
		case x < 40:
			count = 1
		case x < 75:
			count = 2 + r.IntN(2)
		default:
			count = 4 + r.IntN(5)
		}
		m := PlannedMessage{
			ID:        id,
			Via:       vias[r.IntN(len(vias))],
			From:      "dsnbox+" + id + "@" + dsnDomain,
			BodyLines: 5 + r.IntN(60),
		}
		if msgidDomain != "" {
			m.MessageID = "<" + id + "@" + msgidDomain + ">"
		}
		used := map[string]bool{}
		for k := 1; len(m.Rcpts) < count && k < 50; k++ {
			d := pickWeighted(r, domains, func(d Domain) int { return d.Weight })
			if d.OnePerMessage && used[d.Name] {
				continue
			}
			used[d.Name] = true
			a := pickWeighted(r, d.Actions, func(a weightedAction) int { return a.Weight })
			sep := "-"
			if d.Profile == ProfileLocal {
				sep = "+" // the local part must stay a real user name
			}
			m.Rcpts = append(m.Rcpts, fmt.Sprintf("%s%s%s-%d@%s", a.Action, sep, id, len(m.Rcpts)+1, d.Name))
		}
		plan = append(plan, m)
	}
	return plan
}

func writePlan(path string, plan []PlannedMessage) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create plan: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, m := range plan {
		if err := enc.Encode(m); err != nil {
			f.Close()
			return fmt.Errorf("write plan: %w", err)
		}
	}
	return f.Close()
}

func readPlan(path string) ([]PlannedMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open plan: %w", err)
	}
	defer f.Close()
	var plan []PlannedMessage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m PlannedMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("plan line %d: %w", len(plan)+1, err)
		}
		plan = append(plan, m)
	}
	return plan, sc.Err()
}

func messageText(m PlannedMessage, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mailbounce Test <%s>\r\n", m.From)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(m.Rcpts, ",\r\n\t"))
	fmt.Fprintf(&b, "Subject: mailbounce test message %s\r\n", m.ID)
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	if m.MessageID != "" {
		fmt.Fprintf(&b, "Message-ID: %s\r\n", m.MessageID)
	} else {
		fmt.Fprintf(&b, "Message-ID: <%s.%d@mailbounce.test>\r\n", m.ID, now.Unix())
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for i := 0; i < m.BodyLines; i++ {
		fmt.Fprintf(&b, "Line %03d of test message %s. The quick brown fox jumps over the lazy dog.\r\n", i+1, m.ID)
	}
	return b.String()
}

// inject submits plan[from:to] through the paths named in each message.
func inject(plan []PlannedMessage, from, to int, sendmail []string, smtpAddr, filterAddr, pipeFilterAddr string, interval time.Duration) error {
	if to > len(plan) || to <= 0 {
		to = len(plan)
	}
	for i := from; i < to; i++ {
		m := plan[i]
		text := messageText(m, time.Now())
		var err error
		switch m.Via {
		case "sendmail":
			args := append(append([]string{}, sendmail[1:]...), "-f", m.From)
			args = append(args, m.Rcpts...)
			cmd := exec.Command(sendmail[0], args...)
			cmd.Stdin = strings.NewReader(strings.ReplaceAll(text, "\r\n", "\n"))
			out, cerr := cmd.CombinedOutput()
			if cerr != nil {
				err = fmt.Errorf("%v: %s", cerr, out)
			}
		case "smtp":
			err = smtp.SendMail(smtpAddr, nil, m.From, m.Rcpts, []byte(text))
		case "smtp-filter":
			if filterAddr == "" {
				return fmt.Errorf("inject %s: via smtp-filter needs -filter", m.ID)
			}
			err = smtp.SendMail(filterAddr, nil, m.From, m.Rcpts, []byte(text))
		case "pipe-filter":
			if pipeFilterAddr == "" {
				return fmt.Errorf("inject %s: via pipe-filter needs -pipe-filter", m.ID)
			}
			err = smtp.SendMail(pipeFilterAddr, nil, m.From, m.Rcpts, []byte(text))
		default:
			err = fmt.Errorf("unknown via %q", m.Via)
		}
		if err != nil {
			return fmt.Errorf("inject %s: %w", m.ID, err)
		}
		time.Sleep(interval)
	}
	return nil
}
