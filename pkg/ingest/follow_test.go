package ingest

import (
	"github.com/sentinel-project/sentinel/internal/testlog"

	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// followRun is a Follow running in the background for a test.
type followRun struct {
	cancel  context.CancelFunc
	done    chan error
	out     chan Batch
	last    Batch        // the last batch received
	maxRecv atomic.Int64 // highest test line received, for other goroutines
}

func srcStartFollow(t *testing.T, opts FollowOptions) *followRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &followRun{cancel: cancel, done: make(chan error, 1), out: make(chan Batch)}
	go func() { r.done <- Follow(ctx, opts, r.out) }()
	return r
}

// stop cancels Follow and checks that it returns nil promptly.
func (r *followRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Follow returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after cancel")
	}
}

// next returns the next batch, failing the test at the deadline.
func (r *followRun) next(t *testing.T, deadline <-chan time.Time) Batch {
	t.Helper()
	select {
	case b := <-r.out:
		r.last = b
		return b
	case err := <-r.done:
		t.Fatalf("Follow returned early: %v", err)
	case <-deadline:
		t.Fatal("timed out waiting for lines")
	}
	return Batch{}
}

// collectLines receives batches until test line last arrives and returns
// the line numbers received, in order, and the sum of the batches' gaps.
func (r *followRun) collectLines(t *testing.T, last int, timeout time.Duration) ([]int, int64) {
	t.Helper()
	deadline := time.After(timeout)
	var got []int
	var gap int64
	for {
		b := r.next(t, deadline)
		gap += b.Gap
		for _, l := range b.Lines {
			got = append(got, srcLineNum(t, l))
		}
		if len(got) > 0 {
			r.maxRecv.Store(int64(got[len(got)-1]))
		}
		if len(got) > 0 && got[len(got)-1] >= last {
			return got, gap
		}
	}
}

// srcWriteLines appends test lines [from, to) to path.
func srcWriteLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(srcLine(i) + "\n")
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

// srcAppend appends s to path.
func srcAppend(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestFollowCopytruncateGap checks what a truncation costs when Follow has
// seen an incomplete line: with no copy beside the file the line's bytes
// are reported in Gap; with logrotate's copy the rest of the old file is
// read from the copy and nothing is lost.
func TestFollowCopytruncateGap(t *testing.T) {
	half := srcLine(3)[:40]
	cases := []struct {
		name     string
		withCopy bool
		want     []int
		wantGap  int64
	}{
		{"no copy", false, []int{0, 1, 2, 10}, int64(len(half))},
		{"copy", true, []int{0, 1, 2, 3, 4, 10}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/app.log"
			srcWriteLines(t, path, 0, 3)
			srcAppend(t, path, half)
			run := srcStartFollow(t, FollowOptions{Paths: []string{path}, PollInterval: 5 * time.Millisecond})
			defer run.stop(t)
			got, _ := run.collectLines(t, 2, 5*time.Second)
			// Follow has now read the half line too: it came in the same
			// write as line 2, before Follow started.
			if tc.withCopy {
				// As if the rest of line 3 and line 4 were written and
				// copied before Follow's next read: only the copy has them.
				data, err := os.ReadFile(path)
				srcMust(t, err)
				data = append(data, srcLine(3)[40:]+"\n"+srcLine(4)+"\n"...)
				srcMust(t, os.WriteFile(path+".1", data, 0o644))
			}
			srcMust(t, os.Truncate(path, 0))
			srcWriteLines(t, path, 10, 11)
			rest, gap := run.collectLines(t, 10, 5*time.Second)
			got = append(got, rest...)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || gap != tc.wantGap {
				t.Fatalf("got lines %v gap %d, want %v gap %d", got, gap, tc.want, tc.wantGap)
			}
		})
	}
}

