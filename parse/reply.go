package parse

import "strings"

// ParseReply reads a reply or explanation as Postfix writes it inside the
// parentheses of a status= line ("host mx[1.2.3.4] said: 550 5.1.1 <a@b>:
// User unknown (in reply to RCPT TO command)", "connect to mx[1.2.3.4]:25:
// Connection refused", "250 2.0.0 Ok: queued as 4Xkp2N0KJjz9sR9"), or as
// Exim writes it after "SMTP error from remote mail server after RCPT
// TO:<a@b>: 550 ...", or in C="...".
func ParseReply(s string) Reply {
	r := Reply{Raw: s}
	rest := s

	// "delivery temporarily suspended: <the earlier reason>": Postfix repeats
	// the reason that made it mark the destination dead.
	rest = strings.TrimPrefix(rest, "delivery temporarily suspended: ")

	switch {
	case strings.HasPrefix(rest, "host "):
		// "host NAME[ADDR] said: ..." or "host NAME[ADDR] refused to talk to me: ..."
		h := rest[5:]
		sp := strings.IndexByte(h, ' ')
		if sp > 0 {
			r.RemoteHost, r.RemoteAddr = splitHostAddr(h[:sp])
			after := h[sp+1:]
			if c := strings.Index(after, ": "); c >= 0 {
				verb := after[:c]
				rest = after[c+2:]
				if strings.HasPrefix(verb, "refused to talk to me") {
					r.Stage = "CONNECT"
				}
			}
		}
	case strings.HasPrefix(rest, "SASL authentication failed; server "):
		// Postfix's smtp client: "SASL authentication failed; server
		// NAME[ADDR] said: 535 5.7.8 ...".
		h := rest[len("SASL authentication failed; server "):]
		if sp := strings.Index(h, " said: "); sp > 0 {
			r.RemoteHost, r.RemoteAddr = splitHostAddr(h[:sp])
			r.Stage = "AUTH"
			rest = h[sp+len(" said: "):]
		}
	case strings.HasPrefix(rest, "connect to "):
		r.Stage = "CONNECT"
		r.RemoteHost, r.RemoteAddr = hostAfter(rest[len("connect to "):])
	case strings.HasPrefix(rest, "lost connection with "), strings.HasPrefix(rest, "conversation with "):
		i := strings.Index(rest, " with ")
		r.RemoteHost, r.RemoteAddr = hostAfter(rest[i+6:])
		r.Stage = stageOfWhile(rest)
	case strings.HasPrefix(rest, "SMTP error from remote mail server after "):
		// Exim: "SMTP error from remote mail server after RCPT TO:<a@b>: 550 ..."
		after := rest[len("SMTP error from remote mail server after "):]
		stage, text := eximStage(after)
		r.Stage = stage
		rest = text
	case strings.HasPrefix(rest, "SMTP error from remote mailer after "):
		after := rest[len("SMTP error from remote mailer after "):]
		stage, text := eximStage(after)
		r.Stage = stage
		rest = text
	case strings.HasPrefix(rest, "Remote host "):
		// Exim: "Remote host mx.example.com [192.0.2.1] closed connection
		// in response to end of data".
		h := rest[len("Remote host "):]
		if c := strings.Index(h, "] closed connection"); c > 0 {
			r.RemoteHost, r.RemoteAddr = splitHostAddr(strings.Replace(h[:c+1], " [", "[", 1))
			if i := strings.Index(h, " in response to "); i > 0 {
				r.Stage = normStage(h[i+len(" in response to "):])
			}
		}
	case strings.HasPrefix(rest, "LMTP error after "):
		// Exim's lmtp transport: "LMTP error after DATA: 452 4.2.2 <a@b> Quota exceeded".
		stage, text := eximStage(rest[len("LMTP error after "):])
		r.Stage = stage
		rest = text
	}

	// Older Exim: "... after end of data: host mx.example.com [1.2.3.4]: 554 ...".
	if r.Stage != "" && strings.HasPrefix(rest, "host ") {
		if c := strings.Index(rest, "]: "); c > 0 {
			name, addr := splitHostAddr(strings.Replace(rest[5:c+1], " [", "[", 1))
			r.RemoteHost, r.RemoteAddr = name, addr
			rest = rest[c+3:]
		}
	}

	// The stage Postfix appends: "(in reply to RCPT TO command)".
	if strings.HasSuffix(rest, " command)") {
		// The two may overlap in " (in reply to command)".
		if i := strings.LastIndex(rest, " (in reply to "); i >= 0 && i+len(" (in reply to ") <= len(rest)-len(" command)") {
			st := rest[i+len(" (in reply to ") : len(rest)-len(" command)")]
			r.Stage = normStage(st)
			rest = rest[:i]
		}
	}

	code, enh, text := splitCodes(rest)
	r.Code = code
	r.Enhanced = enh
	r.Text = text
	if r.Code >= 200 && r.Code < 300 {
		r.RemoteID = remoteID(text)
		r.RemoteName = remoteName(text)
	}
	return r
}

