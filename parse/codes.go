package parse

import "strconv"

// CodeInfo explains one SMTP reply code (RFC 5321) or enhanced status code
// (RFC 3463 and the IANA "SMTP Enhanced Status Codes" registry) to a mail
// administrator.
type CodeInfo struct {
	Code    string    // "550", "5.1.1"
	Meaning string    // the standard title, "" when the code is unknown
	Digits  [3]string // what each digit means; for an enhanced code: class, subject, detail
	Causes  string    // what usually causes it in practice
	Advice  string    // what the sender should do
}

// IsZero reports whether c describes nothing.
func (c CodeInfo) IsZero() bool { return c.Code == "" }

type basicEntry struct {
	meaning, causes, advice string
}

// basicCodes holds the replies of RFC 5321 section 4.2 and the extensions
// that mail logs show (RFC 3207, 4954, 7504).
var basicCodes = map[int]basicEntry{
	211: {"System status, or system help reply", "An answer to HELP or a status query.", "Nothing to do."},
	214: {"Help message", "An answer to HELP.", "Nothing to do."},
	220: {"<domain> Service ready", "The server's greeting, or its answer to STARTTLS.", "Nothing to do."},
	221: {"<domain> Service closing transmission channel", "The answer to QUIT.", "Nothing to do."},
	235: {"Authentication successful", "The answer to a successful AUTH (RFC 4954).", "Nothing to do."},
	250: {"Requested mail action okay, completed", "The receiver accepted the command; after the data it has taken responsibility for the message.", "Nothing to do: the message was delivered to the next hop."},
	251: {"User not local; will forward to <forward-path>", "The receiver accepted the recipient and will forward it.", "Nothing to do; update the address if the forward is permanent."},
	252: {"Cannot VRFY user, but will accept message and attempt delivery", "An answer to VRFY from a server that does not disclose its users.", "Nothing to do."},
	334: {"Server challenge", "An intermediate step of AUTH (RFC 4954).", "Nothing to do."},
	354: {"Start mail input; end with <CRLF>.<CRLF>", "The answer to DATA: the server waits for the message.", "Nothing to do."},
	421: {"<domain> Service not available, closing transmission channel", "The receiver is overloaded, shutting down, or throttling this sender; many providers use 421 for rate limits and temporary blocks.", "Nothing at once: the message stays queued and is retried. If it persists, read the text: reduce the sending rate or check the sending IP's reputation."},
	450: {"Requested mail action not taken: mailbox unavailable (e.g., mailbox busy or temporarily blocked for policy reasons)", "Greylisting, a temporarily unavailable mailbox, a temporary policy block or a failed recipient verification.", "Let the queue retry. If it never passes, read the text for a policy or greylisting hint."},
	451: {"Requested action aborted: local error in processing", "A temporary error at the receiver: a failed lookup, a busy database, a content scanner that is down, greylisting.", "Let the queue retry. If it persists for hours, contact the receiving postmaster."},
	452: {"Requested action not taken: insufficient system storage", "The receiver is out of disk or queue space, the mailbox is over quota, or (4.5.3) too many recipients were sent in one transaction.", "Let the queue retry; with 4.5.3 the MTA sends the remaining recipients in another transaction."},
	454: {"TLS not available due to temporary reason", "STARTTLS failed on the receiver's side (RFC 3207), a temporary authentication failure (RFC 4954), or (Postfix) a relay access refusal with 454 4.7.1.", "Let the queue retry; if it is a relay refusal, check that the MX points at the right host."},
	455: {"Server unable to accommodate parameters", "The receiver cannot handle a MAIL FROM or RCPT TO parameter now.", "Let the queue retry."},
	500: {"Syntax error, command unrecognized", "The receiver did not understand a command: a client bug, a line too long, or a proxy or firewall mangling SMTP.", "Check the sending software and any SMTP-aware firewall between the hosts."},
	501: {"Syntax error in parameters or arguments", "A malformed address or argument, typically in MAIL FROM or RCPT TO.", "Check the address syntax; do not retry the same command."},
	502: {"Command not implemented", "The receiver does not support a command the client sent.", "Check the client's configuration (e.g. a forced extension)."},
	503: {"Bad sequence of commands", "Commands in the wrong order, often RCPT without MAIL, or mail without the AUTH the server requires.", "Check the client; if the server requires AUTH, configure credentials."},
	504: {"Command parameter not implemented", "An unsupported parameter, e.g. an AUTH mechanism or a HELO name the server rejects.", "Check the client's configuration and its HELO name."},
	521: {"<domain> does not accept mail", "The host never accepts mail (RFC 7504), often a null MX or a web-only domain.", "Do not retry: the address cannot receive mail."},
	530: {"Authentication required", "The server requires SMTP AUTH, or STARTTLS first (Gmail: 530 5.7.0 Must issue a STARTTLS command first).", "Configure authentication (and TLS) for this relay, or send to the recipient's MX instead."},
	534: {"Authentication mechanism is too weak", "The AUTH mechanism is not accepted (RFC 4954), or the provider wants an app password.", "Use a stronger mechanism, TLS, or the provider's app password."},
	535: {"Authentication credentials invalid", "Wrong user name or password for SMTP AUTH.", "Fix the credentials in the relay configuration."},
	538: {"Encryption required for requested authentication mechanism", "AUTH was tried without TLS.", "Enable STARTTLS before AUTH."},
	550: {"Requested action not taken: mailbox unavailable (e.g., mailbox not found, no access, or command rejected for policy reasons)", "After RCPT TO usually an unknown user; after MAIL FROM a rejected sender; after the data a spam or policy refusal.", "Read the text and the enhanced code; for an unknown user remove the address from your lists."},
	551: {"User not local; please try <forward-path>", "The recipient has moved; the text may give the new address.", "Update the address; do not retry the old one."},
	552: {"Requested mail action aborted: exceeded storage allocation", "The mailbox is over quota, or (after the data, or with SIZE) the message is too big.", "If the message is too big, send a smaller one; if the mailbox is full, ask the recipient to make room."},
	553: {"Requested action not taken: mailbox name not allowed", "Bad address syntax, or (qmail and others) a domain this host does not relay for.", "Check the address and the MX of the recipient's domain."},
	554: {"Transaction failed (or, in the greeting, no SMTP service here)", "A refusal after the data (spam, virus, policy), or a refused connection; Postfix uses it for blocklist and access-table rejections.", "Read the text: fix the content, the blocklisting or the policy problem before sending again."},
	555: {"MAIL FROM/RCPT TO parameters not recognized or not implemented", "The client used an ESMTP parameter the server does not support.", "Check the client's configuration."},
	556: {"Domain does not accept mail", "The recipient domain has a null MX or otherwise accepts no mail (RFC 7504).", "Do not retry: remove the address."},
}

