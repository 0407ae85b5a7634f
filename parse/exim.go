package parse

import (
	"strconv"
	"strings"
	"time"
)

// parseExim reads an Exim mainlog line after any syslog envelope:
// "2026-11-28 07:04:05[.mmm][ +zzzz][ [pid]] [ID] rest", where the
// timestamp may be missing when Exim logs to syslog.
func (p *Parser) parseExim(ev *Event, s string) {
	// Through syslog, Exim writes a message of several lines, or one too
	// long for syslog, as numbered pieces: "[1\23] first line", "[2\23]
	// next line", ..., "[23/23] last" ("/" where a piece was cut for
	// length, or is the last). The first is the line (a rejectlog entry:
	// its copy of a mainlog line; a long line: its start); the others are
	// the header lines a rejectlog entry adds, or the rest of a long line.
	if len(s) > 6 && s[0] == '[' && isDigit(s[1]) {
		if bs := strings.IndexAny(s, "\\/"); bs > 1 && bs < 8 && isDigit(s[bs+1]) {
			if c := strings.IndexByte(s, ']'); c > bs && c < 16 && strings.HasPrefix(s[c:], "] ") {
				if s[1:bs] != "1" {
					ev.Kind = KindOther
					return
				}
				s = s[c+2:]
			}
		}
	}
	if len(s) >= 19 && isDigit(s[0]) && s[4] == '-' {
		t, n, ok := p.eximStamp(s)
		if !ok {
			return
		}
		ev.Time = t
		s = s[n:]
		if len(s) > 0 && s[0] == ' ' {
			s = s[1:]
		}
	}
	if ev.Time.IsZero() {
		return
	}
	// log_selector +pid: "[12345] "
	if len(s) > 2 && s[0] == '[' {
		if c := strings.IndexByte(s, ']'); c > 0 && c < 12 && isDigit(s[1]) {
			ev.PID = atoi(s[1:c])
			s = strings.TrimPrefix(s[c+1:], " ")
		}
	}
	id, rest, ok := eximMessageID(s)
	if !ok {
		parseEximNoID(ev, s)
		return
	}
	ev.QueueID = id
	if len(rest) < 2 {
		ev.Kind = KindOther
		return
	}
	if len(rest) >= 3 && rest[2] == ' ' {
		switch rest[:2] {
		case "<=":
			parseEximArrival(ev, rest[3:])
			return
		case "=>", "->", "*>", ">>":
			// ">>": a cutthrough delivery, made while the sender waited.
			parseEximDelivery(ev, rest[3:], Delivered)
			return
		case "**":
			parseEximDelivery(ev, rest[3:], Bounced)
			p.hostBefore(ev)
			return
		case "==":
			parseEximDelivery(ev, rest[3:], Deferred)
			p.hostBefore(ev)
			return
		case "<>":
			// "<> " is not a flag Exim writes; fall through to other.
		}
	}
	switch {
	case rest == "Completed" || strings.HasPrefix(rest, "Completed "):
		ev.Kind = KindRemoved
	case strings.HasPrefix(rest, "Frozen") || strings.HasPrefix(rest, "Message is frozen"):
		ev.Kind = KindFrozen
	case strings.HasPrefix(rest, "removed by ") || strings.HasPrefix(rest, "removal completed by"):
		ev.Kind = KindRemoved
	case strings.HasPrefix(rest, "cancelled by "):
		// "cancelled by root" (exim -Mg), "cancelled by system filter:
		// ...", "cancelled by timeout_frozen_after": Exim fails every
		// address not yet delivered and bounces the message, with no "**"
		// line for them. Given up after timeout_frozen_after, they expired.
		ev.Kind = KindExpired
		ev.Outcome = Bounced
		ev.Status = "bounced"
		if strings.HasPrefix(rest, "cancelled by timeout_frozen_after") {
			ev.Outcome = Expired
			ev.Status = "expired"
		}
		ev.Reply = Reply{Raw: rest, Text: rest}
	default:
		if i := strings.Index(rest, "rejected "); i >= 0 {
			parseEximReject(ev, rest)
			if ev.Kind == KindReject {
				return
			}
		}
		ev.Kind = KindOther
		if strings.HasPrefix(rest, "H=") {
			// "H=mx.example.com [192.0.2.1] Network is unreachable": a host
			// that failed, which older Exim names on a line of its own
			// before the address's "==" or "**" line.
			var host string
			text := eximFields(rest, func(k, v string) {
				if k == "H" {
					host = v
				}
			})
			if b := strings.LastIndexByte(host, ']'); b > 0 && text == "" {
				// "H=host [ip] Connection refused": the error is in the value.
				j := b + 1
				if j < len(host) && host[j] == ':' {
					for j++; j < len(host) && isDigit(host[j]); j++ {
					}
				}
				host, text = host[:j], host[j:]
			}
			if text = strings.TrimSpace(text); host != "" && text != "" {
				r := eximRelay(host)
				r.Raw, r.Name, r.Addr = strings.Clone(r.Raw), strings.Clone(r.Name), strings.Clone(r.Addr)
				p.eximHost = eximHostLine{id: strings.Clone(id), relay: r, text: strings.Clone(text), at: ev.Time}
			}
		}
	}
}

