// Package collate ties the events of one message together, as Postfix's
// collate.pl and exigrep do by hand: the sender, size, Message-ID and client
// that arrive on one line are attached to the delivery attempts logged on
// others, a recipient's fate is decided by its last attempt, the recipients
// still pending when Postfix expires a message become expired, and a
// content-filter hop links two queue IDs instead of counting a delivery.
//
// It sits between parse and store: it reads parse.Events and writes
// store rows through a Sink. It holds state only for messages in flight,
// and evicts what has been quiet for longer than a queue lifetime, so its
// memory does not grow with the input; what it no longer holds it finds
// again through the Sink (the database), so a message whose lines straddle
// two files, or two runs, is still one message.
package collate

import (
	"encoding/binary"
	"hash/maphash"
	"strconv"
	"strings"
	"time"

	"mailbounce/parse"
	"mailbounce/store"
)

// Sink receives rows. store's write batch implements it; lookups must see
// rows added earlier in the same transaction.
type Sink interface {
	// ReserveMessageID gives the id of a message row that InsertMessage
	// writes later in the same transaction.
	ReserveMessageID() (int64, error)
	InsertMessage(m store.Message) (int64, error)
	UpdateMessage(m store.Message) error
	// FindMessage finds the newest message with this host and queue ID.
	FindMessage(host, queueID string) (store.Message, bool, error)
	AddDelivery(d store.Delivery) (int64, error)
	AddReject(r store.Reject) error
	// PendingRecipients returns, for each recipient of a message that has
	// deferral attempts but no final one, its last deferral.
	PendingRecipients(messageRef int64) ([]store.Delivery, error)
	// MarkHop turns a stored delivery into a hop to message nextRef.
	MarkHop(deliveryID, fromRef, nextRef int64, nextQueueID string) error
	// UnmarkFinal makes a stored final attempt one that decided nothing.
	UnmarkFinal(deliveryID int64) error
	// RecentPipeState returns the pipe deliveries and pickup messages an
	// earlier run left unmatched, of the last window.
	RecentPipeState(window time.Duration) ([]store.PipeSent, []store.Injection, error)
}

// Options tune a Collator.
type Options struct {
	// DefaultHost names the host of lines that carry none (Exim's own
	// mainlog).
	DefaultHost string
	// MaxIdle is how long a message may stay silent before its state is
	// dropped from memory (it can still be found in the database). Zero
	// means 10 days: longer than Postfix's and Exim's default queue
	// lifetimes of 5 and 4 days.
	MaxIdle time.Duration
}

// Stats counts what a Collator did.
type Stats struct {
	Messages   int64 // message rows created
	Deliveries int64 // delivery rows written (attempts, expiries included)
	Rejects    int64
	Expired    int64 // recipients expired by a Postfix "status=expired" line
	Hops       int64
	Evicted    int64 // in-flight states dropped for being idle
}

// Collator is not safe for concurrent use.
type Collator struct {
	sink  Sink
	opt   Options
	msgs  map[msgKey]*msgState
	now   time.Time // the latest event time seen
	sweep time.Time // when idle states were last swept
	Stats Stats

	// eximRejects holds, per host and process, the last rejection that
	// Exim wrote through syslog, which by default (syslog_duplication)
	// writes each one twice: its main log's line and its reject log's.
	eximRejects map[hostPID]eximReject
	rejectSeed  maphash.Seed

	// A pipe to a content filter that submits the message again
	// (spamassassin's "spamc ... | sendmail"): the pipe's "sent" and the
	// new message, which pickup receives with the same Message-ID, come
	// in either order. Each waits here for the other, for a while.
	pipes      map[midKey][]pipeSent
	injections map[midKey][]injection
	midSweep   time.Time
	// earlierRun: what an earlier run left waiting was loaded.
	earlierRun bool
}

type msgKey struct{ host, qid string }

type midKey struct{ host, mid string }

// pipeSent is a pipe delivery stored as delivered, that becomes a hop if
// its message comes back through pickup.
type pipeSent struct {
	delivery, from int64 // the delivery row and its message's
	key            msgKey
	at             time.Time
	run            string // pipeRun
}

// pipeRun tells the lines of one pipe run: one run for several recipients
// (the pipe transport's default recipient limit) logs a line for each,
// from one pipe process, with the same time and delays, and submits one
// copy; runs of one recipient each submit a copy each. (A line read back
// from the database has no pid: 0.)
func pipeRun(pid int, at time.Time, delays string) string {
	return strconv.Itoa(pid) + " " + strconv.FormatInt(at.UnixMicro(), 10) + " " + delays
}

