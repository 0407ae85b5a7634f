package ingest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func TestReaderLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []line
	}{
		{"empty", "", nil},
		{"one line", "a\n", []line{{"a", 0}}},
		{"no final newline", "a\nbc", []line{{"a", 0}, {"bc", 2}}},
		{"only a partial line", "abc", []line{{"abc", 0}}},
		{"CRLF", "a\r\nb\r\n", []line{{"a", 0}, {"b", 3}}},
		{"CRLF without final LF", "a\r\nb\r", []line{{"a", 0}, {"b", 3}}},
		{"lone CR kept inside", "a\rb\n", []line{{"a\rb", 0}}},
		{"empty lines", "\n\n\r\n", []line{{"", 0}, {"", 1}, {"", 2}}},
		{"invalid UTF-8 passes", "\xff\xfe x\n\xc3\n", []line{{"\xff\xfe x", 0}, {"\xc3", 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(tt.name, strings.NewReader(tt.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			wantLines(t, got, tt.want)
			if r.Offset() != int64(len(tt.in)) {
				t.Errorf("Offset() = %d at EOF, want %d", r.Offset(), len(tt.in))
			}
			// io.EOF is sticky.
			if _, _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after EOF: %v", err)
			}
		})
	}
}

// sampleWithQuirks is a log with the oddities the Reader must pass through:
// CRLF, invalid UTF-8, NUL bytes beyond the binary sniff, no final newline.
func sampleWithQuirks() []byte {
	var b bytes.Buffer
	b.Write(sampleLog(8000, 1))
	b.WriteString("Nov 28 10:00:00 mail postfix/smtp[1]: CRLF line\r\n")
	b.WriteString("Nov 28 10:00:01 mail postfix/smtp[1]: bad \xff\xfe UTF-8 and a \x00 NUL\n")
	b.Write(sampleLog(300000, 2))
	b.WriteString("Nov 28 10:00:02 mail postfix/smtp[1]: last line, no newline")
	return b.Bytes()
}

func TestReaderFormats(t *testing.T) {
	data := sampleWithQuirks()
	want := splitLines(data)
	var contentHead []byte
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			// The name is the same for every format: detection goes by content.
			path := writeFile(t, tempPath(t, "mail.log"), compress(t, f, data))
			r := openPath(t, path, Options{})
			if r.Compression() != f.comp {
				t.Errorf("Compression() = %v, want %v", r.Compression(), f.comp)
			}
			got, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			wantLines(t, got, want)

			fi, _ := os.Stat(path)
			id := r.ID()
			if id.Size != fi.Size() || !id.ModTime.Equal(fi.ModTime()) || id.Inode == 0 {
				t.Errorf("ID() = %+v, file has size %d, mtime %v", id, fi.Size(), fi.ModTime())
			}
			if r.RawRead() != fi.Size() {
				t.Errorf("RawRead() = %d at EOF, file size %d", r.RawRead(), fi.Size())
			}
			if !bytes.Equal(r.ContentHead(), data[:HeadSize]) {
				t.Errorf("ContentHead() is not the first %d bytes of the content", HeadSize)
			}
			raw, _ := os.ReadFile(path)
			if id.Raw != NewFingerprint(raw) || id.Content != NewFingerprint(data) {
				t.Errorf("fingerprints do not match the raw file and the content")
			}
			if f.comp != Plain && id.Raw == id.Content {
				t.Errorf("raw and content fingerprints agree for %s", f.name)
			}
			if contentHead == nil {
				contentHead = r.ContentHead()
			} else if !id.Content.Matches(contentHead) {
				t.Errorf("content fingerprint differs from the plain file's")
			}
		})
	}
}

func TestMisleadingName(t *testing.T) {
	data := sampleLog(5000, 3)
	dir := t.TempDir()
	plainAsGz := writeFile(t, dir+"/mail.log.1.gz", data)
	gzAsPlain := writeFile(t, dir+"/mail.log", compress(t, formats[1], data))
	for path, want := range map[string]Compression{plainAsGz: Plain, gzAsPlain: Gzip} {
		r := openPath(t, path, Options{})
		if r.Compression() != want {
			t.Errorf("%s: Compression() = %v, want %v", path, r.Compression(), want)
		}
		got, err := readAll(t, r)
		if err != nil {
			t.Fatal(err)
		}
		wantLines(t, got, splitLines(data))
	}
}

