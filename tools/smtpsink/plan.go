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
	Via       string   `json:"via"` // sendmail, smtp, smtp-filter
	From      string   `json:"from"`
	Rcpts     []string `json:"rcpts"`
	BodyLines int      `json:"body_lines"`
	// MessageID, when set, is the Message-ID header the message is sent
	// with; fixed in the plan so that a message can be traced across hosts
	// (scripts/mta/chain.sh). Without it the header is made up at injection.
	MessageID string `json:"message_id,omitempty"`
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
func inject(plan []PlannedMessage, from, to int, sendmail []string, smtpAddr, filterAddr string, interval time.Duration) error {
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
			err = smtp.SendMail(filterAddr, nil, m.From, m.Rcpts, []byte(text))
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
