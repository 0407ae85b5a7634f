package parse

import (
	"strconv"
	"strings"
)

// parsePostfix reads the message part of a Postfix line.
func parsePostfix(ev *Event, msg string) {
	if k, ok := severity(msg); ok {
		ev.Kind = k
		return
	}
	qid, rest, ok := postfixQueueID(msg)
	if !ok {
		// Lines without a queue ID: connect, disconnect, TLS, statistics...
		ev.Kind = KindOther
		return
	}
	ev.QueueID = qid
	switch {
	case strings.HasPrefix(rest, "to=<"):
		parsePostfixDelivery(ev, rest)
		return
	case strings.HasPrefix(rest, "reject: "), strings.HasPrefix(rest, "milter-reject: "), strings.HasPrefix(rest, "proxy-reject: "):
		parsePostfixReject(ev, rest)
		return
	}
	switch ev.Service {
	case "qmgr", "nqmgr", "oqmgr":
		parseQmgr(ev, rest)
	case "cleanup":
		switch {
		case strings.HasPrefix(rest, "message-id="):
			ev.Kind = KindMessageID
			ev.MessageID = trimAngle(rest[len("message-id="):])
		default:
			ev.Kind = KindOther
		}
	case "smtpd", "qmqpd":
		// "NOQUEUE: client=": a before-queue content filter (smtpd_proxy_filter,
		// Proxmox Mail Gateway) logs the client before a queue file exists.
		if strings.HasPrefix(rest, "client=") && qid != "NOQUEUE" {
			ev.Kind = KindClient
			v := rest[len("client="):]
			if c := strings.IndexByte(v, ','); c >= 0 {
				v = v[:c]
			}
			ev.Client = parseRelay(v)
			return
		}
		ev.Kind = KindOther
	case "pickup":
		// "QID: uid=0 from=<root>": a message submitted with sendmail(1).
		if strings.HasPrefix(rest, "uid=") {
			ev.Kind = KindClient
			ev.Client = Relay{Raw: "local", Name: "local"}
			if i := strings.Index(rest, " from=<"); i >= 0 {
				ev.Sender = angle(rest[i+len(" from="):])
			}
			// "orig_id=QID": postsuper -r requeued message QID as this one.
			if i := strings.Index(rest, " orig_id="); i >= 0 {
				v := rest[i+len(" orig_id="):]
				if sp := strings.IndexAny(v, " ,"); sp >= 0 {
					v = v[:sp]
				}
				ev.RequeuedFrom = v
			}
			return
		}
		ev.Kind = KindOther
	case "postsuper":
		// "QID: removed": deleted from the queue by hand (postsuper -d).
		if rest == "removed" {
			ev.Kind = KindRemoved
			return
		}
		ev.Kind = KindOther
	case "bounce", "defer", "trace":
		// "QID: sender non-delivery notification: NEWQID", also delay and
		// delivery status notifications.
		if strings.HasPrefix(rest, "sender ") && strings.Contains(rest, "notification: ") {
			ev.Kind = KindBounceNotice
			ev.NextQueueID = rest[strings.LastIndex(rest, ": ")+2:]
			return
		}
		ev.Kind = KindOther
	default:
		ev.Kind = KindOther
	}
}

// severity recognises "warning:", "fatal:", "panic:" and "error:" lines.
func severity(msg string) (Kind, bool) {
	if len(msg) < 6 {
		return 0, false
	}
	switch msg[0] {
	case 'w':
		if strings.HasPrefix(msg, "warning: ") {
			return KindWarning, true
		}
	case 'f':
		if strings.HasPrefix(msg, "fatal: ") {
			return KindFatal, true
		}
	case 'p':
		if strings.HasPrefix(msg, "panic: ") {
			return KindFatal, true
		}
	case 'e':
		if strings.HasPrefix(msg, "error: ") {
			return KindFatal, true
		}
	}
	return 0, false
}

// postfixQueueID reads "QID: " at the start of a message. Short queue IDs
// are upper-case hex; long ones (enable_long_queue_ids) use a larger
// alphabet and are longer; "NOQUEUE" stands for none.
func postfixQueueID(msg string) (qid, rest string, ok bool) {
	n := 0
	for n < len(msg) && n <= 24 {
		c := msg[n]
		if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			n++
			continue
		}
		break
	}
	if n < 5 || n > 24 || n+1 >= len(msg) || msg[n] != ':' || msg[n+1] != ' ' {
		return "", "", false
	}
	qid = msg[:n]
	// Words such as "warning" or "statistics" are not queue IDs: a queue ID
	// has a digit or is upper case (short IDs are upper-case hex, and
	// anonymisers write IDs such as "BABABABABA").
	if !hasDigit(qid) && !isUpper(qid) {
		return "", "", false
	}
	return qid, msg[n+2:], true
}

