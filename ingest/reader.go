package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// Options tune a Reader. The zero value is ready to use.
type Options struct {
	// MaxLineLen is the longest line returned whole; longer lines are cut
	// to it and flagged. Zero means DefaultMaxLineLen.
	MaxLineLen int
	// AllowBinary reads content that Open would reject as binary, for the
	// user who knows better (a log with a crash hole of NULs near its start).
	AllowBinary bool
	// HoldPartial leaves a final line without "\n" of uncompressed
	// content unread: a log read while it is written may end in half a
	// line, which the next read, from Offset, gets whole. Partial tells
	// how long it was. (A compressed file is finished: its last line is
	// returned as it is.)
	HoldPartial bool
}

// binarySniff is how much content is searched for NUL bytes, as grep and
// git do with their own limits: enough to see past any text header of a
// binary format, small enough to cost nothing.
const binarySniff = 4096

// Reader yields the lines of one input, decompressed, with their offsets.
// It is not safe for concurrent use, except RawRead, which a progress
// display may call from another goroutine.
type Reader struct {
	lines lineSplitter

	name     string
	file     *os.File // nil when reading a caller's io.Reader
	ownsFile bool     // false for stdin, which outlives the Reader
	release  func()   // frees the decoder
	raw      *bufio.Reader
	count    countingReader
	id       FileID
	seekOK   bool // plain regular file: SkipTo may seek

	rawHead     []byte
	contentHead []byte
	err         error // the error Next returns once the lines are used up
}

