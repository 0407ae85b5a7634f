package ingest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
)

// ErrBinary is returned by Open for content that is not text, so that
// "mailbounce report /var/log/*" names the odd file out instead of counting
// a million unparsable lines.
var ErrBinary = errors.New("binary file, not a log")

// ErrPastEnd is returned by SkipTo when the content is shorter than the
// offset: the source is not what was read before, or it was truncated.
var ErrPastEnd = errors.New("offset past end of content")

// ReadError is a stream that broke before its end: a truncated or corrupt
// archive, or an I/O error. Every line before Offset has been delivered.
type ReadError struct {
	Name        string
	Compression Compression
	// Offset is where the last complete line delivered ends, in the
	// decompressed content: where a repaired or completed copy (a .gz that
	// logrotate was still writing) can be resumed with SkipTo.
	Offset int64
	// RawRead is how many bytes of the file had been read, a hint to where
	// the damage lies; decompressors read ahead, so it is an upper bound.
	RawRead int64
	// Dropped is the length of the unfinished line at Offset that was not
	// delivered.
	Dropped int
	Err     error
}

func (e *ReadError) Error() string {
	what := "read error"
	if e.Compression != Plain {
		what = e.Compression.String() + " data corrupt or truncated"
	}
	msg := fmt.Sprintf("%s: %s after %d bytes of content (%d bytes of the file read)", e.Name, what, e.Offset, e.RawRead)
	if e.Dropped > 0 {
		msg += fmt.Sprintf(", %d-byte unfinished line dropped", e.Dropped)
	}
	return msg + ": " + e.Err.Error()
}

func (e *ReadError) Unwrap() error { return e.Err }

// explain adds what the user can do about an error from opening or
// stat-ing path. Mail logs are the usual case of a file a user cannot read:
// Debian gives /var/log/mail.log to group adm, Red Hat makes
// /var/log/maillog readable by root alone.
func explain(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no such file; check the path (a rotated log may have been compressed or removed since): %w", path, fs.ErrNotExist)
	}
	if !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return fmt.Errorf("%w; %s", err, permissionHint(path))
}

func permissionHint(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "run as root or a member of group adm"
	}
	gid, ok := groupOf(fi)
	if !ok {
		return "run as root or a member of group adm"
	}
	if uid, ok := ownerOf(fi); ok && uid == os.Getuid() && fi.Mode().Perm()&0o400 == 0 {
		return "the file is yours but not readable: chmod u+r " + path
	}
	if fi.Mode().Perm()&0o040 == 0 {
		return "run as root (the file is not readable by its group)"
	}
	name := fmt.Sprint(gid)
	if g, err := user.LookupGroupId(name); err == nil {
		name = g.Name
	}
	return "run as root or a member of group " + name
}