// eximHostLine is the last "H=host [ip] error" line, for the failure line
// of the same message that follows it.
type eximHostLine struct {
	id, text string // the message and the error
	relay    Relay
	at       time.Time
}

// hostBefore gives a failure that names no host the host of the line just
// before it about the same message (every address of the message that the
// host's failure failed follows it, within the same delivery run).
func (p *Parser) hostBefore(ev *Event) {
	if p.eximHost.id == "" {
		return
	}
	if ev.QueueID != p.eximHost.id || ev.Time.Sub(p.eximHost.at) > 5*time.Minute {
		p.eximHost = eximHostLine{}
		return
	}
	// The failure of that host: the same error text (a give-up, "retry
	// timeout exceeded", or another address's routing failure is not).
	if ev.Kind == KindDelivery && ev.Relay.Raw == "" && ev.Reply.Raw == p.eximHost.text {
		ev.Relay = p.eximHost.relay
	}
}

// eximMessageID reads an Exim message ID at the start of s: the old form
// "1pXyZ1-0001Ab-Cd" (6-6-2) and the 4.97+ form "1rKo4K-00000000Xkp-2abc"
// (6-11-4), base 62.
func eximMessageID(s string) (id, rest string, ok bool) {
	if len(s) < 16 {
		return "", "", false
	}
	if !base62(s[:6]) || s[6] != '-' {
		return "", "", false
	}
	var n int
	switch {
	case s[13] == '-' && base62(s[7:13]) && base62(s[14:16]):
		n = 16
	case len(s) >= 23 && s[18] == '-' && base62(s[7:18]) && base62(s[19:23]):
		n = 23
	default:
		return "", "", false
	}
	if len(s) > n && s[n] != ' ' {
		return "", "", false
	}
	rest = s[n:]
	if len(rest) > 0 {
		rest = rest[1:]
	}
	return s[:n], rest, true
}

// EximIDTime is the arrival time that an Exim message ID carries in its
// first six characters (seconds since the Unix epoch, base 62), to the
// second. ok is false for what is not an Exim ID.
func EximIDTime(id string) (t time.Time, ok bool) {
	if _, _, ok := eximMessageID(id); !ok {
		return time.Time{}, false
	}
	var sec int64
	for i := 0; i < 6; i++ {
		c := id[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'A' && c <= 'Z':
			d = c - 'A' + 10
		default:
			d = c - 'a' + 36
		}
		sec = sec*62 + int64(d)
	}
	return time.Unix(sec, 0), true
}

