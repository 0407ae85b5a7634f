package ingest

import (
	"bytes"
	"io"
)

// DefaultMaxLineLen bounds a line so that one runaway line (a base64 blob
// logged by a misconfigured milter, a file that is not a log after all)
// cannot make the reader buffer the whole input.
const DefaultMaxLineLen = 1 << 20

// readSize is large enough that a plain file is read in few system calls, and
// small enough to stay in the CPU cache while it is split.
const readSize = 256 << 10

// lineSplitter cuts a byte stream into lines in place, in a buffer it reuses,
// so that a line costs no allocation. It is separate from Reader because the
// live follower needs the same splitting with another end-of-file rule: for a
// follower, a partial line at EOF is not the last line but one still being
// written.
type lineSplitter struct {
	src  io.Reader
	buf  []byte
	r, w int   // buf[r:w] is not yet returned
	scan int   // buf[r:scan] is known to hold no '\n'
	off  int64 // offset of buf[r] in the stream
	err  error // sticky: the error src returned, once buf[r:w] is used up

	maxLine    int
	long       []byte // the kept prefix of a line cut at maxLine
	longOff    int64  // offset of the line long was cut from
	skipping   bool   // past long, discarding up to the next "\n"
	truncated  bool
	truncCount int64
	dropped    int // bytes of an unfinished line lost to a read error
	emptyReads int

	// follow keeps a partial line at io.EOF for later instead of returning
	// it as the last line: the live follower's end of file is only "no more
	// yet". It calls resume to read on, and flush when the file is done.
	follow bool
	// holdPartial keeps a partial line at io.EOF unread, for good: the
	// batch reader's end of file (Options.HoldPartial).
	holdPartial bool
}

func newLineSplitter(src io.Reader, maxLine int) lineSplitter {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineLen
	}
	return lineSplitter{src: src, buf: make([]byte, readSize), maxLine: maxLine}
}

// next returns the next line without its "\n" or a trailing "\r", and the
// offset of its first byte. At io.EOF a final line without "\n" is returned
// first. On any other error the unfinished line is dropped, not returned: it
// is most likely cut short by the damage, and its start is where a later,
// repaired read should resume.
func (s *lineSplitter) next() ([]byte, int64, error) {
	s.truncated = false
	if s.skipping {
		return s.skipLong()
	}
	for {
		if i := bytes.IndexByte(s.buf[s.scan:s.w], '\n'); i >= 0 {
			end := s.scan + i
			line := s.buf[s.r:end]
			off := s.off
			s.off += int64(end + 1 - s.r)
			s.r = end + 1
			s.scan = s.r
			return s.cut(line), off, nil
		}
		s.scan = s.w
		if s.w-s.r > s.maxLine {
			return s.discardLongLine()
		}
		if s.err != nil {
			if s.r == s.w {
				return nil, s.off, s.err
			}
			if s.err != io.EOF {
				s.dropped = s.w - s.r
				s.r, s.scan = s.w, s.w
				return nil, s.off, s.err
			}
			if s.follow || s.holdPartial {
				return nil, s.off, io.EOF
			}
			line := s.buf[s.r:s.w]
			off := s.off
			s.off += int64(len(line))
			s.r, s.scan = s.w, s.w
			return s.cut(line), off, nil
		}
		s.fill()
	}
}

// cut strips a trailing "\r" (CRLF logs copied from other systems) and
// enforces maxLine on a line that was found whole in the buffer.
func (s *lineSplitter) cut(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > s.maxLine {
		line = line[:s.maxLine]
		s.truncated = true
		s.truncCount++
	}
	return line
}

// discardLongLine keeps the first maxLine bytes of a line that does not fit
// and reads past the rest, so that the offset of the next line is right and
// the caller sees the whole damage at once.
func (s *lineSplitter) discardLongLine() ([]byte, int64, error) {
	s.long = append(s.long[:0], s.buf[s.r:s.r+s.maxLine]...)
	s.longOff = s.off
	s.skipping = true
	return s.skipLong()
}

// skipLong discards the rest of the line kept in long and returns long. In
// follow mode it can stop at io.EOF and be called again to go on.
func (s *lineSplitter) skipLong() ([]byte, int64, error) {
	for {
		if i := bytes.IndexByte(s.buf[s.r:s.w], '\n'); i >= 0 {
			s.off += int64(i + 1)
			s.r += i + 1
			break
		}
		s.off += int64(s.w - s.r)
		s.r = s.w
		if s.err != nil {
			if s.follow && s.err == io.EOF {
				s.scan = s.r
				return nil, s.longOff, io.EOF
			}
			break
		}
		s.fill()
	}
	s.scan = s.r
	s.skipping = false
	s.truncated = true
	s.truncCount++
	return s.long, s.longOff, nil
}

// fill reads once from src. It is called only when buf[r:w] holds no "\n",
// so what it moves to the front is a single partial line, usually short.
func (s *lineSplitter) fill() {
	if len(s.buf)-s.w < len(s.buf)/4 {
		if s.r > 0 {
			n := copy(s.buf, s.buf[s.r:s.w])
			s.scan -= s.r
			s.w = n
			s.r = 0
		}
		// The buffer must be able to hold maxLine+1 bytes of one line for
		// the too-long test in next to fire; grow towards that, not beyond.
		if len(s.buf)-s.w < len(s.buf)/4 && len(s.buf) <= s.maxLine {
			size := min(2*len(s.buf), s.maxLine+readSize)
			buf := make([]byte, size)
			copy(buf, s.buf[:s.w])
			s.buf = buf
		}
	}
	n, err := s.src.Read(s.buf[s.w:])
	s.w += n
	switch {
	case err != nil:
		s.err = err
	case n == 0:
		// A reader that keeps returning nothing would spin next forever.
		s.emptyReads++
		if s.emptyReads > 100 {
			s.err = io.ErrNoProgress
		}
	default:
		s.emptyReads = 0
	}
}

// prime reads until at least n bytes are buffered or the stream ends, so
// that the head of the content can be inspected before any line is taken.
func (s *lineSplitter) prime(n int) {
	for s.w < n && s.err == nil {
		s.fill()
	}
}

// skip discards content up to offset. It reports false if the stream ended
// (or failed) first; s.err then says which.
func (s *lineSplitter) skip(offset int64) bool {
	for {
		if avail := int64(s.w - s.r); offset-s.off <= avail {
			s.r += int(offset - s.off)
			s.scan = s.r
			s.off = offset
			return true
		}
		s.off += int64(s.w - s.r)
		s.r, s.scan = s.w, s.w
		if s.err != nil {
			return false
		}
		s.fill()
	}
}

// reset empties the buffer and continues at offset, after the caller has
// moved src there itself (a seek).
func (s *lineSplitter) reset(offset int64) {
	s.r, s.w, s.scan = 0, 0, 0
	s.off = offset
	s.err = nil
	s.skipping = false
}

// resume lets a follower read on after io.EOF: the file may have grown.
func (s *lineSplitter) resume() {
	if s.err == io.EOF {
		s.err = nil
	}
}

// flush returns, in follow mode, the partial line kept at io.EOF as a last
// line, once the follower knows that its newline will never come. ok is
// false if there is none.
func (s *lineSplitter) flush() (line []byte, off int64, ok bool) {
	s.truncated = false
	if s.skipping {
		s.skipping = false
		s.truncated = true
		s.truncCount++
		return s.long, s.longOff, true
	}
	if s.r == s.w {
		return nil, s.off, false
	}
	line = s.buf[s.r:s.w]
	off = s.off
	s.off += int64(len(line))
	s.r, s.scan = s.w, s.w
	return s.cut(line), off, true
}
