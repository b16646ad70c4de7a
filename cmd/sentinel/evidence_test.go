package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// leakyBurst is burstLines with the token also in a Bearer header and,
// percent-encoded, in the query string: where a gateway's own log puts
// it, and where evidence must not keep it.
func leakyBurst(token, ip string, at time.Time) []trafficLine {
	var out []trafficLine
	for _, l := range burstLines(token, ip, at) {
		text := strings.Replace(l.text, `"path":"/messages/outbound?count=500"`,
			`"path":"/messages/outbound?count=500&access_token=`+url.QueryEscape(token)+`","auth":"Bearer `+token+`"`, 1)
		out = append(out, trafficLine{l.at, text})
	}
	return out
}

// TestRunKeepsVerifiableRedactedEvidence runs the daemon on a burst: the
// alert it raises must carry the evidence log's chain, the log must hold
// the window's lines with the token replaced by its fingerprint and no
// trace of the raw token, and `sentinel verify --head` must pass on it
// and fail once an entry is edited.
func TestRunKeepsVerifiableRedactedEvidence(t *testing.T) {
	dir := t.TempDir()
	const token = "tok_live/EVIDENCE+leak=9f31"
	start := time.Now().Add(-121 * time.Minute)
	log := filepath.Join(dir, "access.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(f, steadyLines(token, "203.0.113.9", start, 120), leakyBurst(token, "203.0.113.9", start.Add(120*time.Minute)))
	f.Close()
	state := filepath.Join(dir, "state")
	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := filepath.Join(dir, "sentinel.yaml")
	writeConfig(t, cfg, fmt.Sprintf("state_dir: %s\nsources:\n  - path: %s\nalerts:\n  sinks:\n    - type: file\n      path: %s\n", state, log, alerts))

	chain := runUntilChain(t, cfg, alerts, fingerprintOf(token))

	evlog := filepath.Join(state, "evidence.log")
	data, err := os.ReadFile(evlog)
	if err != nil {
		t.Fatal(err)
	}
	entry := entryWithHash(t, data, chain)
	if len(entry.Evidence.Lines) == 0 || len(entry.Evidence.Features) == 0 || len(entry.Evidence.ConfigSHA256) != 64 {
		t.Fatalf("evidence of the alert lacks lines, features or the configuration: %+v", entry.Evidence)
	}
	for _, l := range entry.Evidence.Lines {
		if !strings.Contains(l, `"token":"`+fingerprintOf(token)+`"`) || !strings.Contains(l, "Bearer "+fingerprintOf(token)) {
			t.Errorf("evidence line without the fingerprint in place of the token: %s", l)
		}
	}
	for _, name := range []string{"evidence.log", "evidence.head"} {
		b, _ := os.ReadFile(filepath.Join(state, name))
		for _, leak := range []string{token, url.QueryEscape(token), url.PathEscape(token)} {
			if strings.Contains(string(b), leak) {
				t.Errorf("%s holds the raw token (as %q)", name, leak)
			}
		}
	}

	out, errOut, code := sentinel(t, "", "verify", "--state-dir", state, "--head", chain)
	if code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify on the untouched log: exit %d, %s%s", code, out, errOut)
	}
	edited := strings.Replace(string(data), `"messages"`, `"messageS"`, 1)
	if err := os.WriteFile(evlog, []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = sentinel(t, "", "verify", "--state-dir", state, "--head", chain)
	if code == 0 || !strings.Contains(errOut, "edited") || !strings.Contains(errOut, "seq 1") {
		t.Errorf("verify after an edit: exit %d, %s%s; want a failure naming seq 1 as edited", code, out, errOut)
	}
}

// runUntilChain runs the daemon on cfg until the alert file holds an
// alert about key with a chain, stops it, and returns the chain.
func runUntilChain(t *testing.T, cfg, alerts, key string) string {
	t.Helper()
	p := startSentinel(t, "run", "--config", cfg)
	var chain string
	eventually(t, 90*time.Second, "an alert with a chain about "+key, func() bool {
		data, _ := os.ReadFile(alerts)
		chain = chainOf(data, key)
		return chain != ""
	})
	p.stop(t)
	return chain
}

// chainOf returns the chain of the first alert about key in an alert
// file.
func chainOf(data []byte, key string) string {
	for _, line := range strings.Split(string(data), "\n") {
		var a struct{ Key, Chain string }
		if json.Unmarshal([]byte(line), &a) == nil && a.Key == key && a.Chain != "" {
			return a.Chain
		}
	}
	return ""
}

type evidenceEntry struct {
	Seq      uint64 `json:"seq"`
	Hash     string `json:"hash"`
	Evidence struct {
		Features     []map[string]any `json:"features"`
		ConfigSHA256 string           `json:"config_sha256"`
		Lines        []string         `json:"lines"`
	} `json:"evidence"`
}

func entryWithHash(t *testing.T, data []byte, hash string) evidenceEntry {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e evidenceEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("evidence line is not JSON: %v", err)
		}
		if e.Hash == hash {
			return e
		}
	}
	t.Fatalf("no evidence entry has the alert's chain %s", hash)
	return evidenceEntry{}
}

// TestRunKeepsContractBreachEvidence: a contract alert is judged on one
// request, and that request, redacted, is its evidence.
func TestRunKeepsContractBreachEvidence(t *testing.T) {
	dir := t.TempDir()
	const token = "tok_live/CONTRACT+leak=77aa"
	log := filepath.Join(dir, "access.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(f, steadyLines(token, "203.0.113.9", time.Now().Add(-10*time.Minute), 5))
	f.Close()
	state := filepath.Join(dir, "state")
	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := filepath.Join(dir, "sentinel.yaml")
	writeConfig(t, cfg, fmt.Sprintf("state_dir: %s\nsources:\n  - path: %s\nalerts:\n  sinks:\n    - type: file\n      path: %s\n"+
		"contracts:\n  %s:\n    networks: [10.0.0.0/8]\n", state, log, alerts, fingerprintOf(token)))

	chain := runUntilChain(t, cfg, alerts, fingerprintOf(token))

	data, err := os.ReadFile(filepath.Join(state, "evidence.log"))
	if err != nil {
		t.Fatal(err)
	}
	entry := entryWithHash(t, data, chain)
	if len(entry.Evidence.Lines) != 1 || !strings.Contains(entry.Evidence.Lines[0], `"203.0.113.9"`) ||
		!strings.Contains(entry.Evidence.Lines[0], fingerprintOf(token)) {
		t.Fatalf("a network breach's evidence should be the request that breached, redacted: %q", entry.Evidence.Lines)
	}
	if strings.Contains(string(data), token) {
		t.Error("evidence.log holds the raw token")
	}
}