// Open opens in and prepares its content for reading: it detects the
// compression, checks that the content is text, and records the heads that
// identify it. Close the Reader when done.
func Open(in Input, opts Options) (*Reader, error) {
	name := in.Name()
	f := os.Stdin
	if !in.IsStdin() {
		var err error
		if f, err = os.Open(in.Path); err != nil {
			return nil, explain(in.Path, err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		closeUnlessStdin(f)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if fi.IsDir() {
		closeUnlessStdin(f)
		return nil, fmt.Errorf("%s: is a directory", name)
	}
	id := FileID{Size: -1, ModTime: fi.ModTime()}
	if fi.Mode().IsRegular() {
		id.Size = fi.Size()
		id.Dev, id.Inode = inodeOf(fi)
	}
	r, err := newReader(name, f, id, opts)
	if err != nil {
		closeUnlessStdin(f)
		return nil, err
	}
	r.file = f
	r.ownsFile = f != os.Stdin
	r.seekOK = fi.Mode().IsRegular() && r.id.Compression == Plain
	return r, nil
}

// NewReader reads from src, which the caller owns and closes. name is used
// in errors. The FileID it reports has only the fingerprints.
func NewReader(name string, src io.Reader, opts Options) (*Reader, error) {
	return newReader(name, src, FileID{Size: -1}, opts)
}

func newReader(name string, src io.Reader, id FileID, opts Options) (*Reader, error) {
	r := &Reader{name: name, id: id}
	r.count.r = src
	// 64 KiB: decompressors read through this buffer in small pieces,
	// while the line splitter's larger reads of a plain file bypass it.
	r.raw = bufio.NewReaderSize(&r.count, 64<<10)
	head, err := r.raw.Peek(HeadSize)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.rawHead = bytes.Clone(head)
	r.id.Raw = NewFingerprint(r.rawHead)
	r.id.Compression = detect(r.rawHead)

	content, release, err := decompressor(r.id.Compression, r.raw)
	if err != nil {
		return nil, &ReadError{Name: name, Compression: r.id.Compression, RawRead: r.count.n.Load(), Err: err}
	}
	if r.id.Compression != Plain {
		ra := newReadAhead(content, release)
		content, release = ra, ra.Close
	}
	r.release = release
	r.lines = newLineSplitter(content, opts.MaxLineLen)
	r.lines.holdPartial = opts.HoldPartial && r.id.Compression == Plain
	r.lines.prime(binarySniff)
	sniff := r.lines.buf[:min(r.lines.w, binarySniff)]
	if !opts.AllowBinary && looksBinary(sniff) {
		defer release()
		// Decoded garbage is a corrupt archive, not a binary file, and
		// the user should hear which. bzip2 checks a block (at most 900 kB
		// of content) only once it has emitted it, so read on that far.
		err := r.lines.err
		if err == nil && r.id.Compression != Plain {
			_, err = io.CopyN(io.Discard, content, 1<<20)
		}
		if err != nil && err != io.EOF {
			return nil, &ReadError{Name: name, Compression: r.id.Compression, RawRead: r.count.n.Load(), Err: err}
		}
		return nil, fmt.Errorf("%s: %w", name, ErrBinary)
	}
	r.contentHead = bytes.Clone(sniff[:min(len(sniff), HeadSize)])
	r.id.Content = NewFingerprint(r.contentHead)
	return r, nil
}

// looksBinary is true for a NUL byte in text. A run of NULs at the very
// start is forgiven: it is the hole copytruncate leaves in front of the
// next line when the writer did not open the log with O_APPEND.
func looksBinary(sample []byte) bool {
	i := 0
	for i < len(sample) && sample[i] == 0 {
		i++
	}
	return bytes.IndexByte(sample[i:], 0) >= 0
}

// Next returns the next line and the offset of its first byte in the
// decompressed content. The line is valid until the next call to Next or
// SkipTo. It has no "\n" and no trailing "\r": CRLF logs are common enough
// in copies from other systems that every caller would strip it anyway.
// Invalid UTF-8 and NUL bytes are passed through for the caller to count.
// A final line without "\n" is returned like any other. At the end Next
// returns io.EOF; if the content broke before its end, it returns a
// *ReadError after the last complete line.
func (r *Reader) Next() (line []byte, offset int64, err error) {
	line, offset, err = r.lines.next()
	if err != nil {
		return nil, offset, r.wrap(err)
	}
	return line, offset, nil
}

func (r *Reader) wrap(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if r.err == nil {
		r.err = &ReadError{
			Name:        r.name,
			Compression: r.id.Compression,
			Offset:      r.lines.off,
			RawRead:     r.count.n.Load(),
			Dropped:     r.lines.dropped,
			Err:         err,
		}
	}
	return r.err
}

// Partial is the length of the final line without "\n" that HoldPartial
// left unread, once Next has returned io.EOF; 0 if none.
func (r *Reader) Partial() int {
	if r.lines.holdPartial && r.lines.err == io.EOF {
		return r.lines.w - r.lines.r
	}
	return 0
}

// TakePartial returns the final line that HoldPartial left unread, as the
// last line (the file turned out not to be growing); false if none.
func (r *Reader) TakePartial() ([]byte, bool) {
	if r.Partial() == 0 {
		return nil, false
	}
	line, _, ok := r.lines.flush()
	return line, ok
}

// Truncated reports whether the line last returned by Next was cut at
// MaxLineLen. The rest of it has been skipped, so the next line is whole.
func (r *Reader) Truncated() bool { return r.lines.truncated }

// TruncatedLines is how many lines have been cut so far.
func (r *Reader) TruncatedLines() int64 { return r.lines.truncCount }

// Offset is the offset in the decompressed content just past the last line
// returned: what to record as a checkpoint, and to give to SkipTo later.
func (r *Reader) Offset() int64 { return r.lines.off }

// RawRead is how many bytes of the file on disk have been read, to show
// progress against Input.Size; decoders read ahead, so it runs a little in
// front of Offset. It is safe to call from another goroutine.
func (r *Reader) RawRead() int64 { return r.count.n.Load() }

// Name is the name the Reader uses in errors.
func (r *Reader) Name() string { return r.name }

// Compression is the format detected from the content.
func (r *Reader) Compression() Compression { return r.id.Compression }

// ID identifies what is being read. Size and ModTime are as of Open.
func (r *Reader) ID() FileID { return r.id }

// ContentHead is the first bytes (up to HeadSize) of the decompressed
// content, available from Open on, for Fingerprint.Matches against a
// fingerprint recorded from another file. Do not modify it.
func (r *Reader) ContentHead() []byte { return r.contentHead }

// RawHead is the first bytes (up to HeadSize) of the file as stored.
func (r *Reader) RawHead() []byte { return r.rawHead }

// SkipTo moves forward to offset in the decompressed content, so that a
// source read before under another name is read on from where that stopped.
// A plain file is seeked; compressed content must be decompressed and
// discarded. It returns an error wrapping ErrPastEnd if the content is
// shorter than offset.
func (r *Reader) SkipTo(offset int64) error {
	s := &r.lines
	if offset < s.off {
		return fmt.Errorf("%s: skip to byte %d: already at byte %d", r.name, offset, s.off)
	}
	if offset > s.off+int64(s.w-s.r) && s.err == nil && r.seekOK {
		fi, err := r.file.Stat()
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		if offset > fi.Size() {
			return fmt.Errorf("%s: skip to byte %d: content ends at byte %d: %w", r.name, offset, fi.Size(), ErrPastEnd)
		}
		if _, err := r.file.Seek(offset, io.SeekStart); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		r.count.n.Store(offset)
		r.raw.Reset(&r.count)
		s.reset(offset)
		return nil
	}
	if s.skip(offset) {
		return nil
	}
	if s.err == io.EOF {
		return fmt.Errorf("%s: skip to byte %d: content ends at byte %d: %w", r.name, offset, s.off, ErrPastEnd)
	}
	return r.wrap(s.err)
}

// Close releases the decoder and closes the file (never standard input).
func (r *Reader) Close() error {
	if r.release != nil {
		r.release()
		r.release = nil
	}
	if r.ownsFile {
		r.ownsFile = false
		return r.file.Close()
	}
	return nil
}

func closeUnlessStdin(f *os.File) {
	if f != os.Stdin {
		f.Close()
	}
}

// countingReader measures progress through the file on disk, which for
// compressed input is unrelated to the offsets of lines.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
