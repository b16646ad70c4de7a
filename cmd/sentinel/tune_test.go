package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTuneConfigErrorNamesField checks that a mistake in the
// configuration stops tune with the field named, and that the budget is
// required.
func TestTuneConfigErrorNamesField(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(conf, []byte("detect:\n  min_messages: -5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := sentinel(t, "", "tune", "--budget", "1", "--config", conf, "../../testdata/sample/access.log.gz")
	if code != 1 || !strings.Contains(stderr, "detect.min_messages") {
		t.Errorf("exit %d, stderr %q: want 1 and the field named", code, stderr)
	}
	_, stderr, code = sentinel(t, "", "tune", "../../testdata/sample/access.log.gz")
	if code != 2 || !strings.Contains(stderr, "--budget") {
		t.Errorf("without a budget: exit %d, stderr %q; want 2 and the flag named", code, stderr)
	}
}

// TestTuneReadsStdinOnce checks that a history on standard input, which
// every candidate replays, gives what the same file gives.
func TestTuneReadsStdinOnce(t *testing.T) {
	const sample = "../../testdata/sample/access.log.gz"
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"tune", "--budget", "2", "--scales", "2", "--json"}
	fromFile, stderr, code := sentinel(t, "", append(args, sample)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fromStdin, stderr, code := sentinel(t, string(data), append(args, "-")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "2/2 replayed") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
	var res struct {
		Candidates []struct {
			AlertHours int `json:"alert_hours"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal([]byte(fromStdin), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Candidates) != 2 || res.Candidates[0].AlertHours == 0 {
		t.Fatalf("candidates %+v: want two, the configuration's with alerts", res.Candidates)
	}
	if fromStdin != fromFile {
		t.Errorf("standard input gave\n%s\nthe file gave\n%s", fromStdin, fromFile)
	}
}

// TestTuneRefusesScalesOutOfRange checks that a scale far from the
// configuration is a usage error that says what is allowed.
func TestTuneRefusesScalesOutOfRange(t *testing.T) {
	for _, s := range []string{"1e-9", "0.001", "50"} {
		_, stderr, code := sentinel(t, "", "tune", "--budget", "1", "--scales", "1,"+s, "../../testdata/sample/access.log.gz")
		if code != 2 || !strings.Contains(stderr, "0.1 to 10") {
			t.Errorf("--scales 1,%s: exit %d, stderr %q; want 2 and the range allowed", s, code, stderr)
		}
	}
}

// TestTuneRefusesBadBudget checks that a budget that is not a finite
// number of 0 or more is a usage error that says what is allowed.
func TestTuneRefusesBadBudget(t *testing.T) {
	for _, b := range []string{"NaN", "Inf", "-Inf", "-1", "-0.5"} {
		_, stderr, code := sentinel(t, "", "tune", "--budget", b, "../../testdata/sample/access.log.gz")
		if code != 2 || !strings.Contains(stderr, "allowed is a finite number, 0 or more") {
			t.Errorf("--budget %s: exit %d, stderr %q; want 2 and what is allowed", b, code, stderr)
		}
	}
}
