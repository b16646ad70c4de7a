package detect

import (
	"testing"
	"time"
)

func TestRejectWatchAlertsOnARise(t *testing.T) {
	w := NewRejectWatch(RejectOptions{})
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// Two hours with a steady trickle: 3 of 1000 lines a minute rejected.
	for m := range 120 {
		at := start.Add(time.Duration(m) * time.Minute)
		if f := w.Add("gw", at, 1000, 3); f != nil {
			t.Fatalf("minute %d: alerted on the usual trickle: %+v", m, f)
		}
	}
	// Then 400 rejected in one minute, arriving in batches.
	at := start.Add(120 * time.Minute)
	var got []*RejectFinding
	for i := range 8 {
		if f := w.Add("gw", at.Add(time.Duration(i)*time.Second), 100, 50); f != nil {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("got %d findings for the rise, want 1", len(got))
	}
	f := got[0]
	if f.Source != "gw" || f.Observed < f.Threshold || f.Expected > 5 || !f.WindowStart.Equal(at) {
		t.Fatalf("finding = %+v", f)
	}
	// The next minute, still high: within the cooldown.
	if f := w.Add("gw", at.Add(time.Minute), 1000, 400); f != nil {
		t.Fatalf("alerted again within the cooldown: %+v", f)
	}
}

func TestRejectWatchIgnoresASmallSource(t *testing.T) {
	w := NewRejectWatch(RejectOptions{})
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// A source whose every line is rejected, but only a few a minute.
	for m := range 60 {
		if f := w.Add("tiny", start.Add(time.Duration(m)*time.Minute), 10, 10); f != nil {
			t.Fatalf("alerted under the minimum: %+v", f)
		}
	}
}

func TestRejectWatchWithoutEventTime(t *testing.T) {
	w := NewRejectWatch(RejectOptions{})
	if f := w.Add("gw", time.Time{}, 1000, 1000); f != nil {
		t.Fatal("alerted with no window to count in")
	}
}
