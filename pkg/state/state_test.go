package state

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type sample struct {
	Offsets map[string]int64
	Mean    []float64
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	want := sample{Offsets: map[string]int64{"/var/log/a": 42}, Mean: []float64{1.5, 2}}
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	var got sample
	if err := Load(path, &got); err != nil {
		t.Fatal(err)
	}
	if got.Offsets["/var/log/a"] != 42 || len(got.Mean) != 2 || got.Mean[0] != 1.5 {
		t.Fatalf("round trip gave %+v", got)
	}
}

func TestLoadMissingAndForeign(t *testing.T) {
	dir := t.TempDir()
	var v sample
	if err := Load(filepath.Join(dir, "none"), &v); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("missing file: got %v, want ErrNoCheckpoint", err)
	}
	foreign := filepath.Join(dir, "foreign")
	os.WriteFile(foreign, []byte("not a checkpoint"), 0o600)
	err := Load(foreign, &v)
	if err == nil || !strings.Contains(err.Error(), "not a sentinel checkpoint") {
		t.Fatalf("foreign file: got %v", err)
	}
}

func TestSaveReplacesWithoutLeavingTemporaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	for i := range 3 {
		if err := Save(path, sample{Mean: []float64{float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after three saves, want 1", len(entries))
	}
	var got sample
	if err := Load(path, &got); err != nil || got.Mean[0] != 2 {
		t.Fatalf("got %+v, %v; want the last save", got, err)
	}
}

func TestFailedWriteKeepsOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	if err := Save(path, sample{Mean: []float64{7}}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := WriteAtomic(path, func(w io.Writer) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the write error", err)
	}
	var got sample
	if err := Load(path, &got); err != nil || got.Mean[0] != 7 {
		t.Fatalf("old checkpoint damaged: %+v, %v", got, err)
	}
}

func TestJournalSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.journal")
	j, err := OpenJournal(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if fresh, _ := j.Record(testID(1)); !fresh {
		t.Fatal("first record of a1 reported as seen")
	}
	if fresh, _ := j.Record(testID(1)); fresh {
		t.Fatal("second record of a1 reported as fresh")
	}
	j.Close()

	j, err = OpenJournal(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if !j.Seen(testID(1)) || j.Seen(testID(2)) {
		t.Fatal("reopened journal forgot a1 or invented a2")
	}
}

func TestJournalCompactsToLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.journal")
	j, err := OpenJournal(path, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 11 {
		if _, err := j.Record(testID(i)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	data, _ := os.ReadFile(path)
	lines := strings.Fields(string(data))
	if len(lines) != 5 || lines[0] != testID(6) || lines[4] != testID(10) {
		t.Fatalf("compacted journal holds %v, want id6..id10", lines)
	}
	j, _ = OpenJournal(path, 5)
	defer j.Close()
	if j.Seen(testID(5)) || !j.Seen(testID(10)) {
		t.Fatal("reopened compacted journal kept the wrong ids")
	}
}
