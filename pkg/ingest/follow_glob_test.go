package ingest

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sentinel-project/sentinel/internal/testlog"
)

// posRun is a Follow whose positions are kept by Pos.Path, as the engine
// keeps them for its checkpoint, batches without lines included.
type posRun struct {
	*followRun
	pos   map[string]Position
	lines []int
	// posAt is, by path, how many lines had arrived when a position for
	// the path first did.
	posAt map[string]int
}

func startPosRun(t *testing.T, pattern string, start map[string]Position) *posRun {
	t.Helper()
	opts := FollowOptions{Paths: []string{pattern}, Start: start, PollInterval: 5 * time.Millisecond}
	return &posRun{followRun: srcStartFollow(t, opts), pos: maps.Clone(start)}
}

// recvUntil receives batches until done reports true.
func (r *posRun) recvUntil(t *testing.T, done func() bool) {
	t.Helper()
	if r.pos == nil {
		r.pos = map[string]Position{}
	}
	if r.posAt == nil {
		r.posAt = map[string]int{}
	}
	deadline := time.After(5 * time.Second)
	for !done() {
		b := r.next(t, deadline)
		for _, l := range b.Lines {
			r.lines = append(r.lines, srcLineNum(t, l))
		}
		if b.Pos.Path == "" {
			continue
		}
		if _, ok := r.posAt[b.Pos.Path]; !ok {
			r.posAt[b.Pos.Path] = len(r.lines) - len(b.Lines)
		}
		r.pos[b.Pos.Path] = b.Pos
	}
}

func (r *posRun) has(n int) func() bool {
	return func() bool { return slices.Contains(r.lines, n) }
}

// barrier writes line n to path and waits for it, then does so again with
// n+1. The second line is read by a pass that began after the first was
// received, so every followed file has been read to its end at least
// once by then: what was not received is not coming.
func (r *posRun) barrier(t *testing.T, path string, n int) {
	t.Helper()
	for _, i := range []int{n, n + 1} {
		srcWriteLines(t, path, i, i+1)
		r.recvUntil(t, r.has(i))
	}
}

// srcCheckSet checks that got holds each line of the ranges exactly once,
// in any order, and nothing else.
func srcCheckSet(t *testing.T, got []int, ranges ...[2]int) {
	t.Helper()
	var want []int
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i++ {
			want = append(want, i)
		}
	}
	got = slices.Sorted(slices.Values(got))
	if !slices.Equal(got, want) {
		t.Fatalf("got lines %v, want %v", got, want)
	}
}

// TestFollowGlobRotatedWhileRunningThenRestart renames the live file, as
// Caddy does, to a name the pattern also matches while Follow runs, then
// restarts Follow from the positions its batches carried: the rotated
// file is not read again, and lines its writer appended while Follow was
// down are read once.
func TestFollowGlobRotatedWhileRunningThenRestart(t *testing.T) {
	dir := t.TempDir()
	live, rotated, pattern := dir+"/access.log", dir+"/access-2026-03-01.log", dir+"/access*.log"
	srcWriteLines(t, live, 0, 100)
	run := startPosRun(t, pattern, nil)
	run.recvUntil(t, run.has(99))
	srcMust(t, os.Rename(live, rotated))
	srcWriteLines(t, live, 100, 150)
	run.recvUntil(t, run.has(149))
	run.stop(t)
	srcCheckSet(t, run.lines, [2]int{0, 150})
	if _, ok := run.pos[rotated]; !ok {
		t.Fatalf("no position reported under the rotated name; positions: %v", slices.Sorted(maps.Keys(run.pos)))
	}
	// Reported before the new file's first line, which replaces the old
	// name's position: a checkpoint taken in between would otherwise hold
	// no position for the rotated file.
	if first := slices.Index(run.lines, 100); run.posAt[rotated] > first {
		t.Errorf("rotated file's position reported after %d lines, the new file's first line was line %d",
			run.posAt[rotated], first)
	}

	srcWriteLines(t, live, 150, 160)
	srcWriteLines(t, rotated, 9000, 9005) // a writer that had not reopened yet
	run = startPosRun(t, pattern, run.pos)
	defer run.stop(t)
	run.barrier(t, live, 160)
	srcCheckSet(t, run.lines, [2]int{150, 162}, [2]int{9000, 9005})
}

