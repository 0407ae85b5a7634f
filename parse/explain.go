package parse

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNothingToExplain is returned by Explain when the input holds no reply
// code, no enhanced status code and no reply text that a rule recognises.
var ErrNothingToExplain = errors.New("no SMTP reply code, enhanced status code or known reply text found")

// Explanation is what `mailbounce explain` prints: the meaning of each code
// found in the input and the reason the reply would be counted under.
type Explanation struct {
	Input    string
	Reply    Reply    // codes, stage, remote host and text found in the input
	Basic    CodeInfo // zero when the input has no basic reply code
	Enhanced CodeInfo // zero when the input has no enhanced status code
	Reason   Reason   // ReasonNone for success replies
}

// Explain reads a reply code ("550"), an enhanced code ("5.7.26"), both
// ("550 5.1.1", "550-5.7.1"), a reply text, a Postfix status=... fragment or
// rejection, or a whole Postfix or Exim log line, and explains it.
func Explain(input string) (Explanation, error) {
	x := Explanation{Input: input}
	frag := replyFragment(strings.TrimSpace(input))
	if frag == "" {
		return x, ErrNothingToExplain
	}
	r := ParseReply(frag)
	if r.Code == 0 && r.Enhanced.IsZero() {
		// "Remote Server returned '550 5.4.1 ...'": codes after some prose.
		if i := codesStart(frag); i > 0 {
			if r2 := ParseReply(frag[i:]); r2.Code != 0 || !r2.Enhanced.IsZero() {
				r2.Raw = frag
				if r2.Stage == "" {
					r2.Stage = r.Stage
				}
				if r2.RemoteHost == "" {
					r2.RemoteHost, r2.RemoteAddr = r.RemoteHost, r.RemoteAddr
				}
				r = r2
			}
		}
	}
	x.Reply = r
	x.Basic = DescribeBasic(r.Code)
	x.Enhanced = DescribeEnhanced(r.Enhanced)
	if strings.HasPrefix(frag, "expired, returned to sender") {
		x.Reason = ReasonExpired
	} else {
		x.Reason = Classify(r.Code, r.Enhanced, frag)
	}
	if x.Basic.IsZero() && x.Enhanced.IsZero() && (x.Reason == ReasonNone || x.Reason == ReasonOther) {
		return x, fmt.Errorf("explain %q: %w", shorten(input, 60), ErrNothingToExplain)
	}
	return x, nil
}

