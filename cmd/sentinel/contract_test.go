package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// contractAlert is the part of a contract alert these tests look at.
type contractAlert struct {
	Key      string  `json:"key"`
	Detector string  `json:"detector"`
	Feature  string  `json:"feature"`
	Observed float64 `json:"observed"`
	Expected float64 `json:"expected"`
	Since    string  `json:"since"`
	Contract *struct {
		Clause   string   `json:"clause"`
		Value    string   `json:"value"`
		Declared []string `json:"declared"`
	} `json:"contract"`
	Summary string `json:"summary"`
}

// TestReplayRaisesContractBreaches replays three hours of two tokens
// pulling ten messages a minute from 10.0.0.5. One declared 1000 an hour
// from 10.0.0.0/8 and stays within; the other declared 500 an hour, so
// crosses at 510 in each hour, and once was used from elsewhere.
func TestReplayRaisesContractBreaches(t *testing.T) {
	const (
		within = "tok_live_withinCONTRACT0001"
		over   = "tok_live_overCONTRACT0002"
	)
	dir := t.TempDir()
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	log := filepath.Join(dir, "access.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(f, steadyLines(within, "10.0.0.5", start, 180), steadyLines(over, "10.0.0.5", start, 180),
		[]trafficLine{requestLine(over, "198.51.100.9", start.Add(95*time.Minute+30*time.Second), 0)})
	f.Close()
	cfg := filepath.Join(dir, "sentinel.yaml")
	os.WriteFile(cfg, []byte(`
contracts:
  `+ingest.Fingerprint(within)+`:
    messages_per_hour: 1000
    networks: [10.0.0.0/8, 2001:db8::/48]
    clients: ["client/*"]
    endpoints: [{method: GET, path: /messages/*}]
  `+ingest.Fingerprint(over)+`:
    messages_per_hour: 500
    networks: [10.0.0.0/8]
`), 0o644)

	out, stderr, code := sentinel(t, "", "replay", "--config", cfg, log)
	if code != 0 {
		t.Fatalf("replay failed (%d): %s", code, stderr)
	}
	for _, tok := range []string{within, over} {
		if strings.Contains(out+stderr, tok) {
			t.Fatalf("the output holds a raw token")
		}
	}
	var hourly, network []contractAlert
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a contractAlert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alert line is not JSON: %v: %q", err, line)
		}
		if a.Key == ingest.Fingerprint(within) {
			t.Errorf("a token within its contract alerted: %s", line)
		}
		if a.Detector != "contract" {
			continue
		}
		if a.Key != ingest.Fingerprint(over) || a.Contract == nil || a.Contract.Clause != a.Feature {
			t.Fatalf("contract alert = %s", line)
		}
		switch a.Feature {
		case "messages_per_hour":
			hourly = append(hourly, a)
		case "network":
			network = append(network, a)
		default:
			t.Errorf("unexpected clause breached: %s", line)
		}
	}
	if len(hourly) != 3 {
		t.Fatalf("%d hourly breaches, want one in each of the 3 hours: %+v", len(hourly), hourly)
	}
	for h, a := range hourly {
		if a.Observed != 510 || a.Expected != 500 || a.Since != start.Add(time.Duration(h)*time.Hour).Format(time.RFC3339) {
			t.Errorf("hour %d: %+v, want 510 over 500 since the hour's start", h, a)
		}
	}
	if len(network) != 1 || network[0].Contract.Value != "198.51.100.9" ||
		len(network[0].Contract.Declared) != 1 || network[0].Contract.Declared[0] != "10.0.0.0/8" ||
		!strings.Contains(network[0].Summary, "198.51.100.9") {
		t.Fatalf("network breaches = %+v", network)
	}
}