// Concatenated members are what "gzip -c more >> old.gz" makes, and what
// pigz, pbzip2 and multi-threaded xz and zstd write.
func TestConcatenatedMembers(t *testing.T) {
	a, b := sampleLog(20000, 4), sampleLog(20000, 5)
	for _, f := range compressedFormats {
		t.Run(f.name, func(t *testing.T) {
			path := tempPath(t, "mail.log.1.gz")
			writeFile(t, path, compress(t, f, a))
			out, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			out.Write(compress(t, f, b))
			out.Close()
			got, err := readAll(t, openPath(t, path, Options{}))
			if err != nil {
				t.Fatal(err)
			}
			wantLines(t, got, splitLines(append(append([]byte{}, a...), b...)))
		})
	}
}

// A truncated archive is what a reader sees of a .gz that logrotate is
// still writing, or of a copy cut short by a full disk.
func TestTruncatedArchive(t *testing.T) {
	data := sampleLog(3<<20, 6)
	want := splitLines(data)
	for _, f := range compressedFormats {
		t.Run(f.name, func(t *testing.T) {
			// bzip2 -1: 100 kB blocks, so that half the file holds whole ones.
			var z []byte
			if f.comp == Bzip2 {
				z = compress(t, f, data, "-1")
			} else {
				z = compress(t, f, data)
			}
			path := writeFile(t, tempPath(t, "mail.log.2.gz"), z[:len(z)/2])
			r := openPath(t, path, Options{})
			got, err := readAll(t, r)
			re := asReadError(t, err)
			if len(got) == 0 {
				t.Fatal("no line delivered before the damage")
			}
			wantLines(t, got, want[:len(got)])
			last := got[len(got)-1]
			if end := last.off + int64(len(last.text)) + 1; re.Offset != end || r.Offset() != end {
				t.Errorf("error Offset %d, Reader.Offset %d; last line delivered ends at %d", re.Offset, r.Offset(), end)
			}
			if re.Name != path || re.Compression != f.comp || !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file and format: %v", err)
			}
			t.Logf("%d of %d lines, %v", len(got), len(want), err)
			if _, _, again := r.Next(); again != err {
				t.Errorf("error not sticky: %v", again)
			}
		})
	}
}

func TestCorruptArchive(t *testing.T) {
	data := sampleLog(1<<20, 7)
	for _, f := range compressedFormats {
		t.Run(f.name, func(t *testing.T) {
			z := compress(t, f, data)
			mid := len(z) / 2
			for i := mid; i < mid+64; i++ {
				z[i] ^= 0x55
			}
			path := writeFile(t, tempPath(t, "mail.log.3"), z)
			ins, _ := Expand([]string{path})
			// bzip2 and xz check a block only at its end, so the damage
			// may show first as garbage in the sniffed head, and fail Open.
			r, err := Open(ins[0], Options{})
			if err == nil {
				_, err = readAll(t, r)
				r.Close()
			}
			re := asReadError(t, err)
			if re.Name != path {
				t.Errorf("error names %q, want %q", re.Name, path)
			}
			t.Log(err)
		})
	}
	t.Run("gzip header", func(t *testing.T) {
		z := compress(t, formats[1], data)
		z[2] = 7 // compression method: only 8, deflate, exists
		path := writeFile(t, tempPath(t, "mail.log.1.gz"), z)
		ins, _ := Expand([]string{path})
		_, err := Open(ins[0], Options{})
		if re := asReadError(t, err); re.Offset != 0 || re.Name != path {
			t.Errorf("got %+v", re)
		}
	})
}

func TestLongLines(t *testing.T) {
	const long = 10 << 20
	var b bytes.Buffer
	b.WriteString("first\n")
	b.Write(bytes.Repeat([]byte("x"), long))
	b.WriteString("\nafter\n")
	b.Write(bytes.Repeat([]byte("y"), long)) // and no final newline
	data := b.Bytes()
	for _, f := range formats[:2] {
		t.Run(f.name, func(t *testing.T) {
			r := openPath(t, writeFile(t, tempPath(t, "mail.log"), compress(t, f, data)), Options{})
			want := []struct {
				text      string
				off       int64
				truncated bool
			}{
				{"first", 0, false},
				{strings.Repeat("x", DefaultMaxLineLen), 6, true},
				{"after", 6 + long + 1, false},
				{strings.Repeat("y", DefaultMaxLineLen), 6 + long + 1 + 6, true},
			}
			for i, w := range want {
				l, off, err := r.Next()
				if err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				if string(l) != w.text || off != w.off || r.Truncated() != w.truncated {
					t.Errorf("line %d: got %d bytes at %d, truncated %v; want %d bytes at %d, truncated %v",
						i, len(l), off, r.Truncated(), len(w.text), w.off, w.truncated)
				}
			}
			if _, _, err := r.Next(); err != io.EOF {
				t.Errorf("got %v, want io.EOF", err)
			}
			if r.TruncatedLines() != 2 || r.Offset() != int64(len(data)) {
				t.Errorf("TruncatedLines() = %d, Offset() = %d", r.TruncatedLines(), r.Offset())
			}
		})
	}
	t.Run("small limit", func(t *testing.T) {
		r, err := NewReader("small", strings.NewReader("12345678\n123456789\r\nabcdefghijk"), Options{MaxLineLen: 8})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			line
			truncated bool
		}{
			{line{"12345678", 0}, false},
			{line{"12345678", 9}, true},
			{line{"abcdefgh", 20}, true},
		}
		for i, w := range want {
			l, off, err := r.Next()
			if err != nil || string(l) != w.text || off != w.off || r.Truncated() != w.truncated {
				t.Errorf("line %d: got %q at %d, truncated %v, %v; want %+v", i, l, off, r.Truncated(), err, w)
			}
		}
	})
}

