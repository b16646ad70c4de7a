package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// writeLog appends n alerts to a new log in a temporary directory and
// returns the directory and the chain each alert was given.
func writeLog(t *testing.T, n int, opts LogOptions) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var chains []string
	for i := range n {
		a := testAlert(i)
		ev := &Evidence{Features: []Feature{NewFeature("messages", 5000, 40, 400)}, ConfigSHA256: "c0ffee",
			Lines: []string{fmt.Sprintf(`{"token":"abcdef012345","n":%d}`, i)}}
		if err := l.Append(a, ev); err != nil {
			t.Fatal(err)
		}
		if a.Chain == "" || a.Chain != l.Head().Hash {
			t.Fatalf("alert %d: chain %q, head %q", i, a.Chain, l.Head().Hash)
		}
		chains = append(chains, a.Chain)
	}
	return dir, chains
}

func testAlert(i int) *alert.Alert {
	at := time.Date(2026, 3, 1, 10, i, 0, 0, time.UTC)
	return &alert.Alert{ID: alert.NewID("token", "abcdef012345", "ewma", "messages", at), At: at, Entity: "token",
		Key: "abcdef012345", Detector: "ewma", Feature: "messages", Observed: 5000, Expected: 40,
		WindowStart: at, WindowEnd: at.Add(time.Minute), Summary: "token pulled 5000 messages"}
}

func logLines(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(data), "\n")[:strings.Count(string(data), "\n")]
}

func rewrite(t *testing.T, dir string, lines []string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, LogFile), []byte(strings.Join(lines, "")), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyIntact(t *testing.T) {
	dir, chains := writeLog(t, 5, LogOptions{})
	for _, head := range []string{"", chains[2], chains[4]} {
		s, err := Verify(VerifyOptions{Dir: dir, Head: head})
		if err != nil {
			t.Fatalf("head %q: %v", head, err)
		}
		if s.Entries != 5 || s.Last != 5 || s.Head != chains[4] {
			t.Errorf("summary %+v, want 5 entries ending at %s", s, chains[4])
		}
	}
}

// TestVerifyTamper damages a log of five entries in each way and checks
// Verify names the kind and the first bad entry.
func TestVerifyTamper(t *testing.T) {
	cases := []struct {
		name     string
		damage   func(t *testing.T, dir string, chains []string)
		head     func(chains []string) string
		kind     string
		seq      uint64
		wantLine int
	}{
		{name: "edited byte of an alert", kind: Edited, seq: 3, wantLine: 3,
			damage: func(t *testing.T, dir string, _ []string) {
				lines := logLines(t, dir)
				lines[2] = strings.Replace(lines[2], `"observed":5000`, `"observed":5001`, 1)
				rewrite(t, dir, lines)
			}},
		{name: "edited evidence with its hash recomputed", kind: Edited, seq: 4, wantLine: 4,
			damage: func(t *testing.T, dir string, _ []string) {
				lines := logLines(t, dir)
				e, _ := parseLine([]byte(strings.TrimSuffix(lines[2], "\n")))
				body, _, _ := split([]byte(strings.TrimSuffix(lines[2], "\n")))
				body = bytes.Replace(body, []byte(`"n\":2`), []byte(`"n\":9`), 1)
				lines[2] = string(body[:len(body)-1]) + `,"hash":"` + chainHash(e.Prev, body) + "\"}\n"
				rewrite(t, dir, lines)
			}},
		{name: "deleted middle line", kind: Missing, seq: 4, wantLine: 3,
			damage: func(t *testing.T, dir string, _ []string) {
				lines := logLines(t, dir)
				rewrite(t, dir, append(lines[:2:2], lines[3:]...))
			}},
		{name: "cut last entries", kind: Truncated, seq: 4,
			damage: func(t *testing.T, dir string, _ []string) {
				rewrite(t, dir, logLines(t, dir)[:3])
			}},
		{name: "cut and head rewritten, checked against an alert's chain", kind: Truncated, seq: 4,
			head: func(chains []string) string { return chains[4] },
			damage: func(t *testing.T, dir string, chains []string) {
				rewrite(t, dir, logLines(t, dir)[:3])
				h := fmt.Sprintf(`{"seq":3,"hash":%q,"first":1}`+"\n", chains[2])
				if err := os.WriteFile(filepath.Join(dir, HeadFile), []byte(h), 0o640); err != nil {
					t.Fatal(err)
				}
			}},
		// A crash during an append: the head file still names the entry
		// before.
		{name: "torn last line", kind: Torn, seq: 5, wantLine: 5,
			damage: func(t *testing.T, dir string, chains []string) {
				lines := logLines(t, dir)
				lines[4] = lines[4][:len(lines[4])/2]
				rewrite(t, dir, lines)
				h := fmt.Sprintf(`{"seq":4,"hash":%q,"first":1}`+"\n", chains[3])
				if err := os.WriteFile(filepath.Join(dir, HeadFile), []byte(h), 0o640); err != nil {
					t.Fatal(err)
				}
			}},
		// Bytes cut off an entry the head file names as written whole.
		{name: "last line cut short", kind: Truncated, seq: 5, wantLine: 5,
			damage: func(t *testing.T, dir string, _ []string) {
				lines := logLines(t, dir)
				lines[4] = lines[4][:len(lines[4])-20]
				rewrite(t, dir, lines)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, chains := writeLog(t, 5, LogOptions{})
			tc.damage(t, dir, chains)
			head := ""
			if tc.head != nil {
				head = tc.head(chains)
				// Without the alert's chain the consistent cut passes:
				// that is what the chain carried by alerts is for.
				if _, err := Verify(VerifyOptions{Dir: dir}); err != nil {
					t.Fatalf("without --head: %v", err)
				}
			}
			_, err := Verify(VerifyOptions{Dir: dir, Head: head})
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Verify: %v, want a Problem", err)
			}
			if p.Kind != tc.kind || p.Seq != tc.seq || p.Line != tc.wantLine {
				t.Errorf("got %s (kind %q seq %d line %d), want kind %q seq %d line %d", p, p.Kind, p.Seq, p.Line, tc.kind, tc.seq, tc.wantLine)
			}
		})
	}
}

