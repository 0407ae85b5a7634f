package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// The follower reads a live log as it is written and survives its rotation,
// without losing or doubling a line, also across restarts when its caller
// commits each Line's Pos with what it made of the lines up to it.
//
// It is one poll-and-stat loop, as mtail's filestream.go is, run in the
// caller's goroutine by Next: read to the end of file; wait for a poll tick,
// an inotify event on the directory or a test's wake-up; stat the path; read
// on. What the stat shows decides what happens:
//
//   - the same file, shorter than what was read, or with other first bytes:
//     it was truncated (copytruncate, or "> mail.log"). The bytes not yet
//     read are in the copy, if there is one: a rotated file (mail.log.1,
//     mail.log.1.gz, mail.log-20261128) whose head matches is read from
//     the offset reached, then the file from its start.
//   - another file or none (rename and create, delete, a switched symlink):
//     the old file is read on through the descriptor still open, since a
//     writer that has not yet reopened the log still appends to it. It is
//     left when it has been quiet for FollowOptions.Quiet and the new file
//     has data (a single writer has then moved on), or at once on Reopen.
//     Any rotated file that came between the two is read in full first.
//   - a partial line at the end of a file is kept until its newline comes;
//     it is delivered as it is only when its file is left.
//
// Restart from a saved Position is the same search: the live file if it
// begins with the saved head and is long enough, else the rotated file that
// does (decompressed), from the saved offset, then every newer rotation,
// then the live file from its start.
//
// Known limit: a file truncated and regrown past the offset within one poll
// interval while the follower is reading it is noticed only at the next
// check (once a poll); lines read meanwhile come from the middle of the new
// content. Truncation happens at rotation time, when a follower is normally
// waiting at the end of the file. Likewise, two copytruncate rotations in
// quick succession while the follower is behind can lose lines of the
// middle copy (copytruncate loses lines by design anyway: logrotate(8)).

// DefaultPoll is how often a follower stats its file when inotify says
// nothing; a stat and a read of a file that has not changed cost a few
// microseconds.
const DefaultPoll = 250 * time.Millisecond

// DefaultQuiet is how long a rotated-away file must receive nothing before
// the follower leaves it for the new one.
const DefaultQuiet = time.Second

// Position is how far a follower has read: what to commit with the rows made
// of the lines up to it, and to give to Follow after a restart.
type Position struct {
	// Path is the followed path, as given to Follow, also for lines read
	// from one of its rotations.
	Path string
	// Head fingerprints the first min(Offset, HeadSize) bytes of the
	// content Offset is in: the live file or one of its rotations,
	// decompressed.
	Head Fingerprint
	// Offset is the number of content bytes consumed up to the end of the
	// last complete line delivered (its "\n" included).
	Offset int64
	// Dev and Inode identify the file read when it is plain; both are zero
	// for a compressed rotation. They decide only when Head is empty.
	Dev, Inode uint64
}

// Line is one line of a followed log.
type Line struct {
	// Text has no "\n" and no trailing "\r". It is valid until the next
	// call to Next.
	Text []byte
	// Truncated is set when the line was cut at MaxLineLen.
	Truncated bool
	// Pos is the position after this line.
	Pos Position
}

// FollowOptions tune a Follower. The zero value is ready to use.
type FollowOptions struct {
	// Poll is the interval between stats of the file when inotify reports
	// nothing (or is unavailable). Zero means DefaultPoll.
	Poll time.Duration
	// Quiet is how long a rotated-away file must receive nothing before it
	// is left. Zero means DefaultQuiet.
	Quiet time.Duration
	// FromEnd starts at the end of the file (at the start of its last
	// partial line) when there is no saved position. A file that appears
	// later is read from its start.
	FromEnd bool
	// MaxLineLen is the longest line returned whole. Zero means
	// DefaultMaxLineLen.
	MaxLineLen int
	// Logger receives rotations (Info) and what may have lost lines
	// (Warn). Nil discards.
	Logger *slog.Logger
	// Wake forces a poll, for tests that must not sleep.
	Wake <-chan struct{}

	// pollOnly turns inotify off, so that a test decides when polls are.
	pollOnly bool
	// noBlock makes Next return errWouldBlock where it would wait with no
	// wake-up pending, so that a test can read all there is without a
	// timeout.
	noBlock bool
}

