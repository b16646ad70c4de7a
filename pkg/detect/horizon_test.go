package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// noHorizon turns the horizon judgement off, to show what a test needs
// it for.
var noHorizon = Options{HorizonMinAbs: [features.NumKinds]float64{1e12, 1e12}}

// sparsePuller feeds days of a token that sends mail every minute and
// pulls a page of 500 messages about every two hours: a mean of 4
// messages a minute, in lots of 500.
func sparsePuller(p *pipeline, rng *rand.Rand, from, to int) {
	for m := from; m < to; m++ {
		b := burst{fp: tokA, ip: ipA, reqs: 1}
		if rng.IntN(120) == 0 {
			b.msgs, b.per = 500, 500
		}
		p.feed(minute(m, b))
	}
}

// TestCompoundPoissonFloor: two of a token's usual pages in one minute
// are ordinary, however rare its pulls; eight are not. Without the
// compound-Poisson floor the threshold is 1.5 times the peak (one page),
// and the two pages alert.
func TestCompoundPoissonFloor(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	p := newPipeline(Options{})
	sparsePuller(p, rng, 0, 2*1440)
	if len(p.found) != 0 {
		t.Fatalf("the sparse puller raised%s", describe(p.found))
	}
	m := 2 * 1440
	if fs := p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: 1000, per: 500})); len(fs) != 0 {
		t.Errorf("two pages in a minute raised%s", describe(fs))
	}
	p.feed(minute(m + 1))
	fs := only(p.feed(minute(m+2, burst{fp: tokA, ip: ipA, msgs: 4000, per: 500})), tokA)
	if len(fs) != 1 || fs[0].Feature != "messages" {
		t.Fatalf("eight pages in a minute raised%s, want one messages finding", describe(fs))
	}
	// Poisson(4/500 pages) passes k pages with probability about
	// λ^(k+1)/(k+1)!: four pages is the first under the tail of Z = 6.
	if thr := fs[0].Threshold; thr < 1500 || thr > 3000 {
		t.Errorf("threshold %v, want 3 to 6 pages of 500", thr)
	}
}

// slowPull feeds a ready token 5 messages a minute in pages of 50 for a
// day, then 150 a minute (three pages) for 30 minutes: each minute under
// every per-window threshold, 4500 messages in the half hour.
func slowPull(o Options) []Finding {
	rng := rand.New(rand.NewPCG(23, 24))
	p := newPipeline(o)
	for m := range 1440 {
		p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: 50 * poisson(rng, 0.1), per: 50}))
	}
	for m := 1440; m < 1470; m++ {
		p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: 150, per: 50}))
	}
	p.flush()
	return p.found
}

func TestHorizonCatchesSlowerPull(t *testing.T) {
	fs := only(slowPull(Options{}), tokA)
	if len(fs) != 1 || fs[0].Feature != "messages_30m" || fs[0].Detector != "ewma" {
		t.Fatalf("the half-hour pull raised%s, want one ewma messages_30m finding", describe(fs))
	}
	// The day's busiest half hour, about five pages of 50, allows up to
	// its Poisson quantile, about 24 pages: the floor of 1000 or a little
	// above, far under the 2800 the pull reaches.
	if thr := fs[0].Threshold; thr < 1000 || thr > 1500 {
		t.Errorf("threshold %v, want 1000 to 1500", thr)
	}
	if fs := slowPull(noHorizon); len(fs) != 0 {
		t.Errorf("without the horizon, per-window thresholds raised%s; the test shows nothing", describe(fs))
	}
}

// wakeAfter feeds a token with a busy hour a day (pages of 200, about
// 3000 messages), silences it for silent minutes, then has it pull 60
// messages a minute for 40 minutes.
func wakeAfter(silent int) []Finding {
	rng := rand.New(rand.NewPCG(25, 26))
	p := newPipeline(Options{})
	for m := range 2 * 1440 {
		b := burst{fp: tokA, ip: ipA, reqs: 1}
		if m%1440 >= 600 && m%1440 < 660 {
			b.msgs, b.per = 200*poisson(rng, 0.25), 200
		}
		p.feed(minute(m, b))
	}
	wake := 2*1440 + silent
	for m := wake; m < wake+40; m++ {
		p.feed(minute(m, burst{fp: tokA, ip: "10.9.0.1", msgs: 60, per: 20}))
	}
	p.flush()
	return only(p.found, tokA)
}

// TestDormantWakeup: after three silent days a token pulling about 1200
// messages in half an hour is judged against the floor, not against the
// peaks of its busy hours before the silence. The same pull after one
// quiet day is within what those peaks allow.
func TestDormantWakeup(t *testing.T) {
	fs := wakeAfter(3 * 1440)
	if len(fs) != 1 || fs[0].Feature != "messages_30m" {
		t.Fatalf("the woken token raised%s, want one messages_30m finding", describe(fs))
	}
	if fs := wakeAfter(1440); len(fs) != 0 {
		t.Errorf("the same pull after a day raised%s; the test shows nothing", describe(fs))
	}
}

// spray feeds a population, then ip trying perMin tokens a minute, each
// once and refused, for 30 minutes, while another address retries one
// revoked token 20 times a minute.
func spray(o Options, perMin int) []Finding {
	rng := rand.New(rand.NewPCG(27, 28))
	p := newPipeline(o)
	population(p, rng, 0, 120, nil)
	n := 0
	population(p, rng, 120, 150, func(m int) []burst {
		bs := []burst{{fp: fp("revoked"), ip: "10.3.0.1", status: 401, reqs: 20}}
		for range perMin {
			bs = append(bs, burst{fp: fp(fmt.Sprintf("s%d", n)), ip: "203.0.113.7", status: 401, reqs: 1})
			n++
		}
		return bs
	})
	p.flush()
	return p.found
}

// TestAddressSprayingTokensSlowly: twelve refused tokens a minute are
// under the per-window floors of a new address (60 401s, 40 tokens), but
// 360 tokens refused in half an hour are not ordinary; one client
// retrying one revoked key is.
func TestAddressSprayingTokensSlowly(t *testing.T) {
	found := spray(Options{}, 12)
	fs := only(found, "203.0.113.7")
	if len(fs) != 1 || fs[0].Feature != "unauthorized_tokens_30m" || fs[0].Kind != features.IP {
		t.Fatalf("the spraying address raised%s, want one unauthorized_tokens_30m finding", describe(fs))
	}
	if len(found) != 1 {
		t.Errorf("%d findings in all, want only the sprayer's:%s", len(found), describe(found))
	}
	if fs := only(spray(noHorizon, 12), "203.0.113.7"); len(fs) != 0 {
		t.Errorf("without the horizon the sprayer raised%s; the test shows nothing", describe(fs))
	}
}
