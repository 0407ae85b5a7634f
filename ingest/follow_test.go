package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stepper drives a follower poll by poll through the Wake channel, without
// inotify and without timeouts: poll returns what one poll brings.
type stepper struct {
	t    *testing.T
	f    *Follower
	wake chan struct{}
	logs *lockedBuffer
}

func newStepper(t *testing.T, path string, start *Position, opts FollowOptions) *stepper {
	t.Helper()
	s := &stepper{t: t, wake: make(chan struct{}, 1), logs: &lockedBuffer{}}
	opts.Wake, opts.pollOnly, opts.noBlock = s.wake, true, true
	if opts.Quiet == 0 {
		opts.Quiet = time.Nanosecond
	}
	opts.Logger = slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f, err := Follow(context.Background(), path, start, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.f = f
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			t.Logf("follower log:\n%s", s.logs.String())
		}
	})
	return s
}

// poll wakes the follower once and returns every line it then delivers
// before it would wait again.
func (s *stepper) poll() []Line {
	s.t.Helper()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	var lines []Line
	for {
		l, err := s.f.Next(context.Background())
		if errors.Is(err, errWouldBlock) {
			return lines
		}
		if err != nil {
			s.t.Fatalf("Next: %v", err)
		}
		l.Text = bytes.Clone(l.Text)
		lines = append(lines, l)
	}
}

func (s *stepper) pollTexts() []string { return texts(s.poll()) }

func texts(lines []Line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, string(l.Text))
	}
	return out
}

func wantTexts(t *testing.T, got []string, want ...string) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("line %d of %d: got %q, want %q (of %d)", i, len(got), trim(got[i]), trim(want[i]), len(want))
		}
	}
	switch {
	case len(got) > len(want):
		t.Fatalf("got %d lines, want %d; the first extra is %q", len(got), len(want), trim(got[len(want)]))
	case len(got) < len(want):
		t.Fatalf("got %d lines, want %d; the first missing is %q", len(got), len(want), trim(want[len(got)]))
	}
}

func trimAll(s []string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = trim(s[i])
	}
	return out
}

func appendFile(t *testing.T, path string, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// numberedText is numbered lines from..to, each with its "\n".
// lastNumber is the number of the last complete numbered line in the file
// at path (0 if there is none).
func lastNumber(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return 0
	}
	start := bytes.LastIndexByte(data[:end], '\n') + 1
	var n int
	if _, err := fmt.Sscanf(string(data[start:end]), "line %d", &n); err != nil {
		t.Fatalf("last line of %s: %q: %v", path, data[start:end], err)
	}
	return n
}

func numberedText(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		b.WriteString(numbered(i) + "\n")
	}
	return b.String()
}

func numberedLines(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, numbered(i))
	}
	return out
}

// A partial line waits for its newline; CRLF, invalid UTF-8 and lines far
// over 64 KiB come through as they are; a cancelled Next loses nothing.
func TestFollowLines(t *testing.T) {
	path := tempPath(t, "mail.log")
	appendFile(t, path, "first\r\n\xff\xfe not UTF-8\nsec")
	s := newStepper(t, path, nil, FollowOptions{})
	lines := s.poll()
	wantTexts(t, texts(lines), "first", "\xff\xfe not UTF-8")
	if got, want := lines[1].Pos.Offset, int64(len("first\r\n\xff\xfe not UTF-8\n")); got != want {
		t.Errorf("offset %d, want %d", got, want)
	}
	if p := s.f.Position(); p != lines[1].Pos {
		t.Errorf("Position() = %+v, want %+v", p, lines[1].Pos)
	}
	wantTexts(t, s.pollTexts())
	appendFile(t, path, "ond\n")
	wantTexts(t, s.pollTexts(), "second")

	// 200 KiB written in pieces, over several polls.
	long := strings.Repeat("0123456789abcdef", 200<<10/16)
	appendFile(t, path, long[:70<<10])
	wantTexts(t, s.pollTexts())
	appendFile(t, path, long[70<<10:150<<10])
	wantTexts(t, s.pollTexts())
	appendFile(t, path, long[150<<10:]+"\nafter\n")
	wantTexts(t, s.pollTexts(), long, "after")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.f.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
	appendFile(t, path, "last\n")
	wantTexts(t, s.pollTexts(), "last")
}

