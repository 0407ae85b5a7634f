package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"mailbounce/collate"
	"mailbounce/ingest"
	"mailbounce/parse"
	"mailbounce/store"
)

// runTail follows live logs into the database. The position reached in each
// file is committed in the same transaction as the rows of the lines before
// it, so a restart (or a crash) neither loses nor doubles a line.
func runTail(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "tail", "[flags] FILE ... | - | --journal")
	dbPath := fs.String("db", defaultDB(e), "database file (env MAILBOUNCE_DB)")
	fromEnd := fs.Bool("from-end", false, "on the first start, begin at the end of each file instead of its start")
	poll := fs.Duration("poll", ingest.DefaultPoll, "how often to look at the files when no change is notified")
	host := fs.String("host", "", "host name for lines that carry none (Exim's own mainlog)")
	tz := fs.String("tz", "", "time zone of timestamps without offset (default: local)")
	commitEvery := fs.Duration("commit", 500*time.Millisecond, "longest time a line read waits before it is committed")
	verbose := fs.BoolP("verbose", "v", false, "log rotations and file events on stderr")
	lockTimeout := fs.Duration("lock-timeout", store.DefaultBusyTimeout, "how long one wait for another process's write lock lasts; tail then logs a warning and waits again")
	journal := addJournalFlags(fs, "follow")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	jin, err := journal.input(fs, "tail", "name the log files to follow, or - for standard input")
	if err != nil {
		return err
	}
	if jin != nil {
		jin.follow, jin.fromEnd = true, *fromEnd
	}
	if *commitEvery <= 0 || *poll <= 0 || *lockTimeout <= 0 {
		return usageError("--commit, --poll and --lock-timeout must be longer than 0 (e.g. 500ms)")
	}
	loc, err := loadLocation(*tz)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	db, err := store.Open(ctx, *dbPath, store.Options{BusyTimeout: *lockTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	warnWorldReadable(e, "tail", *dbPath)

	t := &tailer{db: db, host: *host, loc: loc, log: logger, commitEvery: *commitEvery,
		items: make(chan tailItem, 4096), reader: readerMark()}
	// An ingest reading the same logs now would store their new lines as
	// well: wait for it to end, and hold its lock until the sources
	// followed are marked (a file not read before has its row after the
	// first commit of its lines), so that the next ingest leaves them.
	release, err := ingestLock(ctx, *dbPath, e.stderr, "mailbounce tail: a mailbounce ingest is writing "+*dbPath+"; waiting for it to end before following")
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil
		}
		return err
	}
	t.unlock = release
	defer func() {
		if t.unlock != nil {
			t.unlock()
		}
	}()
	readCtx, stopReading := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var followers []*ingest.Follower
	// The followers are closed once their goroutines have returned: a
	// Follower is not safe for concurrent use. (A stdin reader may stay
	// blocked in Read; it holds no follower.)
	var followWG sync.WaitGroup
	defer func() {
		stopReading()
		followWG.Wait()
		for _, f := range followers {
			f.Close()
		}
	}()
	if jin != nil {
		f := &tailFile{path: jin.sourcePath(), parser: parse.NewParser(parse.Options{Location: loc}), journal: true, reader: t.reader}
		t.files = append(t.files, f)
		src, found, err := db.FindSourceByPath(ctx, f.path)
		if err != nil {
			return err
		}
		if found {
			f.sourceID, f.cursor, f.lines, f.firstRead = src.ID, src.Cursor, src.Lines, src.FirstRead
			f.wrote(src)
		}
		wg.Add(1)
		go func() { defer wg.Done(); t.readJournal(readCtx, 0, jin, f.cursor) }()
	}
	paths := fs.Args()
	if len(paths) > 1 {
		// A rejectlog beside the mainlog it copies its lines from.
		var ins []ingest.Input
		for _, p := range paths {
			ins = append(ins, ingest.Input{Path: p})
		}
		keep, skipped := ingest.EximRejectLogs(ins)
		for _, in := range skipped {
			fmt.Fprintf(e.stderr, "mailbounce tail: %s skipped: Exim writes each rejection to its mainlog too, which is followed\n", in.Name())
		}
		paths = nil
		for _, in := range keep {
			paths = append(paths, in.Path)
		}
	}
	for _, path := range paths {
		i := len(t.files)
		t.files = append(t.files, &tailFile{path: path, parser: parse.NewParser(parse.Options{Location: loc}), reader: t.reader})
		if path == ingest.Stdin {
			wg.Add(1)
			go func() { defer wg.Done(); t.readStream(readCtx, i, e.stdin) }()
			continue
		}
		start, err := t.savedPosition(ctx, t.files[i])
		if err != nil {
			return err
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			// Not an error (the log may be created later), but a typo
			// would otherwise wait in silence.
			fmt.Fprintf(e.stderr, "mailbounce tail: %s does not exist (yet); waiting for it to appear\n", path)
		}
		f, err := ingest.Follow(ctx, path, start, ingest.FollowOptions{Poll: *poll, FromEnd: *fromEnd, Logger: logger})
		if err != nil {
			return fmt.Errorf("follow %s: %w", path, err)
		}
		if tf := t.files[i]; tf.pos.Path == "" {
			// Where reading starts, to mark the source at once.
			if p := f.Position(); p.Head.Len > 0 {
				tf.pos, tf.head = p, p.Head
			}
		}
		followers = append(followers, f)
		wg.Add(1)
		followWG.Add(1)
		go func() { defer wg.Done(); defer followWG.Done(); t.follow(readCtx, i, f) }()
	}
	go func() { wg.Wait(); close(t.items) }()

	// SIGHUP reopens the files at once (after a rotation the follower would
	// notice by itself, within a poll).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			logger.Info("SIGHUP: reopening")
			for _, f := range followers {
				f.Reopen()
			}
		}
	}()

	if err := t.heartbeat(ctx); err != nil {
		return err
	}
	defer t.db.ReleaseSources(context.WithoutCancel(ctx), t.reader)

	err = t.write(ctx)
	stopReading()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// SIGTERM or SIGINT: a clean stop; what was not committed is
		// read again at the next start.
		return nil
	}
	return err
}

