package ingest

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// source is one file a follower reads: the live file, or a rotation of it.
type source struct {
	name       string
	file       *os.File
	release    func() // frees the decoder of a compressed rotation
	capture    headCapture
	lines      lineSplitter
	dev, ino   uint64
	compressed bool
	// detached: no longer the file at the path; read to its end and left.
	detached bool
	// queued: a rotated file found by name, never the live one.
	queued bool
	// As of the last check, so that an unchanged file costs one stat.
	size  int64
	mtime time.Time

	fp   Fingerprint // of capture.head[:fp.Len], computed again as it grows
	fpOK bool
}

// headCapture keeps the first HeadSize bytes of the content as they are
// read, for Position.Head, and when data last came, for the quiet rule.
type headCapture struct {
	r        io.Reader
	pos      int64 // content bytes read so far, or the offset seeked to
	head     []byte
	lastData time.Time
}

func (h *headCapture) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		if have := int64(len(h.head)); have < HeadSize && h.pos <= have && have < h.pos+int64(n) {
			h.head = append(h.head, p[have-h.pos:min(int64(n), HeadSize-h.pos)]...)
		}
		h.pos += int64(n)
		h.lastData = time.Now()
	}
	return n, err
}

// openSource opens a file for following. With allowCompressed (rotations)
// the content is decompressed; the live file is always read as it is.
func openSource(name string, allowCompressed bool, maxLine int) (*source, error) {
	file, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		file.Close()
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	s := &source{name: name, file: file}
	s.dev, s.ino = inodeOf(fi)
	head := make([]byte, HeadSize)
	n, err := file.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		file.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	head = head[:n]
	var content io.Reader = file
	if c := detect(head); allowCompressed && c != Plain {
		dec, release, err := decompressor(c, bufio.NewReaderSize(file, 64<<10))
		if err != nil {
			file.Close()
			return nil, &ReadError{Name: name, Compression: c, Err: err}
		}
		content, s.release, s.compressed, head = dec, release, true, nil
	}
	s.capture = headCapture{r: content, head: head, lastData: time.Now()}
	s.lines = newLineSplitter(&s.capture, maxLine)
	s.lines.follow = true
	if s.compressed {
		// The content head, to match a saved Position against.
		s.lines.prime(HeadSize)
		if s.lines.err != nil && s.lines.err != io.EOF {
			s.close()
			return nil, &ReadError{Name: name, Compression: detect(s.capture.head), Err: s.lines.err}
		}
	}
	return s, nil
}

// startAt moves to offset in the content. It reports false if the content
// is shorter.
func (s *source) startAt(offset int64) (bool, error) {
	if s.compressed {
		if s.lines.skip(offset) {
			return true, nil
		}
		if s.lines.err == io.EOF {
			return false, nil
		}
		return false, &ReadError{Name: s.name, Offset: s.lines.off, Err: s.lines.err}
	}
	fi, err := s.file.Stat()
	if err != nil {
		return false, fmt.Errorf("%s: %w", s.name, err)
	}
	if fi.Size() < offset {
		return false, nil
	}
	if _, err := s.file.Seek(offset, io.SeekStart); err != nil {
		return false, fmt.Errorf("%s: %w", s.name, err)
	}
	s.capture.pos = offset
	s.lines.reset(offset)
	return true, nil
}

// more reports whether there is content after the position reached.
func (s *source) more() bool {
	if s.lines.r < s.lines.w {
		return true
	}
	if s.lines.err != nil && s.lines.err != io.EOF {
		return true // for the read to report it
	}
	s.lines.err = nil
	s.lines.fill()
	return s.lines.r < s.lines.w || (s.lines.err != nil && s.lines.err != io.EOF)
}

// holds reports whether s is the content a Position was taken in: its head
// matches, or, when there was no head yet, it is the same plain file.
func (s *source) holds(p Position) bool {
	if p.Head.Len > 0 {
		return p.Head.Matches(s.capture.head)
	}
	if p.Inode == 0 {
		return !s.queued
	}
	return !s.compressed && s.dev == p.Dev && s.ino == p.Inode
}

// fingerprint is the Head of a Position at offset in s.
func (s *source) fingerprint(offset int64) Fingerprint {
	n := int(min(offset, HeadSize, int64(len(s.capture.head))))
	if !s.fpOK || n != s.fp.Len {
		s.fp, s.fpOK = NewFingerprint(s.capture.head[:n]), true
	}
	return s.fp
}

// headUnchanged reports whether the file still begins with the bytes read
// from it.
func (s *source) headUnchanged() (bool, error) {
	if len(s.capture.head) == 0 {
		return true, nil
	}
	buf := make([]byte, len(s.capture.head))
	n, err := s.file.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return false, err
	}
	return bytes.Equal(buf[:n], s.capture.head), nil
}

