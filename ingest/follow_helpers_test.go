package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The follower tests run real writers: the test binary started again with
// helperEnv set to the part it is to play.
const helperEnv = "INGEST_FOLLOW_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	os.Exit(m.Run())
}

func runHelper(role string) int {
	var err error
	switch role {
	case "writer":
		err = writerMain()
	case "follower":
		err = crashFollowerMain()
	case "idle":
		err = idleMain()
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, role+":", err)
		return 1
	}
	return 0
}

// numbered is line i of a test log: the number first, then a varying
// length of text, so that lines straddle read and rotation boundaries.
func numbered(i int) string {
	return fmt.Sprintf("line %08d %s", i, strings.Repeat("x", 20+i%97))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// writerMain appends FOLLOW_COUNT numbered lines (0: until SIGTERM) from
// FOLLOW_FROM to FOLLOW_PATH, one every FOLLOW_EVERY_US microseconds, like
// a syslog daemon: opened with O_APPEND, reopened on SIGHUP. At the end it
// prints how many it wrote. With FOLLOW_SPLIT each
// line is written in two pieces, so that a reader often sees half a line.
// With FOLLOW_ROTATE=K it rotates the file itself every K lines, in turn by
// rename-and-create (older rotations gzipped, as delaycompress does) and by
// copytruncate.
func writerMain() error {
	path := os.Getenv("FOLLOW_PATH")
	from := envInt("FOLLOW_FROM", 1)
	count := envInt("FOLLOW_COUNT", 1000)
	every := time.Duration(envInt("FOLLOW_EVERY_US", 500)) * time.Microsecond
	split := os.Getenv("FOLLOW_SPLIT") != ""
	rotateEvery := envInt("FOLLOW_ROTATE", 0)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	open := func() (*os.File, error) {
		return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	}
	out, err := open()
	if err != nil {
		return err
	}
	next := time.Now()
	rotations := 0
	i := from
	defer func() { fmt.Println(i - from) }()
	for ; count == 0 || i < from+count; i++ {
		select {
		case <-term:
			return out.Close()
		default:
		}
		select {
		case <-hup:
			out.Close()
			if out, err = open(); err != nil {
				return err
			}
		default:
		}
		if rotateEvery > 0 && i > from && (i-from)%rotateEvery == 0 {
			if out, err = selfRotate(path, out, rotations); err != nil {
				return err
			}
			rotations++
		}
		line := []byte(numbered(i) + "\n")
		if split {
			half := len(line) / 2
			if _, err := out.Write(line[:half]); err != nil {
				return err
			}
			time.Sleep(50 * time.Microsecond)
			line = line[half:]
		}
		if _, err := out.Write(line); err != nil {
			return err
		}
		next = next.Add(every)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	return out.Close()
}

// selfRotate rotates path as logrotate would, the writer being the only
// one and so losing nothing: even rotations rename and create, odd ones
// copy and truncate.
func selfRotate(path string, out *os.File, n int) (*os.File, error) {
	if err := shiftRotations(path); err != nil {
		return nil, err
	}
	if n%2 == 0 {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, err
		}
		out.Close()
		return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	}
	if err := copyPlain(path, path+".1"); err != nil {
		return nil, err
	}
	return out, os.Truncate(path, 0)
}

// shiftRotations moves path.N to path.N+1 (gzipping a plain path.1 into
// path.2.gz, as delaycompress does), making room for path.1.
func shiftRotations(path string) error {
	for n := 200; n >= 1; n-- {
		for _, ext := range []string{"", ".gz"} {
			old := fmt.Sprintf("%s.%d%s", path, n, ext)
			if _, err := os.Stat(old); err != nil {
				continue
			}
			if n == 1 && ext == "" {
				if err := gzipFile(old, fmt.Sprintf("%s.2.gz", path)); err != nil {
					return err
				}
				if err := os.Remove(old); err != nil {
					return err
				}
				continue
			}
			if err := os.Rename(old, fmt.Sprintf("%s.%d%s", path, n+1, ext)); err != nil {
				return err
			}
		}
	}
	return nil
}

func gzipFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return err
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}