// A line longer than MaxLineLen is cut and flagged once it is complete,
// even if it was written over several polls, and the next one is whole.
func TestFollowMaxLineLen(t *testing.T) {
	path := tempPath(t, "mail.log")
	appendFile(t, path, strings.Repeat("a", 3000))
	s := newStepper(t, path, nil, FollowOptions{MaxLineLen: 1000})
	wantTexts(t, s.pollTexts())
	appendFile(t, path, strings.Repeat("a", 3000))
	wantTexts(t, s.pollTexts())
	appendFile(t, path, "\nnext\n")
	lines := s.poll()
	wantTexts(t, texts(lines), strings.Repeat("a", 1000), "next")
	if !lines[0].Truncated || lines[1].Truncated {
		t.Errorf("Truncated: %v %v", lines[0].Truncated, lines[1].Truncated)
	}
	if lines[0].Pos.Offset != 6001 {
		t.Errorf("offset after the long line: %d, want 6001", lines[0].Pos.Offset)
	}
}

func TestFollowFromEnd(t *testing.T) {
	path := tempPath(t, "mail.log")
	appendFile(t, path, "old 1\nold 2\npart")
	s := newStepper(t, path, nil, FollowOptions{FromEnd: true})
	if p := s.f.Position(); p.Offset != 12 || !p.Head.Matches([]byte("old 1\nold 2\n")) || p.Head.Len != 12 {
		t.Errorf("start position %+v, want offset 12", p)
	}
	wantTexts(t, s.pollTexts())
	appendFile(t, path, "ial\nnew\n")
	wantTexts(t, s.pollTexts(), "partial", "new")
}

// A file missing at start is waited for and read from its start when it
// appears, also with FromEnd.
func TestFollowMissingAtStart(t *testing.T) {
	for _, fromEnd := range []bool{false, true} {
		t.Run(fmt.Sprint("FromEnd=", fromEnd), func(t *testing.T) {
			path := tempPath(t, "mail.log")
			s := newStepper(t, path, nil, FollowOptions{FromEnd: fromEnd})
			wantTexts(t, s.pollTexts())
			wantTexts(t, s.pollTexts())
			appendFile(t, path, numberedText(1, 3))
			wantTexts(t, s.pollTexts(), numberedLines(1, 3)...)
		})
	}
}

// Truncated and written again between two polls, shorter or longer than
// what had been read: the new content is read from its start.
func TestFollowTruncateRegrow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to int
	}{
		{"shorter", 101, 102},
		{"regrown past the offset", 101, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t, "mail.log")
			appendFile(t, path, numberedText(1, 20))
			s := newStepper(t, path, nil, FollowOptions{})
			wantTexts(t, s.pollTexts(), numberedLines(1, 20)...)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, numberedText(tc.from, tc.to))
			wantTexts(t, s.pollTexts(), numberedLines(tc.from, tc.to)...)
			if !strings.Contains(s.logs.String(), "truncated") {
				t.Errorf("no warning about the truncation:\n%s", s.logs)
			}
		})
	}
}

// A partial line at the end of a file that is rotated away is delivered
// once the file is quiet; its end, written to the new file, is a line of
// its own.
func TestFollowPartialLineAcrossRotation(t *testing.T) {
	path := tempPath(t, "mail.log")
	appendFile(t, path, "line 1\nline 2\nhal")
	s := newStepper(t, path, nil, FollowOptions{})
	wantTexts(t, s.pollTexts(), "line 1", "line 2")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	lines := s.poll()
	wantTexts(t, texts(lines), "hal")
	if fi, _ := os.Stat(path + ".1"); lines[0].Pos.Offset != fi.Size() {
		t.Errorf("offset after the partial line %d, want %d", lines[0].Pos.Offset, fi.Size())
	}
	appendFile(t, path, "f\nline 4\n")
	wantTexts(t, s.pollTexts(), "f", "line 4")
}

