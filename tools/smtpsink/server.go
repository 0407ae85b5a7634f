package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// JournalEntry is one answer the sink gave (or withheld). The journal, not the
// MTA's log, is the ground truth of what each recipient was told.
type JournalEntry struct {
	Time     string `json:"time"`
	Profile  string `json:"profile"`
	Port     int    `json:"port"`
	Session  string `json:"session"`
	Client   string `json:"client"`
	Helo     string `json:"helo,omitempty"`
	Stage    string `json:"stage"` // connect, starttls, mail, rcpt, data
	MailFrom string `json:"mail_from,omitempty"`
	Rcpt     string `json:"rcpt,omitempty"`
	// Code is 0 where no reply was sent (connection dropped or stalled).
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text,omitempty"`
	RemoteID string `json:"remote_id,omitempty"`
	// Event names a failure that is not a reply: hangup, dropped, stalled,
	// tls-broken.
	Event string `json:"event,omitempty"`
	// MessageID and Received describe the message of a data entry, from its
	// headers: the Message-ID, and "HOST ID" for each Received header that
	// names both (top first, so the last MTA that handled the message comes
	// first). They tie the sink's view to the queue ids of the MTAs that
	// relayed the message, without reading any MTA log.
	MessageID string   `json:"message_id,omitempty"`
	Received  []string `json:"received,omitempty"`
}

// Journal appends entries as JSON lines; safe for concurrent use.
type Journal struct {
	mu sync.Mutex
	w  io.Writer
}

func (j *Journal) Write(e JournalEntry) {
	e.Time = time.Now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	_, _ = j.w.Write(b)
}

// Sink serves every listener.
type Sink struct {
	journal    *Journal
	cat        *catalogue
	log        *slog.Logger
	cmdTimeout time.Duration
	stall      time.Duration
	sessions   atomic.Int64
	wg         sync.WaitGroup
}

func (s *Sink) serve(ctx context.Context, ln net.Listener, p Profile) {
	defer s.wg.Done()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			ss := &session{
				sink:    s,
				conn:    conn,
				br:      bufio.NewReaderSize(conn, 8192),
				profile: p,
				id:      fmt.Sprintf("s%06d", s.sessions.Add(1)),
				port:    ln.Addr().(*net.TCPAddr).Port,
			}
			ss.run(ctx)
		}()
	}
}

type session struct {
	sink    *Sink
	conn    net.Conn
	br      *bufio.Reader
	profile Profile
	id      string
	port    int
	helo    string
	from    string
	hasMail bool
	rcpts   []string
	// Headers of the message being answered (data entries only).
	msgID    string
	received []string
}

var errLineTooLong = errors.New("line too long")

func (s *session) entry(stage string) JournalEntry {
	return JournalEntry{
		Profile: string(s.profile), Port: s.port, Session: s.id,
		Client: s.conn.RemoteAddr().String(), Helo: s.helo, Stage: stage, MailFrom: s.from,
	}
}

func (s *session) record(stage, rcpt string, r Reply, event string) {
	e := s.entry(stage)
	e.Rcpt = rcpt
	e.Code, e.Enhanced, e.Text, e.RemoteID, e.Event = r.Code, r.Enhanced, r.text(), r.RemoteID, event
	if stage == "data" {
		e.MessageID, e.Received = s.msgID, s.received
	}
	s.sink.journal.Write(e)
}

func (s *session) send(r Reply) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.sink.cmdTimeout))
	_, err := io.WriteString(s.conn, r.wire())
	return err
}

func (s *session) sendLine(line string) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.sink.cmdTimeout))
	_, err := io.WriteString(s.conn, line+"\r\n")
	return err
}

func (s *session) readLine() (string, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(s.sink.cmdTimeout))
	var buf []byte
	for {
		chunk, isPrefix, err := s.br.ReadLine()
		if err != nil {
			return "", err
		}
		buf = append(buf, chunk...)
		if len(buf) > 1<<20 {
			return "", errLineTooLong
		}
		if !isPrefix {
			return string(buf), nil
		}
	}
}

var angleAddr = regexp.MustCompile(`(?i)^(?:MAIL FROM|RCPT TO):\s*<([^>]*)>`)

func (s *session) reset() {
	s.from, s.hasMail, s.rcpts = "", false, nil
	s.msgID, s.received = "", nil
}