var errWouldBlock = errors.New("would block")

// ErrFollowerClosed is returned by Next after Close.
var ErrFollowerClosed = errors.New("follower closed")

// readRetries bound how often a read error is retried (by reopening at
// the position reached) before it is given up: for a plain file the error
// is returned; a compressed rotation (perhaps still being written by
// logrotate, or corrupt) is skipped with a warning.
const (
	plainReadRetries      = 5
	compressedReadRetries = 20
)

// maxRotations bounds how many rotated files are opened to find a position.
const maxRotations = 32

// Follower reads the lines of a live log. Next, Position and Close must be
// called from one goroutine; Reopen from any.
type Follower struct {
	path string
	opts FollowOptions
	log  *slog.Logger

	cur   *source   // nil while the file is missing or unreadable
	queue []*source // rotated files to read after cur, oldest first
	// next is the file found at the path while cur, rotated away, is read
	// to its end: held open so that it cannot go (deleted by the next
	// rotation) before it is read.
	next *source
	last Position // after the last line delivered, or the start

	fromEnd    bool // the next open of the live file is the first
	waitingFor error
	forced     bool // Reopen: leave a rotated-away file without waiting
	needCheck  bool
	lastCheck  time.Time
	failures   int    // read errors since the last line delivered
	retry      *retry // a rotated file to reopen after a read error
	closed     bool

	timer      *time.Timer
	reopenCh   chan struct{}
	reopenFlag atomic.Bool
	watch      *watcher
}

