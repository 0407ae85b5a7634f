package store

import (
	"golang.org/x/net/idna"
	"strings"
	"time"
)

// Outcomes of a delivery attempt, as stored in deliveries.outcome.
const (
	OutcomeDelivered = "delivered" // the next hop accepted responsibility
	OutcomeDeferred  = "deferred"  // temporary failure, will be retried
	OutcomeBounced   = "bounced"   // permanent failure, returned to the sender
	OutcomeExpired   = "expired"   // given up after retrying without a permanent failure
	OutcomeHop       = "hop"       // re-queued under another queue ID (content filter, other instance)
)

func validOutcome(s string) bool {
	switch s {
	case OutcomeDelivered, OutcomeDeferred, OutcomeBounced, OutcomeExpired, OutcomeHop:
		return true
	}
	return false
}

// The row structs below use Go zero values for "absent", stored as NULL:
// an empty string, a zero time.Time, a zero or negative number (except where
// a field says otherwise).

// Message is one message in one queue of one host.
type Message struct {
	ID        int64  // messages.id, set by InsertMessage and FindMessage
	Host      string // syslog host name; "" for Exim's own mainlog
	MTA       string // "postfix" or "exim"
	QueueID   string // required
	MessageID string // Message-ID header
	// Sender is the envelope sender. The null sender <> is "" with
	// HasSender true; HasSender false means no line named the sender yet.
	Sender        string
	HasSender     bool
	Size          int64 // bytes
	NRcpt         int
	Client        string // "name[addr]"
	FirstSeen     time.Time
	LastSeen      time.Time
	RemovedAt     time.Time
	NextQueueID   string
	ParentQueueID string
}

// Delivery is one attempt to deliver a message to one recipient.
type Delivery struct {
	// MessageRef is the messages.id of the attempt's message. Give it
	// whenever possible: a recipient is a (message, recipient) pair, and a
	// deferral without one counts as a recipient of its own.
	MessageRef    int64
	Host          string
	Time          time.Time // required
	Recipient     string    // required
	Domain        string    // recipient domain; "" takes it from Recipient
	OrigRecipient string
	Relay         string  // "mx.example.com[192.0.2.1]:25"
	Delay         float64 // seconds; negative means absent (0 is a real delay)
	Delays        string
	DSN           string
	Code          int    // SMTP reply code
	Enhanced      string // "5.1.1"
	Stage         string
	Reply         string
	RemoteID      string
	RemoteName    string // the receiving server's own name, where its reply gives one
	Outcome       string // one of the Outcome constants, required
	Reason        string // "user_unknown"
	Final         bool   // this attempt decided the recipient's fate
	NextQueueID   string
	// NextMessageRef is, for a hop, the messages.id of the message the
	// next hop queued (its queue ID is RemoteID), when the caller knows
	// it: the link is stored with the attempt, and stitching (stitch.go)
	// leaves the attempt alone. 0 leaves the link to stitching.
	NextMessageRef int64
	// SenderDomain is the domain of the message's envelope sender, for
	// the hourly rollup (sender_hours.sender_domain_id); it is not a
	// column of deliveries. "" takes it from the message row if this
	// writer stored it before the attempt, else none (the null sender).
	SenderDomain string
	// DecidedAt is, for a deferral, when an earlier attempt of the same
	// message decided this recipient's fate (a final one, or a hop): an
	// Exim archive copy delivered, then the real route deferred. The
	// rollups count the deferred recipient as decided then, as a rebuild
	// from the rows does. Zero: not decided before.
	DecidedAt time.Time
}

// Reject is a message or recipient refused at our own door.
type Reject struct {
	Host      string
	Time      time.Time // required
	QueueID   string
	Stage     string
	Client    string
	Sender    string
	Recipient string
	Domain    string // "" takes it from Recipient
	Code      int
	Enhanced  string
	Reply     string
	Reason    string
}

// Source is the checkpoint of one input: how much of its decompressed
// content has been committed.
type Source struct {
	ID        int64 // sources.id; 0 makes SetSource insert a new row
	Path      string
	Host      string
	HeadHash  []byte // sha256 of the first HeadLen decompressed bytes
	HeadLen   int    // up to 1024
	Offset    int64  // decompressed bytes committed (0 is a real offset)
	Lines     int64  // lines committed
	Size      int64  // file size when last read
	MTime     time.Time
	FirstRead time.Time
	LastRead  time.Time
	// Cursor is, for the systemd journal, the cursor of the last entry
	// committed; "" for files.
	Cursor string
	// Reader is "tail HOST:PID" for a source a mailbounce tail follows
	// (LastRead then says when it was last alive), "" for ingest's.
	Reader string
	// Expect, when set, is what the row held when this writer last read
	// or committed it: SetSource fails with ErrSourceMoved if it changed.
	Expect *SourceMark
}

// SourceMark is how far a source's row says it was read.
type SourceMark struct {
	Offset int64
	Cursor string
}

// Counter kinds, as stored in counters.kind.
const (
	CounterWarning = "warning"
	CounterFatal   = "fatal"
	CounterUnknown = "unknown"
)

// Micros converts t to the stored form: microseconds since the Unix epoch.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros is the inverse of Micros, in UTC.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// AddressDomain is the lower-cased part of addr after its last '@', or "".
// Domains are case-insensitive, so one spelling keeps one row per domain.
func AddressDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || i == len(addr)-1 {
		return ""
	}
	return DomainName(addr[i+1:])
}

// DomainName is a domain as the database stores it: in lower case, and an
// internationalised one in its Unicode form.
func DomainName(name string) string {
	d := lowerASCII(name)
	if strings.Contains(d, "xn--") {
		// An internationalised domain written as its ASCII form (an
		// A-label, as most clients send it) is the same domain as its
		// Unicode form (as SMTPUTF8 clients send it): one name for both.
		// Only a name that converts back to itself: the lenient
		// conversion would make "xn--.example" ".example".
		if u, err := idna.ToUnicode(d); err == nil && u != d {
			if back, err := idna.ToASCII(u); err == nil && back == d {
				d = u
			}
		}
	}
	return d
}

// lowerASCII avoids strings.ToLower's allocation in the common case of a
// name that is already lower case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Values for nullable columns: database/sql stores a nil interface as NULL.

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