func copyPlain(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// crashState is what the crash-test follower commits, as the database
// would: the lines file's length and the position, in one atomic rename.
type crashState struct {
	Pos   Position
	Bytes int64
}

// crashFollowerMain follows FOLLOW_PATH and appends the lines to
// FOLLOW_STATE/lines, committing the length with the Position to
// FOLLOW_STATE/pos by rename every few lines and whenever it would wait.
// On start it throws away what was appended after the last commit, as a
// rolled-back transaction would be.
func crashFollowerMain() error {
	path, dir := os.Getenv("FOLLOW_PATH"), os.Getenv("FOLLOW_STATE")
	posPath := filepath.Join(dir, "pos")
	var state crashState
	var start *Position
	if data, err := os.ReadFile(posPath); err == nil {
		if err := json.Unmarshal(data, &state); err != nil {
			return err
		}
		start = &state.Pos
	}
	out, err := os.OpenFile(filepath.Join(dir, "lines"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := out.Truncate(state.Bytes); err != nil {
		return err
	}
	if _, err := out.Seek(state.Bytes, io.SeekStart); err != nil {
		return err
	}
	ctx := context.Background()
	f, err := Follow(ctx, path, start, FollowOptions{Poll: 20 * time.Millisecond, Quiet: 50 * time.Millisecond})
	if err != nil {
		return err
	}
	pending := 0
	commit := func() error {
		data, err := json.Marshal(state)
		if err != nil {
			return err
		}
		tmp := posPath + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		pending = 0
		return os.Rename(tmp, posPath)
	}
	for {
		nctx, cancel := ctx, context.CancelFunc(func() {})
		if pending > 0 {
			nctx, cancel = context.WithTimeout(ctx, 30*time.Millisecond)
		}
		line, err := f.Next(nctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			if err := commit(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		n, err := out.Write(append(line.Text, '\n'))
		if err != nil {
			return err
		}
		state.Bytes += int64(n)
		state.Pos = line.Pos
		if pending++; pending >= 37 {
			if err := commit(); err != nil {
				return err
			}
		}
	}
}

// idleMain follows FOLLOW_PATH and discards the lines: for measuring what
// an idle follower costs ("ps -o time").
func idleMain() error {
	f, err := Follow(context.Background(), os.Getenv("FOLLOW_PATH"), nil, FollowOptions{FromEnd: true})
	if err != nil {
		return err
	}
	for {
		if _, err := f.Next(context.Background()); err != nil {
			return err
		}
	}
}

// helper starts the test binary in a role, and stops it when the test ends.
func helper(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	helperStdout.Store(cmd, &stdout)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	helperDone.Store(cmd, done)
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			<-done
		}
		if s := stderr.String(); s != "" && !t.Failed() {
			t.Logf("%s stderr: %s", role, s)
		}
	})
	return cmd
}

var (
	helperDone   sync.Map // *exec.Cmd -> chan struct{} closed when it has exited
	helperStdout sync.Map // *exec.Cmd -> *lockedBuffer
)

// stopWriter ends a writer started with count 0 and returns how many lines
// it wrote.
func stopWriter(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, 30*time.Second)
	out, _ := helperStdout.Load(cmd)
	n, err := strconv.Atoi(strings.TrimSpace(out.(*lockedBuffer).String()))
	if err != nil {
		t.Fatalf("writer's count: %v", err)
	}
	return n
}

// waitExit waits for a helper to finish on its own and fails the test if
// it did not succeed.
func waitExit(t *testing.T, cmd *exec.Cmd, timeout time.Duration) {
	t.Helper()
	done, _ := helperDone.Load(cmd)
	select {
	case <-done.(chan struct{}):
	case <-time.After(timeout):
		t.Fatalf("helper %d still running after %s", cmd.Process.Pid, timeout)
	}
	if !cmd.ProcessState.Success() {
		t.Fatalf("helper %d: %v", cmd.Process.Pid, cmd.ProcessState)
	}
}

// kill stops a helper with SIGKILL, as a crash would, and waits for it.
func kill(cmd *exec.Cmd) {
	done, _ := helperDone.Load(cmd)
	cmd.Process.Signal(syscall.SIGKILL)
	<-done.(chan struct{})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 16<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startWriter runs a writer helper appending count numbered lines to path.
func startWriter(t *testing.T, path string, from, count int, every time.Duration, split bool, extra ...string) *exec.Cmd {
	env := []string{
		"FOLLOW_PATH=" + path,
		"FOLLOW_FROM=" + strconv.Itoa(from),
		"FOLLOW_COUNT=" + strconv.Itoa(count),
		"FOLLOW_EVERY_US=" + strconv.Itoa(int(every/time.Microsecond)),
	}
	if split {
		env = append(env, "FOLLOW_SPLIT=1")
	}
	return helper(t, "writer", append(env, extra...)...)
}

// waitForFile waits until the writer has (re)created path after being told
// to reopen it, which on a loaded machine may take a while.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s not created by the writer", path)
}

// stopProcess stops a process with SIGSTOP and waits until the kernel says
// it is stopped, so that nothing it does can fall between two file
// operations.
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) S ...: the state follows the last ')'.
		if i := bytes.LastIndexByte(data, ')'); i >= 0 && i+2 < len(data) && data[i+2] == 'T' {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("process %d did not stop", pid)
}