func (s *session) run(ctx context.Context) {
	switch s.profile {
	case ProfileHangup:
		s.record("connect", "", Reply{}, "hangup")
		return
	case ProfileGreet421:
		s.record("connect", "", greet421, "")
		_ = s.send(greet421)
		return
	}
	banner := "sink.mailbounce.test ESMTP"
	if s.profile == ProfileLMTP {
		banner = "sink.mailbounce.test Dovecot ready (LMTP)"
	}
	if err := s.sendLine("220 " + banner); err != nil {
		return
	}
	s.record("connect", "", Reply{Code: 220, Lines: []string{banner}}, "")
	for ctx.Err() == nil {
		line, err := s.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		switch verb {
		case "EHLO", "HELO", "LHLO":
			if (verb == "LHLO") != (s.profile == ProfileLMTP) {
				_ = s.sendLine("500 5.5.1 Error: command not recognized")
				continue
			}
			s.helo = strings.TrimSpace(arg)
			s.reset()
			if verb == "HELO" {
				_ = s.sendLine("250 sink.mailbounce.test")
				continue
			}
			ext := []string{"sink.mailbounce.test", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES"}
			if s.profile == ProfileTLSBroken {
				ext = append(ext, "STARTTLS")
			}
			ext = append(ext, "SMTPUTF8")
			_ = s.send(Reply{Code: 250, Lines: ext})
		case "STARTTLS":
			if s.profile != ProfileTLSBroken {
				_ = s.sendLine("502 5.5.1 Error: command not implemented")
				continue
			}
			r := simple(220, "2.0.0", "Ready to start TLS")
			_ = s.send(r)
			// A TLS alert record (fatal, handshake_failure) instead of a
			// ServerHello: the client's handshake fails after "220 Ready".
			_, _ = s.conn.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28})
			s.record("starttls", "", r, "tls-broken")
			return
		case "MAIL":
			m := angleAddr.FindStringSubmatch(line)
			if m == nil {
				_ = s.sendLine("501 5.5.4 Syntax: MAIL FROM:<address>")
				continue
			}
			if s.profile == ProfileTLSBroken {
				r := simple(530, "5.7.0", "Must issue a STARTTLS command first")
				s.record("mail", "", r, "")
				_ = s.send(r)
				continue
			}
			s.reset()
			s.from, s.hasMail = m[1], true
			r := simple(250, "2.1.0", "Ok")
			s.record("mail", "", r, "")
			_ = s.send(r)
		case "RCPT":
			if !s.hasMail {
				_ = s.sendLine("503 5.5.1 Error: need MAIL command")
				continue
			}
			m := angleAddr.FindStringSubmatch(line)
			if m == nil {
				_ = s.sendLine("501 5.5.4 Syntax: RCPT TO:<address>")
				continue
			}
			rcpt := strings.ToLower(m[1])
			r, delay := s.sink.cat.rcptReply(rcpt, s.from, s.profile == ProfileLMTP)
			if delay > 0 {
				time.Sleep(delay)
			}
			s.record("rcpt", rcpt, r, "")
			if r.Code/100 == 2 {
				s.rcpts = append(s.rcpts, rcpt)
			}
			_ = s.send(r)
		case "DATA":
			if len(s.rcpts) == 0 {
				_ = s.sendLine("554 5.5.1 Error: no valid recipients")
				continue
			}
			if s.profile == ProfileDropData {
				for _, rc := range s.rcpts {
					s.record("data", rc, Reply{}, "dropped")
				}
				return
			}
			if err := s.sendLine("354 End data with <CR><LF>.<CR><LF>"); err != nil {
				return
			}
			msgID, received, size, err := s.readData()
			if err != nil {
				return
			}
			s.msgID, s.received = msgID, received
			if !s.finishData(ctx, msgID, size) {
				return
			}
			s.reset()
		case "RSET":
			s.reset()
			_ = s.sendLine("250 2.0.0 Ok")
		case "NOOP":
			_ = s.sendLine("250 2.0.0 Ok")
		case "VRFY":
			_ = s.sendLine("252 2.0.0 Cannot VRFY user")
		case "QUIT":
			_ = s.sendLine("221 2.0.0 Bye")
			return
		default:
			_ = s.sendLine("502 5.5.2 Error: command not recognized")
		}
	}
}

var (
	messageIDHeader = regexp.MustCompile(`(?i)^message-id:\s*(<[^>]+>)`)
	receivedBy      = regexp.MustCompile(`(?i)\bby\s+([A-Za-z0-9.-]+)`)
	receivedID      = regexp.MustCompile(`(?i)\bid\s+([A-Za-z0-9][A-Za-z0-9-]*)`)
)