// TestOpenCutsTornLine reopens a log whose last append was torn: it must
// open, go on from the last whole entry, and verify clean afterwards.
func TestOpenCutsTornLine(t *testing.T) {
	dir, chains := writeLog(t, 3, LogOptions{})
	lines := logLines(t, dir)
	rewrite(t, dir, append(lines, lines[2][:40]))
	l, err := Open(dir, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Recovered.TornBytes != 40 || l.Head().Hash != chains[2] || l.Head().Seq != 3 {
		t.Fatalf("recovered %+v head %+v", l.Recovered, l.Head())
	}
	if err := l.Append(testAlert(9), nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if s, err := Verify(VerifyOptions{Dir: dir, Head: chains[2]}); err != nil || s.Entries != 4 {
		t.Fatalf("after recovery: %v %+v", err, s)
	}
}

// TestRotation keeps the log within its segments: the chain runs across
// segment files, the oldest are removed, and verify accepts what is left
// but not the removal of a segment rotation kept.
func TestRotation(t *testing.T) {
	dir, chains := writeLog(t, 12, LogOptions{SegmentBytes: 2000, Segments: 3})
	segs, _ := Segments(dir)
	if len(segs) != 2 {
		t.Fatalf("%d older segments, want 2", len(segs))
	}
	s, err := Verify(VerifyOptions{Dir: dir, Head: chains[11]})
	if err != nil {
		t.Fatal(err)
	}
	if s.Last != 12 || s.First <= 1 || s.Files != 3 {
		t.Errorf("summary %+v", s)
	}
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	var p *Problem
	if _, err := Verify(VerifyOptions{Dir: dir}); !errors.As(err, &p) || p.Kind != Missing {
		t.Fatalf("after removing a kept segment: %v, want missing entries", err)
	}
	if _, err := Verify(VerifyOptions{File: filepath.Join(dir, LogFile)}); err != nil {
		t.Errorf("one segment alone: %v", err)
	}
}

func TestVerifyRefusesAMalformedHead(t *testing.T) {
	dir, _ := writeLog(t, 2, LogOptions{})
	_, err := Verify(VerifyOptions{Dir: dir, Head: "deadbeef"})
	var p *Problem
	if err == nil || errors.As(err, &p) || !strings.Contains(err.Error(), "is not a chain hash") {
		t.Errorf("Verify with --head deadbeef: %v; want a usage error, not a finding about the log", err)
	}
}