// TestFollowAppendsWithPartialLines follows a file while lines are
// appended, every write ending with half of the next line: the half line
// is never delivered before its newline arrives, and each batch's Pos
// ends at its last complete line.
func TestFollowAppendsWithPartialLines(t *testing.T) {
	const n, cut = 200, 30
	path := t.TempDir() + "/app.log"
	srcWriteLines(t, path, 0, 5)
	srcAppend(t, path, srcLine(5)[:cut])
	run := srcStartFollow(t, FollowOptions{Paths: []string{path}, PollInterval: 5 * time.Millisecond})
	defer run.stop(t)
	deadline := time.After(5 * time.Second)
	var got []int
	for i := 5; i <= n; i++ {
		for len(got) < i {
			b := run.next(t, deadline)
			for _, l := range b.Lines {
				got = append(got, srcLineNum(t, l)) // a half line fails here
			}
			if want := int64(len(got)) * srcLineLen; b.Pos.Offset != want {
				t.Fatalf("batch ending at line %d has offset %d, want %d", len(got)-1, b.Pos.Offset, want)
			}
		}
		if i < n-1 {
			srcAppend(t, path, srcLine(i)[cut:]+"\n"+srcLine(i + 1)[:cut])
		} else if i == n-1 {
			srcAppend(t, path, srcLine(i)[cut:]+"\n")
		}
	}
	srcCheckSeq(t, got, 0, n)
	f, err := os.Open(path)
	srcMust(t, err)
	defer f.Close()
	id, err := IdentifyFile(f)
	srcMust(t, err)
	if run.last.Pos.ID != id || run.last.Pos.Path != path || run.last.Source != path {
		t.Fatalf("last position %+v, want path %s and ID %+v", run.last.Pos, path, id)
	}
}

// srcCheckSeq fails unless got is exactly from, from+1, ..., to-1.
func srcCheckSeq(t *testing.T, got []int, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d lines, want %d (lines %d..%d)", len(got), to-from, from, to-1)
	}
	for i, g := range got {
		if g != from+i {
			t.Fatalf("line %d is %d, want %d", i, g, from+i)
		}
	}
}

// srcFollowUntil runs Follow from start until test line last arrives, then
// stops it and returns the line numbers and the last batch.
func srcFollowUntil(t *testing.T, path string, start map[string]Position, last int) ([]int, Batch) {
	t.Helper()
	run := srcStartFollow(t, FollowOptions{Paths: []string{path}, Start: start, PollInterval: 5 * time.Millisecond})
	got, _ := run.collectLines(t, last, 5*time.Second)
	run.stop(t)
	return got, run.last
}

// TestFollowResume stops Follow, writes lines while it is down, possibly
// rotating the file, and starts it again from the saved position: the
// lines written during the downtime arrive exactly once.
func TestFollowResume(t *testing.T) {
	cases := []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{
		{"no rotation", func(*testing.T, string) {}},
		{"rename", func(t *testing.T, path string) {
			srcMust(t, os.Rename(path, path+".1"))
		}},
		{"copytruncate", func(t *testing.T, path string) {
			data, err := os.ReadFile(path)
			srcMust(t, err)
			srcMust(t, os.WriteFile(path+".1", data, 0o644))
			srcMust(t, os.Truncate(path, 0))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/app.log"
			srcWriteLines(t, path, 0, 50)
			got, last := srcFollowUntil(t, path, nil, 49)
			srcCheckSeq(t, got, 0, 50)

			srcWriteLines(t, path, 50, 80) // downtime, before the rotation
			tc.rotate(t, path)
			srcWriteLines(t, path, 80, 120) // downtime, after it
			got, _ = srcFollowUntil(t, path, map[string]Position{path: last.Pos}, 119)
			srcCheckSeq(t, got, 50, 120)
		})
	}
}

// TestFollowIgnoresPositionOfReplacedFile saves a position, replaces the
// file at the path by another one, and checks the position is not applied:
// the new file is read from its start.
func TestFollowIgnoresPositionOfReplacedFile(t *testing.T) {
	cases := []struct {
		name    string
		replace func(t *testing.T, path string)
	}{
		{"new file at the path", func(t *testing.T, path string) {
			srcMust(t, os.Remove(path))
			srcWriteLines(t, path, 100, 200)
		}},
		{"rewritten in place", func(t *testing.T, path string) {
			srcMust(t, os.Truncate(path, 0)) // same inode, other content
			srcWriteLines(t, path, 100, 200)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/app.log"
			srcWriteLines(t, path, 0, 50)
			_, last := srcFollowUntil(t, path, nil, 49)
			tc.replace(t, path) // longer than the saved offset
			got, _ := srcFollowUntil(t, path, map[string]Position{path: last.Pos}, 199)
			srcCheckSeq(t, got, 100, 200)
		})
	}
}

