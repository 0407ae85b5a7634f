package parse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchLines loads the real lines under testdata (the public samples and
// the logs written by real Postfix and Exim under ../testdata/mta).
func benchLines(b *testing.B) ([]string, int64) {
	var lines []string
	var size int64
	paths, _ := filepath.Glob("testdata/corpus/*.log")
	more, _ := filepath.Glob("../testdata/mta/*/*log")
	for _, p := range append(paths, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.SplitAfter(string(data), "\n") {
			if l != "" {
				lines = append(lines, l)
				size += int64(len(l))
			}
		}
	}
	if len(lines) == 0 {
		b.Fatal("no lines")
	}
	return lines, size
}

// BenchmarkParse measures the parser alone on one core: MB/s of log text.
func BenchmarkParse(b *testing.B) {
	lines, size := benchLines(b)
	p := NewParser(Options{Reference: ref})
	var ev Event
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			p.ParseInto(&ev, l)
		}
	}
}

// BenchmarkParseRealServer measures the parser on a whole real server log
// (Lightmeter's public sample, AGPL, read in place: it is not copied into
// this repository), where most lines are not failures. It skips when the
// shared corpus is not beside the repository.
func BenchmarkParseRealServer(b *testing.B) {
	paths, _ := filepath.Glob("../../shared/corpus/lightmeter/complete/mail.log*")
	if len(paths) == 0 {
		b.Skip("no shared corpus")
	}
	var lines []string
	var size int64
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.SplitAfter(string(data), "\n") {
			lines = append(lines, l)
			size += int64(len(l))
		}
	}
	p := NewParser(Options{Reference: ref})
	var ev Event
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			p.ParseInto(&ev, l)
		}
	}
}
