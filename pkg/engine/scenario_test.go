package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/gen"
)

// TestGeneratedTrafficEndToEnd replays three seeds of generated traffic
// with injected attacks: every burst exfiltration must raise an alert on
// its token within two minutes of its start, in event time, and no token
// or address outside the injected scenarios may raise any.
//
// The platform-wide surge hour is left out of the second check: at 2.5
// times their usual volume the busiest tenants cross their baselines, and
// telling a surge apart is the detection-quality issue's work.
func TestGeneratedTrafficEndToEnd(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			path, truth := generate(t, t.TempDir(), gen.Options{Seed: seed, Tokens: 300, Duration: 4 * 24 * time.Hour, Attacks: true})
			alerts, _ := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}})
			checkBurstsCaught(t, truth, alerts)
			checkOrdinaryQuiet(t, truth, alerts)
		})
	}
}

func checkBurstsCaught(t *testing.T, truth *gen.Truth, alerts []alert.Alert) {
	t.Helper()
	bursts := 0
	for _, inc := range truth.Incidents {
		if !strings.HasPrefix(inc.Class, "burst_") {
			continue
		}
		bursts++
		first := firstAlertOn(alerts, inc.Key, inc.Start)
		if first.IsZero() || first.Sub(inc.Start) > 2*time.Minute {
			t.Errorf("%s on token %s from %v: first alert at %v, want within two minutes", inc.Class, inc.Key, inc.Start, first)
		}
	}
	if bursts != 3 {
		t.Fatalf("the traffic holds %d bursts, want 3", bursts)
	}
}

func firstAlertOn(alerts []alert.Alert, key string, from time.Time) time.Time {
	for _, a := range alerts {
		if a.Key == key && !a.At.Before(from) {
			return a.At
		}
	}
	return time.Time{}
}

func checkOrdinaryQuiet(t *testing.T, truth *gen.Truth, alerts []alert.Alert) {
	t.Helper()
	involved := make(map[string]bool)
	var surges []gen.Incident
	for _, inc := range truth.Incidents {
		if inc.Key == gen.Any {
			surges = append(surges, inc)
			continue
		}
		involved[inc.Key] = true
		for _, k := range inc.Related {
			involved[k] = true
		}
	}
	for _, a := range alerts {
		if involved[a.Key] || inSurge(surges, a.At) {
			continue
		}
		t.Errorf("ordinary %s %s raised an alert: %s (%s %s, observed %v, expected %v)",
			a.Entity, a.Key, a.At.Format(time.RFC3339), a.Detector, a.Feature, a.Observed, a.Expected)
	}
}

func inSurge(surges []gen.Incident, at time.Time) bool {
	for _, s := range surges {
		if !at.Before(s.Start) && at.Before(s.End.Add(15*time.Minute)) {
			return true
		}
	}
	return false
}
