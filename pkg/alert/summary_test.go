package alert

import (
	"math"
	"testing"
	"time"
)

func TestIsolationSummary(t *testing.T) {
	start := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	a := &Alert{
		Entity: EntityToken, Key: "3f9a1c0b2e4d", TokenHint: "a7b1", Detector: "iforest",
		Feature: "isolation_score", Observed: 0.7004, Score: 0.7004 / 0.6994,
		WindowStart: start, WindowEnd: start.Add(time.Minute), TopIPs: []string{"203.0.113.9"},
		IsolatedBy: []Isolation{
			{Feature: "new_network_and_client", Value: 1, Typical: 0, Weight: 0.2},
			{Feature: "log_messages", Value: math.Log1p(25), Typical: 0, Weight: 0.05},
			{Feature: "messages_vs_usual", Value: math.Log(4.5), Typical: 0, Weight: 0.03},
		},
	}
	got := Summarize(a)
	want := "Token 3f9a1c0b2e4d (…a7b1) had a minute unlike its usual from 203.0.113.9: " +
		"new network and client 1 (typically 0), 25 messages (typically 0), " +
		"messages at 4.5× its usual (typically 1×); score 0.700 above 0.699."
	if got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
}

func TestNoveltySummary(t *testing.T) {
	start := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	a := &Alert{
		Entity: EntityToken, Key: "3f9a1c0b2e4d", TokenHint: "a7b1", Detector: "novelty",
		Feature: FeatureNewNetworkAndClient, Observed: 0.75, Score: 1.5,
		WindowStart: start, WindowEnd: start.Add(time.Minute), TopIPs: []string{"203.0.113.9", "192.0.2.1"},
	}
	want := "Token 3f9a1c0b2e4d (…a7b1) was used from a network and with a client it has never used " +
		"from 203.0.113.9 and 1 other address (75% of its requests in one minute)."
	if got := Summarize(a); got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
}

func TestFloodSummary(t *testing.T) {
	start := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	a := &Alert{
		Entity: EntityPopulation, Key: EntityIP, Detector: "flood", Feature: "new_ips",
		Observed: 120000, Expected: 3.2, WindowStart: start, WindowEnd: start.Add(time.Minute),
	}
	want := "A flood of 120,000 new addresses in one minute, where usually 3.2 appear; " +
		"addresses with a history are still judged, new ones past the configured limits are counted but not followed."
	if got := Summarize(a); got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
}

func TestResolvedSummary(t *testing.T) {
	since := time.Date(2026, 3, 4, 12, 17, 0, 0, time.UTC)
	a := &Alert{
		Entity: EntityToken, Key: "ee94a0fe62dc", TokenHint: "akqf", Label: "acme", Detector: "ewma",
		Status: StatusResolved, Since: since, At: since.Add(33 * time.Minute), Excess: 38500,
	}
	want := "Token ee94a0fe62dc (…akqf, acme) is back to normal since 12:50 UTC; from 12:17 UTC it pulled 38,500 messages above normal."
	if got := Summarize(a); got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	a.Excess, a.At = 0, since.Add(24*time.Hour)
	want = "Token ee94a0fe62dc (…akqf, acme) is back to normal since 2026-03-05 12:17 UTC."
	if got := Summarize(a); got != want {
		t.Errorf("summary without excess, a day later\n got %s\nwant %s", got, want)
	}
}
