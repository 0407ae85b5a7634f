package ingest

import (
	"bytes"
	"crypto/sha256"
	"time"
)

// HeadSize is how many leading bytes a Fingerprint covers. A syslog line is
// 100-300 bytes, so 1 KiB spans several lines, each with a timestamp and a
// PID: two different logs almost never share it.
const HeadSize = 1024

// Fingerprint identifies content by a hash of its first Len bytes, Len being
// at most HeadSize. A file shorter than HeadSize when it was fingerprinted
// has a short Len; it still matches the same file after it has grown, since
// Matches hashes only Len bytes of the candidate. The fewer bytes, the
// weaker the evidence: a caller may want to treat Len 0 (an empty file) as
// no identity at all.
type Fingerprint struct {
	Len int
	Sum [sha256.Size]byte
}

// BlankHead tells a content head of a full HeadSize of NUL bytes: the hole
// a copytruncate can leave before what the daemon writes next. Every such
// log has it, so it identifies none of them.
func BlankHead(head []byte) bool {
	return len(head) >= HeadSize && bytes.Count(head[:HeadSize], []byte{0}) == HeadSize
}

// NewFingerprint fingerprints the first HeadSize bytes of head.
func NewFingerprint(head []byte) Fingerprint {
	head = head[:min(len(head), HeadSize)]
	return Fingerprint{Len: len(head), Sum: sha256.Sum256(head)}
}

// Matches reports whether head begins with the bytes f was made from.
func (f Fingerprint) Matches(head []byte) bool {
	if len(head) < f.Len {
		return false
	}
	return sha256.Sum256(head[:f.Len]) == f.Sum
}

// FileID tells whether a source has been seen before.
//
// Dev and Inode follow a file across a rename (mail.log becoming
// mail.log.1) but not across compression, which writes a new file; Raw
// changes with compression too. Content is the fingerprint of the first
// bytes after decompression, so it is the same for mail.log, mail.log.1 and
// mail.log.1.gz: recorded with the offset reached, it lets a later run skip
// what an earlier run read under another name (see Reader.SkipTo).
type FileID struct {
	Dev, Inode  uint64 // zero when not a regular file (a pipe)
	Size        int64  // bytes on disk, compressed; -1 when unknown
	ModTime     time.Time
	Compression Compression
	Raw         Fingerprint // first bytes of the file as stored
	Content     Fingerprint // first bytes of the decompressed content
}

// SameFile reports whether a and b are the same file on disk, whatever its
// name. Files without an inode (pipes) are never the same file.
func (a FileID) SameFile(b FileID) bool {
	return a.Inode != 0 && a.Dev == b.Dev && a.Inode == b.Inode
}
