package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chainPlan is testdata/mta/chain/chain.json: what the harness injected
// into the edge Postfix, which relayed it to the hub Exim, and the truth
// per recipient, from the sink's journal (scripts/mta/README.md). The
// queue IDs come from the Received: headers of the copies the harness can
// read (at the sink, in the hub's local mailbox, quoted in bounces), never
// from the logs under test.
type chainPlan struct {
	EdgeDecided map[string]counts `json:"edge_decided"`
	Messages    []struct {
		ID         string   `json:"id"`
		MessageID  string   `json:"message_id"`
		Via        string   `json:"via"`
		EdgeIDs    []string `json:"edge_ids"`
		HubID      string   `json:"hub_id"`
		Recipients []struct {
			Rcpt      string `json:"rcpt"`
			Outcome   string `json:"outcome"`
			DecidedAt string `json:"decided_at"`
		} `json:"recipients"`
	} `json:"messages"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func ingestInto(t *testing.T, db string, args ...string) {
	t.Helper()
	if _, stderr, status := mailbounce(t, append([]string{"ingest", "-q", "--db", db}, args...)...); status != 0 {
		t.Fatalf("ingest %v: exit %d: %s", args, status, stderr)
	}
}

// TestChainCountsOnce: the logs of two real servers in a chain on loopback
// (an edge Postfix relaying everything to a hub Exim). A message that
// crossed both counts once, where its fate was decided, whichever log is
// ingested first; and adding the edge's log to the hub's changes nothing
// but the recipients that only the edge decided.
func TestChainCountsOnce(t *testing.T) {
	dir := filepath.Join("testdata", "mta", "chain")
	edge, hub := filepath.Join(dir, "maillog"), filepath.Join(dir, "mainlog")
	var want, wantHub struct {
		Domains map[string]counts `json:"domains"`
	}
	readJSON(t, filepath.Join(dir, "expected.json"), &want)
	readJSON(t, filepath.Join(dir, "expected-hub.json"), &wantHub)

	hubOnly := filepath.Join(t.TempDir(), "hub.db")
	ingestInto(t, hubOnly, "--host", "hub", hub)
	compareCounts(t, wantHub.Domains, summary(t, hubOnly))

	for _, c := range []struct {
		name  string
		steps [][]string
	}{
		{"edge then hub", [][]string{{edge}, {"--host", "hub", hub}}},
		{"hub then edge", [][]string{{"--host", "hub", hub}, {edge}}},
		{"one run", [][]string{{edge, hub}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "chain.db")
			for _, args := range c.steps {
				ingestInto(t, db, args...)
			}
			got := summary(t, db)
			compareCounts(t, want.Domains, got)
			foreignKeysHold(t, db)
			// Only what the edge alone decided is new beside the hub's.
			var plan chainPlan
			readJSON(t, filepath.Join(dir, "chain.json"), &plan)
			hubGot := summary(t, hubOnly)
			for d, g := range got {
				for k, n := range g {
					if extra := n - hubGot[d][k] - plan.EdgeDecided[d][k]; extra != 0 {
						t.Errorf("%s: %s = %d with the edge's log, %d from the hub's alone, %d decided at the edge",
							d, k, n, hubGot[d][k], plan.EdgeDecided[d][k])
					}
				}
			}
		})
	}
}

// TestChainTrace: every message of the chain traced end to end, by its
// Message-ID and by the hub's ID that the edge logged: the path names
// every queue it crossed, and each recipient ends in its true outcome.
func TestChainTrace(t *testing.T) {
	dir := filepath.Join("testdata", "mta", "chain")
	var plan chainPlan
	readJSON(t, filepath.Join(dir, "chain.json"), &plan)
	if len(plan.Messages) < 100 {
		t.Fatalf("%d messages in the chain plan", len(plan.Messages))
	}
	db := filepath.Join(t.TempDir(), "chain.db")
	ingestInto(t, db, "--host", "hub", filepath.Join(dir, "mainlog"))
	ingestInto(t, db, filepath.Join(dir, "maillog"))

	for _, m := range plan.Messages {
		queries := []string{m.MessageID}
		if m.HubID != "" {
			queries = append(queries, m.HubID)
		}
		for _, q := range queries {
			out, stderr, status := mailbounce(t, "trace", "--db", db, "--format", "json", q)
			if status != 0 {
				t.Errorf("%s: trace %s: exit %d: %s", m.ID, q, status, stderr)
				continue
			}
			var tr trace
			if err := json.Unmarshal([]byte(out), &tr); err != nil {
				t.Fatalf("%s: trace %s: %v", m.ID, q, err)
			}
			// The path: edge queue IDs in order, then the hub's.
			legs := append([]string(nil), m.EdgeIDs...)
			if m.HubID != "" {
				legs = append(legs, m.HubID)
			}
			// Bounce notices the edge relayed to the hub have paths of
			// their own in the trace.
			hops := make(map[string]bool)
			for _, h := range tr.Path {
				hops[h.FromQueueID+" -> "+h.ToQueueID] = true
			}
			for i := 1; i < len(legs); i++ {
				if h := legs[i-1] + " -> " + legs[i]; !hops[h] {
					t.Errorf("%s: trace %s: no hop %s in the path %v", m.ID, q, h, tr.Path)
				}
			}
			// Each recipient's outcome on its last leg.
			last := legs[len(legs)-1]
			for _, r := range m.Recipients {
				var got []string
				for _, o := range tr.Outcomes {
					if strings.EqualFold(o.Recipient, r.Rcpt) && o.QueueID != "" {
						got = append(got, o.QueueID+":"+o.Outcome)
					}
				}
				decidedAt := last
				if r.DecidedAt == "edge" {
					decidedAt = m.EdgeIDs[len(m.EdgeIDs)-1]
				}
				if !contains(got, decidedAt+":"+r.Outcome) {
					t.Errorf("%s: trace %s: %s: outcomes %v, want %s:%s", m.ID, q, r.Rcpt, got, decidedAt, r.Outcome)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