// splitCodes takes the basic and enhanced codes off the front of a reply:
// "550 5.1.1 text", "550-5.1.1 text", "550 text", "5.1.1 text" (a milter or
// a Postfix rejection without basic code) and "text" alone.
func splitCodes(s string) (int, EnhancedStatus, string) {
	code := 0
	if len(s) >= 3 && s[0] >= '2' && s[0] <= '5' && isDigit(s[1]) && isDigit(s[2]) &&
		(len(s) == 3 || s[3] == ' ' || s[3] == '-') {
		code = int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
		s = s[3:]
		if len(s) > 0 {
			s = s[1:]
		}
	}
	enh, n := ParseEnhanced(s)
	if n > 0 && (code == 0 || enh.Class == uint8(code/100)) {
		s = s[n:]
		for len(s) > 0 && s[0] == ' ' {
			s = s[1:]
		}
	} else {
		enh = EnhancedStatus{}
	}
	return code, enh, s
}

// ParseEnhanced reads an RFC 3463 code "c.sss.ddd" at the start of s and
// returns it with the number of bytes it took. A code must be followed by
// a space, a comma, a semicolon, a colon or the end, so that a version
// number or an address does not pass for one.
func ParseEnhanced(s string) (EnhancedStatus, int) {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return EnhancedStatus{}, 0
	}
	i := 2
	subj, n := num3(s[i:])
	if n == 0 || i+n >= len(s) || s[i+n] != '.' {
		return EnhancedStatus{}, 0
	}
	i += n + 1
	det, n := num3(s[i:])
	if n == 0 {
		return EnhancedStatus{}, 0
	}
	i += n
	if i < len(s) {
		switch s[i] {
		case ' ', ',', ';', ':', ')', ']', '\t':
		default:
			return EnhancedStatus{}, 0
		}
	}
	return EnhancedStatus{Class: s[0] - '0', Subject: uint16(subj), Detail: uint16(det)}, i
}

// num3 reads one to three digits.
func num3(s string) (int, int) {
	v, n := 0, 0
	for n < len(s) && n < 3 && isDigit(s[n]) {
		v = v*10 + int(s[n]-'0')
		n++
	}
	if n < len(s) && isDigit(s[n]) {
		return 0, 0
	}
	return v, n
}

// splitHostAddr splits "name[addr]" or "name[addr]:port".
func splitHostAddr(s string) (string, string) {
	open := strings.IndexByte(s, '[')
	if open < 0 {
		return s, ""
	}
	close := strings.LastIndexByte(s, ']')
	if close < open {
		return s[:open], s[open+1:]
	}
	return s[:open], s[open+1 : close]
}

// hostAfter reads "name[addr]..." up to the first space or colon after the
// closing bracket.
func hostAfter(s string) (string, string) {
	close := strings.IndexByte(s, ']')
	if close < 0 {
		sp := strings.IndexAny(s, " :")
		if sp < 0 {
			return s, ""
		}
		return s[:sp], ""
	}
	return splitHostAddr(s[:close+1])
}

// stageOfWhile maps Postfix's "while receiving the initial server
// greeting", "while sending RCPT TO", "while sending end of data -- message
// may be sent more than once", "while performing the EHLO handshake" to a
// stage.
func stageOfWhile(s string) string {
	i := strings.Index(s, " while ")
	if i < 0 {
		return ""
	}
	w := s[i+7:]
	switch {
	case strings.HasPrefix(w, "receiving the initial server greeting"):
		return "CONNECT"
	case strings.HasPrefix(w, "performing the EHLO handshake"):
		return "EHLO"
	case strings.HasPrefix(w, "performing the LHLO handshake"):
		return "LHLO"
	case strings.HasPrefix(w, "performing the HELO handshake"):
		return "HELO"
	case strings.HasPrefix(w, "sending end of data"), strings.HasPrefix(w, "receiving the final server response"):
		return "end of DATA"
	case strings.HasPrefix(w, "sending message body"):
		return "DATA"
	case strings.HasPrefix(w, "sending "):
		return normStage(strings.TrimPrefix(w, "sending "))
	case strings.HasPrefix(w, "receiving "):
		return normStage(strings.TrimPrefix(w, "receiving "))
	}
	return ""
}

// normStage names SMTP stages one way: "RCPT TO", "MAIL FROM", "DATA",
// "end of DATA", "EHLO", "CONNECT", "STARTTLS", "BDAT", "QUIT".
func normStage(s string) string {
	switch {
	case strings.HasPrefix(s, "RCPT"):
		return "RCPT TO"
	case strings.HasPrefix(s, "MAIL"):
		return "MAIL FROM"
	case strings.HasPrefix(s, "end of DATA"), strings.HasPrefix(s, "end of data"), s == "DATA body", strings.HasPrefix(s, "message body"):
		return "end of DATA"
	case strings.HasPrefix(s, "DATA"), strings.HasPrefix(s, "pipelined DATA"):
		return "DATA"
	case strings.HasPrefix(s, "BDAT"), strings.HasPrefix(s, "pipelined BDAT"):
		return "BDAT"
	case strings.HasPrefix(s, "EHLO"), strings.HasPrefix(s, "HELO"), strings.HasPrefix(s, "LHLO"):
		return s[:4]
	case strings.HasPrefix(s, "STARTTLS"):
		return "STARTTLS"
	case strings.HasPrefix(s, "initial connection"), strings.HasPrefix(s, "CONNECT"), strings.HasPrefix(s, "connect"):
		return "CONNECT"
	case strings.HasPrefix(s, "QUIT"):
		return "QUIT"
	case strings.HasPrefix(s, "AUTH"):
		return "AUTH"
	case strings.HasPrefix(s, "XCLIENT"), strings.HasPrefix(s, "XFORWARD"):
		return s
	}
	return s
}

