package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

func TestClosedFormDecay(t *testing.T) {
	r := newRates(time.Minute, 24*time.Hour, 72*time.Hour, 30*time.Minute)
	if r.cumN < 2000 || r.cumN > 2100 {
		t.Fatalf("cumN = %d, want about 1/alpha = 2078 for a 24h half-life", r.cumN)
	}
	const m0, v0 = 37.5, 120.0
	for _, n := range []int64{0, 1, 10, r.cumN - 5, r.cumN, 5000} {
		for _, k := range []int64{1, 7, 100, 3000} {
			m, v := m0, v0
			for t := n; t < n+k; t++ {
				m, v = step(m, v, 0, r.weight(t))
			}
			cm, cv := decayed(m0, v0, r.keep(n, k))
			if !close(m, cm) || !close(v, cv) {
				t.Errorf("n=%d k=%d: stepwise mean %.12g var %.12g, closed form %.12g %.12g", n, k, m, v, cm, cv)
			}
		}
	}
}

func close(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(math.Abs(a), math.Abs(b), 1e-300)
}

// The early weights 1/(t+1) make the baseline the plain mean and
// (population) variance of what was seen.
func TestEarlyBaselineIsPlainMean(t *testing.T) {
	r := newRates(time.Minute, 24*time.Hour, 72*time.Hour, 30*time.Minute)
	xs := []float64{3, 9, 4, 0, 0, 12}
	m, v := 0.0, 0.0
	for i, x := range xs {
		m, v = step(m, v, x, r.weight(int64(i)))
	}
	if !close(m, 28.0/6) {
		t.Errorf("mean %v, want %v", m, 28.0/6)
	}
	var ss float64
	for _, x := range xs {
		ss += (x - 28.0/6) * (x - 28.0/6)
	}
	if !close(v, ss/6) {
		t.Errorf("variance %v, want %v", v, ss/6)
	}
}

const tokA, ipA = "aaaaaaaaaaaa", "10.0.0.1"

func TestBurstCooldownEscalation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	p := newPipeline(Options{})
	const days2 = 2 * 1440
	for m := range days2 {
		p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: poisson(rng, 20)}))
	}
	if len(p.found) != 0 {
		t.Fatalf("steady token raised %d findings:%s", len(p.found), describe(p.found))
	}

	// A burst of 5000 in 100 requests of 50 messages: the threshold is
	// the 200-message floor (the token's own mean+6sd is about 47, five
	// times its mean 100, 1.5 times its peak about 60), so the fifth
	// request (250 messages counting the ordinary ones) crosses it.
	var got []Finding
	cum := 0.0
	for _, r := range minute(days2, burst{fp: tokA, ip: ipA, msgs: 5000, per: 50}, burst{fp: tokA, ip: ipA, msgs: 20}) {
		before := cum
		cum += float64(r.Messages)
		fs := only(p.add(r), tokA)
		for _, f := range fs {
			if f.Threshold < before || f.Threshold >= cum {
				t.Errorf("finding on a record taking messages from %v to %v, threshold %v", before, cum, f.Threshold)
			}
			if !f.At.Equal(r.Time) {
				t.Errorf("At = %v, want the crossing record's time %v", f.At, r.Time)
			}
		}
		got = append(got, fs...)
	}
	if len(got) != 1 {
		t.Fatalf("burst raised %d token findings while its window was open, want 1:%s", len(got), describe(got))
	}
	f := got[0]
	start := t0.Add(days2 * time.Minute)
	if f.Detector != "ewma" || f.Feature != "messages" || !f.Early || f.Kind != features.Token {
		t.Errorf("finding %+v, want an early ewma token finding on messages", f)
	}
	if floor := DefaultOptions().MinAbs[features.Token][features.Messages]; f.Threshold != floor {
		t.Errorf("threshold %v, want the %v-message floor", f.Threshold, floor)
	}
	if !f.Since.Equal(start) || !f.WindowStart.Equal(start) {
		t.Errorf("Since %v, WindowStart %v; want both %v", f.Since, f.WindowStart, start)
	}
	if f.Excess <= 0 || f.Excess > f.Observed {
		t.Errorf("Excess %v, want between 0 and the observed %v", f.Excess, f.Observed)
	}
	if len(f.TopPeers) != 1 || f.TopPeers[0] != ipA {
		t.Errorf("TopPeers %v, want [%s]", f.TopPeers, ipA)
	}

	quiet := func(from, to int) {
		t.Helper()
		for m := from; m < to; m++ {
			p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: poisson(rng, 20)}))
		}
	}
	bursty := func(m, msgs int) []Finding {
		t.Helper()
		fs := p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: msgs, per: 50}, burst{fp: tokA, ip: ipA, msgs: 20}))
		// Run into the next minute so the window closes.
		fs = append(fs, p.feed(minute(m+1, burst{fp: tokA, ip: ipA, msgs: 20}))...)
		return only(fs, tokA)
	}
	if fs := only(p.feed(minute(days2+1, burst{fp: tokA, ip: ipA, msgs: 20})), tokA); len(fs) != 0 {
		t.Errorf("closing the burst's window raised%s", describe(fs))
	}
	quiet(days2+2, days2+10)
	if fs := bursty(days2+10, 5000); len(fs) != 0 {
		t.Errorf("the same burst 10 minutes later (in the cooldown) raised%s", describe(fs))
	}
	quiet(days2+12, days2+13)
	fs := bursty(days2+13, 15000)
	if len(fs) != 1 || fs[0].Observed < 10000 || !fs[0].Early {
		t.Errorf("a 3x burst in the cooldown raised%s\nwant one early escalation at 2x the first", describe(fs))
	}
	quiet(days2+15, days2+50)
	fs = bursty(days2+50, 5000)
	if len(fs) != 1 || !fs[0].Since.Equal(t0.Add((days2+50)*time.Minute)) {
		t.Errorf("a burst after the cooldown raised%s\nwant one, starting a new episode", describe(fs))
	}
}

