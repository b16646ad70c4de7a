package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// During a flood of new tokens past the aggregator's bound, a known
// token's lines are still counted, so its exfiltration in the middle of
// the flood alerts on its own baseline; the flood alerts too, as a
// population. The flood's lines fill each minute, so the bound is used
// up again by the time the tenant's lines come: without the detector's
// Known wired into the aggregator they would be refused.
func TestFloodDoesNotHideKnownToken(t *testing.T) {
	var b strings.Builder
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 3))
	line := func(at time.Time, tok, ip string, msgs int) {
		fmt.Fprintf(&b, `{"ts":%q,"token":%q,"ip":%q,"status":200,"messages":%d}`+"\n",
			at.Format(time.RFC3339Nano), tok, ip, msgs)
	}
	const flood, pull = 120, 122
	for m := range 125 {
		at := t0.Add(time.Duration(m) * time.Minute)
		if m >= flood {
			for i := range 5000 {
				line(at.Add(time.Duration(i)*12*time.Millisecond), fmt.Sprintf("%x", rng.Uint64()), "203.0.113.66", 1)
			}
		}
		msgs := 10
		if m == pull {
			msgs = 1000
		}
		for i := range 5 {
			line(at.Add(50*time.Second+time.Duration(i)*time.Second), "tenant", "198.51.100.7", msgs/5)
		}
	}
	opts := testOptions()
	opts.Features.MaxNew = 1000
	opts.Detect.MaxPerKind = [features.NumKinds]int{features.Token: 2000, features.IP: 2000}
	alerts, _ := replayAlerts(t, ReplayOptions{Options: opts, Sources: []Source{canonicalSource("-")},
		Stdin: strings.NewReader(b.String())})
	var tenant, floods int
	for _, a := range alerts {
		switch {
		case a.Entity == "token" && a.TokenHint == "nant" && a.Detector == "ewma":
			tenant++
		case a.Entity == "population" && a.Key == "token" && a.Feature == "new_tokens":
			floods++
			if a.Observed != 5000 {
				t.Errorf("flood alert observed %v new tokens, want 5000", a.Observed)
			}
		}
	}
	if tenant == 0 {
		t.Error("the known token pulling 20 times its usual during the flood raised no alert")
	}
	if floods != 1 {
		t.Errorf("%d token flood alerts, want 1", floods)
	}
}
