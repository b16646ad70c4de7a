package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flakyReceiver is a webhook that answers 503 while down and counts the
// requests it accepts per Idempotency-Key.
type flakyReceiver struct {
	down    atomic.Bool
	refused atomic.Int64
	mu      sync.Mutex
	got     map[string]int
}

func (r *flakyReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.down.Load() {
		r.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[req.Header.Get("Idempotency-Key")]++
}

// delivered returns how many times each id arrived.
func (r *flakyReceiver) delivered() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// A webhook that is down while alerts are raised, and a crash of the
// daemon before it comes back: the alerts wait in the outbox and all
// arrive, each once, after the restart.
func TestAlertsWaitInTheOutboxThroughAnOutageAndACrash(t *testing.T) {
	hook := &flakyReceiver{got: map[string]int{}}
	hook.down.Store(true)
	srv := httptest.NewServer(hook)
	defer srv.Close()

	dir := t.TempDir()
	now := time.Now()
	start := now.Add(-121 * time.Minute)
	var sets [][]trafficLine
	for i := range 3 {
		token := fmt.Sprintf("tok_live_outboxTOKEN%04d", i)
		ip := fmt.Sprintf("203.0.113.%d", 10+i)
		sets = append(sets, steadyLines(token, ip, start, 120), burstLines(token, ip, start.Add(120*time.Minute)))
	}
	logPath := filepath.Join(dir, "access.log")
	f, _ := os.Create(logPath)
	writeLines(f, sets...)
	f.Close()

	filed := filepath.Join(dir, "alerts.jsonl")
	cfg := filepath.Join(dir, "sentinel.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
admin:
  enabled: false
sources:
  - path: %s
alerts:
  sinks:
    - type: file
      path: %s
    - type: webhook
      url: %s
`, filepath.Join(dir, "state"), logPath, filed, srv.URL)), 0o600)

	raised := func() []alertLine {
		data, _ := os.ReadFile(filed)
		return parseAlerts(t, string(data))
	}
	p := startSentinel(t, "run", "--config", cfg)
	eventually(t, 90*time.Second, "three token alerts in the file", func() bool {
		tokens := 0
		for _, a := range raised() {
			if a.Entity == "token" {
				tokens++
			}
		}
		return tokens >= 3
	})
	eventually(t, 30*time.Second, "the webhook to refuse an attempt", func() bool { return hook.refused.Load() > 0 })
	p.kill9(t)

	hook.down.Store(false)
	p = startSentinel(t, "run", "--config", cfg)
	// Three tokens and their three addresses.
	eventually(t, 60*time.Second, "six alerts at the webhook", func() bool {
		return len(hook.delivered()) >= 6
	})
	p.stop(t)

	// The file sink, too, may hold an alert twice, with one id: written
	// just before the crash, and again after it from the outbox.
	lines := raised()
	want := map[string]bool{}
	for _, a := range lines {
		want[a.ID] = true
	}
	got := hook.delivered()
	requests := 0
	for _, a := range lines {
		if got[a.ID] == 0 {
			t.Errorf("alert %s (%s %s) was never delivered", a.ID, a.Entity, a.Key)
		}
	}
	for _, n := range got {
		requests += n
	}
	if len(got) != len(want) {
		t.Errorf("the webhook got %d distinct alerts, the file %d", len(got), len(want))
	}
	t.Logf("outage and crash: raised %d (%d lines in the file), refused attempts %d, delivered %d distinct in %d requests, lost %d",
		len(want), len(lines), hook.refused.Load(), len(got), requests, len(want)-len(got))
	if !strings.Contains(p.stderr.String(), "left undelivered at the last stop") {
		t.Errorf("the restart did not say it had alerts to deliver; stderr:\n%s", p.stderr.String())
	}
}
