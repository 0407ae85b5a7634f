package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// format is a compression as produced by its real command-line tool, so
// that the tests read what logrotate and savelog actually write.
type format struct {
	name string
	comp Compression
	tool string
	args []string
}

var formats = []format{
	{"plain", Plain, "", nil},
	{"gzip", Gzip, "gzip", []string{"-c"}},
	{"bzip2", Bzip2, "bzip2", []string{"-c"}},
	{"xz", XZ, "xz", []string{"-c"}},
	{"zstd", Zstd, "zstd", []string{"-c", "-q"}},
}

var compressedFormats = formats[1:]

// compress runs the real tool over data; the test is skipped if the tool is
// not installed ("apt-get install gzip bzip2 xz-utils zstd").
func compress(t testing.TB, f format, data []byte, extra ...string) []byte {
	t.Helper()
	if f.tool == "" {
		return data
	}
	if _, err := exec.LookPath(f.tool); err != nil {
		t.Skipf("%s not installed", f.tool)
	}
	cmd := exec.Command(f.tool, append(append([]string{}, f.args...), extra...)...)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v: %s", f.tool, err, stderr.Bytes())
	}
	return out.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func openPath(t testing.TB, path string, opts Options) *Reader {
	t.Helper()
	ins, err := Expand([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ins[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

type line struct {
	text string
	off  int64
}

// readAll drains r, returning the lines and the error that ended them
// (nil for io.EOF).
func readAll(t testing.TB, r *Reader) ([]line, error) {
	t.Helper()
	var lines []line
	for {
		l, off, err := r.Next()
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
		lines = append(lines, line{string(l), off})
	}
}

// splitLines is the reference the Reader is checked against: written for
// clarity, not speed.
func splitLines(data []byte) []line {
	var lines []line
	var off int64
	for len(data) > 0 {
		text, rest, found := bytes.Cut(data, []byte("\n"))
		next := off + int64(len(text))
		if found {
			next++
		}
		lines = append(lines, line{string(bytes.TrimSuffix(text, []byte("\r"))), off})
		data, off = rest, next
	}
	return lines
}

// sampleLog returns about size bytes of Postfix-like lines, varied enough
// that they compress like real logs rather than to nothing.
func sampleLog(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	statuses := []string{
		"status=sent (250 2.0.0 OK  1732834465 d2e1a72fcca58-724de5b1c2dsi123456b3a.301 - gsmtp)",
		"status=bounced (host mx.example.net[198.51.100.7] said: 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))",
		"status=deferred (connect to mx.example.org[203.0.113.9]:25: Connection timed out)",
	}
	var b bytes.Buffer
	b.Grow(size + 512)
	for b.Len() < size {
		fmt.Fprintf(&b, "Nov 28 %02d:%02d:%02d mail postfix/smtp[%d]: %010X: to=<user%d@example%d.com>, relay=mx%d.example%d.com[192.0.2.%d]:25, delay=%.2f, delays=%.2f/0.01/0.2/%.2f, dsn=2.0.0, %s\n",
			rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(99999), rng.Uint64()&0xffffffffff,
			rng.IntN(5000), rng.IntN(300), rng.IntN(3), rng.IntN(300), rng.IntN(255),
			rng.Float64()*10, rng.Float64(), rng.Float64(), statuses[rng.IntN(len(statuses))])
	}
	return b.Bytes()
}

func wantLines(t *testing.T, got, want []line) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: got %q at %d, want %q at %d", i, trim(got[i].text), got[i].off, trim(want[i].text), want[i].off)
		}
	}
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func asReadError(t *testing.T, err error) *ReadError {
	t.Helper()
	var re *ReadError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v (%T), want *ReadError", err, err)
	}
	return re
}

func tempPath(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}
