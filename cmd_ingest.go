package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/term"

	"mailbounce/collate"
	"mailbounce/ingest"
	"mailbounce/parse"
	"mailbounce/store"
)

// runIngest reads logs into the database: every rotated and compressed file,
// once. What was already stored (the same file again, or mail.log.1.gz
// after mail.log was read) is recognised by content and skipped.
func runIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "ingest", "[flags] FILE|GLOB|- ... | --journal")
	dbPath := fs.String("db", defaultDB(e), "database file (env MAILBOUNCE_DB)")
	year := fs.Int("year", 0, "year of the first line of BSD-syslog logs (default: inferred from each file's modification time)")
	tz := fs.String("tz", "", "time zone of timestamps without offset, e.g. Europe/Berlin (default: local)")
	host := fs.String("host", "", "host name for lines that carry none (Exim's own mainlog)")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar and no summary")
	journal := addJournalFlags(fs, "read")
	lockTimeout := fs.Duration("lock-timeout", store.DefaultBusyTimeout, "how long to wait for another process's write lock before failing")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file (for developers)")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file at the end (for developers)")
	batchRows := fs.Int("batch-rows", defaultCommitRows, "rows per transaction (for developers and tests)")
	bulkMode := fs.String("bulk", "auto", "set the report indexes aside while loading: auto, on or off (for developers and tests)")
	fs.MarkHidden("bulk")
	fs.MarkHidden("batch-rows")
	fs.MarkHidden("cpuprofile")
	fs.MarkHidden("memprofile")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// The Go heap lives mostly on parsed blocks and in-flight messages; a
	// soft limit makes the collector keep the peak near the live size
	// instead of twice it, so that memory stays flat on any input size.
	debug.SetMemoryLimit(memoryLimit)
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	jin, err := journal.input(fs, "ingest", "name at least one log file, glob or - for standard input")
	if err != nil {
		return err
	}
	if *lockTimeout <= 0 {
		return usageError("--lock-timeout must be longer than 0 (e.g. 30s)")
	}
	if *bulkMode != "auto" && *bulkMode != "on" && *bulkMode != "off" {
		return usageError("--bulk must be auto, on or off")
	}
	loc, err := loadLocation(*tz)
	if err != nil {
		return err
	}
	var inputs []ingest.Input
	var missing int
	if jin != nil {
		inputs = []ingest.Input{{Path: jin.sourcePath(), Size: -1, ModTime: time.Now()}}
	} else if inputs, missing, err = expandInputs(e, "ingest", fs.Args()); err != nil {
		return err
	}
	// The indexes a bulk load of an earlier run set aside are restored or
	// deferred again below, not by Open: creating them only to drop them
	// again would cost the resumed run a sort of every row.
	db, err := store.Open(ctx, *dbPath, store.Options{KeepDeferredIndexes: true, BusyTimeout: *lockTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	warnWorldReadable(e, "ingest", *dbPath)
	// After Open, which creates the database with its mode: the lock file
	// sits beside it.
	release, err := ingestLock(ctx, *dbPath, e.stderr, "mailbounce ingest: another mailbounce (an ingest, or a tail that is starting) is reading logs into "+*dbPath+"; waiting for it (two reading one log at once would store its lines twice)")
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &statusError{status: exitError, err: fmt.Errorf("interrupted while waiting for another ingest; nothing was read")}
		}
		return err
	}
	defer release()
	start := time.Now()
	bulk, err := startBulkLoad(ctx, db, inputs, *bulkMode)
	if err != nil {
		return err
	}

	job := &ingestJob{
		db: db, inputs: inputs, journal: jin, year: *year, years: yearCarry{given: *year}, loc: loc, host: *host,
		stderr: e.stderr, commitRows: *batchRows, missing: missing,
	}
	if !*quiet && isTerminal(e.stderr) {
		job.bar = newProgress(e.stderr, inputs)
	}
	runErr := job.run(ctx)
	if *memProfile != "" {
		// Now, while the collator's and the writer's state is still live.
		writeHeapProfile(*memProfile)
	}
	// The end of a bulk load (indexes, stitching) is where the peak RSS
	// was, and needs none of the collator's memory or the blocks': give it
	// back to the system first.
	job.release()
	debug.FreeOSMemory()
	if runErr != nil && ctx.Err() != nil {
		// A signal rolls the open batch back under the writer's feet; what
		// it makes a statement return is the interruption, not a fault.
		runErr = ctx.Err()
	}
	if job.bar != nil {
		next := ""
		if bulk && !errors.Is(runErr, context.Canceled) {
			next = "creating the indexes that reports read (bulk load)..."
		}
		job.bar.finish(next)
	}
	var indexTime time.Duration
	indexed := false
	if !errors.Is(runErr, context.Canceled) {
		// After a failure too: what was committed is worth reporting on.
		// An interrupted run leaves them to the next mailbounce that opens
		// the database, so that Ctrl-C stops at once.
		t := time.Now()
		err := db.RestoreIndexes(ctx)
		if err != nil && runErr == nil {
			runErr = err
		}
		indexTime, indexed = time.Since(t), err == nil && ctx.Err() == nil
	}
	if !*quiet {
		job.summary(e.stderr, time.Since(start))
		switch {
		case bulk && indexed:
			fmt.Fprintf(e.stderr, "  bulk load: the indexes that reports read were created at the end, in %s\n", indexTime.Round(time.Millisecond))
		case bulk:
			fmt.Fprintf(e.stderr, "  bulk load: the indexes that reports read are not created yet: the next mailbounce command on this database creates them\n")
		}
	}
	switch {
	case runErr != nil && errors.Is(runErr, context.Canceled):
		return &statusError{status: exitError, err: fmt.Errorf("interrupted; what was committed is kept, run the same command again to finish")}
	case runErr != nil:
		return runErr
	case job.missing+job.done.failed > 0 || job.done.truncated > 0:
		return &statusError{status: exitPartial, err: job.partial()}
	}
	return nil
}