// injection is a message pickup received, that is a pipe delivery's hop if
// one of the same Message-ID comes.
type injection struct {
	ref int64
	qid string
	at  time.Time
	// usedBy is the message whose pipe deliveries it made hops of, and
	// usedRun their pipe run.
	usedBy  int64
	usedRun string
}

// How far apart a pipe's "sent" and the message its filter submitted again
// can be: the filter submits it while the pipe runs (before the pipe's
// line, by up to the time the filter took) or just before the pipe ends.
const (
	injectedBefore = 10 * time.Minute
	injectedAfter  = 2 * time.Minute
)

// msgState is what is known of a message in flight. Its strings are copies:
// the events' strings point into line buffers that are reused.
type msgState struct {
	row      store.Message
	stored   bool                       // the row exists in the sink
	dirty    bool                       // row differs from what the sink has
	injected bool                       // offered as a pipe delivery's hop
	pending  map[string]*store.Delivery // recipient -> its last deferral, until a final attempt
	// decided holds the recipients (address and original address) whose
	// fate a final attempt decided: a second final line for one of them (an
	// Exim archive copy through an unseen router, a line logged twice) is
	// an attempt, not a second recipient.
	decided map[string]decision
	// decidedAt holds when each recipient (address only, as the rollups
	// and their rebuild from the rows see it) was first decided by a
	// final attempt or a hop: a deferral after that is an attempt of a
	// recipient decided already.
	decidedAt map[string]time.Time
	// attempted: this run saw an attempt of the message (any outcome).
	attempted bool
	// receivedFor is Exim's list of the recipients on its arrival line
	// (log_selector +received_recipients), for a message given up on
	// before any attempt: the recipients nothing else names.
	receivedFor string
	// loaded: the message was found in the database (an earlier run or
	// batch), so pending holds only what this run saw.
	loaded   bool
	lastSeen time.Time
}

// decision is the attempt that decided a recipient.
type decision struct {
	id int64 // the delivery row; 0 until stored
	// copy: an Exim delivery to a local name (a mailbox, a file), which a
	// later line of the address itself overrides: that delivery was a
	// copy through an unseen router (an archive), since any other
	// router's delivery ends the address's routing. A later line of
	// another local name (a .forward's pipe failing beside the mailbox)
	// does not.
	copy bool
}

// markDecided records when a recipient was first decided.
func (st *msgState) markDecided(rcpt string, at time.Time) {
	if _, ok := st.decidedAt[rcpt]; ok {
		return
	}
	if st.decidedAt == nil {
		st.decidedAt = make(map[string]time.Time)
	}
	st.decidedAt[strings.Clone(rcpt)] = at
}

// pendingOf returns the recipients of st still waiting after a deferral:
// those this run saw, and for a message an earlier run or batch stored,
// those the database holds too.
func (c *Collator) pendingOf(st *msgState) (map[string]*store.Delivery, error) {
	pending := st.pending
	if len(pending) > 0 && !st.loaded {
		return pending, nil
	}
	rows, err := c.sink.PendingRecipients(st.row.ID)
	if err != nil {
		return nil, err
	}
	merged := make(map[string]*store.Delivery, len(rows)+len(pending))
	for i := range rows {
		merged[rows[i].Recipient] = &rows[i]
	}
	for r, p := range pending {
		merged[r] = p
	}
	return merged, nil
}

// New returns a Collator writing to sink.
func New(sink Sink, opt Options) *Collator {
	if opt.MaxIdle <= 0 {
		opt.MaxIdle = 10 * 24 * time.Hour
	}
	return &Collator{sink: sink, opt: opt, msgs: make(map[msgKey]*msgState)}
}

// SetSink changes where rows go: a new write batch after a commit.
func (c *Collator) SetSink(s Sink) { c.sink = s }

// InFlight is the number of messages held in memory.
func (c *Collator) InFlight() int { return len(c.msgs) }

// Add takes one event. Events of kinds that carry nothing for the database
// are ignored.
func (c *Collator) Add(ev *parse.Event) error {
	if ev.Time.After(c.now) {
		c.now = ev.Time
	}
	if !c.earlierRun {
		if err := c.loadEarlierRun(); err != nil {
			return err
		}
	}
	switch ev.Kind {
	case parse.KindClient, parse.KindArrival, parse.KindMessageID:
		return c.arrival(ev)
	case parse.KindDelivery:
		return c.delivery(ev)
	case parse.KindExpired:
		return c.expired(ev)
	case parse.KindRemoved:
		return c.removed(ev)
	case parse.KindReject:
		return c.reject(ev)
	case parse.KindBounceNotice:
		return c.bounceNotice(ev)
	}
	return nil
}

