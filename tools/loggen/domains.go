package main

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// provider says which kind of mail system answers for a domain: it decides
// the MX names and the reply texts.
type provider uint8

const (
	provGmail provider = iota
	provMicrosoft
	provYahoo
	provApple
	provGMX
	provYandex
	provPostfix
	provExim
	provQmail
	provHosted // our own domains: delivered over LMTP to Dovecot
)

// Domain behaviour flags.
const (
	domDead     = 1 << iota // every connection times out: recipients expire
	domNXDomain             // the domain does not exist: recipients bounce at once
	domGreylist             // first attempt of every message is greylisted
)

type domain struct {
	name  string
	prov  provider
	mx    string
	ips   []string
	flags uint8
}

type domainTable struct {
	doms     []domain
	headCum  []float64 // cumulative weights of the head
	headIdx  []int32
	headP    float64 // probability that a draw comes from the head
	tailBase int     // index of the first tail domain
	zipf     *rand.Zipf
	hosted   []int32
	byName   map[string]int32
}

type headDomain struct {
	name   string
	prov   provider
	weight float64
}

var headDomains = []headDomain{
	{"gmail.com", provGmail, 22}, {"outlook.com", provMicrosoft, 5}, {"hotmail.com", provMicrosoft, 5},
	{"yahoo.com", provYahoo, 5}, {"icloud.com", provApple, 3}, {"aol.com", provYahoo, 1.5},
	{"live.com", provMicrosoft, 1.2}, {"gmx.de", provGMX, 1.5}, {"web.de", provGMX, 1.5},
	{"t-online.de", provPostfix, 1}, {"hotmail.co.uk", provMicrosoft, 0.8}, {"msn.com", provMicrosoft, 0.6},
	{"yandex.ru", provYandex, 0.8}, {"mail.ru", provExim, 0.8}, {"orange.fr", provPostfix, 0.8},
	{"comcast.net", provPostfix, 0.8}, {"me.com", provApple, 0.6}, {"gmx.net", provGMX, 0.6},
	{"free.fr", provPostfix, 0.6}, {"googlemail.com", provGmail, 0.5}, {"yahoo.co.uk", provYahoo, 0.5},
	{"qq.com", provPostfix, 0.5}, {"protonmail.com", provPostfix, 0.4}, {"att.net", provYahoo, 0.4},
	{"hotmail.fr", provMicrosoft, 0.4}, {"outlook.de", provMicrosoft, 0.3}, {"yahoo.fr", provYahoo, 0.3},
	{"libero.it", provPostfix, 0.3}, {"laposte.net", provPostfix, 0.3}, {"btinternet.com", provYahoo, 0.3},
	{"proton.me", provPostfix, 0.3}, {"163.com", provPostfix, 0.3}, {"sbcglobal.net", provYahoo, 0.3},
	{"ymail.com", provYahoo, 0.2}, {"mac.com", provApple, 0.2}, {"zoho.com", provPostfix, 0.2},
	{"verizon.net", provYahoo, 0.2}, {"rocketmail.com", provYahoo, 0.1},
}

var hostedNames = []string{"acme-logistics.com", "brightwave.io", "kellerhaus.de", "lumenstudio.fr",
	"oakridge-law.com", "pinecrest.org", "tidalworks.net", "vandermeer.nl"}

var providerMX = map[provider][]string{
	provGmail:     {"gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com", "alt2.gmail-smtp-in.l.google.com"},
	provMicrosoft: {"hotmail-com.olc.protection.outlook.com"},
	provYahoo:     {"mta5.am0.yahoodns.net", "mta6.am0.yahoodns.net", "mta7.am0.yahoodns.net"},
	provApple:     {"mx01.mail.icloud.com", "mx02.mail.icloud.com"},
	provGMX:       {"mx00.emig.gmx.net", "mx01.emig.gmx.net"},
	provYandex:    {"mx.yandex.ru"},
}

