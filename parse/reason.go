package parse

import (
	"bytes"
	"slices"
	"strings"
	"sync"
)

// Reason is why a delivery attempt failed, in the spirit of Sisimai's bounce
// reasons: one small closed set that reports can count and compare across
// MTAs and providers. The names returned by String are a public interface
// (JSON keys, database values): they are never renamed, and new reasons are
// only ever appended.
type Reason uint8

// ReasonNone means "not a failure" or "not classified".
const ReasonNone Reason = 0

// The order of these constants is the order of AllReasons and of
// docs/reasons.md; the numeric values may be stored, so append only.
const (
	ReasonUserUnknown Reason = iota + 1
	ReasonMailboxDisabled
	ReasonHasMoved
	ReasonMailboxFull
	ReasonMessageTooBig
	ReasonHostUnknown
	ReasonNotAccept
	ReasonNetworkError
	ReasonTLSFailure
	ReasonMailLoop
	ReasonBlocked
	ReasonBadReputation
	ReasonReverseDNS
	ReasonSpamDetected
	ReasonVirus
	ReasonPolicy
	ReasonContentError
	ReasonRateLimited
	ReasonTooManyConnections
	ReasonTooManyRecipients
	ReasonGreylisted
	ReasonAuthRequired
	ReasonRelayDenied
	ReasonSenderRejected
	ReasonAuthFailure
	ReasonSPFFailure
	ReasonDKIMFailure
	ReasonDMARCFailure
	ReasonSyntaxError
	ReasonProtocolError
	ReasonSystemError
	ReasonSystemFull
	ReasonExpired
	ReasonSuppressed
	ReasonOther

	reasonCount // one past the last reason
)

type reasonInfo struct {
	name string
	hard bool
	desc string
}

// Hard means: the failure is a property of the address, its domain or the
// message itself, so sending the same message to the same address again
// will not succeed until someone changes something. Soft failures depend on
// the moment, on reputation or on configuration that usually changes on its
// own or after a request.
var reasonInfos = [reasonCount]reasonInfo{
	ReasonNone:               {"", false, "not a failure, or not classified"},
	ReasonUserUnknown:        {"user_unknown", true, "The recipient mailbox does not exist at the destination."},
	ReasonMailboxDisabled:    {"mailbox_disabled", true, "The recipient mailbox exists but is disabled, suspended or inactive."},
	ReasonHasMoved:           {"has_moved", true, "The recipient has moved away; the address is no longer in use."},
	ReasonMailboxFull:        {"mailbox_full", false, "The recipient mailbox is over its quota."},
	ReasonMessageTooBig:      {"message_too_big", true, "The message is larger than the destination accepts."},
	ReasonHostUnknown:        {"host_unknown", true, "The recipient domain or its mail exchanger does not exist in DNS."},
	ReasonNotAccept:          {"not_accept", true, "The recipient domain does not accept mail at all (null MX, 521, 556)."},
	ReasonNetworkError:       {"network_error", false, "The connection failed: refused, timed out, lost, no route, or a DNS lookup did not complete."},
	ReasonTLSFailure:         {"tls_failure", false, "TLS was required but not offered, or the TLS handshake or certificate check failed."},
	ReasonMailLoop:           {"mail_loop", true, "The message loops between hosts or aliases, or the destination points back to this server."},
	ReasonBlocked:            {"blocked", false, "The sending IP address, HELO name or domain is on a blocklist or was refused by the receiver."},
	ReasonBadReputation:      {"bad_reputation", false, "The receiver refused or throttled the mail because of the sending IP or domain's reputation."},
	ReasonReverseDNS:         {"reverse_dns", false, "The sending IP address has no valid reverse DNS (PTR) name, or it does not match."},
	ReasonSpamDetected:       {"spam_detected", false, "The receiver's filter judged the message to be spam."},
	ReasonVirus:              {"virus", true, "The receiver found a virus or malware in the message."},
	ReasonPolicy:             {"policy", false, "The receiver refused the message under a local policy that is not about spam."},
	ReasonContentError:       {"content_error", true, "The message is malformed: bad headers, 8-bit data, encoding or MIME problems."},
	ReasonRateLimited:        {"rate_limited", false, "The receiver throttles this sender: too many messages too fast, or too many complaints."},
	ReasonTooManyConnections: {"too_many_connections", false, "The receiver refused the connection: too many connections or sessions from this sender."},
	ReasonTooManyRecipients:  {"too_many_recipients", false, "Too many recipients in one transaction; the rest are retried separately."},
	ReasonGreylisted:         {"greylisted", false, "The receiver greylisted the message: it will be accepted on a later retry."},
	ReasonAuthRequired:       {"auth_required", false, "The server requires SMTP authentication, or refused the credentials given."},
	ReasonRelayDenied:        {"relay_denied", true, "The receiving host does not accept mail for this domain (relay access denied)."},
	ReasonSenderRejected:     {"sender_rejected", false, "The receiver refused the envelope sender address or its domain."},
	ReasonAuthFailure:        {"auth_failure", false, "The message failed sender authentication (SPF, DKIM or DMARC, or several of them)."},
	ReasonSPFFailure:         {"spf_failure", false, "The sending IP address is not permitted by the sender domain's SPF record."},
	ReasonDKIMFailure:        {"dkim_failure", false, "The message has no valid or acceptable DKIM signature."},
	ReasonDMARCFailure:       {"dmarc_failure", false, "The message failed the sender domain's DMARC policy."},
	ReasonSyntaxError:        {"syntax_error", true, "A command or address was syntactically wrong (5.5.x, 500, 501, bad address syntax)."},
	ReasonProtocolError:      {"protocol_error", false, "The SMTP conversation went wrong: bad command sequence, pipelining, unsupported command."},
	ReasonSystemError:        {"system_error", false, "A system error or misconfiguration on the receiving or the local side."},
	ReasonSystemFull:         {"system_full", false, "The receiving system is out of disk or queue space."},
	ReasonExpired:            {"expired", false, "Delivery was given up after retrying for the maximum time; the last error was temporary."},
	ReasonSuppressed:         {"suppressed", true, "The address is on a suppression or do-not-send list, so no delivery was tried."},
	ReasonOther:              {"other", false, "A failure that no rule recognises."},
}

