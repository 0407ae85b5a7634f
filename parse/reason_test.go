package parse

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Origins of the texts below:
//
//	lm   lightmeter ControlCenter test_files/postfix_logs (corpus/lightmeter)
//	gp   whyscream/postfix-grok-patterns test data (corpus/whyscream_postfix_grok_patterns)
//	ke   kumina/postfix_exporter test data (corpus/kumina_postfix_exporter)
//	f2b  fail2ban tests/files/logs (corpus/fail2ban)
//	cs   crowdsec hub test logs (corpus/crowdsec_hub)
//	ex   Exim test suite test_log (corpus/exim_testsuite_*)
//	dd   ddgrey mainlog (corpus/ddgrey)
//	gm   Gmail "SMTP errors and codes" (support.google.com/a/answer/3726730)
//	ms   Microsoft 365 / Exchange Online NDRs (learn.microsoft.com; pastebin NDRs)
//	yh   Yahoo sender error codes (senders.yahooinc.com, help.yahoo.com SLN3444)
//	ss   Sisimai's documented examples (lib/sisimai/reason/*.rb)
//	pf   Postfix's own explanations (smtp(8), qmgr(8) sources and manuals)
var classifyCases = []struct {
	code int
	enh  string
	text string
	want Reason
}{
	// Gmail's and Yahoo's throttling names the SPF or DKIM domain.
	{421, "4.7.28", "host gmail-smtp-in.l.google.com[142.250.1.27] said: 421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your SPF domain [example.net 12]. To protect our users from spam, mail sent from your domain has been temporarily rate limited. 421 4.7.28 For more information, go to https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp (in reply to end of DATA command)", ReasonRateLimited},
	{421, "4.7.28", "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your DKIM domain [example.net 12]. To protect our users from spam, mail sent from your domain has been temporarily rate limited.", ReasonRateLimited},
	// User unknown.
	{550, "5.1.1", "host mx.example.com[11.22.33.44] said: 550 5.1.1 <invalid.email@example.com> User unknown (in reply to RCPT TO command)", ReasonUserUnknown},                                                                                                                                                                                                                                         // gp
	{550, "5.1.1", "host aspmx.l.google.com[74.125.143.26] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. Learn more at 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser od20si504618ejb.621 - gsmtp (in reply to RCPT TO command)", ReasonUserUnknown}, // lm
	{0, "", "unknown user: \"ghdsgfhdslfh\"", ReasonUserUnknown},                                                                                                                                            // gp, postfix/local
	{0, "", "user unknown", ReasonUserUnknown},                                                                                                                                                              // gp
	{0, "", "User unknown in virtual alias table", ReasonUserUnknown},                                                                                                                                       // gp, verify probe
	{550, "5.1.1", "<sales@server.com>: Recipient address rejected: User unknown in local recipient table", ReasonUserUnknown},                                                                              // f2b
	{550, "5.1.1", "<toernooicommissie@example.com>: Recipient address rejected: User unknown in virtual mailbox table", ReasonUserUnknown},                                                                 // gp
	{550, "5.1.1", "<user1@example.com>: Recipient address rejected: undeliverable address: verification failed", ReasonUserUnknown},                                                                        // gp
	{550, "", "SMTP error from remote mail server after RCPT TO:<a@test.ex>: 550 Recipient not OK", ReasonUserUnknown},                                                                                      // ex
	{550, "", "SMTP error from remote mail server after end of data: 550 Message was not accepted -- invalid mailbox.  Local mailbox dave@foo.corp is unavailable: dave's not here man", ReasonUserUnknown}, // ex
	{554, "", "SMTP error from remote mail server after end of data: host mta5.am0.yahoodns.net [67.195.204.72]: 554 delivery error: dd This user doesn't have a yahoo.com account (ronnienorcross@yahoo.com) [-9] - mta4420.mail.bf1.yahoo.com", ReasonUserUnknown}, // dd
	{552, "", "552 1 Requested mail action aborted, mailbox not found", ReasonUserUnknown},                                                                                                  // yh
	{550, "5.4.1", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT029.eop-EUR03.prod.protection.outlook.com]", ReasonUserUnknown},                           // ms
	{550, "5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", ReasonUserUnknown},                                                             // ms
	{0, "", "rejected RCPT <sales@toto.com.au>: No Such User Here", ReasonUserUnknown},                                                                                                      // f2b exim
	{550, "", "SMTP error from remote mail server after RCPT TO:<userx@myhost.test.ex>: 550 Receiver BAD", ReasonUserUnknown},                                                               // ex
	{550, "5.1.1", "<kijitora@example.co.jp>: host mx01.example.co.jp[192.0.2.8] said: 550 5.1.1 Address rejected kijitora@example.co.jp (in reply to RCPT TO command)", ReasonUserUnknown}, // ss
	{550, "", "SMTP error from remote mail server after RCPT TO:<x@y>: 550 NOTOK", ReasonUserUnknown},                                                                                       // ex: bare 550 after RCPT

	// Mailbox disabled, moved.
	{550, "5.2.1", "550-5.2.1 The email account that you tried to reach is disabled. Learn more at 550 5.2.1 https://support.google.com/mail/?p=DisabledUser - gsmtp", ReasonMailboxDisabled}, // gm
	{554, "", "554 30 Sorry, your message to x@yahoo.com cannot be delivered. This mailbox is disabled (554.30)", ReasonMailboxDisabled},                                                      // yh
	{550, "5.7.13", "550 5.7.13 User account disabled", ReasonMailboxDisabled},                                                                                                                // IANA title
	{551, "", "551 User not local; please try <x@example.org>", ReasonHasMoved},                                                                                                               // RFC 5321
	{550, "5.1.6", "550 5.1.6 Recipient addresses rejected : user has moved", ReasonHasMoved},                                                                                                 // ss

	// Mailbox full.
	{452, "4.1.1", "host ALT2.ASPMX.L.GOOGLE.com[3.155.237.60] said: 452 4.1.1 <h-664d01@h-695da2287.com> user is over quota, please try again later (in reply to RCPT TO command)", ReasonMailboxFull},       // lm
	{452, "4.2.2", "452-4.2.2 The email account that you tried to reach is over quota. Please direct 452 4.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp", ReasonMailboxFull}, // gm
	{0, "", "mailbox is full (MTA-imposed quota exceeded while writing to TESTSUITE/test-mail/c)", ReasonMailboxFull},                                                                                         // ex
	{554, "5.2.0", "SMTP error from remote mail server after end of data: 554 5.2.0 mKr3jsd25ZIfXmKr4jFD2w Recipient Mailbox Full [504]", ReasonMailboxFull},                                                  // ex
	{451, "", "SMTP error from remote mail server after RCPT TO:<rrrr@remote.defer>: 451 Over-quota", ReasonMailboxFull},                                                                                      // ex
	{552, "", "552 Requested mail action aborted: exceeded storage allocation", ReasonMailboxFull},                                                                                                            // RFC 5321 text
	{0, "", "", ReasonNone},

	// Message too big.
	{552, "5.3.4", "host mx.example.net[192.0.2.7] said: 552 5.3.4 Error: message file too big (in reply to end of DATA command)", ReasonMessageTooBig},                                 // ss
	{552, "5.2.3", "552-5.2.3 Your message exceeded Google's message size limits. Please visit 552 5.2.3 https://support.google.com/mail/?p=MaxSizeError - gsmtp", ReasonMessageTooBig}, // gm
	{552, "", "host mx.example.net[192.0.2.7] said: 552 Requested mail action aborted (in reply to end of DATA command)", ReasonMessageTooBig},                                          // pf: 552 after data

	// Host unknown, null MX.
	{0, "", "Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found", ReasonHostUnknown}, // pf
	{550, "", "Unrouteable address", ReasonUserUnknown},                                                                      // from a remote server
	{0, "", "Unrouteable address", ReasonHostUnknown},                                                                        // ex
	{0, "", "all relevant MX records point to non-existent hosts", ReasonHostUnknown},                                        // ex
	{550, "5.4.310", "550 5.4.310 DNS domain example.com does not exist [Message=InfoDomainNonexistent]", ReasonHostUnknown}, // ms
	{0, "", "Domain example.com does not accept mail (nullMX)", ReasonNotAccept},                                             // gp
	{556, "5.1.10", "556 5.1.10 Recipient address has null MX", ReasonNotAccept},                                             // RFC 7505
	{521, "", "521 mail.example.org does not accept mail", ReasonNotAccept},                                                  // RFC 7504

	// Network.
	{0, "", "connect to intern.nl[194.109.6.98]:25: Connection timed out", ReasonNetworkError},                                                           // ke
	{0, "", "connect to aspmx.l.google.com[2a00:1450:400b:c02::1a]:25: Network is unreachable", ReasonNetworkError},                                      // ke
	{0, "", "connect to mail2.crabruzzo.it[2.115.207.21]:25: No route to host", ReasonNetworkError},                                                      // ke
	{0, "", "delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO", ReasonNetworkError},       // gp
	{0, "", "lost connection with hotmail-com.olc.protection.outlook.com[104.47.55.161] while sending RCPT TO", ReasonNetworkError},                      // ke
	{0, "", "conversation with mx.example.com[192.0.2.1] timed out while sending end of data -- message may be sent more than once", ReasonNetworkError}, // pf
	{0, "", "Host or domain name not found. Name service error for name=example.com type=MX: Host not found, try again", ReasonNetworkError},             // pf
	{0, "", "Connection refused", ReasonNetworkError},                                                                                                    // ex
	{0, "", "Network Error", ReasonNetworkError},                                                                                                         // ex
	{0, "", "Connection timed out: SMTP timeout after RCPT TO:<f@test.ex>", ReasonNetworkError},                                                          // ex
	{0, "", "Remote host closed connection in response to pipelined RCPT TO:<c@test.ex>", ReasonNetworkError},                                            // ex
	{0, "", "host lookup did not complete", ReasonNetworkError},                                                                                          // ex

	// TLS.
	{0, "", "TLS is required, but was not offered by host mx.example.com[192.0.2.1]", ReasonTLSFailure},     // pf
	{0, "", "Cannot start TLS: handshake failure", ReasonTLSFailure},                                        // pf
	{0, "", "TLS session: (certificate verification failed): certificate invalid", ReasonTLSFailure},        // ex
	{0, "", "DANE error: tlsa lookup FAIL", ReasonTLSFailure},                                               // ex
	{421, "4.7.0", "421-4.7.0 TLS required for RCPT domain, closing connection. - gsmtp", ReasonTLSFailure}, // gm
	{530, "5.7.0", "530 5.7.0 Must issue a STARTTLS command first. - gsmtp", ReasonTLSFailure},              // gm

	// Loops, expiry, suppression.
	{0, "", "mail for example.com loops back to myself", ReasonMailLoop},                                                                                   // pf
	{0, "", "mail forwarding loop for tom@example.com", ReasonMailLoop},                                                                                    // gp
	{554, "5.4.14", "554 5.4.14 Hop count exceeded - possible mail loop ATTR34", ReasonMailLoop},                                                           // ms
	{0, "", "retry timeout exceeded", ReasonExpired},                                                                                                       // ex
	{0, "", "all hosts for 'example.com' have been failing for a long time (and retry time not reached)", ReasonExpired},                                   // ex
	{550, "5.4.300", "550 5.4.300 Message expired", ReasonExpired},                                                                                         // ms
	{550, "", "550 Amazon SES has suppressed sending to this address because it has a recent history of bouncing as an invalid address", ReasonSuppressed}, // Amazon SES docs
	{605, "", "Not delivering to previously bounced address", ReasonSuppressed},                                                                            // Mailgun

	// Blocklists, reputation, reverse DNS.
	{550, "5.7.1", "host hotmail-com.olc.protection.outlook.com[104.47.10.33] said: 550 5.7.1 Unfortunately, messages from [142.93.169.220] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [DB5EUR03FT029.eop-EUR03.prod.protection.outlook.com] (in reply to MAIL FROM command)", ReasonBlocked}, // lm
	{550, "5.7.1", "550 5.7.1 Service unavailable, Client host [192.0.2.3] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.3 AS(1450)", ReasonBlocked},                                                                                                                                                                                                                                                      // ms
	{550, "5.7.1", "550 5.7.1 Service unavailable; client [27.157.200.233] blocked using zen.spamhaus.org", ReasonBlocked},                                                                                                                                                                       // cs
	{454, "4.7.1", "Service unavailable; Client host [93.184.216.34] blocked using rbl.example.com; http://www.example.com/query?ip=93.184.216.34", ReasonBlocked},                                                                                                                               // f2b
	{554, "5.7.1", "554 5.7.1 Service unavailable; Helo command [news.zihan-promo.com] blocked using dbl.spamhaus.org; http://www.spamhaus.org/query/dbl?domain=zihan-promo.com", ReasonBlocked},                                                                                                 // f2b
	{550, "5.7.606", "550 5.7.606 Access denied, banned sending IP [185.234.72.45]. To request removal from this list please visit https://sender.office.com/ and follow the directions. AS(1430)", ReasonBlocked},                                                                               // ms (pastebin NDR)
	{550, "5.7.705", "550 5.7.705 Access denied, tenant has exceeded threshold. For more information please go to http://go.microsoft.com/fwlink/?LinkId=524931 AS831", ReasonBlocked},                                                                                                           // ms (pastebin NDR)
	{0, "", "rejected RCPT <toto@toto.com>: \"JunkMail rejected - test.com [1.2.3.4]:53343 is in an RBL: https://www.spamhaus.org/sbl/query/SBLCSS\"", ReasonBlocked},                                                                                                                            // f2b exim
	{550, "", "550 <jukefly.com[66.63.169.222]>: Client host rejected: Access Denied", ReasonBlocked},                                                                                                                                                                                            // pastebin Postfix DSN
	{504, "5.5.2", "<WIN-9QL4SDRB93L>: Helo command rejected: need fully-qualified hostname", ReasonBlocked},                                                                                                                                                                                     // f2b
	{550, "5.7.1", "550-5.7.1 [192.0.2.22] Our system has detected that this message is likely suspicious due to the very low reputation of the sending IP address. To best protect our users from spam, the message has been blocked.", ReasonBadReputation},                                    // ss, gm
	{451, "4.7.650", "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.", ReasonBadReputation},                                                                                                                                                     // ms
	{550, "5.7.25", "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.246]", ReasonReverseDNS},                                                                                                                                                                               // f2b
	{450, "4.7.1", "Client host rejected: cannot find your reverse hostname, [2.3.4.5]", ReasonReverseDNS},                                                                                                                                                                                       // f2b
	{550, "5.7.25", "550-5.7.25 The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP. - gsmtp", ReasonReverseDNS},                                                                                       // gm
	{550, "5.7.1", "SMTP error from remote mail server after MAIL FROM:<noreply@pilgrimbrevet.se>: host ff-ip4-mx-vip2.prodigy.net [144.160.159.22]: 550 5.7.1 Connections not accepted from servers without a valid sender domain.flph831 Fix reverse DNS for 95.142.170.63", ReasonReverseDNS}, // dd

	// Spam, virus, policy, content.
	{550, "5.7.1", "host gmail-smtp-in.l.google.com[2607:f8b0:400e:c04::1b] said: 550-5.7.1 [2607:4100:3:25:100::2      12] Our system has detected that this 550-5.7.1 message is likely unsolicited mail. To reduce the amount of spam sent 550-5.7.1 to Gmail, this message has been blocked. Please visit 550-5.7.1 http://support.google.com/mail/bin/answer.py?hl=en&answer=188131 for 550 5.7.1 more information. qc12si8475009pab.211 - gsmtp (in reply to end of DATA command)", ReasonSpamDetected}, // gp
	{554, "", "host mail.domain.com[1.1.1.1] said: 554 DT:SPM 163 mx9,O8CowEDJVFKCokVaRhz+AA--.26016S3 1514513028,please see http://mail.domain.com/help/help_spam.htm?ip= (in reply to end of DATA command)", ReasonSpamDetected},                                                                                                                                                                                                                                                                            // gp
	{554, "5.7.0", "554 5.7.0 Reject, contact postmaster@example.com, id=31619-02 - spam", ReasonSpamDetected},                                                                                    // f2b amavis
	{0, "5.7.1", "5.7.1 Spam message rejected", ReasonSpamDetected},                                                                                                                               // lm milter-reject
	{0, "5.7.1", "5.7.1 Blocked by SpamAssassin", ReasonSpamDetected},                                                                                                                             // lm milter-reject
	{550, "5.7.501", "550 5.7.501 Access denied, spam abuse detected. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653", ReasonSpamDetected},                       // ms
	{550, "5.7.1", "550 5.7.1 [CSR] Our system has detected an unusual amount of unsolicited email originating from your address. Contact your service provider for support", ReasonSpamDetected}, // pastebin NDR
	{554, "5.7.1", "554 5.7.1 The message was rejected because it contains prohibited virus or spam content", ReasonSpamDetected},                                                                 // ms: "spam or virus" style text
	{550, "5.7.1", "550 5.7.1 Message rejected: virus found in message (Eicar-Test-Signature)", ReasonVirus},                                                                                      // typical clamav milter
	{552, "5.7.0", "552-5.7.0 This message was blocked because its content presents a potential 552-5.7.0 security issue. Please visit 552-5.7.0  https://support.google.com/mail/?p=BlockedMessage to review our 552 5.7.0 message content and attachment content guidelines. - gsmtp", ReasonPolicy}, // gm
	{550, "5.7.1", "550 5.7.1 This message violates example.com email policy. - gcdp <sessionid> - gsmtp", ReasonPolicy},                                                // gm
	{554, "5.7.1", "<foo@bad.domain>: Sender address rejected: match bad.domain", ReasonSenderRejected},                                                                 // f2b
	{540, "5.7.1", "SMTP error from remote mail server after RCPT TO:<rudy@test.corp>: 540 5.7.1 <rudy@test.corp>: recipient address rejected: Blocked", ReasonBlocked}, // ex
	{550, "5.7.1", "milter-reject: DATA: 550 5.7.1 Command rejected", ReasonPolicy},                                                                                     // lm
	{550, "5.7.1", "550 #5.7.1 Your access to submit messages to this e-mail system has been rejected.", ReasonPolicy},                                                  // pastebin Postfix DSN
	{554, "5.6.0", "554 5.6.0 Message contains invalid header", ReasonContentError},                                                                                     // ss
	{550, "5.7.1", "550-5.7.1 This message is not RFC 5322 compliant. There are multiple From headers. - gsmtp", ReasonContentError},                                    // gm
	{550, "", "SMTP error from remote mail server after pipelined DATA: 550 obscure data error", ReasonContentError},                                                    // ex

	// Rate limits and connections.
	{421, "4.7.0", "SMTP error from remote mail server after end of data: 421-4.7.0 [216.194.173.80 15] Our system has detected an unusual rate of\\n421-4.7.0 unsolicited mail originating from your IP address. To protect our\\n421-4.7.0 users from spam, mail sent from your IP address has been temporarily\\n421-4.7.0 rate limited. Please visit\\n421-4.7.0 https://support.google.com/mail/?p=UnsolicitedRateLimitError to\\n421 4.7.0 review our Bulk Email Senders Guidelines. p4si3522070uam.9 - gsmtp", ReasonRateLimited}, // pastebin Exim log, gm
	{421, "4.7.0", "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", ReasonRateLimited},                         // yh
	{450, "4.2.0", "host 127.0.0.1[127.0.0.1] said: 450 4.2.0 <temp450-p0044-1@mixed.example>: Recipient address rejected: Mailbox temporarily unavailable (in reply to RCPT TO command)", ReasonSystemError},                            // real Postfix 3.7, testdata/mta
	{450, "4.2.1", "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time.", ReasonRateLimited},                                                                         // gm
	{450, "4.2.1", "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.", ReasonRateLimited},                                                                // gm
	{451, "4.7.500", "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719) [Hostname=x.prod.outlook.com]", ReasonRateLimited},                                                                                      // ms
	{450, "4.7.1", "<>: Sender address rejected: You are sending too many emails, contact helpdesk", ReasonRateLimited},                                                                                                                  // f2b
	{451, "", "host mail.domain.com[1.1.1.1] said: 451 DT:SPM 163 mx40,WsCowAAnEhlCoEVa5GjcAA--.20089S3 1514512452, please try again 15min later (in reply to end of DATA command)", ReasonSpamDetected},                                 // gp
	{421, "", "421 Max message per connection reached, closing transmission channel", ReasonRateLimited},                                                                                                                                 // yh
	{452, "4.3.2", "host mx02.example.ne.jp[192.0.1.20] said: 452 4.3.2 Connection rate limit exceeded. (in reply to MAIL FROM command)", ReasonTooManyConnections},                                                                      // ss
	{421, "4.7.0", "421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later.", ReasonTooManyConnections},                                                                                             // ms
	{0, "", "CONNECT from [1.2.3.4]:1337: too many connections", ReasonTooManyConnections},                                                                                                                                               // f2b postscreen
	{0, "", "concurrency limit reached for transport", ReasonTooManyConnections},                                                                                                                                                         // ex
	{452, "4.5.3", "452-4.5.3 Your message has too many recipients. For more information regarding Google's sending limits, visit 452 4.5.3 https://support.google.com/mail/?p=TooManyRecipientsError - gsmtp", ReasonTooManyRecipients}, // gm
	{452, "4.5.3", "SMTP error from remote mail server after RCPT TO:<B@test.ex>: 452 4.5.3 Try again", ReasonTooManyRecipients},                                                                                                         // ex
	{421, "", "421 Service not available, closing transmission channel", ReasonRateLimited},                                                                                                                                              // yh; bare 421

	// Greylisting.
	{450, "4.2.0", "host open.example.nl[10.49.140.10] said: 450 4.2.0 <whatever-user@lists.example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/lists.example.org.html (in reply to RCPT TO command)", ReasonGreylisted},                                                                  // gp
	{451, "", "host mailin6.zih.recipient.relay.example.com[141.30.67.69] said: 451-You have been greylisted. This is part of our standard anti-spam measures 451-and your mail system should automatically try again later. We will accept 451 this mail from you in 42 seconds (in reply to RCPT TO command)", ReasonGreylisted}, // gp
	{450, "4.7.1", "ED59C3D: host mail2.example.com[1.74.253.23] said: 450 4.7.1 <user@example.com>: Recipient address rejected: Greylisted for 5 minutes (in reply to RCPT TO command)", ReasonGreylisted},                                                                                                                        // ke
	{451, "4.7.1", "451 4.7.1 Greylisting in action, please come back later", ReasonGreylisted}, // lm
	{451, "", "SMTP error from remote mail server after RCPT TO:<docs@inmotionhosting.com>: 451-216.194.173.80 is not yet authorized to deliver mail from\\n451 <chris@gocleanse.net> to <docs@inmotionhosting.com>. Please try later.", ReasonGreylisted}, // pastebin Exim log

	// Authentication.
	{550, "5.7.26", "550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users, and has been blocked. The sender must authenticate with at least one of SPF or DKIM.", ReasonAuthFailure}, // gm
	{550, "5.7.26", "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy. Please contact the administrator of example.com domain if this was a legitimate mail.", ReasonDMARCFailure},   // gm
	{550, "5.7.26", "", ReasonDMARCFailure},                                                                               // code only
	{550, "5.7.1", "550 5.7.1 Email rejected per DMARC policy for example.org", ReasonDMARCFailure},                       // ss
	{550, "5.7.23", "550 5.7.23 The message was rejected because of Sender Policy Framework violation", ReasonSPFFailure}, // ms
	{0, "", "rejected RCPT <admin@rosnix.net>: SPF check failed.", ReasonSPFFailure},                                      // f2b exim
	{550, "5.7.1", "550-5.7.1 [192.0.2.1] The IP you're using to send mail is not authorized to send email directly to our servers. Please use the SMTP relay at your service provider instead. Learn more at https://support.google.com/mail/?p=NotAuthorizedError - gsmtp", ReasonPolicy}, // gm
	{550, "5.7.20", "550 5.7.20 No passing DKIM signature found", ReasonDKIMFailure},                                                                                       // IANA title
	{550, "5.7.1", "550 5.7.1 Message failed DKIM verification", ReasonDKIMFailure},                                                                                        // typical
	{530, "5.7.57", "530 5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful", ReasonAuthRequired},                                // ms
	{535, "5.7.8", "SASL authentication failed; server xyz.example.com[1.2.3.4] said: 535 5.7.8 Error: authentication failed: authentication failure", ReasonAuthRequired}, // ke
	{0, "", "rejected RCPT <tutu@titi.com.au>: SMTP AUTH is required for message submission on port 587", ReasonAuthRequired},                                              // f2b exim

	// Relay, sender.
	{454, "4.7.1", "<spammer@domain.tld>: Relay access denied", ReasonRelayDenied},                                                                                                                      // f2b
	{554, "5.7.1", "<smtp@example.com>: Relay access denied", ReasonRelayDenied},                                                                                                                        // f2b
	{0, "", "rejected RCPT dir@ml3.ru: relay not permitted", ReasonRelayDenied},                                                                                                                         // f2b exim
	{553, "", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", ReasonRelayDenied},                                                                                               // ss, qmail
	{550, "5.7.64", "550 5.7.64 TenantAttribution; Relay Access Denied", ReasonRelayDenied},                                                                                                             // ms
	{450, "4.1.8", "host relay.example.com[192.0.2.1] said: 450 4.1.8 root@localhost.localdomain: Sender address rejected: Domain not found (in reply to RCPT TO command)", ReasonSenderRejected},       // ke
	{554, "5.7.1", "host svp-mail.svp.prod[10.69.200.1] said: 554 5.7.1 <barman@svp-pgbarman-01.svp.prod>: Sender address rejected: Access denied (in reply to RCPT TO command)", ReasonSenderRejected}, // pastebin Postfix log
	{0, "", "rejected RCPT <titi@alpacas.com.au>: Sender verify failed", ReasonSenderRejected},                                                                                                          // f2b exim
	{550, "", "SMTP error from remote mail server after pipelined MAIL FROM:<CALLER@myhost.test.ex>: 550 BAD MAIL", ReasonSenderRejected},                                                               // ex: bare 550 after MAIL

	// Syntax and protocol.
	{550, "5.5.1", "550 5.5.1 Protocol error", ReasonProtocolError},                                   // cs
	{550, "5.5.3", "<DATA>: Data command rejected: Multi-recipient bounce", ReasonProtocolError},      // f2b
	{451, "4.5.0", "451-4.5.0 SMTP protocol violation, see RFC 5321. - gsmtp", ReasonProtocolError},   // gm
	{503, "", "503 Bad sequence of commands", ReasonProtocolError},                                    // RFC 5321
	{501, "5.1.3", "501 5.1.3 Bad recipient address syntax", ReasonSyntaxError},                       // Postfix smtpd
	{0, "", "rejected RCPT <error!@dummy.corp>: restricted characters in address", ReasonSyntaxError}, // ex
	{500, "5.5.2", "500 5.5.2 Syntax error, command unrecognized", ReasonSyntaxError},                 // RFC 5321 text

	// System errors and full systems.
	{451, "4.3.2", "2690D8044: host mta7.am0.yahoodns.net[66.196.118.34] said: 451 4.3.2 Internal error reading data (in reply to MAIL FROM command)", ReasonSystemError},                                          // ke
	{451, "4.3.0", "451 4.3.0 Error: queue file write error", ReasonSystemError},                                                                                                                                   // pf
	{451, "", "451 Requested action aborted: local error in processing", ReasonSystemError},                                                                                                                        // RFC 5321 text
	{0, "", "Child process of ut2 transport returned 127 (could mean unable to exec or command does not exist) from command: /non/existent/file", ReasonSystemError},                                               // ex
	{0, "", "Permission denied H=ip4.ip4.ip4.ip4 [ip4.ip4.ip4.ip4]: smtp send to ip4.ip4.ip4.ip4 [ip4.ip4.ip4.ip4] failed: failed to expand dkim_timestamps: unknown variable in \"${bogus}\"", ReasonSystemError}, // ex
	{421, "4.3.0", "421-4.3.0 Temporary System Problem. Try again later. - gsmtp", ReasonSystemError},                                                                                                              // gm
	{451, "", "451 example.yahoo.com Resources temporarily unavailable. Please try again later [#4.16.1].", ReasonSystemError},                                                                                     // yh
	{452, "4.3.1", "452 4.3.1 Insufficient system storage", ReasonSystemFull},                                                                                                                                      // Postfix smtpd
	{452, "", "SMTP error from remote mail server after RCPT TO:<userx@x.y>: 452 temporary error", ReasonSystemFull},                                                                                               // ex: bare 452

	// Nothing recognisable.
	{550, "", "SMTP error from remote mail server after end of data: 550 naah mate", ReasonPolicy},                         // ex: bare 550 after data
	{450, "", "SMTP error from remote mail server after end of data: 450 oops, try again later please", ReasonSystemError}, // ex
	{0, "", "SMTP delivery explicitly queued", ReasonOther},                                                                // ex
	{250, "2.0.0", "250 2.0.0 Ok: queued as 4Xkp2N0KJjz9sR9", ReasonNone},                                                  // not a failure
}

func mustEnhanced(t testing.TB, s string) EnhancedStatus {
	t.Helper()
	if s == "" {
		return EnhancedStatus{}
	}
	e, n := ParseEnhanced(s)
	if n != len(s) {
		t.Fatalf("bad enhanced code %q in test table", s)
	}
	return e
}

func TestClassify(t *testing.T) {
	if len(classifyCases) < 80 {
		t.Fatalf("only %d cases", len(classifyCases))
	}
	// Twice: the second time from the cache.
	for range 2 {
		for _, c := range classifyCases {
			got := Classify(c.code, mustEnhanced(t, c.enh), c.text)
			if got != c.want {
				t.Errorf("Classify(%d, %q, %q)\n got %v, want %v", c.code, c.enh, c.text, got, c.want)
			}
		}
	}
}

// TestClassifyCache: the cache answers what classifying again would, for
// replies that normalise alike but differ in code, enhanced code or
// emptiness, and stays bounded.
func TestClassifyCache(t *testing.T) {
	for _, c := range []struct {
		code int
		enh  string
		text string
	}{
		{550, "5.1.1", "user unknown"},
		{550, "5.2.2", "user unknown"},
		{450, "4.2.2", "user unknown"},
		{0, "", "<a@b.example>"}, // normalises to nothing, but is not empty
		{0, "", ""},
		{554, "", "<a@b.example>"},
		{421, "", "[192.0.2.1]"},
	} {
		enh := mustEnhanced(t, c.enh)
		want := classify(c.code, enh, c.text, normalizeReply(nil, c.text))
		for range 2 {
			if got := Classify(c.code, enh, c.text); got != want {
				t.Errorf("Classify(%d, %q, %q) = %v, want %v", c.code, c.enh, c.text, got, want)
			}
		}
	}
	long := "550 5.7.1 " + strings.Repeat("policy violation ", 200)
	classifyCache.RLock()
	before := len(classifyCache.m)
	classifyCache.RUnlock()
	if got, want := Classify(550, EnhancedStatus{}, long), classify(550, EnhancedStatus{}, long, normalizeReply(nil, long)); got != want {
		t.Errorf("a long reply: %v, want %v", got, want)
	}
	classifyCache.RLock()
	after := len(classifyCache.m)
	classifyCache.RUnlock()
	if after != before {
		t.Errorf("a reply of %d bytes was cached", len(long))
	}
	for i := range 2 * classifyCacheMax {
		Classify(550, EnhancedStatus{}, fmt.Sprintf("no such user %d", i))
	}
	classifyCache.RLock()
	n := len(classifyCache.m)
	classifyCache.RUnlock()
	if n > classifyCacheMax {
		t.Errorf("cache holds %d replies, want at most %d", n, classifyCacheMax)
	}
}

// Classify must not depend on the code the parser found in front of the
// text: the same text with the codes taken off (as ParseReply's Text) gives
// the same answer whenever the text itself decides.
func TestClassifyTextOnlyStable(t *testing.T) {
	for _, c := range classifyCases {
		r := ParseReply(c.text)
		if r.Text == "" || r.Text == c.text {
			continue
		}
		a := Classify(c.code, mustEnhanced(t, c.enh), c.text)
		b := Classify(c.code, mustEnhanced(t, c.enh), r.Text)
		// The stage hint lives in the parts ParseReply takes off, so a
		// basic-code fallback may differ; a text rule may not.
		if a != b && a != ReasonUserUnknown && a != ReasonSenderRejected && a != ReasonPolicy &&
			a != ReasonMessageTooBig && b != ReasonOther && b != ReasonMailboxFull {
			t.Errorf("%q: raw %v, text %v", c.text, a, b)
		}
	}
}

func TestReasonNames(t *testing.T) {
	all := AllReasons()
	if len(all) < 25 {
		t.Fatalf("only %d reasons", len(all))
	}
	seen := map[string]bool{}
	for _, r := range all {
		name := r.String()
		if name == "" || seen[name] {
			t.Errorf("reason %d: empty or duplicate name %q", r, name)
		}
		seen[name] = true
		back, ok := ParseReason(name)
		if !ok || back != r {
			t.Errorf("ParseReason(%q) = %v, %v", name, back, ok)
		}
		if r.Description() == "" {
			t.Errorf("%s has no description", name)
		}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c == '_') {
				t.Errorf("%q is not snake_case", name)
			}
		}
	}
	if r, ok := ParseReason(""); ok || r != ReasonNone {
		t.Errorf("ParseReason(\"\") = %v, %v", r, ok)
	}
	if ReasonNone.String() != "" || Reason(250).String() != "" || Reason(250).Hard() {
		t.Error("ReasonNone or out-of-range reason has a name")
	}
}

