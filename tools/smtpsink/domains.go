package main

// The domain table is shared by the sink (which reply style a domain gets),
// the planner (which recipients a message gets) and the truth computation
// (how a domain's recipients can be observed). Keeping it in one place is what
// makes the expected counts independent of any MTA log: the plan and the sink
// journal are both derived from it.

// Profile is how a listener behaves before recipients are known.
type Profile string

const (
	// ProfileSMTP answers by recipient local part and domain.
	ProfileSMTP Profile = "smtp"
	// ProfileLMTP speaks LMTP: one reply per accepted recipient after DATA.
	ProfileLMTP Profile = "lmtp"
	// ProfileGreet421 sends a 421 greeting and closes.
	ProfileGreet421 Profile = "greet421"
	// ProfileHangup closes the connection before any greeting.
	ProfileHangup Profile = "hangup"
	// ProfileDropData accepts recipients and closes the connection on DATA.
	ProfileDropData Profile = "dropdata"
	// ProfileSlow accepts the message and never answers the final dot.
	ProfileSlow Profile = "slow"
	// ProfileTLSBroken advertises STARTTLS and breaks the handshake.
	ProfileTLSBroken Profile = "tlsbroken"
	// ProfileRefused has no listener at all: the MTA gets "connection refused".
	ProfileRefused Profile = "refused"
	// ProfileLocal is delivered by the MTA itself (no sink involved).
	ProfileLocal Profile = "local"
	// ProfileDSN receives the MTA's own bounce messages (local delivery).
	ProfileDSN Profile = "dsn"
)

// Ports of the sink listeners; the MTA configs use the same numbers.
var profilePorts = map[Profile]int{
	ProfileSMTP:      2601,
	ProfileLMTP:      2602,
	ProfileGreet421:  2603,
	ProfileDropData:  2604,
	ProfileHangup:    2605,
	ProfileSlow:      2606,
	ProfileTLSBroken: 2607,
	ProfileRefused:   2608,
}

// Flavour selects reply texts and remote-id shapes in the style of a real
// server family.
type Flavour string

const (
	FlavourPostfix      Flavour = "postfix"       // long queue id
	FlavourPostfixShort Flavour = "postfix-short" // short hex queue id
	FlavourExim         Flavour = "exim"
	FlavourGmail        Flavour = "gmail"
	FlavourOutlook      Flavour = "outlook"
	FlavourYahoo        Flavour = "yahoo"
	FlavourQmail        Flavour = "qmail" // no enhanced status codes
	FlavourSendmail     Flavour = "sendmail"
	FlavourDovecot      Flavour = "dovecot" // LMTP
)

// weightedAction is one local-part action and how often the planner picks it.
type weightedAction struct {
	Action string
	Weight int
}

// Domain is one recipient domain of the test traffic.
type Domain struct {
	Name    string
	Profile Profile
	Flavour Flavour
	// Weight is how often the planner picks this domain for a recipient.
	Weight int
	// Actions are the local-part prefixes the planner draws from.
	Actions []weightedAction
	// OnePerMessage limits a message to one recipient of this domain. It is
	// set where the sink cannot see which recipients an attempt carried
	// (failure before MAIL FROM), so that one connection is one recipient
	// attempt.
	OnePerMessage bool
}

func acts(pairs ...any) []weightedAction {
	var out []weightedAction
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, weightedAction{pairs[i].(string), pairs[i+1].(int)})
	}
	return out
}

