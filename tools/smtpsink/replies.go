package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Reply is one SMTP reply, possibly multi-line. Lines hold the text after
// "NNN-" / "NNN "; providers repeat the enhanced code on every line, so the
// lines carry it themselves where the style wants it.
type Reply struct {
	Code     int
	Enhanced string
	Lines    []string
	RemoteID string
}

func (r Reply) wire() string {
	var b strings.Builder
	for i, l := range r.Lines {
		sep := "-"
		if i == len(r.Lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", r.Code, sep, l)
	}
	return b.String()
}

func (r Reply) text() string { return strings.Join(r.Lines, "\n") }

func simple(code int, enh, text string) Reply {
	if enh != "" {
		text = enh + " " + text
	}
	return Reply{Code: code, Enhanced: enh, Lines: []string{text}}
}

// splitAction turns "grey2" into ("grey", 2) and "ok" into ("ok", 0).
func splitAction(localPart string) (string, int) {
	word := localPart
	if i := strings.IndexAny(word, "-+"); i >= 0 {
		word = word[:i]
	}
	// Only retry-counting actions take a count ("grey2": two 451s, then 250);
	// in "temp450" the digits are the reply code, part of the name.
	for _, counted := range []string{"grey", "dtemp"} {
		if rest, ok := strings.CutPrefix(word, counted); ok {
			n, _ := strconv.Atoi(rest)
			return counted, n
		}
	}
	return word, 0
}

// splitAddress returns the lowercased local part and domain.
func splitAddress(addr string) (string, string) {
	addr = strings.ToLower(strings.Trim(addr, "<> "))
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randString(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// catalogue holds the state some behaviours need across connections
// (greylisting answers differently on a retry).
type catalogue struct {
	mu        sync.Mutex
	greySeen  map[string]int // recipient -> temporary RCPT answers given
	dtempSeen map[string]int // recipient -> temporary end-of-data answers given
}

func newCatalogue() *catalogue {
	return &catalogue{greySeen: map[string]int{}, dtempSeen: map[string]int{}}
}

func flavourOf(domain string) Flavour {
	if d, ok := domainByName(domain); ok {
		return d.Flavour
	}
	return FlavourPostfix
}

// gsmtpTag imitates the per-transaction tag Gmail appends to every reply.
func gsmtpTag() string {
	return fmt.Sprintf("%s%dsi%d.%d", randString(2, "abcdefghijklmnopqrstuvwxyz"), rand.IntN(90)+10, rand.IntN(9000)+1000, rand.IntN(900)+100)
}

// rcptReply decides the answer to RCPT TO for one recipient.
func (c *catalogue) rcptReply(rcpt, from string, lmtp bool) (Reply, time.Duration) {
	local, domain := splitAddress(rcpt)
	action, n := splitAction(local)
	fl := flavourOf(domain)
	addr := "<" + local + "@" + domain + ">"
	switch action {
	case "lag":
		r, _ := c.rcptReply("ok"+strings.TrimPrefix(local, "lag")+"@"+domain, from, lmtp)
		return r, 3 * time.Second
	case "unknown":
		switch fl {
		case FlavourGmail:
			tag := gsmtpTag()
			return Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{
				"5.1.1 The email account that you tried to reach does not exist. Please try",
				"5.1.1 double-checking the recipient's email address for typos or",
				"5.1.1 unnecessary spaces. For more information, go to",
				"5.1.1  https://support.google.com/mail/?p=NoSuchUser " + tag + " - gsmtp",
			}}, 0
		case FlavourOutlook:
			return simple(550, "5.5.0", "Requested action not taken: mailbox unavailable (S2017062302). [AM4PEPF00027A6C.eurprd04.prod.outlook.com 2024-05-02T10:11:12.345Z 08DC6A0B1C2D3E4F]"), 0
		case FlavourExim:
			return Reply{Code: 550, Lines: []string{"Unrouteable address"}}, 0
		case FlavourQmail:
			return Reply{Code: 550, Lines: []string{"sorry, no mailbox here by that name. (#5.1.1)"}}, 0
		case FlavourDovecot:
			return simple(550, "5.1.1", addr+" User doesn't exist: "+local+"@"+domain), 0
		default:
			return simple(550, "5.1.1", addr+": Recipient address rejected: User unknown in virtual mailbox table"), 0
		}
	case "grey":
		if n == 0 {
			n = 1
		}
		c.mu.Lock()
		seen := c.greySeen[rcpt]
		if seen < n {
			c.greySeen[rcpt] = seen + 1
		}
		c.mu.Unlock()
		if seen < n {
			switch fl {
			case FlavourGmail:
				tag := gsmtpTag()
				return Reply{Code: 450, Enhanced: "4.2.1", Lines: []string{
					"4.2.1 The user you are trying to contact is receiving mail at a rate that",
					"4.2.1 prevents additional messages from being delivered. Please resend your",
					"4.2.1 message at a later time. If the user is able to receive mail at that",
					"4.2.1 time, your message will be delivered. For more information, go to",
					"4.2.1  https://support.google.com/mail/?p=ReceivingRate " + tag + " - gsmtp",
				}}, 0
			case FlavourQmail:
				return Reply{Code: 451, Lines: []string{"greylisted, please try again later"}}, 0
			case FlavourDovecot:
				return simple(451, "4.3.0", addr+" Temporary internal error"), 0
			default:
				return simple(451, "4.7.1", addr+": Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/"+domain+".html"), 0
			}
		}
	case "temp450":
		return simple(450, "4.2.0", addr+": Recipient address rejected: Mailbox temporarily unavailable"), 0
	case "temp452":
		switch fl {
		case FlavourGmail:
			tag := gsmtpTag()
			return Reply{Code: 452, Enhanced: "4.2.2", Lines: []string{
				"4.2.2 The recipient's inbox is out of storage space. Please direct the",
				"4.2.2 recipient to",
				"4.2.2  https://support.google.com/mail/?p=OverQuotaTemp " + tag + " - gsmtp",
			}}, 0
		case FlavourDovecot:
			// LMTP: quota is checked after DATA.
		default:
			return simple(452, "4.2.2", addr+": Recipient address rejected: Mailbox full, try again later"), 0
		}
	case "temp454":
		return simple(454, "4.7.1", addr+": Relay access denied"), 0
	case "temp455":
		return simple(455, "4.5.4", "Server unable to accommodate parameters, try again later"), 0
	case "full":
		if fl == FlavourDovecot {
			break // LMTP: quota is checked after DATA
		}
		return simple(552, "5.2.2", addr+": Recipient address rejected: Mailbox full, quota exceeded"), 0
	case "nodsn":
		if fl == FlavourYahoo {
			return Reply{Code: 554, Lines: []string{"delivery error: dd This user doesn't have a yahoo.com account (" + local + "@" + domain + ") [0] - mta1012.mail.gq1.yahoo.com"}}, 0
		}
		return Reply{Code: 550, Lines: []string{"Mailbox not found"}}, 0
	case "relay":
		return simple(554, "5.7.1", addr+": Relay access denied"), 0
	case "sender":
		return simple(553, "5.7.1", "<"+strings.Trim(from, "<>")+">: Sender address rejected: not owned by user "+local), 0
	case "blocked":
		return simple(550, "5.7.1", "Service unavailable, Client host [127.0.0.1] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/127.0.0.1 (AS3130). [BN8NAM12FT061.eop-nam12.prod.protection.outlook.com 2024-05-02T10:11:12.345Z 08DC6A0B8E5A3C2F]"), 0
	case "starttls":
		return simple(530, "5.7.0", "Must issue a STARTTLS command first"), 0
	case "policy":
		tag := gsmtpTag()
		return Reply{Code: 550, Enhanced: "5.7.26", Lines: []string{
			"5.7.26 This mail is unauthenticated, which poses a security risk to the",
			"5.7.26 sender and Gmail users, and has been blocked. The sender must",
			"5.7.26 authenticate with at least one of SPF or DKIM. For this message,",
			"5.7.26 DKIM checks did not pass and SPF check for [bounces.example] did not",
			"5.7.26 pass with ip: [127.0.0.1]. The sender should visit",
			"5.7.26  https://support.google.com/mail/answer/81126#authentication for",
			"5.7.26 instructions on setting up authentication. " + tag + " - gsmtp",
		}}, 0
	}
	// Everything else is accepted at RCPT; data-stage actions decide later.
	switch fl {
	case FlavourGmail:
		return simple(250, "2.1.5", "OK "+gsmtpTag()+" - gsmtp"), 0
	case FlavourOutlook:
		return simple(250, "2.1.5", "Recipient OK"), 0
	case FlavourExim:
		return Reply{Code: 250, Lines: []string{"Accepted"}}, 0
	case FlavourQmail, FlavourYahoo:
		return Reply{Code: 250, Lines: []string{"recipient <" + local + "@" + domain + "> ok"}}, 0
	case FlavourSendmail:
		return simple(250, "2.1.5", addr+"... Recipient ok"), 0
	case FlavourDovecot:
		return simple(250, "2.1.5", "OK"), 0
	default:
		return simple(250, "2.1.5", "Ok"), 0
	}
}

// acceptReply is the 250 after the final dot, with a remote id in the style
// of the flavour.
func acceptReply(fl Flavour, msgID string, size int) Reply {
	var r Reply
	switch fl {
	case FlavourPostfixShort:
		id := randString(10, "0123456789ABCDEF")
		r = simple(250, "2.0.0", "Ok: queued as "+id)
		r.RemoteID = id
	case FlavourExim:
		id := fmt.Sprintf("1%s-%s-%s", randString(5, idAlphabet), randString(6, idAlphabet), randString(2, idAlphabet))
		r = Reply{Code: 250, Lines: []string{"OK id=" + id}, RemoteID: id}
	case FlavourGmail:
		id := gsmtpTag()
		r = simple(250, "2.0.0", fmt.Sprintf("OK  %d %s - gsmtp", time.Now().Unix(), id))
		r.RemoteID = id
	case FlavourOutlook:
		id := strconv.Itoa(rand.IntN(900000000) + 100000000)
		if msgID == "" {
			msgID = "<" + randString(12, idAlphabet) + "@mailbounce.test>"
		}
		r = simple(250, "2.6.0", fmt.Sprintf("%s [InternalId=%s, Hostname=AM0PR04MB6433.eurprd04.prod.outlook.com] %d bytes in 0.%03d, %d.%03d KB/sec Queued mail for delivery", msgID, id, size, rand.IntN(1000), rand.IntN(200), rand.IntN(1000)))
		r.RemoteID = id
	case FlavourYahoo:
		r = Reply{Code: 250, Lines: []string{"ok dirdel"}}
	case FlavourQmail:
		id := fmt.Sprintf("%d qp %d", time.Now().Unix(), rand.IntN(60000)+1000)
		r = Reply{Code: 250, Lines: []string{"ok " + id}, RemoteID: id}
	case FlavourSendmail:
		id := "4AS" + randString(11, idAlphabet)
		r = simple(250, "2.0.0", id+" Message accepted for delivery")
		r.RemoteID = id
	default:
		id := randString(4, "0123456789BCDFGHJKLMNPQRSTVWXYZ") + randString(11, "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz")
		r = simple(250, "2.0.0", "Ok: queued as "+id)
		r.RemoteID = id
	}
	return r
}

// dataReply decides the single end-of-data answer for an SMTP transaction:
// the most severe data-stage action among its accepted recipients wins, so one
// bad recipient can bounce its neighbours (as content filters do).
func (c *catalogue) dataReply(rcpts []string, msgID string, size int) Reply {
	var spam, big string
	var dtemp []string
	for _, r := range rcpts {
		local, _ := splitAddress(r)
		switch action, _ := splitAction(local); action {
		case "spam":
			if spam == "" {
				spam = r
			}
		case "big":
			big = r
		case "dtemp":
			dtemp = append(dtemp, r)
		}
	}
	if spam != "" {
		_, domain := splitAddress(spam)
		if flavourOf(domain) == FlavourGmail {
			tag := gsmtpTag()
			return Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{
				"5.7.1 [127.0.0.1      12] Our system has detected that this message is",
				"5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,",
				"5.7.1 this message has been blocked. For more information, go to",
				"5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError",
				"5.7.1  " + tag + " - gsmtp",
			}}
		}
		return simple(554, "5.7.1", "Message rejected as spam by Content Filtering (score 12.4)")
	}
	if big != "" {
		return simple(552, "5.3.4", "Error: message file too big")
	}
	if len(dtemp) > 0 {
		c.mu.Lock()
		again := false
		for _, r := range dtemp {
			local, _ := splitAddress(r)
			_, n := splitAction(local)
			if n == 0 {
				n = 1
			}
			if c.dtempSeen[r] < n {
				again = true
			}
		}
		if again {
			for _, r := range dtemp {
				c.dtempSeen[r]++
			}
		}
		c.mu.Unlock()
		if again {
			return simple(451, "4.3.0", "Error: queue file write error")
		}
	}
	_, domain := splitAddress(rcpts[0])
	return acceptReply(flavourOf(domain), msgID, size)
}

// lmtpReply is the per-recipient answer after the final dot in LMTP.
func (c *catalogue) lmtpReply(rcpt string) Reply {
	local, domain := splitAddress(rcpt)
	addr := "<" + local + "@" + domain + ">"
	switch action, _ := splitAction(local); action {
	case "full":
		return simple(552, "5.2.2", addr+" Quota exceeded (mailbox for user is full)")
	case "temp452":
		return simple(452, "4.2.2", addr+" Quota exceeded (mailbox for user is full)")
	}
	id := randString(22, idAlphabet)
	r := simple(250, "2.0.0", addr+" "+id+" Saved")
	r.RemoteID = id
	return r
}

// greet421 is Yahoo's volume deferral, sent as the greeting.
var greet421 = simple(421, "4.7.0", "[TSS04] Messages from 127.0.0.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes")