// Follow starts following path from start, the Position last committed, or
// from the beginning (or the end, with FromEnd) when start is nil. A missing
// file is waited for. A file that exists but cannot be read is an error
// here; later (logrotate's create makes the new file before it sets its
// owner) it is retried at every poll.
func Follow(ctx context.Context, path string, start *Position, opts FollowOptions) (*Follower, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Quiet <= 0 {
		opts.Quiet = DefaultQuiet
	}
	if opts.MaxLineLen <= 0 {
		opts.MaxLineLen = DefaultMaxLineLen
	}
	f := &Follower{
		path:      path,
		opts:      opts,
		log:       opts.Logger,
		last:      Position{Path: path},
		reopenCh:  make(chan struct{}, 1),
		needCheck: true,
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With("path", path)
	var err error
	if start != nil {
		f.last = *start
		f.last.Path = path
		err = f.resume(*start)
	} else {
		f.fromEnd = opts.FromEnd
		err = f.openLive(true)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if !opts.pollOnly {
		f.watch = newWatcher(path, f.log)
		f.watchTarget()
	}
	f.timer = time.NewTimer(opts.Poll)
	f.timer.Stop()
	return f, nil
}

// Next returns the next complete line. It blocks until there is one, ctx is
// done (it returns ctx.Err(), and may be called again), or reading fails for
// good.
func (f *Follower) Next(ctx context.Context) (Line, error) {
	if f.closed {
		return Line{}, ErrFollowerClosed
	}
	for {
		if err := ctx.Err(); err != nil {
			return Line{}, err
		}
		if f.reopenFlag.Swap(false) {
			f.forced = true
			f.needCheck = true
		}
		// Also between lines read without a pause, at most once a poll:
		// the caller may have taken long over the last one.
		if f.needCheck || time.Since(f.lastCheck) >= f.opts.Poll {
			f.needCheck = false
			f.lastCheck = time.Now()
			line, ok, err := f.check()
			if err != nil {
				return Line{}, err
			}
			if ok {
				return line, nil
			}
		}
		if f.cur == nil {
			if err := f.advance(); err != nil {
				return Line{}, err
			}
		}
		if s := f.cur; s != nil {
			s.lines.resume()
			text, _, err := s.lines.next()
			if err == nil {
				return f.lineFrom(s, text), nil
			}
			if err != io.EOF {
				if err := f.readFailed(s, err); err != nil {
					return Line{}, err
				}
			} else if s.detached || s.compressed {
				line, ok, switched, err := f.leave(s)
				if err != nil {
					return Line{}, err
				}
				if ok {
					return line, nil
				}
				if switched {
					continue
				}
			}
		}
		// Whatever ends the wait, even ctx, the file is checked before it
		// is read again.
		f.needCheck = true
		if err := f.wait(ctx); err != nil {
			return Line{}, err
		}
	}
}

// Position is the position after the last line delivered; before the first,
// where reading starts (with FromEnd, the end of the file), so that a
// caller can commit it at once.
func (f *Follower) Position() Position {
	if f.cur != nil {
		return f.posOf(f.cur)
	}
	return f.last
}

// Reopen makes the follower stat the file at once and, if it has been
// rotated, leave the old one as soon as it is read to its end, without
// waiting for it to be quiet. Call it on SIGHUP; it is safe from any
// goroutine.
func (f *Follower) Reopen() {
	f.reopenFlag.Store(true)
	select {
	case f.reopenCh <- struct{}{}:
	default:
	}
}

// Close releases the files and the inotify watch.
func (f *Follower) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.watch != nil {
		f.watch.close()
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	var err error
	if f.cur != nil {
		err = f.cur.close()
		f.cur = nil
	}
	f.closeQueue()
	f.closeNext()
	return err
}

func (f *Follower) closeQueue() {
	for _, s := range f.queue {
		s.close()
	}
	f.queue = nil
}

func (f *Follower) wait(ctx context.Context) error {
	if f.opts.noBlock {
		select {
		case <-f.opts.Wake:
			return nil
		case <-f.reopenCh:
			return nil
		default:
			return errWouldBlock
		}
	}
	f.timer.Reset(f.opts.Poll)
	defer f.timer.Stop()
	var notify <-chan struct{}
	if f.watch != nil {
		notify = f.watch.wake
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.timer.C:
	case <-notify:
	case <-f.opts.Wake:
	case <-f.reopenCh:
	}
	return nil
}

func (f *Follower) posOf(s *source) Position {
	p := Position{Path: f.path, Offset: s.lines.off, Head: s.fingerprint(s.lines.off)}
	if !s.compressed {
		p.Dev, p.Inode = s.dev, s.ino
	}
	return p
}

func (f *Follower) lineFrom(s *source, text []byte) Line {
	f.failures = 0
	f.last = f.posOf(s)
	return Line{Text: text, Truncated: s.lines.truncated, Pos: f.last}
}

// resume finds where start is: in the live file, or in one of its
// rotations, which are then read first.
func (f *Follower) resume(start Position) error {
	f.closeNext()
	live, err := openSource(f.path, false, f.opts.MaxLineLen)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		live = nil
	case err != nil:
		return explain(f.path, err)
	}
	if live != nil && live.holds(start) {
		if ok, err := live.startAt(start.Offset); err != nil || ok {
			if err != nil {
				live.close()
				return err
			}
			f.cur = live
			return nil
		}
	}
	var q []*source
	var found bool
	if live != nil {
		q, found = f.successors(start, live, live.capture.head, false)
		live.close()
	} else {
		q, found = f.successors(start, nil, nil, false)
	}
	if !found && start.Offset > 0 {
		f.log.Warn("the saved position is in neither the file nor its rotations; reading the file from its start",
			"offset", start.Offset)
	}
	f.queue = q
	return f.advance()
}

// advance moves to the next rotated file queued, or to the live file.
func (f *Follower) advance() error {
	if f.retry != nil && (!f.reopenRotated() || f.cur != nil) {
		return nil
	}
	if len(f.queue) > 0 {
		f.cur = f.queue[0]
		f.queue = f.queue[1:]
		f.log.Info("reading a rotated file", "file", f.cur.name, "offset", f.cur.lines.off)
		return nil
	}
	if s := f.next; s != nil {
		f.next = nil
		if _, err := s.startAt(0); err != nil {
			s.close()
			return err
		}
		f.cur = s
		f.forced = false
		f.watchTarget()
		f.log.Info("following a new file", "inode", s.ino)
		return nil
	}
	return f.openLive(false)
}

// openLive opens the file at the followed path, if it is there and
// readable; if not, cur stays nil and the next poll tries again.
func (f *Follower) openLive(first bool) error {
	s, err := openSource(f.path, false, f.opts.MaxLineLen)
	if err != nil {
		denied := errors.Is(err, fs.ErrPermission)
		if denied && first {
			return explain(f.path, err)
		}
		if !denied && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("follow: %w", err)
		}
		if f.waitingFor == nil || f.waitingFor.Error() != err.Error() {
			f.waitingFor = err
			if denied {
				f.log.Warn("cannot read the file yet; retrying at every poll", "err", explain(f.path, err))
			} else {
				f.log.Info("waiting for the file to appear")
			}
		}
		return nil
	}
	f.waitingFor = nil
	f.forced = false
	var offset int64
	if first && f.fromEnd {
		offset, err = lastLineStart(s.file)
		if err != nil {
			s.close()
			return fmt.Errorf("%s: %w", f.path, err)
		}
	}
	f.fromEnd = false
	if _, err := s.startAt(offset); err != nil {
		s.close()
		return err
	}
	f.cur = s
	f.watchTarget()
	if !first {
		f.log.Info("following a new file", "inode", s.ino)
	}
	return nil
}

