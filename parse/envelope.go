package parse

import (
	"strings"
	"time"
)

// Options tune a Parser.
type Options struct {
	// Year is the year of the first BSD-syslog line (whose timestamps carry
	// none). Zero means: infer it from Reference.
	Year int
	// Reference is a time no line can be later than, usually the modification
	// time of the file being read (or now, for a live log). A BSD timestamp
	// takes the latest year that does not put it more than a day after
	// Reference. Zero means time.Now().
	Reference time.Time
	// Location is the time zone of timestamps that carry no offset. Nil means
	// time.Local.
	Location *time.Location
}

// Parser turns lines into events. It keeps a little state between lines (the
// year of BSD timestamps across a December-to-January rollover, a cache of
// the last timestamp), so use one Parser per input stream and not from two
// goroutines at once.
type Parser struct {
	opt Options
	loc *time.Location

	// Year handling for timestamps without a year.
	lastMonth time.Month
	yearShift int
	// The year yearFor gave a day of the year last, and for which day.
	yearMon  time.Month
	yearDay  int
	yearOf   int
	yearDone bool

	// The last timestamp text seen and its value: consecutive lines very
	// often share their second.
	lastStamp string
	lastTime  time.Time

	// Exim's last "H=host [ip] error" line (see hostBefore).
	eximHost eximHostLine

	// Fixed zones by offset in seconds, so that RFC 3339 lines do not
	// allocate a zone each.
	zones map[int]*time.Location
}

// NewParser returns a Parser with the given options.
func NewParser(opt Options) *Parser {
	p := &Parser{opt: opt, loc: opt.Location}
	if p.loc == nil {
		p.loc = time.Local
	}
	if p.opt.Reference.IsZero() {
		p.opt.Reference = time.Now()
	}
	return p
}

// YearState is where a year given with Options.Year stands after the lines
// parsed so far: the year of the last one (the given one plus the rollovers
// seen) and its month; a zero month when no line had a BSD timestamp.
func (p *Parser) YearState() (year int, month time.Month) {
	return p.opt.Year + p.yearShift, p.lastMonth
}

// ContinueYear makes a parser with Options.Year go on from where another
// stood (YearState): the next file of a rotated set, read oldest first,
// whose first line may be January's after the other's December.
func (p *Parser) ContinueYear(year int, month time.Month) {
	if p.opt.Year == 0 || month == 0 {
		return
	}
	p.opt.Year, p.yearShift, p.lastMonth = year, 0, month
}

// SetReference moves the time no line can be later than: a follower of a
// live log calls it as time passes, so that a January line is not put in
// the previous year by a parser started in December.
func (p *Parser) SetReference(t time.Time) {
	p.opt.Reference = t
	p.yearDone = false
}

// Parse parses one line. The line may end in "\r\n", "\n" or nothing.
func (p *Parser) Parse(line string) Event {
	var ev Event
	p.ParseInto(&ev, line)
	return ev
}

// ParseInto parses one line into ev, overwriting all of it. It returns
// ev.Kind != KindUnknown.
func (p *Parser) ParseInto(ev *Event, line string) bool {
	*ev = Event{Delay: -1, Size: -1}
	line = trimEOL(line)
	msg, ok := p.envelope(ev, line)
	if !ok {
		if ev.Program != "" {
			return false // another program's line, with a good envelope
		}
		// Only a line without an envelope is looked at again: a
		// container tool's prefix costs the other lines nothing.
		inner, wrapped := containerPrefix(line)
		if !wrapped {
			return false
		}
		*ev = Event{Delay: -1, Size: -1}
		if msg, ok = p.envelope(ev, inner); !ok {
			return false
		}
	}
	switch ev.MTA {
	case Postfix:
		parsePostfix(ev, msg)
	case Exim:
		p.parseExim(ev, msg)
	}
	return ev.Kind != KindUnknown
}