func (c *Collator) host(ev *parse.Event) string {
	if ev.Host == "" {
		return c.opt.DefaultHost
	}
	return ev.Host
}

// state returns the message an event belongs to, creating it when create
// is set and neither memory nor the sink knows it.
func (c *Collator) state(ev *parse.Event, create bool) (*msgState, error) {
	key := msgKey{c.host(ev), ev.QueueID}
	if st, ok := c.msgs[key]; ok {
		st.lastSeen = ev.Time
		return st, nil
	}
	key.host = strings.Clone(key.host)
	key.qid = strings.Clone(key.qid)
	var m store.Message
	found := false
	if !startsMessage(ev) {
		var err error
		m, found, err = c.sink.FindMessage(key.host, key.qid)
		if err != nil {
			return nil, err
		}
	}
	// A message that left the queue, or that has been silent for longer
	// than any queue lifetime, is not this one: Postfix reuses queue IDs.
	if found && (!m.RemovedAt.IsZero() || ev.Time.Sub(m.LastSeen) > c.opt.MaxIdle) {
		found = false
	}
	if !found {
		if !create {
			return nil, nil
		}
		m = store.Message{Host: key.host, MTA: ev.MTA.String(), QueueID: key.qid, FirstSeen: ev.Time, LastSeen: ev.Time}
		id, err := c.sink.ReserveMessageID()
		if err != nil {
			return nil, err
		}
		m.ID = id
		c.Stats.Messages++
	}
	// A new message's row is written once, when it leaves the queue or
	// before the batch commits (Flush).
	st := &msgState{row: m, lastSeen: ev.Time, stored: found, dirty: !found, loaded: found}
	c.msgs[key] = st
	c.maybeSweep()
	return st, nil
}

// startsMessage tells the lines that only the first line of a message can
// be: smtpd's and pickup's (Postfix assigns the queue ID there, so an older
// message with the same ID has left the queue) and Exim's "<=". No need to
// look for an earlier message under the same ID.
func startsMessage(ev *parse.Event) bool {
	switch {
	case ev.Kind == parse.KindClient:
		return true
	case ev.Kind == parse.KindArrival && ev.MTA == parse.Exim:
		return true
	}
	return false
}

// arrival records smtpd's client=, pickup's uid=, cleanup's message-id=,
// qmgr's from=/size=/nrcpt= and Exim's "<=". A Postfix queue ID that
// shows up at smtpd or pickup after its earlier message left the queue is
// a new message; FindMessage does not return removed ones.
func (c *Collator) arrival(ev *parse.Event) error {
	st, err := c.state(ev, true)
	if err != nil || st == nil {
		return err
	}
	m := &st.row
	if ev.Kind == parse.KindArrival || ev.Sender != "" {
		if !m.HasSender || m.Sender != ev.Sender {
			m.Sender = strings.Clone(ev.Sender)
			m.HasSender = true
			st.dirty = true
		}
	}
	if ev.Size >= 0 && m.Size != ev.Size {
		m.Size = ev.Size
		st.dirty = true
	}
	if ev.NRcpt > 0 && m.NRcpt != ev.NRcpt {
		m.NRcpt = ev.NRcpt
		st.dirty = true
	}
	if ev.MessageID != "" && m.MessageID != ev.MessageID {
		m.MessageID = strings.Clone(ev.MessageID)
		st.dirty = true
	}
	if ev.Client.Raw != "" && m.Client == "" {
		m.Client = strings.Clone(ev.Client.Raw)
		st.dirty = true
	}
	if ev.ParentID != "" && m.ParentQueueID == "" {
		m.ParentQueueID = strings.Clone(ev.ParentID)
		st.dirty = true
	}
	m.LastSeen = ev.Time
	if ev.ReceivedFor != "" && st.receivedFor == "" && len(ev.ReceivedFor) <= maxReceivedFor {
		st.receivedFor = strings.Clone(ev.ReceivedFor)
	}
	if ev.RequeuedFrom != "" && ev.MTA == parse.Postfix {
		if err := c.requeued(ev, st); err != nil {
			return err
		}
	}
	if !st.injected && m.Client == "local" && m.MessageID != "" && ev.MTA == parse.Postfix {
		st.injected = true
		return c.injected(st, ev.Time)
	}
	// The row is written when the message leaves the queue, or before the
	// batch commits (Flush): one UPDATE per message, not one per line.
	return nil
}

