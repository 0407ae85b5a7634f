package main

// Reply templates. Markers inside the text are replaced when a line is
// written:
//
//	\x01 recipient address    \x02 random token       \x03 unix time
//	\x04 remote IP            \x05 our public IP      \x06 recipient domain
//	\x07 remote queue ID      \x08 message-id         \x09 six digits
//	\x0b sender address       \x0e remote host name   \x1f line break of a
//	multi-line reply (Postfix joins with a space, Exim with a literal \n)
type stage uint8

const (
	stOK    stage = iota // a 2xx reply
	stRCPT               // in reply to RCPT TO
	stDATA               // in reply to end of DATA
	stMAIL               // in reply to MAIL FROM
	stGreet              // refused to talk to me / after initial connection
	stLocal              // the MTA's own text: connection and DNS failures
)

type reply struct {
	text      string
	dsn       string
	stage     stage
	relayNone bool   // Postfix writes relay=none (no connection was made)
	exim      string // for stLocal: Exim's "defer (errno): text" or bounce text
}

type replySet struct {
	ok        []reply
	unknown   []reply // per recipient, permanent
	quotaTemp []reply // per recipient, temporary
	quotaPerm []reply // per recipient, permanent
	spam      []reply // whole transaction, permanent
	transient []reply // whole transaction, temporary
}

var (
	rConnTimeout = reply{text: "connect to \x0e[\x04]:25: Connection timed out", dsn: "4.4.1", stage: stLocal, relayNone: true,
		exim: "defer (110): Connection timed out"}
	rConnRefused = reply{text: "connect to \x0e[\x04]:25: Connection refused", dsn: "4.4.1", stage: stLocal, relayNone: true,
		exim: "defer (111): Connection refused"}
	rLostGreeting = reply{text: "lost connection with \x0e[\x04] while receiving the initial server greeting", dsn: "4.4.2", stage: stLocal,
		exim: "defer (-18): Remote host closed connection in response to initial connection"}
	rConvTimeout = reply{text: "conversation with \x0e[\x04] timed out while sending end of data -- message may be sent more than once", dsn: "4.4.2", stage: stLocal,
		exim: "defer (-46): SMTP timeout after end of data"}
	rDNSTemp = reply{text: "Host or domain name not found. Name service error for name=\x06 type=MX: Host not found, try again", dsn: "4.4.3", stage: stLocal, relayNone: true,
		exim: "defer (-1): host lookup did not complete"}
	rDNSPerm = reply{text: "Host or domain name not found. Name service error for name=\x06 type=A: Host not found", dsn: "5.4.4", stage: stLocal, relayNone: true,
		exim: "Unrouteable address"}
	rGreylist  = reply{text: "450 4.2.0 <\x01>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/\x06.html", dsn: "4.2.0", stage: stRCPT}
	rGreylist2 = reply{text: "451 4.7.1 Please try again later", dsn: "4.7.1", stage: stRCPT}
	rGreylist3 = reply{text: "451 Temporary local problem - please try later", dsn: "4.0.0", stage: stRCPT}
)