// warnWorldReadable warns when the database, which holds e-mail
// addresses, is readable by every user: mailbounce creates it 0600, but an
// older file, a copy or a restore may not be. A mode that opens it to a
// group is left alone: that can be meant (a reporting group).
func warnWorldReadable(e *env, cmd, path string) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		fmt.Fprintf(e.stderr, "mailbounce %s: warning: database %s is readable by every user (mode %04o) and holds e-mail addresses; chmod o-r %s\n",
			cmd, path, fi.Mode().Perm(), path)
	}
}

// A bulk load (store.DeferIndexes) pays when the rows an ingest adds
// outnumber those stored: the indexes set aside are then created over all
// the rows, once, by sorting, instead of taking each new row at a random
// place. Inputs are weighed by the size of their content (a compressed
// file's by its size on disk times compressionRatio), at about one delivery
// attempt per kilobyte of log (a dense outbound relay; a real server's mix
// has fewer: that errs towards not bulk loading). Standard input, whose
// size is unknown and which may be a live stream that never ends (its
// stitching would wait for the end), is never loaded in bulk. Twice the stored rows, so that reading a file again
// (which adds nothing) never rebuilds the indexes for nothing. Small
// ingests are not worth the rebuild.
const (
	bulkMinBytes     = 64 << 20
	bytesPerDelivery = 1000
	// compressionRatio is how much bigger a compressed log is read than it
	// is on disk, at the least: the generated 200 MB Postfix log is 5.3
	// times its .gz and 6.5 times its .zst, real logs repeat themselves
	// more.
	compressionRatio = 5
)

// startBulkLoad decides whether this ingest loads in bulk, and sets the
// indexes aside if so, or creates again those an interrupted bulk load
// left aside if not. Only ingest loads in bulk: tail adds a few rows at a
// time, and reports read while it writes.
func startBulkLoad(ctx context.Context, db *store.DB, inputs []ingest.Input, mode string) (bool, error) {
	bulk := mode == "on"
	if mode == "auto" {
		var size int64
		stream := false
		for _, in := range inputs {
			if in.Size < 0 {
				// Standard input, a named pipe, <(...): of unknown size,
				// perhaps endless, and not to be read twice (not even
				// its first bytes, to weigh it).
				stream = true
				continue
			}
			n := in.Size
			if ingest.FileCompression(in.Path) != ingest.Plain {
				n *= compressionRatio
			}
			size += n
		}
		stored, err := db.StoredDeliveries(ctx)
		if err != nil {
			return false, err
		}
		bulk = !stream && size >= bulkMinBytes && size/bytesPerDelivery >= 2*stored
	}
	if !bulk {
		return false, db.RestoreIndexes(ctx)
	}
	_, err := db.DeferIndexes(ctx)
	return err == nil, err
}