// injected takes a message that pickup received: the hop of a pipe
// delivery of the same Message-ID stored before, or else one to wait for.
func (c *Collator) injected(st *msgState, at time.Time) error {
	key := midKey{st.row.Host, st.row.MessageID}
	in := injection{ref: st.row.ID, qid: st.row.QueueID, at: at}
	// The first pipe delivery of the message still waiting, and the other
	// lines of its pipe run: one run for several recipients submits one
	// copy. Runs of one recipient each wait for copies of their own.
	kept := c.pipes[key][:0]
	for _, p := range c.pipes[key] {
		if p.from == st.row.ID || at.Sub(p.at) > injectedAfter || p.at.Sub(at) > injectedBefore ||
			in.usedBy != 0 && (p.from != in.usedBy || p.run != in.usedRun) {
			kept = append(kept, p)
			continue
		}
		in.usedBy, in.usedRun = p.from, p.run
		c.Stats.Hops++
		// The rollups take the attempt out as they counted it, with its
		// message's sender domain: the message's row must be written.
		if from, ok := c.msgs[p.key]; ok && from.row.ID == p.from {
			if err := c.flush(from); err != nil {
				return err
			}
		}
		if err := c.sink.MarkHop(p.delivery, p.from, st.row.ID, st.row.QueueID); err != nil {
			return err
		}
	}
	if len(kept) == 0 {
		delete(c.pipes, key)
	} else {
		c.pipes[key] = kept
	}
	c.maybeSweepMIDs()
	for _, o := range c.injections[key] {
		if o.ref == in.ref {
			return nil // seen again (a state read back): one is enough
		}
	}
	c.injections[key] = append(c.injections[key], in)
	return nil
}

// injectionFor finds, for a pipe delivery of message st at time at in pipe
// run run, the message the filter submitted again, if pickup has received
// it: the one another line of the same run took (one run for several
// recipients, one copy), or else one no pipe delivery has taken yet.
func (c *Collator) injectionFor(st *msgState, at time.Time, run string) (injection, bool) {
	key := midKey{st.row.Host, st.row.MessageID}
	ins := c.injections[key]
	found := -1
	for i, in := range ins {
		if in.ref == st.row.ID || in.at.Sub(at) > injectedAfter || at.Sub(in.at) > injectedBefore {
			continue
		}
		if in.usedBy == st.row.ID && in.usedRun == run {
			found = i
			break
		}
		if in.usedBy == 0 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return injection{}, false
	}
	ins[found].usedBy, ins[found].usedRun = st.row.ID, run
	return ins[found], true
}

// loadEarlierRun takes over, at a Collator's first event, the first halves
// an earlier run left: its pipe deliveries and pickup messages of the last
// minutes, so that a pair whose lines fall on both sides of a run's end
// is still a hop.
func (c *Collator) loadEarlierRun() error {
	if c.earlierRun {
		return nil
	}
	c.earlierRun = true
	pipes, ins, err := c.sink.RecentPipeState(injectedBefore + injectedAfter)
	if err != nil {
		return err
	}
	c.maybeSweepMIDs()
	for _, p := range pipes {
		key := midKey{p.Host, p.MessageID}
		c.pipes[key] = append(c.pipes[key], pipeSent{delivery: p.Delivery, from: p.MessageRef, key: msgKey{p.Host, p.QueueID}, at: p.Time, run: pipeRun(0, p.Time, p.Delays)})
	}
	for _, in := range ins {
		key := midKey{in.Host, in.MessageID}
		used := injection{ref: in.MessageRef, qid: in.QueueID, at: in.FirstSeen, usedBy: in.UsedBy}
		if in.UsedBy != 0 {
			used.usedRun = pipeRun(0, in.HopTime, in.HopDelays)
		}
		c.injections[key] = append(c.injections[key], used)
	}
	return nil
}

// maybeSweepMIDs drops what waited longer than a pipe and its message can
// be apart, once a minute of log time.
func (c *Collator) maybeSweepMIDs() {
	if c.pipes == nil {
		c.pipes = make(map[midKey][]pipeSent)
		c.injections = make(map[midKey][]injection)
	}
	if c.now.Sub(c.midSweep) < time.Minute {
		return
	}
	c.midSweep = c.now
	limit := c.now.Add(-injectedBefore - injectedAfter)
	for k, ps := range c.pipes {
		if ps[len(ps)-1].at.Before(limit) {
			delete(c.pipes, k)
		}
	}
	for k, ins := range c.injections {
		if ins[len(ins)-1].at.Before(limit) {
			delete(c.injections, k)
		}
	}
}