func base62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// eximFields splits "K=v K=v ..." as Exim writes it. Values may hold spaces
// ("H=mx.example.com (helo) [1.2.3.4]:25") and quotes (C="250 OK",
// DN="C=US,CN=x"); a value runs to the next " K=" with a key Exim uses.
// The callback gets each key and value; it returns what followed the last
// field (the text after " : " or ": " for failures).
func eximFields(s string, f func(key, val string)) string {
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq > 8 || !isEximKey(s[:eq]) {
			// log_selector flags without a value ("K" for CHUNKING, "*" for
			// a host that was tried before) stand between the fields.
			if sp := strings.IndexByte(s, ' '); sp > 0 && sp <= 2 && (eq < 0 || eq > sp) {
				s = s[sp+1:]
				continue
			}
			return s
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if len(s) > 0 && s[0] == '"' {
			end := closingQuote(s)
			val = s[1:end]
			s = s[min(end+1, len(s)):]
		} else {
			end := nextEximField(s)
			val = s[:end]
			s = s[end:]
		}
		f(key, strings.TrimRight(val, " "))
		if len(s) == 0 {
			return ""
		}
		switch {
		case s[0] == ' ' && len(s) > 1 && s[1] == ':':
			return strings.TrimPrefix(s[2:], " ")
		case s[0] == ':':
			return strings.TrimPrefix(s[1:], " ")
		case s[0] == ' ':
			s = s[1:]
		}
	}
	return s
}

// closingQuote finds the quote that ends a quoted value, skipping
// backslash-escaped quotes.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(s)
}

// nextEximField returns where the value that starts s ends: at " K=" for
// a known key, at " : " or at ": " (the start of an error text).
func nextEximField(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			rest := s[i+1:]
			if len(rest) > 0 && rest[0] == ':' {
				return i
			}
			if eq := strings.IndexByte(rest, '='); eq > 0 && eq <= 8 && isEximKey(rest[:eq]) {
				return i
			}
			// "defer (-44)" after T= belongs to the failure, not to T.
			if strings.HasPrefix(rest, "defer (") {
				return i
			}
		case ':':
			if i+1 == len(s) || s[i+1] == ' ' {
				// "[1.2.3.4]:25 " has a colon without space; an IPv6
				// address has no ": " either.
				return i
			}
		}
	}
	return len(s)
}

func isEximKey(k string) bool {
	switch k {
	case "H", "I", "P", "S", "R", "T", "U", "C", "X", "CV", "DN", "F", "A", "K", "L", "SRS",
		"id", "id*", "Ci", "M8S", "RT", "QT", "DT", "DS", "PRX", "SNI", "TFO", "Q", "ST", "DKIM", "D", "E", "IDN", "UTF8":
		return true
	}
	return false
}

// eximDuration reads a time as Exim writes it in QT= and DT=: "0s", "18s",
// "2m3s", "1h2m", "1d2h3m4s", "1w", with +millisec "1.333s".
func eximDuration(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	total := 0.0
	for s != "" {
		n := 0
		for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.') {
			n++
		}
		if n == 0 || n == len(s) {
			return 0, false
		}
		v, err := strconv.ParseFloat(s[:n], 64)
		if err != nil {
			return 0, false
		}
		switch s[n] {
		case 's':
		case 'm':
			v *= 60
		case 'h':
			v *= 3600
		case 'd':
			v *= 86400
		case 'w':
			v *= 7 * 86400
		default:
			return 0, false
		}
		total += v
		s = s[n+1:]
	}
	return total, true
}

// trimReceivedRecipients takes off the " for rcpt1 rcpt2" that Exim puts at
// the end of an arrival line with log_selector +received_recipients, which
// would otherwise run on into the last field's value (id=, the Message-ID),
// and returns it apart.
func trimReceivedRecipients(s string) (rest, rcpts string) {
	i := strings.LastIndex(s, " for ")
	if i < 0 || strings.ContainsAny(s[i+len(" for "):], "=\"[]()") {
		return s, ""
	}
	return s[:i], s[i+len(" for "):]
}

