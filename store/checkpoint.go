package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
)

// Checkpoints (copying the WAL's pages into the database file, and the two
// fsyncs around it) run on a connection and a goroutine of their own,
// after each commit, instead of in the commit: on the 1 GB log they were a
// fifth of the wall time, most of it waiting for the disk, with the
// collator stopped.
//
// The writer's connection does not checkpoint by itself
// (wal_autocheckpoint = 0, set where its statements are prepared). A
// passive checkpoint never waits for readers or for the writer; SQLite
// starts the WAL from its beginning again at the first write after a
// checkpoint that copied all of it. Should the WAL still grow past
// walCapFrames (the checkpointer could not keep up, or readers held old
// pages), the writer checkpoints after its next commit itself, as SQLite
// would have.

// walCapFrames is the WAL size (in pages) past which the writer checkpoints
// itself: 32k pages of 4 KiB, 128 MiB. The background checkpoint is
// usually still copying the last transaction when the writer starts the
// next, so the WAL is rarely started again from its beginning before the
// cap: a bulk load's WAL grows to the cap and one transaction more (about
// 230 MB on the 1 GB log, where the old checkpoint in every commit kept it
// near 60 MB), and goes at the end.
const walCapFrames = 32 << 10

type checkpointer struct {
	conn   *sql.DB
	kick   chan struct{}
	done   chan struct{}
	frames atomic.Int64 // pages in the WAL at the last checkpoint
	stop   sync.Once
}

func (db *DB) startCheckpointer() error {
	ms := db.opts.BusyTimeout.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	conn, err := sql.Open("sqlite3", fmt.Sprintf(
		"file:%s?_synchronous=NORMAL&_busy_timeout=%d&_cache_size=-512", uriPath(db.path), ms))
	if err != nil {
		return fmt.Errorf("open database %s for checkpoints: %w", db.path, err)
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxLifetime(0)
	conn.SetConnMaxIdleTime(0)
	c := &checkpointer{conn: conn, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go c.run()
	db.ckpt = c
	return nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	for range c.kick {
		var busy, log, copied int64
		// Errors are not the writer's: the next checkpoint, or the
		// writer's own, or the last connection's at close, does the work.
		if err := c.conn.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied); err == nil {
			c.frames.Store(log)
		}
	}
}

// close waits for a checkpoint under way and closes the connection.
func (c *checkpointer) close() error {
	var err error
	c.stop.Do(func() {
		close(c.kick)
		<-c.done
		err = c.conn.Close()
	})
	return err
}

// afterCommit follows every commit of the writer: a checkpoint in the
// background, or now, by the writer, if the WAL has grown too big.
func (db *DB) afterCommit(ctx context.Context) {
	if db.ckpt == nil && db.startCheckpointer() != nil {
		// Without a checkpointer, the writer checkpoints itself.
		db.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		return
	}
	c := db.ckpt
	if c.frames.Load() > walCapFrames {
		var busy, log, copied int64
		if err := db.writer.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied); err == nil {
			c.frames.Store(log - copied)
		}
		return
	}
	select {
	case c.kick <- struct{}{}:
	default: // one is waiting already
	}
}