// Reopen leaves a rotated file at its end without waiting for it to be
// quiet or for the new file to have data.
func TestFollowReopen(t *testing.T) {
	path := tempPath(t, "mail.log")
	appendFile(t, path, "one\ntw")
	s := newStepper(t, path, nil, FollowOptions{Quiet: time.Hour})
	wantTexts(t, s.pollTexts(), "one")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "")
	appendFile(t, path+".1", "o\n")
	wantTexts(t, s.pollTexts(), "two")
	appendFile(t, path+".1", "three")
	wantTexts(t, s.pollTexts())
	s.f.Reopen()
	wantTexts(t, s.pollTexts(), "three")
	appendFile(t, path, "four\n")
	lines := s.poll()
	wantTexts(t, texts(lines), "four")
	fi, _ := os.Stat(path)
	if _, ino := inodeOf(fi); lines[0].Pos.Inode != ino {
		t.Errorf("line from inode %d, want the new file's %d", lines[0].Pos.Inode, ino)
	}
}

// logrotate's compress without delaycompress, rotating two or three times
// before the follower left the first file: the new file it found at the
// first rotation (empty then) was itself rotated and compressed. Its .gz
// must not be read as a rotation that came between, and then the file
// again; a rotation newer than it comes after it.
func TestFollowNewFileRotatedBeforeLeft(t *testing.T) {
	for _, rotations := range []int{2, 3} {
		t.Run(fmt.Sprint(rotations), func(t *testing.T) {
			path := tempPath(t, "mail.log")
			appendFile(t, path, numberedText(1, 3))
			s := newStepper(t, path, nil, FollowOptions{})
			wantTexts(t, s.pollTexts(), numberedLines(1, 3)...)
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, "")                             // create
			appendFile(t, path+".1", numberedText(4, 5))        // the writer has not reopened yet
			wantTexts(t, s.pollTexts(), numberedLines(4, 5)...) // the empty new file is held open
			appendFile(t, path, numberedText(6, 8))             // the writer reopened
			// More rotations before the follower's next look, each
			// compressing what it renamed.
			next := 9
			for range rotations - 1 {
				rotateGzip(t, path)
				appendFile(t, path, numberedText(next, next+1))
				next += 2
			}
			var got []string
			for range 2 * rotations {
				got = append(got, s.pollTexts()...)
			}
			wantTexts(t, got, numberedLines(6, next-1)...)
		})
	}
}

