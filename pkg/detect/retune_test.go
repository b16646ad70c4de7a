package detect

import (
	"math/rand/v2"
	"testing"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// TestRetuneChangesThresholdsAndKeepsBaselines: a burst stays quiet once
// the floor is raised above it, and a bigger one alerts once the floor is
// back to its default, judged on the baseline learned all along: the
// entity is not relearned.
func TestRetuneChangesThresholdsAndKeepsBaselines(t *testing.T) {
	tok, ip := fp("retune"), "192.0.2.44"
	p := newPipeline(Options{})
	rng := rand.New(rand.NewPCG(5, 5))
	for m := range 180 {
		p.feed(minute(m, burst{fp: tok, ip: ip, msgs: poisson(rng, 20)}))
	}
	burstAt := func(m, msgs int) []Finding {
		fs := p.feed(minute(m, burst{fp: tok, ip: ip, msgs: msgs, per: 50}))
		fs = append(fs, p.feed(minute(m+1, burst{fp: tok, ip: ip, msgs: 20}))...)
		return only(fs, tok)
	}

	high := Options{}
	high.MinAbs[features.Token] = defaultMinAbs()[features.Token]
	high.MinAbs[features.Token][features.Messages] = 5000
	high.HorizonMinAbs = DefaultOptions().HorizonMinAbs
	high.HorizonMinAbs[features.Token] = 50000
	p.det.Retune(high)
	if fs := burstAt(180, 2000); len(fs) != 0 {
		t.Fatalf("2000 messages under a floor of 5000 alerted:%s", describe(fs))
	}
	for m := 182; m < 240; m++ {
		p.feed(minute(m, burst{fp: tok, ip: ip, msgs: poisson(rng, 20)}))
	}
	p.det.Retune(Options{})
	// The quiet burst was learned as a peak, so the next must be more
	// than twice it; 4500 is still under the raised floor.
	fs := burstAt(240, 4500)
	if len(fs) == 0 || fs[0].Detector != "ewma" {
		t.Fatalf("after lowering the floor again, want an ewma alert on the learned baseline, got:%s", describe(fs))
	}
}