// The names are stored in databases and JSON: this list may only grow.
func TestReasonNamesStable(t *testing.T) {
	want := []string{"user_unknown", "mailbox_disabled", "has_moved", "mailbox_full", "message_too_big",
		"host_unknown", "not_accept", "network_error", "tls_failure", "mail_loop", "blocked",
		"bad_reputation", "reverse_dns", "spam_detected", "virus", "policy", "content_error",
		"rate_limited", "too_many_connections", "too_many_recipients", "greylisted", "auth_required",
		"relay_denied", "sender_rejected", "auth_failure", "spf_failure", "dkim_failure",
		"dmarc_failure", "syntax_error", "protocol_error", "system_error", "system_full", "expired",
		"suppressed", "other"}
	for i, name := range want {
		if got := Reason(i + 1).String(); got != name {
			t.Errorf("Reason(%d) = %q, want %q", i+1, got, name)
		}
	}
	b, err := json.Marshal(map[string]Reason{"r": ReasonUserUnknown})
	if err != nil || string(b) != `{"r":"user_unknown"}` {
		t.Errorf("json: %s %v", b, err)
	}
}

func TestReasonHardSoft(t *testing.T) {
	hard := []Reason{ReasonUserUnknown, ReasonHostUnknown, ReasonNotAccept, ReasonMailboxDisabled}
	soft := []Reason{ReasonMailboxFull, ReasonGreylisted, ReasonNetworkError, ReasonRateLimited, ReasonBlocked}
	for _, r := range hard {
		if !r.Hard() {
			t.Errorf("%s should be hard", r)
		}
	}
	for _, r := range soft {
		if r.Hard() {
			t.Errorf("%s should be soft", r)
		}
	}
}