// parseEximArrival reads "sender H=... P=esmtp S=1234 id=msgid ...".
func parseEximArrival(ev *Event, s string) {
	ev.Kind = KindArrival
	sp := strings.IndexByte(s, ' ')
	sender := s
	if sp >= 0 {
		sender, s = s[:sp], s[sp+1:]
	} else {
		s = ""
	}
	if sender == "<>" {
		sender = ""
	}
	ev.Sender = sender
	s, ev.ReceivedFor = trimReceivedRecipients(s)
	eximFields(s, func(k, v string) {
		switch k {
		case "H":
			ev.Client = eximHost(v)
		case "P":
			ev.Protocol = v
		case "S":
			// The test suite writes "S=sss"; a size that is not a number
			// stays unknown.
			if n, ok := digits(v); ok {
				ev.Size = int64(n)
			}
		case "id", "id*":
			// "id*=" (Exim 4.95+) is a Message-ID Exim made up itself.
			ev.MessageID = v
		case "R":
			// A bounce or autoreply names the message it reports on.
			ev.ParentID = v
		case "U":
			if ev.Client.Raw == "" {
				ev.Client = Relay{Raw: "local", Name: "local"}
			}
		}
	})
}

// eximHost reads H='s value: "mx.example.com [1.2.3.4]", "(helo) [1.2.3.4]:25",
// "name (helo) [1.2.3.4]", "127.0.0.1 [127.0.0.1]*", "[1.2.3.4]".
func eximHost(v string) Relay {
	r := Relay{Raw: v}
	open := strings.LastIndexByte(v, '[')
	if open < 0 {
		r.Name = v
		return r
	}
	close := strings.IndexByte(v[open:], ']')
	if close < 0 {
		r.Addr = v[open+1:]
	} else {
		r.Addr = v[open+1 : open+close]
		tail := v[open+close+1:]
		if len(tail) > 1 && tail[0] == ':' {
			r.Port = atoi(tail[1:])
		}
	}
	name := strings.TrimSpace(v[:open])
	if i := strings.IndexByte(name, ' '); i >= 0 {
		name = name[:i]
	}
	r.Name = name
	return r
}

// eximRelay reads H= of a delivery, and writes it as Postfix does
// ("mx.example.com[192.0.2.1]:25" for Exim's "mx.example.com [192.0.2.1]:25")
// so that the same next hop is one relay in a database of both.
func eximRelay(v string) Relay {
	r := eximHost(v)
	if r.Name == "" || r.Addr == "" || strings.HasPrefix(r.Name, "(") {
		return r
	}
	r.Raw = r.Name + "[" + r.Addr + "]"
	if r.Port > 0 {
		r.Raw += ":" + strconv.Itoa(r.Port)
	}
	return r
}