// basicFirstDigit and basicSecondDigit are RFC 5321 section 4.2.1.
var basicFirstDigit = [6]string{
	2: "positive completion: the requested action was completed",
	3: "positive intermediate: the command was accepted, more information is expected",
	4: "transient negative completion: not done now, the same request may succeed later",
	5: "permanent negative completion: not done, do not repeat the same request",
}

var basicSecondDigit = [6]string{
	0: "syntax: syntax errors, unimplemented or superfluous commands",
	1: "information: replies to requests for information",
	2: "connections: replies about the transmission channel",
	3: "unspecified",
	4: "unspecified",
	5: "mail system: the state of the receiver's mail system",
}

// DescribeBasic explains a three-digit SMTP reply code. An unregistered
// code is explained digit by digit; a code outside 200-599 gives a zero
// CodeInfo.
func DescribeBasic(code int) CodeInfo {
	if code < 200 || code > 599 {
		return CodeInfo{}
	}
	d1, d2 := code/100, code/10%10
	ci := CodeInfo{Code: strconv.Itoa(code)}
	ci.Digits[0] = basicFirstDigit[d1]
	if d2 < len(basicSecondDigit) {
		ci.Digits[1] = basicSecondDigit[d2]
	} else {
		ci.Digits[1] = "not defined by RFC 5321"
	}
	if e, ok := basicCodes[code]; ok {
		ci.Meaning, ci.Causes, ci.Advice = e.meaning, e.causes, e.advice
		ci.Digits[2] = "which reply within that group: " + shortTitle(e.meaning)
		return ci
	}
	ci.Digits[2] = "no registered meaning for this third digit"
	switch d1 {
	case 2:
		ci.Causes, ci.Advice = "A success reply that RFC 5321 does not define.", "Nothing to do."
	case 3:
		ci.Causes, ci.Advice = "An intermediate reply that RFC 5321 does not define.", "Nothing to do."
	case 4:
		ci.Causes, ci.Advice = "A temporary failure the receiver defines itself; read its text.", "Let the queue retry."
	case 5:
		ci.Causes, ci.Advice = "A permanent failure the receiver defines itself; read its text.", "Fix what the text names before sending again."
	}
	return ci
}

