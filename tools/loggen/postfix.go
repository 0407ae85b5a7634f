package main

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// host is one Postfix server: its queue IDs and its instances.
type host struct {
	name     string
	longIDs  bool
	ip       string
	inflight map[string]struct{}
	removed  []string // recently removed queue IDs, some of which come back
	main     *instance
	out      *instance // the postfix-out instance (bulk mail); nil on mx1
	pids     pidPool   // smtpd, postscreen, anvil and friends
	lmtpRel  string
	domain   string
}

// instance is one Postfix instance (syslog_name) on a host.
type instance struct {
	qmgr, cleanup, smtp, lmtp, virtual, bounce, smtpd, submission, pickup string
	qmgrPID                                                               int
	cleanupPIDs, smtpPIDs, lmtpPIDs, smtpdPIDs                            pidPool
}

func newInstance(s *sim, name string) *instance {
	return &instance{
		qmgr: name + "/qmgr", cleanup: name + "/cleanup", smtp: name + "/smtp", lmtp: name + "/lmtp",
		virtual: name + "/virtual", bounce: name + "/bounce", smtpd: name + "/smtpd",
		submission: name + "/submission/smtpd", pickup: name + "/pickup",
		qmgrPID:     1000 + s.r.IntN(3000),
		cleanupPIDs: newPIDPool(s.r, 3, 5000), smtpPIDs: newPIDPool(s.r, 16, 5000),
		lmtpPIDs: newPIDPool(s.r, 4, 5000), smtpdPIDs: newPIDPool(s.r, 10, 5000),
	}
}

func newHost(s *sim, name string, long bool, ip string) *host {
	h := &host{name: name, longIDs: long, ip: ip, inflight: make(map[string]struct{}), pids: newPIDPool(s.r, 8, 8000)}
	h.main = newInstance(s, "postfix")
	h.domain = name + ".acme-logistics.com"
	h.lmtpRel = "mail.acme-logistics.com[private/dovecot-lmtp]"
	if long {
		h.out = newInstance(s, "postfix-out")
		h.lmtpRel = "dovecot.acme-logistics.com[10.1.0.25]:24"
	}
	return h
}

const b52 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"

func appendBase(b []byte, v uint64, alphabet string, width int) []byte {
	var tmp [24]byte
	i := len(tmp)
	base := uint64(len(alphabet))
	for v > 0 || i == len(tmp) {
		i--
		tmp[i] = alphabet[v%base]
		v /= base
	}
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, alphabet[0])
	}
	return append(b, tmp[i:]...)
}

// newQID names a new queue file. Short IDs are the microseconds in five
// hex digits and the inode number in hex; long IDs (enable_long_queue_ids)
// encode seconds and microseconds in base 52, then 'z' and the inode in
// base 51. Now and then a recently removed ID comes back, as it does when
// the file system reuses an inode.
func (s *sim) newQID(h *host) string {
	if len(h.removed) > 8 && s.r.IntN(300) == 0 {
		i := s.r.IntN(len(h.removed))
		q := h.removed[i]
		if _, busy := h.inflight[q]; !busy {
			h.removed = append(h.removed[:i], h.removed[i+1:]...)
			h.inflight[q] = struct{}{}
			return q
		}
	}
	for {
		b := s.tmp[:0]
		if h.longIDs {
			b = appendBase(b, uint64(s.clock/1e6), b52, 6)
			b = appendBase(b, uint64(s.clock%1e6), b52, 4)
			b = append(b, 'z')
			b = appendBase(b, uint64(s.r.IntN(51*51*51*51)), b52[:51], 4)
		} else {
			usec := uint64(s.clock % 1e6)
			for i := 16; i >= 0; i -= 4 {
				b = append(b, hexUpper[(usec>>uint(i))&15])
			}
			inode := uint64(0xB0000 + s.r.IntN(0x4F000))
			if s.r.IntN(4) == 0 {
				inode = uint64(0x100000 + s.r.IntN(0x40000))
			}
			b = strconv.AppendUint(b, inode, 16)
			for i := 5; i < len(b); i++ {
				if b[i] >= 'a' {
					b[i] -= 'a' - 'A'
				}
			}
		}
		s.tmp = b
		if _, busy := h.inflight[string(b)]; busy {
			continue
		}
		q := string(b)
		h.inflight[q] = struct{}{}
		return q
	}
}