// popMinute returns minute m of 60 tokens, each from its own address,
// with rates spread evenly in log scale from 5 to about 470 messages a
// minute, plus extra. Fed for two hours, the tokens are ready after one
// and the population has learned 60 windows a minute since.
func popMinute(rng *rand.Rand, m int, extra ...burst) []*ingest.Record {
	var bs []burst
	for i := range 60 {
		rate := 5 * math.Pow(1.08, float64(i))
		bs = append(bs, burst{
			fp: fp(fmt.Sprintf("p%d", i)), ip: fmt.Sprintf("10.1.0.%d", i),
			msgs: poisson(rng, rate), per: max(1, int(rate/10)),
		})
	}
	return minute(m, append(bs, extra...)...)
}

// population feeds popMinute for minutes [from, to).
func population(p *pipeline, rng *rand.Rand, from, to int, extra func(m int) []burst) {
	for m := from; m < to; m++ {
		var bs []burst
		if extra != nil {
			bs = extra(m)
		}
		p.feed(popMinute(rng, m, bs...))
	}
}

func TestNewTokenPopulation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// The horizon sum would name the thief first (2000 messages in 30
	// minutes); this test is about the per-window population threshold.
	p := newPipeline(Options{HorizonMinAbs: [features.NumKinds]float64{1e12, 1e12}})
	population(p, rng, 0, 120, nil)
	if len(p.found) != 0 {
		t.Fatalf("the population raised%s", describe(p.found))
	}
	thief, newbie := fp("thief"), fp("newbie")
	population(p, rng, 120, 150, func(m int) []burst {
		bs := []burst{{fp: newbie, ip: "10.2.0.2", msgs: poisson(rng, 100), per: 5}}
		if m == 120 {
			bs = append(bs, burst{fp: thief, ip: "10.2.0.1", msgs: 20000, per: 200})
		}
		return bs
	})
	p.flush()
	if fs := only(p.found, newbie); len(fs) != 0 {
		t.Errorf("a new token with ordinary volume raised%s", describe(fs))
	}
	if fs := only(p.found, "10.2.0.2"); len(fs) != 0 {
		t.Errorf("the ordinary new token's address raised%s", describe(fs))
	}
	fs := only(p.found, thief)
	if len(fs) != 1 {
		t.Fatalf("a new token pulling 20000 messages raised %d findings, want 1:%s", len(fs), describe(fs))
	}
	f := fs[0]
	if f.Detector != "population" || f.Feature != "messages" || !f.Early {
		t.Errorf("finding %+v, want an early population finding on messages", f)
	}
	// log1p of the rates spans 1.8 to 6.2 evenly: mean about 4, sd
	// about 1.3 plus Poisson noise, so exp(mu + 4 sigma) is near 10^4.
	if f.Threshold < 3000 || f.Threshold > 15000 {
		t.Errorf("population threshold %v, want about 10^4", f.Threshold)
	}
	if others := len(p.found) - len(fs) - len(only(p.found, "10.2.0.1")); others != 0 {
		t.Errorf("%d findings about other entities:%s", others, describe(p.found))
	}
}

func TestAddressTryingManyTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := newPipeline(Options{})
	population(p, rng, 0, 120, nil)
	const scanner = "203.0.113.9"
	population(p, rng, 120, 125, func(m int) []burst {
		if m != 121 {
			return nil
		}
		var bs []burst
		for i := range 300 {
			status := 401
			if i%15 == 0 {
				status = 200
			}
			bs = append(bs, burst{fp: fp(fmt.Sprintf("s%d", i)), ip: scanner, status: status, reqs: 1})
		}
		return bs
	})
	p.flush()
	fs := only(p.found, scanner)
	if len(fs) != 1 {
		t.Fatalf("the scanning address raised %d findings, want 1:%s", len(fs), describe(fs))
	}
	f := fs[0]
	if f.Kind != features.IP || f.Detector != "population" || !f.Early {
		t.Errorf("finding %+v, want an early population finding on an address", f)
	}
	if f.Feature != "distinct_tokens" && f.Feature != "unauthorized" {
		t.Errorf("feature %q, want distinct_tokens or unauthorized", f.Feature)
	}
	if len(f.TopPeers) != 5 {
		t.Errorf("TopPeers %v, want 5 tokens", f.TopPeers)
	}
	if len(p.found) != 1 {
		t.Errorf("%d findings in all, want only the address's:%s", len(p.found), describe(p.found))
	}
}