// shortTitle keeps a title up to its first comma, semicolon or parenthesis.
func shortTitle(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == ';' || s[i] == '(' || (s[i] == ',' && i > 20) {
			for i > 0 && s[i-1] == ' ' {
				i--
			}
			return s[:i]
		}
	}
	return s
}

var enhancedClasses = [6]string{
	2: "success",
	4: "persistent transient failure: the message may be delivered if sent again later",
	5: "permanent failure: sending the same message again will not succeed",
}

var enhancedSubjects = [8]string{
	"other or undefined status",
	"addressing status",
	"mailbox status",
	"mail system status",
	"network and routing status",
	"mail delivery protocol status",
	"message content or media status",
	"security or policy status",
}

type enhancedEntry struct {
	title, causes, advice string
}

// enhancedDetails is the IANA registry (RFC 3463, 3886, 4468, 4954, 5248,
// 6531, 6710, 7293, 7372, 7505, 8098, 8617, 8689) keyed by subject*1000 +
// detail, followed by the few provider details that logs show often.
var enhancedDetails = map[int]enhancedEntry{
	0: {"Other undefined Status", "The receiver gives no detail.", "Read the text."},

	1000: {"Other address status", "Something about the sender or recipient address; often an unknown recipient.", "Check the address."},
	1001: {"Bad destination mailbox address", "The mailbox does not exist at the destination: a typo, a departed user or an old list entry.", "Do not retry; remove or correct the address."},
	1002: {"Bad destination system address", "The domain does not exist or does not accept mail.", "Check the domain for typos; remove the address if the domain is gone."},
	1003: {"Bad destination mailbox address syntax", "The recipient address is syntactically invalid.", "Correct the address."},
	1004: {"Destination mailbox address ambiguous", "The address matches several mailboxes at the destination.", "Use a more precise address."},
	1005: {"Destination address valid", "A positive reply to an address check.", "Nothing to do."},
	1006: {"Destination mailbox has moved, No forwarding address", "The mailbox was valid but is gone, with no forwarding address.", "Remove the address or ask the recipient for the new one."},
	1007: {"Bad sender's mailbox address syntax", "The envelope sender address is malformed.", "Fix the sender address your software uses."},
	1008: {"Bad sender's system address", "The sender's domain does not resolve or is not allowed.", "Use a sender domain with valid DNS (A/MX records)."},
	1009: {"Message relayed to non-compliant mailer", "The message was relayed to a system that cannot report delivery (RFC 3886).", "Nothing to do."},
	1010: {"Recipient address has null MX", "The recipient domain publishes a null MX: it accepts no mail (RFC 7505).", "Do not retry; remove the address."},

	2000: {"Other or undefined mailbox status", "The mailbox exists but something about it prevents delivery.", "Read the text; retry later if temporary."},
	2001: {"Mailbox disabled, not accepting messages", "The account is disabled, suspended or inactive.", "Stop sending; the account may never come back."},
	2002: {"Mailbox full", "The recipient is over quota.", "Retry later or reach the recipient another way; repeated 5.2.2 often marks an abandoned mailbox."},
	2003: {"Message length exceeds administrative limit", "The message is larger than the mailbox accepts.", "Send a smaller message; share large files by link."},
	2004: {"Mailing list expansion problem", "The recipient is a list that could not be expanded.", "Tell the list owner."},

	3000: {"Other or undefined mail system status", "The destination system has a problem.", "Retry later if temporary; otherwise contact its postmaster."},
	3001: {"Mail system full", "The destination is out of storage.", "Let the queue retry."},
	3002: {"System not accepting network messages", "The destination host is shutting down, overloaded or in maintenance.", "Let the queue retry."},
	3003: {"System not capable of selected features", "The destination does not support a feature the message needs.", "Send without that feature (e.g. 8BITMIME, DSN)."},
	3004: {"Message too big for system", "The message exceeds the destination's size limit.", "Send a smaller message."},
	3005: {"System incorrectly configured", "A misconfiguration at the destination, or a loop to this host.", "Contact the destination postmaster; check your own transport maps."},
	3006: {"Requested priority was changed", "The receiver changed the MT-PRIORITY of the message (RFC 8689).", "Nothing to do."},

	4000: {"Other or undefined network or routing status", "A network or routing problem without more detail.", "Let the queue retry."},
	4001: {"No answer from host", "The connection was refused or timed out; Microsoft also uses 5.4.1 for recipient rejections.", "Let the queue retry; check firewalls and the MX if it persists."},
	4002: {"Bad connection", "The connection broke during the transaction.", "Let the queue retry."},
	4003: {"Directory server failure", "A DNS or directory lookup failed.", "Let the queue retry; check DNS if it persists."},
	4004: {"Unable to route", "No route to the destination: no MX or A record, or a routing table gap.", "Check the domain's DNS; remove the address if the domain is gone."},
	4005: {"Mail system congestion", "The destination or a relay is congested.", "Let the queue retry."},
	4006: {"Routing loop detected", "The message loops between hosts or aliases.", "Fix MX records, transport maps or aliases."},
	4007: {"Delivery time expired", "The message stayed queued past the maximum lifetime.", "Find the cause in the earlier deferrals; resend once it is fixed."},

	5000: {"Other or undefined protocol status", "A protocol problem without more detail.", "Check the client software."},
	5001: {"Invalid command", "A command was out of sequence or not supported.", "Check the client software."},
	5002: {"Syntax error", "A command could not be parsed.", "Check the client software and any SMTP-aware firewall."},
	5003: {"Too many recipients", "More recipients than allowed in one transaction.", "Nothing: the MTA retries the rest separately; lower the recipients per message if it repeats."},
	5004: {"Invalid command arguments", "A command argument was invalid or unsupported.", "Check addresses and ESMTP parameters."},
	5005: {"Wrong protocol version", "The two ends could not agree on a protocol version.", "Check the client software."},
	5006: {"Authentication Exchange line is too long", "An AUTH line exceeded the server's limit (RFC 4954).", "Use another AUTH mechanism."},

	6000: {"Other or undefined media error", "Something in the content prevents delivery.", "Check the message format."},
	6001: {"Media not supported", "A media type in the message is not supported on the path.", "Send another format."},
	6002: {"Conversion required and prohibited", "The message needs conversion (e.g. 8-bit to 7-bit) but may not be converted.", "Encode the message for 7-bit transport."},
	6003: {"Conversion required but not supported", "The needed conversion is not possible.", "Encode the message differently."},
	6004: {"Conversion with loss performed", "The message was converted with loss of data.", "Nothing to do."},
	6005: {"Conversion Failed", "A required conversion failed.", "Encode the message differently."},
	6006: {"Message content not available", "Referenced content could not be fetched (RFC 4468 BURL).", "Check the submission client."},
	6007: {"Non-ASCII addresses not permitted for that sender/recipient", "An internationalised address where SMTPUTF8 is not available (RFC 6531).", "Use an ASCII address."},
	6008: {"UTF-8 string reply is required, but not permitted by the SMTP client", "The server needs to reply in UTF-8 (RFC 6531).", "Enable SMTPUTF8 in the client."},
	6009: {"UTF-8 header message cannot be transferred to one or more recipients, so the message must be rejected", "A UTF-8 header message met a hop without SMTPUTF8 (RFC 6531).", "Send with ASCII headers."},
	6010: {"Deprecated duplicate of X.6.8", "Registered by mistake; see X.6.8.", "Enable SMTPUTF8 in the client."},

	7000: {"Other or undefined security status", "A security or policy refusal without detail; with class 4 often greylisting or throttling.", "Read the text; check authentication (SPF, DKIM, DMARC) and reputation."},
	7001: {"Delivery not authorized, message refused", "A policy refusal: blocklisted IP, spam verdict, sender not allowed, access table.", "Read the text; check blocklists and authentication before sending again."},
	7002: {"Mailing list expansion prohibited", "The sender may not post to this list.", "Ask the list owner."},
	7003: {"Security conversion required but not possible", "The message needs a security conversion that is not possible.", "Send without the security feature."},
	7004: {"Security features not supported", "The path does not support a requested security feature.", "Send without it, or by another path."},
	7005: {"Cryptographic failure", "A signature or decryption failed.", "Check signing keys and certificates."},
	7006: {"Cryptographic algorithm not supported", "The receiver does not support the algorithm used.", "Use a common algorithm."},
	7007: {"Message integrity failure", "The message was altered or corrupted in transit.", "Resend; check filters that rewrite messages."},
	7008: {"Authentication credentials invalid", "Wrong SMTP AUTH credentials (RFC 4954).", "Fix the credentials."},
	7009: {"Authentication mechanism is too weak", "The AUTH mechanism is not accepted (RFC 4954).", "Use a stronger mechanism or TLS."},
	7010: {"Encryption Needed", "The server requires TLS for this (RFC 5248).", "Enable STARTTLS."},
	7011: {"Encryption required for requested authentication mechanism", "AUTH was tried without TLS (RFC 4954).", "Enable STARTTLS before AUTH."},
	7012: {"A password transition is needed", "The user must change password or mechanism (RFC 4954).", "Log in interactively and update the password."},
	7013: {"User Account Disabled", "The account is disabled (RFC 5248).", "Stop sending; contact the provider if it is your account."},
	7014: {"Trust relationship required", "The submission server needs a trust relationship with the client (RFC 5248).", "Configure the relationship or another relay."},
	7015: {"Priority Level is too low", "The MT-PRIORITY is below what the receiver accepts (RFC 8689).", "Raise the priority or send later."},
	7016: {"Message is too big for the specified priority", "Too big for the requested MT-PRIORITY (RFC 8689).", "Send smaller or at a lower priority."},
	7017: {"Mailbox owner has changed", "The mailbox changed hands since the RRVS date (RFC 7293).", "Remove the address; it belongs to someone else now."},
	7018: {"Domain owner has changed", "The domain changed hands since the RRVS date (RFC 7293).", "Remove the address."},
	7019: {"RRVS test cannot be completed", "The receiver cannot check the RRVS date (RFC 7293).", "Send without RRVS."},
	7020: {"No passing DKIM signature found", "The message has no DKIM signature that validates (RFC 7372).", "Sign outgoing mail with DKIM and check the DNS key."},
	7021: {"No acceptable DKIM signature found", "Valid DKIM signatures, none acceptable to local policy (RFC 7372).", "Sign with your own domain (aligned with From)."},
	7022: {"No valid author-matched DKIM signature found", "No valid DKIM signature matches the From domain (RFC 7372).", "Sign with the From domain."},
	7023: {"SPF validation failed", "The sending IP is not allowed by the sender domain's SPF record (RFC 7372).", "Add the sending IP or relay to the SPF record."},
	7024: {"SPF validation error", "SPF evaluation failed: a broken record or too many lookups (RFC 7372).", "Fix the SPF record."},
	7025: {"Reverse DNS validation failed", "The sending IP has no PTR record, or it does not resolve back (RFC 7372).", "Ask the IP's owner for a PTR record that matches the HELO name."},
	7026: {"Multiple authentication checks failed", "Several checks failed; Gmail uses it for DMARC failures and for mail with neither SPF nor DKIM.", "Publish SPF, sign with DKIM aligned with From, check DMARC."},
	7027: {"Sender address has null MX", "The sender's domain publishes a null MX (RFC 7505).", "Use a sender domain that can receive replies."},
	7028: {"Mail flood detected", "The receiver sees a flood of similar messages.", "Slow down and check for abuse of your system."},
	7029: {"ARC validation failure", "The ARC chain did not validate (RFC 8617).", "Check forwarders and ARC signing."},
	7030: {"REQUIRETLS support required", "REQUIRETLS could not be honoured on the path (RFC 8689).", "Send without REQUIRETLS or by another path."},
}