func (s *sim) releaseQID(h *host, q string) {
	delete(h.inflight, q)
	if len(h.removed) >= 64 {
		copy(h.removed, h.removed[1:])
		h.removed = h.removed[:63]
	}
	h.removed = append(h.removed, q)
}

func (s *sim) newMessageID(senderDom int32) string {
	b := s.tmp[:0]
	dom := "localhost"
	if senderDom >= 0 {
		dom = s.doms.doms[senderDom].name
	}
	switch {
	case dom == "gmail.com":
		b = append(b, "CA"...)
		b = s.appendToken(b, 44)
		b = append(b, "@mail.gmail.com"...)
	case s.r.IntN(3) == 0:
		b = strconv.AppendInt(b, s.clock/1e6, 10)
		b = append(b, '.')
		b = s.appendToken(b, 16)
		b = append(b, '@')
		b = append(b, dom...)
	default:
		b = s.appendHex(b, 8)
		b = append(b, '-')
		b = s.appendHex(b, 4)
		b = append(b, '-')
		b = s.appendHex(b, 4)
		b = append(b, '-')
		b = s.appendHex(b, 12)
		b = append(b, '@')
		b = append(b, dom...)
	}
	s.tmp = b
	return string(b)
}

func (s *sim) messageSize() int {
	v := math.Exp(9.0 + 1.1*s.r.NormFloat64())
	return int(min(max(v, 600), 30e6))
}

func (s *sim) numRecipients(kind int) int {
	switch kind {
	case msgSubmission:
		x := s.r.Float64()
		switch {
		case x < 0.62:
			return 1
		case x < 0.92:
			return 2 + s.r.IntN(3)
		default:
			return 5 + s.r.IntN(16)
		}
	case msgInbound:
		if s.r.IntN(5) == 0 {
			return 2 + s.r.IntN(2)
		}
	}
	return 1
}

// newMessage draws the envelope of a message of the given kind.
func (s *sim) newMessage(kind int) *message {
	m := &message{kind: kind, arrival: s.clock, size: s.messageSize(), round: 1}
	switch kind {
	case msgInbound:
		m.senderDom = s.doms.pick(s.r)
		m.sender = s.address(m.senderDom)
	case msgSubmission:
		m.senderDom = s.doms.pickHosted(s.r)
		m.sender = s.address(m.senderDom)
	case msgBulk:
		m.senderDom = s.doms.pickHosted(s.r)
		m.sender = [...]string{"newsletter@", "news@", "no-reply@", "mailer@"}[s.r.IntN(4)] + s.doms.doms[m.senderDom].name
	case msgLocal:
		m.senderDom = s.doms.pickHosted(s.r)
		m.sender = [...]string{"noreply@", "wordpress@", "root@", "backup@"}[s.r.IntN(4)] + s.doms.doms[m.senderDom].name
	}
	n := s.numRecipients(kind)
	var hostedDom int32 = -1
	for i := 0; i < n; i++ {
		var dom int32
		switch {
		case kind == msgInbound:
			if hostedDom < 0 || s.r.IntN(4) == 0 {
				hostedDom = s.doms.pickHosted(s.r)
			}
			dom = hostedDom
		case kind == msgLocal && s.r.IntN(2) == 0, kind == msgSubmission && s.r.IntN(10) == 0:
			dom = s.doms.pickHosted(s.r)
		default:
			dom = s.doms.pick(s.r)
		}
		// Postfix's cleanup drops a recipient given twice (duplicate_filter_limit),
		// and Exim delivers once per address: no message lists one twice.
		addr := s.address(dom)
		for try := 0; try < 8 && hasRecipient(m.rcpts, addr); try++ {
			addr = s.address(dom)
		}
		if hasRecipient(m.rcpts, addr) {
			continue
		}
		m.rcpts = append(m.rcpts, recipient{addr: addr, dom: dom})
	}
	m.msgID = s.newMessageID(m.senderDom)
	s.plan(m)
	return m
}