// parseEximDelivery reads the part after "=>", "->", "*>", "**" or "==":
// "a@b [<parent@x>] [F=<s>] R=router T=transport H=host [ip] ... C="250 ..."",
// and for failures the text after ": " or " : ".
func parseEximDelivery(ev *Event, s string, out Outcome) {
	ev.Kind = KindDelivery
	ev.Outcome = out
	switch out {
	case Delivered:
		ev.Status = "sent"
	case Bounced:
		ev.Status = "bounced"
	case Deferred:
		ev.Status = "deferred"
	}
	// The address: up to a space, or up to a colon glued to it
	// ("a@b: retry timeout exceeded"). Seen in a real log: two spaces
	// after the flag.
	s = strings.TrimLeft(s, " ")
	addrEnd := 0
	for addrEnd < len(s) && s[addrEnd] != ' ' {
		addrEnd++
	}
	addr := s[:addrEnd]
	rest := s[addrEnd:]
	if out != Delivered && strings.HasSuffix(addr, ":") {
		addr = addr[:len(addr)-1]
		rest = ":" + rest
	}
	rest = strings.TrimPrefix(rest, " ")
	if addr == "blackhole" && strings.HasPrefix(rest, "(") && strings.Contains(rest, "discarded recipients)") {
		// "=> blackhole (DATA ACL discarded recipients)": an ACL or
		// local_scan dropped recipients it does not name; no delivery.
		ev.Kind = KindOther
		return
	}
	parent := ""
	if a, top, r, ok := eximAddressWithParents(s, addr, rest); ok {
		// "a (p1, p2) <top> R=..." (log_selector +all_parents, set on
		// every cPanel server), or a pipe or local name with spaces.
		addr, parent, rest = a, top, r
	} else if strings.HasPrefix(rest, "<") {
		if gt := strings.IndexByte(rest, '>'); gt > 0 {
			parent = rest[1:gt]
			rest = rest[gt+1:]
			if strings.HasPrefix(rest, ":") {
				// "** addr <parent>: reason"
			} else {
				rest = strings.TrimPrefix(rest, " ")
			}
		}
	}
	if parent == "system-filter" {
		// "=> /var/mail/archive <system-filter> T=address_file": a copy
		// the system filter made ("unseen save", "unseen deliver"), not a
		// recipient of the message.
		ev.Kind, ev.Outcome, ev.Status = KindOther, OutcomeNone, ""
		return
	}
	if strings.HasPrefix(addr, ">") {
		// "=> >sender@example.com <user@example.org> T=address_reply": an
		// autoreply (vacation), which Exim sends as a message of its own,
		// logged and delivered under its own ID. Not this message's.
		ev.Kind = KindOther
		return
	}
	switch {
	case strings.ContainsRune(addr, '@') && (parent == "" || addr[0] != '|' && !strings.Contains(addr, " ")):
		// (A pipe's command may name an address: "|/usr/bin/autorespond
		// a@example.org /home/a <a@example.org>".)
		ev.Recipient = addr
		ev.OrigRecipient = parent
	case parent != "":
		// ":blackhole:", a local user name, a "|pipe" or a "/file": the
		// address in brackets is the one the message was sent to.
		ev.Recipient = parent
		ev.LocalName = addr
	default:
		ev.Recipient = addr
	}
	var reply string
	text := rest
	if len(text) > 0 && text[0] == ':' {
		text = strings.TrimPrefix(text[1:], " ")
	} else {
		text = eximFields(text, func(k, v string) {
			switch k {
			case "R":
				ev.Router = v
			case "T":
				ev.Transport = v
			case "H":
				ev.Relay = eximRelay(v)
			case "C":
				reply = v
			case "F":
				ev.Sender = trimAngle(v)
			case "QT":
				// log_selector +queue_time: the time since arrival.
				if d, ok := eximDuration(v); ok {
					ev.Delay = d
				}
			}
		})
	}
	if out == Deferred {
		// "defer (-44) H=...: text" or "defer (111): Connection refused".
		if strings.HasPrefix(text, "defer (") {
			if c := strings.IndexByte(text, ')'); c > 0 {
				text = strings.TrimPrefix(text[c+1:], " ")
				if len(text) > 0 && text[0] == ':' {
					text = strings.TrimPrefix(text[1:], " ")
					// "defer (113): No route to host H=mx [192.0.2.1]: mx
					// [192.0.2.1]": the host after the error.
					if i := strings.Index(text, " H="); i > 0 && ev.Relay.Raw == "" {
						eximFields(text[i+1:], func(k, v string) {
							if k == "H" {
								ev.Relay = eximRelay(v)
							}
						})
					}
				} else {
					text = eximFields(text, func(k, v string) {
						if k == "H" {
							ev.Relay = eximRelay(v)
						}
					})
				}
			}
		}
	}
	if out == Delivered {
		if reply != "" {
			ev.Reply = ParseReply(unescapeExim(reply))
		}
		return
	}
	// log_selector +deliver_time appends " DT=0s" to a failure's text.
	if i := strings.LastIndex(text, " DT="); i >= 0 && strings.IndexByte(text[i+1:], ' ') < 0 {
		text = text[:i]
	}
	// A multi-line reply is joined with a literal "\n" here too.
	ev.Reply = ParseReply(unescapeExim(text))
	if ev.Relay.Raw == "" && ev.Reply.RemoteAddr != "" {
		// Exim before 4.88 named the host in the text, not in H=: "SMTP
		// error from remote mail server after RCPT TO:<a@b>: host
		// mx.example.com [192.0.2.1]: 451 ...".
		ev.Relay = eximRelay(ev.Reply.RemoteHost + " [" + ev.Reply.RemoteAddr + "]")
	}
	if out == Deferred && eximNotTried(text) {
		// A queue runner passed the address before its retry time: nothing
		// was tried, and how often Exim says so depends on the queue run
		// interval, not on the remote side. Not a delivery attempt; nor is
		// "domain matches queue_smtp_domains, or -odqs set", which only
		// leaves the message for the next queue run.
		ev.Kind = KindOther
		return
	}
	// Exim gives up after retrying without a permanent error from the
	// remote side: the recipient expired, it did not bounce.
	if out == Bounced && isEximGiveUp(text) {
		ev.Outcome = Expired
		ev.Status = "expired"
	}
	ev.Reason = Classify(ev.Reply.Code, ev.Reply.Enhanced, withoutSizeParam(ev.Reply.Raw))
}

