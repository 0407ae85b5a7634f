//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// ingestLock makes ingests of one database take turns, and a tail that
// starts wait for a running ingest: two readers of one log at the same
// time would both store its new lines. It is an flock on DB-ingest.lock
// beside the database, released by the kernel if the process dies. wait
// says what to print once if another process holds it; release unlocks.
func ingestLock(ctx context.Context, dbPath string, stderr io.Writer, wait string) (release func(), err error) {
	// Read-only, and readable by all (it holds nothing): flock needs no
	// write access, so a tail running as another user than the ingest
	// that made the file can take it too.
	f, err := os.OpenFile(dbPath+"-ingest.lock", os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s-ingest.lock: %w", dbPath, err)
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s-ingest.lock: %w", dbPath, err)
		}
		if !said {
			fmt.Fprintln(stderr, wait)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