func hasRecipient(rs []recipient, addr string) bool {
	for _, r := range rs {
		if r.addr == addr {
			return true
		}
	}
	return false
}

func (s *sim) arrive() {
	if s.cfg.mta == mtaExim {
		s.eximArrive()
		return
	}
	x := s.r.Float64()
	switch {
	case x < 0.30:
		s.postfixInbound()
	case x < 0.63:
		s.postfixSubmission()
	case x < 0.94:
		s.postfixBulk()
	default:
		s.postfixPickup()
	}
}

func (s *sim) clientFor(m *message) {
	m.clientIP = publicIP(s.r)
	if s.r.IntN(4) == 0 {
		m.clientName = "unknown"
	} else {
		m.clientName = "mail-" + strconv.Itoa(s.r.IntN(400)) + "." + s.doms.doms[m.senderDom].name
	}
	m.helo = m.clientName
	if m.helo == "unknown" {
		m.helo = "[" + m.clientIP + "]"
	}
}

func (s *sim) writeClient(m *message) {
	s.str(m.clientName)
	s.line = append(s.line, '[')
	s.str(m.clientIP)
	s.line = append(s.line, ']')
}

var tlsServer = []string{
	"TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
	"TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
	"TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256",
}

func (s *sim) qmgrActive(m *message) {
	s.str(m.qid)
	s.str(": from=<")
	s.str(m.sender)
	s.str(">, size=")
	s.num(int64(m.size))
	s.str(", nrcpt=")
	s.num(int64(len(m.rcpts)))
	s.str(" (queue active)")
}

func (s *sim) cleanupLine(m *message) {
	s.begin(m.host.name, m.inst.cleanup, m.inst.cleanupPIDs.get(s.r))
	s.str(m.qid)
	s.str(": message-id=<")
	s.str(m.msgID)
	s.str(">")
	s.end()
}

