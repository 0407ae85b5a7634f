package ingest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

const benchSize = 50 << 20

// benchFile writes about 50 MB of log, compressed by encode, and returns
// its path and the size of the content.
func benchFile(b *testing.B, name string, encode func(io.Writer) io.WriteCloser) (string, int64) {
	b.Helper()
	data := sampleLog(benchSize, 42)
	var buf bytes.Buffer
	w := encode(&buf)
	w.Write(data)
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, int64(len(data))
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func benchRead(b *testing.B, path string, size int64) {
	in := Input{Path: path}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(in, Options{})
		if err != nil {
			b.Fatal(err)
		}
		var n int
		for {
			_, _, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		r.Close()
		if r.Offset() != size {
			b.Fatalf("read %d of %d bytes", r.Offset(), size)
		}
	}
}

func BenchmarkReaderPlain(b *testing.B) {
	path, size := benchFile(b, "mail.log", func(w io.Writer) io.WriteCloser { return nopCloser{w} })
	benchRead(b, path, size)
}

func BenchmarkReaderGzip(b *testing.B) {
	path, size := benchFile(b, "mail.log.1.gz", func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
	benchRead(b, path, size)
}

func BenchmarkReaderZstd(b *testing.B) {
	path, size := benchFile(b, "mail.log.1.zst", func(w io.Writer) io.WriteCloser {
		zw, err := zstd.NewWriter(w)
		if err != nil {
			b.Fatal(err)
		}
		return zw
	})
	benchRead(b, path, size)
}
