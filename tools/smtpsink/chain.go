package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The two-server chain (scripts/mta/chain.sh): an edge Postfix relays every
// message to an Exim hub, which delivers to the sink and to its local
// mailboxes. The per-domain truth is the same as for one MTA (expected.json);
// this file adds what a test of stitching needs, still without reading any
// MTA log: each message's Message-ID (fixed in the plan), the queue ids the
// message headers carried when the message reached the sink or a mailbox
// (Received: ... by HOST ... id ID), where each recipient's fate was decided,
// and the per-domain counts the hub's log alone must show.

// ChainRecipient is one planned recipient of a chain message.
type ChainRecipient struct {
	Rcpt      string  `json:"rcpt"`
	Domain    string  `json:"domain"`
	Outcome   Outcome `json:"outcome"`
	Deferrals *int    `json:"deferrals,omitempty"`
	// DecidedAt is "hub" when the hub's log shows the final fate, "edge"
	// when the edge decided it (the hub refused the recipient at RCPT).
	DecidedAt string `json:"decided_at"`
}

// ChainMessage is one planned message and its identifiers.
type ChainMessage struct {
	ID        string `json:"id"`
	MessageID string `json:"message_id"`
	Via       string `json:"via"`
	From      string `json:"from"`
	// EdgeIDs are the edge's queue ids, oldest first (two for the
	// content-filter path: before and after the filter); HubID is the hub's
	// Exim id. Both are read from the Received headers of the copies that
	// reached the sink or the hub's mbtest mailbox, and of the original
	// headers that bounce messages (in the hub's dsnbox mailbox) quote.
	// Empty when none of these shows them.
	EdgeIDs []string `json:"edge_ids,omitempty"`
	HubID   string   `json:"hub_id,omitempty"`
	// IDsFrom says where the ids were read: "sink" (journal), "mbtest"
	// (local delivery at the hub), "dsn" (a bounce quoting the message).
	IDsFrom    []string         `json:"ids_from,omitempty"`
	Recipients []ChainRecipient `json:"recipients"`
}

// ChainTruth is chain.json.
type ChainTruth struct {
	EdgeHost string `json:"edge_host"`
	HubHost  string `json:"hub_host"`
	// EdgeDecided counts, per domain, the recipients whose fate the edge
	// decided; the hub's log does not show them as deliveries.
	EdgeDecided map[string]map[string]int `json:"edge_decided"`
	Messages    []ChainMessage            `json:"messages"`
}

// mboxHeaderBlocks returns the header lines of every message of an mbox;
// with quoted, also every header block quoted in a message's body (a
// bounce's copy of the original headers: a run of lines that starts with
// Return-path: or Received: and ends at an empty line).
func mboxHeaderBlocks(path string, quoted bool) ([][]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open mailbox: %w", err)
	}
	defer f.Close()
	var out [][]string
	inHeader, inMessage := false, false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		lower := strings.ToLower(l)
		switch {
		case strings.HasPrefix(l, "From "):
			out = append(out, nil)
			inHeader, inMessage = true, true
		case l == "":
			inHeader = false
		case inHeader:
			out[len(out)-1] = append(out[len(out)-1], l)
		case quoted && inMessage && (strings.HasPrefix(lower, "return-path:") || strings.HasPrefix(lower, "received:")):
			out = append(out, []string{l})
			inHeader = true
		}
	}
	return out, sc.Err()
}

// edgeDecided reports whether the edge, not the hub, decides a recipient's
// fate: the hub verifies its local domains at RCPT, so an unknown local user
// is refused there and bounced by the edge.
func edgeDecided(t RecipientTruth) bool {
	d, _ := domainByName(t.Domain)
	return d.Profile == ProfileLocal && t.Outcome == OutcomeBounced
}