func (s *sim) postfixInbound() {
	h := s.hosts[0]
	m := s.newMessage(msgInbound)
	m.host, m.inst = h, h.main
	s.clientFor(m)
	port := int64(1024 + s.r.IntN(64000))
	s.begin(h.name, "postfix/postscreen", h.pids.get(s.r))
	s.str("CONNECT from [")
	s.str(m.clientIP)
	s.str("]:")
	s.num(port)
	s.str(" to [")
	s.str(h.ip)
	s.str("]:25")
	s.end()
	s.tick(50000)
	s.begin(h.name, "postfix/postscreen", h.pids.get(s.r))
	if s.r.IntN(3) == 0 {
		s.str("PASS NEW [")
	} else {
		s.str("PASS OLD [")
	}
	s.str(m.clientIP)
	s.str("]:")
	s.num(port)
	s.end()
	pid := m.inst.smtpdPIDs.get(s.r)
	s.tick(5000)
	s.begin(h.name, m.inst.smtpd, pid)
	s.str("connect from ")
	s.writeClient(m)
	s.end()
	if s.r.IntN(2) == 0 {
		s.tick(80000)
		s.begin(h.name, m.inst.smtpd, pid)
		s.str("Anonymous TLS connection established from ")
		s.writeClient(m)
		s.str(": ")
		s.str(tlsServer[s.r.IntN(len(tlsServer))])
		s.end()
	}
	m.qid = s.newQID(h)
	s.tick(200000)
	s.begin(h.name, m.inst.smtpd, pid)
	s.str(m.qid)
	s.str(": client=")
	s.writeClient(m)
	s.end()
	rejected := 0
	if s.r.IntN(25) == 0 {
		// One more recipient that does not exist: refused after the
		// queue file was created, so the line carries the queue ID.
		rejected = 1
		dom := m.rcpts[0].dom
		addr := s.address(dom)
		s.tick(20000)
		s.begin(h.name, m.inst.smtpd, pid)
		s.str(m.qid)
		s.str(": reject: RCPT from ")
		s.writeClient(m)
		s.str(": 550 5.1.1 <")
		s.str(addr)
		s.str(">: Recipient address rejected: User unknown in virtual mailbox table; from=<")
		s.str(m.sender)
		s.str("> to=<")
		s.str(addr)
		s.str("> proto=ESMTP helo=<")
		s.str(m.helo)
		s.str(">")
		s.end()
		s.exp.at(dom).Rejected++
	}
	s.tick(300000)
	s.cleanupLine(m)
	if len(m.rcpts) == 1 && s.r.IntN(100) == 0 {
		s.tick(300000)
		s.begin(h.name, m.inst.cleanup, m.inst.cleanupPIDs.get(s.r))
		s.str(m.qid)
		s.str(": milter-reject: END-OF-MESSAGE from ")
		s.writeClient(m)
		s.str(": 5.7.1 Blocked by SpamAssassin; from=<")
		s.str(m.sender)
		s.str("> to=<")
		s.str(m.rcpts[0].addr)
		s.str("> proto=ESMTP helo=<")
		s.str(m.helo)
		s.str(">")
		s.end()
		s.exp.at(m.rcpts[0].dom).Rejected++
		s.smtpdDisconnect(m, pid, 1, rejected, false)
		delete(h.inflight, m.qid)
		return
	}
	if s.r.IntN(3) == 0 {
		s.begin(h.name, "opendkim", 289)
		s.str(m.qid)
		s.str(": ")
		s.writeClient(m)
		s.str(" not internal")
		s.end()
	}
	s.tick(20000)
	s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
	s.qmgrActive(m)
	s.end()
	s.smtpdDisconnect(m, pid, len(m.rcpts), rejected, false)
	s.dispatch(m, s.r.IntN(10) < 7)
}

func (s *sim) smtpdDisconnect(m *message, pid, nrcpt, rejected int, auth bool) {
	s.tick(50000)
	prog := m.inst.smtpd
	if auth {
		prog = m.inst.submission
	}
	s.begin(m.host.name, prog, pid)
	s.str("disconnect from ")
	s.writeClient(m)
	s.str(" ehlo=2 starttls=1 ")
	cmds := 5
	if auth {
		s.str("auth=1 ")
		cmds++
	}
	s.str("mail=1 rcpt=")
	if rejected > 0 {
		s.num(int64(nrcpt))
		s.line = append(s.line, '/')
		s.num(int64(nrcpt + rejected))
	} else {
		s.num(int64(nrcpt))
	}
	s.str(" data=1 quit=1 commands=")
	if rejected > 0 {
		s.num(int64(cmds + nrcpt))
		s.line = append(s.line, '/')
	}
	s.num(int64(cmds + nrcpt + rejected))
	s.end()
}

// dispatch sends a message that was just queued either through the
// content filter or straight to delivery.
func (s *sim) dispatch(m *message, filter bool) {
	if filter {
		s.schedule(s.clock+int64(200000+s.r.IntN(1500000)), evFilter, m, 0)
		return
	}
	s.startRound(m, 800)
}