// String returns the stable snake_case name, "" for ReasonNone.
func (r Reason) String() string {
	if r < reasonCount {
		return reasonInfos[r].name
	}
	return ""
}

// Hard reports whether the failure is permanent by nature: retrying the same
// message to the same address will not help.
func (r Reason) Hard() bool {
	if r < reasonCount {
		return reasonInfos[r].hard
	}
	return false
}

// Description is one plain-English line for people.
func (r Reason) Description() string {
	if r < reasonCount {
		return reasonInfos[r].desc
	}
	return ""
}

// MarshalText makes a Reason a JSON string (its name) rather than a number.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// ParseReason is the inverse of Reason.String. The empty name is not a
// reason: it returns ReasonNone and false.
func ParseReason(name string) (Reason, bool) {
	for r := Reason(1); r < reasonCount; r++ {
		if reasonInfos[r].name == name {
			return r, true
		}
	}
	return ReasonNone, false
}

// AllReasons returns every reason except ReasonNone, in documentation order.
func AllReasons() []Reason {
	rs := make([]Reason, 0, reasonCount-1)
	for r := Reason(1); r < reasonCount; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Classify decides why a failed attempt failed, from the basic reply code,
// the enhanced status code and the reply text (the whole explanation as
// Postfix or Exim logged it is fine: host names, addresses and reply-code
// prefixes of continuation lines are skipped). In order, it trusts:
// distinctive texts (provider messages, Postfix's and Exim's own
// explanations); then a specific enhanced code; then generic wording; then
// a vague enhanced code (X.0.0, X.7.0, X.7.1...); then the basic code.
//
// It is called once per failed attempt on the parsing hot path: the text is
// lowered into a stack buffer once and the rules are plain substring tests,
// most of them ruled out by a bigram bitmap before any search.
func Classify(code int, enh EnhancedStatus, text string) Reason {
	if (code >= 200 && code < 400) || enh.Class == 2 {
		return ReasonNone
	}
	// Postfix's "host mx[192.0.2.1] refused to talk to me: 450 ..." is its
	// own framing of a greeting refused, not the server refusing us: the
	// reply after it says why.
	if i := strings.Index(text, " refused to talk to me: "); i >= 0 {
		text = text[:i] + " said in the initial server greeting: " + text[i+len(" refused to talk to me: "):]
	}
	// A stack array would escape through normalizeReply's append; a pooled
	// buffer costs no allocation once warm. The key of the cache is what
	// the reason depends on: the code, the enhanced code, and the
	// normalised text, after a header of classifyKeyLen bytes.
	pooled := textPool.Get().(*[]byte)
	empty := byte(0)
	if text == "" {
		empty = 1
	}
	buf := append((*pooled)[:0], byte(code>>8), byte(code), enh.Class, byte(enh.Subject>>8), byte(enh.Subject),
		byte(enh.Detail>>8), byte(enh.Detail), empty)
	buf = normalizeReply(buf, text)
	cacheable := code >= 0 && code <= 0xffff && len(buf) <= classifyKeyMax
	var r Reason
	ok := false
	if cacheable {
		classifyCache.RLock()
		r, ok = classifyCache.m[string(buf)]
		classifyCache.RUnlock()
	}
	if !ok {
		r = classify(code, enh, text, buf[classifyKeyLen:])
		if cacheable {
			classifyCache.Lock()
			if len(classifyCache.m) >= classifyCacheMax {
				clear(classifyCache.m)
			}
			classifyCache.m[string(buf)] = r
			classifyCache.Unlock()
		}
	}
	*pooled = buf[:0]
	textPool.Put(pooled)
	return r
}

// classifyCache remembers the reasons of the replies seen: a log repeats
// the same failures, addresses and host names (which normalising drops)
// aside, hundreds of thousands of times. It is emptied when full.
var classifyCache = struct {
	sync.RWMutex
	m map[string]Reason
}{m: make(map[string]Reason)}

const (
	classifyKeyLen   = 8
	classifyCacheMax = 4096
	// classifyKeyMax bounds the cache's memory (a line may be 1 MB long):
	// longer replies are classified every time.
	classifyKeyMax = 1024
)

// classify is Classify without the cache, given the normalised text.
func classify(code int, enh EnhancedStatus, text string, buf []byte) Reason {
	// The Perl policyd-spf's reject says only "Please see
	// http://www.openspf.net/Why?s=mfrom;id=a@b...": the link holds an
	// address, so normalising drops it with the rest of the token.
	if strings.Contains(text, "openspf.") && (strings.Contains(text, "openspf.net/Why") || strings.Contains(text, "openspf.org/Why")) {
		return ReasonSPFFailure
	}
	var seen bigramSet
	seen.fill(buf)

	strong, weak := ReasonNone, ReasonNone
	for i := range replyRules {
		rl := &replyRules[i]
		if rl.weak && weak != ReasonNone {
			continue
		}
		if !rl.match(buf, &seen) {
			continue
		}
		if !rl.weak {
			strong = rl.reason
			break
		}
		weak = rl.reason
	}
	st := stageHint(buf)
	// Exim's "Unrouteable address" is its own routing failure (no DNS for
	// the domain) when it logs it without a code; from a remote server, as
	// a 5xx reply, it is that server refusing an address it is
	// authoritative for: an unknown user.
	if strong == ReasonHostUnknown && code >= 500 && code < 600 && bytes.Contains(buf, []byte("unrouteable address")) {
		strong = ReasonUserUnknown
	}
	// Gmail's "unusual rate of unsolicited mail" is a throttle as a 421
	// ("temporarily rate limited") and a block as a 550 ("mail sent from
	// your IP address has been blocked"): the IP address's reputation.
	if strong == ReasonRateLimited && code >= 500 && code < 600 && bytes.Contains(buf, []byte("has been blocked")) {
		strong = ReasonBadReputation
	}
	if strong != ReasonNone {
		return strong
	}
	// A permanent "Service unavailable" says only that we were refused
	// (reject_rbl_client's text without its "blocked using" part, a milter
	// under milter_default_action = reject): not a fault of the service.
	if weak == ReasonSystemError && code >= 500 && code < 600 && bytes.Contains(buf, []byte("service unavailable")) {
		weak = ReasonNone
	}
	er, specific := enhancedReason(enh)
	if specific {
		return er
	}
	if weak != ReasonNone {
		return weak
	}
	if er != ReasonNone {
		return er
	}
	if r := basicReason(code, st); r != ReasonNone {
		return r
	}
	if code == 0 && enh.IsZero() && text == "" {
		return ReasonNone
	}
	return ReasonOther
}

// textPool holds Classify's buffers for the normalised text (Gmail's and
// Microsoft's multi-line replies reach 600 bytes).
var textPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// stage is the SMTP stage as far as a reply text reveals it.
type stage uint8

const (
	stageUnknown stage = iota
	stageConnect
	stageMail
	stageRcpt
	stageData
)

// stageHint reads "(in reply to RCPT TO command)" (Postfix) and "after RCPT
// TO:" (Exim) from a normalised text: the same 550 means "no such user"
// after RCPT TO but a content or policy refusal after the data.
func stageHint(b []byte) stage {
	switch {
	case bytes.Contains(b, []byte("end of data")), bytes.Contains(b, []byte("reply to data")),
		bytes.Contains(b, []byte("after data")), bytes.Contains(b, []byte("pipelined data")),
		bytes.Contains(b, []byte("message body")):
		return stageData
	case bytes.Contains(b, []byte("rcpt")):
		return stageRcpt
	case bytes.Contains(b, []byte("mail from")), bytes.Contains(b, []byte("after mail")),
		bytes.Contains(b, []byte("pipelined mail")):
		return stageMail
	case bytes.Contains(b, []byte("initial server greeting")), bytes.Contains(b, []byte("refused to talk to me")):
		return stageConnect
	}
	return stageUnknown
}

// basicReason is the last resort: what the three-digit code alone says.
func basicReason(code int, st stage) Reason {
	switch code {
	case 421:
		// "Service not available, closing transmission channel": in
		// practice a throttling receiver far more often than a dying one.
		return ReasonRateLimited
	case 451:
		return ReasonSystemError
	case 452:
		return ReasonSystemFull
	case 454:
		// RFC 3207: TLS not available; RFC 4954: temporary auth failure.
		return ReasonTLSFailure
	case 455, 502, 503, 504, 555:
		return ReasonProtocolError
	case 500, 501, 553:
		return ReasonSyntaxError
	case 521, 556:
		return ReasonNotAccept
	case 530, 534, 535:
		return ReasonAuthRequired
	case 538:
		return ReasonTLSFailure
	case 550:
		switch st {
		case stageRcpt:
			return ReasonUserUnknown
		case stageMail:
			return ReasonSenderRejected
		case stageData:
			return ReasonPolicy
		}
	case 551:
		return ReasonHasMoved
	case 552:
		if st == stageData {
			return ReasonMessageTooBig
		}
		return ReasonMailboxFull
	case 554:
		if st == stageConnect {
			return ReasonNotAccept
		}
		return ReasonPolicy
	}
	return ReasonNone
}

// enhancedReason maps an RFC 3463 code. specific is false for the codes that
// say little (X.0.0, X.7.1 "delivery not authorized"...), which generic
// wording in the text may override.
func enhancedReason(e EnhancedStatus) (r Reason, specific bool) {
	if e.Class != 4 && e.Class != 5 {
		return ReasonNone, false
	}
	perm := e.Class == 5
	switch e.Subject {
	case 0:
		return ReasonNone, false
	case 1:
		switch e.Detail {
		case 0:
			if perm {
				return ReasonUserUnknown, false
			}
			return ReasonNone, false
		case 1, 4:
			return ReasonUserUnknown, true
		case 2:
			return ReasonHostUnknown, true
		case 3:
			return ReasonSyntaxError, true
		case 6:
			return ReasonHasMoved, true
		case 7, 8:
			return ReasonSenderRejected, true
		case 10:
			return ReasonNotAccept, true
		}
	case 2:
		switch e.Detail {
		case 1:
			return ReasonMailboxDisabled, true
		case 2:
			return ReasonMailboxFull, true
		case 3:
			return ReasonMessageTooBig, true
		case 4:
			return ReasonSystemError, true
		}
		return ReasonNone, false
	case 3:
		switch e.Detail {
		case 1:
			return ReasonSystemFull, true
		case 2:
			if perm {
				return ReasonNotAccept, true
			}
			return ReasonSystemError, false
		case 3:
			return ReasonProtocolError, true
		case 4:
			return ReasonMessageTooBig, true
		case 5:
			return ReasonSystemError, true
		}
		return ReasonSystemError, false
	case 4:
		switch e.Detail {
		case 0, 1, 2, 3, 312, 316, 318:
			// 5.4.312/316/318: Microsoft's DNS query failed, connection
			// refused, connection dropped.
			return ReasonNetworkError, e.Detail != 0
		case 4:
			if perm {
				return ReasonHostUnknown, true
			}
			return ReasonNetworkError, true
		case 5:
			return ReasonTooManyConnections, true
		case 6, 14:
			// 5.4.14: Microsoft's "hop count exceeded".
			return ReasonMailLoop, true
		case 7, 300:
			return ReasonExpired, true
		case 310:
			return ReasonHostUnknown, true
		}
		return ReasonNetworkError, false
	case 5:
		switch e.Detail {
		case 2, 4:
			return ReasonSyntaxError, true
		case 3:
			return ReasonTooManyRecipients, true
		case 0:
			return ReasonProtocolError, false
		}
		return ReasonProtocolError, true
	case 6:
		return ReasonContentError, e.Detail != 0
	case 7:
		return enhancedPolicyReason(e)
	}
	return ReasonNone, false
}

// enhancedPolicyReason maps X.7.Y, including the provider-specific
// three-digit details that Microsoft documents.
func enhancedPolicyReason(e EnhancedStatus) (Reason, bool) {
	d := e.Detail
	switch {
	case d == 0 || d == 1:
		return ReasonPolicy, false
	case d == 2 || d == 3 || d == 15 || d == 19:
		return ReasonPolicy, true
	case d == 4 || d == 5 || d == 6 || d == 10 || d == 11 || d == 30:
		return ReasonTLSFailure, true
	case d == 7:
		return ReasonContentError, true
	case d == 8 || d == 9 || d == 12 || d == 14 || d == 57:
		// 5.7.57: Microsoft's "client was not authenticated to send
		// anonymous mail during MAIL FROM".
		return ReasonAuthRequired, true
	case d == 13:
		return ReasonMailboxDisabled, true
	case d == 16:
		return ReasonMessageTooBig, true
	case d == 17 || d == 18:
		return ReasonHasMoved, true
	case d >= 20 && d <= 22:
		return ReasonDKIMFailure, true
	case d == 23 || d == 24:
		return ReasonSPFFailure, true
	case d == 25:
		return ReasonReverseDNS, true
	case d == 26:
		// "Multiple authentication checks failed": Gmail uses it for DMARC.
		return ReasonDMARCFailure, true
	case d == 27:
		return ReasonSenderRejected, true
	case d == 28:
		return ReasonRateLimited, true
	case d == 29:
		return ReasonAuthFailure, true
	case d == 54 || d == 64:
		// Microsoft: unable to relay; TenantAttribution relay denied.
		return ReasonRelayDenied, true
	case d == 509:
		return ReasonDMARCFailure, true
	case d >= 500 && d <= 699 && e.Class == 4:
		// Microsoft 4.7.500-699: "Server busy, please try again later".
		return ReasonRateLimited, true
	case d >= 501 && d <= 503:
		return ReasonSpamDetected, true
	case d >= 606 && d <= 649, d >= 700 && d <= 750, d == 511:
		// Microsoft: banned sending IP, tenant over threshold, banned sender.
		return ReasonBlocked, true
	}
	return ReasonPolicy, false
}

// A replyRule is one lowercase phrase; "*" in it stands for any run of
// text, so "this user doesn't have a * account" matches Yahoo's reply for
// every domain it hosts. A phrase that starts with wordMark matches a
// whole word only: "spf" is in a reply's random tracking token (Gmail's
// "...MDuspfaZ...") now and then. Weak rules are generic wording that a
// specific enhanced code outranks.
type replyRule struct {
	reason Reason
	weak   bool
	word   bool // the phrase (one part) must not touch a letter or digit
	parts  [][]byte
	keys   [6]uint16 // the rarest bigrams of the phrase: all must occur in the text
	nkeys  uint8
}

const wordMark = "\\b"

func (rl *replyRule) match(b []byte, seen *bigramSet) bool {
	for _, k := range rl.keys[:rl.nkeys] {
		if !seen.has(k) {
			return false
		}
	}
	if rl.word {
		return containsWord(b, rl.parts[0])
	}
	for _, p := range rl.parts {
		i := bytes.Index(b, p)
		if i < 0 {
			return false
		}
		b = b[i+len(p):]
	}
	return true
}

// containsWord says whether w occurs in b between two characters that are
// not letters or digits (or at an end).
func containsWord(b, w []byte) bool {
	for off := 0; ; {
		i := bytes.Index(b[off:], w)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(w)
		if (i == 0 || !isWordByte(b[i-1])) && (j == len(b) || !isWordByte(b[j])) {
			return true
		}
		off = i + 1
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// replyRules is ruleTable flattened, in order: the first strong rule that
// matches decides.
var replyRules = buildRules(ruleTable)

func buildRules(table []ruleGroup) []replyRule {
	// How often each bigram occurs across all phrases stands in for how
	// often it occurs in replies: the rarest ones make the best filter.
	var freq [1 << 12]int
	for _, g := range table {
		for _, p := range g.phrases {
			for i := 0; i+1 < len(p); i++ {
				freq[bigram(p[i], p[i+1])]++
			}
		}
	}
	var out []replyRule
	for _, g := range table {
		for _, p := range g.phrases {
			rl := replyRule{reason: g.reason, weak: g.weak}
			if rest, ok := strings.CutPrefix(p, wordMark); ok {
				p, rl.word = rest, true
				if strings.Contains(p, "*") {
					panic("reason: a whole-word phrase has no gaps: " + p)
				}
			}
			var keys []uint16
			for _, part := range strings.Split(p, "*") {
				if part == "" {
					continue
				}
				rl.parts = append(rl.parts, []byte(part))
				for i := 0; i+1 < len(part); i++ {
					if k := bigram(part[i], part[i+1]); !slices.Contains(keys, k) {
						keys = append(keys, k)
					}
				}
			}
			slices.SortStableFunc(keys, func(a, b uint16) int { return freq[a] - freq[b] })
			for _, k := range keys[:min(len(keys), len(rl.keys))] {
				rl.keys[rl.nkeys] = k
				rl.nkeys++
			}
			out = append(out, rl)
		}
	}
	return out
}

type ruleGroup struct {
	reason  Reason
	weak    bool
	phrases []string
}

// ruleTable is ordered from the most to the least distinctive. Origins of
// the phrases: Postfix's and Exim's own explanations; Sisimai's reason
// patterns (lib/sisimai/reason/*.rb); the error pages of Gmail, Microsoft
// 365 and Yahoo.
var ruleTable = []ruleGroup{
	{ReasonMailLoop, false, []string{
		"loops back to myself", "mail forwarding loop", "forwarding loop", "routing loop",
		"too many hops", "hop count exceeded", "message looping", "mail loop", "loop detected",
		"aliasing/forwarding loop", "it would create a mail loop", "loop was found in the mail exchanger",
	}},
	{ReasonSuppressed, false, []string{
		"suppression list", "suppressed", "do-not-send", "do not send list",
		"previously bounced address", "recent history of bouncing", "on the bounce list",
		"address is on a block list of this sender",
	}},
	{ReasonExpired, false, []string{
		"retry timeout exceeded", "have been failing for a long time", "has been failing for a long time",
		"message expired", "delivery time expired", "in the queue too long", "too old",
		"message has been in the queue", "maximum delivery time",
	}},
	{ReasonTLSFailure, false, []string{
		"tls is required, but", "cannot start tls", "starttls", "tls handshake", "tls session",
		"tls required", "tls is required", "tls failure", "tls negotiation", "ssl handshake",
		"ssl_connect", "certificate verification failed", "certificate verify failed",
		"certificate invalid", "dane error", "tlsa lookup", "requiretls", "encryption required",
		"must use tls", "tls not available", "untrusted certificate", "server certificate not trusted",
	}},
	{ReasonNetworkError, false, []string{
		"host not found, try again", "host lookup did not complete", "name server reply",
		"dns server reply", "temporary failure in name resolution", "dns lookup failure",
		"connection refused", "connection timed out", "connection reset", "lost connection",
		"conversation with", "network is unreachable", "no route to host", "host is unreachable",
		"host unreachable", "remote host closed connection", "broken pipe",
		"closed connection in response to",
		"network error", "smtp timeout", "timed out", "timeout", "could not connect",
		"unable to connect", "connection dropped", "server dropped connection",
	}},
	{ReasonGreylisted, false, []string{
		"greylist", "graylist", "grey list", "gray list", "grey-list", "gray-list", "postgrey",
		"not yet authorized to deliver mail from", "temporarily deferred by greylisting",
	}},
	// Local configuration errors that name other things (dkim, tls) and
	// must not be taken for them.
	{ReasonSystemError, false, []string{
		"failed to expand", "child process of", "transport returned", "queue file write error",
		// Exim's own faults: a transport option that would not expand, a
		// transport process that died, a router that routes to ourselves.
		"(expansion of", "transport process returned", "remote host address is the local host",
		"local configuration error", "mail system configuration error", "server configuration error",
		"configuration error", "configuration problem", "is not defined for", "command not found", "permission denied",
		"unable to contact ldap", "can't create user output file", "mailbox_transport_maxdepth",
		// Spamhaus refuses lookups through public DNS resolvers and
		// answers them with an error code that a DNSBL check takes for a
		// listing: every client then looks "blocked". The resolver is at
		// fault, not the client.
		"error: open resolver", "spamhaus.org/returnc",
	}},
	// Gmail's and Yahoo's throttling for complaints and unsolicited mail
	// names the sender's SPF or DKIM domain, or "spam": not a failure of
	// those.
	{ReasonRateLimited, false, []string{
		"unusual rate of unsolicited", "unexpected volume", "user complaints", "[tss0", "[ts0",
		"too many complaints",
	}},
	// 163.com's "DT:SPM" verdicts say "please try again later" too.
	{ReasonSpamDetected, false, []string{"spam or virus", "spam/virus", "dt:spm"}},
	{ReasonDMARCFailure, false, []string{wordMark + "dmarc"}},
	{ReasonAuthFailure, false, []string{
		"unauthenticated", "authentication checks", "spf or dkim", "spf and dkim", "dkim or spf",
		"arc validation", "sender authentication failed", "message failed authentication",
	}},
	{ReasonSPFFailure, false, []string{
		wordMark + "spf", "sender policy framework", "is not allowed to send mail from",
		"is not permitted to send", "not designated as permitted sender",
	}},
	{ReasonDKIMFailure, false, []string{wordMark + "dkim", "domainkeys"}},
	{ReasonReverseDNS, false, []string{
		"reverse dns", "reverse-dns", wordMark + "rdns", "ptr record", "reverse hostname",
		"cannot find your hostname", "cannot resolve your address", "reverse lookup",
		"reverse dns lookup", "without a valid sender domain", "no ptr", "forward dns entry",
		"generic dns ptr", "reverse name",
	}},
	{ReasonAuthRequired, false, []string{
		"authentication required", "authentication is required", "auth is required",
		"must authenticate", "requires authentication", "not authenticated",
		"authentication failed", "authentication credentials invalid", "not logged in",
		"must issue an auth", "sasl authentication", "please authenticate", "auth required",
		"authentication mechanism is too weak", "username and password not accepted",
		"authorization required",
	}},
	{ReasonRelayDenied, false, []string{
		"relay access denied", "relaying denied", "relay denied", "relay not permitted",
		"relaying not permitted", "unable to relay", "not permitted to relay", "relaying not allowed",
		"not allowed to relay", "we do not relay", "relay not allowed", "relaying prohibited",
		"list of allowed rcpthosts", "relay prohibited", "no relaying", "open relay",
		"relaying mail to * is not allowed",
	}},
	{ReasonNotAccept, false, []string{
		"does not accept mail", "nullmx", "null mx", "accepts no mail", "not accepting any mail",
		"no smtp service here",
	}},
	{ReasonBadReputation, false, []string{
		"reputation",
	}},
	{ReasonTooManyConnections, false, []string{
		"too many connections", "too many concurrent", "too many smtp sessions", "too many sessions",
		"connection rate limit", "connection limit", "connections limit", "concurrency limit",
		"maximum connection", "all server ports busy", "too many simultaneous", "trop de connexions",
		"too many open connections", "max connections",
	}},
	{ReasonTooManyRecipients, false, []string{
		"too many recipients", "recipient limit", "too many rcpt", "policy size per transaction",
		"recipients per message", "number of recipients",
	}},
	{ReasonRateLimited, false, []string{
		"rate limit", "ratelimit", "rate-limit", "too quickly", "too fast", "at a rate",
		"too many messages", "too many emails", "too many mails", "sending too many",
		"throttl", "max emails per hour", "try again slower", "mail flood", "server busy",
		"sending limit", "too many errors from your ip", "messages per connection",
		"message per connection", "exceeded the rate", "daily sending quota",
	}},
	{ReasonBlocked, false, []string{
		"blocked using", "block list", "blocklist", "blacklist", "black list", "denylist", "deny list",
		"dnsbl", "in an rbl", "rbl:", "rbl.", "spamhaus", "spamcop", "barracuda", "sorbs",
		"s3140", "s3150", "client host rejected", "client host blocked", "helo command rejected",
		"banned sending ip", "access denied, banned", "tenant has exceeded threshold",
		"not currently accepting mail from your ip", "dynamic ip", "dynamic address",
		"hosts with dynamic", "residential", "your ip address is blocked", "ip address is blocked",
		"ip is blocked", "ip blocked", "is listed in", "listed at", "listed on", "is listed by",
		"blocked by earthlink", "rejecting open proxy", "envelope blocked", "your network is",
		"please use the smtp server of your isp", "please use your isp", "access from ip address",
		"traffic not accepted from this ip", "no access from mail server", "poor ip",
		"mail server at * is blocked", "client host * blocked", "ip * is blocked",
	}},
	{ReasonSenderRejected, false, []string{
		"sender address rejected", "sender rejected", "sender verify failed",
		"sender verification failed", "callout verification failure", "sender domain",
		"envelope sender", "invalid sender", "mail from not owned", "unroutable sender",
		"null sender is not allowed", "empty envelope senders", "domain of sender address",
		"bogus mail from", "batv", "sender is spammer", "sender not pre-approved",
		"sender email address rejected", "from address rejected", "sender unknown",
		"unknown sender", "sender address is invalid", "sender denied", "sender not allowed",
		"sender blocked", "not authorized to send on behalf", "sender is not allowed",
		"your sender", "returned mail not accepted", "mail from address",
	}},
	{ReasonHostUnknown, false, []string{
		"host or domain name not found", "mx records point to non-existent hosts",
		"name service error", "unrouteable address", "unroutable address", "unrouteable mail domain",
		"domain not found", "no such domain", "domain does not exist", "domain doesn't exist",
		"unknown domain", "domain unknown", "host unknown", "unknown host", "host not found",
		"name or service not known", "no mx record", "domain must exist", "mail domain mentioned",
		"domain is not reachable", "account or domain may not exist", "nxdomain",
		"dns records for the destination computer could not be found",
	}},
	{ReasonMailboxFull, false, []string{
		"mailbox full", "mailbox is full", "mailbox size limit", "quota exceeded", "over quota",
		"overquota", "over-quota", "exceeded storage allocation", "disk quota", "mail quota",
		"exceeding its mailbox quota", "exceeded its quota", "exceeds quota", "full mailbox",
		"mailfolder is full", "mailbox has exceeded", "inbox is full", "out of storage",
		"storage space", "enough space", "maximum allowed storage",
		"user is over", "exceeding their quota", "exceeded the storage", "quota violation",
		"user has too many messages", "space has been used up", "too much mail data",
		"insufficient space", "boite du destinataire pleine", "quota full",
	}},
	{ReasonSystemFull, false, []string{
		"insufficient system storage", "system storage", "mail system full", "no space left",
		"disk full", "disk is full", "queue full", "queue is full", "file system full",
		"out of disk", "insufficient disk", "system is full", "system resources",
	}},
	{ReasonMessageTooBig, false, []string{
		"message too big", "message too large", "message is too big", "message is too large",
		"message size exceeds", "size exceeds", "exceeded maximum inbound message size",
		"max message size", "maximum message size", "message file too big",
		"message length exceeds", "message size limit", "exceeds size limit", "message size",
		"size limit", "too large for", "email is too large", "message exceeded", "exceeds the maximum size",
		"mail size", "too big for",
	}},
	{ReasonSyntaxError, false, []string{"address syntax", "syntax error", "syntax of"}},
	{ReasonMailboxDisabled, false, []string{
		"account is disabled", "account has been disabled", "account disabled", "mailbox disabled",
		"mailbox is disabled", "is disabled", "is currently suspended", "has been suspended",
		"account suspended", "user suspended", "mailbox suspended", "mailbox currently suspended",
		"inactive", "deactivated", "mailbox is frozen", "account is locked", "temporary locked",
		"temporarily locked", "mailbox is locked", "disabled mailbox", "account has been closed",
		"account closed", "account expired", "mailbox has been closed", "discontinued",
		"boite du destinataire archivee", "no longer active", "not active",
	}},
	{ReasonHasMoved, false, []string{
		"has moved", "no longer with", "no longer works", "user not local; please try",
		"mailbox has been moved", "address has changed", "no forwarding address",
	}},
	{ReasonUserUnknown, false, []string{
		"user unknown", "unknown user", "no such user", "user doesn't exist", "user does not exist",
		"user not found", "user not exist", "user not known", "unknown recipient",
		"recipient unknown", "no such recipient", "recipient not found", "recipient does not exist",
		"recipient not exist", "recipient not ok", "invalid recipient", "not a valid recipient",
		"no such mailbox", "mailbox not found", "mailbox does not exist", "mailbox doesn't exist",
		"mailbox not present", "mailbox invalid", "invalid mailbox", "unknown mailbox",
		"mailbox unknown", "no mailbox", "not a valid mailbox", "no such address",
		"address does not exist", "address doesn't exist", "address unknown", "unknown address",
		"address not found", "address is invalid", "invalid address", "bad address",
		"bad recipient", "bad destination", "address rejected: access denied",
		"recipient address rejected: access denied", "undeliverable address",
		"address not present in directory", "account does not exist", "account that you tried to reach",
		"no account by that name", "doesn't have a * account", "does not have a * account",
		"no such person", "not a known user", "no one at this address", "nosuchuser",
		"is not a valid user", "not a valid user", "email account does not exist",
		"email address does not exist", "email address could not be found", "mailbox unavailable",
		"resolver.adr.recipientnotfound", "recipientnotfound", "no valid recipients",
		"unknown local part", "unknown local-part", "not our customer", "non-existent user",
		"nonexistent user", "user missing home directory", "utilisateur inconnu",
		"unknown or illegal alias", "local mailbox * is unavailable",
		"address no longer accepts mail", "verification failed", "badrcptto", "bad user",
		"receiver bad", "rcpt refused",
	}},
	{ReasonSpamDetected, false, []string{
		"spam", "unsolicited", "junk mail", "bulk mail", "bulk email", "bulk e-mail",
		"content filter", "message content rejected", "uribl", "surbl", "high probability",
		"content rejected", "mail content denied", "message filtered", "unacceptable content",
		"banned content", "mail appears to be", "probable junk", "[csr]",
	}},
	{ReasonVirus, false, []string{
		"virus", "malware", "infected", "trojan", "malicious", "phishing", "harmful",
	}},
	{ReasonPolicy, false, []string{
		"policy", "administrative prohibition", "prohibited", "not authorized",
		"not authorised", "organizational settings", "organization settings",
		"members-only list", "closed mailing list", "not accepting mail with",
		"restricted to", "moderator", "not subscribed", "not allowed to send to",
		"allowed senders", "content presents a potential", "security issue",
		"attachment", "blocked file", "file type", "recipient restrictions",
	}},
	{ReasonContentError, false, []string{
		"8-bit", "8bit", "bare lf", "bare line feed", "bare <lf>", "bare cr", "header",
		"missing from", "from: address", "rfc 5322", "rfc5322", "rfc 2822", "rfc2822",
		"rfc 822", "line too long", "line length", "malformed", "mime type", "mime structure",
		"invalid mime", "mime part", "mime-version", "mime header", "encoding",
		"non-ascii", "smtputf8", "utf-8", "utf8", "invalid message", "data format error",
		"message-id", "message id", "invalid character", "not compliant", "corrupt",
		"obscure data error",
	}},
	{ReasonProtocolError, false, []string{
		"protocol violation", "protocol error", "pipelining", "pipeline after", "bad sequence of commands",
		"command not recognized", "unrecognized command", "command unrecognized",
		"command not implemented", "not implemented", "multi-recipient bounce", "bdat",
		"out of sequence", "unexpected command",
	}},
	{ReasonSyntaxError, false, []string{
		"syntax error", "syntax", "fully-qualified", "fully qualified", "restricted characters",
		"invalid characters", "illegal character", "bad parameter", "invalid parameter",
		"parameter not", "line too long",
	}},
	{ReasonSystemError, false, []string{
		"local error in processing", "internal error", "internal server error", "server error",
		"system error", "temporary local problem", "temporary system problem",
		"resources temporarily unavailable", "service currently unavailable",
		"interrupted system call", "temporary lookup failure", "misconfigured", "mail system error",
		"database", "ldap", "lookup failure", "error in processing", "storage error",
		"shutting down", "system not accepting", "mail transport unavailable",
		"unknown mail transport error", "transport unset", "unset in",
	}},

	// Generic wording, outranked by any specific enhanced code.
	{ReasonUserUnknown, true, []string{"recipient rejected"}},
	{ReasonBlocked, true, []string{"blocked", "access denied", "denied", "not allowed", "refused"}},
	// "Mailbox temporarily unavailable" (450 4.2.0) is not an unknown user.
	{ReasonSystemError, true, []string{"temporarily unavailable"}},
	// Nor is "Service unavailable": Postfix's reply while a milter or a
	// policy service is down ("451 4.7.1 Service unavailable - try again
	// later"); as a 5xx, the codes decide (see classify).
	{ReasonSystemError, true, []string{"service unavailable"}},
	{ReasonUserUnknown, true, []string{"does not exist", "not found", "invalid", "unavailable"}},
	{ReasonPolicy, true, []string{"rejected", "not accepted", "restricted"}},
	{ReasonSystemError, true, []string{
		"try again later", "temporary failure", "temporarily unavailable",
		"temporary problem", "temporarily rejected", "please try again",
	}},
}

// normalizeReply appends s to dst lowered, with runs of white space (and
// Exim's escaped "\n") folded to one space, and without what would only
// mislead a phrase search or split a phrase in two: host names with their
// addresses ("mx.spam-filter.example[192.0.2.1]"), e-mail addresses, bare
// IP addresses in brackets, and the reply codes that multi-line replies
// repeat at each joined line ("550-5.7.1", "421 4.7.0").
func normalizeReply(dst []byte, s string) []byte {
	i := 0
	for {
		w, next := nextWord(s, i)
		if w == "" {
			return dst
		}
		i = next
		switch {
		case isReplyCodeWord(w):
			// "550-5.7.1" or "550-": a continuation prefix; "451-You":
			// the prefix glued to text.
			if len(w) > 4 {
				rest := w[4:]
				if isEnhancedWord(rest) {
					continue
				}
				w = rest
			} else if len(w) == 3 {
				if w2, n2 := nextWord(s, i); isEnhancedWord(w2) {
					i = n2
					continue
				}
			} else {
				continue
			}
		case isEnhancedWord(w):
			continue
		case skipWord(w):
			continue
		}
		if len(dst) > 0 {
			dst = append(dst, ' ')
		}
		for j := 0; j < len(w); j++ {
			c := w[j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
	}
}

// nextWord returns the word at or after s[i] and the index after it. Words
// end at white space or at Exim's two-character "\n".
func nextWord(s string, i int) (string, int) {
	for i < len(s) {
		if c := s[i]; c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			i++
		} else if c == '\\' && i+1 < len(s) && s[i+1] == 'n' {
			i += 2
		} else {
			break
		}
	}
	j := i
	for j < len(s) {
		c := s[j]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || (c == '\\' && j+1 < len(s) && s[j+1] == 'n') {
			break
		}
		j++
	}
	return s[i:j], j
}

// isReplyCodeWord reports "550", "550-" and "550-..." words.
func isReplyCodeWord(w string) bool {
	if len(w) < 3 || w[0] < '2' || w[0] > '5' || !isDigitByte(w[1]) || !isDigitByte(w[2]) {
		return false
	}
	return len(w) == 3 || w[3] == '-'
}

// isEnhancedWord reports "5.7.1", "5.7.1:", "4.4.316," and the like.
func isEnhancedWord(w string) bool {
	if len(w) > 0 {
		switch w[len(w)-1] {
		case ':', ',', ';', ')':
			w = w[:len(w)-1]
		}
	}
	if len(w) < 5 || (w[0] != '2' && w[0] != '4' && w[0] != '5') || w[1] != '.' {
		return false
	}
	dots, digits := 0, 0
	for j := 2; j < len(w); j++ {
		switch c := w[j]; {
		case c == '.':
			if digits == 0 {
				return false
			}
			dots, digits = dots+1, 0
		case isDigitByte(c):
			digits++
			if digits > 3 {
				return false
			}
		default:
			return false
		}
	}
	return dots == 1 && digits > 0
}

// skipWord reports words that name a host or an address rather than say
// anything: they may contain "spam", "relay" or "virus" by accident.
func skipWord(w string) bool {
	if strings.IndexByte(w, '@') >= 0 {
		return true
	}
	open := strings.IndexByte(w, '[')
	if open < 0 {
		return false
	}
	end := strings.IndexByte(w[open:], ']')
	if end < 0 {
		return false
	}
	if open > 0 {
		return true // name[addr]
	}
	for _, c := range []byte(w[1:end]) {
		if !(isDigitByte(c) || c == '.' || c == ':' || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')) {
			return false // "[TSS04]", "[CSR]": provider tags are kept
		}
	}
	return true
}

func isDigitByte(c byte) bool { return '0' <= c && c <= '9' }

// bigramSet is a bitmap of the byte pairs in a text, with bytes folded to
// 64 classes: a phrase can only occur if each of its pairs does.
type bigramSet [64]uint64

func (s *bigramSet) fill(b []byte) {
	for i := 0; i+1 < len(b); i++ {
		k := bigram(b[i], b[i+1])
		s[k>>6] |= 1 << (k & 63)
	}
}

func (s *bigramSet) has(k uint16) bool { return s[k>>6]&(1<<(k&63)) != 0 }

func bigram(a, b byte) uint16 { return uint16(byteClass[a])<<6 | uint16(byteClass[b]) }

var byteClass = func() (t [256]uint8) {
	for i := range t {
		t[i] = 63
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = uint8(c - 'a')
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = uint8(26 + c - '0')
	}
	for i, c := range []byte(" .-'/:<>()[]_#,\"=;!?*+&%$") {
		t[c] = uint8(36 + i)
	}
	return t
}()
