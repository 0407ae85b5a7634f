package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Errors a caller may branch on. The errors returned wrap them with the file
// name and the fix.
var (
	// ErrLocked: another process held the write lock for longer than
	// Options.BusyTimeout.
	ErrLocked = errors.New("database is locked")
	// ErrSchemaTooNew: the database was written by a newer mailbounce.
	ErrSchemaTooNew = errors.New("database schema is newer than this program")
	// ErrNotDatabase: the file exists but is not an SQLite database.
	ErrNotDatabase = errors.New("not an SQLite database")
)

// DefaultBusyTimeout is how long a writer waits for another one to finish.
// Ten seconds outlasts any batch commit of a concurrent ingest, yet a user who
// started a second ingest by mistake hears about it quickly.
const DefaultBusyTimeout = 10 * time.Second

// DefaultMaxSamples is how many unknown lines are kept per program.
const DefaultMaxSamples = 20

// Options tune Open. The zero value is usable.
type Options struct {
	// BusyTimeout is how long to wait for a lock held by another process
	// before failing with ErrLocked. Zero means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// MaxSamples is how many unknown lines to keep per program. Zero means
	// DefaultMaxSamples; negative keeps none.
	MaxSamples int
	// ReaderConns caps the read-only pool. Zero means 4.
	ReaderConns int
	// KeepDeferredIndexes leaves the indexes that an interrupted bulk load
	// set aside (DeferIndexes) for the caller to restore or defer again;
	// by default Open creates them again before anything else. Set by an
	// ingest that may load in bulk itself.
	KeepDeferredIndexes bool
}

// DB is an open mailbounce database: one writer connection and a read-only
// pool. Its methods are safe for concurrent use, but only one Batch is open
// at a time: Begin waits for the previous batch to end.
type DB struct {
	path   string
	opts   Options
	writer *sql.DB
	reader *sql.DB

	// Statements are prepared once on the single writer connection and
	// reused by every batch (Tx.Stmt on the same connection costs nothing).
	stmts writerStmts
	// cstmts are the writer's hottest statements, prepared in C (cstmt.go)
	// on the connection cHandle; Begin prepares them again if database/sql
	// ever gives the writer a new connection.
	cstmts  cStmts
	cHandle int64
	// ckpt checkpoints the WAL after the writer's commits (checkpoint.go);
	// nil until the first.
	ckpt *checkpointer

	// batchMu serialises batches; the dictionary caches and sample counts
	// below belong to whoever holds it.
	batchMu sync.Mutex
	// nextMessageID is the id the next reserved message gets; 0 means not
	// loaded yet.
	nextMessageID int64
	hosts         *dictionary
	domains       *dictionary
	relays        *dictionary
	samples       map[string]int // unknown samples stored per program, once looked up
	// seen remembers the attempts of recent messages for the rollups
	// (rollup.go). Messages with ids from newFrom on were reserved by this
	// process, so their attempts are all known here unless forgotten: ids
	// below seenFloor, and those marked in seenMem, were. 0 newFrom: none
	// reserved yet.
	seen      map[int64]*seenMessage
	seenFloor int64
	newFrom   int64
	seenMem   seenMemory
	// stitchDeferred: a bulk load runs without deliveries_remote_id, which
	// stitching reads, so its batches leave the stitching (whose state is
	// in the database) to the one that ends it (RestoreIndexes).
	stitchDeferred bool
	// bloomSet: the writer connection may hold a filter of queue IDs
	// (stitch.go), which its stitches consult until it is emptied.
	bloomSet bool
	// migrated: Open applied a migration; what it added may want stitching
	// (version 5 matches every attempt stored before it).
	migrated bool
}

// writerCacheKiB is the writer's page cache. More made ingest of large
// logs faster, but peak RSS grows by about one and a half times what is
// added here, and ingest must stay under 150 MB whatever the input size.
const writerCacheKiB = 32 << 10