func (s *sim) postfixSubmission() {
	h := s.hosts[s.r.IntN(2)]
	m := s.newMessage(msgSubmission)
	m.host, m.inst = h, h.main
	s.clientFor(m)
	if s.r.IntN(2) == 0 {
		m.clientName = "unknown"
	}
	pid := m.inst.smtpdPIDs.get(s.r)
	s.begin(h.name, m.inst.submission, pid)
	s.str("connect from ")
	s.writeClient(m)
	s.end()
	s.tick(90000)
	s.begin(h.name, m.inst.submission, pid)
	s.str("Anonymous TLS connection established from ")
	s.writeClient(m)
	s.str(": ")
	s.str(tlsServer[s.r.IntN(len(tlsServer))])
	s.end()
	s.tick(400000)
	m.qid = s.newQID(h)
	s.begin(h.name, m.inst.submission, pid)
	s.str(m.qid)
	s.str(": client=")
	s.writeClient(m)
	s.str(", sasl_method=")
	if s.r.IntN(3) == 0 {
		s.str("LOGIN")
	} else {
		s.str("PLAIN")
	}
	s.str(", sasl_username=")
	s.str(m.sender)
	s.end()
	s.tick(400000)
	s.cleanupLine(m)
	s.begin(h.name, "opendkim", 289)
	s.str(m.qid)
	s.str(": DKIM-Signature field added (s=mail, d=")
	s.str(s.doms.doms[m.senderDom].name)
	s.str(")")
	s.end()
	s.tick(20000)
	s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
	s.qmgrActive(m)
	s.end()
	s.smtpdDisconnect(m, pid, len(m.rcpts), 0, true)
	s.dispatch(m, h == s.hosts[0] && s.r.IntN(2) == 0)
}

func (s *sim) postfixBulk() {
	h := s.hosts[1]
	m := s.newMessage(msgBulk)
	m.host, m.inst = h, h.out
	m.clientName = "app" + strconv.Itoa(1+s.r.IntN(3)) + ".acme-logistics.com"
	m.clientIP = "10.0.3." + strconv.Itoa(11+s.r.IntN(3))
	pid := m.inst.smtpdPIDs.get(s.r)
	s.begin(h.name, m.inst.smtpd, pid)
	s.str("connect from ")
	s.writeClient(m)
	s.end()
	m.qid = s.newQID(h)
	s.tick(30000)
	s.begin(h.name, m.inst.smtpd, pid)
	s.str(m.qid)
	s.str(": client=")
	s.writeClient(m)
	s.end()
	s.tick(30000)
	s.cleanupLine(m)
	s.tick(5000)
	s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
	s.qmgrActive(m)
	s.end()
	s.tick(5000)
	s.begin(h.name, m.inst.smtpd, pid)
	s.str("disconnect from ")
	s.writeClient(m)
	s.str(" ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5")
	s.end()
	s.dispatch(m, false)
}

func (s *sim) postfixPickup() {
	h := s.hosts[0]
	m := s.newMessage(msgLocal)
	m.host, m.inst = h, h.main
	m.qid = s.newQID(h)
	s.begin(h.name, m.inst.pickup, h.pids.get(s.r))
	s.str(m.qid)
	s.str(": uid=")
	s.num(int64([...]int{0, 33, 1000, 1001}[s.r.IntN(4)]))
	s.str(" from=<")
	s.str(m.sender)
	s.str(">")
	s.end()
	s.tick(3000)
	s.cleanupLine(m)
	s.tick(3000)
	s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
	s.qmgrActive(m)
	s.end()
	s.dispatch(m, false)
}