func trimEOL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// envelope reads the timestamp, host and program of a line and returns the
// message after them. It sets ev.MTA when the program is Postfix or Exim;
// lines of other programs come back with ok false.
func (p *Parser) envelope(ev *Event, line string) (msg string, ok bool) {
	if len(line) < 16 {
		return "", false
	}
	if line[0] == '{' {
		return p.jsonEnvelope(ev, line) // json.go
	}
	if line[0] == '<' {
		// A syslog priority "<22>", as written by syslog receivers that
		// keep the whole packet; RFC 5424 follows it with its version.
		n := priority(line)
		if n == 0 {
			return "", false
		}
		line = line[n:]
		if strings.HasPrefix(line, "1 ") {
			return p.rfc5424(ev, line[2:])
		}
		if len(line) < 16 {
			return "", false
		}
	}
	c := line[0]
	var rest string
	switch {
	case c >= 'A' && c <= 'Z':
		// BSD syslog "Nov 28 07:04:05", journalctl short-precise
		// "Nov 28 07:04:05.123456", Postfix postlog "Nov 28 07:04:05".
		t, n, ok := p.bsdStamp(line)
		if !ok {
			// journalctl -o short-full: "Sun 2026-11-29 10:00:00 CET".
			if t, n, ok = p.fullStamp(line); !ok {
				return "", false
			}
		}
		ev.Time = t
		rest = line[n:]
	case c >= '0' && c <= '9':
		if line[4] == ':' && line[7] == ':' && line[10] == '-' {
			// Sophos UTM's syslog: "2011:03:08-10:29:44 host exim[1]: ".
			t, ok := p.colonStamp(line)
			if !ok {
				return "", false
			}
			ev.Time = t
			rest = line[19:]
			break
		}
		if line[4] != '-' || line[7] != '-' {
			// journalctl -o short-unix: "1764313445.123456 host ...".
			t, n, ok := unixStamp(line)
			if !ok {
				return "", false
			}
			ev.Time = t
			rest = line[n:]
			break
		}
		switch line[10] {
		case 'T':
			t, n, ok := p.isoStamp(line)
			if !ok {
				return "", false
			}
			ev.Time = t
			rest = line[n:]
		case ' ':
			// A syslog daemon's "2026-11-28 07:04:05 host program[pid]:"
			// (a syslog-ng template), or else Exim's own mainlog: no host,
			// no program.
			if t, n, ok := p.eximStamp(line); ok && syslogDated(line[n:]) {
				ev.Time = t
				rest = line[n:]
				break
			}
			ev.MTA = Exim
			ev.Program = "exim"
			ev.Service = "exim"
			return line, true
		default:
			return "", false
		}
	default:
		// A syslog line whose date was stripped by a forwarder:
		// "mail.example.com exim[3751842]: 2021-07-17 23:20:49 ...".
		rest = line
	}
	h, ok := syslogFields(rest)
	if ok {
		if mta, _ := classifyProgram(h.program); mta != MTAUnknown {
			ev.Host, ev.Program, ev.PID = h.host, h.program, h.pid
			return p.program(ev, h.msg)
		}
	}
	// Not a Postfix or Exim line as syslog daemons mostly write them; the
	// other shapes seen in real logs are tried only now.
	if h2, ok2 := otherSyslogFields(rest); ok2 {
		h, ok = h2, true
	}
	if !ok {
		// FreeBSD's syslogd and the old sysklogd fold identical lines
		// that follow one another into "host last message repeated 3
		// times", with no program: the line before stands for 3 more.
		ev.Repeat = lastRepeated(rest)
		return "", false
	}
	ev.Host, ev.Program, ev.PID = h.host, h.program, h.pid
	return p.program(ev, h.msg)
}

// otherSyslogFields reads the less common shapes of what follows a syslog
// timestamp, when syslogFields found no Postfix or Exim program:
//
//   - no host: " postfix/smtpd[799447]: " (a syslog daemon set not to
//     write it);
//   - BusyBox syslogd's facility and level after the host:
//     " backup mail.info postfix/smtpd[1080]: ";
//   - the boky/postfix container's level where the host would be:
//     "2025-07-31T01:01:53.376231+00:00 INFO    postfix/smtp[1678]: ".
//
// It reports false unless the program is Postfix's or Exim's.
func otherSyslogFields(rest string) (h syslogHeader, ok bool) {
	s := strings.TrimPrefix(rest, " ")
	first, after, _ := strings.Cut(s, " ")
	second, prog, _ := strings.Cut(after, " ")
	switch {
	case strings.HasSuffix(first, ":") && strings.IndexByte(first, '/') > 0 || strings.HasSuffix(first, "]:"):
		h, ok = programFields(s)
	case facilityLevel(second):
		h, ok = programFields(prog)
		h.host = first
	default:
		if n := levelPrefix(rest); n > 0 {
			h, ok = programFields(rest[n:])
		}
	}
	if !ok {
		return h, false
	}
	mta, _ := classifyProgram(h.program)
	return h, mta != MTAUnknown
}

