package main

import "strconv"

// Kinds of message, which decide the way in and the way out.
const (
	msgInbound    = iota // from the Internet to our hosted domains
	msgSubmission        // from our users to anywhere
	msgBulk              // newsletters through the postfix-out instance
	msgLocal             // web applications and cron through sendmail(1)
	msgNDR               // a bounce notification, from=<>
)

const (
	rcptPending = iota
	rcptDone
)

type recipient struct {
	addr         string
	dom          int32
	state        uint8
	everDeferred bool
	bounce       bool  // the final outcome is a bounce (when the deferrals are over)
	deferLeft    int16 // deferrals before the final outcome; -1: forever (expires)
	deferReply   *reply
	finalReply   *reply
	roundOut     uint8 // what happened in the current round: 0 none, 1 sent, 2 deferred, 3 bounced
}

// group is the recipients of one message at one domain: one SMTP
// transaction per round.
type group struct {
	dom       int32
	rcpts     []int
	transient int16 // rounds left that fail for the whole transaction; -1 forever
	trReply   *reply
	allBounce *reply // the whole transaction bounces (spam, DNS)
	mxIP      string
}

type message struct {
	kind        int
	host        *host
	inst        *instance
	qid         string
	sender      string
	senderDom   int32 // -1 for the null sender
	msgID       string
	size        int
	arrival     int64
	rcpts       []recipient
	groups      []group
	round       int
	outstanding int
	lastRound   bool
	filter      bool
	parent      string // the message a bounce notification is about
	clientName  string
	clientIP    string
	helo        string
}

func (s *sim) address(dom int32) string {
	b := localPart(s.r, s.tmp[:0])
	b = append(b, '@')
	b = append(b, s.doms.doms[dom].name...)
	s.tmp = b
	return string(b)
}

// plan chooses, for each recipient and each group, what will happen to it
// over its retries.
func (s *sim) plan(m *message) {
	byDom := make(map[int32]int, len(m.rcpts))
	for i := range m.rcpts {
		rc := &m.rcpts[i]
		gi, ok := byDom[rc.dom]
		if !ok {
			gi = len(m.groups)
			byDom[rc.dom] = gi
			m.groups = append(m.groups, s.planGroup(m, rc.dom))
		}
		m.groups[gi].rcpts = append(m.groups[gi].rcpts, i)
		s.planRecipient(m, rc)
	}
}

func (s *sim) planGroup(m *message, dom int32) group {
	d := &s.doms.doms[dom]
	rs := replySets[d.prov]
	g := group{dom: dom, mxIP: d.ips[s.r.IntN(len(d.ips))]}
	x := s.r.Float64()
	switch {
	case d.flags&domDead != 0:
		g.transient = -1
		g.trReply = &rConnTimeout
		if s.r.IntN(3) == 0 {
			g.trReply = &rConnRefused
		}
	case d.flags&domNXDomain != 0:
		g.allBounce = &rDNSPerm
	case d.flags&domGreylist != 0:
		g.transient = 1
		g.trReply = [...]*reply{&rGreylist, &rGreylist2, &rGreylist3}[s.r.IntN(3)]
	case m.kind == msgNDR:
		if x < 0.02 {
			g.transient = 1
			g.trReply = &rs.transient[s.r.IntN(len(rs.transient))]
		}
	case x < 0.035:
		g.transient = int16(1 + s.r.IntN(3))
		g.trReply = &rs.transient[s.r.IntN(len(rs.transient))]
	case x < 0.045 && d.prov != provHosted:
		g.transient = int16(1 + s.r.IntN(2))
		g.trReply = [...]*reply{&rLostGreeting, &rConvTimeout, &rDNSTemp, &rConnRefused}[s.r.IntN(4)]
	case x < 0.052 || (m.kind == msgBulk && x < 0.062):
		g.allBounce = &rs.spam[s.r.IntN(len(rs.spam))]
	}
	if d.prov == provHosted {
		g.mxIP = ""
	}
	return g
}

func (s *sim) planRecipient(m *message, rc *recipient) {
	rs := replySets[s.doms.doms[rc.dom].prov]
	x := s.r.Float64()
	unknown := 0.02
	if m.kind == msgBulk {
		unknown = 0.045
	}
	if m.kind == msgNDR {
		return
	}
	switch {
	case x < unknown:
		rc.bounce = true
		rc.finalReply = &rs.unknown[s.r.IntN(len(rs.unknown))]
	case x < unknown+0.004:
		rc.bounce = true
		rc.finalReply = &rs.quotaPerm[0]
	case x < unknown+0.007:
		// Over quota for good: deferred until the message expires.
		rc.deferLeft = -1
		rc.deferReply = &rs.quotaTemp[0]
	case x < unknown+0.02:
		rc.deferLeft = int16(1 + s.r.IntN(3))
		rc.deferReply = &rs.quotaTemp[0]
	}
}

