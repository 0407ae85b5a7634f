package main

import "strconv"

// newEximID makes a message ID: the arrival time, the pid of the receiving
// process and the fraction of the second, in base 62; old style 6-6-2 or
// the 4.97 style 6-11-4.
func (s *sim) newEximID(pid int) string {
	for {
		b := s.tmp[:0]
		b = appendBase(b, uint64(s.clock/1e6), alnum, 6)
		b = append(b, '-')
		frac := uint64(s.clock%1e6) / 500
		if s.cfg.eximNewID {
			b = appendBase(b, uint64(pid), alnum, 11)
			b = append(b, '-')
			b = appendBase(b, uint64(s.clock%1e6), alnum, 4)
		} else {
			b = appendBase(b, uint64(pid), alnum, 6)
			b = append(b, '-')
			b = appendBase(b, frac, alnum, 2)
		}
		s.tmp = b
		if _, busy := s.eximIDs[string(b)]; busy {
			s.clock += 500
			continue
		}
		id := string(b)
		s.eximIDs[id] = struct{}{}
		return id
	}
}

func (s *sim) eximArrive() {
	x := s.r.Float64()
	kind := msgInbound
	switch {
	case x < 0.30:
	case x < 0.65:
		kind = msgSubmission
	case x < 0.93:
		kind = msgBulk
	default:
		kind = msgLocal
	}
	m := s.newMessage(kind)
	s.clientFor(m)
	*s.eximPIDs.next += 1 + s.r.IntN(30)
	pid := *s.eximPIDs.next
	port := strconv.Itoa(1024 + s.r.IntN(64000))
	if kind == msgInbound || kind == msgSubmission {
		if s.r.IntN(2) == 0 {
			s.begin("", "", pid)
			s.str("SMTP connection from [" + m.clientIP + "]:" + port + " I=[" + s.ourIP + "]:25 (TCP/IP connection count = " + strconv.Itoa(1+s.r.IntN(6)) + ")")
			s.end()
		}
		if kind == msgInbound && s.r.IntN(25) == 0 {
			dom := m.rcpts[0].dom
			s.tick(200000)
			s.begin("", "", pid)
			s.str("H=" + m.clientName + " (" + m.helo + ") [" + m.clientIP + "]:" + port + " I=[" + s.ourIP + "]:25 F=<" + m.sender +
				"> rejected RCPT <" + s.address(dom) + ">: Unrouteable address")
			s.end()
			s.exp.at(dom).Rejected++
		}
	}
	s.tick(500000)
	m.qid = s.newEximID(pid)
	s.begin("", "", pid)
	s.str(m.qid)
	s.str(" <= ")
	s.str(m.sender)
	switch kind {
	case msgInbound:
		s.str(" H=" + m.clientName + " (" + m.helo + ") [" + m.clientIP + "]:" + port + " I=[" + s.ourIP + "]:25 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S=")
	case msgSubmission:
		s.str(" H=(" + m.helo + ") [" + m.clientIP + "]:" + port + " I=[" + s.ourIP + "]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:" + m.sender + " S=")
	case msgBulk:
		s.str(" H=app1.acme-logistics.com [10.0.3.11]:" + port + " I=[10.0.3.2]:25 P=esmtp S=")
	default:
		s.str(" U=www-data P=local S=")
	}
	s.num(int64(m.size))
	s.str(" id=")
	s.str(m.msgID)
	s.end()
	if kind == msgInbound || kind == msgSubmission {
		s.tick(100000)
		s.begin("", "", pid)
		s.str("SMTP connection from " + m.clientName + " (" + m.helo + ") [" + m.clientIP + "]:" + port + " I=[" + s.ourIP + "]:25 closed by QUIT")
		s.end()
	}
	s.startRound(m, 1500)
}

var eximDeferErrno = [...]string{stRCPT: "-44", stDATA: "-46", stMAIL: "-45", stGreet: "0"}