// rotateGzip is logrotate's create and compress without delaycompress:
// mail.log.N.gz become mail.log.N+1.gz, mail.log.1 is compressed, mail.log
// becomes mail.log.1 and is compressed; the new mail.log is empty.
func rotateGzip(t *testing.T, path string) {
	t.Helper()
	rotated, _ := filepath.Glob(path + ".*.gz")
	for n := len(rotated) + 1; n > 1; n-- {
		if err := os.Rename(fmt.Sprintf("%s.%d.gz", path, n-1), fmt.Sprintf("%s.%d.gz", path, n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path + ".1"); err == nil {
		if err := gzipFile(path+".1", path+".2.gz"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "")
	if err := gzipFile(path+".1", path+".1.gz"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + ".1"); err != nil {
		t.Fatal(err)
	}
}

// A restart from a saved Position finds the rest of the content where the
// rotation put it while the follower was down.
func TestFollowRestart(t *testing.T) {
	type scenario struct {
		name   string
		rotate func(t *testing.T, path string, next int) // writes from next on
		want   func(saved, n, next int) []string
	}
	rest := func(saved, n, next int) []string {
		return append(numberedLines(saved+1, n), numberedLines(next, next+4)...)
	}
	fresh := func(saved, n, next int) []string { return numberedLines(next, next+4) }
	scenarios := []scenario{
		{"grown", func(t *testing.T, path string, next int) {
			appendFile(t, path, numberedText(next, next+4))
		}, rest},
		{"renamed to .1", func(t *testing.T, path string, next int) {
			os.Rename(path, path+".1")
			appendFile(t, path, numberedText(next, next+4))
		}, rest},
		{"compressed to .1.gz", func(t *testing.T, path string, next int) {
			data, _ := os.ReadFile(path)
			writeFile(t, path+".1.gz", compress(t, formats[1], data))
			os.Remove(path)
			appendFile(t, path, numberedText(next, next+4))
		}, rest},
		// logrotate dateext with a dateformat for more than one rotation
		// a day (logrotate(8): -%Y%m%d-%s).
		{"dateext -%Y%m%d-%s, compressed", func(t *testing.T, path string, next int) {
			data, _ := os.ReadFile(path)
			writeFile(t, path+"-20261128-1795849445.gz", compress(t, formats[1], data))
			writeFile(t, path+"-20261128-1795853045.gz", compress(t, formats[1], []byte(numberedText(next, next+2))))
			writeFile(t, path, []byte(numberedText(next+3, next+4)))
		}, rest},
		{"two rotations", func(t *testing.T, path string, next int) {
			data, _ := os.ReadFile(path)
			writeFile(t, path+".2.gz", compress(t, formats[1], data))
			writeFile(t, path+".1", []byte(numberedText(next, next+2)))
			writeFile(t, path, []byte(numberedText(next+3, next+4)))
		}, rest},
		{"copytruncate", func(t *testing.T, path string, next int) {
			copyPlain(path, path+".1")
			os.Truncate(path, 0)
			appendFile(t, path, numberedText(next, next+4))
		}, rest},
		{"copytruncate, regrown past the offset", func(t *testing.T, path string, next int) {
			copyPlain(path, path+".1")
			os.Truncate(path, 0)
			appendFile(t, path, numberedText(next, next+4)+strings.Repeat("filler\n", 1000))
		}, func(saved, n, next int) []string {
			return append(rest(saved, n, next), strings.Split(strings.Repeat("filler\n", 1000), "\n")[:1000]...)
		}},
		{"deleted and recreated", func(t *testing.T, path string, next int) {
			fi, _ := os.Stat(path)
			_, old := inodeOf(fi)
			os.Remove(path)
			appendFile(t, path, numberedText(next, next+4))
			fi, _ = os.Stat(path)
			_, ino := inodeOf(fi)
			t.Logf("inode %d, then %d (reused: %v)", old, ino, old == ino)
		}, fresh},
		// The same inode with other content: what inode reuse looks like.
		{"same inode, other head", func(t *testing.T, path string, next int) {
			os.Truncate(path, 0)
			appendFile(t, path, numberedText(next, next+4))
		}, fresh},
	}
	for _, size := range []struct{ n, saved int }{{5, 3}, {40, 30}} {
		for _, sc := range scenarios {
			t.Run(fmt.Sprintf("%s/%d lines", sc.name, size.n), func(t *testing.T) {
				path := tempPath(t, "mail.log")
				appendFile(t, path, numberedText(1, size.n))
				s := newStepper(t, path, nil, FollowOptions{})
				lines := s.poll()
				wantTexts(t, texts(lines), numberedLines(1, size.n)...)
				saved := lines[size.saved-1].Pos
				if size.n == 40 && saved.Head.Len != HeadSize {
					t.Fatalf("head of %d bytes at offset %d", saved.Head.Len, saved.Offset)
				}
				s.f.Close()
				next := 1001
				sc.rotate(t, path, next)
				s2 := newStepper(t, path, &saved, FollowOptions{})
				wantTexts(t, s2.pollTexts(), sc.want(size.saved, size.n, next)...)
				appendFile(t, path, numbered(2000)+"\n")
				wantTexts(t, s2.pollTexts(), numbered(2000))
			})
		}
	}
}

// The rotations a live log goes through, done for real while a writer
// process appends: every line is delivered once, in order.
func TestFollowRotationWithWriter(t *testing.T) {
	type rotation struct {
		name   string
		split  bool
		double bool     // two rotations in a row while the follower is behind
		logs   []string // what the follower must have logged
		setup  func(t *testing.T, path string)
		rotate func(t *testing.T, path string, writer int, n int)
	}
	hup := func(t *testing.T, pid int) {
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	rotations := []rotation{
		{name: "rename and create", split: true, double: true, logs: []string{"rotated", "reading a rotated file"}, rotate: func(t *testing.T, path string, pid, n int) {
			waitForFile(t, path)
			if err := shiftRotations(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			// logrotate's create, and the writer keeps appending to the
			// old file for a moment before it is told.
			appendFile(t, path, "")
			time.Sleep(5 * time.Millisecond)
			hup(t, pid)
		}},
		// Not double: two copytruncates 30 ms apart while the follower is
		// behind can still lose lines (the follower may see the second
		// copy while it is being written), a limit documented in
		// follow.go. A copytruncate while the follower is still in the
		// previous copy's quiet period (the next rotation of this test,
		// on a slow machine) truncates a live file it has opened but not
		// read yet: its content is found in the new copy by the head read
		// at open.
		{name: "copytruncate", logs: []string{"reading the rest from its copy"}, rotate: func(t *testing.T, path string, pid, n int) {
			waitForFile(t, path)
			// The writer is stopped so that no line falls between the
			// copy and the truncation, where copytruncate loses it.
			stopProcess(t, pid)
			defer syscall.Kill(pid, syscall.SIGCONT)
			if err := shiftRotations(path); err != nil {
				t.Fatal(err)
			}
			if err := copyPlain(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "delete and recreate", split: true, logs: []string{"the file is gone"}, rotate: func(t *testing.T, path string, pid, n int) {
			waitForFile(t, path)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			hup(t, pid)
		}},
		{name: "symlink switched", split: true, logs: []string{"rotated"}, setup: func(t *testing.T, path string) {
			dir := filepath.Join(filepath.Dir(path), "logs")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			appendFile(t, filepath.Join(dir, "0.log"), "")
			if err := os.Symlink(filepath.Join(dir, "0.log"), path); err != nil {
				t.Fatal(err)
			}
		}, rotate: func(t *testing.T, path string, pid, n int) {
			target := filepath.Join(filepath.Dir(path), "logs", fmt.Sprintf("%d.log", n+1))
			appendFile(t, target, "")
			if err := os.Symlink(target, path+".new"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			hup(t, pid)
		}},
	}
	for _, rot := range rotations {
		t.Run(rot.name, func(t *testing.T) {
			t.Parallel()
			path := tempPath(t, "mail.log")
			if rot.setup != nil {
				rot.setup(t, path)
			}
			logs := &lockedBuffer{}
			f, err := Follow(context.Background(), path, nil, FollowOptions{
				Poll: 25 * time.Millisecond, Quiet: 100 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				f.Close()
				if t.Failed() || testing.Verbose() {
					t.Logf("follower log:\n%s", logs)
				}
			})
			c := collect(t, f)
			w := startWriter(t, path, 1, 0, 400*time.Microsecond, rot.split)
			pid := w.Process.Pid
			for i := range 4 {
				time.Sleep(100 * time.Millisecond)
				if i%2 == 0 {
					// Caught up with the writer: every line in the file
					// has come (on a slow machine the follower can still
					// be in the quiet period of the last copy it read). On
					// a loaded machine the writer may not have made the
					// file yet.
					waitForFile(t, path)
					stopProcess(t, pid)
					c.waitFor(t, lastNumber(t, path), 10*time.Second)
					syscall.Kill(pid, syscall.SIGCONT)
					rot.rotate(t, path, pid, i)
					continue
				}
				// Behind the writer, across one rotation (and then two,
				// where the files in between stay on disk to be found).
				func() {
					c.pause()
					defer c.resume()
					time.Sleep(30 * time.Millisecond)
					rot.rotate(t, path, pid, 10*i)
					if i == 3 && rot.double {
						time.Sleep(30 * time.Millisecond)
						rot.rotate(t, path, pid, 10*i+1)
					}
					time.Sleep(30 * time.Millisecond)
				}()
			}
			time.Sleep(100 * time.Millisecond)
			n := stopWriter(t, w)
			// A last line after the writer's: once it is in, everything
			// before it has been delivered, and nothing twice.
			appendFile(t, path, numbered(n+1)+"\n")
			checkNumbered(t, c.waitFor(t, n+1, 20*time.Second), 1, n+1)
			for _, want := range rot.logs {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("the follower did not log %q: the case was not exercised", want)
				}
			}
			t.Logf("%d lines through %d rotations", n, 4+boolInt(rot.double))
		})
	}
}

// TestFollowCrash kills a follower process with SIGKILL at random moments
// while a writer appends and rotates, restarting it from the Position it
// last committed (with its lines, atomically, as the database does). In the
// end every line has been committed exactly once, in order.
func TestFollowCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mail.log")
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 4000
	w := startWriter(t, path, 1, n, 500*time.Microsecond, true, "FOLLOW_ROTATE=450")
	writerDone, _ := helperDone.Load(w)
	kills := 0
	rng := newRand(t)
	for {
		f := helper(t, "follower", "FOLLOW_PATH="+path, "FOLLOW_STATE="+state)
		select {
		case <-writerDone.(chan struct{}):
		default:
			time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
			kill(f)
			kills++
			continue
		}
		if kills < 3 {
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			kill(f)
			kills++
			continue
		}
		waitCommitted(t, filepath.Join(state, "pos"), n)
		kill(f)
		break
	}
	waitExit(t, w, time.Second)
	data, err := os.ReadFile(filepath.Join(state, "lines"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	checkNumbered(t, lines, 1, n)
	t.Logf("%d lines, %d kills, rotations every 450 lines", n, kills)
}

// waitCommitted waits (for the follower process, with a deadline) until
// the committed lines file holds numbered(n).
func waitCommitted(t *testing.T, posPath string, n int) {
	t.Helper()
	linesPath := filepath.Join(filepath.Dir(posPath), "lines")
	want := []byte(numbered(n) + "\n")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(linesPath)
		if bytes.HasSuffix(data, want) {
			if st, err := os.ReadFile(posPath); err == nil && bytes.Contains(st, []byte(fmt.Sprintf(`"Bytes":%d`, len(data)))) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("line %d not committed after 30s", n)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Debian's logrotate, run for real with a private state file against a
// file a writer process is appending to.
func TestFollowLogrotate(t *testing.T) {
	logrotate, err := exec.LookPath("logrotate")
	if err != nil {
		if logrotate, err = exec.LookPath("/usr/sbin/logrotate"); err != nil {
			t.Skip("logrotate not installed (apt-get install logrotate)")
		}
	}
	for _, tc := range []struct {
		name string
		conf string // %[1]s is the log, %[2]d the writer's PID
		// lossless: copytruncate loses what is written between its copy
		// and its truncation, on disk; the follower may have read some of
		// it. Then every line on disk must have been delivered, in order.
		lossless bool
		logs     []string
		// burst: at the second rotation, rotate again at once, before
		// the follower has left the file the first one renamed.
		burst bool
	}{
		{"copytruncate", "%[1]s {\n\tcopytruncate\n\trotate 100\n\tmissingok\n}\n", false, []string{"truncated"}, false},
		{"create, compress, delaycompress", "%[1]s {\n\tcreate\n\tcompress\n\tdelaycompress\n\trotate 100\n\tpostrotate\n\t\tkill -HUP %[2]d\n\tendscript\n}\n", true, []string{"rotated"}, false},
		{"create, compress", "%[1]s {\n\tcreate\n\tcompress\n\trotate 100\n\tpostrotate\n\t\tkill -HUP %[2]d\n\tendscript\n}\n", true, []string{"rotated"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "mail.log")
			appendFile(t, path, "")
			logs := &lockedBuffer{}
			f, err := Follow(context.Background(), path, nil, FollowOptions{
				Poll: 25 * time.Millisecond, Quiet: 100 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				f.Close()
				if t.Failed() {
					t.Logf("follower log:\n%s", logs)
				}
			})
			c := collect(t, f)
			w := startWriter(t, path, 1, 0, 400*time.Microsecond, false)
			conf := filepath.Join(dir, "logrotate.conf")
			writeFile(t, conf, []byte(fmt.Sprintf(tc.conf, path, w.Process.Pid)))
			state := filepath.Join(dir, "logrotate.state")
			for i := range 4 {
				time.Sleep(150 * time.Millisecond)
				// On a loaded machine the writer may not have made (or,
				// after a rotation, made again) the file yet.
				waitForFile(t, path)
				if i == 2 {
					// Behind the writer at this rotation.
					c.pause()
					time.Sleep(30 * time.Millisecond)
				}
				out, err := exec.Command(logrotate, "-f", "-s", state, conf).CombinedOutput()
				if err == nil && i == 1 && tc.burst {
					out, err = exec.Command(logrotate, "-f", "-s", state, conf).CombinedOutput()
				}
				if i == 2 {
					time.Sleep(30 * time.Millisecond)
					c.resume()
				}
				if err != nil {
					t.Fatalf("logrotate: %v\n%s", err, out)
				}
			}
			time.Sleep(100 * time.Millisecond)
			n := stopWriter(t, w)
			appendFile(t, path, numbered(n+1)+"\n")
			got := c.waitUntil(t, numbered(n+1), 20*time.Second)
			if tc.lossless {
				checkNumbered(t, got, 1, n+1)
			} else {
				checkSuperset(t, got, readRotated(t, path))
			}
			for _, want := range tc.logs {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("the follower did not log %q: the case was not exercised", want)
				}
			}
			rotated, _ := filepath.Glob(path + ".*")
			t.Logf("%d lines, %d delivered; on disk: %d rotated files", n, len(got)-1, len(rotated))
		})
	}
}

// checkSuperset checks that got is in strictly increasing order and holds
// every line in onDisk.
func checkSuperset(t *testing.T, got []string, onDisk []int) {
	t.Helper()
	delivered := map[int]bool{}
	prev := 0
	for i, l := range got {
		n := lineNumber(l)
		if n <= prev {
			t.Fatalf("line %d: %q after line number %d", i, trim(l), prev)
		}
		prev = n
		delivered[n] = true
	}
	missing := 0
	for _, n := range onDisk {
		if !delivered[n] {
			if missing == 0 {
				t.Errorf("line %d is on disk but was not delivered", n)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d lines on disk not delivered", missing)
	}
	lost := prev - len(got)
	t.Logf("%d lines lost by copytruncate itself (written between its copy and its truncation, not read in time)", lost)
}

// followNobodyEnv carries the directory to the test run again as nobody.
const followNobodyEnv = "INGEST_TEST_FOLLOW_NOBODY"

// A log that cannot be read is an error at start (with the hint); a file
// that becomes unreadable at a rotation (logrotate's create sets the owner
// only after it has made the file) is retried until it can be read. Root
// reads anything, so as root the test binary runs itself again as nobody,
// for a real EACCES.
func TestFollowPermissionDenied(t *testing.T) {
	if dir := os.Getenv(followNobodyEnv); dir != "" {
		checkFollowPermission(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		checkFollowPermission(t, t.TempDir())
		return
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "logs")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(work, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	runAsNobody(t, dir, work, "TestFollowPermissionDenied", followNobodyEnv+"="+work)
}

func checkFollowPermission(t *testing.T, dir string) {
	path := filepath.Join(dir, "mail.log")
	writeFile(t, path, []byte("secret\n"))
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := Follow(context.Background(), path, nil, FollowOptions{})
	// (The test's own file, made unreadable: the hint is chmod.)
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "permission denied; the file is yours but not readable: chmod u+r") {
		t.Fatalf("Follow on an unreadable file: %v", err)
	}
	t.Log(err)
	os.Remove(path)

	appendFile(t, path, "one\n")
	s := newStepper(t, path, nil, FollowOptions{})
	wantTexts(t, s.pollTexts(), "one")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	// Made unreadable, as logrotate's create does for a moment.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("two\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantTexts(t, s.pollTexts())
	wantTexts(t, s.pollTexts())
	if !strings.Contains(s.logs.String(), "permission denied") {
		t.Errorf("no warning:\n%s", s.logs)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, s.pollTexts(), "two")
}
