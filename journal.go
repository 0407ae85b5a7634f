package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"mailbounce/ingest"
	"mailbounce/store"
)

// Reading the systemd journal (ingest and tail --journal): journalctl
// writes the entries of syslog's mail facility (or of --journal-unit's
// units) as JSON, one per line, which the parser reads as it reads a
// file's lines. The journal has no file to
// fingerprint: its source row (path journalPath, or journalPath:DIR) keeps
// the cursor of the last entry committed, in the same transaction as the
// rows made of the entries up to it, and the next run asks journalctl for
// the entries after it. Nothing is read twice, and nothing is lost when a
// run stops half-way: the next one reads on from its last commit.

// journalPath is the journal's sources.path, and its name in messages.
const journalPath = "journal"

// mailFacility selects the journal's entries of syslog's mail facility,
// which Postfix and Exim log to, whichever unit (or cron job, or admin's
// shell running postsuper) the process belonged to: a field match, so an
// MTA first seen after journalctl started is followed too.
const mailFacility = "SYSLOG_FACILITY=2"

// journalInput says where a journal input reads from.
type journalInput struct {
	dir   string   // journalctl --directory; "" for the system's journal
	units []string // --unit patterns; none: the mail facility
	// follow: journalctl --follow, for tail; fromEnd: without a cursor,
	// start at the end.
	follow, fromEnd bool
}

// sourcePath is the journal's sources.path: one cursor per journal
// directory.
func (j journalInput) sourcePath() string {
	if j.dir == "" {
		return journalPath
	}
	return journalPath + ":" + j.dir
}

// journalFlags are --journal, --journal-dir and --journal-unit, which
// ingest and tail share.
type journalFlags struct {
	on    *bool
	dir   *string
	units *[]string
}

// addJournalFlags defines them; verb says what is done with the entries.
func addJournalFlags(fs *pflag.FlagSet, verb string) journalFlags {
	return journalFlags{
		on:    fs.Bool("journal", false, verb+" Postfix's and Exim's entries of the systemd journal (journalctl), from the last entry committed, instead of files"),
		dir:   fs.String("journal-dir", "", "with --journal: the journal files in this directory (journalctl --directory), e.g. copied from another host"),
		units: fs.StringArray("journal-unit", nil, "with --journal: read the entries of these systemd units (journalctl --unit, globs allowed) instead of syslog's mail facility; repeatable"),
	}
}

// input checks the flags against the file arguments (what names nothing
// says how to name something) and returns the journal to read, or nil for
// files.
func (f journalFlags) input(fs *pflag.FlagSet, cmd, noFiles string) (*journalInput, error) {
	on := *f.on || *f.dir != "" || fs.Changed("journal-unit")
	switch {
	case on && fs.NArg() > 0:
		return nil, usageError("give either log files or --journal (which --journal-dir and --journal-unit imply), not both (run %s once for each)", cmd)
	case !on && fs.NArg() == 0:
		return nil, usageError("%s, or give --journal", noFiles)
	case !on:
		return nil, nil
	}
	j := &journalInput{dir: *f.dir, units: *f.units}
	return j, j.check()
}

// journalctl is the program run.
const journalctl = "journalctl"

// check says what stops the journal from being read before anything is:
// no journalctl, or no such directory. It makes dir absolute, since the
// cursor is kept per directory.
func (j *journalInput) check() error {
	if _, err := exec.LookPath(journalctl); err != nil {
		return fmt.Errorf("the systemd journal: journalctl was not found in PATH: --journal needs systemd's journalctl (a host without systemd logs to files: ingest those)")
	}
	if j.dir == "" {
		return nil
	}
	abs, err := filepath.Abs(j.dir)
	if err != nil {
		return err
	}
	j.dir = abs
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--journal-dir %s: no such directory", abs)
	case err != nil:
		return fmt.Errorf("--journal-dir %s: %w", abs, err)
	case !fi.IsDir():
		return fmt.Errorf("--journal-dir %s: not a directory (journalctl --file reads one file; give its directory)", abs)
	}
	// The same directory under another name (a symlink) keeps one cursor.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		j.dir = real
	}
	// journalctl --directory reads the files in the directory itself, and
	// says nothing when there are none: a copy of /var/log/journal has
	// them in a subdirectory named by the machine ID.
	if files, _ := filepath.Glob(filepath.Join(j.dir, "*.journal*")); len(files) > 0 {
		return nil
	}
	if files, _ := filepath.Glob(filepath.Join(j.dir, "*", "*.journal*")); len(files) > 0 {
		return fmt.Errorf("--journal-dir %s: no journal files in it, but in %s: give that directory (journald keeps a machine's files in a directory named by its machine ID)",
			abs, filepath.Dir(files[0]))
	}
	return fmt.Errorf("--journal-dir %s: no journal files (*.journal) in it", abs)
}