func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

// parsePostfixDelivery reads "to=<a>, orig_to=<b>, relay=..., delay=...,
// delays=..., dsn=..., status=WORD (reply)" in whatever order the fields
// come, as smtp, lmtp, local, virtual, pipe, error, discard and retry
// write it.
func parsePostfixDelivery(ev *Event, s string) {
	ev.Kind = KindDelivery
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if key == "status" {
			// The status word, then " (reply)" or ", returned to sender".
			end := 0
			for end < len(s) && s[end] != ' ' && s[end] != ',' {
				end++
			}
			ev.Status = s[:end]
			s = s[end:]
			if strings.HasPrefix(s, " (") && strings.HasSuffix(s, ")") {
				ev.Reply = ParseReply(s[2 : len(s)-1])
			} else if strings.HasPrefix(s, " (") {
				// A reply whose end was cut (a newline inside it, or
				// syslog's line limit).
				ev.Reply = ParseReply(s[2:])
			}
			break
		}
		if len(s) > 0 && s[0] == '<' {
			val, s = angleField(s)
		} else {
			c := strings.Index(s, ", ")
			if c < 0 {
				val, s = s, ""
			} else {
				val, s = s[:c], s[c+2:]
			}
		}
		switch key {
		case "to":
			ev.Recipient = val
		case "orig_to":
			ev.OrigRecipient = val
		case "relay":
			ev.Relay = parseRelay(val)
		case "delay":
			ev.Delay = parseFloat(val)
		case "delays":
			ev.Delays = val
		case "dsn":
			ev.DSN = val
		case "conn_use":
			ev.ConnUse = atoi(val)
		}
	}
	ev.Outcome = postfixOutcome(ev.Status)
	if ev.Reply.Enhanced.IsZero() && ev.DSN != "" {
		if e, n := ParseEnhanced(ev.DSN); n == len(ev.DSN) {
			ev.Reply.Enhanced = e
		}
	}
	switch ev.Outcome {
	case Delivered:
		next := nextQueueID(ev.Reply.Raw)
		if next != "" {
			ev.NextQueueID = next
			if ev.Reply.RemoteID == "" {
				// "forwarded as NEWQID": the ID the next queue gave, as
				// a remote server's would be, to stitch the legs on.
				ev.Reply.RemoteID = next
			}
			if isContentFilter(ev.Relay, ev.Reply.Raw) {
				// A content filter (amavis, a second Postfix smtpd)
				// that re-queues the message: a hop, not a delivery.
				ev.Outcome = Hop
			}
		} else if strings.HasSuffix(ev.Reply.Raw, ", BOUNCE") && strings.HasPrefix(ev.Reply.Text, "Ok, id=") {
			// amavis "250 2.5.0 Ok, id=2243374-09, BOUNCE": the filter
			// blocked the message (spam or a banned attachment, whose
			// destiny is D_BOUNCE) and sent the sender a bounce itself.
			// Nothing reached the recipient.
			ev.Outcome = Bounced
			ev.Reason = ReasonSpamDetected
		}
	case Deferred, Bounced, Expired:
		ev.Reason = Classify(ev.Reply.Code, ev.Reply.Enhanced, ev.Reply.Raw)
	case OutcomeNone:
		// Address verification probes (deliverable, undeliverable) are
		// not delivery attempts; a status word we do not know is a line
		// not understood, for `mailbounce parse --unknown` to show.
		// (also "undeliverable-but-not-cached" when the verify cache is off).
		if strings.HasPrefix(ev.Status, "deliverable") || strings.HasPrefix(ev.Status, "undeliverable") {
			ev.Kind = KindOther
		} else {
			ev.Kind = KindUnknown
		}
	}
}

// postfixOutcome maps Postfix's status word.
func postfixOutcome(status string) Outcome {
	switch status {
	case "sent":
		return Delivered
	case "deferred", "SOFTBOUNCE":
		return Deferred
	case "bounced":
		return Bounced
	case "expired", "force-expired":
		return Expired
	}
	return OutcomeNone
}

// nextQueueID finds the queue ID that a hop created: "250 2.0.0 Ok: queued
// as NEWQID" from a content filter or a second instance, "forwarded as
// NEWQID" from local(8).
func nextQueueID(reply string) string {
	if i := strings.Index(reply, "queued as "); i >= 0 {
		return token(reply[i+len("queued as "):])
	}
	if strings.HasPrefix(reply, "forwarded as ") {
		return token(reply[len("forwarded as "):])
	}
	return ""
}

