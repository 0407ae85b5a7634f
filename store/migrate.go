package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are numbered files, applied in order, each in its own
// transaction, and never edited once released: a change is a new file.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/NNNN_name.sql from fsys.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number and '_'", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// SchemaVersion is the newest schema this package knows.
func SchemaVersion() int {
	ms, err := loadMigrations(migrationsFS)
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate applies the migrations of fsys that the database lacks. It only
// takes the write lock when there is something to apply, so that opening an
// up-to-date database for a report never waits for a running ingest.
func migrate(ctx context.Context, db *DB, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}

	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return err
	}
	newest := 0
	for v := range applied {
		newest = max(newest, v)
	}
	if newest > latest {
		return fmt.Errorf("database %s: %w: database schema version %d is newer than this mailbounce (%d); upgrade mailbounce",
			db.path, ErrSchemaTooNew, newest, latest)
	}

	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := applyMigration(ctx, db, m); err != nil {
			return err
		}
		db.migrated = true
	}
	return nil
}

// appliedVersions reads schema_migrations, and refuses an SQLite database
// that some other program made.
func appliedVersions(ctx context.Context, db *DB) (map[int]bool, error) {
	var hasTable, others int
	err := db.writer.QueryRowContext(ctx, `SELECT
		count(*) FILTER (WHERE name = 'schema_migrations'),
		count(*) FILTER (WHERE name <> 'schema_migrations' AND name NOT LIKE 'sqlite_%')
		FROM sqlite_master`).Scan(&hasTable, &others)
	if err != nil {
		return nil, db.wrapErr("read schema", err)
	}
	applied := make(map[int]bool)
	if hasTable == 0 {
		if others > 0 {
			return nil, fmt.Errorf("database %s: an SQLite database, but not mailbounce's (no schema_migrations table); choose another path", db.path)
		}
		return applied, nil
	}
	rows, err := db.writer.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, db.wrapErr("read schema version", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, db.wrapErr("read schema version", err)
		}
		applied[v] = true
	}
	return applied, db.wrapErr("read schema version", rows.Err())
}

func applyMigration(ctx context.Context, db *DB, m migration) error {
	op := "migrate to schema version " + strconv.Itoa(m.version)
	tx, err := db.beginWriter(ctx)
	if err != nil {
		return db.wrapErr(op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return db.wrapErr(op, err)
	}
	// Another process may have applied it between our read and our lock.
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&done); err != nil {
		return db.wrapErr(op, err)
	}
	if done > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return db.wrapErr(op+" ("+m.name+")", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.version, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return db.wrapErr(op, err)
	}
	return db.wrapErr(op, tx.Commit())
}