func (c *Collator) flush(st *msgState) error {
	if !st.dirty {
		return nil
	}
	st.dirty = false
	if !st.stored {
		st.stored = true
		_, err := c.sink.InsertMessage(st.row)
		return err
	}
	return c.sink.UpdateMessage(st.row)
}

// delivery writes one attempt and updates the recipient's state.
func (c *Collator) delivery(ev *parse.Event) error {
	st, err := c.state(ev, true)
	if err != nil {
		return err
	}
	st.attempted = true
	out := ev.Outcome
	if out == parse.Delivered && ev.NextQueueID != "" {
		// The next hop queued the message under an ID that this host has
		// just received (its smtpd logged client= before the 250 reached
		// us): a hop through a content filter or a second instance on this
		// host, not a delivery.
		if _, ok := c.msgs[msgKey{c.host(ev), ev.NextQueueID}]; ok {
			out = parse.Hop
		}
	}
	// A pipe delivery whose message came back through pickup went to a
	// content filter: a hop (if it comes back later, injected makes it one).
	var inj injection
	pipe := out == parse.Delivered && ev.Service == "pipe" && st.row.MessageID != "" && ev.MTA == parse.Postfix
	var run string
	if pipe {
		run = pipeRun(ev.PID, ev.Time, ev.Delays)
		var ok bool
		if inj, ok = c.injectionFor(st, ev.Time, run); ok {
			out, pipe = parse.Hop, false
		}
	}
	d := c.row(ev, st, out)
	var decidedKey string // set when d decides its recipient
	var decidedCopy bool
	if inj.ref != 0 {
		d.NextMessageRef, d.NextQueueID = inj.ref, strings.Clone(inj.qid)
	}
	if ev.MTA == parse.Exim && d.OrigRecipient == "" && (out == parse.Expired || out == parse.Delivered && ev.LocalName != "") {
		if _, ok := st.pending[d.Recipient]; !ok {
			// "** user+tag@example.org: retry timeout exceeded" and "=>
			// user <user+tag@example.org>" name the address that was sent
			// to; its deferrals named what a router made of it ("==
			// user@example.org <user+tag@example.org>"): one recipient,
			// decided here. (Not a delivery of the address itself: an
			// unseen router's copy to another address may be waiting.)
			var child *store.Delivery
			for _, p := range st.pending {
				if p.OrigRecipient == d.Recipient && (ev.LocalName == "" || localPart(p.Recipient) == ev.LocalName) {
					if child != nil {
						child = nil
						break
					}
					child = p
				}
			}
			if child != nil {
				d.Recipient, d.OrigRecipient = child.Recipient, child.OrigRecipient
			}
		}
	}
	if out == parse.Expired {
		// Exim's "retry timeout exceeded" says only that it gave up; the
		// recipient's last deferral says why, as for Postfix's expiries.
		if p, ok := st.pending[d.Recipient]; ok && p.Reason != "" {
			d.Reason = p.Reason
			if d.Code == 0 && d.Enhanced == "" {
				d.Code, d.Enhanced, d.Stage = p.Code, p.Enhanced, p.Stage
			}
			// The expiry line names no host: the next hop that kept
			// deferring is the one that failed (--by relay).
			if d.Relay == "" {
				d.Relay = p.Relay
			}
		}
	}
	switch out {
	case parse.Delivered, parse.Bounced, parse.Expired:
		delete(st.pending, d.Recipient)
		st.markDecided(d.Recipient, d.Time)
		k := d.Recipient + "\x00" + d.OrigRecipient
		copyLine := ev.MTA == parse.Exim && out == parse.Delivered && ev.LocalName != ""
		if prev, dup := st.decided[k]; dup {
			if !prev.copy || ev.LocalName != "" || prev.id == 0 {
				break
			}
			// The unseen router's copy came first; this route decides.
			// The rollups take the copy's part out under the message's
			// sender domain: the message row must be there.
			if err := c.flush(st); err != nil {
				return err
			}
			if err := c.sink.UnmarkFinal(prev.id); err != nil {
				return err
			}
		}
		if st.decided == nil {
			st.decided = make(map[string]decision)
		}
		decidedKey, decidedCopy = k, copyLine
		st.decided[k] = decision{copy: copyLine}
		d.Final = true
	case parse.Deferred:
		if k := d.Recipient + "\x00" + d.OrigRecipient; st.decided[k].copy && st.decided[k].id != 0 && ev.LocalName == "" {
			// The real route of an address an unseen router copied:
			// waiting again, as if the copy had not been.
			if err := c.flush(st); err != nil {
				return err
			}
			if err := c.sink.UnmarkFinal(st.decided[k].id); err != nil {
				return err
			}
			delete(st.decided, k)
			delete(st.decidedAt, d.Recipient)
		}
		if at, ok := st.decidedAt[d.Recipient]; ok {
			// A recipient decided already (a line written twice, a
			// deferral logged after the delivery): an attempt, not a
			// recipient waiting.
			d.DecidedAt = at
			break
		}
		if st.pending == nil {
			st.pending = make(map[string]*store.Delivery)
		}
		p := d
		p.Host = strings.Clone(d.Host)
		p.Recipient = strings.Clone(d.Recipient)
		p.Reply = strings.Clone(d.Reply)
		p.Relay = strings.Clone(d.Relay)
		p.Stage = strings.Clone(d.Stage)
		p.Enhanced = strings.Clone(d.Enhanced)
		p.Reason = d.Reason
		p.OrigRecipient = strings.Clone(d.OrigRecipient)
		p.DSN = strings.Clone(d.DSN)
		p.Delays, p.RemoteID, p.RemoteName, p.NextQueueID = "", "", "", ""
		st.pending[p.Recipient] = &p
	case parse.Hop:
		c.Stats.Hops++
		delete(st.pending, d.Recipient)
		st.markDecided(d.Recipient, d.Time)
		if next, ok := c.msgs[msgKey{c.host(ev), d.NextQueueID}]; ok {
			if next.row.ParentQueueID == "" {
				next.row.ParentQueueID = st.row.QueueID
				next.dirty = true
			}
			// The message it became is in hand: the link goes with the
			// attempt, as stitching would have made it later (a pipe's
			// was linked by its Message-ID above).
			first := next.row.FirstSeen
			if first.IsZero() {
				first = next.row.LastSeen
			}
			if inj.ref == 0 && ev.Reply.RemoteID == ev.NextQueueID && next.row.ID != st.row.ID &&
				store.Handed(ev.Time, first, next.row.MessageID, st.row.MessageID) {
				d.NextMessageRef = next.row.ID
			}
		}
		if st.row.NextQueueID == "" {
			st.row.NextQueueID = strings.Clone(d.NextQueueID)
			st.dirty = true
		}
	}
	st.row.LastSeen = ev.Time
	c.Stats.Deliveries++
	id, err := c.sink.AddDelivery(d)
	if err == nil && decidedKey != "" {
		st.decided[decidedKey] = decision{id: id, copy: decidedCopy}
	}
	if err == nil && pipe {
		c.maybeSweepMIDs()
		key := midKey{st.row.Host, st.row.MessageID}
		c.pipes[key] = append(c.pipes[key], pipeSent{delivery: id, from: st.row.ID, key: msgKey{st.row.Host, st.row.QueueID}, at: ev.Time, run: run})
	}
	return err
}