// eximStage splits Exim's "RCPT TO:<a@b>: 550 text", "MAIL FROM:<a@b> SIZE=12: 452 text",
// "end of data: 554 text", "initial connection: 421 text", "pipelined DATA: 554 text",
// "EHLO host: 550 text" into the stage and the reply.
func eximStage(s string) (string, string) {
	var stage string
	s = strings.TrimPrefix(s, "pipelined ")
	switch {
	case strings.HasPrefix(s, "RCPT TO:<"), strings.HasPrefix(s, "MAIL FROM:<"):
		// The address may contain ": "; skip past the closing bracket.
		stage = s[:4]
		if stage == "RCPT" {
			stage = "RCPT TO"
		} else {
			stage = "MAIL FROM"
		}
		if gt := strings.Index(s, ">"); gt >= 0 {
			s = s[gt+1:]
		}
		if c := strings.Index(s, ": "); c >= 0 {
			return stage, s[c+2:]
		}
		return stage, strings.TrimSpace(s)
	}
	if c := strings.Index(s, ": "); c >= 0 {
		stage = normStage(s[:c])
		return stage, s[c+2:]
	}
	return normStage(s), ""
}

// remoteID finds the identifier that a receiving server put in its 2xx
// reply. Unknown shapes give "" rather than a guess.
func remoteID(text string) string {
	// Postfix and most MTAs: "Ok: queued as 4Xkp2N0KJjz9sR9", "queued as 12345".
	if i := strings.Index(text, "queued as "); i >= 0 {
		return token(text[i+len("queued as "):])
	}
	// Exim: "OK id=1ZpCCD-0002J4-Ej".
	if i := strings.Index(text, "id="); i >= 0 && (i == 0 || text[i-1] == ' ') {
		return token(text[i+3:])
	}
	// Gmail: "OK  1700000000 x12si123 - gsmtp", also "- smtp" (Google
	// Workspace relays).
	for _, suffix := range []string{" - gsmtp", " - smtp"} {
		if strings.HasSuffix(text, suffix) {
			rest := strings.TrimRight(text[:len(text)-len(suffix)], " ")
			return rest[strings.LastIndexByte(rest, ' ')+1:]
		}
	}
	// Amazon SES: "Ok 010001805204880d-1c44c665-...-000000": one long
	// token after Ok and nothing else.
	if len(text) > 3 && (strings.HasPrefix(text, "Ok ") || strings.HasPrefix(text, "OK ")) {
		if t := token(text[3:]); len(t) == len(text)-3 && len(t) >= 16 && strings.ContainsAny(t, "0123456789") {
			return t
		}
	}
	// "6FVIjIMwUJwU66FVIjAEB0 mail accepted for delivery" (Telia).
	if i := strings.Index(text, " mail accepted for delivery"); i > 0 {
		if t := token(text); len(t) == i {
			return t
		}
	}
	// qmail-like: "ok: Message 12345 accepted", "Message 12345 accepted for delivery".
	if i := strings.Index(text, "Message "); i >= 0 {
		rest := text[i+len("Message "):]
		if t := token(rest); t != "" && strings.HasPrefix(rest[len(t):], " accepted") {
			return t
		}
	}
	// Microsoft: "<msgid@host> [InternalId=..., Hostname=...] Queued mail for delivery".
	if strings.HasPrefix(text, "<") && strings.Contains(text, "Queued mail for delivery") {
		if gt := strings.IndexByte(text, '>'); gt > 1 {
			return text[1:gt]
		}
	}
	// Dovecot LMTP: "<rcpt@dom> 3Nw9LLrgaF+hPgAA9Bt4Rw Saved".
	if strings.HasPrefix(text, "<") && strings.HasSuffix(text, " Saved") {
		mid := text[:len(text)-len(" Saved")]
		if sp := strings.IndexByte(mid, ' '); sp > 0 && strings.IndexByte(mid[sp+1:], ' ') < 0 {
			return mid[sp+1:]
		}
	}
	return ""
}

// remoteName reads the receiving server's own name where a 2xx reply
// gives one: Microsoft's "[InternalId=..., Hostname=AM0PR01MB1234...]".
func remoteName(text string) string {
	i := strings.Index(text, "Hostname=")
	if i < 0 {
		return ""
	}
	return token(text[i+len("Hostname="):])
}

// token reads a run of characters that can make up a queue or message ID.
func token(s string) string {
	n := 0
	for n < len(s) {
		c := s[n]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@' {
			n++
			continue
		}
		break
	}
	for n > 0 && s[n-1] == '.' {
		n--
	}
	return s[:n]
}