// filterHop hands a message to amavisd-new on 127.0.0.1:10024, which
// re-injects it on :10025 under a new queue ID.
func (s *sim) filterHop(m *message) {
	h := m.host
	old := m.qid
	next := s.newQID(h)
	pid := m.inst.smtpdPIDs.get(s.r)
	amavis := 3000 + s.r.IntN(2000)
	spam := m.kind == msgInbound && s.r.IntN(30) == 0
	if !spam {
		s.begin(h.name, m.inst.smtpd, pid)
		s.str("connect from localhost[127.0.0.1]")
		s.end()
		s.tick(3000)
		s.begin(h.name, m.inst.smtpd, pid)
		s.str(next)
		s.str(": client=localhost[127.0.0.1]")
		s.end()
		s.tick(3000)
		m.qid = next
		s.cleanupLine(m)
		m.size += 300 + s.r.IntN(400)
		s.tick(3000)
		s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
		s.qmgrActive(m)
		s.end()
		s.tick(3000)
		s.begin(h.name, m.inst.smtpd, pid)
		s.str("disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=")
		s.num(int64(len(m.rcpts)))
		s.str(" data=1 quit=1 commands=")
		s.num(int64(len(m.rcpts) + 4))
		s.end()
	}
	s.tick(3000)
	s.begin(h.name, "amavis", amavis)
	s.str("(0")
	s.num(int64(amavis))
	s.str("-0")
	s.num(int64(1 + s.r.IntN(9)))
	if spam {
		s.str(") Blocked SPAM {DiscardedInbound,Quarantined}, [")
	} else if m.kind == msgInbound {
		s.str(") Passed CLEAN {RelayedInbound}, [")
	} else {
		s.str(") Passed CLEAN {RelayedOutbound}, [")
	}
	s.str(m.clientIP)
	s.str("]:")
	s.num(int64(1024 + s.r.IntN(60000)))
	s.str(" [")
	s.str(m.clientIP)
	s.str("] <")
	s.str(m.sender)
	s.str("> -> ")
	for i := range m.rcpts {
		if i > 0 {
			s.line = append(s.line, ',')
		}
		s.line = append(s.line, '<')
		s.str(m.rcpts[i].addr)
		s.line = append(s.line, '>')
	}
	s.str(", Queue-ID: ")
	s.str(old)
	s.str(", Message-ID: <")
	s.str(m.msgID)
	s.str(">, mail_id: ")
	s.line = s.appendToken(s.line, 12)
	if spam {
		s.str(", Hits: 14.862, size: ")
	} else {
		s.str(", Hits: -0.1, size: ")
	}
	s.num(int64(m.size))
	if !spam {
		s.str(", queued_as: ")
		s.str(next)
	}
	s.str(", ")
	s.num(int64(80 + s.r.IntN(900)))
	s.str(" ms")
	s.end()
	pid = m.inst.smtpPIDs.get(s.r)
	total := s.clock - m.arrival
	for i := range m.rcpts {
		rc := &m.rcpts[i]
		s.begin(h.name, m.inst.smtp, pid)
		s.str(old)
		s.str(": to=<")
		s.str(rc.addr)
		s.str(">, relay=127.0.0.1[127.0.0.1]:10024, delay=")
		s.writeDelays(total, false)
		if spam {
			s.str(", dsn=2.7.0, status=sent (250 2.7.0 Ok, discarded, id=0")
			s.num(int64(amavis))
			s.str("-01 - spam)")
			s.countSent(m, rc)
		} else {
			s.str(", dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as ")
			s.str(next)
			s.str(")")
		}
		s.end()
	}
	s.tick(2000)
	s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
	s.str(old)
	s.str(": removed")
	s.end()
	s.releaseQID(h, old)
	if spam {
		delete(h.inflight, next)
		return
	}
	m.arrival = s.clock
	s.startRound(m, 800)
}

// writeDelays writes "D, delays=a/b/c/d" for an attempt that took place
// total µs after the message arrived.
func (s *sim) writeDelays(total int64, noConn bool) {
	b := int64(s.r.IntN(20000))
	c, d := int64(0), int64(0)
	if !noConn {
		c = int64(s.r.ExpFloat64() * 300000)
		d = int64(s.r.ExpFloat64() * 150000)
	}
	a := total - b - c - d
	if a < 0 {
		a = int64(s.r.IntN(20000))
	}
	total = a + b + c + d
	s.line = appendDelay(s.line, total)
	s.str(", delays=")
	s.line = appendDelay(s.line, a)
	s.line = append(s.line, '/')
	s.line = appendDelay(s.line, b)
	s.line = append(s.line, '/')
	s.line = appendDelay(s.line, c)
	s.line = append(s.line, '/')
	s.line = appendDelay(s.line, d)
}

