package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestFileSinkAppendsAndCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	for round := 0; round < 2; round++ {
		s, err := OpenFileSink(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), sampleAlert()); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("%d lines after two opens, want 2 (append, not truncate)", len(lines))
	}
	var a Alert
	if err := json.Unmarshal([]byte(lines[1]), &a); err != nil || a.ID != sampleAlert().ID {
		t.Errorf("line %q: %v", lines[1], err)
	}
}

func TestFileSinkConcurrentLinesStayWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	s, err := OpenFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A label longer than PIPE_BUF makes interleaving likely if
			// writes were not serialised.
			a := sampleAlert()
			a.Label = strings.Repeat("x", 8192)
			for j := 0; j < each; j++ {
				if err := s.Send(context.Background(), a); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != writers*each {
		t.Fatalf("%d lines, want %d", len(lines), writers*each)
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("line %d is not JSON: %.100s", i, l)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterSinkErrors(t *testing.T) {
	s := NewWriterSink("stdout", failingWriter{})
	err := s.Send(context.Background(), sampleAlert())
	if retry, _ := Retryable(err); err == nil || !retry {
		t.Errorf("write failure: err %v, want retryable", err)
	}
	if _, err := OpenFileSink(filepath.Join(t.TempDir(), "missing", "x.jsonl")); err == nil {
		t.Error("opening a file in a missing directory succeeded")
	}
}