func (c *Collator) row(ev *parse.Event, st *msgState, out parse.Outcome) store.Delivery {
	d := store.Delivery{
		MessageRef:    st.row.ID,
		Host:          c.host(ev),
		Time:          ev.Time,
		Recipient:     ev.Recipient,
		OrigRecipient: ev.OrigRecipient,
		Relay:         ev.Relay.Raw,
		Delay:         ev.Delay,
		Delays:        ev.Delays,
		DSN:           ev.DSN,
		Code:          ev.Reply.Code,
		Enhanced:      ev.Reply.Enhanced.String(),
		Stage:         ev.Reply.Stage,
		Reply:         ev.Reply.Raw,
		RemoteID:      ev.Reply.RemoteID,
		RemoteName:    ev.Reply.RemoteName,
		Outcome:       out.String(),
		NextQueueID:   ev.NextQueueID,
	}
	if ev.Reason != parse.ReasonNone {
		d.Reason = ev.Reason.String()
	}
	if d.Delay < 0 && ev.MTA == parse.Exim {
		d.Delay = eximDelay(ev, &st.row)
	}
	d.SenderDomain = senderDomain(&st.row)
	return d
}

// eximDelay is the time since arrival of an Exim delivery whose line has
// no QT= (log_selector +queue_time is off by default): from the "<=" line
// when it was seen (it is the message's first line, and the only one that
// names the sender), else from the arrival time in the message ID, unless
// the two clocks disagree (a log read in the wrong time zone). -1 when
// neither is known.
func eximDelay(ev *parse.Event, m *store.Message) float64 {
	if m.HasSender && !m.FirstSeen.IsZero() && !ev.Time.Before(m.FirstSeen) {
		return ev.Time.Sub(m.FirstSeen).Seconds()
	}
	if t, ok := parse.EximIDTime(m.QueueID); ok {
		if d := ev.Time.Sub(t); d >= 0 && d <= 60*24*time.Hour {
			return d.Seconds()
		}
	}
	return -1
}

