package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestOpenCreatesPrivateFile(t *testing.T) {
	db, path := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.AddDelivery(Delivery{Time: t0, Recipient: "a@example.com", Outcome: OutcomeDelivered}))
	})
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			if p != path && errors.Is(err, os.ErrNotExist) {
				continue
			}
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: mode %v, want no group/other access", filepath.Base(p), perm)
		}
	}
	var mode string
	if err := db.writer.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	// Declared, checked by foreign_key_check in the end-to-end tests, but
	// not enforced on the writer (see Open).
	var fk int
	if err := db.writer.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 0 {
		t.Errorf("foreign_keys = %d, %v; want 0 on the writer", fk, err)
	}
}

func TestReaderIsReadOnly(t *testing.T) {
	db, _ := openTest(t, Options{})
	if _, err := db.Reader().Exec(`INSERT INTO hosts (name) VALUES ('x')`); err == nil {
		t.Fatal("insert through the reader pool succeeded")
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	db, path := openTest(t, Options{})
	db.Close()
	for range 2 {
		db, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		n := count(t, db, `SELECT count(*) FROM schema_migrations`)
		v := count(t, db, `SELECT max(version) FROM schema_migrations`)
		db.Close()
		if n != migrationCount(t) || v != int64(SchemaVersion()) {
			t.Fatalf("schema_migrations: %d rows, max %d; want %d, %d", n, v, migrationCount(t), SchemaVersion())
		}
	}
}

func TestMigrateUpgradesInPlace(t *testing.T) {
	db, path := openTest(t, Options{})
	withBatch(t, db, func(b *Batch) {
		must[int64](t)(b.AddDelivery(Delivery{Time: t0, Recipient: "a@example.com", Outcome: OutcomeDelivered}))
	})
	// A later release adds a migration; the data written before stays.
	fsys := currentMigrations(t)
	next := SchemaVersion() + 1
	fsys[fmt.Sprintf("migrations/%04d_notes.sql", next)] = &fstest.MapFile{
		Data: []byte(`ALTER TABLE deliveries ADD COLUMN note TEXT; UPDATE deliveries SET note = 'old';`)}
	if err := migrate(context.Background(), db, fsys); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := migrate(context.Background(), db, fsys); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM deliveries WHERE note = 'old'`); n != 1 {
		t.Errorf("upgraded rows: %d, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM schema_migrations`); n != migrationCount(t)+1 {
		t.Errorf("schema_migrations rows: %d, want %d", n, migrationCount(t)+1)
	}
	// This binary, which does not know the new version, now refuses the
	// database.
	db.Close()
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open a newer database: %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	db, _ := openTest(t, Options{})
	fsys := currentMigrations(t)
	fsys[fmt.Sprintf("migrations/%04d_bad.sql", SchemaVersion()+1)] = &fstest.MapFile{
		Data: []byte(`CREATE TABLE half (x); SELECT * FROM no_such_table;`)}
	if err := migrate(context.Background(), db, fsys); err == nil {
		t.Fatal("bad migration applied")
	}
	if n := count(t, db, `SELECT count(*) FROM sqlite_master WHERE name = 'half'`); n != 0 {
		t.Error("a failed migration left a table behind")
	}
	if n := count(t, db, `SELECT max(version) FROM schema_migrations`); n != int64(SchemaVersion()) {
		t.Errorf("schema version %d after failed migration, want %d", n, SchemaVersion())
	}
}

func TestNewerSchemaError(t *testing.T) {
	db, path := openTest(t, Options{})
	newer := SchemaVersion() + 1
	if _, err := db.writer.Exec(`INSERT INTO schema_migrations VALUES (?, '2030-01-01T00:00:00Z')`, newer); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("got %v, want ErrSchemaTooNew", err)
	}
	want := fmt.Sprintf("database schema version %d is newer than this mailbounce (%d); upgrade mailbounce", newer, SchemaVersion())
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q\nwant it to contain %q and the path", err, want)
	}
}

// migrationCount is the number of embedded migrations (versions may have
// gaps).
func migrationCount(t *testing.T) int64 {
	t.Helper()
	ms, err := loadMigrations(migrationsFS)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(ms))
}

// currentMigrations is a copy of the embedded migrations, to add to.
func currentMigrations(t *testing.T) fstest.MapFS {
	t.Helper()
	names, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatal(names, err)
	}
	fsys := fstest.MapFS{}
	for _, name := range names {
		data, err := migrationsFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: data}
	}
	return fsys
}

// holdWriteLock opens its own connection to path and keeps a write
// transaction open until the test ends, as another process would.
func holdWriteLock(t *testing.T, path string) {
	t.Helper()
	other, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate&_busy_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS lock_holder (x)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(); other.Close() })
}

func checkLocked(t *testing.T, err error, path string, elapsed, timeout time.Duration) {
	t.Helper()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
	want := "database " + path + " is locked: another process has held a write transaction for longer than " + timeout.String()
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\nwant it to contain %q", err, want)
	}
	if elapsed < timeout {
		t.Errorf("failed after %v, before the busy timeout %v", elapsed, timeout)
	}
}

func TestLockedAtBegin(t *testing.T) {
	const timeout = 150 * time.Millisecond
	db, path := openTest(t, Options{BusyTimeout: timeout})
	holdWriteLock(t, path)
	start := time.Now()
	_, err := db.Begin(context.Background())
	checkLocked(t, err, path, time.Since(start), timeout)
	// The failed Begin must not leave the writer stuck.
	if _, err := db.Begin(context.Background()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Begin: %v", err)
	}
}

