package ingest

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestReadAheadEarlyClose: closing a compressed input before its end stops
// the decoding goroutine, and with it the decoder (zstd's keeps goroutines
// of its own), whatever the format.
func TestReadAheadEarlyClose(t *testing.T) {
	var b strings.Builder
	for i := range 40_000 {
		fmt.Fprintf(&b, "Nov 28 07:04:05 mx postfix/smtp[%d]: 4Xkp2N0KJjz9sR9: to=<u%d@example.com>, status=sent (250 OK)\n", i, i)
	}
	data := []byte(b.String())
	for _, f := range compressedFormats {
		t.Run(f.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(t.TempDir(), "mail.log.1"), compress(t, f, data))
			before := runtime.NumGoroutine()
			r := openPath(t, path, Options{})
			if line, _, err := r.Next(); err != nil || !strings.Contains(string(line), "u0@example.com") {
				t.Fatalf("first line %q, %v", line, err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("%d goroutines after Close, %d before Open", n, before)
			}
		})
	}
}

// TestReadAheadWhole: every line of a compressed input arrives, in order,
// across chunk boundaries, and then io.EOF.
func TestReadAheadWhole(t *testing.T) {
	var b strings.Builder
	for i := range 50_000 {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("x", i%97))
	}
	data := []byte(b.String())
	if len(data) < 3*readAheadChunk {
		t.Fatalf("%d bytes: want several chunks", len(data))
	}
	for _, f := range compressedFormats {
		t.Run(f.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(t.TempDir(), "mail.log.1"), compress(t, f, data))
			r := openPath(t, path, Options{})
			defer r.Close()
			for i := 0; ; i++ {
				line, _, err := r.Next()
				if err == io.EOF {
					if i != 50_000 {
						t.Fatalf("%d lines, want 50000", i)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%97)); string(line) != want {
					t.Fatalf("line %d: %q", i, line)
				}
			}
		})
	}
}