// senderDomain is what the store's hourly rollup groups a message's
// attempts by for --by sender-domain; the message row itself is often
// written only after them.
func senderDomain(m *store.Message) string {
	if !m.HasSender {
		return ""
	}
	return store.AddressDomain(m.Sender)
}

// expired handles Postfix's "status=expired, returned to sender" and Exim's
// "cancelled by ..." (then bounced, or expired after timeout_frozen_after): every
// recipient still pending is given up on. The line names no recipient, so
// the recipients are those whose last attempt was a deferral; the expiry
// keeps that deferral's reply and reason, which say why.
func (c *Collator) expired(ev *parse.Event) error {
	st, err := c.state(ev, true)
	if err != nil {
		return err
	}
	// The deferrals may be in the database only (an earlier file or run).
	pending, err := c.pendingOf(st)
	if err != nil {
		return err
	}
	// Exim's "cancelled by root" fails them: bounced (the last deferral
	// says why they were still waiting).
	out := parse.Expired
	if ev.Outcome == parse.Bounced {
		out = parse.Bounced
	}
	given := make([]store.Delivery, 0, len(pending))
	for _, p := range pending {
		given = append(given, *p)
	}
	if len(pending) == 0 && !st.attempted && !st.loaded && st.receivedFor != "" {
		// Given up on before any attempt (a system filter's "fail", a
		// message frozen on arrival until timeout_frozen_after): no line
		// names its recipients but the arrival's list.
		for _, rcpt := range strings.Fields(st.receivedFor) {
			given = append(given, store.Delivery{Recipient: rcpt, Reply: ev.Reply.Raw})
		}
		st.attempted = true
	}
	for _, d := range given {
		d.MessageRef = st.row.ID
		d.Host = c.host(ev)
		d.Time = ev.Time
		d.Outcome = out.String()
		d.Final = true
		d.SenderDomain = senderDomain(&st.row)
		d.Delay = -1
		if d.Reason == "" {
			d.Reason = "expired"
			if out == parse.Bounced {
				d.Reason = parse.ReasonOther.String()
			}
		}
		if _, err := c.sink.AddDelivery(d); err != nil {
			return err
		}
		c.Stats.Deliveries++
		if out == parse.Expired {
			c.Stats.Expired++
		}
	}
	st.pending = nil
	return nil
}

// localPart is what comes before the @ of an address.
func localPart(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i]
	}
	return addr
}

// maxReceivedFor bounds the recipient list kept of an Exim arrival line:
// a mailing list's thousands are rarely given up on before any attempt,
// and memory holds one per message in flight.
const maxReceivedFor = 4096

// removed: the message left the queue. Its state goes; a later line with
// the same Postfix queue ID is a new message.
func (c *Collator) removed(ev *parse.Event) error {
	key := msgKey{c.host(ev), ev.QueueID}
	st, err := c.state(ev, false)
	if err != nil || st == nil {
		return err
	}
	st.row.RemovedAt = ev.Time
	st.row.LastSeen = ev.Time
	st.dirty = true
	delete(c.msgs, key)
	return c.flush(st)
}

// requeued takes pickup's "orig_id=OLD" (postsuper -r, a queue manager's
// "Requeue" button): message OLD left the queue and goes on as st. Its
// recipients still waiting after a deferral are handed on, a hop each, and
// decided where st's attempts decide them, once.
func (c *Collator) requeued(ev *parse.Event, st *msgState) error {
	if st.row.ParentQueueID == "" {
		st.row.ParentQueueID = strings.Clone(ev.RequeuedFrom)
		st.dirty = true
	}
	oldKey := msgKey{c.host(ev), ev.RequeuedFrom}
	old, ok := c.msgs[oldKey]
	if !ok {
		m, found, err := c.sink.FindMessage(oldKey.host, oldKey.qid)
		if err != nil || !found || !m.RemovedAt.IsZero() {
			return err
		}
		old = &msgState{row: m, stored: true, loaded: true}
	}
	if old.row.ID == st.row.ID {
		return nil
	}
	pending, err := c.pendingOf(old)
	if err != nil {
		return err
	}
	// The link from the hops wants st's row.
	if err := c.flush(st); err != nil {
		return err
	}
	for _, p := range pending {
		d := store.Delivery{
			MessageRef:     old.row.ID,
			Host:           oldKey.host,
			Time:           ev.Time,
			Recipient:      p.Recipient,
			OrigRecipient:  p.OrigRecipient,
			Delay:          -1,
			Outcome:        parse.Hop.String(),
			NextQueueID:    st.row.QueueID,
			NextMessageRef: st.row.ID,
			SenderDomain:   senderDomain(&old.row),
		}
		if _, err := c.sink.AddDelivery(d); err != nil {
			return err
		}
		c.Stats.Deliveries++
		c.Stats.Hops++
	}
	old.pending = nil
	old.row.RemovedAt, old.row.LastSeen = ev.Time, ev.Time
	if old.row.NextQueueID == "" {
		old.row.NextQueueID = st.row.QueueID
	}
	old.dirty = true
	delete(c.msgs, oldKey)
	return c.flush(old)
}

