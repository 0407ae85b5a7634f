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

// BenchmarkOtherPrograms: lines of programs other than Postfix and Exim
// (half of a real mail server's log) must cost little: a good envelope of
// another program is not looked at again.
func BenchmarkOtherPrograms(b *testing.B) {
	lines := []string{
		"Nov 28 07:04:05 mx1 dovecot: imap-login: Login: user=<a@example.com>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.2, mpid=123, TLS",
		"Nov 28 07:04:05 mx1 amavis[1234]: (01234-05) Passed CLEAN {RelayedInbound}, [192.0.2.1]:1234 <a@example.com> -> <b@example.org>",
		"2026-11-28T07:04:05.123456+01:00 mx1 opendkim[77]: 4ABCD1234: DKIM-Signature field added (s=mail, d=example.com)",
		"2026-11-28T07:04:05.123456+01:00 mx1 CRON[999]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
	}
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	p := NewParser(Options{Year: 2026})
	var ev Event
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			if p.ParseInto(&ev, l) {
				b.Fatalf("parsed %q", l)
			}
		}
	}
}