// addEvent stores one event that tail read, counted 1+ev.Repeat times (a
// line syslog folded others into).
func addEvent(batch *store.Batch, c *collate.Collator, ev *parse.Event, path string) error {
	switch ev.Kind {
	case parse.KindWarning:
		batch.AddCounter(ev.Host, programOf(ev), store.CounterWarning, int64(1+ev.Repeat))
	case parse.KindFatal:
		batch.AddCounter(ev.Host, programOf(ev), store.CounterFatal, int64(1+ev.Repeat))
	case parse.KindOther, parse.KindUnknown:
	default:
		for range 1 + ev.Repeat {
			if err := c.Add(ev); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	return nil
}

// tailItem is one line on its way from a reader goroutine to the writer.
type tailItem struct {
	file   int
	line   string
	pos    ingest.Position
	cursor string // the journal's: the line's cursor
	err    error  // a reader that stopped for good
}

// tailFile is the writer's state for one followed file.
type tailFile struct {
	path   string
	parser *parse.Parser
	// The checkpoint row of the content being read, and that content's
	// head: after a rotation the new content gets a row of its own, so that
	// the old one keeps its final offset for a later batch ingest of
	// FILE.1.gz to find.
	sourceID int64
	head     ingest.Fingerprint
	pos      ingest.Position
	lines    int64
	dirty    bool
	// finished are the final positions of contents left since the last
	// commit (a rotated file read to its end, then the new one): each
	// keeps its own row, committed with the next batch.
	finished []store.Source
	// prev is the event of the file's line before, if it was Postfix's or
	// Exim's (hasPrev), for a "last message repeated 3 times" after it.
	prev    parse.Event
	hasPrev bool
	// journal: the systemd journal, whose checkpoint is the cursor of the
	// last entry read.
	journal bool
	cursor  string
	// reader marks the source row as followed by this process.
	reader    string
	firstRead time.Time
	// committed is what the row held after this process last read or
	// committed it: a commit fails if another process moved it since.
	committed *store.SourceMark
}

// wrote records the row as this process committed it.
func (f *tailFile) wrote(s store.Source) {
	f.committed = &store.SourceMark{Offset: s.Offset, Cursor: s.Cursor}
}

// first is when the content of the current row was first read.
func (f *tailFile) first() time.Time {
	if f.firstRead.IsZero() {
		f.firstRead = time.Now()
	}
	return f.firstRead
}

// marked tells a file whose source row can be marked followed: one with a
// row, or a position to start one (not standard input).
func (f *tailFile) marked() bool {
	return f.journal || f.sourceID != 0 || f.pos.Head.Len > 0
}

// source is the checkpoint row of the content being read.
func (f *tailFile) source() store.Source {
	var expect *store.SourceMark
	if f.sourceID != 0 {
		expect = f.committed
	}
	if f.journal {
		return store.Source{ID: f.sourceID, Path: f.path, Cursor: f.cursor, Lines: f.lines, Size: -1,
			LastRead: time.Now(), FirstRead: f.first(), Reader: f.reader, Expect: expect}
	}
	sum := f.pos.Head.Sum // a copy: f.pos changes with the next line
	return store.Source{ID: f.sourceID, Path: f.path, HeadHash: sum[:],
		HeadLen: f.pos.Head.Len, Offset: f.pos.Offset, Lines: f.lines, LastRead: time.Now(),
		FirstRead: f.first(), Reader: f.reader, Expect: expect}
}

type tailer struct {
	reader      string // this process's mark on the sources it follows
	unlock      func() // releases the ingest lock held since the start
	db          *store.DB
	host        string
	loc         *time.Location
	log         *slog.Logger
	commitEvery time.Duration
	items       chan tailItem
	files       []*tailFile
}

// savedPosition finds where the last run stopped in f's path, and takes
// over its checkpoint row. A path never followed may hold content that
// ingest (or tail under another name: mail.log given as a relative path,
// then as /var/log/mail.log by the service) already stored: it is looked
// up by its first kilobyte, as ingest does, and read on from there.
func (t *tailer) savedPosition(ctx context.Context, f *tailFile) (*ingest.Position, error) {
	src, ok, err := t.db.FindSourceByPath(ctx, f.path)
	if err != nil {
		return nil, err
	}
	if !ok {
		if src, ok, err = t.sourceByContent(ctx, f.path); err != nil {
			return nil, err
		}
	}
	if !ok || len(src.HeadHash) != 32 {
		return nil, nil
	}
	pos := &ingest.Position{Path: f.path, Offset: src.Offset}
	pos.Head.Len = src.HeadLen
	copy(pos.Head.Sum[:], src.HeadHash)
	f.sourceID, f.head, f.pos, f.lines, f.firstRead = src.ID, pos.Head, *pos, src.Lines, src.FirstRead
	f.wrote(src)
	return pos, nil
}

// sourceByContent finds the checkpoint row of the content at path by its
// first kilobyte; not for a file that is not there (yet) or starts with a
// kilobyte of NULs (every such log has the same first kilobyte).
func (t *tailer) sourceByContent(ctx context.Context, path string) (store.Source, bool, error) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return store.Source{}, false, nil
	}
	r, err := ingest.Open(ingest.Input{Path: path, Size: fi.Size(), ModTime: fi.ModTime()}, ingest.Options{})
	if err != nil {
		return store.Source{}, false, nil // the follower says why
	}
	head := bytes.Clone(r.ContentHead())
	r.Close()
	if len(head) == 0 || ingest.BlankHead(head) {
		return store.Source{}, false, nil
	}
	return t.db.FindSourceByHead(ctx, head)
}