// isContentFilter recognises, from the line alone, a hand-over to a
// content filter on this machine: a loopback relay that answers the way
// amavisd-new does, or on the ports the Postfix FILTER_README and amavis
// use (10024-10099). A loopback relay on another port may be a smarthost
// or a test sink that delivers for real, so it stays a delivery here; the
// correlation of queue IDs (does NEWQID appear in our own log?) decides
// those cases with more knowledge than one line has.
func isContentFilter(r Relay, reply string) bool {
	if !isLoopback(r.Addr) {
		return false
	}
	return strings.Contains(reply, " from MTA(") || r.Port >= 10024 && r.Port <= 10099
}

func isLoopback(addr string) bool {
	return strings.HasPrefix(addr, "127.") || addr == "::1" || addr == "ipv6:::1"
}

// parseQmgr reads "from=<a>, size=N, nrcpt=N (queue active)", "from=<a>,
// status=expired, returned to sender" and "removed".
func parseQmgr(ev *Event, s string) {
	if s == "removed" {
		ev.Kind = KindRemoved
		return
	}
	if !strings.HasPrefix(s, "from=<") {
		ev.Kind = KindOther
		return
	}
	ev.Kind = KindArrival
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if len(s) > 0 && s[0] == '<' {
			val, s = angleField(s)
		} else {
			end := 0
			for end < len(s) && s[end] != ',' && s[end] != ' ' {
				end++
			}
			val = s[:end]
			s = s[end:]
			s = strings.TrimPrefix(s, ", ")
			if len(s) > 0 && s[0] == ' ' {
				s = s[1:]
			}
		}
		switch key {
		case "from":
			ev.Sender = val
		case "size":
			ev.Size = int64(atoi(val))
		case "nrcpt":
			ev.NRcpt = atoi(val)
		case "status":
			ev.Status = val
			if val == "expired" || val == "force-expired" {
				ev.Kind = KindExpired
				ev.Outcome = Expired
				ev.Reason = reasonExpired
			}
			return
		}
	}
}

// parsePostfixReject reads smtpd's, postscreen's and cleanup's refusals:
// "reject: RCPT from name[addr]: 550 5.1.1 <a>: text; from=<s> to=<r>
// proto=ESMTP helo=<h>" (postscreen separates the fields with commas),
// "milter-reject: END-OF-MESSAGE from ..." and a before-queue filter's
// "proxy-reject: END-OF-MESSAGE: 554 ...".
func parsePostfixReject(ev *Event, s string) {
	ev.Kind = KindReject
	ev.Outcome = Rejected
	colon := strings.IndexByte(s, ':')
	s = s[colon+2:]
	// Stage: RCPT, DATA, END-OF-MESSAGE, CONNECT, EHLO, MAIL, VRFY, BDAT;
	// cleanup's header/body checks write "header Subject: ..." instead.
	sp := strings.IndexByte(s, ' ')
	if sp < 0 {
		ev.Reply = ParseReply(s)
		return
	}
	// A before-queue filter's "proxy-reject: END-OF-MESSAGE: 554 ..." has
	// no client after the stage.
	ev.RejectStage = strings.TrimSuffix(s[:sp], ":")
	s = s[sp+1:]
	if strings.HasPrefix(s, "from ") {
		s = s[5:]
		// "name[addr]: " or postscreen's "[addr]:port: "
		if c := strings.Index(s, ": "); c >= 0 {
			ev.Client = parseRelay(s[:c])
			s = s[c+2:]
		}
	}
	// The reply ends where the envelope fields begin; search from the end,
	// since reply texts contain semicolons.
	reply := s
	fields := ""
	if i := strings.LastIndex(s, "; from=<"); i >= 0 {
		reply, fields = s[:i], s[i+2:]
	} else if i := strings.LastIndex(s, "; to=<"); i >= 0 {
		// VRFY and ETRN rejects name no sender: "...; to=<a@b> proto=SMTP".
		reply, fields = s[:i], s[i+2:]
	} else if i := strings.LastIndex(s, "; proto="); i >= 0 {
		reply, fields = s[:i], s[i+2:]
	}
	// cleanup's header and body checks put the reply after the fields:
	// "header Subject: ... from host[addr]; from=<a> to=<b> proto=ESMTP
	// helo=<h>: 5.7.1 message content rejected".
	var after string
	for len(fields) > 0 {
		eq := strings.IndexByte(fields, '=')
		if eq <= 0 {
			break
		}
		key := fields[:eq]
		fields = fields[eq+1:]
		var val string
		if len(fields) > 0 && fields[0] == '<' {
			val, fields = angleField(fields)
		} else {
			end := strings.IndexAny(fields, ", :")
			if end < 0 {
				end = len(fields)
			}
			val, fields = fields[:end], fields[end:]
		}
		if strings.HasPrefix(fields, ": ") {
			after, fields = fields[2:], ""
		}
		fields = strings.TrimLeft(fields, ", ")
		switch key {
		case "from":
			ev.Sender = val
		case "to":
			ev.Recipient = val
		case "proto":
			ev.Protocol = val
		}
	}
	if after != "" {
		// What came before the fields is the header or body line that
		// matched, and the client: "Subject: ... from host[addr]".
		if i := strings.LastIndex(reply, " from "); i >= 0 && ev.Client.Raw == "" {
			ev.Client = parseRelay(reply[i+6:])
		}
		reply = after
	}
	ev.Reply = ParseReply(reply)
	ev.Reason = Classify(ev.Reply.Code, ev.Reply.Enhanced, ev.Reply.Raw)
	if ev.Service == "cleanup" && ev.Client.Raw == "local" {
		// A message submitted with sendmail (pickup, "from local") has
		// no client to refuse: cleanup bounces it instead, with a
		// "to=<...>, relay=none, ... status=bounced" line per recipient,
		// which count. The refusal names only the last recipient.
		ev.Kind = KindOther
		ev.Outcome = OutcomeNone
	}
}

