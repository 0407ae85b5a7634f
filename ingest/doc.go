// Package ingest knows where log lines come from and hands them onward
// without interpreting them.
//
// It owns:
//
//   - turning command-line arguments (paths, globs, "-" for standard input)
//     into an ordered, de-duplicated list of Inputs, with each rotated set
//     read oldest first (Expand);
//   - opening an Input, recognising gzip, bzip2, xz and zstd by their magic
//     bytes rather than by name, and splitting the decompressed stream into
//     lines, each with the byte offset of its start (Open, Reader);
//   - identifying what was read (FileID, Fingerprint), so that the store can
//     record how far a source was read and recognise the same content under a
//     new name after rotation, even once it has been compressed;
//   - reporting progress in bytes of the file on disk, for a progress bar.
//
// It does not know what a line means: Postfix, Exim and syslog are the
// business of package parse. A bad line is never an error here; a line that
// is too long is cut and flagged, and the caller counts it. Errors are
// reserved for what stops reading: a missing or unreadable file, a binary
// file, a corrupt or truncated archive.
//
// The batch Reader is built on a line splitter that is not tied to files
// (lines.go), so that the live follower, which must treat end of file as
// "wait for more" rather than "last line", can share it.
package ingest