// follow sends the lines of one follower to the writer until ctx is done.
func (t *tailer) follow(ctx context.Context, idx int, f *ingest.Follower) {
	for {
		l, err := f.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				select {
				case t.items <- tailItem{file: idx, err: err}:
				case <-ctx.Done():
				}
			}
			return
		}
		select {
		case t.items <- tailItem{file: idx, line: string(l.Text), pos: l.Pos}:
		case <-ctx.Done():
			return
		}
	}
}

// readStream sends the lines of a pipe (journalctl -f ... | mailbounce tail -).
// A pipe cannot be read again, so it has no checkpoint.
func (t *tailer) readStream(ctx context.Context, idx int, r io.Reader) {
	rd, err := ingest.NewReader("standard input", r, ingest.Options{})
	if err != nil {
		t.items <- tailItem{file: idx, err: err}
		return
	}
	defer rd.Close() // stops a decoder reading ahead (compressed input)
	for {
		line, _, err := rd.Next()
		if err != nil {
			if err != io.EOF {
				t.items <- tailItem{file: idx, err: err}
			}
			return
		}
		select {
		case t.items <- tailItem{file: idx, line: string(line)}:
		case <-ctx.Done():
			return
		}
	}
}

// write collates and stores the lines, committing at most commitEvery
// after a line arrived. When ctx is done the open batch is rolled back
// (its statements see the cancelled context): its lines are read again at
// the next start, from the positions committed with the rows before them.
func (t *tailer) write(ctx context.Context) error {
	c := collate.New(nil, collate.Options{DefaultHost: t.host})
	var batch *store.Batch
	defer func() {
		if batch != nil {
			batch.Rollback()
		}
	}()
	tick := time.NewTicker(t.commitEvery)
	defer tick.Stop()
	beat := time.NewTicker(tailHeartbeat)
	defer beat.Stop()
	var uncommitted int
	type written1 struct {
		f   *tailFile
		src store.Source
	}
	var written []written1
	commit := func() error {
		if batch == nil {
			return nil
		}
		if err := c.Flush(); err != nil {
			return err
		}
		for _, f := range t.files {
			for _, s := range f.finished {
				if _, err := batch.SetSource(s); err != nil {
					return err
				}
			}
			f.finished = nil
			if !f.dirty {
				continue
			}
			src := f.source()
			id, err := batch.SetSource(src)
			if err != nil {
				return err
			}
			f.sourceID, f.dirty = id, false
			written = append(written, written1{f, src})
		}
		err := batch.Commit()
		batch, uncommitted = nil, 0
		if err == nil {
			for _, w := range written {
				w.f.wrote(w.src)
			}
		}
		written = written[:0]
		return err
	}
	lastRef := time.Time{}
	var ev parse.Event
	for {
		select {
		case <-ctx.Done():
			if err := commit(); err != nil {
				return err
			}
			return ctx.Err()
		case <-tick.C:
			if uncommitted > 0 {
				if err := commit(); err != nil {
					return err
				}
			}
			continue
		case <-beat.C:
			// Alive, also with no line (and with lines waiting for a
			// long --commit): ingests leave these sources alone.
			if err := commit(); err != nil {
				return err
			}
			if err := t.heartbeat(ctx); err != nil {
				return err
			}
			if t.unlock != nil {
				// Every source read since the start has its mark.
				t.unlock()
				t.unlock = nil
			}
			continue
		case it, ok := <-t.items:
			if !ok {
				// Every input ended (a pipe reached its end).
				return commit()
			}
			if it.err != nil {
				if t.files[it.file].journal {
					// Nothing else to read: stop, keeping what was
					// committed, and let the service manager restart.
					if err := commit(); err != nil {
						return err
					}
					return it.err
				}
				t.log.Error("stopped reading", "path", t.files[it.file].path, "err", it.err)
				continue
			}
			if batch == nil {
				var err error
				if batch, err = t.begin(ctx); err != nil {
					return err
				}
				c.SetSink(batch)
			}
			f := t.files[it.file]
			if now := time.Now(); now.Sub(lastRef) > time.Minute {
				for _, tf := range t.files {
					tf.parser.SetReference(now)
				}
				lastRef = now
			}
			f.parser.ParseInto(&ev, it.line)
			if n, ok := parse.RepeatsPrevious(&ev); ok {
				// "last message repeated 3 times": three more of this
				// file's line before, if it was Postfix's or Exim's (its
				// strings are its own line's, kept alive by the copy).
				if f.hasPrev {
					prev := f.prev
					prev.Repeat = n - 1
					if err := addEvent(batch, c, &prev, f.path); err != nil {
						return err
					}
				}
				f.hasPrev = false
			} else if ev.MTA != parse.MTAUnknown {
				if ev.Kind == parse.KindUnknown {
					batch.AddCounter(ev.Host, programOf(&ev), store.CounterUnknown, 1)
					if _, err := batch.AddUnknownSample(programOf(&ev), it.line, time.Now()); err != nil {
						return err
					}
				} else if err := addEvent(batch, c, &ev, f.path); err != nil {
					return err
				}
				f.hasPrev = ev.Kind != parse.KindUnknown && ev.Kind != parse.KindOther
				if f.hasPrev {
					f.prev = ev
				}
			} else {
				f.hasPrev = false
			}
			uncommitted++
			if it.pos.Path != "" {
				f.advance(it.pos)
			}
			if it.cursor != "" {
				f.cursor = it.cursor
				f.lines++
				f.dirty = true
			}
			if uncommitted >= 5000 {
				if err := commit(); err != nil {
					return err
				}
			}
		}
	}
}

