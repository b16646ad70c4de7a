package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/gen"
)

// TestSampleShowsTheExfiltration runs the README's first command: the
// shipped sample must show its bulk downloads within two minutes.
func TestSampleShowsTheExfiltration(t *testing.T) {
	root := filepath.Join("..", "..", "testdata", "sample")
	out, stderr, code := sentinel(t, "", "replay", filepath.Join(root, "access.log.gz"))
	if code != 0 {
		t.Fatalf("replay of the sample failed: %s", stderr)
	}
	if !strings.Contains(stderr, "0 rejected") {
		t.Errorf("the sample has rejected lines: %s", stderr)
	}
	f, err := os.Open(filepath.Join(root, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	truth, err := gen.ReadTruth(f)
	if err != nil {
		t.Fatal(err)
	}
	alerts := parseAlerts(t, out)
	bursts := 0
	for _, inc := range truth.Incidents {
		if !strings.HasPrefix(inc.Class, "burst_") {
			continue
		}
		bursts++
		if !caughtWithin(alerts, inc, 2*time.Minute) {
			t.Errorf("%s on %s at %v: no alert within two minutes", inc.Class, inc.Key, inc.Start)
		}
	}
	if bursts != 3 {
		t.Fatalf("the sample holds %d bursts, want 3", bursts)
	}
}

func caughtWithin(alerts []alertLine, inc gen.Incident, within time.Duration) bool {
	for _, a := range alerts {
		at, err := time.Parse(time.RFC3339Nano, a.At)
		if err != nil || a.Key != inc.Key {
			continue
		}
		if !at.Before(inc.Start) && at.Sub(inc.Start) <= within {
			return true
		}
	}
	return false
}