// headerIDs returns the Message-ID of a header block (lines as sent, folded
// or not) and "HOST ID" for each Received header that names both "by HOST"
// and "id ID", in order.
func headerIDs(lines []string) (msgID string, received []string) {
	var field string
	flush := func() {
		if m := messageIDHeader.FindStringSubmatch(field); m != nil && msgID == "" {
			msgID = m[1]
		}
		if len(field) > 9 && strings.EqualFold(field[:9], "received:") {
			// The host follows "by"; the id comes after it (Exim puts
			// "(envelope-from <...>)" between the two).
			if by := receivedBy.FindStringSubmatchIndex(field); by != nil {
				if id := receivedID.FindStringSubmatch(field[by[1]:]); id != nil {
					received = append(received, field[by[2]:by[3]]+" "+id[1])
				}
			}
		}
		field = ""
	}
	for _, l := range lines {
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			field += " " + strings.TrimSpace(l)
			continue
		}
		flush()
		field = l
	}
	flush()
	return msgID, received
}

// readData reads the message up to the lone dot and returns its Message-ID,
// its Received ids (see headerIDs) and its size.
func (s *session) readData() (string, []string, int, error) {
	var header []string
	size, inHeader := 0, true
	for {
		line, err := s.readLine()
		if err != nil {
			return "", nil, 0, err
		}
		if line == "." {
			msgID, received := headerIDs(header)
			return msgID, received, size, nil
		}
		size += len(line) + 2
		if line == "" {
			inHeader = false
		}
		if inHeader && len(header) < 200 {
			header = append(header, strings.TrimPrefix(line, "."))
		}
	}
}

// finishData answers the final dot; it reports false when the session must end.
func (s *session) finishData(ctx context.Context, msgID string, size int) bool {
	switch s.profile {
	case ProfileSlow:
		for _, rc := range s.rcpts {
			s.record("data", rc, Reply{}, "stalled")
		}
		// Say nothing until the client gives up (or the stall ends).
		_ = s.conn.SetReadDeadline(time.Now().Add(s.sink.stall))
		select {
		case <-ctx.Done():
		default:
			_, _ = io.Copy(io.Discard, s.conn)
		}
		return false
	case ProfileLMTP:
		for _, rc := range s.rcpts {
			r := s.sink.cat.lmtpReply(rc)
			s.record("data", rc, r, "")
			if s.send(r) != nil {
				return false
			}
		}
		return true
	}
	r := s.sink.cat.dataReply(s.rcpts, msgID, size)
	for _, rc := range s.rcpts {
		s.record("data", rc, r, "")
	}
	return s.send(r) == nil
}

// listenSpec is "profile=host:port".
func parseListen(spec string) (Profile, string, error) {
	p, addr, ok := strings.Cut(spec, "=")
	if !ok {
		return "", "", fmt.Errorf("listen %q: want profile=host:port", spec)
	}
	switch Profile(p) {
	case ProfileSMTP, ProfileLMTP, ProfileGreet421, ProfileHangup, ProfileDropData, ProfileSlow, ProfileTLSBroken:
	default:
		return "", "", fmt.Errorf("listen %q: unknown profile %q", spec, p)
	}
	if _, port, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("listen %q: %w", spec, err)
	} else if _, err := strconv.Atoi(port); err != nil {
		return "", "", fmt.Errorf("listen %q: bad port", spec)
	}
	return Profile(p), addr, nil
}

func defaultListens() []string {
	var out []string
	for _, p := range []Profile{ProfileSMTP, ProfileLMTP, ProfileGreet421, ProfileDropData, ProfileHangup, ProfileSlow, ProfileTLSBroken} {
		out = append(out, fmt.Sprintf("%s=127.0.0.1:%d", p, profilePorts[p]))
	}
	return out
}

func runServe(ctx context.Context, journalPath string, listens []string, cmdTimeout, stall time.Duration, pidFile string, log *slog.Logger) error {
	f, err := os.OpenFile(journalPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	s := &Sink{journal: &Journal{w: f}, cat: newCatalogue(), log: log, cmdTimeout: cmdTimeout, stall: stall}
	if len(listens) == 0 {
		listens = defaultListens()
	}
	for _, spec := range listens {
		p, addr, err := parseListen(spec)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		log.Info("listening", "profile", p, "addr", addr)
		s.wg.Add(1)
		go s.serve(ctx, ln, p)
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("write pid file: %w", err)
		}
	}
	<-ctx.Done()
	// Connections end by their own deadlines; do not wait on stalled ones.
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return nil
}