// angleField reads "<value>" followed by ", " or " " or the end, and
// returns the value and what follows the separator. Values may contain
// spaces and even ">" ("from=<Print Connections>"); the field ends at the
// first ">" that is followed by a separator.
func angleField(s string) (string, string) {
	for i := 1; i < len(s); i++ {
		if s[i] != '>' {
			continue
		}
		if i+1 == len(s) {
			return s[1:i], ""
		}
		switch s[i+1] {
		case ',':
			rest := s[i+2:]
			if len(rest) > 0 && rest[0] == ' ' {
				rest = rest[1:]
			}
			return s[1:i], rest
		case ' ':
			return s[1:i], s[i+2:]
		case ':':
			// The last field before cleanup's reply (parsePostfixReject).
			if i+2 < len(s) && s[i+2] == ' ' {
				return s[1:i], s[i+1:]
			}
		}
	}
	// No closing bracket: the rest of the line (cut by syslog's limit).
	return s[1:], ""
}

// angle reads "<value>..." and returns value.
func angle(s string) string {
	v, _ := angleField(s)
	return v
}

// trimAngle strips one pair of angle brackets if present.
func trimAngle(s string) string {
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

// parseRelay reads "name[addr]:port", "name[addr]", "[addr]:port", "none",
// "local", "virtual", "dovecot", "name[/var/run/dovecot/lmtp]",
// "name[private/dovecot-lmtp]", and IPv6 addresses in brackets.
func parseRelay(s string) Relay {
	r := Relay{Raw: s}
	open := strings.IndexByte(s, '[')
	if open < 0 {
		r.Name = s
		return r
	}
	close := strings.LastIndexByte(s, ']')
	if close < open {
		r.Name = s[:open]
		r.Addr = s[open+1:]
		return r
	}
	r.Name = s[:open]
	r.Addr = s[open+1 : close]
	if close+1 < len(s) && s[close+1] == ':' {
		r.Port = atoi(s[close+2:])
	}
	return r
}

// parseFloat reads a non-negative decimal such as "0.12" or "2071", -1 if
// s does not start with a digit. The digits are read as an integer and
// divided by a power of ten, exactly as strconv.ParseFloat rounds them
// (both are exact below 2^53 and 10^22): adding tenths one by one made
// "0.49" 0.4899999999999999.
func parseFloat(s string) float64 {
	var mant uint64
	i, digits, frac := 0, 0, 0
	for i < len(s) && isDigit(s[i]) {
		mant = mant*10 + uint64(s[i]-'0')
		i++
		digits++
	}
	if i == 0 {
		return -1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			mant = mant*10 + uint64(s[i]-'0')
			i++
			digits++
			frac++
		}
	}
	if digits > 15 {
		end := i
		if s[end-1] == '.' {
			end--
		}
		v, _ := strconv.ParseFloat(s[:end], 64)
		return v
	}
	return float64(mant) / pow10[frac]
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// reasonExpired is the reason of every give-up after retrying.
var reasonExpired, _ = ParseReason("expired")