var providerNet = map[provider][]string{
	provGmail:     {"142.250.102.", "142.251.9.", "64.233.184.", "74.125.206.", "108.177.15."},
	provMicrosoft: {"52.101.68.", "52.101.73.", "104.47.18.", "40.93.212."},
	provYahoo:     {"67.195.204.", "98.136.96.", "67.195.228."},
	provApple:     {"17.57.154.", "17.42.251."},
	provGMX:       {"212.227.17.", "212.227.15."},
	provYandex:    {"77.88.21.", "213.180.204."},
}

var syllables = []string{"ba", "ber", "bro", "ca", "cor", "da", "den", "dor", "el", "fa", "fin", "gar", "gen",
	"ha", "hol", "in", "ja", "ka", "kin", "la", "lin", "lux", "ma", "mar", "mo", "na", "nor", "o", "pa", "per",
	"qua", "ra", "ren", "ro", "sa", "sen", "sol", "ta", "ter", "to", "ul", "va", "ver", "vi", "wa", "wen", "xa",
	"za", "zen"}

var words = []string{"tech", "group", "consulting", "media", "labs", "design", "shop", "law", "clinic", "bank",
	"systems", "travel", "foods", "energy", "partners", "school", "hotel", "auto", "bau", "immobilien", "studio",
	"digital", "solutions", "logistics", "capital", "health", "events", "verlag", "realty", "software"}

var tlds = []string{"com", "com", "com", "com", "net", "org", "de", "de", "fr", "co.uk", "nl", "it", "es", "io",
	"se", "pl", "com.au", "ch", "at", "be", "ca", "us", "eu", "info", "dk", "no", "fi", "cz", "com.br", "jp"}

func newDomainTable(r *rand.Rand, n int) *domainTable {
	t := &domainTable{byName: make(map[string]int32, n+64)}
	add := func(d domain) int32 {
		i := int32(len(t.doms))
		t.doms = append(t.doms, d)
		t.byName[d.name] = i
		return i
	}
	total := 0.0
	for _, h := range headDomains {
		d := domain{name: h.name, prov: h.prov}
		if mx, ok := providerMX[h.prov]; ok {
			d.mx = mx[0]
			if h.prov == provMicrosoft {
				d.mx = strings.ReplaceAll(h.name, ".", "-") + ".olc.protection.outlook.com"
			}
		} else {
			d.mx = "mx1." + h.name
		}
		d.ips = providerIPs(r, h.prov, 4)
		total += h.weight
		t.headCum = append(t.headCum, total)
		t.headIdx = append(t.headIdx, add(d))
	}
	t.headP = total / 100
	for _, name := range hostedNames {
		d := domain{name: name, prov: provHosted, mx: "mx1." + name, ips: []string{"10.1.0.25"}}
		t.hosted = append(t.hosted, add(d))
	}
	t.tailBase = len(t.doms)
	for len(t.doms) < n || len(t.doms) < t.tailBase+100 {
		name := tailName(r)
		if _, dup := t.byName[name]; dup {
			continue
		}
		d := domain{name: name}
		x := r.Float64()
		switch {
		case x < 0.18:
			d.prov = provMicrosoft
			d.mx = strings.ReplaceAll(name, ".", "-") + ".mail.protection.outlook.com"
		case x < 0.32:
			d.prov = provGmail
			d.mx = "aspmx.l.google.com"
		case x < 0.72:
			d.prov = provPostfix
			d.mx = [...]string{"mail.", "mx.", "mx1.", "smtp."}[r.IntN(4)] + name
		case x < 0.90:
			d.prov = provExim
			d.mx = [...]string{"mail.", "mx.", "mx0."}[r.IntN(3)] + name
		default:
			d.prov = provQmail
			d.mx = "mail." + name
		}
		d.ips = providerIPs(r, d.prov, 1)
		if d.prov == provPostfix || d.prov == provExim || d.prov == provQmail {
			y := r.Float64()
			switch {
			case y < 0.006:
				d.flags |= domDead
			case y < 0.011:
				d.flags |= domNXDomain
			case y < 0.14:
				d.flags |= domGreylist
			}
		}
		add(d)
	}
	t.zipf = rand.NewZipf(r, 1.07, 3, uint64(len(t.doms)-t.tailBase-1))
	return t
}