// TestFollowGlobFindsNewFile follows a pattern and creates a second
// matching file after Follow has started: it is read from its start.
func TestFollowGlobFindsNewFile(t *testing.T) {
	dir := t.TempDir()
	srcWriteLines(t, dir+"/a.log", 0, 10)
	run := srcStartFollow(t, FollowOptions{Paths: []string{dir + "/*.log"}, PollInterval: 5 * time.Millisecond})
	defer run.stop(t)
	got, _ := run.collectLines(t, 9, 5*time.Second)
	srcCheckSeq(t, got, 0, 10)

	srcWriteLines(t, dir+"/b.log", 100, 150)
	srcWriteLines(t, dir+"/b.txt", 500, 510) // not matched
	got, _ = run.collectLines(t, 149, 5*time.Second)
	srcCheckSeq(t, got, 100, 150)
	if run.last.Source != dir+"/b.log" {
		t.Fatalf("source %q, want %q", run.last.Source, dir+"/b.log")
	}
}

// TestFollowMissingFileLogsOnce follows a path that does not exist yet:
// Follow logs once that it waits, not once per poll, and reads the file
// when it appears.
func TestFollowMissingFileLogsOnce(t *testing.T) {
	path := t.TempDir() + "/later.log"
	logs := &testlog.Buffer{}
	run := srcStartFollow(t, FollowOptions{Paths: []string{path}, PollInterval: time.Millisecond, Logger: zerolog.New(logs)})
	defer run.stop(t)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "waiting") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
	// Let many polls pass: each would log again if logging were per poll.
	for range 50 {
		time.Sleep(time.Millisecond)
	}
	srcWriteLines(t, path, 0, 3)
	got, _ := run.collectLines(t, 2, 5*time.Second)
	srcCheckSeq(t, got, 0, 3)
	if n := strings.Count(logs.String(), "waiting"); n != 1 {
		t.Fatalf("%d 'waiting' log lines, want 1:\n%s", n, logs.String())
	}
}

// TestFollowNoGoroutineLeak checks Follow leaves nothing running after
// ctx is cancelled, including mid-send and with a rotated file held.
func TestFollowNoGoroutineLeak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	path := t.TempDir() + "/app.log"
	srcWriteLines(t, path, 0, 10)
	run := srcStartFollow(t, FollowOptions{Paths: []string{path}, PollInterval: time.Millisecond})
	run.collectLines(t, 0, 5*time.Second) // Follow is now blocked sending
	srcMust(t, os.Rename(path, path+".1"))
	srcWriteLines(t, path, 10, 20)
	run.stop(t)
	goleak.VerifyNone(t, ignore)
}

// TestFollowRejectsBadPattern checks an invalid pattern is an error.
func TestFollowRejectsBadPattern(t *testing.T) {
	err := Follow(context.Background(), FollowOptions{Paths: []string{"/tmp/[x"}}, make(chan Batch))
	if err == nil {
		t.Fatal("Follow accepted the pattern /tmp/[x")
	}
}

// TestFollowGlobMatchingRotatedNames follows access*.log while the live
// file is rotated by rename to a name the pattern also matches, as
// Caddy's lumberjack does (access-<time>.log). The rotated file must be
// neither read again from its start nor have its last lines lost.
func TestFollowGlobMatchingRotatedNames(t *testing.T) {
	dir := t.TempDir()
	live := dir + "/access.log"
	srcWriteLines(t, live, 0, 100)
	run := srcStartFollow(t, FollowOptions{Paths: []string{dir + "/access*.log"}, PollInterval: 5 * time.Millisecond})
	defer run.stop(t)
	got, _ := run.collectLines(t, 99, 5*time.Second)
	srcCheckSeq(t, got, 0, 100)

	for gen := 1; gen <= 3; gen++ {
		// Lines written just before the rename belong to the old file.
		srcWriteLines(t, live, gen*1000, gen*1000+50)
		if err := os.Rename(live, fmt.Sprintf("%s/access-%d.log", dir, gen)); err != nil {
			t.Fatal(err)
		}
		srcWriteLines(t, live, gen*1000+50, gen*1000+100)
		got, _ = run.collectLines(t, gen*1000+99, 5*time.Second)
		srcCheckSeq(t, got, gen*1000, gen*1000+100)
	}
	// A last write proves nothing else arrived in the meantime.
	srcWriteLines(t, live, 9000, 9010)
	got, _ = run.collectLines(t, 9009, 5*time.Second)
	srcCheckSeq(t, got, 9000, 9010)
}