// facilityLevel tells BusyBox syslogd's "mail.info": a syslog facility and
// level.
func facilityLevel(s string) bool {
	fac, lvl, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	switch lvl {
	case "emerg", "alert", "crit", "err", "warn", "warning", "notice", "info", "debug":
	default:
		return false
	}
	switch fac {
	case "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7":
		return true
	}
	return false
}

// levelPrefix is the length of " INFO    " (a log level in capitals and
// the spaces after it) at the start of s, or 0.
func levelPrefix(s string) int {
	if len(s) < 2 || s[0] != ' ' {
		return 0
	}
	i := 1
	for i < len(s) && s[i] >= 'A' && s[i] <= 'Z' {
		i++
	}
	switch s[1:i] {
	case "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "CRIT", "FATAL":
	default:
		return 0
	}
	j := i
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j == i {
		return 0
	}
	return j
}

// UnknownEnvelope reports whether an event that came back with no MTA is
// a line whose envelope (time, host, program) mailbounce does not know,
// which names Postfix or Exim: likely a log format to learn, worth showing
// among the lines not understood, rather than another program's line.
func UnknownEnvelope(ev *Event, line string) bool {
	// A line that starts with white space continues a header that an Exim
	// reject log quotes ("\tby mx.example.org with esmtp (Exim 4.96)").
	return ev.MTA == MTAUnknown && ev.Program == "" && line != "" && line[0] != ' ' && line[0] != '\t' &&
		(strings.Contains(line, "postfix") || strings.Contains(line, "exim") || BareMessage(line))
}