func TestNormalizeReply(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking",
			"the email account that you tried to reach does not exist. please try double-checking"},
		{"host mx.Spam-Filter.example[192.0.2.1] said: 550 5.1.1 <spam@x.example>: User unknown",
			"host said: user unknown"},
		{"451-You have been\\n451 this mail", "you have been 451 this mail"},
		{"421 4.7.0 [TSS04] Messages from [192.0.2.1] deferred", "[tss04] messages from deferred"},
		{"  \t ", ""},
	} {
		if got := string(normalizeReply(nil, c.in)); got != c.want {
			t.Errorf("normalizeReply(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, c := range classifyCases {
		f.Add(c.code, c.text)
	}
	f.Fuzz(func(t *testing.T, code int, text string) {
		r := Classify(code, EnhancedStatus{}, text)
		if again := Classify(code, EnhancedStatus{}, text); again != r {
			t.Fatalf("from the cache %v, first %v", again, r)
		}
		if (code < 200 || code >= 400) && r != classify(code, EnhancedStatus{}, text, normalizeReply(nil, text)) {
			t.Fatalf("cached %v differs from classifying again", r)
		}
		if r >= reasonCount {
			t.Fatalf("reason %d out of range", r)
		}
		if r != ReasonNone && r.String() == "" {
			t.Fatalf("reason %d without a name", r)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	texts := make([]string, 0, len(classifyCases))
	size := 0
	for _, c := range classifyCases {
		texts = append(texts, c.text)
		size += len(c.text)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size / len(texts)))
	for i := 0; b.Loop(); i++ {
		c := &classifyCases[i%len(classifyCases)]
		Classify(c.code, EnhancedStatus{}, c.text)
	}
}

// TestClassifyWholeWords: "spf", "dkim", "dmarc" and "rdns" count as whole
// words only, not inside the random tracking tokens of Gmail's and
// Microsoft's replies, and still as words however they are punctuated.
func TestClassifyWholeWords(t *testing.T) {
	for _, c := range []struct {
		code int
		text string
		want Reason
	}{
		{550, "SMTP error from remote mail server after RCPT TO:<a@gmail.com>: 550-5.2.1 The email account that you tried to reach is inactive. For more\\n550-5.2.1 information, go to\\n550 5.2.1  https://support.google.com/mail/?p=DisabledUser 7W7qMDuspfaZsi5 - gsmtp", ReasonNone},
		{550, "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [AM4PEPF00027A5F.eurprd04.prod.outlook.com 2026-11-01T00:00:00.000Z 08DDRnwdKCo6spFW]", ReasonNone},
		{550, "550 5.7.1 message rejected: xdkimx token", ReasonNone},
		{550, "550 5.7.23 SPF validation failed", ReasonSPFFailure},
		{550, "550 5.7.1 Rejected by spf=fail policy", ReasonSPFFailure},
		{550, "550 5.7.1 (SPF) sender not permitted", ReasonSPFFailure},
		{550, "550 5.7.1 DKIM-Signature verification failed", ReasonDKIMFailure},
		{550, "550 5.7.1 Unauthenticated email is not accepted due to domain's DMARC policy", ReasonDMARCFailure},
		{550, "550 5.7.1 Client host rejected: no rDNS", ReasonReverseDNS},
	} {
		got := Classify(c.code, EnhancedStatus{}, c.text)
		if c.want == ReasonNone {
			if got == ReasonSPFFailure || got == ReasonDKIMFailure {
				t.Errorf("%q: %v, from a word inside a token", c.text, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%q: %v, want %v", c.text, got, c.want)
		}
	}
}