func providerIPs(r *rand.Rand, p provider, n int) []string {
	nets, ok := providerNet[p]
	ips := make([]string, n)
	for i := range ips {
		if ok {
			ips[i] = nets[r.IntN(len(nets))] + strconv.Itoa(1+r.IntN(250))
			continue
		}
		ips[i] = publicIP(r)
	}
	return ips
}

func publicIP(r *rand.Rand) string {
	for {
		a := 2 + r.IntN(221)
		if a == 10 || a == 127 || a == 172 || a == 192 || a == 100 || a == 169 {
			continue
		}
		return strconv.Itoa(a) + "." + strconv.Itoa(r.IntN(256)) + "." + strconv.Itoa(r.IntN(256)) + "." + strconv.Itoa(1+r.IntN(254))
	}
}

func tailName(r *rand.Rand) string {
	var b strings.Builder
	n := 2 + r.IntN(3)
	for i := 0; i < n; i++ {
		b.WriteString(syllables[r.IntN(len(syllables))])
	}
	if r.IntN(3) == 0 {
		if r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	b.WriteByte('.')
	b.WriteString(tlds[r.IntN(len(tlds))])
	return b.String()
}

// pick draws a recipient domain: the big providers by their weights, then
// a Zipf-distributed long tail.
func (t *domainTable) pick(r *rand.Rand) int32 {
	if r.Float64() < t.headP {
		x := r.Float64() * t.headCum[len(t.headCum)-1]
		i := sort.SearchFloat64s(t.headCum, x)
		if i >= len(t.headIdx) {
			i = len(t.headIdx) - 1
		}
		return t.headIdx[i]
	}
	return int32(t.tailBase + int(t.zipf.Uint64()))
}

func (t *domainTable) pickHosted(r *rand.Rand) int32 {
	// A few hosted domains carry most of the mail.
	i := r.IntN(len(t.hosted))
	if r.IntN(2) == 0 {
		i = r.IntN(2)
	}
	return t.hosted[i]
}

var firstNames = []string{"anna", "ben", "clara", "david", "emma", "felix", "greta", "hans", "ines", "jonas",
	"karin", "lukas", "maria", "nina", "oliver", "paul", "rosa", "sven", "tom", "ute", "victor", "wendy",
	"james", "john", "mary", "linda", "michael", "sarah", "pierre", "sophie", "marco", "giulia", "jan", "eva",
	"li", "wei", "yuki", "raj", "priya", "ahmed", "fatima", "olga", "igor", "kim", "alex", "sam"}

var lastNames = []string{"smith", "mueller", "schmidt", "martin", "bernard", "rossi", "jansen", "garcia",
	"novak", "kowalski", "nielsen", "berg", "wagner", "becker", "dubois", "moreau", "bianchi", "devries",
	"lopez", "brown", "wilson", "taylor", "khan", "chen", "wang", "sato", "ivanov", "petrov", "horvat"}

var roleNames = []string{"info", "sales", "support", "office", "contact", "billing", "hr", "admin",
	"kontakt", "service", "hello", "team", "jobs", "press", "accounts", "orders"}

// localPart makes a mailbox name in one of the shapes people use.
func localPart(r *rand.Rand, b []byte) []byte {
	f := firstNames[r.IntN(len(firstNames))]
	l := lastNames[r.IntN(len(lastNames))]
	switch r.IntN(10) {
	case 0, 1, 2:
		b = append(b, f...)
		b = append(b, '.')
		b = append(b, l...)
	case 3:
		b = append(b, f[0])
		b = append(b, l...)
	case 4, 5:
		b = append(b, f...)
		b = append(b, l...)
		b = strconv.AppendInt(b, int64(r.IntN(99)), 10)
	case 6:
		b = append(b, roleNames[r.IntN(len(roleNames))]...)
	case 7:
		b = append(b, f...)
		b = append(b, '_')
		b = append(b, l...)
	case 8:
		b = append(b, l...)
		b = append(b, '.')
		b = append(b, f...)
	default:
		b = append(b, f...)
		b = strconv.AppendInt(b, int64(1950+r.IntN(60)), 10)
	}
	return b
}