// collector reads a follower in a goroutine of its own, as tail will.
type collector struct {
	gate    sync.Mutex // held by pause: Next is not called
	mu      sync.Mutex
	lines   []string
	err     error
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func collect(t *testing.T, f *Follower) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{changed: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			c.gate.Lock()
			line, err := f.Next(ctx)
			c.gate.Unlock()
			c.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					c.err = err
				}
				c.mu.Unlock()
				c.poke()
				return
			}
			c.lines = append(c.lines, string(line.Text))
			c.mu.Unlock()
			c.poke()
		}
	}()
	t.Cleanup(c.stop)
	return c
}

func (c *collector) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// pause stops calling Next (once the current call returns), so that the
// follower falls behind the writer; resume lets it go on.
func (c *collector) pause()  { c.gate.Lock() }
func (c *collector) resume() { c.gate.Unlock() }

func (c *collector) stop() {
	c.cancel()
	<-c.done
}

// waitFor waits until n lines have come, or more than d has passed without
// a new one.
func (c *collector) waitFor(t *testing.T, n int, d time.Duration) []string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		c.mu.Lock()
		got, err := len(c.lines), c.err
		c.mu.Unlock()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if got >= n {
			break
		}
		select {
		case <-c.changed:
			timer.Reset(d)
		case <-timer.C:
			c.mu.Lock()
			gaps := describeGaps(c.lines)
			c.mu.Unlock()
			t.Fatalf("%d lines of %d after %s without a new one; %s", got, n, d, gaps)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// waitUntil waits until the last line delivered is last, or more than d
// has passed without a new one.
func (c *collector) waitUntil(t *testing.T, last string, d time.Duration) []string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		c.mu.Lock()
		done := len(c.lines) > 0 && c.lines[len(c.lines)-1] == last
		lines, err := append([]string(nil), c.lines...), c.err
		c.mu.Unlock()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if done {
			return lines
		}
		select {
		case <-c.changed:
			timer.Reset(d)
		case <-timer.C:
			t.Fatalf("%q not delivered after %s without a new line; %s", trim(last), d, describeGaps(lines))
		}
	}
}

// checkNumbered checks that lines are exactly numbered(from) to
// numbered(to), each once, in order.
func checkNumbered(t *testing.T, lines []string, from, to int) {
	t.Helper()
	if len(lines) != to-from+1 {
		t.Errorf("got %d lines, want %d", len(lines), to-from+1)
	}
	for i, l := range lines {
		if want := numbered(from + i); l != want {
			t.Fatalf("line %d: got %q, want %q", i, trim(l), trim(want))
		}
	}
}

// lineNumber is the number in a numbered line, or -1.
func lineNumber(l string) int {
	var n int
	if _, err := fmt.Sscanf(l, "line %d ", &n); err != nil || l != numbered(n) {
		return -1
	}
	return n
}

// readRotated returns the numbers of the lines on disk in path and its
// rotations, oldest first.
func readRotated(t *testing.T, path string) []int {
	t.Helper()
	ins, err := Expand([]string{path + "*"})
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	for _, in := range ins {
		r, err := Open(in, Options{})
		if err != nil {
			t.Fatal(err)
		}
		lines, err := readAll(t, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			nums = append(nums, lineNumber(l.text))
		}
	}
	return nums
}

// newRand is a random source whose seed is logged, to replay a failure.
func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// describeGaps says where numbered lines are missing or out of order.
func describeGaps(lines []string) string {
	var b strings.Builder
	prev := 0
	for i, l := range lines {
		n := lineNumber(l)
		if n != prev+1 && b.Len() < 500 {
			fmt.Fprintf(&b, "at %d: %d after %d (%q); ", i, n, prev, trim(l))
		}
		prev = n
	}
	return b.String()
}