// providerDetails are unregistered details that Microsoft 365 documents and
// logs show often.
var providerDetails = map[int]enhancedEntry{
	4014: {"Hop count exceeded (Microsoft)", "A mail loop.", "Fix MX, connectors or forwarding rules."},
	4300: {"Message expired (Microsoft)", "The message stayed queued too long.", "Find the cause in earlier deferrals."},
	4310: {"DNS domain does not exist (Microsoft)", "The recipient domain has no DNS.", "Check the domain; remove the address if it is gone."},
	4312: {"DNS query failed (Microsoft)", "A temporary DNS failure.", "Let the queue retry."},
	4316: {"Connection refused (Microsoft)", "The destination refused the connection.", "Let the queue retry."},
	7057: {"Client not authenticated to send mail (Microsoft)", "Submission without AUTH.", "Configure SMTP AUTH for the relay."},
	7064: {"TenantAttribution; Relay access denied (Microsoft)", "The connector does not accept this sender or domain.", "Check the Microsoft 365 connector configuration."},
	7501: {"Access denied, spam abuse detected (Microsoft)", "The sending account is blocked for spam.", "Stop the abuse and request delisting."},
	7509: {"Access denied, sending domain does not pass DMARC verification (Microsoft)", "DMARC failure with a reject policy.", "Align SPF/DKIM with the From domain."},
	7606: {"Access denied, banned sending IP (Microsoft)", "The IP is on Microsoft's block list.", "Request delisting at sender.office.com."},
	7705: {"Access denied, tenant has exceeded threshold (Microsoft)", "The sending tenant is blocked for spam.", "Clean up the tenant and contact Microsoft support."},
}