// advance records the position after a line. A position in other content
// than the last one (the follower moved to the new file after a rotation)
// starts a new checkpoint row.
func (f *tailFile) advance(pos ingest.Position) {
	// Within its first kilobyte a content's head fingerprint grows with
	// each line: the same content, read on (a compressed rotation has no
	// inode to tell it by, and a position saved before a restart has
	// none either). A new content starts again from a smaller offset;
	// one whose first line ends past where the old one stopped (a log
	// under 1 KB, then a longer line) cannot be told apart this way.
	sameContent := pos.Head == f.head ||
		(f.head.Len < ingest.HeadSize && pos.Head.Len > f.head.Len && pos.Offset > f.pos.Offset && pos.Path == f.pos.Path)
	if !sameContent {
		if f.dirty {
			// The lines of the content left are in this batch: so is
			// its final position, or a later ingest of the rotated
			// file would read them again.
			f.finished = append(f.finished, f.source())
		}
		f.sourceID, f.lines, f.firstRead, f.committed = 0, 0, time.Time{}, nil
	}
	f.head = pos.Head
	f.pos = pos
	f.lines++
	f.dirty = true
}

// heartbeat commits the followed sources' rows with this process's mark
// and the time, in a transaction of its own.
func (t *tailer) heartbeat(ctx context.Context) error {
	b, err := t.begin(ctx)
	if err != nil {
		return err
	}
	var srcs []store.Source
	for _, f := range t.files {
		if !f.marked() {
			srcs = append(srcs, store.Source{})
			continue
		}
		src := f.source()
		id, err := b.SetSource(src)
		if err != nil {
			b.Rollback()
			return err
		}
		f.sourceID = id
		srcs = append(srcs, src)
	}
	if err := b.Commit(); err != nil {
		return err
	}
	for i, f := range t.files {
		if f.marked() {
			f.wrote(srcs[i])
		}
	}
	return nil
}

// readerMark is "tail HOST:PID", this process's mark on its sources.
func readerMark() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("tail %s:%d", host, os.Getpid())
}

// begin starts a batch, waiting as long as another process holds the write
// lock (a sqlite3 shell, a large ingest creating its indexes): a daemon
// that gave up would stop recording. The lines wait in the files. It warns
// once per --lock-timeout, at most once a minute.
func (t *tailer) begin(ctx context.Context) (*store.Batch, error) {
	var warned time.Time
	for {
		b, err := t.db.Begin(ctx)
		if err == nil || !errors.Is(err, store.ErrLocked) || ctx.Err() != nil {
			return b, err
		}
		if time.Since(warned) >= time.Minute {
			warned = time.Now()
			t.log.Warn("the database is locked by another process (an sqlite3 shell with a transaction open, or an ingest creating its indexes?); tail waits for it, the lines wait in the files")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