// eximAddressWithParents reads the address part of a delivery line when it
// is more than "address [<top>]": with log_selector +all_parents Exim writes
// the addresses it was redirected through between the final address and the
// topmost one, "nick (nick@example.net, nick@example.org) <nick@example.org>",
// and a local delivery's name or a pipe's command may hold spaces
// ("|/usr/bin/autorespond a@example.org /home/a (a@example.org) <a@example.org>").
// s is the line after the flag, first and rest the first word and what follows
// it. It returns the final address, the topmost address (the last parent when
// Exim left out the <top> that would repeat it) and the text after the
// addresses; ok is false when the line has the plain form.
func eximAddressWithParents(s, first, rest string) (addr, top, after string, ok bool) {
	if !strings.HasPrefix(rest, "(") && (strings.ContainsRune(first, '@') || rest == "" || rest[0] == '<' || rest[0] == ':') {
		return "", "", "", false
	}
	// The address part ends at the first field (" R=") or at ": " (the
	// failure text), outside quotes, brackets and parentheses.
	end, depth, quoted := len(s), 0, false
scan:
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(' || c == '<':
			depth++
		case c == ')' || c == '>':
			depth--
		case depth > 0:
		case c == ':' && (i+1 == len(s) || s[i+1] == ' '):
			end = i
			break scan
		case c == ' ':
			r := s[i+1:]
			if eq := strings.IndexByte(r, '='); eq > 0 && eq <= 8 && isEximKey(r[:eq]) {
				end = i
				break scan
			}
		}
	}
	head := strings.TrimRight(s[:end], " ")
	if strings.HasSuffix(head, ">") {
		lt := strings.LastIndex(head, " <")
		if lt < 0 {
			return "", "", "", false
		}
		top = head[lt+2 : len(head)-1]
		head = strings.TrimRight(head[:lt], " ")
	}
	if strings.HasSuffix(head, ")") {
		open, depth, quoted := -1, 0, false
		for i := len(head) - 1; i >= 0 && open < 0; i-- {
			switch c := head[i]; {
			case c == '"':
				quoted = !quoted
			case quoted:
			case c == ')':
				depth++
			case c == '(':
				if depth--; depth == 0 {
					open = i
				}
			}
		}
		if open <= 0 || head[open-1] != ' ' {
			return "", "", "", false
		}
		if top == "" {
			parents := head[open+1 : len(head)-1]
			top = strings.TrimSpace(parents[strings.LastIndexByte(parents, ',')+1:])
		}
		head = strings.TrimRight(head[:open], " ")
	} else if top == "" {
		// Neither a parent list nor a <top>: the plain form.
		return "", "", "", false
	}
	if head == "" || !strings.ContainsRune(top, '@') {
		// "nick routing defer (-51): ..." has parentheses, not parents.
		return "", "", "", false
	}
	return head, top, strings.TrimPrefix(s[end:], " "), true
}