// bounceNotice links a bounce message to the message it reports on.
func (c *Collator) bounceNotice(ev *parse.Event) error {
	next, ok := c.msgs[msgKey{c.host(ev), ev.NextQueueID}]
	if ok && next.row.ParentQueueID == "" {
		next.row.ParentQueueID = strings.Clone(ev.QueueID)
		next.dirty = true
	}
	return nil
}

type hostPID struct {
	host string
	pid  int
}

type eximReject struct {
	sum  uint64 // of the line's fields
	pair bool   // it was the second of a pair: the next one is new
}

// eximCopy tells the reject log's copy of the rejection before it: Exim
// logging to syslog with syslog_duplication (the default) writes both its
// main log's line and its reject log's, identical (the reject log's first
// piece, "[1\N] ...", when it adds header lines), one after the other, to
// the millisecond with log_selector +millisec. The first of two identical
// lines counts; a third counts again.
func (c *Collator) eximCopy(ev *parse.Event) bool {
	if ev.MTA != parse.Exim || ev.Host == "" || ev.PID == 0 {
		return false // not through syslog, or no process to tell runs apart
	}
	if c.eximRejects == nil || len(c.eximRejects) > 4096 {
		c.eximRejects = make(map[hostPID]eximReject)
		c.rejectSeed = maphash.MakeSeed()
	}
	var h maphash.Hash
	h.SetSeed(c.rejectSeed)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(ev.Time.UnixNano()))
	h.Write(b[:])
	for _, f := range []string{ev.QueueID, ev.RejectStage, ev.Client.Raw, ev.Sender, ev.Recipient, ev.Reply.Raw} {
		h.WriteString(f)
		h.WriteByte(0)
	}
	k := hostPID{ev.Host, ev.PID}
	last, seen := c.eximRejects[k]
	sum := h.Sum64()
	if seen && last.sum == sum && !last.pair {
		c.eximRejects[k] = eximReject{sum, true}
		return true
	}
	if !seen {
		k.host = strings.Clone(k.host)
	}
	c.eximRejects[k] = eximReject{sum: sum}
	return false
}

func (c *Collator) reject(ev *parse.Event) error {
	if c.eximCopy(ev) {
		return nil
	}
	r := store.Reject{
		Host:      c.host(ev),
		Time:      ev.Time,
		Stage:     ev.RejectStage,
		Client:    ev.Client.Raw,
		Sender:    ev.Sender,
		Recipient: ev.Recipient,
		Code:      ev.Reply.Code,
		Enhanced:  ev.Reply.Enhanced.String(),
		Reply:     ev.Reply.Raw,
	}
	if ev.QueueID != "NOQUEUE" {
		r.QueueID = ev.QueueID
	}
	if ev.Reason != parse.ReasonNone {
		r.Reason = ev.Reason.String()
	}
	c.Stats.Rejects++
	return c.sink.AddReject(r)
}

// maybeSweep drops states idle for longer than MaxIdle, at most once per
// hour of log time, so that messages whose end was never logged (a log cut
// short, a queue deleted by hand) do not accumulate.
func (c *Collator) maybeSweep() {
	if c.now.Sub(c.sweep) < time.Hour {
		return
	}
	c.sweep = c.now
	limit := c.now.Add(-c.opt.MaxIdle)
	for k, st := range c.msgs {
		if st.lastSeen.Before(limit) {
			if st.dirty {
				// Best effort: the row holds all but the latest details.
				_ = c.flush(st)
			}
			delete(c.msgs, k)
			c.Stats.Evicted++
		}
	}
}

// Flush writes every changed message row, before a commit.
func (c *Collator) Flush() error {
	for _, st := range c.msgs {
		if err := c.flush(st); err != nil {
			return err
		}
	}
	return nil
}