// BareMessage tells a Postfix or Exim message with no envelope at all, as
// journalctl -o cat writes it ("4Xkp2N0KJjz9sR9: to=<a@example.com>, ...",
// "1pXyZ1-0001Ab-Cd => a@example.com ..."): with no time it cannot be
// stored, but it is not another program's line.
func BareMessage(line string) bool {
	i := 0
	for i < len(line) && i <= 24 && (isDigit(line[i]) || line[i] >= 'A' && line[i] <= 'Z' || line[i] >= 'a' && line[i] <= 'z' || line[i] == '-') {
		i++
	}
	if i < 6 || i >= len(line) {
		return false
	}
	rest := line[i:]
	if strings.Count(line[:i], "-") == 2 {
		for _, flag := range []string{" <= ", " => ", " -> ", " ** ", " == ", " *> ", " Completed"} {
			if strings.HasPrefix(rest, flag) {
				return true
			}
		}
		return false
	}
	for _, p := range []string{": to=<", ": from=<", ": removed", ": client=", ": message-id=", ": reject: ", ": uid="} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// containerPrefix takes off what container tools write before the lines
// a container logged: `docker compose logs`' "mailserver-1  | " (and
// docker-compose v1's "mailserver_1  | "), `kubectl logs --prefix`'s
// "[pod/mailserver-0/mailserver] ", and the RFC 3339 time `docker logs -t`,
// `docker compose logs -t` and `kubectl logs --timestamps` put before a line
// that has its own envelope. wrapped reports whether anything was taken off.
func containerPrefix(line string) (inner string, wrapped bool) {
	if n := composePrefix(line); n > 0 {
		line, wrapped = line[n:], true
	} else if strings.HasPrefix(line, "[pod/") {
		if end := strings.Index(line, "] "); end > 0 {
			line, wrapped = line[end+2:], true
		}
	}
	// "2026-11-28T07:04:05.123456789Z " before the line's own stamp.
	if len(line) > 21 && isDigit(line[0]) && line[4] == '-' && line[7] == '-' && line[10] == 'T' {
		if sp := strings.IndexByte(line[:min(len(line), 40)], ' '); sp > 0 && sp+1 < len(line) {
			line, wrapped = line[sp+1:], true
		}
	}
	return line, wrapped
}

// composePrefix is the length of a "name  | " prefix, or 0.
func composePrefix(line string) int {
	i := 0
	for i < len(line) && i < 128 && nameByte(line[i]) {
		i++
	}
	if i == 0 || i >= len(line) || line[i] != ' ' {
		return 0
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i+1 < len(line) && line[i] == '|' && line[i+1] == ' ' {
		return i + 2
	}
	return 0
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '_' || c == '.'
}

// syslogHeader is what follows a syslog timestamp: " host program[pid]: ".
type syslogHeader struct {
	host, program string
	pid           int
	msg           string // after the header
}

// syslogFields reads " host program[pid]: message" (the leading space and
// the pid optional).
func syslogFields(rest string) (h syslogHeader, ok bool) {
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	sp := strings.IndexByte(rest, ' ')
	if sp <= 0 {
		return h, false
	}
	h, ok = programFields(rest[sp+1:])
	h.host = rest[:sp]
	return h, ok
}

// programFields reads "program[pid]: message", the pid optional.
func programFields(rest string) (h syslogHeader, ok bool) {
	// The program ends at "[" (pid follows) or ":".
	end := strings.IndexAny(rest, "[: ")
	if end <= 0 || rest[end] == ' ' {
		return h, false
	}
	h.program = rest[:end]
	rest = rest[end:]
	if rest[0] == '[' {
		close := strings.IndexByte(rest, ']')
		if close < 0 {
			return h, false
		}
		h.pid = atoi(rest[1:close])
		rest = rest[close+1:]
	}
	switch {
	case strings.HasPrefix(rest, ": "):
		h.msg = rest[2:]
	case rest == ":":
	default:
		return h, false
	}
	return h, true
}

// program classifies the program of a syslog line, set in ev with its
// host and time, and returns its message.
func (p *Parser) program(ev *Event, msg string) (string, bool) {
	ev.MTA, ev.Service = classifyProgram(ev.Program)
	if ev.MTA == MTAUnknown {
		return "", false
	}
	// Solaris and illumos syslogd insert a message ID and the facility:
	// "postfix/smtp[123]: [ID 197553 mail.info] 4Xkp2N0KJjz9sR9: to=...".
	if strings.HasPrefix(msg, "[ID ") {
		if end := strings.IndexByte(msg, ']'); end > 0 && end+1 < len(msg) && msg[end+1] == ' ' {
			msg = msg[end+2:]
		}
	}
	// rsyslog's $RepeatedMsgReduction (on in Ubuntu's default
	// rsyslog.conf) folds identical lines that follow the first of them
	// into "message repeated 3 times: [ <the line's message>]": three lines.
	if strings.HasPrefix(msg, "message repeated ") {
		msg = repeatedMessage(ev, msg)
	}
	// Exim through syslog writes its message without its own timestamp, or
	// (when forwarded from a mainlog) with it, which parseExim reads: a
	// line without a syslog time is still dated.
	if ev.Time.IsZero() && ev.MTA != Exim {
		return "", false
	}
	return msg, true
}

// lastRepeated reads "[host ]last message repeated N times" and returns N,
// or 0.
func lastRepeated(rest string) int {
	const marker = "last message repeated "
	s := strings.TrimPrefix(rest, " ")
	if !strings.HasPrefix(s, marker) {
		sp := strings.IndexByte(s, ' ')
		if sp <= 0 {
			return 0
		}
		s = s[sp+1:]
		if !strings.HasPrefix(s, marker) {
			return 0
		}
	}
	s = s[len(marker):]
	i := 0
	for i < len(s) && i < 9 && isDigit(s[i]) {
		i++
	}
	if i == 0 || !strings.HasPrefix(s[i:], " time") {
		return 0
	}
	return atoi(s[:i])
}

// RepeatsPrevious tells a line that says only that the line before it was
// logged n more times (syslogd's "last message repeated n times"): its
// event is not Postfix's or Exim's, and its Repeat is n.
func RepeatsPrevious(ev *Event) (n int, ok bool) {
	if ev.MTA == MTAUnknown && ev.Repeat > 0 {
		return ev.Repeat, true
	}
	return 0, false
}

// repeatedMessage reads "message repeated N times: [ msg]": it returns msg
// and sets ev.Repeat to N-1 (the line itself is one), or returns the text
// as it was.
func repeatedMessage(ev *Event, s string) string {
	rest := s[len("message repeated "):]
	i := 0
	for i < len(rest) && i < 9 && isDigit(rest[i]) {
		i++
	}
	if i == 0 || !strings.HasPrefix(rest[i:], " times: [") || !strings.HasSuffix(rest, "]") {
		return s
	}
	n := atoi(rest[:i])
	inner := strings.TrimSpace(rest[i+len(" times: [") : len(rest)-1])
	if n < 1 || inner == "" {
		return s
	}
	ev.Repeat = n - 1
	return inner
}

// unixStamp reads seconds since 1970 with up to 9 decimals and a space
// after them, and returns the time (UTC) and the length read.
func unixStamp(line string) (time.Time, int, bool) {
	i := 0
	for i < len(line) && i < 12 && isDigit(line[i]) {
		i++
	}
	if i < 9 || i >= len(line) {
		return time.Time{}, 0, false
	}
	sec := int64(atoi(line[:i]))
	nsec := 0
	if line[i] == '.' {
		var n int
		nsec, n = fraction(line[i+1:])
		if n == 0 {
			return time.Time{}, 0, false
		}
		i += 1 + n
	}
	if i >= len(line) || line[i] != ' ' {
		return time.Time{}, 0, false
	}
	return time.Unix(sec, int64(nsec)).UTC(), i, true
}

// priority returns the length of a syslog priority "<0>" to "<191>" at
// the start of line, or 0.
func priority(line string) int {
	for i := 1; i < len(line) && i <= 4; i++ {
		if line[i] == '>' {
			if i == 1 || atoi(line[1:i]) > 191 {
				return 0
			}
			return i + 1
		}
		if !isDigit(line[i]) {
			return 0
		}
	}
	return 0
}

// syslogDated says whether s, after a timestamp, is " host program[pid]: "
// with a Postfix or Exim program, as a syslog daemon writes; in Exim's
// mainlog a message ID or text follows the timestamp.
func syslogDated(s string) bool {
	if len(s) < 2 || s[0] != ' ' {
		return false
	}
	h, ok := syslogFields(s)
	if !ok {
		return false
	}
	mta, _ := classifyProgram(h.program)
	return mta != MTAUnknown
}

// rfc5424 reads the rest of an RFC 5424 line after "<PRI>1 ": "TIMESTAMP
// HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG", where "-" is a
// field left out, as rsyslog's RSYSLOG_SyslogProtocol23Format and
// syslog-ng's syslog-protocol write it.
func (p *Parser) rfc5424(ev *Event, s string) (string, bool) {
	field := func() (string, bool) {
		sp := strings.IndexByte(s, ' ')
		if sp <= 0 {
			return "", false
		}
		f := s[:sp]
		s = s[sp+1:]
		return f, true
	}
	stamp, ok := field()
	if !ok {
		return "", false
	}
	if stamp != "-" {
		t, n, ok := p.isoStamp(stamp)
		if !ok || n != len(stamp) {
			return "", false
		}
		ev.Time = t
	}
	host, ok := field()
	if !ok {
		return "", false
	}
	if host != "-" {
		ev.Host = host
	}
	app, ok := field()
	if !ok || app == "-" {
		return "", false
	}
	ev.Program = app
	pid, ok := field()
	if !ok {
		return "", false
	}
	if pid != "-" {
		ev.PID = atoi(pid)
	}
	if _, ok := field(); !ok { // MSGID
		return "", false
	}
	// STRUCTURED-DATA: "-" or elements "[id name="value" ...]", where a
	// value may hold "\]" and "\"".
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	} else {
		for strings.HasPrefix(s, "[") {
			i, quoted := 1, false
			for ; i < len(s); i++ {
				if c := s[i]; c == '\\' {
					i++
				} else if c == '"' {
					quoted = !quoted
				} else if c == ']' && !quoted {
					break
				}
			}
			if i >= len(s) {
				return "", false
			}
			s = s[i+1:]
		}
	}
	if s != "" && s[0] != ' ' {
		return "", false
	}
	s = strings.TrimPrefix(s, " ")
	s = strings.TrimPrefix(s, "\ufeff") // a UTF-8 message may start with a BOM
	return p.program(ev, s)
}

// classifyProgram tells Postfix and Exim programs apart from everything
// else. Postfix's syslog_name is free-form ("postfix", "postfix-out",
// "postfix-239.58.50.50", "postfix/submission"), so the daemon name after
// the last slash decides, not the prefix.
func classifyProgram(prog string) (MTA, string) {
	slash := strings.LastIndexByte(prog, '/')
	if slash >= 0 {
		svc := prog[slash+1:]
		if postfixDaemons[svc] {
			return Postfix, svc
		}
		return MTAUnknown, svc
	}
	switch prog {
	case "exim", "exim4", "exim3":
		return Exim, "exim"
	}
	return MTAUnknown, prog
}

var postfixDaemons = map[string]bool{
	"smtp": true, "lmtp": true, "local": true, "virtual": true, "pipe": true, "error": true,
	"discard": true, "retry": true, "qmgr": true, "nqmgr": true, "oqmgr": true, "cleanup": true,
	"smtpd": true, "bounce": true, "defer": true, "trace": true, "postscreen": true,
	"pickup": true, "anvil": true, "scache": true, "dnsblog": true, "tlsproxy": true,
	"tlsmgr": true, "trivial-rewrite": true, "master": true, "postfix-script": true,
	"postsuper": true, "postqueue": true, "postdrop": true, "sendmail": true, "verify": true,
	"flush": true, "showq": true, "proxymap": true, "spawn": true, "oqmgr-": true,
	"postlogd": true, "postmap": true, "postalias": true, "postconf": true, "qmqpd": true,
	"lmtpd": true, "script": true, "policy-spf": true, "postmulti": true, "postlog": true,
}

// localMonth reads the German month names that differ from the English
// ones, as journalctl writes them under a German locale ("Okt 15
// 23:48:15"), and returns the month and its length in bytes.
func localMonth(line string) (time.Month, int) {
	switch {
	case strings.HasPrefix(line, "Mär"):
		return 3, len("Mär")
	case strings.HasPrefix(line, "Mai"):
		return 5, 3
	case strings.HasPrefix(line, "Okt"):
		return 10, 3
	case strings.HasPrefix(line, "Dez"):
		return 12, 3
	}
	return 0, 0
}

func monthOf(s string) time.Month {
	// A switch on three bytes is much cheaper than a map lookup.
	switch s {
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return 0
}

// bsdStamp reads "Mon dd HH:MM:SS[.frac]" with the day space-padded,
// zero-padded or unpadded. It returns the time and the length read.
func (p *Parser) bsdStamp(line string) (time.Time, int, bool) {
	mon, n := monthOf(line[:3]), 3
	if mon == 0 {
		mon, n = localMonth(line)
	}
	if mon == 0 || line[n] != ' ' {
		return time.Time{}, 0, false
	}
	i := n + 1
	if line[i] == ' ' {
		i++
	}
	day := 0
	for j := 0; j < 2 && i < len(line) && isDigit(line[i]); j++ {
		day = day*10 + int(line[i]-'0')
		i++
	}
	if day < 1 || day > 31 || i >= len(line) || line[i] != ' ' {
		return time.Time{}, 0, false
	}
	i++
	if len(line) < i+8 {
		return time.Time{}, 0, false
	}
	hh, mm, ss, ok := clock(line[i : i+8])
	if !ok {
		return time.Time{}, 0, false
	}
	i += 8
	nsec := 0
	if i < len(line) && line[i] == '.' {
		var n int
		nsec, n = fraction(line[i+1:])
		i += 1 + n
	}
	if i < len(line) && line[i] != ' ' {
		return time.Time{}, 0, false
	}
	if nsec == 0 && p.lastStamp != "" && line[:i] == p.lastStamp {
		return p.lastTime, i, true
	}
	year := p.yearFor(mon, day)
	t := time.Date(year, mon, day, hh, mm, ss, nsec, p.loc)
	p.lastStamp = strings.Clone(line[:i])
	p.lastTime = t
	return t, i, true
}

// yearFor picks the year of a BSD timestamp.
func (p *Parser) yearFor(mon time.Month, day int) int {
	if p.opt.Year != 0 {
		// The year given is the first line's; a month that jumps far
		// backwards is a new year, and a month that jumps far forwards
		// after that is a straggler from the old year (lines of two
		// processes written out of order around midnight).
		switch {
		case p.lastMonth != 0 && mon+6 < p.lastMonth:
			p.yearShift++
		case p.lastMonth != 0 && mon > p.lastMonth+6 && (p.yearShift > 0 || mon == time.December && p.lastMonth == time.January):
			// (Before any rollover, only a December line among the first
			// January ones of a file: the year before the first line's. A
			// file with a gap from January to August is not that.)
			return p.opt.Year + p.yearShift - 1
		}
		p.lastMonth = mon
		return p.opt.Year + p.yearShift
	}
	if p.yearDone && mon == p.yearMon && day == p.yearDay {
		return p.yearOf
	}
	// The latest year that puts the day no more than a day after the
	// reference: a January line read on New Year's Eve (a clock a little
	// ahead, a zone east of the reader's) is next year's.
	ref := p.opt.Reference
	year := ref.Year() + 1
	limit := ref.Add(24 * time.Hour)
	for year >= ref.Year() && time.Date(year, mon, day, 0, 0, 0, 0, p.loc).After(limit) {
		year--
	}
	p.yearMon, p.yearDay, p.yearOf, p.yearDone = mon, day, year, true
	return year
}

// isoStamp reads RFC 3339 "2026-11-28T07:04:05[.frac](Z|+hh:mm|+hhmm)".
func (p *Parser) isoStamp(line string) (time.Time, int, bool) {
	if len(line) < 20 || line[13] != ':' || line[16] != ':' {
		return time.Time{}, 0, false
	}
	year, ok1 := digits(line[0:4])
	mon, ok2 := digits(line[5:7])
	day, ok3 := digits(line[8:10])
	hh, mm, ss, ok4 := clock(line[11:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || mon < 1 || mon > 12 || day < 1 || day > 31 {
		return time.Time{}, 0, false
	}
	i := 19
	nsec := 0
	if line[i] == '.' {
		var n int
		nsec, n = fraction(line[i+1:])
		i += 1 + n
	}
	loc, n, ok := p.zone(line[i:])
	if !ok {
		return time.Time{}, 0, false
	}
	i += n
	if i < len(line) && line[i] != ' ' {
		return time.Time{}, 0, false
	}
	return time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, loc), i, true
}

// zone reads "Z", "+hh:mm", "+hhmm" or nothing (local time).
func (p *Parser) zone(s string) (*time.Location, int, bool) {
	if s == "" || s[0] == ' ' {
		return p.loc, 0, true
	}
	if s[0] == 'Z' {
		return time.UTC, 1, true
	}
	if s[0] != '+' && s[0] != '-' || len(s) < 5 {
		return nil, 0, false
	}
	hh, ok1 := digits(s[1:3])
	n := 3
	if s[3] == ':' {
		n = 4
	}
	if len(s) < n+2 {
		return nil, 0, false
	}
	mm, ok2 := digits(s[n : n+2])
	if !ok1 || !ok2 {
		return nil, 0, false
	}
	off := hh*3600 + mm*60
	if s[0] == '-' {
		off = -off
	}
	return p.fixedZone(off), n + 2, true
}

func (p *Parser) fixedZone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if z, ok := p.zones[off]; ok {
		return z
	}
	if p.zones == nil {
		p.zones = make(map[int]*time.Location)
	}
	z := time.FixedZone("", off)
	p.zones[off] = z
	return z
}

// eximStamp reads Exim's "2026-11-28 07:04:05[.mmm][ +zzzz]" and returns
// the length read.
func (p *Parser) eximStamp(s string) (time.Time, int, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	i := 19
	nsec := 0
	if i < len(s) && s[i] == '.' {
		var n int
		nsec, n = fraction(s[i+1:])
		i += 1 + n
	}
	loc := p.loc
	// log_timezone adds " +0200".
	if len(s) >= i+6 && s[i] == ' ' && (s[i+1] == '+' || s[i+1] == '-') && isDigit(s[i+2]) &&
		isDigit(s[i+3]) && isDigit(s[i+4]) && isDigit(s[i+5]) && (len(s) == i+6 || s[i+6] == ' ') {
		z, n, ok := p.zone(s[i+1:])
		if ok {
			loc = z
			i += 1 + n
		}
	}
	if nsec == 0 && loc == p.loc && p.lastStamp != "" && s[:i] == p.lastStamp {
		return p.lastTime, i, true
	}
	year, ok1 := digits(s[0:4])
	mon, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hh, mm, ss, ok4 := clock(s[11:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || mon < 1 || mon > 12 || day < 1 || day > 31 {
		return time.Time{}, 0, false
	}
	t := time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, loc)
	if nsec == 0 && loc == p.loc {
		p.lastStamp = strings.Clone(s[:i])
		p.lastTime = t
	}
	return t, i, true
}

// fullStamp reads journalctl -o short-full's "Sun 2026-11-29 10:00:00 CET"
// (the weekday, the date and time, the zone's abbreviation) and returns
// the length read. UTC and GMT are UTC; another abbreviation is the
// parser's zone (journalctl writes the machine's), whose name, where it
// matches, tells the hour that a change to winter time repeats.
func (p *Parser) fullStamp(line string) (time.Time, int, bool) {
	if len(line) < 25 || line[3] != ' ' || !isDigit(line[4]) {
		return time.Time{}, 0, false
	}
	for _, c := range []byte(line[:3]) {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return time.Time{}, 0, false
		}
	}
	t, n, ok := p.eximStamp(line[4:])
	i := 4 + n
	if !ok || t.Location() != p.loc || i >= len(line) || line[i] != ' ' {
		return time.Time{}, 0, false
	}
	j := i + 1
	for j < len(line) && j-i <= 7 && line[j] != ' ' {
		j++
	}
	if j == i+1 || j >= len(line) || line[j] != ' ' {
		return time.Time{}, 0, false
	}
	switch zone := line[i+1 : j]; zone {
	case "UTC", "GMT":
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	default:
		if name, _ := t.Zone(); name != zone {
			for _, d := range []time.Duration{-time.Hour, time.Hour} {
				u := t.Add(d)
				if name, _ := u.Zone(); name == zone && u.Hour() == t.Hour() && u.Minute() == t.Minute() {
					t = u
					break
				}
			}
		}
	}
	return t, j, true
}

// clock reads "HH:MM:SS".
// colonStamp reads "2011:03:08-10:29:44", local time as eximStamp reads
// it.
func (p *Parser) colonStamp(line string) (time.Time, bool) {
	if len(line) < 20 || line[13] != ':' || line[16] != ':' || line[19] != ' ' {
		return time.Time{}, false
	}
	b := []byte(line[:19])
	b[4], b[7], b[10] = '-', '-', ' '
	t, n, ok := p.eximStamp(string(b))
	return t, ok && n == 19
}

func clock(s string) (hh, mm, ss int, ok bool) {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, false
	}
	h, ok1 := digits(s[0:2])
	m, ok2 := digits(s[3:5])
	sec, ok3 := digits(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

// fraction reads the digits of a fractional second and returns
// nanoseconds and the number of digits.
func fraction(s string) (int, int) {
	ns, n := 0, 0
	for n < len(s) && isDigit(s[n]) {
		if n < 9 {
			ns = ns*10 + int(s[n]-'0')
		}
		n++
	}
	for k := n; k < 9; k++ {
		ns *= 10
	}
	return ns, n
}

func digits(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, len(s) > 0
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// atoi reads leading decimal digits; anything else yields what was read.
func atoi(s string) int {
	v := 0
	for i := 0; i < len(s) && isDigit(s[i]); i++ {
		if v > 1<<40 {
			break
		}
		v = v*10 + int(s[i]-'0')
	}
	return v
}
