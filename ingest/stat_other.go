//go:build !unix

package ingest

import "io/fs"

// Without inode numbers, files given twice under two names are read twice.
func inodeOf(fs.FileInfo) (dev, ino uint64) { return 0, 0 }

func groupOf(fs.FileInfo) (gid uint32, ok bool) { return 0, false }

func ownerOf(fs.FileInfo) (uid int, ok bool) { return 0, false }