// domains is the catalogue. Local parts are "<action>-<message>-<n>", so every
// planned recipient address is unique and the journal can be joined to the
// plan by address alone.
var domains = []Domain{
	{Name: "ok.example", Profile: ProfileSMTP, Flavour: FlavourPostfix, Weight: 12, Actions: acts("ok", 1)},
	{Name: "corp.example", Profile: ProfileSMTP, Flavour: FlavourPostfixShort, Weight: 6, Actions: acts("ok", 9, "lag", 1)},
	{Name: "exim-like.example", Profile: ProfileSMTP, Flavour: FlavourExim, Weight: 6, Actions: acts("ok", 8, "unknown", 2)},
	{Name: "gmail-like.example", Profile: ProfileSMTP, Flavour: FlavourGmail, Weight: 10, Actions: acts("ok", 6, "unknown", 2, "temp452", 1, "policy", 1, "spam", 1, "grey1", 1)},
	{Name: "outlook-like.example", Profile: ProfileSMTP, Flavour: FlavourOutlook, Weight: 8, Actions: acts("ok", 6, "blocked", 2, "unknown", 2)},
	{Name: "yahoo-mail.example", Profile: ProfileSMTP, Flavour: FlavourYahoo, Weight: 4, Actions: acts("ok", 7, "nodsn", 3)},
	{Name: "greylist.example", Profile: ProfileSMTP, Flavour: FlavourPostfix, Weight: 6, Actions: acts("grey1", 6, "grey2", 3, "ok", 1)},
	{Name: "nouser.example", Profile: ProfileSMTP, Flavour: FlavourPostfix, Weight: 5, Actions: acts("unknown", 5, "ok", 5)},
	{Name: "full.example", Profile: ProfileSMTP, Flavour: FlavourPostfix, Weight: 4, Actions: acts("full", 4, "temp452", 3, "ok", 3)},
	{Name: "qmail-like.example", Profile: ProfileSMTP, Flavour: FlavourQmail, Weight: 4, Actions: acts("ok", 5, "nodsn", 2, "unknown", 1, "grey1", 2)},
	{Name: "temp.example", Profile: ProfileSMTP, Flavour: FlavourPostfix, Weight: 4, Actions: acts("temp450", 3, "temp454", 2, "temp455", 2, "ok", 3)},
	{Name: "spamcheck.example", Profile: ProfileSMTP, Flavour: FlavourPostfix, Weight: 4, Actions: acts("spam", 3, "ok", 5, "big", 2)},
	{Name: "datatemp.example", Profile: ProfileSMTP, Flavour: FlavourPostfixShort, Weight: 3, Actions: acts("dtemp", 7, "ok", 3)},
	{Name: "relay.example", Profile: ProfileSMTP, Flavour: FlavourSendmail, Weight: 3, Actions: acts("relay", 4, "sender", 2, "ok", 4)},
	{Name: "tlsrequired.example", Profile: ProfileSMTP, Flavour: FlavourPostfix, Weight: 2, Actions: acts("starttls", 6, "ok", 4)},
	{Name: "mixed.example", Profile: ProfileSMTP, Flavour: FlavourPostfix, Weight: 5, Actions: acts("ok", 4, "unknown", 1, "grey1", 1, "temp450", 1, "full", 1, "spam", 1, "dtemp", 1, "relay", 1, "nodsn", 1, "lag", 1)},
	{Name: "lmtp.example", Profile: ProfileLMTP, Flavour: FlavourDovecot, Weight: 6, Actions: acts("ok", 6, "full", 1, "temp452", 1, "unknown", 1, "grey1", 1)},
	{Name: "yahoo-like.example", Profile: ProfileGreet421, Flavour: FlavourYahoo, Weight: 2, Actions: acts("any", 1), OnePerMessage: true},
	{Name: "drop.example", Profile: ProfileDropData, Flavour: FlavourPostfix, Weight: 2, Actions: acts("any", 1), OnePerMessage: true},
	{Name: "hangup.example", Profile: ProfileHangup, Flavour: FlavourPostfix, Weight: 2, Actions: acts("any", 1), OnePerMessage: true},
	{Name: "slow.example", Profile: ProfileSlow, Flavour: FlavourPostfix, Weight: 2, Actions: acts("any", 1), OnePerMessage: true},
	{Name: "tls-broken.example", Profile: ProfileTLSBroken, Flavour: FlavourPostfix, Weight: 2, Actions: acts("any", 1), OnePerMessage: true},
	{Name: "refused.example", Profile: ProfileRefused, Flavour: FlavourPostfix, Weight: 1, Actions: acts("any", 1), OnePerMessage: true},
	{Name: "local.example", Profile: ProfileLocal, Weight: 4, Actions: acts("mbtest", 3, "nosuchuser", 1)},
}

// dsnDomain receives the MTA's bounce messages: every message's sender is
// dsnbox+<id>@bounces.example, delivered locally to user dsnbox.
const dsnDomain = "bounces.example"

func domainByName(name string) (Domain, bool) {
	for _, d := range domains {
		if d.Name == name {
			return d, true
		}
	}
	return Domain{}, false
}
