package parse

import "time"

// MTA names the mail server software that wrote a line.
type MTA uint8

const (
	MTAUnknown MTA = iota
	Postfix
	Exim
)

func (m MTA) String() string {
	switch m {
	case Postfix:
		return "postfix"
	case Exim:
		return "exim"
	}
	return "unknown"
}

// Kind says what a line reports. Only the kinds below KindOther carry data
// that the rest of mailbounce uses; KindOther is a line that was understood
// and deliberately ignored (connect, disconnect, TLS, statistics...), and
// KindUnknown one that was not understood at all.
type Kind uint8

const (
	KindUnknown      Kind = iota
	KindArrival           // Postfix qmgr from=/size=/nrcpt=; Exim "<="
	KindClient            // Postfix smtpd/pickup "QID: client=" / "uid= from="
	KindMessageID         // Postfix cleanup "message-id="
	KindDelivery          // one delivery attempt for one recipient
	KindExpired           // Postfix qmgr "status=expired, returned to sender"
	KindRemoved           // Postfix qmgr "removed"; Exim "Completed"
	KindReject            // a message or recipient refused at our own door
	KindBounceNotice      // Postfix bounce "sender non-delivery notification: NEWQID"
	KindFrozen            // Exim "Frozen" / "frozen"
	KindWarning           // "warning:" lines (and Exim panics), counted
	KindFatal             // "fatal:", "panic:", "error:" lines, counted
	KindOther             // understood, of no interest to delivery statistics
)

var kindNames = [...]string{"unknown", "arrival", "client", "message-id", "delivery", "expired",
	"removed", "reject", "bounce-notice", "frozen", "warning", "fatal", "other"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Outcome is the result of one delivery attempt.
type Outcome uint8

const (
	OutcomeNone Outcome = iota // not a delivery attempt
	Delivered                  // the next hop accepted responsibility (2xx, local delivery, discard)
	Deferred                   // temporary failure (4xx or equivalent): will be retried
	Bounced                    // permanent failure (5xx or equivalent): returned to sender
	Expired                    // given up after retrying; no 5xx was ever received
	Rejected                   // refused at our own door (smtpd, postscreen, Exim ACL)
	Hop                        // handed to a content filter or another instance that re-queues it
)

var outcomeNames = [...]string{"", "delivered", "deferred", "bounced", "expired", "rejected", "hop"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return ""
}

// ParseOutcome is the inverse of Outcome.String.
func ParseOutcome(s string) (Outcome, bool) {
	for i, n := range outcomeNames {
		if i > 0 && n == s {
			return Outcome(i), true
		}
	}
	return OutcomeNone, false
}

// Event is one log line turned into data. Every string field is a substring
// of the line given to the parser (or empty): the parser does not allocate
// copies, so a caller that reuses its line buffer must copy what it keeps.
type Event struct {
	Time    time.Time
	Host    string // the host name of the syslog envelope, empty for Exim's own mainlog
	Program string // "postfix/submission/smtpd", "exim"
	Service string // the last part of Program: "smtpd", "smtp", "qmgr"; "exim" for Exim
	PID     int
	MTA     MTA
	Kind    Kind
	QueueID string // Postfix queue ID, "NOQUEUE", or Exim message ID

	// Delivery attempts (KindDelivery) and expiries.
	Recipient     string  // to=, or Exim's address
	OrigRecipient string  // orig_to=, or Exim's parent address in "a <b>"
	Relay         Relay   // relay=, or Exim's H=
	Delay         float64 // delay= in seconds; -1 when absent
	Delays        string  // delays=a/b/c/d, kept as written
	DSN           string  // Postfix dsn= as written; the parsed code is in Reply.Enhanced
	ConnUse       int     // conn_use=
	Status        string  // the status word as written: sent, deferred, bounced, expired, ...
	Outcome       Outcome // what the attempt amounted to
	Reply         Reply   // the reply or explanation in parentheses
	NextQueueID   string  // the queue ID that a hop, forward or bounce created
	Router        string  // Exim R=
	Transport     string  // Exim T=
	// LocalName is what an Exim delivery line named in place of an address:
	// a local user, a "|pipe" or a "/file" (a child of the address in
	// brackets, the Recipient).
	LocalName string
	Reason    Reason // why it failed, for Deferred, Bounced, Expired and Rejected

	// Arrivals (KindArrival), clients, message IDs.
	Sender    string // from= or Exim's sender; "" for the null sender <>
	Size      int64  // size= or S=; -1 when absent or not a number
	NRcpt     int    // nrcpt=
	MessageID string // message-id= or Exim's id=
	Client    Relay  // client= or Exim's H= on arrivals and rejects
	Protocol  string // Exim P=
	ParentID  string // Exim R= on an arrival: the message a bounce or autoreply is about
	// Repeat is how many lines more than one this line stands for, when
	// syslog folded identical lines into it ("message repeated 3 times:
	// [ ...]": 2); 0 otherwise.
	Repeat int
	// RequeuedFrom is Postfix pickup's orig_id=: the queue ID of the message
	// that postsuper -r requeued as this one.
	RequeuedFrom string
	// ReceivedFor is what Exim's log_selector +received_recipients puts at
	// the end of an arrival line: its recipients, separated by spaces.
	ReceivedFor string

	// Rejects (KindReject).
	RejectStage string // RCPT, DATA, END-OF-MESSAGE, CONNECT, ...
}

// Relay is a host as Postfix and Exim write it: "name[addr]:port",
// "[addr]", "none", "local", a socket path.
type Relay struct {
	Raw  string // as written
	Name string // "mx.example.com", "none", "local", "private/dovecot-lmtp"
	Addr string // IPv4 or IPv6 address or socket path inside the brackets
	Port int    // 0 when absent
}

// Reply is what a remote server or a local delivery agent said.
type Reply struct {
	Raw        string         // the whole explanation as written (inside the parentheses)
	Code       int            // basic reply code (RFC 5321), 0 when none
	Enhanced   EnhancedStatus // RFC 3463 enhanced status code, zero when none
	RemoteHost string         // "mx.example.com" of "host mx.example.com[ip] said:"
	RemoteAddr string         // the address in brackets
	Stage      string         // the SMTP stage: "RCPT TO", "MAIL FROM", "end of DATA", "DATA", "CONNECT", ...
	Text       string         // the reply text without code, enhanced code or stage
	RemoteID   string         // the identifier the receiving server gave in a 2xx reply
	RemoteName string         // the receiving server's own name, where its 2xx reply gives one ("Hostname=...")
}

// EnhancedStatus is an RFC 3463 status code class.subject.detail. The zero
// value means absent.
type EnhancedStatus struct {
	Class   uint8  // 2, 4 or 5
	Subject uint16 // 0-999 per RFC 3463 (in practice 0-7)
	Detail  uint16 // 0-999
}

// IsZero reports whether no enhanced code was found.
func (e EnhancedStatus) IsZero() bool { return e.Class == 0 }

func (e EnhancedStatus) String() string {
	if e.Class == 0 {
		return ""
	}
	var b [12]byte
	n := 0
	n += putUint(b[n:], uint64(e.Class))
	b[n] = '.'
	n++
	n += putUint(b[n:], uint64(e.Subject))
	b[n] = '.'
	n++
	n += putUint(b[n:], uint64(e.Detail))
	return string(b[:n])
}

func putUint(b []byte, v uint64) int {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return copy(b, tmp[i:])
}