func (s *sim) eximDeliver(m *message, gi int) {
	g := &m.groups[gi]
	d := &s.doms.doms[g.dom]
	hosted := d.prov == provHosted
	pid := s.eximPIDs.get(s.r)
	x := expansion{sender: m.sender, domain: d.name, mxName: d.mx, mxIP: g.mxIP, msgID: m.msgID}
	rs := replySets[d.prov]
	okReply := &rs.ok[s.r.IntN(len(rs.ok))]
	okText := s.appendTemplate(s.okBuf[:0], okReply.text, &x, true)
	s.okBuf = okText
	hostField := func() {
		s.str(" H=")
		s.str(d.mx)
		s.str(" [")
		s.str(g.mxIP)
		s.str("]")
	}
	withTLS := s.r.IntN(3) > 0
	tls := func() {
		if withTLS {
			s.str(" X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes DN=\"CN=")
			s.str(d.mx)
			s.str("\"")
		}
	}
	sent := 0
	first := true
	for _, ri := range g.rcpts {
		rc := &m.rcpts[ri]
		if rc.state != rcptPending {
			continue
		}
		out, rep := s.outcome(m, g, rc, okReply)
		x.rcpt = rc.addr
		if first {
			first = false
			if !hosted && out == 2 && (rep.stage == stGreet || rep == &rConnTimeout || rep == &rConnRefused) {
				s.begin("", "", pid)
				s.str(m.qid)
				hostField()
				if rep.stage == stGreet {
					s.str(": SMTP error from remote mail server after initial connection: ")
					s.line = s.appendTemplate(s.line, rep.text, &x, true)
				} else if rep == &rConnTimeout {
					s.str(" Connection timed out")
				} else {
					s.str(" Connection refused")
				}
				s.end()
			}
		}
		s.tick(3000)
		s.begin("", "", pid)
		s.str(m.qid)
		switch out {
		case 1:
			if sent == 0 {
				s.str(" => ")
			} else {
				s.str(" -> ")
			}
			sent++
			if hosted {
				at := 0
				for at < len(rc.addr) && rc.addr[at] != '@' {
					at++
				}
				s.str(rc.addr[:at])
				s.str(" <")
				s.str(rc.addr)
				s.str("> R=local_user T=mail_spool")
			} else {
				s.str(rc.addr)
				s.str(" R=dnslookup T=remote_smtp")
				hostField()
				tls()
				s.str(" C=\"")
				s.line = append(s.line, okText...)
				s.str("\"")
			}
			s.countSent(m, rc)
		case 2:
			s.str(" == ")
			s.str(rc.addr)
			switch {
			case hosted:
				s.str(" R=local_user T=mail_spool defer (-22): mailbox is full (MTA-imposed quota exceeded while writing to /var/mail/")
				s.str(rc.addr[:indexByte(rc.addr, '@')])
				s.str(")")
			case rep == &rDNSTemp:
				s.str(" R=dnslookup ")
				s.str(rep.exim)
			case rep.stage == stLocal:
				s.str(" R=dnslookup T=remote_smtp ")
				s.str(rep.exim)
			default:
				s.str(" R=dnslookup T=remote_smtp defer (")
				s.str(eximDeferErrno[rep.stage])
				s.str(")")
				hostField()
				tls()
				s.eximSMTPError(rep, &x, m)
			}
			s.countDeferred(m, rc)
		case 3:
			s.str(" ** ")
			s.str(rc.addr)
			switch {
			case hosted:
				s.str(" R=local_user T=mail_spool: mailbox is full (MTA-imposed quota exceeded while writing to /var/mail/")
				s.str(rc.addr[:indexByte(rc.addr, '@')])
				s.str(")")
			case rep.stage == stLocal:
				s.str(": ")
				s.str(rep.exim)
			default:
				s.str(" R=dnslookup T=remote_smtp")
				hostField()
				tls()
				s.eximSMTPError(rep, &x, m)
			}
			s.countBounced(m, rc)
		}
		s.end()
	}
	if g.transient > 0 {
		g.transient--
	}
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return len(s)
}

func (s *sim) eximSMTPError(rep *reply, x *expansion, m *message) {
	s.str(": SMTP error from remote mail server after ")
	switch rep.stage {
	case stRCPT:
		s.str("RCPT TO:<")
		s.str(x.rcpt)
		s.str(">: ")
	case stMAIL:
		s.str("MAIL FROM:<")
		s.str(m.sender)
		s.str("> SIZE=")
		s.num(int64(m.size))
		s.str(": ")
	case stGreet:
		s.str("initial connection: ")
	default:
		s.str("end of data: ")
	}
	s.line = s.appendTemplate(s.line, rep.text, x, true)
}