var stageText = [...]string{stRCPT: " (in reply to RCPT TO command)", stDATA: " (in reply to end of DATA command)",
	stMAIL: " (in reply to MAIL FROM command)"}

func (s *sim) postfixDeliver(m *message, gi int) {
	g := &m.groups[gi]
	h := m.host
	d := &s.doms.doms[g.dom]
	hosted := d.prov == provHosted
	prog, pid := m.inst.smtp, 0
	relay := ""
	x := expansion{sender: m.sender, domain: d.name, mxName: d.mx, mxIP: g.mxIP, msgID: m.msgID}
	virtual := false
	if hosted {
		prog = m.inst.lmtp
		pid = m.inst.lmtpPIDs.get(s.r)
		relay = h.lmtpRel
		x.mxName = "mail.acme-logistics.com"
		x.mxIP = "private/dovecot-lmtp"
		if h.longIDs {
			x.mxName, x.mxIP = "dovecot.acme-logistics.com", "10.1.0.25"
		}
		if !h.longIDs && g.transient == 0 && g.allBounce == nil && s.r.IntN(4) == 0 {
			virtual = true
			prog = m.inst.virtual
			relay = "virtual"
		}
	} else {
		pid = m.inst.smtpPIDs.get(s.r)
		relay = d.mx + "[" + g.mxIP + "]:25"
	}
	rs := replySets[d.prov]
	okReply := &rs.ok[s.r.IntN(len(rs.ok))]
	// The 2xx reply is one per transaction: render it once.
	okText := s.appendTemplate(s.okBuf[:0], okReply.text, &x, false)
	s.okBuf = okText
	perRcpt := strings.IndexByte(okReply.text, 1) >= 0
	first := true
	total := s.clock - m.arrival
	connUse := 0
	if !hosted && s.r.IntN(8) == 0 {
		connUse = 2 + s.r.IntN(5)
	}
	for _, ri := range g.rcpts {
		rc := &m.rcpts[ri]
		if rc.state != rcptPending {
			continue
		}
		out, rep := s.outcome(m, g, rc, okReply)
		if first {
			first = false
			if rep.relayNone && rep.stage == stLocal && rep != &rDNSTemp && rep != &rDNSPerm {
				s.begin(h.name, prog, pid)
				s.str(s.expandString(rep.text, &x))
				s.end()
			} else if !hosted && connUse == 0 && s.r.IntN(3) == 0 && out == 1 {
				s.begin(h.name, prog, pid)
				s.str([...]string{"Verified", "Trusted", "Untrusted"}[s.r.IntN(3)])
				s.str(" TLS connection established to ")
				s.str(relay)
				s.str(": ")
				s.str(tlsServer[s.r.IntN(len(tlsServer))])
				s.end()
			}
			if hosted && !virtual && !h.longIDs && out == 1 {
				s.beginOther(h.name, "dovecot")
				s.str("lmtp(")
				s.num(int64(pid + 1))
				s.str("): Connect from local")
				s.end()
			}
		}
		x.rcpt = rc.addr
		s.tick(3000)
		s.begin(h.name, prog, pid)
		s.str(m.qid)
		s.str(": to=<")
		s.str(rc.addr)
		if m.kind == msgInbound && s.r.IntN(15) == 0 {
			s.str(">, orig_to=<")
			s.str(roleNames[s.r.IntN(len(roleNames))])
			s.line = append(s.line, '@')
			s.str(d.name)
		}
		s.str(">, relay=")
		if rep.relayNone {
			s.str("none")
		} else {
			s.str(relay)
		}
		if connUse > 0 && !rep.relayNone {
			s.str(", conn_use=")
			s.num(int64(connUse))
		}
		s.str(", delay=")
		s.writeDelays(total, rep.relayNone || virtual)
		s.str(", dsn=")
		s.str(rep.dsn)
		switch out {
		case 1:
			s.str(", status=sent (")
			if virtual {
				s.str("delivered to maildir")
			} else if perRcpt {
				s.line = s.appendTemplate(s.line, okReply.text, &x, false)
			} else {
				s.line = append(s.line, okText...)
			}
			s.countSent(m, rc)
		case 2:
			s.str(", status=deferred (")
			s.postfixReplyText(rep, &x)
			s.countDeferred(m, rc)
		case 3:
			s.str(", status=bounced (")
			s.postfixReplyText(rep, &x)
			s.countBounced(m, rc)
		}
		s.str(")")
		s.end()
	}
	if g.transient > 0 {
		g.transient--
	}
}

