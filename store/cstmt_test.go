package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestCStmtValues: every value type the writer binds from C reads back as
// database/sql would have stored it; "" stays text (not NULL).
func TestCStmtValues(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx := context.Background()
	b, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Rollback()
	if _, err := b.txn().Exec(`CREATE TEMP TABLE vals (k INTEGER PRIMARY KEY, v)`); err != nil {
		t.Fatal(err)
	}
	st, err := prepareC(db.cHandle, `INSERT INTO vals (v) VALUES (?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	cases := []struct {
		in       any
		typ      string
		asString string
	}{
		{nil, "null", ""},
		{true, "integer", "1"},
		{false, "integer", "0"},
		{7, "integer", "7"},
		{int64(math.MinInt64), "integer", "-9223372036854775808"},
		{2.5, "real", "2.5"},
		{"", "text", ""},
		{"naïve\x00zero", "text", "naïve\x00zero"},
		{[]byte{}, "blob", ""},
		{[]byte(nil), "null", ""},
		{[]byte{0, 1, 2}, "blob", "\x00\x01\x02"},
		// Longer than the bound values so far: the arena grows.
		{strings.Repeat("long reply ", 20000), "text", strings.Repeat("long reply ", 20000)},
		{"short again", "text", "short again"},
	}
	for _, c := range cases {
		id, err := st.exec(c.in)
		if err != nil {
			t.Fatalf("exec(%#v): %v", c.in, err)
		}
		var typ string
		var v sql.NullString
		if err := b.txn().QueryRow(`SELECT typeof(v), CAST(v AS BLOB) FROM vals WHERE k = ?`, id).Scan(&typ, &v); err != nil {
			t.Fatal(err)
		}
		if typ != c.typ || v.String != c.asString {
			t.Errorf("exec(%#v) stored %s %q, want %s %q", c.in, typ, v.String, c.typ, c.asString)
		}
	}
	// Several values in one row, text among them, keep their places.
	multi, err := prepareC(db.cHandle, `INSERT INTO vals (v) VALUES (? || '/' || ? || '/' || ?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer multi.close()
	id, err := multi.exec("a", 12, "bcd")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := b.txn().QueryRow(`SELECT v FROM vals WHERE k = ?`, id).Scan(&got); err != nil || got != "a/12/bcd" {
		t.Errorf("three values: %q, %v", got, err)
	}
	if _, err := st.exec(struct{}{}); err == nil {
		t.Error("exec accepted a struct")
	}
}

// TestCStmtErrors: a failing statement gives the driver's error type, which
// wrapErr turns into its messages, and the statement is usable after it.
func TestCStmtErrors(t *testing.T) {
	db, _ := openTest(t, Options{})
	b, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Rollback()
	if _, err := b.txn().Exec(`CREATE TEMP TABLE u (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	st, err := prepareC(db.cHandle, `INSERT INTO u (k) VALUES (?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if _, err := st.exec("x"); err != nil {
		t.Fatal(err)
	}
	_, err = st.exec("x")
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrConstraint {
		t.Fatalf("duplicate key: %v (%T), want a sqlite3.Error with ErrConstraint", err, err)
	}
	if _, err := st.exec("y"); err != nil {
		t.Errorf("after an error: %v", err)
	}
	if _, err := prepareC(db.cHandle, `INSERT INTO nowhere VALUES (?)`); err == nil {
		t.Error("prepare of a missing table succeeded")
	}
}