func (s *sim) eximFinish(m *message, pending, bounced int, expire bool) {
	pid := s.eximPIDs.get(s.r)
	if expire {
		for i := range m.rcpts {
			rc := &m.rcpts[i]
			if rc.state != rcptPending {
				continue
			}
			s.begin("", "", pid)
			s.str(m.qid)
			s.str(" ** ")
			s.str(rc.addr)
			s.str(": retry timeout exceeded")
			s.end()
			s.countExpired(m, rc)
		}
	}
	if (bounced > 0 || expire) && m.senderDom >= 0 {
		n := s.newNDR(m, bounced+pending)
		n.qid = s.newEximID(pid)
		s.tick(2000)
		s.begin("", "", pid)
		s.str(n.qid)
		s.str(" <= <> R=")
		s.str(m.qid)
		s.str(" U=Debian-exim P=local S=")
		s.num(int64(n.size))
		s.end()
		s.startRound(n, 300)
	}
	if pending == 0 || expire {
		s.tick(2000)
		s.begin("", "", pid)
		s.str(m.qid)
		s.str(" Completed")
		s.end()
		delete(s.eximIDs, m.qid)
	}
}

func (s *sim) eximNoise() {
	ip := publicIP(s.r)
	port := strconv.Itoa(1024 + s.r.IntN(64000))
	pid := *s.eximPIDs.next + s.r.IntN(30)
	helo := [...]string{"User", "ylmf-pc", "WIN-" + strconv.Itoa(1000+s.r.IntN(9000)), "[" + ip + "]", "mail.example-spam.biz"}[s.r.IntN(5)]
	x := s.r.Float64()
	switch {
	case x < 0.4:
		n := 1 + s.r.IntN(3)
		from := s.address(s.doms.pick(s.r))
		for i := 0; i < n; i++ {
			dom := s.doms.pickHosted(s.r)
			var text string
			temp := ""
			switch s.r.IntN(4) {
			case 0:
				text = "Unrouteable address"
			case 1:
				dom = s.doms.pick(s.r)
				text = "relay not permitted"
			case 2:
				temp = "temporarily "
				text = "greylisted."
			default:
				text = "JunkMail rejected - (" + helo + ") [" + ip + "]:" + port + " is in an RBL: https://www.spamhaus.org/query/ip/" + ip
			}
			s.begin("", "", pid)
			s.str("H=(" + helo + ") [" + ip + "]:" + port + " I=[" + s.ourIP + "]:25 F=<" + from + "> " + temp + "rejected RCPT <" + s.address(dom) + ">: " + text)
			s.end()
			s.exp.at(dom).Rejected++
		}
	case x < 0.5:
		s.begin("", "", pid)
		s.str("no host name found for IP address " + ip)
		s.end()
	case x < 0.6:
		s.begin("", "", pid)
		s.str("TLS error on connection from (" + helo + ") [" + ip + "]:" + port + " I=[" + s.ourIP + "]:25 (SSL_accept): error:0A000126:SSL routines::unexpected eof while reading")
		s.end()
	case x < 0.7:
		s.begin("", "", pid)
		s.str("SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[" + ip + "]:" + port + " I=[" + s.ourIP + "]:25 input=\"GET / HTTP/1.1\\r\\n\"")
		s.end()
	case x < 0.8:
		s.begin("", "", pid)
		s.str("dovecot_login authenticator failed for (" + helo + ") [" + ip + "]:" + port + " I=[" + s.ourIP + "]:587: 535 Incorrect authentication data (set_id=" + s.address(s.doms.pickHosted(s.r)) + ")")
		s.end()
	case x < 0.88:
		s.begin("", "", pid)
		s.str("Start queue run: pid=" + strconv.Itoa(pid))
		s.end()
		s.tick(900000)
		s.begin("", "", pid)
		s.str("End queue run: pid=" + strconv.Itoa(pid))
		s.end()
	default:
		s.begin("", "", pid)
		s.str("SMTP connection from [" + ip + "]:" + port + " I=[" + s.ourIP + "]:25 (TCP/IP connection count = 1)")
		s.end()
		s.tick(5000000)
		s.begin("", "", pid)
		s.str("SMTP connection from (" + helo + ") [" + ip + "]:" + port + " I=[" + s.ourIP + "]:25 lost D=5s")
		s.end()
	}
}
