package config

import (
	"slices"
	"testing"
)

func TestNeedRestartNamesWhatCannotBeTakenOver(t *testing.T) {
	old := reloadParse(t, `
sources:
  - path: /var/log/api/access.log
detect:
  z: 6
  half_life: 24h
  iforest:
    threshold: 0.7
labels:
  1.2.3.4: office
`)
	next := reloadParse(t, `
sources:
  - path: /var/log/api/other.log
detect:
  z: 8
  half_life: 12h
  iforest:
    threshold: 0.8
    reservoir: 5000
labels:
  1.2.3.4: branch
alerts:
  sinks:
    - type: file
      path: /tmp/alerts.jsonl
`)
	got := old.NeedRestart(next)
	want := []string{"sources", "detect.half_life", "detect.iforest.reservoir"}
	if !slices.Equal(got, want) {
		t.Fatalf("NeedRestart = %v, want %v", got, want)
	}
	changed := old.Changed(next)
	wantChanged := []string{"sources", "detect.half_life", "detect.z", "detect.iforest.threshold", "detect.iforest.reservoir", "alerts", "labels"}
	if !slices.Equal(changed, wantChanged) {
		t.Errorf("Changed = %v, want %v", changed, wantChanged)
	}
	if n := old.NeedRestart(old); len(n) != 0 {
		t.Fatalf("an unchanged configuration needs no restart, got %v", n)
	}
}

func reloadParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