// expandInputs expands the command line into inputs. An argument that
// names nothing readable is reported and counted, and the others are still
// read; only when none is left does the command fail at once.
func expandInputs(e *env, cmd string, args []string) ([]ingest.Input, int, error) {
	inputs, errs := ingest.ExpandAll(args)
	for _, err := range errs {
		fmt.Fprintf(e.stderr, "mailbounce %s: %v\n", cmd, err)
	}
	if len(inputs) == 0 {
		return nil, len(errs), &statusError{status: exitError, err: fmt.Errorf("no log to read")}
	}
	inputs, skipped := ingest.EximRejectLogs(inputs)
	for _, in := range skipped {
		fmt.Fprintf(e.stderr, "mailbounce %s: %s skipped: Exim writes each rejection to its mainlog too, which is read; give the rejectlog alone to read it\n", cmd, in.Name())
	}
	return inputs, len(errs), nil
}

func defaultDB(e *env) string {
	if p := e.getenv("MAILBOUNCE_DB"); p != "" {
		return p
	}
	return "mailbounce.db"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ingestJob reads its inputs in order. One goroutine reads and parses, the
// caller's goroutine collates and writes: the two cores of a small mail
// host each get one half.
type ingestJob struct {
	db     *store.DB
	inputs []ingest.Input
	// journal, when set, makes the one input the systemd journal.
	journal *journalInput
	year    int
	years   yearCarry // --year across the files of a rotated set
	loc     *time.Location
	host    string
	stderr  io.Writer
	bar     *progress
	// commitRows is the number of rows per transaction; 0 means the default.
	commitRows int

	// Summary figures: those of the blocks committed (done), and of the
	// blocks since (pending, which a failed commit loses). missing counts
	// the arguments that named no file.
	done, pending tally
	missing       int
	collator      *collate.Collator
	stats         collate.Stats // the collator's at the last commit
	// freeEvents are event slices of blocks already processed, for the
	// reader to fill again: a new slice of blockLines events per block was most of
	// what ingest allocated, and so most of the collector's work.
	freeEvents chan []parse.Event
	// heads are the first bytes of the inputs read so far (the reading
	// goroutine's).
	heads [][]byte
	// cmd is the command that runs the job ("ingest", "report").
	cmd string
}

// tally is what blocks of lines add to the summary. The reading goroutine
// fills each block's, the collating one adds them up.
type tally struct {
	files, failed int   // inputs opened; inputs not read in full
	lines, bytes  int64 // lines and bytes of content read
	skipped       int64 // lines skipped as already in the database
	unknown       int64 // Postfix and Exim lines not understood
	truncated     int64 // lines cut at the maximum length
	noHost        int64 // lines of a log that names no host (Exim's mainlog), stored with none
	bare          int64 // Postfix or Exim messages with no time or host (journalctl -o cat), of unknown
}

func (t *tally) add(o tally) {
	t.files += o.files
	t.failed += o.failed
	t.lines += o.lines
	t.bytes += o.bytes
	t.skipped += o.skipped
	t.unknown += o.unknown
	t.truncated += o.truncated
	t.noHost += o.noHost
	t.bare += o.bare
}

// sample is a line that was not understood, kept so a user can see it.
type sample struct{ program, line string }

// block is a run of lines read and parsed together. Its events' strings
// point into text, which nothing else writes to.
type block struct {
	input   int // index in inputs
	events  []parse.Event
	text    string
	lines   int64
	tally   tally
	offset  int64 // content offset after the block: the checkpoint
	raw     int64 // bytes of the raw file read so far
	samples []sample
	src     *store.Source // set on the first block of an input
	// expect, with src, is what the input's row held when it was looked
	// up (nil: no row): commits check it has not moved since.
	expect *store.SourceMark
	cursor string // the journal's: the cursor of the block's last entry
	end    bool   // the input is done (read in full or failed)
	// synced, when set, marks no lines but a request: close it once
	// everything sent before is committed.
	synced chan struct{}
	// info marks no lines but figures for the summary: an input done
	// without reading it (it could not be opened, or was skipped whole).
	info bool
	// notes are messages for the user, printed by the collating
	// goroutine (which owns stderr and the bar) in their order.
	notes []string
	err   error // why the input could not be read in full
	// skipRaw is how many of the raw bytes of an input's first block
	// were passed over as read before (the bar moves, the rates do not
	// count them).
	skipRaw int64
}

// memoryLimit is the soft limit of the Go heap for ingest and tail; SQLite's
// page cache (store: 32 MB for the writer, and about as much again to sort
// when a bulk load creates its indexes at the end) comes on top. The live
// heap is 15-30 MB: without a limit the collector lets the heap grow to
// twice that, which at the end of a bulk load (stitching everything it
// stored) put the peak RSS near 145 MB.
const memoryLimit = 60 << 20

// Blocks of 1024 lines: each block in flight holds its events (600 bytes
// each) and text; with 2048 they were half of the live heap at 1 GB, and
// the collector ran a third more often under memoryLimit.
const (
	blockBytes = 128 << 10
	blockLines = 1024
	// Rows per transaction: large transactions make SQLite fast; the
	// checkpoint is committed with them.
	defaultCommitRows = 100_000
)

func (j *ingestJob) run(ctx context.Context) error {
	if j.commitRows <= 0 {
		j.commitRows = defaultCommitRows
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	blocks := make(chan *block, 4)
	j.freeEvents = make(chan []parse.Event, cap(blocks)+2)
	go j.read(ctx, blocks)

	j.collator = collate.New(nil, collate.Options{DefaultHost: j.host})
	var batch *store.Batch
	defer func() {
		if batch != nil {
			batch.Rollback()
		}
	}()
	var src *store.Source
	var expect *store.SourceMark // what src's row held after our last look
	var rawDone int64
	commit := func() error {
		if batch != nil {
			if err := j.collator.Flush(); err != nil {
				return err
			}
			if src != nil {
				if src.ID != 0 {
					src.Expect = expect
				}
				id, err := batch.SetSource(*src)
				if errors.Is(err, store.ErrSourceMoved) {
					return fmt.Errorf("%w; what this run read of it since its last commit was not stored: run it again", err)
				}
				if err != nil {
					return err
				}
				src.ID = id
			}
			err := batch.Commit()
			batch = nil
			if err != nil {
				return err
			}
			if src != nil {
				expect = &store.SourceMark{Offset: src.Offset, Cursor: src.Cursor}
			}
			j.stats = j.collator.Stats
		}
		j.done.add(j.pending)
		j.pending = tally{}
		return nil
	}
	for {
		// Ctrl-C ends the job here even while the reader is stuck in a
		// read that does not end (a pipe whose writer went quiet).
		var b *block
		select {
		case <-ctx.Done():
			return ctx.Err()
		case next, ok := <-blocks:
			if !ok {
				if err := commit(); err != nil {
					return err
				}
				return ctx.Err()
			}
			b = next
		}
		if b.synced != nil {
			if err := commit(); err != nil {
				return err
			}
			close(b.synced)
			continue
		}
		j.note(b.notes...)
		if b.info {
			j.pending.add(b.tally)
			if in := j.inputs[b.input]; j.bar != nil {
				// Done without reading (or not read at all): its bytes
				// move the bar, not its rates.
				j.bar.add(in.Name(), 0, max(in.Size, 0), 0)
			}
			continue
		}
		if b.src != nil {
			if err := commit(); err != nil {
				return err
			}
			src, expect = b.src, b.expect
			rawDone = 0
		}
		if batch == nil {
			var err error
			if batch, err = j.db.Begin(ctx); err != nil {
				return err
			}
			j.collator.SetSink(batch)
		}
		for i := range b.events {
			ev := &b.events[i]
			switch ev.Kind {
			case parse.KindWarning, parse.KindFatal:
				kind := store.CounterWarning
				if ev.Kind == parse.KindFatal {
					kind = store.CounterFatal
				}
				batch.AddCounter(ev.Host, programOf(ev), kind, int64(1+ev.Repeat))
				continue
			case parse.KindUnknown:
				batch.AddCounter(ev.Host, programOf(ev), store.CounterUnknown, 1)
				continue
			}
			// A line syslog folded ("message repeated 3 times") counts as
			// the lines it stands for.
			for range 1 + ev.Repeat {
				if err := j.collator.Add(ev); err != nil {
					return fmt.Errorf("%s: %w", j.inputs[b.input].Name(), err)
				}
			}
		}
		for _, s := range b.samples {
			if _, err := batch.AddUnknownSample(s.program, s.line, time.Time{}); err != nil {
				return err
			}
		}
		if src != nil {
			src.Offset = b.offset
			src.Lines += b.lines
			src.LastRead = time.Now()
			if b.cursor != "" {
				src.Cursor = b.cursor
			}
		}
		if j.bar != nil {
			j.bar.add(j.inputs[b.input].Name(), b.raw-rawDone-b.skipRaw, b.skipRaw, b.lines)
			rawDone = b.raw
		}
		// Nothing keeps an event past Add (the collator copies what it
		// keeps), so the slice can take the next block's. Until then its
		// old events keep their block's text alive: one block's, 128 KB,
		// per slice kept, which is less than clearing them would cost.
		select {
		case j.freeEvents <- b.events[:0]:
		default:
		}
		b.events = nil
		j.pending.add(b.tally)
		if b.end || batch.Len() >= j.commitRows {
			if err := commit(); err != nil {
				return err
			}
		}
		if b.err != nil {
			hint := ""
			if re := (*ingest.ReadError)(nil); errors.As(b.err, &re) && re.Compression != ingest.Plain {
				if errors.Is(re.Err, io.ErrUnexpectedEOF) {
					hint = "; the lines before it are stored: a complete copy of the file, ingested later, is read on from there"
				} else {
					// A checksum error is found at the end of the data it
					// covers: what was read may be damaged already.
					hint = "; the archive is damaged inside: lines read before the error may be damaged or missing, and a good copy of it would be taken for this one and skipped (the same first kilobyte): ingest a good copy first, or into a database of its own"
				}
			}
			j.note(fmt.Sprintf("%v%s", b.err, hint))
		}
	}
}

// read opens each input, skips what the database already holds, and sends
// parsed blocks. It stops at the end of the inputs or when ctx is done.
func (j *ingestJob) read(ctx context.Context, out chan<- *block) {
	defer close(out)
	for i, in := range j.inputs {
		if ctx.Err() != nil {
			return
		}
		j.readInput(ctx, i, in, out)
	}
}

func (j *ingestJob) readInput(ctx context.Context, idx int, in ingest.Input, out chan<- *block) {
	// info sends figures for an input that sends no lines.
	info := func(t tally, notes ...string) {
		select {
		case out <- &block{input: idx, info: true, tally: t, notes: notes}:
		case <-ctx.Done():
		}
	}
	if j.journal != nil {
		j.readJournal(ctx, idx, in, out, info)
		return
	}
	// A log read while it is written may end in half a line: if the file
	// grew while it was read, that line is left for the next run, which
	// reads on from the offset before it. A file that did not grow (a
	// sample or an excerpt often ends without "\n") gives it as it is.
	r, err := ingest.Open(in, ingest.Options{HoldPartial: in.Size >= 0})
	if err != nil {
		info(tally{failed: 1}, err.Error())
		return
	}
	defer r.Close()
	head := ingest.NewFingerprint(r.ContentHead())
	again := j.readBefore(r.ContentHead())
	if again {
		// The same content under another name earlier in this run (a
		// copy, mail.log.1 beside mail.log.1.gz): its record of what was
		// read is committed once the collator has had all of it.
		if !j.barrier(ctx, out) {
			return
		}
	}
	j.heads = append(j.heads, bytes.Clone(r.ContentHead()))
	// A log that starts with a kilobyte of NULs is known by its path, not
	// its head (a renamed copy of it is new input).
	blank := ingest.BlankHead(r.ContentHead())
	var src store.Source
	var found bool
	if blank {
		src, found, err = j.db.FindSourceByPath(ctx, in.Path)
		found = found && src.HeadLen == head.Len && bytes.Equal(src.HeadHash, head.Sum[:])
	} else {
		src, found, err = j.db.FindSourceByHead(ctx, r.ContentHead())
	}
	if err != nil {
		info(tally{files: 1, failed: 1}, fmt.Sprintf("%s: %v", in.Name(), err))
		return
	}
	if found && j.followed(src) && !again {
		info(tally{files: 1}, fmt.Sprintf("%s: %s follows it (alive %s ago) and stores its lines: left to it",
			in.Name(), src.Reader, time.Since(src.LastRead).Round(time.Second)))
		return
	}
	// The first block carries the input's own figures.
	t := tally{files: 1}
	if found {
		err := r.SkipTo(src.Offset)
		switch {
		case errors.Is(err, ingest.ErrPastEnd) && !blank:
			// An older, shorter copy of a log read further before (a
			// snapshot taken while it grew): all of it is in the
			// database already, and the record keeps the offset of the
			// longer one.
			info(tally{files: 1, skipped: countLines(ctx, in)})
			return
		case errors.Is(err, ingest.ErrPastEnd):
			// The file at this path is shorter than what was read of it:
			// truncated and written again. Its own row stays as it is.
			info(tally{files: 1, failed: 1}, fmt.Sprintf("%s: starts with a kilobyte of NUL bytes and is shorter than when it was read before: it cannot be told from the content read then, and is not read again; ingest a copy under another name to read it",
				in.Name()))
			return
		case err != nil:
			info(tally{files: 1, failed: 1}, err.Error())
			return
		default:
			t.skipped = src.Lines
		}
		src.Path = in.Path
		src.Reader = "" // a tail that marked it is gone (followed above)
	} else {
		src = store.Source{Path: in.Path, FirstRead: time.Now()}
	}
	var expect *store.SourceMark
	if found {
		expect = &store.SourceMark{Offset: src.Offset, Cursor: src.Cursor}
	}
	src.HeadHash = head.Sum[:]
	src.HeadLen = head.Len
	src.Size = in.Size
	src.MTime = in.ModTime
	j.readLines(ctx, idx, in, r, src, expect, t, false, out)
}

// readLines sends the lines of r, parsed, in blocks: the first carries
// src, the input's record, and t, its figures so far; each carries the
// offset reached, and with cursors the journal cursor of its last line.
func (j *ingestJob) readLines(ctx context.Context, idx int, in ingest.Input, r *ingest.Reader, src store.Source, expect *store.SourceMark, t tally, cursors bool, out chan<- *block) {
	p := parse.NewParser(parse.Options{Year: j.year, Reference: in.ModTime, Location: j.loc})
	j.years.start(p, in.Path)
	defer j.years.end(p)
	lineNo, offset, skipRaw := src.Lines, r.Offset(), r.RawRead()
	var cut int64 // lines of this input cut
	first := true
	// carry is the event of the last line of the block before, when that
	// line was one: a "last message repeated" line that opens the next
	// block repeats it there.
	var carry parse.Event
	carryOK := false
	buf := make([]byte, 0, blockBytes+4096)
	ends := make([]int, 0, blockLines)
	for {
		buf, ends = buf[:0], ends[:0]
		var readErr error
		var notes []string
		for len(ends) < blockLines && len(buf) < blockBytes {
			at := r.Offset()
			line, _, err := r.Next()
			if err != nil {
				if err != io.EOF {
					readErr = err
				} else if n := r.Partial(); n > 0 {
					if cursors {
						notes = append(notes, fmt.Sprintf("%s: journalctl's output ended in the middle of an entry; it is read whole next time", in.Name()))
					} else if growing(in.Path, r.RawRead()) {
						notes = append(notes, fmt.Sprintf("%s: its last line is being written (%d bytes so far); it is left for the next run, which reads it whole", in.Name(), n))
					} else if last, ok := r.TakePartial(); ok {
						line, err = last, nil
					}
				}
				if err != nil {
					break
				}
			}
			lineNo++
			if r.Truncated() {
				if cut == 0 {
					notes = append(notes, fmt.Sprintf("%s: line %d (at byte %d) is longer than %d MiB: only its first MiB is read (no mail log writes lines that long: a binary file or a dump?)",
						in.Name(), lineNo, at, ingest.DefaultMaxLineLen>>20))
				}
				cut++
				t.truncated++
			}
			buf = append(buf, line...)
			ends = append(ends, len(buf))
		}
		b := &block{input: idx, offset: r.Offset(), raw: r.RawRead(), lines: int64(len(ends)), err: readErr, notes: notes}
		t.lines += int64(len(ends))
		t.bytes += r.Offset() - offset
		offset = r.Offset()
		if first {
			s := src
			b.src, b.expect = &s, expect
			b.skipRaw = skipRaw
			first = false
		}
		if len(ends) > 0 {
			b.text = string(buf)
			if cursors {
				// The cursor of the last entry that has one (journalctl
				// gives every entry one; a line cut at 1 MiB may lose it).
				for k := len(ends) - 1; k >= 0 && b.cursor == ""; k-- {
					from := 0
					if k > 0 {
						from = ends[k-1]
					}
					b.cursor = entryCursor(b.text[from:ends[k]])
				}
			}
			select {
			case b.events = <-j.freeEvents:
			default:
				b.events = make([]parse.Event, 0, blockLines)
			}
			startLine := 0
			var ev parse.Event
			prev := -1 // the event of the line before, in b.events
			for _, end := range ends {
				line := b.text[startLine:end]
				startLine = end
				p.ParseInto(&ev, line)
				if n, ok := parse.RepeatsPrevious(&ev); ok {
					// "last message repeated 3 times": the line before
					// stands for three more (if it was in this block).
					switch {
					case prev >= 0:
						b.events[prev].Repeat += n
					case carryOK && carry.Kind != parse.KindUnknown:
						// The line before ended the last block, which is
						// gone: a copy of its event stands for the n.
						again := carry
						again.Repeat = n - 1
						b.events = append(b.events, again)
					}
					prev, carryOK = -1, false
					continue
				}
				prev, carryOK = -1, false
				if ev.MTA == parse.MTAUnknown || ev.Kind == parse.KindOther {
					if parse.UnknownEnvelope(&ev, line) {
						// A format to learn: counted and shown, not stored.
						t.unknown++
						if parse.BareMessage(line) {
							t.bare++
						}
						if len(b.samples) < 3 {
							b.samples = append(b.samples, sample{"(unknown envelope)", line})
						}
					}
					continue
				}
				if ev.Host == "" && j.host == "" {
					t.noHost++
				}
				if ev.Kind == parse.KindUnknown {
					t.unknown++
					if len(b.samples) < 3 {
						b.samples = append(b.samples, sample{programOf(&ev), line})
					}
				}
				b.events = append(b.events, ev)
				prev = len(b.events) - 1
			}
			if prev >= 0 {
				carry, carryOK = b.events[prev], true
				carry.Repeat = 0
			}
		}
		b.end = len(ends) < blockLines && len(buf) < blockBytes || readErr != nil
		if readErr != nil {
			t.failed++
		}
		b.tally, t = t, tally{}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
		if b.end {
			return
		}
	}
}

// tailAlive is how long after its last commit a mailbounce tail still
// counts as following a source; it commits at least every tailHeartbeat.
const (
	tailAlive     = 30 * time.Second
	tailHeartbeat = 5 * time.Second
)

// followed tells a source that a live mailbounce tail follows: ingest
// leaves it alone, or the two would store its new lines twice.
func (j *ingestJob) followed(src store.Source) bool {
	return strings.HasPrefix(src.Reader, "tail ") && time.Since(src.LastRead) < tailAlive
}

// growing tells whether the file at path is now longer than the read
// bytes read of it: it is being written.
func growing(path string, read int64) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > read
}

// partial says what was not read in full, as the summary does.
func (j *ingestJob) partial() error {
	n, cut := j.missing+j.done.failed, j.done.truncated
	switch {
	case n > 0 && cut > 0:
		return fmt.Errorf("%d input(s) not read in full, and %s line(s) cut; see the messages above", n, thousands(cut))
	case n > 0:
		return fmt.Errorf("%d input(s) not read in full; see the messages above", n)
	}
	return fmt.Errorf("%s line(s) longer than 1 MiB cut; see the messages above", thousands(cut))
}

// note prints messages for the user, above the bar if there is one.
func (j *ingestJob) note(msgs ...string) {
	if len(msgs) == 0 {
		return
	}
	if j.bar != nil {
		j.bar.bar.Clear()
	}
	for _, m := range msgs {
		fmt.Fprintf(j.stderr, "mailbounce %s: %s\n", j.command(), m)
	}
}

// command names the command running the job in messages.
func (j *ingestJob) command() string {
	if j.cmd == "" {
		return "ingest"
	}
	return j.cmd
}

// readBefore tells whether an input read earlier in this run began with
// the same content as one whose first bytes are head, or the other way
// round.
func (j *ingestJob) readBefore(head []byte) bool {
	for _, h := range j.heads {
		n := min(len(h), len(head))
		if n > 0 && string(h[:n]) == string(head[:n]) {
			return true
		}
	}
	return false
}

// barrier waits until the collator has committed every block sent before
// it. It returns false if the job ended first.
func (j *ingestJob) barrier(ctx context.Context, out chan<- *block) bool {
	done := make(chan struct{})
	select {
	case out <- &block{synced: done}:
	case <-ctx.Done():
		return false
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// countLines counts the lines of a file that is skipped whole, for the
// summary, reading it again; 0 for a stream, which cannot be, or once ctx
// is done.
func countLines(ctx context.Context, in ingest.Input) int64 {
	if in.Size < 0 {
		return 0
	}
	r, err := ingest.Open(in, ingest.Options{})
	if err != nil {
		return 0
	}
	defer r.Close()
	var n int64
	for ctx.Err() == nil {
		if _, _, err := r.Next(); err != nil {
			return n
		}
		n++
	}
	return n
}

// release drops what only reading needed, keeping the counts.
func (j *ingestJob) release() {
	j.collator = nil
	// Emptied, not dropped: after an error the reading goroutine may still
	// use the channel.
	for {
		select {
		case <-j.freeEvents:
		default:
			return
		}
	}
}

func (j *ingestJob) summary(w io.Writer, elapsed time.Duration) {
	// What was committed: after an interruption or a failure, the rows
	// of the batch that was lost are not counted.
	st, t := j.stats, j.done
	mbps := float64(t.bytes) / 1e6 / elapsed.Seconds()
	size := thousands(t.bytes/1_000_000) + " MB"
	if t.bytes < 10_000_000 {
		size = fmt.Sprintf("%.1f MB", float64(t.bytes)/1e6)
	}
	what := fmt.Sprintf("%d file(s), %s lines", t.files, thousands(t.lines))
	if j.journal != nil {
		src := "the systemd journal"
		if j.journal.dir != "" {
			src = "the journal files in " + j.journal.dir
		}
		what = fmt.Sprintf("%s, %s entries not read before", src, thousands(t.lines))
	}
	fmt.Fprintf(w, "ingested %s (%s) in %s, %.1f MB/s: %s delivery attempts, %s messages, %s rejects\n",
		what, size, elapsed.Round(time.Millisecond), mbps,
		thousands(st.Deliveries), thousands(st.Messages), thousands(st.Rejects))
	if t.skipped > 0 {
		fmt.Fprintf(w, "  %s lines already in the database were skipped\n", thousands(t.skipped))
	}
	if t.unknown > 0 {
		fmt.Fprintf(w, "  %s Postfix/Exim lines not understood; see them with: mailbounce parse --unknown FILE\n", thousands(t.unknown))
	}
	if t.bare > 0 {
		fmt.Fprintf(w, "  %s of them carry no time or host (journalctl -o cat?): read the journal with -o short-iso, or with mailbounce ingest --journal\n", thousands(t.bare))
	}
	if t.truncated > 0 {
		fmt.Fprintf(w, "  %s lines longer than 1 MiB were cut (see the messages above)\n", thousands(t.truncated))
	}
	if t.noHost > 0 {
		fmt.Fprintf(w, "  %s lines name no host (Exim's own mainlog): stored without one; give --host NAME to tell hosts apart\n", thousands(t.noHost))
	}
	if n := j.missing + t.failed; n > 0 {
		fmt.Fprintf(w, "  %d input(s) could not be read in full\n", n)
	}
}

// thousands writes n with thin grouping: 1,234,567.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