func TestDailyHeavyHourIsLearned(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := newPipeline(Options{})
	perDay := make([]int, 4)
	for m := range 4 * 1440 {
		bs := []burst{{fp: tokA, ip: ipA, msgs: poisson(rng, 20)}}
		if m%1440 >= 120 && m%1440 < 180 { // the nightly export, 02:00 to 03:00
			bs = append(bs, burst{fp: tokA, ip: ipA, msgs: 2850 + rng.IntN(300), per: 100})
		}
		perDay[m/1440] += len(only(p.feed(minute(m, bs...)), tokA))
	}
	if perDay[0] != 1 {
		t.Errorf("first night's export raised %d findings, want 1 (new, then learned)", perDay[0])
	}
	for d, n := range perDay[1:] {
		if n != 0 {
			t.Errorf("night %d's export, seen the nights before, raised %d findings", d+2, n)
		}
	}
}

// mixed returns a scenario of everything: a population, a steady token
// with bursts in and after its cooldown, a new exfiltrating token and a
// scanning address, over minutes [0, to).
func mixed(to int) []*ingest.Record {
	rng := rand.New(rand.NewPCG(11, 12))
	var rs []*ingest.Record
	for m := range to {
		bs := []burst{{fp: tokA, ip: ipA, msgs: poisson(rng, 20)}}
		switch m {
		case 150, 160, 200:
			bs = append(bs, burst{fp: tokA, ip: ipA, msgs: 5000, per: 50})
		case 162:
			bs = append(bs, burst{fp: tokA, ip: ipA, msgs: 15000, per: 50})
		case 165:
			bs = append(bs, burst{fp: fp("thief"), ip: "10.2.0.1", msgs: 20000, per: 200})
		case 170:
			for i := range 300 {
				bs = append(bs, burst{fp: fp(fmt.Sprintf("s%d", i)), ip: "203.0.113.9", status: 401, reqs: 1})
			}
		}
		rs = append(rs, popMinute(rng, m, bs...)...)
	}
	return rs
}

func TestSnapshotRestoreMidStream(t *testing.T) {
	const split = 150 // the first burst's minute
	rs := mixed(210)
	whole := newPipeline(Options{})
	whole.feed(rs)
	whole.flush()
	t.Logf("findings:%s", describe(whole.found))
	if len(whole.found) < 5 {
		t.Fatalf("scenario raised only %d findings:%s", len(whole.found), describe(whole.found))
	}

	// The same records, stopped in the middle of the burst's window
	// (after its early finding), saved, restored, continued.
	cut := 0
	for cut < len(rs) && rs[cut].Time.Before(t0.Add(split*time.Minute+40*time.Second)) {
		cut++
	}
	first := newPipeline(Options{})
	first.feed(rs[:cut])
	if only(first.found, tokA) == nil {
		t.Fatal("the cut comes before the burst's early finding")
	}
	second := first.restart(t, Options{})
	second.found = append([]Finding(nil), first.found...)
	second.feed(rs[cut:])
	second.flush()
	if !reflect.DeepEqual(second.found, whole.found) {
		t.Errorf("restored run found%s\nuninterrupted run found%s", describe(second.found), describe(whole.found))
	}
	if !reflect.DeepEqual(second.det.Snapshot(), whole.det.Snapshot()) {
		t.Error("restored run ends in another detector state")
	}
}

func TestDeterminism(t *testing.T) {
	o := Options{MaxEntities: 40, SweepEvery: 10 * time.Minute, IdleTTL: 30 * time.Minute}
	rs := mixed(210)
	run := func() ([]Finding, DetState) {
		p := newPipeline(o)
		p.feed(rs)
		p.flush()
		return p.found, p.det.Snapshot()
	}
	f1, s1 := run()
	f2, s2 := run()
	if len(f1) == 0 {
		t.Fatal("no findings to compare")
	}
	if !reflect.DeepEqual(f1, f2) {
		t.Errorf("two runs found different things:%s\nvs%s", describe(f1), describe(f2))
	}
	if !reflect.DeepEqual(s1, s2) {
		t.Error("two runs ended in different states")
	}
	// 362 tokens and 63 addresses were seen: the bounds must have
	// forgotten most.
	if len(s1.Entities) > 200 {
		t.Errorf("%d entities remembered with MaxEntities %d", len(s1.Entities), o.MaxEntities)
	}
	if tok, ip := New(o).Entities(); tok != 0 || ip != 0 {
		t.Errorf("a new detector remembers %d tokens, %d addresses", tok, ip)
	}
}