// replyFragment cuts what a reply parser understands out of a log line: the
// parenthesised explanation after Postfix's "status=WORD", the text after
// Postfix's "reject: STAGE from host[addr]:", Exim's text from "SMTP error
// from remote mail server" on. Anything else is returned as it is.
func replyFragment(s string) string {
	if i := strings.Index(s, "status="); i >= 0 {
		rest := s[i+len("status="):]
		if open := strings.Index(rest, " ("); open >= 0 {
			rest = rest[open+2:]
			if end := strings.LastIndexByte(rest, ')'); end >= 0 {
				rest = rest[:end]
			}
			return rest
		}
		// "status=expired, returned to sender": no explanation.
		if sp := strings.IndexByte(rest, ','); sp >= 0 && strings.HasPrefix(rest, "expired") {
			return "expired, returned to sender"
		}
		return rest
	}
	if i := strings.Index(s, "reject: "); i >= 0 {
		rest := s[i+len("reject: "):]
		if j := strings.Index(rest, "]: "); j >= 0 && !strings.Contains(rest[:j], " said") {
			rest = rest[j+3:]
		} else if j := strings.Index(rest, ": "); j >= 0 {
			rest = rest[j+2:]
		}
		if j := strings.Index(rest, "; from=<"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	for _, p := range []string{"SMTP error from remote mail", "LMTP error after", "PRDR error after"} {
		if i := strings.Index(s, p); i >= 0 {
			return s[i:]
		}
	}
	// Exim "** addr R=router T=transport: text" and "== addr ... defer (-1): text".
	for _, flag := range []string{" ** ", " == "} {
		if i := strings.Index(s, flag); i >= 0 {
			rest := s[i+len(flag):]
			if j := strings.Index(rest, "): "); j >= 0 && strings.Contains(rest[:j], "defer (") {
				return rest[j+3:]
			}
			if j := strings.Index(rest, ": "); j >= 0 {
				return rest[j+2:]
			}
		}
	}
	return s
}

// codesStart finds the first word that starts a reply: "550", "550-5.7.1",
// "5.4.1".
func codesStart(s string) int {
	for i := 1; i < len(s); i++ {
		prev := s[i-1]
		if prev != ' ' && prev != '\'' && prev != '"' && prev != '(' && prev != ':' {
			continue
		}
		w, _ := nextWord(s, i)
		if isReplyCodeWord(w) || isEnhancedWord(w) {
			return i
		}
		if len(w) > 3 && isReplyCodeWord(w[:3]) && w[3] == ' ' {
			return i
		}
	}
	return -1
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// explainWidth keeps the block readable in an 100-column terminal.
const explainWidth = 99

// String renders the explanation as a block of text under 100 columns.
func (x Explanation) String() string {
	var b strings.Builder
	r := x.Reply
	var head []string
	if r.Code != 0 {
		head = append(head, strconv.Itoa(r.Code))
	}
	if !r.Enhanced.IsZero() {
		head = append(head, r.Enhanced.String())
	}
	verdict := classWord(r)
	if x.Reason != ReasonNone {
		verdict += ": " + strings.ReplaceAll(x.Reason.String(), "_", " ")
		// "other" says nothing of whether a retry can help.
		if x.Reason != ReasonOther {
			hs := "soft"
			if x.Reason.Hard() {
				hs = "hard"
			}
			verdict += " (" + hs + ")"
		}
	}
	if len(head) > 0 {
		b.WriteString(strings.Join(head, " ") + "  " + verdict + "\n")
	} else {
		b.WriteString(verdict + "\n")
	}
	if r.Text != "" && r.Text != x.Input && strings.TrimSpace(x.Input) != strings.Join(head, " ") {
		writeWrapped(&b, "  Reply: ", "         ", r.Text)
	}
	if r.RemoteHost != "" {
		h := r.RemoteHost
		if r.RemoteAddr != "" {
			h += " [" + r.RemoteAddr + "]"
		}
		writeWrapped(&b, "  Remote host: ", "    ", h)
	}
	if r.Stage != "" {
		writeWrapped(&b, "  Stage: ", "    ", "in reply to "+r.Stage)
	}
	if !x.Basic.IsZero() {
		meaning := x.Basic.Meaning
		if meaning == "" {
			meaning = "not defined by RFC 5321"
		}
		writeWrapped(&b, "  Basic code "+x.Basic.Code+": ", "    ", meaning)
		for i, d := range x.Basic.Digits {
			writeWrapped(&b, "    "+x.Basic.Code[i:i+1]+"  ", "       ", d)
		}
	}
	if !x.Enhanced.IsZero() {
		e := r.Enhanced
		writeWrapped(&b, "  Enhanced code "+x.Enhanced.Code+": ", "    ", x.Enhanced.Meaning)
		labels := [3]string{
			"class " + strconv.Itoa(int(e.Class)),
			"subject " + strconv.Itoa(int(e.Subject)),
			"detail " + strconv.Itoa(int(e.Detail)),
		}
		w := 0
		for _, l := range labels {
			w = max(w, len(l))
		}
		for i, l := range labels {
			pad := "    " + l + strings.Repeat(" ", w-len(l)+2)
			writeWrapped(&b, pad, strings.Repeat(" ", len(pad)+2), x.Enhanced.Digits[i])
		}
	}
	if x.Reason != ReasonNone {
		desc := x.Reason.String() + ": " + x.Reason.Description()
		if x.Reason != ReasonOther {
			// What the "(hard)" or "(soft)" of the first line means.
			if x.Reason.Hard() {
				desc += " Hard: sending the same message to this address again will not help."
			} else {
				desc += " Soft: it may get through later, or changed, or from elsewhere."
			}
		}
		writeWrapped(&b, "  Reason: ", "    ", desc)
	}
	causes, advice := x.Enhanced.Causes, x.Enhanced.Advice
	if causes == "" || strings.HasPrefix(x.Enhanced.Meaning, "Unregistered") && x.Basic.Causes != "" {
		causes, advice = x.Basic.Causes, x.Basic.Advice
	}
	if causes == "" && x.Reason != ReasonNone {
		causes = x.Reason.Description()
	}
	// Where the reason says more than the code's generic text (4.7.1 is
	// also a blocklisting), the reason's own advice.
	if a, ok := reasonAdvice[x.Reason]; ok {
		causes, advice = a[0], a[1]
	}
	if causes != "" {
		writeWrapped(&b, "  Usually: ", "    ", causes)
	}
	if advice != "" {
		writeWrapped(&b, "  What to do: ", "    ", advice)
	}
	return b.String()
}

var reasonAdvice = map[Reason][2]string{
	ReasonGreylisted: {"The receiver refuses the first attempt from an unknown sender, client and recipient triple, and accepts a retry after a few minutes.",
		"Nothing: the queue retries and the message goes through. If it never does, the sending IP changes between retries (a pool of outgoing servers) or the retry comes too soon."},
	ReasonRateLimited: {"The receiver limits how much mail it takes from the sending IP or domain in a period.",
		"Nothing at once: the queue retries later. If it persists, send more slowly to that domain (Postfix: a transport with a lower destination_rate_delay or concurrency), check the sender's reputation."},
}

// classWord names what the first digit (or the enhanced class) says.
func classWord(r Reply) string {
	c := r.Code / 100
	if c == 0 {
		c = int(r.Enhanced.Class)
	}
	switch c {
	case 2:
		return "success"
	case 3:
		return "intermediate reply"
	case 4:
		return "temporary failure"
	case 5:
		return "permanent failure"
	}
	return "failure"
}

// writeWrapped writes first+text, folding at explainWidth; continuation
// lines start with indent.
func writeWrapped(b *strings.Builder, first, indent, text string) {
	line := first
	lineHasWord := false
	for _, w := range strings.Fields(text) {
		if lineHasWord && len(line)+1+len(w) > explainWidth {
			b.WriteString(line + "\n")
			line, lineHasWord = indent, false
		}
		if lineHasWord {
			line += " "
		}
		if len(line)+len(w) > explainWidth && len(w) > explainWidth-len(indent) {
			w = w[:max(explainWidth-len(line), 10)] // an over-long URL
		}
		line += w
		lineHasWord = true
	}
	b.WriteString(line + "\n")
}