// Outcome counting. Each delivery line goes through here, so that the
// expected counts are exactly what the log says.
func (s *sim) countSent(m *message, rc *recipient) {
	rc.state = rcptDone
	rc.roundOut = 1
	c := s.exp.at(rc.dom)
	c.Recipients++
	c.Delivered++
}

func (s *sim) countDeferred(m *message, rc *recipient) {
	rc.roundOut = 2
	c := s.exp.at(rc.dom)
	c.Deferred++
	if !rc.everDeferred {
		rc.everDeferred = true
		c.DeferredRecipients++
	}
}

func (s *sim) countBounced(m *message, rc *recipient) {
	rc.state = rcptDone
	rc.roundOut = 3
	c := s.exp.at(rc.dom)
	c.Recipients++
	c.Bounced++
}

func (s *sim) countExpired(m *message, rc *recipient) {
	rc.state = rcptDone
	c := s.exp.at(rc.dom)
	c.Recipients++
	c.Expired++
}

// outcome decides what the current round does to one recipient of a
// group: 1 sent, 2 deferred, 3 bounced, and the reply to write.
func (s *sim) outcome(m *message, g *group, rc *recipient, okReply *reply) (int, *reply) {
	if g.transient != 0 {
		return 2, g.trReply
	}
	if g.allBounce != nil {
		return 3, g.allBounce
	}
	if rc.deferLeft != 0 {
		if rc.deferLeft > 0 {
			rc.deferLeft--
		}
		return 2, rc.deferReply
	}
	if rc.bounce {
		return 3, rc.finalReply
	}
	return 1, okReply
}

// backoff is the time until the next attempt after a round that left
// recipients deferred.
func (s *sim) backoff(m *message) int64 {
	var sec float64
	if s.cfg.mta == mtaPostfix {
		// minimal_backoff_time 300s, doubling up to maximal_backoff_time
		// 4000s, plus the queue_run_delay scan.
		sec = 300
		for i := 1; i < m.round && sec < 4000; i++ {
			sec *= 2
		}
		sec = min(sec, 4000) + s.r.Float64()*300
	} else {
		// Exim's "F,2h,15m; G,16h,1h,1.5" at 15-minute queue runs.
		if m.round <= 8 {
			sec = 900
		} else {
			sec = 3600
			for i := 9; i < m.round && sec < 6*3600; i++ {
				sec *= 1.5
			}
		}
		sec += s.r.Float64() * 900
	}
	return int64(sec * 1e6)
}

func (s *sim) retry(m *message) {
	m.round++
	m.lastRound = s.clock-m.arrival >= int64(s.cfg.lifetime/1000)
	if s.cfg.mta == mtaPostfix {
		s.begin(m.host.name, m.inst.qmgr, m.inst.qmgrPID)
		s.qmgrActive(m)
		s.end()
	}
	s.startRound(m, 1000)
}

// startRound schedules one delivery event per group that still has
// pending recipients.
func (s *sim) startRound(m *message, spread int) {
	for gi := range m.groups {
		g := &m.groups[gi]
		pending := false
		for _, ri := range g.rcpts {
			m.rcpts[ri].roundOut = 0
			if m.rcpts[ri].state == rcptPending {
				pending = true
			}
		}
		if pending {
			m.outstanding++
			s.schedule(s.clock+int64(20000+s.r.IntN(spread*1000)), evDeliver, m, gi)
		}
	}
}

func (s *sim) deliverGroup(m *message, gi int) {
	if s.cfg.mta == mtaPostfix {
		s.postfixDeliver(m, gi)
	} else {
		s.eximDeliver(m, gi)
	}
	m.outstanding--
	if m.outstanding == 0 {
		s.finishRound(m)
	}
}

func (s *sim) finishRound(m *message) {
	pending, bounced := 0, 0
	for i := range m.rcpts {
		switch {
		case m.rcpts[i].state == rcptPending:
			pending++
		case m.rcpts[i].roundOut == 3:
			bounced++
		}
	}
	expire := pending > 0 && m.lastRound
	if s.cfg.mta == mtaPostfix {
		s.postfixFinish(m, pending, bounced, expire)
	} else {
		s.eximFinish(m, pending, bounced, expire)
	}
	if pending > 0 && !expire {
		s.schedule(s.clock+s.backoff(m), evRetry, m, 0)
	}
}

// newNDR makes the bounce notification for m, addressed to its sender.
func (s *sim) newNDR(m *message, failed int) *message {
	n := &message{kind: msgNDR, host: m.host, inst: m.inst, sender: "", senderDom: -1, arrival: s.clock,
		size: 2500 + m.size/4 + 700*failed, parent: m.qid}
	if n.size > 60000 {
		n.size = 60000 + s.r.IntN(4000)
	}
	n.rcpts = []recipient{{addr: m.sender, dom: m.senderDom}}
	s.plan(n)
	return n
}

func itoa(v int) string { return strconv.Itoa(v) }