func TestLockedAtOpen(t *testing.T) {
	const timeout = 150 * time.Millisecond
	path := filepath.Join(t.TempDir(), "mailbounce.db")
	holdWriteLock(t, path) // a new database, still being created by another process
	start := time.Now()
	_, err := Open(context.Background(), path, Options{BusyTimeout: timeout})
	checkLocked(t, err, path, time.Since(start), timeout)
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "dir", "mailbounce.db")
	_, err := Open(context.Background(), missing, Options{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "mkdir -p") {
		t.Errorf("missing directory: %v", err)
	}

	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("this is not a database, it is a long enough text file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), text, Options{})
	if !errors.Is(err, ErrNotDatabase) || !strings.Contains(err.Error(), text) {
		t.Errorf("text file: %v", err)
	}

	other := filepath.Join(dir, "other.db")
	odb, err := sql.Open("sqlite3", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := odb.Exec(`CREATE TABLE accounts (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	odb.Close()
	_, err = Open(context.Background(), other, Options{})
	if err == nil || !strings.Contains(err.Error(), "not mailbounce's") {
		t.Errorf("foreign SQLite database: %v", err)
	}

	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		_, err = Open(context.Background(), filepath.Join(ro, "mailbounce.db"), Options{})
		if err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("unwritable directory: %v", err)
		}
	}
}

func TestPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd?name#50%.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM schema_migrations`); n == 0 {
		t.Error("reader pool opened another file")
	}
}

// A bulk load sets the report-only indexes aside and creates them again;
// one that was interrupted leaves them to the next Open, whatever opens
// the database (a report, tail), and reports read the same either way.
func TestDeferIndexes(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t, Options{KeepDeferredIndexes: true})
	indexes := func() int64 {
		return count(t, db, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN
			('deliveries_domain_outcome', 'deliveries_deferred', 'deliveries_time', 'rejects_time', 'deliveries_remote_id')`)
	}
	if n := indexes(); n != 5 {
		t.Fatalf("%d of the bulk indexes at start, want 5", n)
	}
	if n, err := db.DeferIndexes(ctx); err != nil || n != 5 {
		t.Fatalf("DeferIndexes: %d, %v; want 5 dropped", n, err)
	}
	if n, err := db.DeferIndexes(ctx); err != nil || n != 0 {
		t.Fatalf("DeferIndexes again: %d, %v; want 0", n, err)
	}
	if n := indexes(); n != 0 {
		t.Fatalf("%d bulk indexes left after DeferIndexes", n)
	}
	// The rows still go in, and the rollups with them.
	withBatch(t, db, func(b *Batch) {
		ref := must[int64](t)(b.ReserveMessageID())
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Time: t0, Recipient: "a@example.com", Outcome: OutcomeDeferred}))
		must[int64](t)(b.AddDelivery(Delivery{MessageRef: ref, Time: t0.Add(time.Hour), Recipient: "a@example.com", Outcome: OutcomeDelivered, Final: true}))
		if err := b.AddReject(Reject{Time: t0, Recipient: "b@example.org", Reason: "user_unknown"}); err != nil {
			t.Fatal(err)
		}
	})
	// Interrupted here: a process that opens the database with the default
	// options creates them again, before anything else.
	db.Close()
	db2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	db = db2
	if n := indexes(); n != 5 {
		t.Fatalf("%d of the bulk indexes after reopening, want 5", n)
	}
	if n := count(t, db, `SELECT count(*) FROM deferred_indexes`); n != 0 {
		t.Errorf("%d rows left in deferred_indexes", n)
	}
	if n := count(t, db, `SELECT count(*) FROM deliveries INDEXED BY deliveries_domain_outcome WHERE domain_id > 0`); n != 2 {
		t.Errorf("%d rows through the restored index, want 2", n)
	}
	var check string
	if err := db.Reader().QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q, %v", check, err)
	}
	if err := db.VerifyRollup(ctx); err != nil {
		t.Error(err)
	}
	// Deferred and restored by the same process, as an ingest does.
	if _, err := db.DeferIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.RestoreIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if n := indexes(); n != 5 {
		t.Fatalf("%d of the bulk indexes after RestoreIndexes, want 5", n)
	}
	if n, err := db.StoredDeliveries(ctx); err != nil || n != 2 {
		t.Errorf("StoredDeliveries: %d, %v; want 2", n, err)
	}
}

// An internationalised domain is one domain whether a client wrote its
// Unicode form or its ASCII form (a real Postfix 3.7 with
// smtputf8_enable=yes logged both, as submitted).
func TestAddressDomainIDN(t *testing.T) {
	for in, want := range map[string]string{
		"ok-g1-1@exämple.example":        "exämple.example",
		"ok-g3-1@xn--exmple-cua.example": "exämple.example",
		"ok-g3-2@XN--EXMPLE-CUA.Example": "exämple.example",
		"ok-g3-3@Exämple.Example":        "exämple.example",
		"a@Example.ORG":                  "example.org",
		"a@xn--.example":                 "xn--.example", // not valid punycode: kept
		"no-domain":                      "",
	} {
		if got := AddressDomain(in); got != want {
			t.Errorf("AddressDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