func (s *sim) expandString(tpl string, x *expansion) string {
	s.tmp = s.appendTemplate(s.tmp[:0], tpl, x, false)
	return string(s.tmp)
}

func (s *sim) postfixReplyText(rep *reply, x *expansion) {
	switch rep.stage {
	case stRCPT, stDATA, stMAIL:
		s.str("host ")
		s.str(x.mxName)
		s.line = append(s.line, '[')
		s.str(x.mxIP)
		s.str("] said: ")
		s.line = s.appendTemplate(s.line, rep.text, x, false)
		s.str(stageText[rep.stage])
	case stGreet:
		s.str("host ")
		s.str(x.mxName)
		s.line = append(s.line, '[')
		s.str(x.mxIP)
		s.str("] refused to talk to me: ")
		s.line = s.appendTemplate(s.line, rep.text, x, false)
	default:
		s.line = s.appendTemplate(s.line, rep.text, x, false)
	}
}

func (s *sim) postfixFinish(m *message, pending, bounced int, expire bool) {
	h := m.host
	if expire {
		s.tick(2000)
		s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
		s.str(m.qid)
		s.str(": from=<")
		s.str(m.sender)
		s.str(">, status=expired, returned to sender")
		s.end()
		for i := range m.rcpts {
			if m.rcpts[i].state == rcptPending {
				s.countExpired(m, &m.rcpts[i])
			}
		}
	}
	if (bounced > 0 || expire) && m.senderDom >= 0 {
		n := s.newNDR(m, bounced+pending)
		n.qid = s.newQID(h)
		n.msgID = s.ndrMessageID(h, n.qid)
		s.tick(5000)
		s.cleanupLine(n)
		s.tick(3000)
		s.begin(h.name, m.inst.bounce, h.pids.get(s.r))
		s.str(m.qid)
		s.str(": sender non-delivery notification: ")
		s.str(n.qid)
		s.end()
		s.tick(2000)
		s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
		s.qmgrActive(n)
		s.end()
		s.startRound(n, 300)
	}
	if pending == 0 || expire {
		s.tick(2000)
		s.begin(h.name, m.inst.qmgr, m.inst.qmgrPID)
		s.str(m.qid)
		s.str(": removed")
		s.end()
		s.releaseQID(h, m.qid)
	}
}

func (s *sim) ndrMessageID(h *host, qid string) string {
	if h.longIDs {
		return qid + "@" + h.domain
	}
	t := time.UnixMicro(s.clock).UTC()
	b := s.tmp[:0]
	b = appendPad(b, t.Year(), 4)
	b = appendPad(b, int(t.Month()), 2)
	b = appendPad(b, t.Day(), 2)
	b = appendPad(b, t.Hour(), 2)
	b = appendPad(b, t.Minute(), 2)
	b = appendPad(b, t.Second(), 2)
	b = append(b, '.')
	b = append(b, qid...)
	b = append(b, '@')
	b = append(b, h.domain...)
	s.tmp = b
	return string(b)
}
