package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxHeadLen is the most bytes from the start of a file that a FileID
// hashes.
const MaxHeadLen = 1024

// IdentifyFile computes the FileID of an open file: its device and inode,
// and the SHA-256 of its first min(size, MaxHeadLen) bytes.
func IdentifyFile(f *os.File) (FileID, error) {
	id, _, err := identifyWithHead(f)
	return id, err
}

// identifyWithHead is IdentifyFile that also returns the head bytes it
// hashed, so a follower can later check the file still starts with them.
func identifyWithHead(f *os.File) (FileID, []byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return FileID{}, nil, fmt.Errorf("identifying %s: %w", f.Name(), err)
	}
	dev, ino := fileDevIno(fi)
	head, err := readFileHead(f, int(min(fi.Size(), MaxHeadLen)))
	if err != nil {
		return FileID{}, nil, fmt.Errorf("identifying %s: %w", f.Name(), err)
	}
	return fileIDFromHead(dev, ino, head), head, nil
}

func fileIDFromHead(dev, ino uint64, head []byte) FileID {
	sum := sha256.Sum256(head)
	return FileID{Dev: dev, Ino: ino, HeadLen: len(head), Head: hex.EncodeToString(sum[:])}
}

// fileDevIno returns the device and inode numbers of a file; zero where the
// platform has none.
func fileDevIno(fi os.FileInfo) (uint64, uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // Dev is int32 on some platforms
}

// readFileHead reads the first n bytes of f, or fewer when the file is now
// shorter.
func readFileHead(f *os.File, n int) ([]byte, error) {
	head := make([]byte, n)
	got, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading head: %w", err)
	}
	return head[:got], nil
}

// fileHeadMatches says whether f still starts with the bytes hashed in id.
func fileHeadMatches(f *os.File, id FileID) bool {
	head, err := readFileHead(f, id.HeadLen)
	if err != nil || len(head) != id.HeadLen {
		return false
	}
	sum := sha256.Sum256(head)
	return hex.EncodeToString(sum[:]) == id.Head
}

// fileMatchesID says whether f is the file id was computed from: same device
// and inode, and the same first id.HeadLen bytes, so a reused inode number
// is not mistaken for the old file.
func fileMatchesID(f *os.File, fi os.FileInfo, id FileID) bool {
	dev, ino := fileDevIno(fi)
	if dev != id.Dev || ino != id.Ino {
		return false
	}
	return fileHeadMatches(f, id)
}

// fileStartsWith says whether f begins with head.
func fileStartsWith(f *os.File, head []byte) bool {
	got, err := readFileHead(f, len(head))
	return err == nil && bytes.Equal(got, head)
}

// Behind returns how many bytes of the file at p.Path lie past p.Offset,
// and false when that path now holds another file (it was rotated away)
// or cannot be read: what is left of a rotated file is read from its new
// name, and counting it here would count it twice.
func Behind(p Position) (int64, bool) {
	fi, err := os.Stat(p.Path)
	if err != nil {
		return 0, false
	}
	dev, ino := fileDevIno(fi)
	if dev != p.ID.Dev || ino != p.ID.Ino {
		return 0, false
	}
	return max(fi.Size()-p.Offset, 0), true
}
