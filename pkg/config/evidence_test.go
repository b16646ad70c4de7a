package config

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestEvidenceIsCheckedByField(t *testing.T) {
	_, err := Parse([]byte("evidence:\n  max_lines: -1\n  line_bytes: 10\n  budget: lots\n  segment_size: 1KiB\n  segments: 1\n"))
	if err == nil {
		t.Fatal("bad evidence settings accepted")
	}
	for _, want := range []string{"evidence.max_lines (line 2)", "evidence.line_bytes (line 3)", "evidence.budget (line 4)",
		"evidence.segment_size (line 5)", "evidence.segments (line 6)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	c, err := Parse([]byte("evidence:\n  budget: 16MiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Evidence.On() || c.Evidence.BudgetBytes() != 16<<20 || c.Evidence.MaxLines != 20 || c.Evidence.SegmentBytes() != 64<<20 {
		t.Errorf("evidence settings %+v", c.Evidence)
	}
}

// TestSHA256IsOfTheFileAsRead: what evidence names a configuration by
// must be computable by anyone holding the file, and the defaults'
// must be that of no file at all.
func TestSHA256IsOfTheFileAsRead(t *testing.T) {
	data := "windows:\n  size: 1m\n"
	c, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(data))
	if c.SHA256() != hex.EncodeToString(sum[:]) || !strings.HasPrefix(c.SHA256(), c.Hash()) {
		t.Errorf("SHA256 %s, Hash %s; want the file's SHA-256, Hash its prefix", c.SHA256(), c.Hash())
	}
	empty := sha256.Sum256(nil)
	if Default().SHA256() != hex.EncodeToString(empty[:]) {
		t.Errorf("defaults' SHA256 %s", Default().SHA256())
	}
}
