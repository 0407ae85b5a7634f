package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestUpgradeFromV2 opens a database that the first release wrote (schema
// version 2, the two legs of every message of the chain unlinked) with
// this mailbounce: the report that upgrades it already counts each
// message once, and ingesting the same logs again adds nothing.
func TestUpgradeFromV2(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "upgrade", "chain-v2.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "mta", "chain")
	var want struct {
		Domains map[string]counts `json:"domains"`
	}
	readJSON(t, filepath.Join(dir, "expected.json"), &want)

	out, stderr, status := mailbounce(t, "report", "--db", db, "--format", "json")
	if status != 0 {
		t.Fatalf("report on the old database: exit %d: %s", status, stderr)
	}
	var rep struct {
		Domains []map[string]any `json:"domains"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]counts{}
	for _, d := range rep.Domains {
		c := counts{}
		for _, k := range []string{"recipients", "delivered", "deferred", "deferred_recipients", "bounced", "expired"} {
			c[k] = int64(d[k].(float64))
		}
		got[d["domain"].(string)] = c
	}
	compareCounts(t, want.Domains, got)

	ingestInto(t, db, filepath.Join(dir, "maillog"))
	ingestInto(t, db, "--host", "hub", filepath.Join(dir, "mainlog"))
	compareCounts(t, want.Domains, summary(t, db))
	foreignKeysHold(t, db)
}
