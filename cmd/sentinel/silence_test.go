package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSilenceFromTheCommandLine sets a silence on a running daemon with
// `sentinel silence add`, then feeds two tokens the same burst: only the
// other token's alert is delivered, the silenced one is counted, and
// after a restart `sentinel silence list` still shows the silence.
func TestSilenceFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	os.WriteFile(logPath, nil, 0o644)
	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := filepath.Join(dir, "sentinel.yaml")
	writeConfig(t, cfg, fmt.Sprintf("state_dir: %s\nsources:\n  - path: %s\nlog:\n  format: json\nadmin:\n  listen: 127.0.0.1:0\nalerts:\n  sinks:\n    - type: file\n      path: %s\n",
		filepath.Join(dir, "state"), logPath, alerts))

	first := filepath.Join(dir, "first")
	os.Mkdir(first, 0o755)
	d := startDaemon(t, first, nil, "run", "--config", cfg)
	d.await(t, "READY=1")
	addr := d.waitLog(t, "admin listener: /metrics, /healthz, /readyz")["addr"].(string)

	const quiet, loud = "tok_live_silencedTOKENcccc3333", "tok_live_audibleTOKENdddd4444"
	out, errOut, code := sentinel(t, "", "silence", "add", "--admin", addr, "--token", fingerprintOf(quiet), "--for", "2h", "--reason", "load test")
	if code != 0 || !strings.HasPrefix(out, "silence ") {
		t.Fatalf("silence add: exit %d, %q %q", code, out, errOut)
	}
	id := strings.Fields(out)[1]

	now := time.Now()
	f, _ := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	start := now.Add(-122 * time.Minute)
	writeLines(f,
		steadyLines(quiet, "203.0.113.30", start, 120), burstLines(quiet, "203.0.113.30", start.Add(120*time.Minute)),
		steadyLines(loud, "203.0.113.31", start, 121), burstLines(loud, "203.0.113.31", start.Add(121*time.Minute)))
	f.Close()
	eventually(t, 60*time.Second, "the unsilenced token's alert", func() bool {
		data, _ := os.ReadFile(alerts)
		return strings.Contains(string(data), fingerprintOf(loud))
	})
	data, _ := os.ReadFile(alerts)
	for _, a := range parseAlerts(t, string(data)) {
		// Alerts about the address it used still go: a silence names
		// what it holds back.
		if a.Entity == "token" && a.Key == fingerprintOf(quiet) {
			t.Errorf("the silenced token's alert was delivered: %+v", a)
		}
	}
	eventually(t, 30*time.Second, "the held-back alert in the metrics", func() bool {
		return value(scrape(t, addr), "sentinel_alerts_silenced_total") >= 1
	})
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("stopping: %v", err)
	}

	second := filepath.Join(dir, "second")
	os.Mkdir(second, 0o755)
	d = startDaemon(t, second, nil, "run", "--config", cfg)
	d.await(t, "READY=1")
	addr = d.waitLog(t, "admin listener: /metrics, /healthz, /readyz")["addr"].(string)
	out, errOut, code = sentinel(t, "", "silence", "list", "--admin", addr)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "load test") {
		t.Fatalf("silence list after a restart: exit %d, %q %q; want %s", code, out, errOut, id)
	}
	if _, errOut, code := sentinel(t, "", "silence", "rm", "--admin", addr, id); code != 0 {
		t.Fatalf("silence rm: exit %d, %q", code, errOut)
	}
	if _, errOut, code := sentinel(t, "", "silence", "rm", "--admin", addr, id); code == 0 || !strings.Contains(errOut, "no such silence") {
		t.Errorf("removing it twice: exit %d, %q", code, errOut)
	}
}