// check stats the followed path after a wait and notices rotation and
// truncation of the file being read. A line is returned when a truncation
// leaves a partial line that can no longer be completed.
func (f *Follower) check() (Line, bool, error) {
	s := f.cur
	if s == nil || s.compressed || s.queued {
		return Line{}, false, nil
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		if !s.detached {
			s.detached = true
			f.log.Info("the file is gone; reading the rest of it before moving on", "err", err)
		}
		return Line{}, false, nil
	}
	dev, ino := inodeOf(fi)
	if dev != s.dev || ino != s.ino {
		if !s.detached {
			s.detached = true
			f.log.Info("the file was rotated; reading the rest of the old one before moving on", "old_inode", s.ino, "new_inode", ino)
		}
		if f.next == nil {
			f.openNext(dev, ino)
		}
		return Line{}, false, nil
	}
	if s.detached {
		f.log.Info("the file is back at its path")
		s.detached = false
		f.closeNext()
	}
	f.forced = false
	if fi.Size() == s.size && fi.ModTime().Equal(s.mtime) {
		return Line{}, false, nil
	}
	s.size, s.mtime = fi.Size(), fi.ModTime()
	if fi.Size() >= s.capture.pos {
		same, err := s.headUnchanged()
		if err != nil {
			return Line{}, false, fmt.Errorf("%s: %w", f.path, err)
		}
		if same {
			return Line{}, false, nil
		}
	}
	return f.truncated(s)
}

// truncated handles a live file found shorter than what was read, or with
// other first bytes: the rest is looked for in a copy.
func (f *Follower) truncated(s *source) (Line, bool, error) {
	pos := f.posOf(s)
	// The copy is found by the first bytes of the content. A position
	// early in the file fingerprints only the bytes before it (none at
	// offset 0: the file was opened, and truncated again by the next
	// copytruncate, before anything was read); the head read when the
	// file was opened says more, and is what its copy begins with.
	search := pos
	if n := min(len(s.capture.head), HeadSize); n > search.Head.Len {
		search.Head = NewFingerprint(s.capture.head[:n])
	}
	q, found := f.successors(search, s, nil, true)
	f.cur = nil
	f.closeQueue()
	f.queue = q
	var line Line
	var ok bool
	switch {
	case len(q) > 0:
		f.log.Info("the file was truncated; reading the rest from its copy", "offset", pos.Offset, "copy", q[0].name)
	default:
		if text, _, has := s.lines.flush(); has {
			line, ok = f.lineFrom(s, text), true
		}
		if !found {
			f.log.Warn("the file was truncated and no rotated copy holds the rest; lines written after this offset may be lost",
				"offset", f.posOf(s).Offset)
		}
	}
	s.close()
	return line, ok, f.advance()
}