// command is journalctl's command line for the entries after cursor ("":
// all of them). The fields are those the parser reads; journalctl adds
// the cursor and the time to every entry.
func (j journalInput) command(ctx context.Context, cursor string) *exec.Cmd {
	// --all: without it, a field of 4 KiB or more (a long bounce reply)
	// comes as null. No --quiet: journalctl says on stderr when it can
	// read only the user's own entries.
	args := []string{"--output=json", "--no-pager", "--all",
		"--output-fields=MESSAGE,SYSLOG_IDENTIFIER,SYSLOG_PID,_PID,_HOSTNAME"}
	// --merge: journalctl --follow reads only the current boot without
	// it (the first start would miss what came before the last reboot),
	// and ingest reads what tail does.
	args = append(args, "--merge")
	if j.follow {
		// journalctl --follow starts with the last ten entries (after
		// the cursor too): all of them, or none at a first start with
		// --from-end.
		if cursor == "" && j.fromEnd {
			args = append(args, "--follow", "--lines=0")
		} else {
			args = append(args, "--follow", "--lines=all")
		}
	}
	if j.dir != "" {
		args = append(args, "--directory="+j.dir)
	}
	for _, u := range j.units {
		args = append(args, "--unit="+u)
	}
	if cursor != "" {
		args = append(args, "--after-cursor="+cursor)
	}
	if len(j.units) == 0 {
		args = append(args, mailFacility)
	}
	cmd := exec.CommandContext(ctx, journalctl, args...)
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	return cmd
}

// journalReader runs journalctl and reads its output; Close waits for it
// and reports how it ended.
type journalReader struct {
	io.Reader
	cmd    *exec.Cmd
	stderr *cappedBuffer
	units  []string
	once   sync.Once
	err    error
}

// cappedBuffer keeps the first 64 KiB written to it, for journalctl's
// stderr.
type cappedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *cappedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *cappedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.b.String())
}

// start starts journalctl for the entries after cursor.
func (j journalInput) start(ctx context.Context, cursor string) (*journalReader, error) {
	cmd := j.command(ctx, cursor)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	r := &journalReader{Reader: out, cmd: cmd, stderr: &cappedBuffer{}, units: j.units}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("the systemd journal: run journalctl: %w", err)
	}
	return r, nil
}

// Close ends journalctl (if it is still writing: the reader stopped early)
// and waits for it. It reports journalctl's failure with what it said.
func (r *journalReader) Close() error {
	r.once.Do(func() {
		// Whatever is left unread is not wanted: let journalctl go.
		io.Copy(io.Discard, r.Reader)
		err := r.cmd.Wait()
		said := r.stderr.String()
		switch {
		case strings.Contains(said, "insufficient permissions") || strings.Contains(said, "Permission denied") ||
			strings.Contains(said, "not seeing messages from other users and the system"):
			// Also with exit status 0: "No journal files were opened due
			// to insufficient permissions", or only the user's own journal
			// was ("Hint: You are currently not seeing messages from
			// other users and the system").
			r.err = fmt.Errorf("the systemd journal: %s; run as root or as a member of the systemd-journal or adm group", strings.TrimRight(said, "."))
		case strings.Contains(said, "Failed to add filter for units"):
			r.err = fmt.Errorf("the systemd journal: no unit in the journal matches --journal-unit %s (journalctl: %s)", strings.Join(r.units, " "), said)
		case err == nil:
		case said != "":
			r.err = fmt.Errorf("the systemd journal: journalctl: %s", said)
		default:
			r.err = fmt.Errorf("the systemd journal: journalctl: %w", err)
		}
	})
	return r.err
}