func TestEmpty(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			r := openPath(t, writeFile(t, tempPath(t, "mail.log"), compress(t, f, nil)), Options{})
			if l, off, err := r.Next(); err != io.EOF || l != nil || off != 0 {
				t.Errorf("Next() = %q, %d, %v; want io.EOF", l, off, err)
			}
			if id := r.ID(); id.Content.Len != 0 {
				t.Errorf("content fingerprint of nothing covers %d bytes", id.Content.Len)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	elf := append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"), sampleLog(10000, 8)...)
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			path := writeFile(t, tempPath(t, "mail.log"), compress(t, f, elf))
			ins, _ := Expand([]string{path})
			r, err := Open(ins[0], Options{})
			if !errors.Is(err, ErrBinary) {
				r.Close()
				t.Fatalf("got %v, want ErrBinary", err)
			}
			if want := path + ": binary file, not a log"; err.Error() != want {
				t.Errorf("got %q, want %q", err, want)
			}
			r, err = Open(ins[0], Options{AllowBinary: true})
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
		})
	}
	t.Run("NUL hole at start", func(t *testing.T) {
		// copytruncate with a writer not in O_APPEND mode: the next write
		// lands at the old offset and the file starts with a hole.
		data := append(make([]byte, 5000), "Nov 28 10:00:00 mail postfix/qmgr[2]: 4F2A: removed\n"...)
		got, err := readAll(t, openPath(t, writeFile(t, tempPath(t, "mail.log"), data), Options{}))
		if err != nil {
			t.Fatal(err)
		}
		wantLines(t, got, splitLines(data))
	})
}

// The store's use: mail.log was read up to a point; then it was rotated and
// compressed. The new name's content head matches what was recorded, so the
// read resumes where it stopped.
func TestSkipToAfterRotation(t *testing.T) {
	dir := t.TempDir()
	first := sampleLog(2<<20, 9)
	live := writeFile(t, dir+"/mail.log", first)

	r := openPath(t, live, Options{})
	lines, _ := readAll(t, r)
	recorded, offset := r.ID().Content, r.Offset()
	r.Close()

	more := sampleLog(1<<20, 10)
	all := append(append([]byte{}, first...), more...)
	writeFile(t, dir+"/mail.log.1.gz", compress(t, formats[1], all))
	want := splitLines(all)[len(lines):]

	for _, name := range []string{"mail.log.1.gz", "mail.log.1"} {
		t.Run(name, func(t *testing.T) {
			if name == "mail.log.1" {
				writeFile(t, dir+"/mail.log.1", all) // the plain file is seeked
			}
			r := openPath(t, dir+"/"+name, Options{})
			if !recorded.Matches(r.ContentHead()) {
				t.Fatal("content fingerprint of the rotated file does not match")
			}
			if err := r.SkipTo(offset); err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			wantLines(t, got, want)
			if name == "mail.log.1" && r.RawRead() != int64(len(all)) {
				t.Errorf("RawRead() = %d after seek and EOF, want %d", r.RawRead(), len(all))
			}
		})
	}
	t.Run("past end", func(t *testing.T) {
		for _, name := range []string{"mail.log", "mail.log.1.gz"} {
			r := openPath(t, dir+"/"+name, Options{})
			if err := r.SkipTo(int64(len(all)) + 1); !errors.Is(err, ErrPastEnd) {
				t.Errorf("%s: got %v, want ErrPastEnd", name, err)
			}
		}
	})
	t.Run("short head", func(t *testing.T) {
		// A log shorter than HeadSize when first read still matches later.
		writeFile(t, dir+"/new.log", first[:500])
		id := openPath(t, dir+"/new.log", Options{}).ID()
		if id.Content.Len != 500 || !id.Content.Matches(openPath(t, live, Options{}).ContentHead()) {
			t.Errorf("short fingerprint %d bytes does not match the grown file", id.Content.Len)
		}
	})
}

