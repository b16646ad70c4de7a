package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/gen"
)

// process is a running `sentinel run`.
type process struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

func startSentinel(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary, args...)}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

func (p *process) kill9(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("sentinel exited with %v after SIGTERM; stderr:\n%s", err, p.stderr.String())
	}
}

// writeTraffic generates a seed's traffic and appends a final line ten
// minutes after the last, so that a live run closes every window of the
// real traffic, as replay does at the end of its input.
func writeTraffic(t *testing.T, seed int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if _, err := gen.Generate(gen.Options{Seed: seed, Tokens: 150, Duration: 4 * 24 * time.Hour, Attacks: true}, bw); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	last := bytes.LastIndexByte(buf.Bytes()[:buf.Len()-1], '\n')
	var tail struct{ TS time.Time }
	if err := jsonUnmarshalTS(buf.Bytes()[last+1:], &tail.TS); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&buf, `{"ts":%q,"ip":"192.0.2.250","method":"GET","path":"/health","status":200,"bytes":2,"messages":0,"ua":"clock"}`+"\n",
		tail.TS.Add(10*time.Minute).Format(time.RFC3339))
	return buf.Bytes()
}

func alertIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range parseAlerts(t, string(data)) {
		ids = append(ids, a.ID)
	}
	return ids
}

func containsAll(have, want []string) bool {
	set := make(map[string]bool, len(have))
	for _, id := range have {
		set[id] = true
	}
	for _, id := range want {
		if !set[id] {
			return false
		}
	}
	return true
}

// TestKill9AndRestartGiveTheSameAlerts kills sentinel twice: once before
// its first checkpoint (every alert it raised is raised again on restart
// and must be recognised), once after a checkpoint with lines written
// while it is down. The alert file must end up with exactly the alerts
// of an uninterrupted replay, each once.
func TestKill9AndRestartGiveTheSameAlerts(t *testing.T) {
	dir := t.TempDir()
	data := writeTraffic(t, 5)
	whole := filepath.Join(dir, "whole.log")
	os.WriteFile(whole, data, 0o644)
	out, stderr, code := sentinel(t, "", "replay", whole)
	if code != 0 {
		t.Fatalf("replay failed: %s", stderr)
	}
	var want []string
	for _, a := range parseAlerts(t, out) {
		want = append(want, a.ID)
	}
	if len(want) < 4 {
		t.Fatalf("replay raised %d alerts; the test needs several", len(want))
	}

	cut := bytes.IndexByte(data[len(data)*2/3:], '\n') + len(data)*2/3 + 1
	live := filepath.Join(dir, "live.log")
	os.WriteFile(live, data[:cut], 0o644)
	alerts := filepath.Join(dir, "alerts.jsonl")
	stateDir := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "sentinel.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
admin:
  listen: 127.0.0.1:0 # a free port: tests may run beside a real sentinel
checkpoint_interval: 1h
sources:
  - path: %s
alerts:
  sinks:
    - type: file
      path: %s
`, stateDir, live, alerts)), 0o600)

	// First crash: no checkpoint has been written (the interval is an
	// hour), so the restart reads everything again.
	p := startSentinel(t, "run", "--config", cfg)
	eventually(t, 90*time.Second, "a first alert", func() bool { return len(alertIDs(t, alerts)) > 0 })
	p.kill9(t)
	if _, err := os.Stat(filepath.Join(stateDir, "checkpoint")); err == nil {
		t.Fatal("a checkpoint exists before the first crash; the test would not exercise a full re-read")
	}

	// Second run: a clean stop writes a checkpoint covering the first part.
	p = startSentinel(t, "run", "--config", cfg)
	firstPart := alertsBefore(t, dir, data[:cut])
	eventually(t, 90*time.Second, "the first part's alerts", func() bool { return containsAll(alertIDs(t, alerts), firstPart) })
	p.stop(t)

	// Third run is killed after restoring that checkpoint, mid-way through
	// lines written while sentinel was down.
	f, _ := os.OpenFile(live, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(data[cut:])
	f.Close()
	p = startSentinel(t, "run", "--config", cfg)
	before := len(alertIDs(t, alerts))
	eventually(t, 90*time.Second, "an alert from the new lines", func() bool { return len(alertIDs(t, alerts)) > before })
	p.kill9(t)

	p = startSentinel(t, "run", "--config", cfg)
	eventually(t, 90*time.Second, "every alert of the replay", func() bool { return containsAll(alertIDs(t, alerts), want) })
	p.stop(t)

	got := alertIDs(t, alerts)
	counts := make(map[string]int)
	for _, id := range got {
		counts[id]++
		if counts[id] == 2 {
			t.Errorf("alert %s written twice", id)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("%d distinct alerts written, replay raised %d", len(counts), len(want))
	}
}

// alertsBefore returns the ids replay raises on data, minus those of its
// last windows, which a live run closes only when later lines arrive.
func alertsBefore(t *testing.T, dir string, data []byte) []string {
	t.Helper()
	path := filepath.Join(dir, "part.log")
	os.WriteFile(path, data, 0o644)
	out, stderr, code := sentinel(t, "", "replay", path)
	if code != 0 {
		t.Fatalf("replay failed: %s", stderr)
	}
	alerts := parseAlerts(t, out)
	last := bytes.LastIndexByte(data[:len(data)-1], '\n')
	var end time.Time
	if err := jsonUnmarshalTS(data[last+1:], &end); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range alerts {
		at, _ := time.Parse(time.RFC3339Nano, a.At)
		if at.Before(end.Add(-2 * time.Minute)) {
			ids = append(ids, a.ID)
		}
	}
	return ids
}