var replySets = map[provider]*replySet{
	provGmail: {
		ok: []reply{{text: "250 2.0.0 OK  \x03 \x02si\x09.\x09 - gsmtp", dsn: "2.0.0"}},
		unknown: []reply{
			{text: "550-5.1.1 The email account that you tried to reach does not exist. Please try\x1f550-5.1.1 double-checking the recipient's email address for typos or\x1f550-5.1.1 unnecessary spaces. For more information, go to\x1f550 5.1.1  https://support.google.com/mail/?p=NoSuchUser \x02si\x09.\x09 - gsmtp", dsn: "5.1.1", stage: stRCPT},
			{text: "550-5.2.1 The email account that you tried to reach is inactive. For more\x1f550-5.2.1 information, go to\x1f550 5.2.1  https://support.google.com/mail/?p=DisabledUser \x02si\x09.\x09 - gsmtp", dsn: "5.2.1", stage: stRCPT},
		},
		quotaTemp: []reply{{text: "452-4.2.2 The recipient's inbox is out of storage space. Please direct the\x1f452-4.2.2 recipient to\x1f452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp \x02si\x09.\x09 - gsmtp", dsn: "4.2.2", stage: stRCPT}},
		quotaPerm: []reply{{text: "552-5.2.2 The recipient's inbox is out of storage space and inactive. Please\x1f552-5.2.2 direct the recipient to\x1f552 5.2.2  https://support.google.com/mail/?p=OverQuotaPerm \x02si\x09.\x09 - gsmtp", dsn: "5.2.2", stage: stRCPT}},
		spam: []reply{
			{text: "550-5.7.1 [\x05      12] Our system has detected that this message is\x1f550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\x1f550-5.7.1 this message has been blocked. For more information, go to\x1f550-5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError\x1f550 5.7.1  \x02si\x09.\x09 - gsmtp", dsn: "5.7.1", stage: stDATA},
			{text: "550-5.7.26 This mail has been blocked because the sender is unauthenticated.\x1f550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.\x1f550-5.7.26\x1f550-5.7.26  Authentication results:\x1f550-5.7.26  DKIM = did not pass\x1f550-5.7.26  SPF [\x06] with ip: [\x05] = did not pass\x1f550 5.7.26  https://support.google.com/mail/answer/81126#authentication \x02si\x09.\x09 - gsmtp", dsn: "5.7.26", stage: stDATA},
		},
		transient: []reply{
			{text: "421-4.7.28 [\x05      15] Our system has detected an unusual rate of\x1f421-4.7.28 unsolicited mail originating from your IP address. To protect our\x1f421-4.7.28 users from spam, mail sent from your IP address has been temporarily\x1f421-4.7.28 rate limited. For more information, go to\x1f421 4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError \x02si\x09.\x09 - gsmtp", dsn: "4.7.28", stage: stDATA},
			{text: "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\x1f450-4.2.1 prevents additional messages from being delivered. Please resend your\x1f450-4.2.1 message at a later time. If the user is able to receive mail at that\x1f450-4.2.1 time, your message will be delivered. For more information, go to\x1f450 4.2.1  https://support.google.com/mail/?p=ReceivingRate \x02si\x09.\x09 - gsmtp", dsn: "4.2.1", stage: stRCPT},
		},
	},
	provMicrosoft: {
		ok: []reply{{text: "250 2.6.0 <\x08> [InternalId=\x09\x09, Hostname=AM9PR04MB\x09.eurprd04.prod.outlook.com] \x09 bytes in 0.\x09, 42.318 KB/sec Queued mail for delivery", dsn: "2.6.0"}},
		unknown: []reply{
			{text: "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [AM4PEPF00027A5F.eurprd04.prod.outlook.com 2026-11-01T00:00:00.000Z 08DD\x02]", dsn: "5.5.0", stage: stRCPT},
			{text: "550 5.4.1 Recipient address rejected: Access denied. For more information see https://aka.ms/EXOSmtpErrors [DB1PEPF000509F\x09.eurprd02.prod.outlook.com 2026-11-01T00:00:00.000Z 08DD\x02]", dsn: "5.4.1", stage: stRCPT},
		},
		quotaTemp: []reply{{text: "452 4.2.2 The recipient's mailbox is full and can't accept messages now. Please try resending this message later, or contact the recipient directly.", dsn: "4.2.2", stage: stRCPT}},
		quotaPerm: []reply{{text: "552 5.2.2 STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot open mailbox. [EndDiagnosticData]", dsn: "5.2.2", stage: stDATA}},
		spam: []reply{
			{text: "550 5.7.1 Unfortunately, messages from [\x05] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [AM4PEPF00027A6C.eurprd04.prod.outlook.com 2026-11-01T00:00:00.000Z 08DD\x02]", dsn: "5.7.1", stage: stMAIL},
			{text: "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7230) [DU2PEPF0001E9C5.eurprd03.prod.outlook.com 2026-11-01T00:00:00.000Z 08DD\x02]", dsn: "5.7.708", stage: stMAIL},
		},
		transient: []reply{
			{text: "451 4.7.500 Server busy. Please try again later from [\x05]. (S77714) [DB5PEPF00014B8F.eurprd02.prod.outlook.com 2026-11-01T00:00:00.000Z 08DD\x02]", dsn: "4.7.500", stage: stRCPT},
			{text: "421 4.7.0 Temporary server error. Please try again later. PRX4 [AM0PR02CA0\x09.eurprd02.prod.outlook.com 2026-11-01T00:00:00.000Z 08DD\x02]", dsn: "4.7.0", stage: stDATA},
		},
	},
	provYahoo: {
		ok: []reply{{text: "250 ok dirdel", dsn: "2.0.0"}, {text: "250 ok dirdel 0/0", dsn: "2.0.0"}},
		unknown: []reply{
			{text: "554 delivery error: dd This user doesn't have a \x06 account (\x01) [0] - mta\x09.mail.gq1.yahoo.com", dsn: "5.0.0", stage: stDATA},
			{text: "552 1 Requested mail action aborted, mailbox not found", dsn: "5.0.0", stage: stRCPT},
		},
		quotaTemp: []reply{{text: "452 4.2.2 Mailbox full", dsn: "4.2.2", stage: stRCPT}},
		quotaPerm: []reply{{text: "554 delivery error: dd Sorry your message to \x01 cannot be delivered. This mailbox is disabled (554.30). - mta\x09.mail.bf1.yahoo.com", dsn: "5.0.0", stage: stDATA}},
		spam:      []reply{{text: "554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes", dsn: "5.7.9", stage: stDATA}},
		transient: []reply{
			{text: "421 4.7.0 [TSS04] Messages from \x05 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", dsn: "4.7.0", stage: stGreet},
			{text: "451 Message temporarily deferred due to unresolvable RFC.5321 from domain; see https://postmaster.yahooinc.com/error-codes", dsn: "4.0.0", stage: stMAIL},
		},
	},
	provApple: {
		ok:        []reply{{text: "250 2.0.0 Ok: queued as \x07", dsn: "2.0.0"}},
		unknown:   []reply{{text: "550 5.1.1 <\x01>: user does not exist", dsn: "5.1.1", stage: stRCPT}},
		quotaTemp: []reply{{text: "452 4.2.2 <\x01>: user is over quota", dsn: "4.2.2", stage: stRCPT}},
		quotaPerm: []reply{{text: "552 5.2.2 <\x01>: user is over quota", dsn: "5.2.2", stage: stRCPT}},
		spam:      []reply{{text: "554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137", dsn: "5.7.1", stage: stDATA}},
		transient: []reply{{text: "450 4.7.1 [TS01] Messages from \x05 temporarily deferred due to unexpected volume or user complaints. Please visit https://support.apple.com/en-us/HT204137", dsn: "4.7.1", stage: stMAIL}},
	},
	provGMX: {
		ok:        []reply{{text: "250 Requested mail action okay, completed: id=1M\x02-1\x02", dsn: "2.0.0"}},
		unknown:   []reply{{text: "550 Requested action not taken: mailbox unavailable", dsn: "5.0.0", stage: stRCPT}},
		quotaTemp: []reply{{text: "452 Requested action not taken: insufficient system storage", dsn: "4.0.0", stage: stRCPT}},
		quotaPerm: []reply{{text: "552 Requested mail action aborted: exceeded storage allocation", dsn: "5.0.0", stage: stRCPT}},
		spam:      []reply{{text: "554-Transaction failed\x1f554-Reject due to policy restrictions.\x1f554 For explanation visit https://postmaster.gmx.net/en/case?c=hi&i=ip&v=\x05&r=1M\x02", dsn: "5.0.0", stage: stDATA}},
		transient: []reply{{text: "421-Service unavailable\x1f421-Reject due to policy restrictions.\x1f421 For explanation visit https://postmaster.gmx.net/en/case?c=r0701&i=ip&v=\x05&r=1M\x02", dsn: "4.0.0", stage: stGreet}},
	},
	provYandex: {
		ok:        []reply{{text: "250 2.0.0 Ok: queued on mail-nwsmtp-mxfront-production-main-\x09.vla.yp-c.yandex.net 1\x09-\x02", dsn: "2.0.0"}},
		unknown:   []reply{{text: "550 5.7.1 No such user!", dsn: "5.7.1", stage: stRCPT}},
		quotaTemp: []reply{{text: "452 4.2.2 Mailbox size limit exceeded", dsn: "4.2.2", stage: stRCPT}},
		quotaPerm: []reply{{text: "552 5.2.2 Mailbox size limit exceeded", dsn: "5.2.2", stage: stRCPT}},
		spam:      []reply{{text: "554 5.7.1 [2] Message rejected under suspicion of SPAM; https://ya.cc/1IrBc 1\x09-\x02", dsn: "5.7.1", stage: stDATA}},
		transient: []reply{{text: "451 4.7.1 Sorry, the service is currently unavailable. Please come back later. 1\x09-\x02", dsn: "4.7.1", stage: stDATA}},
	},
	provPostfix: {
		ok: []reply{{text: "250 2.0.0 Ok: queued as \x07", dsn: "2.0.0"}},
		unknown: []reply{
			{text: "550 5.1.1 <\x01>: Recipient address rejected: User unknown in virtual mailbox table", dsn: "5.1.1", stage: stRCPT},
			{text: "550 5.1.1 <\x01>: Recipient address rejected: User unknown in local recipient table", dsn: "5.1.1", stage: stRCPT},
			{text: "554 5.7.1 <\x01>: Relay access denied", dsn: "5.7.1", stage: stRCPT},
		},
		quotaTemp: []reply{{text: "452 4.2.2 <\x01>: Recipient address rejected: Mailbox full, try again later", dsn: "4.2.2", stage: stRCPT}},
		quotaPerm: []reply{{text: "552 5.2.2 <\x01>: Recipient address rejected: Mailbox full, quota exceeded", dsn: "5.2.2", stage: stRCPT}},
		spam: []reply{
			{text: "554 5.7.1 Service unavailable; Client host [\x05] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/\x05", dsn: "5.7.1", stage: stRCPT},
			{text: "554 5.7.1 Message rejected as spam by Content Filtering (score 12.4)", dsn: "5.7.1", stage: stDATA},
		},
		transient: []reply{
			{text: "451 4.3.0 Error: queue file write error", dsn: "4.3.0", stage: stDATA},
			{text: "421 4.3.2 Service shutting down, closing transmission channel", dsn: "4.3.2", stage: stGreet},
		},
	},
	provExim: {
		ok: []reply{{text: "250 OK id=\x0f", dsn: "2.0.0"}},
		unknown: []reply{
			{text: "550 Unrouteable address", dsn: "5.0.0", stage: stRCPT},
			{text: "550 5.1.1 <\x01>: Recipient address rejected: User unknown", dsn: "5.1.1", stage: stRCPT},
		},
		quotaTemp: []reply{{text: "452 4.2.2 Mailbox quota exceeded", dsn: "4.2.2", stage: stRCPT}},
		quotaPerm: []reply{{text: "550 Mailbox quota exceeded", dsn: "5.0.0", stage: stDATA}},
		spam:      []reply{{text: "550 Rejected: message looks like spam (score 15.2)", dsn: "5.0.0", stage: stDATA}},
		transient: []reply{{text: "451 Temporary local problem - please try later", dsn: "4.0.0", stage: stDATA}},
	},
	provQmail: {
		ok:        []reply{{text: "250 ok \x03 qp \x09", dsn: "2.0.0"}},
		unknown:   []reply{{text: "550 sorry, no mailbox here by that name. (#5.1.1)", dsn: "5.1.1", stage: stRCPT}},
		quotaTemp: []reply{{text: "452 mailbox full (#4.2.2)", dsn: "4.2.2", stage: stRCPT}},
		quotaPerm: []reply{{text: "552 sorry, that message size exceeds my databytes limit (#5.3.4)", dsn: "5.3.4", stage: stDATA}},
		spam:      []reply{{text: "553 sorry, your envelope sender has been denied (#5.7.1)", dsn: "5.7.1", stage: stMAIL}},
		transient: []reply{{text: "451 qq temporary problem (#4.3.0)", dsn: "4.3.0", stage: stDATA}},
	},
	provHosted: {
		ok:        []reply{{text: "250 2.0.0 <\x01> \x02\x02 Saved", dsn: "2.0.0"}},
		unknown:   []reply{{text: "550 5.1.1 <\x01> User doesn't exist: \x01", dsn: "5.1.1", stage: stRCPT}},
		quotaTemp: []reply{{text: "452 4.2.2 <\x01> Quota exceeded (mailbox for user is full)", dsn: "4.2.2", stage: stDATA}},
		quotaPerm: []reply{{text: "552 5.2.2 <\x01> Quota exceeded (mailbox for user is full)", dsn: "5.2.2", stage: stDATA}},
		spam:      []reply{{text: "554 5.7.1 <\x01> Message rejected by Sieve filter", dsn: "5.7.1", stage: stDATA}},
		transient: []reply{{text: "451 4.3.0 <\x01> Temporary internal error", dsn: "4.3.0", stage: stDATA}},
	},
}
