package ingest

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// srcReadAll runs ReadFiles and returns its batches.
func srcReadAll(t *testing.T, paths ...string) []Batch {
	t.Helper()
	out := make(chan Batch)
	done := make(chan error, 1)
	go func() { done <- ReadFiles(context.Background(), paths, out) }()
	var batches []Batch
	for {
		select {
		case b := <-out:
			batches = append(batches, b)
		case err := <-done:
			if err != nil {
				t.Fatalf("ReadFiles: %v", err)
			}
			return batches
		}
	}
}

func srcBatchLines(batches []Batch) []string {
	var lines []string
	for _, b := range batches {
		for _, l := range b.Lines {
			lines = append(lines, string(l))
		}
	}
	return lines
}

func srcWriteGzip(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.Create(path)
	srcMust(t, err)
	zw := gzip.NewWriter(f)
	_, err = zw.Write([]byte(content))
	srcMust(t, err)
	srcMust(t, zw.Close())
	srcMust(t, f.Close())
}

// TestReadFilesPlainAndGzip reads the same lines from a plain file and
// from gzip files, one named without .gz and one plain file named .gz:
// the format is told by content, and the lines are identical.
func TestReadFilesPlainAndGzip(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	var want []string
	for i := range 30000 { // several chunks
		want = append(want, fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("p", i%90)))
		b.WriteString(want[i] + "\n")
	}
	content := b.String()
	srcMust(t, os.WriteFile(dir+"/plain.gz", []byte(content), 0o644))
	srcWriteGzip(t, dir+"/packed.log", content)
	for _, name := range []string{"plain.gz", "packed.log"} {
		got := srcBatchLines(srcReadAll(t, dir+"/"+name))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: got %d lines, want %d identical lines", name, len(got), len(want))
		}
	}
}

// TestReadFilesEdges covers what a file's end and line endings may hold.
func TestReadFilesEdges(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    []string
	}{
		{"no trailing newline", "a\nb\nlast", []string{"a", "b", "last"}},
		{"trailing newline", "a\nb\n", []string{"a", "b"}},
		{"crlf", "a\r\nb\r\nc", []string{"a", "b", "c"}},
		{"empty lines kept", "a\n\nb\n", []string{"a", "", "b"}},
		{"empty file", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			srcMust(t, os.WriteFile(dir+"/f", []byte(tc.content), 0o644))
			srcWriteGzip(t, dir+"/f.gz", tc.content)
			for _, p := range []string{dir + "/f", dir + "/f.gz"} {
				got := srcBatchLines(srcReadAll(t, p))
				if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
					t.Fatalf("%s: got %q, want %q", p, got, tc.want)
				}
			}
		})
	}
}

// TestReadFilesOrderAndPositions reads files in the order given, with
// positions that end each plain file's batches at its size.
func TestReadFilesOrderAndPositions(t *testing.T) {
	dir := t.TempDir()
	srcWriteLines(t, dir+"/b", 0, 3)
	srcWriteLines(t, dir+"/a", 3, 5)
	batches := srcReadAll(t, dir+"/b", dir+"/a")
	if got := srcBatchLines(batches); len(got) != 5 || got[0] != srcLine(0) || got[4] != srcLine(4) {
		t.Fatalf("lines out of order: %q", got)
	}
	last := batches[len(batches)-1]
	if last.Source != dir+"/a" || last.Pos.Path != dir+"/a" || last.Pos.Offset != 2*srcLineLen {
		t.Fatalf("last batch source %q pos %+v, want %s at offset %d", last.Source, last.Pos, dir+"/a", 2*srcLineLen)
	}
}

// TestReadFilesDropsOverlongLine checks a line longer than maxLineBytes is
// dropped and counted in Gap, and the lines around it are kept.
func TestReadFilesDropsOverlongLine(t *testing.T) {
	long := strings.Repeat("x", 3*maxLineBytes)
	path := t.TempDir() + "/f"
	srcMust(t, os.WriteFile(path, []byte("before\n"+long+"\nafter\n"), 0o644))
	batches := srcReadAll(t, path)
	var gap int64
	for _, b := range batches {
		gap += b.Gap
	}
	got := srcBatchLines(batches)
	if fmt.Sprint(got) != "[before after]" || gap != int64(len(long)+1) {
		t.Fatalf("got %q gap %d, want [before after] gap %d", got, gap, len(long)+1)
	}
}

// TestReadFilesCancel checks ReadFiles stops when ctx is done.
func TestReadFilesCancel(t *testing.T) {
	path := t.TempDir() + "/f"
	srcWriteLines(t, path, 0, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ReadFiles(ctx, []string{path}, make(chan Batch)) }()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("ReadFiles returned nil though cancelled before its first send")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFiles did not return after cancel")
	}
}

// BenchmarkReadFiles replays a ~50 MB file of 200-byte lines.
func BenchmarkReadFiles(b *testing.B) {
	path := b.TempDir() + "/big.log"
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	line := []byte(strings.Repeat("a", 199) + "\n")
	const lines = 250_000
	for range lines {
		if _, err := f.Write(line); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	b.ReportAllocs()
	b.SetBytes(lines * 200)
	b.ResetTimer()
	for range b.N {
		benchReadOnce(b, path, lines)
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func benchReadOnce(b *testing.B, path string, want int) {
	out := make(chan Batch, 4)
	done := make(chan error, 1)
	go func() { done <- ReadFiles(context.Background(), []string{path}, out) }()
	n := 0
	for {
		select {
		case batch := <-out:
			n += len(batch.Lines)
		case err := <-done:
			for len(out) > 0 {
				n += len((<-out).Lines)
			}
			if err != nil || n != want {
				b.Fatalf("read %d lines, err %v", n, err)
			}
			return
		}
	}
}
