package ingest

import (
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is the format of a file as found on disk.
type Compression uint8

// The formats logrotate and savelog produce. Anything else is read as Plain.
const (
	Plain Compression = iota
	Gzip
	Bzip2
	XZ
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Plain:
		return "plain"
	case Gzip:
		return "gzip"
	case Bzip2:
		return "bzip2"
	case XZ:
		return "xz"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// magicLen is the longest magic number detect looks at (xz's).
const magicLen = 6

// detect looks at content, not names: logrotate's compressext, savelog and
// hand-made copies do not always agree with what is inside, and stdin has no
// name at all.
func detect(head []byte) Compression {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return Gzip
	case len(head) >= 4 && head[0] == 'B' && head[1] == 'Z' && head[2] == 'h' && head[3] >= '1' && head[3] <= '9':
		return Bzip2
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return XZ
	case len(head) >= 4:
		m := binary.LittleEndian.Uint32(head)
		// pzstd and zstd --format with metadata start with a skippable
		// frame (0x184D2A50-0x184D2A5F) before the first real one.
		if m == 0xfd2fb528 || m&0xfffffff0 == 0x184d2a50 {
			return Zstd
		}
	}
	return Plain
}

// decompressor returns the decompressed stream of src and a function that
// releases what the decoder holds (zstd keeps goroutines).
func decompressor(c Compression, src io.Reader) (io.Reader, func(), error) {
	switch c {
	case Gzip:
		// klauspost's reader reads concatenated members by default, as
		// gzip -d does; "gzip -c new >> old.gz" is a common way to append.
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case Bzip2:
		return bzip2.NewReader(src), func() {}, nil
	case XZ:
		zr, err := xz.NewReader(src)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() {}, nil
	case Zstd:
		zr, err := zstd.NewReader(src)
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return src, func() {}, nil
}

// FileCompression tells the format of the file at path from its first
// bytes; Plain if it cannot be read (opening it later says why).
func FileCompression(path string) Compression {
	f, err := os.Open(path)
	if err != nil {
		return Plain
	}
	defer f.Close()
	head := make([]byte, magicLen)
	n, _ := io.ReadFull(f, head)
	return detect(head[:n])
}