// leave is called at the end of a file that is no longer at the path (or a
// compressed rotation). Once it has been quiet, its partial line is
// delivered, and it is left for what follows it.
func (f *Follower) leave(s *source) (line Line, ok, switched bool, err error) {
	if !s.compressed && !f.forced && time.Since(s.capture.lastData) < f.opts.Quiet {
		return Line{}, false, false, nil
	}
	if text, _, has := s.lines.flush(); has {
		return f.lineFrom(s, text), true, false, nil
	}
	if !s.compressed && !s.queued && !f.forced && len(f.queue) == 0 && !f.liveHasData(s) {
		return Line{}, false, false, nil
	}
	pos := f.posOf(s)
	f.cur = nil
	s.close()
	if len(f.queue) == 0 {
		// Rotations that came in between (two rotations while this file
		// was drained, or while the follower was down) are read in full.
		switch live, err := openSource(f.path, false, f.opts.MaxLineLen); {
		case f.next != nil:
			if err == nil {
				live.close()
			}
			f.next.refreshHead()
			f.queue, _ = f.successors(pos, f.next, f.next.capture.head, true)
		case err == nil:
			f.queue, _ = f.successors(pos, live, live.capture.head, true)
			live.close()
		default:
			f.queue, _ = f.successors(pos, nil, nil, true)
		}
	}
	return Line{}, false, true, f.advance()
}

// openNext opens the file now at the path, if it is the one stat saw.
func (f *Follower) openNext(dev, ino uint64) {
	s, err := openSource(f.path, false, f.opts.MaxLineLen)
	if err != nil {
		return // gone again, or not yet readable: the next check retries
	}
	if s.dev != dev || s.ino != ino {
		s.close()
		return
	}
	f.next = s
}

func (f *Follower) closeNext() {
	if f.next != nil {
		f.next.close()
		f.next = nil
	}
}

// liveHasData reports whether the file that comes after s has data: a
// single writer has then reopened the log.
func (f *Follower) liveHasData(s *source) bool {
	if f.next != nil {
		fi, err := f.next.file.Stat()
		return err == nil && fi.Size() > 0
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		return false
	}
	dev, ino := inodeOf(fi)
	return (dev != s.dev || ino != s.ino) && fi.Size() > 0
}

// readFailed retries a read error by reopening at the position reached.
func (f *Follower) readFailed(s *source, readErr error) error {
	f.failures++
	pos := f.posOf(s)
	f.cur = nil
	s.close()
	if !s.queued {
		if f.failures > plainReadRetries {
			return fmt.Errorf("%s: %w", s.name, readErr)
		}
		f.log.Warn("read error; reopening", "offset", pos.Offset, "err", readErr)
		f.closeQueue()
		return f.resume(pos)
	}
	f.log.Warn("read error in a rotated file; reopening", "file", s.name, "offset", pos.Offset, "err", readErr)
	f.retry = &retry{name: s.name, pos: pos}
	return nil
}

// retry is a rotated file to reopen at pos after a read error: a .gz that
// logrotate is still writing is complete a moment later.
type retry struct {
	name string
	pos  Position
}

// reopenRotated reopens f.retry. It reports false if the next poll should
// try again.
func (f *Follower) reopenRotated() bool {
	r := f.retry
	s, err := openSource(r.name, true, f.opts.MaxLineLen)
	if err == nil {
		var ok bool
		if ok, err = s.startAt(r.pos.Offset); ok {
			s.queued, s.detached = true, true
			f.cur = s
			f.retry = nil
			return true
		}
		s.close()
		if err == nil {
			err = ErrPastEnd
		}
	}
	f.failures++
	if f.failures <= compressedReadRetries {
		return false
	}
	f.log.Warn("giving up on a damaged rotated file; the rest of it is lost", "file", r.name, "offset", r.pos.Offset, "err", err)
	f.failures = 0
	f.retry = nil
	return true
}

// lastLineStart is where FromEnd starts: after the last "\n", so that a
// line being written is read whole.
func lastLineStart(file *os.File) (int64, error) {
	fi, err := file.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	const back = 64 << 10
	n := min(size, back)
	buf := make([]byte, n)
	if _, err := file.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0, err
	}
	for i := len(buf) - 1; i >= 0; i-- {
		if buf[i] == '\n' {
			return size - n + int64(i) + 1, nil
		}
	}
	if size <= back {
		return 0, nil
	}
	return size, nil
}