// sqliteHeader starts every SQLite 3 database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// Open opens the database at path, creating it (mode 0600: it holds e-mail
// addresses) if it does not exist, and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.MaxSamples == 0 {
		opts.MaxSamples = DefaultMaxSamples
	}
	if opts.ReaderConns <= 0 {
		opts.ReaderConns = 4
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Each pooled connection to :memory: would be a separate database,
		// and a URI would bypass the file checks below.
		return nil, fmt.Errorf("open database %q: need a file path", path)
	}
	if err := createFile(path); err != nil {
		return nil, err
	}

	db := &DB{path: path, opts: opts}
	ms := opts.BusyTimeout.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	// Pragmas go in the DSN so that every connection the pool (re)opens gets
	// them. _txlock=immediate takes the write lock at BEGIN: a deferred
	// transaction that later upgrades to a writer can fail with SQLITE_BUSY
	// without waiting at all, whereas BEGIN IMMEDIATE honours busy_timeout.
	//
	// Foreign keys are declared (they document the schema, and
	// `PRAGMA foreign_key_check` verifies them; the end-to-end tests do) but
	// not enforced on the writer: this package is the only writer, and with
	// enforcement every new domain, relay or host made SQLite scan the child
	// tables that have no index on the referring column. Ingest ran 10 times
	// slower with deferred checks, a third slower with immediate ones.
	//
	// CHECK constraints are not checked on the writer either
	// (_ignore_check_constraints): SQLite built a temporary B-tree for
	// deliveries' `outcome IN (...)` on every insert, a tenth of a large
	// ingest's time. The writer checks those values itself (validOutcome,
	// messageRow).
	var err error
	// SQLite waits for another writer's lock in slices of lockSlice
	// (busy_timeout), and beginWriter waits slice after slice, up to
	// BusyTimeout: SQLite's own wait does not see a signal, so a long
	// one held Ctrl-C up for as long.
	db.writer, err = sql.Open("sqlite3", fmt.Sprintf(
		"file:%s?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=%d&_foreign_keys=off&_ignore_check_constraints=1&_mutex=no&_cache_size=-%d&_txlock=immediate",
		uriPath(path), min(ms, lockSlice.Milliseconds()), writerCacheKiB))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.writer.SetMaxOpenConns(1)
	// Keep the one connection forever: it holds the prepared statements and
	// the page cache.
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)

	if err := db.connect(ctx); err != nil {
		db.writer.Close()
		return nil, err
	}
	restored := false
	if !opts.KeepDeferredIndexes {
		// Before the migrations: a later one may refer to these indexes.
		if restored, err = db.restoreIndexes(ctx); err != nil {
			db.closeWriter()
			return nil, err
		}
	}
	if err := migrate(ctx, db, migrationsFS); err != nil {
		db.closeWriter()
		return nil, err
	}
	// SQLite creates -wal and -shm with the database's own mode, but a umask
	// or an older file may differ; they hold the same addresses.
	if err := chmodSidecars(path); err != nil {
		db.closeWriter()
		return nil, err
	}

	db.reader, err = sql.Open("sqlite3", fmt.Sprintf(
		"file:%s?mode=ro&_busy_timeout=%d&_foreign_keys=on&_cache_size=-16384",
		uriPath(path), ms))
	if err != nil {
		db.closeWriter()
		return nil, fmt.Errorf("open database %s read-only: %w", path, err)
	}
	db.reader.SetMaxOpenConns(opts.ReaderConns)

	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.resetCaches()
	pending := false
	if !restored && !opts.KeepDeferredIndexes {
		if pending, err = db.stitchPending(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	if restored || pending || db.migrated && !opts.KeepDeferredIndexes {
		// The interrupted bulk load left its stitching undone too, as
		// does one interrupted while it stitched; and a database from
		// before stitching is stitched now, so that the report that
		// upgraded it counts each message once already (an ingest
		// stitches at each commit, or at the end of a bulk load).
		if err := db.stitchNow(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// connect opens the writer connection, which switches the file to WAL. On a
// database that another process holds in rollback-journal mode (a new file
// it is still creating) that switch fails with SQLITE_BUSY at once: SQLite
// skips the busy handler where waiting could deadlock. So wait here, as
// busy_timeout would elsewhere.
func (db *DB) connect(ctx context.Context) error {
	deadline := time.Now().Add(db.opts.BusyTimeout)
	pause := 5 * time.Millisecond
	for {
		err := db.wrapErr("open database", db.writer.PingContext(ctx))
		if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// lockSlice is how long SQLite waits for another writer's lock at a time.
const lockSlice = 250 * time.Millisecond

// beginWriter begins a transaction on the writer connection (BEGIN
// IMMEDIATE: it takes the write lock), waiting for another process's lock
// up to Options.BusyTimeout, a slice at a time, and no longer once ctx is
// done.
func (db *DB) beginWriter(ctx context.Context) (*sql.Tx, error) {
	deadline := time.Now().Add(db.opts.BusyTimeout)
	for {
		tx, err := db.writer.BeginTx(ctx, nil)
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || (se.Code != sqlite3.ErrBusy && se.Code != sqlite3.ErrLocked) ||
			!time.Now().Before(deadline) {
			return tx, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// createFile makes sure path is a regular file that is, or can become, an
// SQLite database, and gives the clear errors SQLite itself would not.
func createFile(path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("open database %s: directory %s does not exist; create it first (mkdir -p %s) or choose another path", path, dir, dir)
		}
		return fmt.Errorf("open database %s: %w", path, err)
	} else if !st.IsDir() {
		return fmt.Errorf("open database %s: %s is not a directory", path, dir)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			if created {
				return fmt.Errorf("create database %s: permission denied: directory %s is not writable by this user; choose another path or fix its permissions", path, dir)
			}
			return fmt.Errorf("open database %s: permission denied: the file is not writable by this user; run as its owner or fix its permissions", path)
		}
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer f.Close()
	if created {
		// O_CREATE's mode is filtered by the umask; a umask like 0277
		// would leave us unable to write our own file.
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("create database %s: %w", path, err)
		}
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("open database %s: not a regular file", path)
	}
	if st.Size() == 0 {
		return nil // new, or created by someone else and never written
	}
	head := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteHeader) {
		return fmt.Errorf("open database %s: %w; is this the right file?", path, ErrNotDatabase)
	}
	return nil
}

func chmodSidecars(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		side := path + suffix
		sst, err := os.Stat(side)
		if err != nil || sst.Mode().Perm()&^st.Mode().Perm() == 0 {
			continue // absent, or no looser than the database
		}
		if err := os.Chmod(side, sst.Mode().Perm()&st.Mode().Perm()); err != nil {
			return fmt.Errorf("open database %s: restrict %s: %w", path, side, err)
		}
	}
	return nil
}

// uriPath escapes the characters that have a meaning in an SQLite URI
// filename (and '?', which the driver splits the DSN at).
func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// wrapErr turns SQLite's terse codes into errors that name the file and say
// what to do.
func (db *DB) wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return fmt.Errorf("%s: database %s is locked: another process has held a write transaction for longer than %s (a mailbounce creating its indexes at the end of a large ingest, or an sqlite3 shell with a transaction open?); what was committed is kept: run the same command again when it is done, or give --lock-timeout a longer wait: %w",
				op, db.path, db.opts.BusyTimeout, ErrLocked)
		case sqlite3.ErrNotADB:
			return fmt.Errorf("%s: %s: %w; is this the right file?", op, db.path, ErrNotDatabase)
		case sqlite3.ErrFull:
			return fmt.Errorf("%s: the disk that holds database %s (or its -wal file) is full; what was committed is kept, make room and run again: %w", op, db.path, err)
		case sqlite3.ErrReadonly, sqlite3.ErrCantOpen, sqlite3.ErrPerm:
			return fmt.Errorf("%s: database %s (or its -wal/-shm files, or its directory) is not writable by this user: %w", op, db.path, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Reader is the read-only connection pool, for queries this package does not
// provide. It never blocks the writer.
func (db *DB) Reader() *sql.DB { return db.reader }

// Close closes both pools. An open Batch must be ended first.
// closeWriter closes the writer and its checkpointer, for Open's errors.
func (db *DB) closeWriter() {
	if db.ckpt != nil {
		db.ckpt.close()
	}
	db.writer.Close()
}

func (db *DB) Close() error {
	var errs []error
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	db.stmts.close()
	db.cstmts.close()
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	return errors.Join(errs...)
}

func (db *DB) resetCaches() {
	db.hosts = newDictionary("hosts", "host")
	db.domains = newDictionary("domains", "domain")
	db.relays = newDictionary("relays", "relay")
	db.samples = make(map[string]int)
	db.seen = make(map[int64]*seenMessage)
}

// bulkIndexes are the indexes a bulk load sets aside (DeferIndexes): only
// reports read them, never the writer, and all but the time indexes take
// their rows in random order (by domain), a B-tree seek and often a page
// split per row once they outgrow the page cache. The indexes the writer
// itself reads stay: deliveries_message (pending recipients, the rollups'
// memory of a message) and messages_queue (finding a message by queue ID).
// deliveries_remote_id is set aside too, though stitching reads it: the
// batches of a bulk load do not stitch, and the end of the load stitches
// every attempt and message it stored at once, with the index back.
var bulkIndexes = []string{"deliveries_domain_outcome", "deliveries_deferred", "deliveries_time", "rejects_time", "deliveries_remote_id"}

// DeferIndexes drops the indexes that only reports read, for a bulk load:
// creating an index over rows already stored sorts them once, which costs
// a fraction of inserting each row into it as it comes. The drop and the
// record of the dropped indexes' definitions (table deferred_indexes)
// commit together, so that whatever happens next, RestoreIndexes (which
// Open calls) knows what to create again. It returns the number of
// indexes dropped; indexes already deferred stay so. Until RestoreIndexes,
// the batches of this DB do not stitch (see Batch.Commit).
func (db *DB) DeferIndexes(ctx context.Context) (int, error) {
	db.batchMu.Lock()
	defer db.batchMu.Unlock()
	db.stitchDeferred = true
	tx, err := db.beginWriter(ctx)
	if err != nil {
		return 0, db.wrapErr("defer indexes", err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMicro()
	n := 0
	for _, name := range bulkIndexes {
		var def string
		err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&def)
		if errors.Is(err, sql.ErrNoRows) {
			continue // deferred already
		}
		if err != nil {
			return 0, db.wrapErr("defer indexes", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO deferred_indexes (name, sql, since) VALUES (?, ?, ?)`, name, def, now); err != nil {
			return 0, db.wrapErr("defer indexes", err)
		}
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
			return 0, db.wrapErr("defer indexes", err)
		}
		n++
	}
	if err := tx.Commit(); err != nil {
		return 0, db.wrapErr("defer indexes", err)
	}
	return n, nil
}

// RestoreIndexes creates the indexes listed in deferred_indexes: those a
// bulk load set aside, of this process or of one that was interrupted.
// Each is created and its row deleted in one transaction; then what the
// load left unstitched is stitched. It takes the write lock only when there
// is something to do, and then waits for a running writer's batch to end
// (up to Options.BusyTimeout).
func (db *DB) RestoreIndexes(ctx context.Context) error {
	restored, err := db.restoreIndexes(ctx)
	if err != nil {
		return err
	}
	db.batchMu.Lock()
	deferred := db.stitchDeferred
	db.batchMu.Unlock()
	if !restored && !deferred {
		return nil
	}
	return db.stitchNow(ctx)
}

// stitchNow ends a bulk load's deferral of stitching, and stitches what it
// stored (in an empty batch: Commit stitches).
func (db *DB) stitchNow(ctx context.Context) error {
	db.batchMu.Lock()
	db.stitchDeferred = false
	db.batchMu.Unlock()
	b, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer b.Rollback()
	return b.Commit()
}

// stitchPending says whether stitching was left undone: messages queued,
// or attempts above the mark. Between the commits of an ingest there is
// none; a bulk load defers its indexes, and Open restores them and
// stitches anyway.
func (db *DB) stitchPending(ctx context.Context) (bool, error) {
	var pending bool
	err := db.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM stitch_queue)
		OR ifnull((SELECT max(id) FROM deliveries), 0) > (SELECT delivery_id FROM stitch_state)`).Scan(&pending)
	return pending, db.wrapErr("read stitch state", err)
}

// restoreIndexes creates the deferred indexes, and says whether there were
// any.
func (db *DB) restoreIndexes(ctx context.Context) (bool, error) {
	var tables, pending int
	if err := db.writer.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'deferred_indexes'`).Scan(&tables); err != nil {
		return false, db.wrapErr("restore indexes", err)
	}
	if tables == 0 {
		return false, nil // a schema before version 4: nothing was ever deferred
	}
	if err := db.writer.QueryRowContext(ctx, `SELECT count(*) FROM deferred_indexes`).Scan(&pending); err != nil {
		return false, db.wrapErr("restore indexes", err)
	}
	if pending == 0 {
		return false, nil
	}
	db.batchMu.Lock()
	defer db.batchMu.Unlock()
	tx, err := db.beginWriter(ctx)
	if err != nil {
		err = db.wrapErr("restore indexes", err)
		if errors.Is(err, ErrLocked) {
			// The usual cause: an ingest is loading in bulk right now, and
			// commits one batch after the other without a gap to wait for.
			return false, fmt.Errorf("database %s: an ingest is loading it in bulk, with the indexes that reports read set aside until it ends; try again then: %w", db.path, err)
		}
		return false, err
	}
	defer tx.Rollback()
	type deferred struct{ name, def string }
	var list []deferred
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM deferred_indexes ORDER BY name`)
	if err != nil {
		return false, db.wrapErr("restore indexes", err)
	}
	for rows.Next() {
		var d deferred
		if err := rows.Scan(&d.name, &d.def); err != nil {
			rows.Close()
			return false, db.wrapErr("restore indexes", err)
		}
		list = append(list, d)
	}
	if err := rows.Close(); err != nil {
		return false, db.wrapErr("restore indexes", err)
	}
	// CREATE INDEX sorts in memory up to the size of the page cache, on
	// top of the cache itself, which a bulk load has filled: the peak RSS
	// of a whole ingest was at this point. A smaller cache while sorting
	// makes the sorter merge runs through a temporary file instead.
	if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -8192`); err != nil {
		return false, db.wrapErr("restore indexes", err)
	}
	// Two threads sort (this machine's cores): a quarter faster, for a
	// few MB more memory.
	if _, err := tx.ExecContext(ctx, `PRAGMA threads = 2`); err != nil {
		return false, db.wrapErr("restore indexes", err)
	}
	// On an error path, before the deferred rollback (after a commit this
	// fails, and the statement below has reset it).
	defer tx.ExecContext(context.WithoutCancel(ctx), `PRAGMA threads = 0; PRAGMA cache_size = -`+strconv.Itoa(writerCacheKiB))
	for _, d := range list {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?`, d.name).Scan(&exists); err != nil {
			return false, db.wrapErr("restore indexes", err)
		}
		if exists == 0 {
			if _, err := tx.ExecContext(ctx, d.def); err != nil {
				return false, db.wrapErr("restore index "+d.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deferred_indexes WHERE name = ?`, d.name); err != nil {
			return false, db.wrapErr("restore indexes", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -`+strconv.Itoa(writerCacheKiB)+`; PRAGMA threads = 0`); err != nil {
		return false, db.wrapErr("restore indexes", err)
	}
	if err := tx.Commit(); err != nil {
		return false, db.wrapErr("restore indexes", err)
	}
	db.afterCommit(ctx)
	return true, nil
}

// StoredDeliveries is about how many delivery attempts the database holds
// (the highest row id: no count over the table), for deciding whether an
// ingest is large next to it.
func (db *DB) StoredDeliveries(ctx context.Context) (int64, error) {
	var n int64
	err := db.reader.QueryRowContext(ctx, `SELECT ifnull(max(id), 0) FROM deliveries`).Scan(&n)
	return n, db.wrapErr("count deliveries", err)
}