// DescribeEnhanced explains an RFC 3463 code. Class 2, 4 and 5 are known;
// another class gives a zero CodeInfo. Unregistered details are described by
// class and subject only.
func DescribeEnhanced(e EnhancedStatus) CodeInfo {
	if e.Class != 2 && e.Class != 4 && e.Class != 5 {
		return CodeInfo{}
	}
	ci := CodeInfo{Code: e.String()}
	ci.Digits[0] = enhancedClasses[e.Class]
	if int(e.Subject) < len(enhancedSubjects) {
		ci.Digits[1] = enhancedSubjects[e.Subject]
	} else {
		ci.Digits[1] = "not a registered subject"
	}
	key := int(e.Subject)*1000 + int(e.Detail)
	ent, ok := enhancedDetails[key]
	if !ok && e.Class != 2 {
		ent, ok = providerDetails[key]
	}
	if ok && e.Detail < 1000 {
		ci.Meaning = ent.title
		ci.Digits[2] = lowerFirst(ent.title)
		ci.Causes, ci.Advice = ent.causes, ent.advice
	} else {
		ci.Meaning = "Unregistered detail code (provider-specific)"
		ci.Digits[2] = "not in the IANA registry; the receiver defines it"
		if o, ok := enhancedDetails[int(e.Subject)*1000]; ok && int(e.Subject) < len(enhancedSubjects) {
			ci.Causes, ci.Advice = o.causes, o.advice
		} else {
			ci.Causes, ci.Advice = "A code outside the registry; only the receiver knows its meaning.", "Read the reply text."
		}
	}
	switch e.Class {
	case 2:
		ci.Causes, ci.Advice = "A success report: "+lowerFirst(ci.Meaning)+".", "Nothing to do."
	case 4:
		ci.Advice += " The failure is temporary: the queue retries until the message expires."
	}
	return ci
}

// lowerFirst lowers the first letter unless the first word is an acronym.
func lowerFirst(s string) string {
	if len(s) > 1 && 'A' <= s[0] && s[0] <= 'Z' && !('A' <= s[1] && s[1] <= 'Z') {
		return string(s[0]+'a'-'A') + s[1:]
	}
	return s
}
