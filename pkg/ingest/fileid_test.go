package ingest

import (
	"os"
	"strings"
	"testing"
)

func srcIdentify(t *testing.T, path string) FileID {
	t.Helper()
	f, err := os.Open(path)
	srcMust(t, err)
	defer f.Close()
	id, err := IdentifyFile(f)
	srcMust(t, err)
	return id
}

// TestIdentifyFile checks what a FileID depends on: the head bytes up to
// MaxHeadLen, the inode, and not what lies past the head.
func TestIdentifyFile(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("a", 3000)
	srcMust(t, os.WriteFile(dir+"/small", []byte("hello\n"), 0o644))
	srcMust(t, os.WriteFile(dir+"/big", []byte(big), 0o644))
	srcMust(t, os.WriteFile(dir+"/big2", []byte(big[:MaxHeadLen]+"different tail"), 0o644))

	small, b1, b2 := srcIdentify(t, dir+"/small"), srcIdentify(t, dir+"/big"), srcIdentify(t, dir+"/big2")
	if small.HeadLen != 6 || b1.HeadLen != MaxHeadLen {
		t.Fatalf("head lengths %d and %d, want 6 and %d", small.HeadLen, b1.HeadLen, MaxHeadLen)
	}
	// sha256("hello\n"), checked with sha256sum.
	if small.Head != "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" {
		t.Fatalf("head hash %s", small.Head)
	}
	if b1.Head != b2.Head || b1.Ino == b2.Ino {
		t.Fatalf("same head, other inode: got %+v and %+v", b1, b2)
	}
	if b1 != srcIdentify(t, dir+"/big") {
		t.Fatal("identifying the same file twice differs")
	}
	srcMust(t, os.Rename(dir+"/big", dir+"/moved"))
	if b1 != srcIdentify(t, dir+"/moved") {
		t.Fatal("a renamed file has another ID")
	}
}