// refreshHead reads again the first bytes of a plain file that has not
// been read from yet (the new file held open while the old one is drained):
// it may have been empty when it was opened, and its head is what tells its
// compressed copy from the rotations that came between.
func (s *source) refreshHead() {
	if s.compressed || s.capture.pos != 0 || len(s.capture.head) >= HeadSize {
		return
	}
	buf := make([]byte, HeadSize)
	n, err := s.file.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return // the read from it will report it
	}
	if n > len(s.capture.head) {
		s.capture.head = buf[:n]
		s.fpOK = false
	}
}

func (s *source) close() error {
	if s.release != nil {
		s.release()
		s.release = nil
	}
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	return err
}

// successors finds where the content of p went among the rotated files
// next to the followed path (mail.log.1, mail.log.2.gz, mail.log-20261128):
// the newest that holds p, opened at p.Offset if there is more in it, then
// every newer rotation from its start, oldest first. The file with the
// identity of exclude (what is read after the queue: the live file, or the
// new file held open) is left out, and so is any copy of excludeHead's
// content, and every rotation newer than such a copy. found reports
// whether p was found at all.
//
// On a restart the file holding p is queued even if there is nothing more
// in it yet: a writer may not have reopened the log since it was rotated.
// When the follower has just left that file (leaving), it is queued only
// if more has come since.
func (f *Follower) successors(p Position, exclude *source, excludeHead []byte, leaving bool) (queue []*source, found bool) {
	names := rotatedSiblings(f.path)
	var newer []*source // newest first
	defer func() {
		for _, s := range newer {
			if !s.queued {
				s.close()
			}
		}
	}()
	var match *source
	for _, name := range names {
		s, err := openSource(name, true, f.opts.MaxLineLen)
		if err != nil {
			f.log.Debug("rotated file not usable", "file", name, "err", err)
			continue
		}
		if exclude != nil && s.dev == exclude.dev && s.ino == exclude.ino || sameHead(s.capture.head, excludeHead) {
			// A copy of what comes next (the new file held open, itself
			// rotated since): the rotations newer than it come after it,
			// and are found when it is left.
			s.close()
			for _, n := range newer {
				n.close()
			}
			newer = nil
			continue
		}
		if s.holds(p) {
			match = s
			break
		}
		newer = append(newer, s)
	}
	if match == nil {
		return nil, false
	}
	add := func(s *source, offset int64, needMore bool) {
		ok, err := s.startAt(offset)
		if err != nil {
			f.log.Warn("rotated file not readable", "file", s.name, "err", err)
		}
		if ok && needMore {
			ok = s.more()
		}
		if !ok {
			s.close()
			return
		}
		s.queued, s.detached = true, true
		queue = append(queue, s)
	}
	add(match, p.Offset, leaving || match.compressed)
	seen := []*source{match}
	for _, s := range slices.Backward(newer) {
		if slices.ContainsFunc(seen, func(o *source) bool { return sameHead(s.capture.head, o.capture.head) }) {
			continue // mail.log.1 and mail.log.1.gz while gzip runs
		}
		seen = append(seen, s)
		add(s, 0, false)
	}
	return queue, true
}

// sameHead reports whether a and b begin with the same non-empty content.
func sameHead(a, b []byte) bool {
	n := min(len(a), len(b))
	return n > 0 && bytes.Equal(a[:n], b[:n])
}

// rotatedSiblings lists the rotations of path found next to it, newest
// first, a plain file before its compressed copy, at most maxRotations.
func rotatedSiblings(path string) []string {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	live := newRotated(Input{Path: path})
	base := filepath.Base(path)
	var found []rotated
	for _, e := range entries {
		name := e.Name()
		if name == base || !strings.HasPrefix(name, base) || e.IsDir() {
			continue
		}
		r := newRotated(Input{Path: filepath.Join(dir, name)})
		if r.family == live.family && r.kind != kindLive {
			found = append(found, r)
		}
	}
	slices.SortStableFunc(found, func(a, b rotated) int {
		if c := olderFirst(a, b); c != 0 {
			return -c
		}
		return cmp.Compare(compressedName(a.in.Path), compressedName(b.in.Path))
	})
	names := make([]string, 0, min(len(found), maxRotations))
	for _, r := range found[:min(len(found), maxRotations)] {
		names = append(names, r.in.Path)
	}
	return names
}

func compressedName(path string) int {
	for _, ext := range compressionSuffixes {
		if strings.HasSuffix(path, ext) {
			return 1
		}
	}
	return 0
}