// eximNotTried tells a deferral at which nothing was tried: a queue runner
// passing an address before its retry time (remote: "retry time not
// reached", local: "Retry time not yet reached"), or a message left for the
// next queue run ("domain matches queue_smtp_domains, or -odqs set", and
// Exim 4.96's "SMTP delivery explicitly queued").
func eximNotTried(text string) bool {
	return strings.Contains(text, "retry time not reached") || strings.Contains(text, "Retry time not yet reached") ||
		strings.Contains(text, "matches queue_smtp_domains") || strings.HasPrefix(text, "SMTP delivery explicitly queued")
}

// withoutSizeParam takes the SIZE= parameter out of Exim's "after MAIL
// FROM:<a@b> SIZE=1409:": it names the message's size, whatever the
// reply says, and would make any reply read as "message too big".
func withoutSizeParam(s string) string {
	i := strings.Index(s, "> SIZE=")
	if i < 0 || !strings.Contains(s[:i], "MAIL FROM:<") {
		return s
	}
	j := i + len("> SIZE=")
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	return s[:i+1] + s[j:]
}

// isEximGiveUp recognises Exim's failures that come from its retry rules
// rather than from a permanent error.
func isEximGiveUp(text string) bool {
	return strings.HasPrefix(text, "retry timeout exceeded") ||
		strings.Contains(text, "have been failing for a long time") ||
		strings.HasPrefix(text, "retry time not reached for any host after a long failure period")
}

// unescapeExim leaves Exim's "\n" (a literal backslash-n that joins the
// lines of a multi-line reply) as a space, the way Postfix flattens them.
func unescapeExim(s string) string {
	if !strings.Contains(s, `\n`) {
		return s
	}
	return strings.ReplaceAll(s, `\n`, " ")
}

// parseEximReject reads "H=... F=<a@b> rejected RCPT <c@d>: reason",
// "H=... F=a@b rejected RCPT c@d: reason", "temporarily rejected RCPT",
// "rejected MAIL", "rejected after DATA: ...", "rejected EHLO or HELO".
func parseEximReject(ev *Event, s string) {
	i := strings.Index(s, "rejected ")
	head, tail := s[:i], s[i+len("rejected "):]
	// "temporarily rejected RCPT": a 4xx refusal; the word is not part of
	// the last field.
	head = strings.TrimSuffix(strings.TrimRight(head, " "), " temporarily")
	eximFields(head, func(k, v string) {
		switch k {
		case "H":
			ev.Client = eximHost(v)
		case "F":
			ev.Sender = trimAngle(v)
		}
	})
	sp := strings.IndexByte(tail, ' ')
	stage := tail
	if sp >= 0 {
		stage, tail = tail[:sp], tail[sp+1:]
	} else {
		tail = ""
	}
	switch stage {
	case "RCPT":
		end := strings.Index(tail, ": ")
		rcpt := tail
		if end >= 0 {
			rcpt, tail = tail[:end], tail[end+2:]
		} else {
			tail = ""
		}
		ev.Recipient = trimAngle(rcpt)
	case "MAIL", "after", "EHLO", "HELO", "connection", "DATA", "by":
		if c := strings.Index(tail, ": "); c >= 0 {
			tail = tail[c+2:]
		}
	default:
		return
	}
	ev.Kind = KindReject
	ev.Outcome = Rejected
	ev.RejectStage = strings.ToUpper(stage)
	if stage == "after" {
		ev.RejectStage = "DATA"
	}
	ev.Reply = ParseReply(strings.Trim(tail, `"`))
	ev.Reason = Classify(ev.Reply.Code, ev.Reply.Enhanced, ev.Reply.Raw)
}

// parseEximNoID reads lines without a message ID: rejections, connection
// events, and the rest.
func parseEximNoID(ev *Event, s string) {
	if strings.Contains(s, "rejected ") {
		parseEximReject(ev, s)
		if ev.Kind == KindReject {
			return
		}
	}
	switch {
	case strings.HasPrefix(s, "Warning: ") || strings.Contains(s, " Warning: "):
		ev.Kind = KindWarning
	case strings.HasPrefix(s, "panic") || strings.Contains(s, "PANIC"):
		ev.Kind = KindFatal
	default:
		ev.Kind = KindOther
	}
}