// computeChain builds chain.json and the hub-only expectation from the plan,
// the truths of computeExpected, the journal and the hub's mbtest mailbox.
func computeChain(plan []PlannedMessage, journal []JournalEntry, truths []RecipientTruth, exp expectation,
	mboxDir, edgeHost, hubHost string, warn io.Writer) (ChainTruth, expectation, error) {
	// Every copy of a message names the edge ids (oldest first) and, once
	// it reached the hub, the hub id. Copies must agree: a copy may lack
	// the hub (the edge's own bounce quotes the edge's headers only).
	type seen struct {
		edge  map[string]bool // edge ids joined by " "
		hub   map[string]bool
		from  map[string]bool
		chain []string // the longest edge list
	}
	byMsgID := map[string]*seen{}
	add := func(msgID string, received []string, from string) {
		if msgID == "" {
			return
		}
		s := byMsgID[msgID]
		if s == nil {
			s = &seen{edge: map[string]bool{}, hub: map[string]bool{}, from: map[string]bool{}}
			byMsgID[msgID] = s
		}
		s.from[from] = true
		var edge []string
		for _, hop := range received {
			host, id, _ := strings.Cut(hop, " ")
			switch host {
			case hubHost:
				s.hub[id] = true
			case edgeHost:
				edge = append([]string{id}, edge...) // headers are newest first
			}
		}
		if len(edge) > 0 {
			s.edge[strings.Join(edge, " ")] = true
			if len(edge) > len(s.chain) {
				s.chain = edge
			}
		}
	}
	for _, e := range journal {
		if e.Stage == "data" && e.MessageID != "" {
			add(e.MessageID, e.Received, "sink")
		}
	}
	for _, box := range []struct {
		name, from string
		quoted     bool
	}{{"mbtest", "mbtest", false}, {"dsnbox", "dsn", true}} {
		blocks, err := mboxHeaderBlocks(filepath.Join(mboxDir, box.name), box.quoted)
		if err != nil {
			return ChainTruth{}, expectation{}, err
		}
		for _, b := range blocks {
			id, rec := headerIDs(b)
			add(id, rec, box.from)
		}
	}

	truthOf := map[string]RecipientTruth{}
	for _, t := range truths {
		truthOf[t.Rcpt] = t
	}
	ct := ChainTruth{EdgeHost: edgeHost, HubHost: hubHost, EdgeDecided: map[string]map[string]int{}}
	hub := expectation{Domains: map[string]map[string]int{}}
	for d, c := range exp.Domains {
		hub.Domains[d] = map[string]int{}
		for k, v := range c {
			hub.Domains[d][k] = v
		}
	}
	for _, m := range plan {
		if m.MessageID == "" {
			return ChainTruth{}, expectation{}, fmt.Errorf("plan %s has no message_id (plan -msgid-domain)", m.ID)
		}
		cm := ChainMessage{ID: m.ID, MessageID: m.MessageID, Via: m.Via, From: m.From}
		if s := byMsgID[m.MessageID]; s != nil {
			if len(s.edge) > 1 || len(s.hub) > 1 {
				fmt.Fprintf(warn, "warning: copies of %s disagree: edge %v, hub %v\n", m.ID, s.edge, s.hub)
			}
			for k := range s.from {
				cm.IDsFrom = append(cm.IDsFrom, k)
			}
			sort.Strings(cm.IDsFrom)
			cm.EdgeIDs = s.chain
			for id := range s.hub {
				cm.HubID = id
			}
			want := 1
			if m.Via == "smtp-filter" {
				want = 2
			}
			if len(cm.EdgeIDs) != want || (cm.HubID == "" && !edgeOnly(m, truthOf)) {
				fmt.Fprintf(warn, "warning: %s (via %s) carried %d edge ids and hub id %q\n", m.ID, m.Via, len(cm.EdgeIDs), cm.HubID)
			}
		}
		for _, rc := range m.Rcpts {
			t := truthOf[strings.ToLower(rc)]
			r := ChainRecipient{Rcpt: t.Rcpt, Domain: t.Domain, Outcome: t.Outcome, Deferrals: t.Deferrals, DecidedAt: "hub"}
			if edgeDecided(t) {
				r.DecidedAt = "edge"
				c := ct.EdgeDecided[t.Domain]
				if c == nil {
					c = map[string]int{}
					ct.EdgeDecided[t.Domain] = c
				}
				c["recipients"]++
				c[string(t.Outcome)]++
				h := hub.Domains[t.Domain]
				h["recipients"]--
				h[string(t.Outcome)]--
				if t.Deferrals != nil && *t.Deferrals > 0 {
					h["deferred"] -= *t.Deferrals
					h["deferred_recipients"]--
				}
			}
			cm.Recipients = append(cm.Recipients, r)
		}
		ct.Messages = append(ct.Messages, cm)
	}
	return ct, hub, nil
}

// edgeOnly reports whether no recipient of the message got past the edge.
func edgeOnly(m PlannedMessage, truthOf map[string]RecipientTruth) bool {
	for _, rc := range m.Rcpts {
		if !edgeDecided(truthOf[strings.ToLower(rc)]) {
			return false
		}
	}
	return true
}
