package main

import (
	"bufio"
	"math/rand/v2"
	"strconv"
	"time"
)

type mtaKind uint8

const (
	mtaPostfix mtaKind = iota
	mtaExim
)

type stampFormat uint8

const (
	fmtBSD     stampFormat = iota // "Nov  1 00:00:00", syslog
	fmtRFC3339                    // "2026-11-01T00:00:00.123456+00:00", rsyslog's high precision
	fmtPostlog                    // "Nov 01 00:00:00", Postfix's own maillog_file
)

type config struct {
	mta       mtaKind
	size      int64
	seed      uint64
	start     time.Time
	domains   int
	format    stampFormat
	rate      float64       // messages per second
	lifetime  time.Duration // maximal_queue_lifetime / Exim retry give-up
	eximPID   bool
	eximMS    bool
	eximNewID bool
}

type evKind uint8

const (
	evArrive evKind = iota
	evFilter
	evDeliver
	evRetry
	evNoise
)

type event struct {
	at    int64 // µs since the epoch
	seq   uint64
	kind  evKind
	msg   *message
	group int
}

// eventHeap is a min-heap on (at, seq): seq makes the order total, so the
// output does not depend on the heap's internals.
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a.less(r, l) {
			m = r
		}
		if !a.less(m, i) {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

type sim struct {
	cfg     config
	r       *rand.Rand
	w       *bufio.Writer
	line    []byte
	tmp     []byte
	okBuf   []byte
	clock   int64
	events  eventHeap
	seq     uint64
	written int64
	lines   int64
	stop    bool // the size is reached: no new arrivals or noise
	err     error
	doms    *domainTable
	exp     *expected
	hosts   []*host
	ourIP   string

	// Timestamp cache: the text of the current second.
	stampSec int64
	stamp    []byte

	// Exim state.
	eximIDs  map[string]struct{}
	eximPIDs pidPool
}

func newSim(cfg config, w *bufio.Writer) *sim {
	r := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))
	s := &sim{cfg: cfg, r: r, w: w, stampSec: -1}
	s.doms = newDomainTable(r, cfg.domains)
	s.exp = newExpected(s.doms)
	s.clock = cfg.start.UnixMicro()
	s.ourIP = "198.51.100.25"
	if cfg.mta == mtaPostfix {
		s.hosts = []*host{newHost(s, "mx1", false, "198.51.100.25"), newHost(s, "mx2", true, "198.51.100.26")}
	} else {
		s.eximIDs = make(map[string]struct{})
		s.eximPIDs = newPIDPool(r, 12, 2000)
	}
	return s
}

func (s *sim) schedule(at int64, k evKind, m *message, group int) {
	s.seq++
	s.events.push(event{at: at, seq: s.seq, kind: k, msg: m, group: group})
}

// run generates until the size is reached, then lets every message in
// flight finish, so that each recipient has its final outcome in the log.
func (s *sim) run() error {
	s.schedule(s.clock, evArrive, nil, 0)
	s.schedule(s.clock+1000, evNoise, nil, 0)
	for len(s.events) > 0 && s.err == nil {
		e := s.events.pop()
		if s.clock < e.at {
			s.clock = e.at
		}
		switch e.kind {
		case evArrive:
			if s.stop {
				continue
			}
			s.arrive()
			s.schedule(s.clock+s.interArrival(), evArrive, nil, 0)
		case evNoise:
			if s.stop {
				continue
			}
			s.noise()
			s.schedule(s.clock+int64(s.r.ExpFloat64()*1e6/(s.cfg.rate*1.6)), evNoise, nil, 0)
		case evFilter:
			s.filterHop(e.msg)
		case evDeliver:
			s.deliverGroup(e.msg, e.group)
		case evRetry:
			s.retry(e.msg)
		}
		if s.written >= s.cfg.size {
			s.stop = true
		}
	}
	return s.err
}

// interArrival follows a Poisson process whose rate swings over the day
// (quiet nights, busy office hours).
func (s *sim) interArrival() int64 {
	hour := float64((s.clock/1e6)%86400) / 3600
	f := 0.35
	if hour >= 7 && hour < 19 {
		f = 1.6
	} else if hour >= 19 && hour < 23 {
		f = 0.8
	}
	return int64(s.r.ExpFloat64() * 1e6 / (s.cfg.rate * f))
}

// tick advances the clock a little for the next line of one burst.
func (s *sim) tick(maxMicros int) {
	s.clock += 1 + int64(s.r.IntN(maxMicros))
}

// begin starts a line: the timestamp, and for syslog formats host and
// program[pid].
func (s *sim) begin(host, prog string, pid int) {
	b := s.appendStamp(s.line[:0])
	if s.cfg.mta == mtaExim {
		if s.cfg.eximPID {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(pid), 10)
			b = append(b, "] "...)
		}
		s.line = b
		return
	}
	b = append(b, host...)
	b = append(b, ' ')
	b = append(b, prog...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, "]: "...)
	s.line = b
}

// beginOther starts a line of a program that logs without a pid
// ("dovecot: ").
func (s *sim) beginOther(host, prog string) {
	b := s.appendStamp(s.line[:0])
	b = append(b, host...)
	b = append(b, ' ')
	b = append(b, prog...)
	b = append(b, ": "...)
	s.line = b
}

func (s *sim) end() {
	s.line = append(s.line, '\n')
	n, err := s.w.Write(s.line)
	s.written += int64(n)
	s.lines++
	if err != nil && s.err == nil {
		s.err = err
	}
}

func (s *sim) str(v string) { s.line = append(s.line, v...) }
func (s *sim) num(v int64)  { s.line = strconv.AppendInt(s.line, v, 10) }

var monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func (s *sim) appendStamp(b []byte) []byte {
	sec := s.clock / 1e6
	usec := s.clock % 1e6
	if sec != s.stampSec {
		s.stampSec = sec
		t := time.Unix(sec, 0).UTC()
		st := s.stamp[:0]
		switch {
		case s.cfg.mta == mtaExim || s.cfg.format == fmtRFC3339:
			st = appendPad(st, t.Year(), 4)
			st = append(st, '-')
			st = appendPad(st, int(t.Month()), 2)
			st = append(st, '-')
			st = appendPad(st, t.Day(), 2)
			if s.cfg.mta == mtaExim {
				st = append(st, ' ')
			} else {
				st = append(st, 'T')
			}
		default:
			st = append(st, monthNames[t.Month()-1]...)
			st = append(st, ' ')
			if s.cfg.format == fmtBSD && t.Day() < 10 {
				st = append(st, ' ', byte('0'+t.Day()))
			} else {
				st = appendPad(st, t.Day(), 2)
			}
			st = append(st, ' ')
		}
		st = appendPad(st, t.Hour(), 2)
		st = append(st, ':')
		st = appendPad(st, t.Minute(), 2)
		st = append(st, ':')
		st = appendPad(st, t.Second(), 2)
		s.stamp = st
	}
	b = append(b, s.stamp...)
	switch {
	case s.cfg.mta == mtaExim:
		if s.cfg.eximMS {
			b = append(b, '.')
			b = appendPad(b, int(usec/1000), 3)
		}
	case s.cfg.format == fmtRFC3339:
		b = append(b, '.')
		b = appendPad(b, int(usec), 6)
		b = append(b, "+00:00"...)
	}
	return append(b, ' ')
}

func appendPad(b []byte, v, width int) []byte {
	var tmp [12]byte
	i := len(tmp)
	for v > 0 || i == len(tmp) {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

// appendDelay writes seconds the way Postfix does: "0", "0.05", "0.2",
// "2.3", "17", "2071".
func appendDelay(b []byte, us int64) []byte {
	if us < 5000 {
		return append(b, '0')
	}
	if us < 995000 {
		cs := (us + 5000) / 10000
		b = append(b, '0', '.', byte('0'+cs/10))
		if cs%10 != 0 {
			b = append(b, byte('0'+cs%10))
		}
		return b
	}
	if us < 9950000 {
		ds := (us + 50000) / 100000
		b = strconv.AppendInt(b, ds/10, 10)
		if ds%10 != 0 {
			b = append(b, '.', byte('0'+ds%10))
		}
		return b
	}
	return strconv.AppendInt(b, (us+500000)/1000000, 10)
}

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const hexUpper = "0123456789ABCDEF"

func (s *sim) appendToken(b []byte, n int) []byte {
	x := s.r.Uint64()
	for i := 0; i < n; i++ {
		if i%10 == 9 {
			x = s.r.Uint64()
		}
		b = append(b, alnum[x%62])
		x /= 62
	}
	return b
}

func (s *sim) appendHex(b []byte, n int) []byte {
	x := s.r.Uint64()
	for i := 0; i < n; i++ {
		b = append(b, hexUpper[x&15])
		x >>= 4
	}
	return b
}

// expansion holds what the markers of a reply template stand for.
type expansion struct {
	rcpt, sender, domain, mxName, mxIP, msgID string
}

func (s *sim) appendTemplate(b []byte, tpl string, x *expansion, eximStyle bool) []byte {
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		if c >= 0x20 {
			j := i
			for j < len(tpl) && tpl[j] >= 0x20 {
				j++
			}
			b = append(b, tpl[i:j]...)
			i = j - 1
			continue
		}
		switch c {
		case 0x01:
			b = append(b, x.rcpt...)
		case 0x02:
			b = s.appendToken(b, 12)
		case 0x03:
			b = strconv.AppendInt(b, s.clock/1e6, 10)
		case 0x04:
			b = append(b, x.mxIP...)
		case 0x05:
			b = append(b, s.ourIP...)
		case 0x06:
			b = append(b, x.domain...)
		case 0x07:
			b = s.appendHex(b, 10)
		case 0x08:
			b = append(b, x.msgID...)
		case 0x09:
			b = strconv.AppendInt(b, int64(100000+s.r.IntN(900000)), 10)
		case 0x0b:
			b = append(b, x.sender...)
		case 0x0e:
			b = append(b, x.mxName...)
		case 0x0f:
			b = s.appendEximStyleID(b)
		case 0x1f:
			if eximStyle {
				b = append(b, '\\', 'n')
			} else {
				b = append(b, ' ')
			}
		}
	}
	return b
}

// appendEximStyleID writes an old-style Exim message ID of some other
// server, as it appears in "250 OK id=..." replies.
func (s *sim) appendEximStyleID(b []byte) []byte {
	b = s.appendToken(b, 6)
	b = append(b, '-')
	b = s.appendToken(b, 6)
	b = append(b, '-')
	return s.appendToken(b, 2)
}

type pidPool struct {
	pids []int
	next *int
}

func newPIDPool(r *rand.Rand, n, base int) pidPool {
	next := base + r.IntN(20000)
	p := pidPool{pids: make([]int, n), next: &next}
	for i := range p.pids {
		next += 1 + r.IntN(40)
		p.pids[i] = next
	}
	return p
}

// get returns a pid of a running process; now and then a process exits
// (max_use) and a new one takes its place.
func (p pidPool) get(r *rand.Rand) int {
	i := r.IntN(len(p.pids))
	if r.IntN(60) == 0 {
		*p.next += 1 + r.IntN(200)
		if *p.next > 4194000 {
			*p.next = 300
		}
		p.pids[i] = *p.next
	}
	return p.pids[i]
}