func TestStdinPipe(t *testing.T) {
	data := sampleLog(200000, 11)
	z := compress(t, formats[1], data)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		pw.Write(z)
		pw.Close()
	}()
	saved := os.Stdin
	os.Stdin = pr
	defer func() { os.Stdin = saved }()

	ins, err := Expand([]string{"-", "-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || !ins[0].IsStdin() || ins[0].Size != -1 || ins[0].Name() != "standard input" {
		t.Fatalf("Expand(-, -) = %+v", ins)
	}
	r, err := Open(ins[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Compression() != Gzip {
		t.Errorf("Compression() = %v", r.Compression())
	}
	got, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, splitLines(data))
	if r.RawRead() != int64(len(z)) {
		t.Errorf("RawRead() = %d, want %d", r.RawRead(), len(z))
	}
	r.Close()
	// Closing the Reader must leave stdin open.
	if _, err := os.Stdin.Stat(); err != nil {
		t.Errorf("stdin closed: %v", err)
	}
}

func TestOpenDirectory(t *testing.T) {
	_, err := Open(Input{Path: t.TempDir()}, Options{})
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("got %v", err)
	}
}

// TestFileCompression: the format of a file on disk, by its content, as
// ingest weighs an input before it reads it; a file it cannot open is
// Plain (opening it to read says why).
func TestFileCompression(t *testing.T) {
	data := sampleLog(4096, 3)
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			path := writeFile(t, tempPath(t, "mail.log.1"), compress(t, f, data))
			if got := FileCompression(path); got != f.comp {
				t.Errorf("FileCompression = %v, want %v", got, f.comp)
			}
		})
	}
	if got := FileCompression(tempPath(t, "missing")); got != Plain {
		t.Errorf("missing file: %v, want plain", got)
	}
}

// TestHoldPartial: with HoldPartial a plain file's last line without "\n"
// is not returned and Offset stays before it (Partial says how long it
// is); a compressed file's is returned, as without the option.
func TestHoldPartial(t *testing.T) {
	data := []byte("line one\nline two\nhalf a li")
	for _, f := range []format{formats[0], formats[1]} {
		t.Run(f.name, func(t *testing.T) {
			path := writeFile(t, tempPath(t, "mail.log"), compress(t, f, data))
			r := openPath(t, path, Options{HoldPartial: true})
			defer r.Close()
			var got []string
			for {
				line, _, err := r.Next()
				if err != nil {
					if err != io.EOF {
						t.Fatal(err)
					}
					break
				}
				got = append(got, string(line))
			}
			if f.comp == Plain {
				if len(got) != 2 || r.Offset() != int64(len("line one\nline two\n")) || r.Partial() != len("half a li") {
					t.Errorf("lines %q, offset %d, partial %d; want 2 lines, offset 18, partial 9", got, r.Offset(), r.Partial())
				}
			} else if len(got) != 3 || got[2] != "half a li" || r.Partial() != 0 {
				t.Errorf("compressed: lines %q, partial %d; want the half line returned", got, r.Partial())
			}
		})
	}
}

// TestTakePartial: the held last line is returned by TakePartial, and the
// offset moves past it, as if HoldPartial had not held it.
func TestTakePartial(t *testing.T) {
	path := writeFile(t, tempPath(t, "mail.log"), []byte("line one\nhalf a li"))
	r := openPath(t, path, Options{HoldPartial: true})
	defer r.Close()
	if line, _, err := r.Next(); err != nil || string(line) != "line one" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the half line: %v, want io.EOF", err)
	}
	line, ok := r.TakePartial()
	if !ok || string(line) != "half a li" || r.Offset() != int64(len("line one\nhalf a li")) || r.Partial() != 0 {
		t.Errorf("TakePartial = %q, %v; offset %d, partial %d", line, ok, r.Offset(), r.Partial())
	}
}

// TestBlankHead: only a full kilobyte of NULs is blank; a shorter head, or
// one with a byte of text in it, still identifies its log.
func TestBlankHead(t *testing.T) {
	nuls := make([]byte, HeadSize)
	text := append(append([]byte{}, nuls[:HeadSize-1]...), 'N')
	for _, tt := range []struct {
		head []byte
		want bool
	}{{nuls, true}, {append(nuls, "Nov 28"...), true}, {nuls[:HeadSize-1], false}, {text, false}, {nil, false}} {
		if got := BlankHead(tt.head); got != tt.want {
			t.Errorf("BlankHead(%d bytes, last %q) = %v, want %v", len(tt.head), tt.head[max(0, len(tt.head)-1):], got, tt.want)
		}
	}
}
