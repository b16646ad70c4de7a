package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is an httptest webhook that records what it gets; it answers
// the first request with 429 and Retry-After to exercise retries.
type receiver struct {
	mu       sync.Mutex
	bodies   []string
	keys     []string
	requests int
	throttle bool
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.throttle && r.requests == 1 {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	r.bodies = append(r.bodies, string(body))
	r.keys = append(r.keys, req.Header.Get("Idempotency-Key"))
}

func (r *receiver) received() ([]string, []string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...), append([]string(nil), r.keys...), r.requests
}

// steadyThenBurst writes lines for one token: ten messages a minute for
// two hours from start, then five thousand in the minute after.
func steadyThenBurst(w io.Writer, token, ip string, start time.Time) {
	writeLines(w, steadyLines(token, ip, start, 120), burstLines(token, ip, start.Add(120*time.Minute)))
}

// trafficLine is one canonical request line and its time.
type trafficLine struct {
	at   time.Time
	text string
}

func requestLine(token, ip string, at time.Time, messages int) trafficLine {
	return trafficLine{at, fmt.Sprintf(`{"ts":%q,"token":%q,"ip":%q,"method":"GET","path":"/messages/outbound?count=500","status":200,"bytes":%d,"messages":%d,"ua":"client/1.0"}`+"\n",
		at.UTC().Format(time.RFC3339Nano), token, ip, messages*900, messages)}
}

// steadyLines are a token's ten messages a minute for minutes from start.
func steadyLines(token, ip string, start time.Time, minutes int) []trafficLine {
	var out []trafficLine
	for m := range minutes {
		out = append(out, requestLine(token, ip, start.Add(time.Duration(m)*time.Minute), 10))
	}
	return out
}

// burstLines are five thousand messages in the ten seconds from at.
func burstLines(token, ip string, at time.Time) []trafficLine {
	var out []trafficLine
	for i := range 10 {
		out = append(out, requestLine(token, ip, at.Add(time.Duration(i)*time.Second), 500))
	}
	return out
}

// writeLines writes the lines of several tokens merged in time order, as
// one gateway logs them: written one token after another, the second's
// early lines would come after the first's late ones and be too late
// for their windows.
func writeLines(w io.Writer, sets ...[]trafficLine) int {
	all := slices.Concat(sets...)
	slices.SortStableFunc(all, func(a, b trafficLine) int { return a.at.Compare(b.at) })
	for _, l := range all {
		io.WriteString(w, l.text)
	}
	return len(all)
}

func TestLiveAlertReachesWebhookAndSlackWithoutTheToken(t *testing.T) {
	hook := &receiver{throttle: true}
	slack := &receiver{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	slackSrv := httptest.NewServer(slack)
	defer slackSrv.Close()

	dir := t.TempDir()
	const (
		liveToken = "tok_live_leakedTOKENabcd1234"
		oldToken  = "tok_live_olderTOKENwxyz9876"
		secret    = "services/T000/B000/SECRETPATH"
	)
	now := time.Now()
	log := filepath.Join(dir, "access.log")
	f, _ := os.Create(log)
	// An old burst, beyond the 15-minute horizon: recorded, not pushed.
	steadyThenBurst(f, oldToken, "198.51.100.7", now.Add(-6*time.Hour))
	// A fresh burst that must page.
	steadyThenBurst(f, liveToken, "203.0.113.9", now.Add(-121*time.Minute))
	f.Close()

	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := filepath.Join(dir, "sentinel.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
admin:
  listen: 127.0.0.1:0 # a free port: tests may run beside a real sentinel
sources:
  - path: %s
alerts:
  sinks:
    - type: file
      path: %s
    - type: webhook
      url: ${TEST_HOOK_URL}
    - type: slack
      url: ${TEST_SLACK_URL}
`, filepath.Join(dir, "state"), log, alerts)), 0o600)
	t.Setenv("TEST_HOOK_URL", hookSrv.URL+"/"+secret)
	t.Setenv("TEST_SLACK_URL", slackSrv.URL+"/"+secret)

	p := startSentinel(t, "run", "--config", cfg)
	eventually(t, 90*time.Second, "the webhook to receive an alert", func() bool {
		bodies, _, _ := hook.received()
		return len(bodies) > 0
	})
	eventually(t, 90*time.Second, "Slack to receive an alert", func() bool {
		bodies, _, _ := slack.received()
		return len(bodies) > 0
	})
	p.stop(t)

	bodies, keys, requests := hook.received()
	if requests < 2 {
		t.Errorf("webhook saw %d requests; the 429 should have been retried", requests)
	}
	var a alertLine
	if err := json.Unmarshal([]byte(bodies[0]), &a); err != nil {
		t.Fatalf("webhook body is not an alert: %v", err)
	}
	if a.Entity != "token" || a.Key != fingerprintOf(liveToken) || keys[0] != a.ID {
		t.Errorf("webhook got %+v with key %q; want the live token's fingerprint and its id as idempotency key", a, keys[0])
	}
	for _, b := range bodies {
		if strings.Contains(b, fingerprintOf(oldToken)) {
			t.Error("an alert older than the horizon was pushed to the webhook")
		}
	}
	filed, _ := os.ReadFile(alerts)
	if !strings.Contains(string(filed), fingerprintOf(oldToken)) {
		t.Error("the old burst is missing from the alert file: the horizon should only keep it from push sinks")
	}
	slackBodies, _, _ := slack.received()
	everything := strings.Join(append(append(bodies, slackBodies...), string(filed), p.stderr.String()), "\n")
	for _, leak := range []string{liveToken, oldToken, "SECRETPATH"} {
		if strings.Contains(everything, leak) {
			t.Errorf("%q appears in an alert, a payload or a log line", leak)
		}
	}
	if !strings.Contains(slackBodies[0], `"unfurl_links":false`) {
		t.Error("Slack payload does not turn link unfurling off")
	}
}

// fingerprintOf computes a fingerprint independently of sentinel's code.
func fingerprintOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:12]
}
