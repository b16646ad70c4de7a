package state

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testID is a well-formed alert id: 16 lowercase hex digits.
func testID(i int) string { return fmt.Sprintf("%016x", 0xabc000+i) }

// TestJournalDamagedTail reopens journals whose end was damaged by a
// crash or a power loss: each must open, keep the ids before the damage,
// and record a new id that a second reopening still knows.
func TestJournalDamagedTail(t *testing.T) {
	a, c := testID(1), testID(3)
	cases := []struct {
		name string
		data string
	}{
		// A crash in the middle of an append: without the cut, c was
		// glued onto the torn b and not recognised after reopening.
		{"torn last line", a + "\n" + testID(2)[:7]},
		// Zero bytes where the last lines were, longer than any scanner
		// buffer: the journal used to refuse to open.
		{"zero-filled tail", a + "\n" + strings.Repeat("\x00", 100<<10)},
		{"zero-filled line", a + "\n" + strings.Repeat("\x00", 100<<10) + "\n"},
		{"malformed lines", "not an id\n" + strings.ToUpper(a) + "\n" + a + "\n\n" + a + "0\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.journal")
			if err := os.WriteFile(path, []byte(tc.data), 0o640); err != nil {
				t.Fatal(err)
			}
			j, err := OpenJournal(path, 0)
			if err != nil {
				t.Fatalf("opening damaged journal: %v", err)
			}
			if !j.Seen(a) {
				t.Error("id before the damage forgotten")
			}
			if fresh, err := j.Record(c); !fresh || err != nil {
				t.Fatalf("recording c: fresh=%v err=%v", fresh, err)
			}
			j.Close()
			j, err = OpenJournal(path, 0)
			if err != nil {
				t.Fatalf("reopening: %v", err)
			}
			defer j.Close()
			if !j.Seen(c) || !j.Seen(a) {
				t.Errorf("after reopening seen(a)=%v seen(c)=%v, want both", j.Seen(a), j.Seen(c))
			}
			data, _ := os.ReadFile(path)
			if !bytes.HasSuffix(data, []byte("\n"+c+"\n")) {
				t.Errorf("c is not on a line of its own at the end: %q", tail(data))
			}
		})
	}
}

// TestJournalTruncatesTornLineOnOpen checks the torn line is cut from
// the file itself on opening, before anything is appended.
func TestJournalTruncatesTornLineOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.journal")
	whole := testID(1) + "\n"
	if err := os.WriteFile(path, []byte(whole+"bbbbbbb"), 0o640); err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	data, _ := os.ReadFile(path)
	if string(data) != whole {
		t.Errorf("journal after opening holds %q, want %q", data, whole)
	}
}

func TestJournalRejectsMalformedID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.journal")
	j, err := OpenJournal(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, id := range []string{"", "a1", strings.ToUpper(testID(1)), testID(1) + "\n" + testID(2)} {
		if fresh, err := j.Record(id); fresh || err == nil {
			t.Errorf("Record(%q) = %v, %v; want an error", id, fresh, err)
		}
	}
	data, _ := os.ReadFile(path)
	if len(data) != 0 {
		t.Errorf("malformed ids were written: %q", data)
	}
}

func tail(b []byte) []byte { return b[max(0, len(b)-40):] }