// entryCursor returns the __CURSOR field of a line of journalctl's JSON
// output, or "". Cursors are plain ASCII without quotes or escapes.
func entryCursor(line string) string {
	i := strings.Index(line, `"__CURSOR"`)
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(line[i+len(`"__CURSOR"`):], " ")
	if !strings.HasPrefix(rest, ":") {
		return ""
	}
	rest = strings.TrimLeft(rest[1:], " ")
	if !strings.HasPrefix(rest, `"`) {
		return ""
	}
	rest = rest[1:]
	end := strings.IndexByte(rest, '"')
	if end <= 0 || strings.IndexByte(rest[:end], '\\') >= 0 {
		return ""
	}
	return rest[:end]
}

// readJournal reads the journal's entries after the cursor last committed.
func (j *ingestJob) readJournal(ctx context.Context, idx int, in ingest.Input, out chan<- *block, info func(tally, ...string)) {
	src, found, err := j.db.FindSourceByPath(ctx, in.Path)
	if err != nil {
		info(tally{files: 1, failed: 1}, fmt.Sprintf("%s: %v", in.Name(), err))
		return
	}
	if found && j.followed(src) {
		info(tally{files: 1}, fmt.Sprintf("%s: %s follows it (alive %s ago) and stores its entries: left to it",
			in.Name(), src.Reader, time.Since(src.LastRead).Round(time.Second)))
		return
	}
	var expect *store.SourceMark
	if found {
		expect = &store.SourceMark{Offset: src.Offset, Cursor: src.Cursor}
	} else {
		src = store.Source{Path: in.Path, FirstRead: time.Now()}
	}
	src.Reader = ""
	jr, err := j.journal.start(ctx, src.Cursor)
	if err != nil {
		info(tally{files: 1, failed: 1}, err.Error())
		return
	}
	// A last line without its newline (journalctl died while writing it)
	// is not an entry: it is held, and read whole next time.
	r, err := ingest.NewReader(in.Name(), jr, ingest.Options{HoldPartial: true})
	if err != nil {
		jr.Close()
		info(tally{files: 1, failed: 1}, fmt.Sprintf("%s: %v", in.Name(), err))
		return
	}
	// Offsets count this run's output; what was read before is behind
	// the cursor, not an offset.
	src.Offset, src.HeadHash, src.HeadLen, src.Size, src.MTime = 0, nil, 0, -1, time.Time{}
	j.readLines(ctx, idx, in, r, src, expect, tally{files: 1}, true, out)
	r.Close()
	if err := jr.Close(); err != nil && ctx.Err() == nil {
		info(tally{failed: 1}, err.Error())
	}
}

// readJournal sends the journal's entries after cursor to tail's writer,
// following it until ctx is done or journalctl stops. Lines are read as
// they come (ingest's Reader would wait for a kilobyte to sniff the
// format); a last line without its newline (journalctl died while writing
// it) is not an entry.
func (t *tailer) readJournal(ctx context.Context, idx int, j *journalInput, cursor string) {
	fail := func(err error) {
		select {
		case t.items <- tailItem{file: idx, err: err}:
		case <-ctx.Done():
		}
	}
	jr, err := j.start(ctx, cursor)
	if err != nil {
		fail(err)
		return
	}
	br := bufio.NewReaderSize(jr, 64<<10)
	for {
		line, err := readJournalLine(br)
		if err != nil {
			if err != io.EOF {
				jr.cmd.Process.Kill() // --follow would never end
			}
			jerr := jr.Close()
			switch {
			case ctx.Err() != nil:
			case err != io.EOF:
				fail(fmt.Errorf("%s: %w", journalPath, err))
			case jerr != nil:
				fail(jerr)
			default:
				fail(errors.New("the systemd journal: journalctl --follow ended; restart mailbounce tail to read on from the last entry committed"))
			}
			return
		}
		select {
		case t.items <- tailItem{file: idx, line: line, cursor: entryCursor(line)}:
		case <-ctx.Done():
			jr.Close()
			return
		}
	}
}

// readJournalLine reads one line of journalctl's output, without its
// newline, cut at ingest.DefaultMaxLineLen; io.EOF also when the output
// ends in the middle of a line.
func readJournalLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if err == nil {
		return string(line[:len(line)-1]), nil
	}
	if err != bufio.ErrBufferFull {
		return "", err
	}
	buf := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		if len(buf) < ingest.DefaultMaxLineLen {
			buf = append(buf, line[:min(len(line), ingest.DefaultMaxLineLen-len(buf))]...)
		}
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(buf), "\n"), nil
}
