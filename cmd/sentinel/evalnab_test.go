package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvalNabSaysWhatItNeeds(t *testing.T) {
	_, stderr, code := sentinel(t, "", "eval", "nab", "--out", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "needs --data and --out") {
		t.Fatalf("exit %d, stderr %q: want a usage error naming the flags", code, stderr)
	}
	_, stderr, code = sentinel(t, "", "eval", "nab", "--data", t.TempDir(), "--out", t.TempDir(), "--detectors", "nope")
	if code != 2 || !strings.Contains(stderr, `unknown detector "nope" (known: sentinel_ewma, sentinel_likelihood, windowed_gaussian)`) {
		t.Fatalf("exit %d, stderr %q: want a usage error listing the detectors", code, stderr)
	}
}

// A one-file corpus runs end to end: a results file per series and the
// three scores printed.
func TestEvalNabWritesResultsAndScores(t *testing.T) {
	data := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(data, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for m := range 40 {
		v := "1"
		if m%2 == 1 {
			v = "2"
		}
		if m == 30 {
			v = "50"
		}
		fmt.Fprintf(&b, "2014-01-01 00:%02d:00,%s\n", m, v)
	}
	write("data/cat/a.csv", b.String())
	write("labels/combined_windows.json", `{"cat/a.csv": [["2014-01-01 00:30:00.000000", "2014-01-01 00:33:00.000000"]]}`)
	out := t.TempDir()
	stdout, stderr, code := sentinel(t, "", "eval", "nab", "--data", data, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	res, err := os.ReadFile(filepath.Join(out, "windowed_gaussian", "cat", "windowed_gaussian_a.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(res), "\n"); lines != 41 {
		t.Errorf("results file has %d lines, want a header and 40 rows", lines)
	}
	// The spike opens the window, so every profile scores 100.
	if !strings.Contains(stdout, "windowed_gaussian") || strings.Count(stdout, "100.0") != 3 {
		t.Errorf("table:\n%s\nwant windowed_gaussian scoring 100.0 under each profile", stdout)
	}
}
