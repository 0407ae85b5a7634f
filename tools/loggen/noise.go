package main

import "strconv"

// noise writes the lines around the mail flow that carry no delivery:
// rejected bots, brute force, statistics, other daemons.
func (s *sim) noise() {
	if s.cfg.mta == mtaExim {
		s.eximNoise()
		return
	}
	h := s.hosts[s.r.IntN(2)]
	x := s.r.Float64()
	ip := publicIP(s.r)
	port := strconv.Itoa(1024 + s.r.IntN(64000))
	pid := h.pids.get(s.r)
	switch {
	case x < 0.2:
		h = s.hosts[0]
		s.begin(h.name, "postfix/postscreen", pid)
		s.str("CONNECT from [" + ip + "]:" + port + " to [" + h.ip + "]:25")
		s.end()
		s.tick(100000)
		s.begin(h.name, "postfix/postscreen", pid)
		switch s.r.IntN(3) {
		case 0:
			s.str("PREGREET 11 after 0.09 from [" + ip + "]:" + port + ": EHLO User\\r\\n")
			s.end()
		default:
			s.str("DNSBL rank " + strconv.Itoa(2+s.r.IntN(6)) + " for [" + ip + "]:" + port)
			s.end()
			if s.r.IntN(2) == 0 {
				dom := s.doms.pickHosted(s.r)
				rcpt := s.address(dom)
				s.tick(800000)
				s.begin(h.name, "postfix/postscreen", pid)
				s.str("NOQUEUE: reject: RCPT from [" + ip + "]:" + port + ": 550 5.7.1 Service unavailable; client [" + ip +
					"] blocked using zen.spamhaus.org; from=<" + s.address(s.doms.pick(s.r)) + ">, to=<" + rcpt + ">, proto=ESMTP, helo=<" + ip + ">")
				s.end()
				s.exp.at(dom).Rejected++
			}
		}
		s.tick(300000)
		s.begin(h.name, "postfix/postscreen", pid)
		s.str("DISCONNECT [" + ip + "]:" + port)
		s.end()
	case x < 0.38:
		h = s.hosts[0]
		name := "unknown"
		if s.r.IntN(2) == 0 {
			name = "host-" + ip + ".dynamic.example-isp.net"
		}
		client := name + "[" + ip + "]"
		s.begin(h.name, "postfix/smtpd", pid)
		s.str("connect from " + client)
		s.end()
		n := 1 + s.r.IntN(3)
		from := s.address(s.doms.pick(s.r))
		for i := 0; i < n; i++ {
			dom := s.doms.pickHosted(s.r)
			var text string
			y := s.r.IntN(5)
			if y == 1 {
				dom = s.doms.pick(s.r)
			}
			rcpt := s.address(dom)
			switch y {
			case 0:
				text = "550 5.1.1 <" + rcpt + ">: Recipient address rejected: User unknown in virtual mailbox table"
			case 1:
				text = "554 5.7.1 <" + rcpt + ">: Relay access denied"
			case 2:
				text = "450 4.2.0 <" + rcpt + ">: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/" + s.doms.doms[dom].name + ".html"
			case 3:
				text = "554 5.7.1 Service unavailable; Client host [" + ip + "] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/" + ip
			default:
				text = "450 4.7.1 Client host rejected: cannot find your hostname, [" + ip + "]"
			}
			s.tick(300000)
			s.begin(h.name, "postfix/smtpd", pid)
			s.str("NOQUEUE: reject: RCPT from " + client + ": " + text + "; from=<" + from + "> to=<" + rcpt + "> proto=ESMTP helo=<" + name + ">")
			s.end()
			s.exp.at(dom).Rejected++
		}
		s.tick(300000)
		s.begin(h.name, "postfix/smtpd", pid)
		s.str("disconnect from " + client + " ehlo=1 mail=1 rcpt=0/" + strconv.Itoa(n) + " rset=1 quit=1 commands=4/" + strconv.Itoa(n+4))
		s.end()
	case x < 0.5:
		s.begin(h.name, "postfix/submission/smtpd", pid)
		s.str("connect from unknown[" + ip + "]")
		s.end()
		s.tick(2000000)
		s.begin(h.name, "postfix/submission/smtpd", pid)
		s.str("warning: unknown[" + ip + "]: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
		s.end()
		s.tick(100000)
		s.begin(h.name, "postfix/submission/smtpd", pid)
		s.str("lost connection after AUTH from unknown[" + ip + "]")
		s.end()
		s.begin(h.name, "postfix/submission/smtpd", pid)
		s.str("disconnect from unknown[" + ip + "] ehlo=1 auth=0/1 commands=1/2")
		s.end()
	case x < 0.58:
		stamp := s.appendStamp(nil)
		at := string(stamp[:15])
		if s.cfg.format == fmtRFC3339 {
			at = "Nov  1 00:00:00"
		}
		for _, l := range []string{"max connection rate 1/60s for (smtp:" + ip + ") at " + at,
			"max connection count 1 for (smtp:" + ip + ") at " + at, "max cache size 1 at " + at} {
			s.begin(h.name, "postfix/anvil", pid)
			s.str("statistics: " + l)
			s.end()
		}
	case x < 0.68:
		s.beginOther(h.name, "dovecot")
		s.str("imap-login: Login: user=<" + s.address(s.doms.pickHosted(s.r)) + ">, method=PLAIN, rip=" + ip + ", lip=" + h.ip +
			", mpid=" + strconv.Itoa(pid) + ", TLS, session=<")
		s.line = s.appendToken(s.line, 16)
		s.str(">")
		s.end()
	case x < 0.74:
		s.beginOther(h.name, "dovecot")
		s.str("imap(" + s.address(s.doms.pickHosted(s.r)) + ")<" + strconv.Itoa(pid) + "><")
		s.line = s.appendToken(s.line, 16)
		s.str(">: Logged out in=" + strconv.Itoa(s.r.IntN(5000)) + " out=" + strconv.Itoa(s.r.IntN(900000)) +
			" deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0")
		s.end()
	case x < 0.8:
		s.begin(h.name, "postfix/smtpd", pid)
		s.str("warning: hostname " + ip + ".static.example-cloud.com does not resolve to address " + ip + ": Name or service not known")
		s.end()
		s.begin(h.name, "postfix/smtpd", pid)
		s.str("connect from unknown[" + ip + "]")
		s.end()
		s.tick(500000)
		s.begin(h.name, "postfix/smtpd", pid)
		s.str("lost connection after EHLO from unknown[" + ip + "]")
		s.end()
		s.begin(h.name, "postfix/smtpd", pid)
		s.str("disconnect from unknown[" + ip + "] ehlo=1 commands=1")
		s.end()
	case x < 0.84:
		s.begin(h.name, "policyd-spf", pid)
		s.str("prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=" + ip + "; helo=mail." + s.doms.doms[s.doms.pick(s.r)].name +
			"; envelope-from=" + s.address(s.doms.pick(s.r)) + "; receiver=<UNKNOWN>")
		s.end()
	case x < 0.87:
		s.begin(h.name, "postfix/smtp", pid)
		s.str("warning: TLS library problem: error:0A000410:SSL routines::sslv3 alert handshake failure:../ssl/record/rec_layer_s3.c:1601:SSL alert number 40:")
		s.end()
	case x < 0.9:
		s.begin(h.name, "postfix/scache", pid)
		s.str("statistics: domain lookup hits=" + strconv.Itoa(s.r.IntN(90)) + " miss=" + strconv.Itoa(s.r.IntN(40)) + " success=" + strconv.Itoa(s.r.IntN(90)) + "%")
		s.end()
	default:
		s.begin(h.name, "postfix/smtpd", pid)
		s.str("connect from unknown[" + ip + "]")
		s.end()
		s.tick(300000)
		s.begin(h.name, "postfix/smtpd", pid)
		s.str("disconnect from unknown[" + ip + "] ehlo=1 quit=1 commands=2")
		s.end()
	}
}
