package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// TestTrainThenScorePlantedWindow trains a model from generated history
// with `sentinel train`, plants a minute that is ordinary for its token
// in every way but its client, and checks that `sentinel replay` with the
// model raises an iforest alert naming that feature.
func TestTrainThenScorePlantedWindow(t *testing.T) {
	dir := t.TempDir()
	hist := history(t, dir, "5", "60", "3")
	model := filepath.Join(dir, "m.model")
	// A generous alert rate: the point is the planted window, not the
	// tail of ordinary ones.
	_, stderr, code := sentinel(t, "", "train", "--out", model, "--alert-rate", "0.001", hist)
	if code != 0 || !strings.Contains(stderr, "trained on") {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}

	lines := readLines(t, hist)
	raw, minute, planted := plantNewClient(t, lines, "python-requests/2.31.0")
	token := ingest.Fingerprint(raw)
	input := filepath.Join(dir, "input.log")
	if err := os.WriteFile(input, []byte(strings.Join(append(lines, planted...), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sentinel.yaml")
	conf := fmt.Sprintf("state_dir: %s\ndetect:\n  iforest:\n    model: %s\n    retrain: false\n", dir, model)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := sentinel(t, "", "replay", "--config", cfg, input)
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	var found bool
	for _, a := range parseIsolated(t, out) {
		// The generous alert rate lets ordinary windows through too: look
		// at the planted one.
		if a.Key != token || a.Detector != "iforest" || !a.WindowStart.Equal(minute) {
			continue
		}
		found = true
		if len(a.IsolatedBy) == 0 || a.IsolatedBy[0].Feature != "new_client_share" || a.Feature != "isolation_score" {
			t.Errorf("alert on %q, isolated by %+v; want isolation_score, by new_client_share first", a.Feature, a.IsolatedBy)
		}
		if !strings.Contains(a.Summary, "new client share 1") {
			t.Errorf("summary does not say what stood out: %s", a.Summary)
		}
	}
	if !found {
		t.Fatalf("no iforest alert for the planted window of %s at %v; alerts:\n%s", token, minute, out)
	}
}

// history generates ordinary traffic of a seed into dir and returns the
// file.
func history(t *testing.T, dir, seed, tokens, days string) string {
	t.Helper()
	hist := filepath.Join(dir, "history.log")
	if _, stderr, code := sentinel(t, "", "generate", "--seed", seed, "--tokens", tokens, "--days", days,
		"--attacks=false", "--out", hist); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	return hist
}

type isolatedAlert struct {
	Key, Detector, Feature, Summary string
	WindowStart                     time.Time `json:"window_start"`
	IsolatedBy                      []struct {
		Feature        string
		Value, Typical float64
	} `json:"isolated_by"`
}

func parseIsolated(t *testing.T, out string) []isolatedAlert {
	t.Helper()
	var as []isolatedAlert
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var a isolatedAlert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alert is not JSON: %v: %s", err, l)
		}
		as = append(as, a)
	}
	return as
}

// plantNewClient finds the last minute of the history in which one token
// made at least five requests and repeats that minute ten minutes after
// the end of the history, from the token's own addresses but with the
// client ua. It returns the token's raw value, the planted minute and the
// planted lines.
func plantNewClient(t *testing.T, lines []string, ua string) (string, time.Time, []string) {
	t.Helper()
	type rec map[string]any
	parse := func(l string) rec {
		var r rec
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("history line is not JSON: %v", err)
		}
		return r
	}
	last := parse(lines[len(lines)-1])
	end := mustTime(t, last["ts"].(string))
	byMinute := map[string][]rec{}
	for i := len(lines) - 1; i >= 0 && len(byMinute) < 5000; i-- {
		r := parse(lines[i])
		ts := mustTime(t, r["ts"].(string))
		if end.Sub(ts) > 6*time.Hour {
			break
		}
		key := fmt.Sprintf("%v|%s", r["token"], ts.Truncate(time.Minute).Format(time.RFC3339))
		byMinute[key] = append(byMinute[key], r)
	}
	var best []rec
	for _, rs := range byMinute {
		if len(rs) >= 5 && (best == nil || len(rs) < len(best)) {
			best = rs
		}
	}
	if best == nil {
		t.Fatal("no token made five requests in a minute in the last six hours of history")
	}
	first := mustTime(t, best[len(best)-1]["ts"].(string)).Truncate(time.Minute)
	shift := end.Truncate(time.Minute).Add(10 * time.Minute).Sub(first)
	var out []string
	for i := len(best) - 1; i >= 0; i-- {
		r := best[i]
		r["ts"] = mustTime(t, r["ts"].(string)).Add(shift).Format(time.RFC3339Nano)
		r["ua"] = ua
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return best[0]["token"].(string), first.Add(shift), out
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parsing time %q: %v", s, err)
	}
	return ts
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestTrainWritesToANewStateDirAndRefusesBadFlags covers a first train
// before any run, and flag values that would give a useless model.
func TestTrainWritesToANewStateDirAndRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	hist := history(t, dir, "6", "40", "2")
	stateDir := filepath.Join(dir, "not", "yet", "there")
	cfg := filepath.Join(dir, "sentinel.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: "+stateDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := sentinel(t, "", "train", "--config", cfg, hist); code != 0 {
		t.Fatalf("train into a state directory that does not exist yet: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "iforest.model")); err != nil {
		t.Fatalf("no model in the state directory: %v", err)
	}
	// check answers whether run would start, so it reads the model too.
	garbage := filepath.Join(dir, "bad.model")
	if err := os.WriteFile(garbage, []byte("hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("detect:\n  iforest:\n    model: "+garbage+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := sentinel(t, "", "check", "--config", cfg); code == 0 ||
		!strings.Contains(stderr, "detect.iforest.model") || !strings.Contains(stderr, "not an isolation forest model") {
		t.Errorf("check with a garbage model: exit %d: %s", code, stderr)
	}
	for _, bad := range [][]string{
		{"--windows", "0"}, {"--trees", "0"}, {"--sample-size", "1"}, {"--alert-rate", "2"},
	} {
		_, stderr, code := sentinel(t, "", append(append([]string{"train"}, bad...), hist)...)
		if code != 2 || !strings.Contains(stderr, bad[0]) || !strings.Contains(stderr, "allowed") {
			t.Errorf("train %v: exit %d: %s; want a usage error naming the flag and what is allowed", bad, code, stderr)
		}
	}
}