// TestFollowGlobRotatedWhileDownThenRestart renames the live file while
// Follow is down: the next run must resume the rotated file, found under
// its new name, from the position saved under the old one, and report
// that position under the new name, so a third run does not read it
// again either.
func TestFollowGlobRotatedWhileDownThenRestart(t *testing.T) {
	dir := t.TempDir()
	live, rotated, pattern := dir+"/access.log", dir+"/access-2026-03-01.log", dir+"/access*.log"
	srcWriteLines(t, live, 0, 100)
	run := startPosRun(t, pattern, nil)
	run.recvUntil(t, run.has(99))
	run.stop(t)

	srcWriteLines(t, live, 100, 110)
	srcMust(t, os.Rename(live, rotated))
	srcWriteLines(t, live, 200, 250)
	run = startPosRun(t, pattern, run.pos)
	run.barrier(t, live, 250)
	run.stop(t)
	srcCheckSet(t, run.lines, [2]int{100, 110}, [2]int{200, 252})

	srcWriteLines(t, rotated, 110, 115)
	srcWriteLines(t, live, 252, 260)
	run = startPosRun(t, pattern, run.pos)
	defer run.stop(t)
	run.barrier(t, live, 260)
	srcCheckSet(t, run.lines, [2]int{110, 115}, [2]int{252, 262})
}

// TestFollowGlobRenamedAwayThenRestart renames the live file to a name
// the pattern matches and creates no new one: once the old name's file
// is closed as idle, its position must still reach the checkpoint under
// the new name.
func TestFollowGlobRenamedAwayThenRestart(t *testing.T) {
	defer func(d time.Duration) { followIdleClose = d }(followIdleClose)
	followIdleClose = 20 * time.Millisecond
	dir := t.TempDir()
	live, rotated, pattern := dir+"/access.log", dir+"/access-1.log", dir+"/access*.log"
	srcWriteLines(t, live, 0, 100)
	run := startPosRun(t, pattern, nil)
	run.recvUntil(t, run.has(99))
	srcMust(t, os.Rename(live, rotated))
	run.recvUntil(t, func() bool { _, ok := run.pos[rotated]; return ok })
	run.stop(t)

	srcWriteLines(t, rotated, 100, 105)
	run = startPosRun(t, pattern, run.pos)
	defer run.stop(t)
	run.barrier(t, rotated, 105)
	srcCheckSet(t, run.lines, [2]int{100, 107})
}

// TestFollowUnopenableMatchLogsOnce follows *.log in a folder holding a
// folder named x.log: it is reported once, not once per poll, and read
// once it is replaced by a file.
func TestFollowUnopenableMatchLogsOnce(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/x.log"
	srcMust(t, os.Mkdir(bad, 0o755))
	logs := &testlog.Buffer{}
	opts := FollowOptions{Paths: []string{dir + "/*.log"}, PollInterval: time.Millisecond, Logger: zerolog.New(logs)}
	run := &posRun{followRun: srcStartFollow(t, opts)}
	defer run.stop(t)
	// Each line is read by a later pass than the one before it.
	for i := range 20 {
		srcWriteLines(t, dir+"/a.log", i, i+1)
		run.recvUntil(t, run.has(i))
	}
	if n := logs.Count(`x.log"`); n != 1 {
		t.Fatalf("%d log lines about x.log over 20 passes, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"warn"`) {
		t.Errorf("the unreadable match was not logged as a warning:\n%s", logs.String())
	}
	srcMust(t, os.Remove(bad))
	srcWriteLines(t, bad, 500, 510)
	run.recvUntil(t, run.has(509))
	srcCheckSet(t, run.lines, [2]int{0, 20}, [2]int{500, 510})
}
