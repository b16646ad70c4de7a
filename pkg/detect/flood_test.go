package detect

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// floodRig drives an aggregator bounded by a detector the way the engine
// does: records into windows, early judgements, windows closed a minute
// at a time with the records the bound refused.
type floodRig struct {
	t        *testing.T
	d        *Detector
	agg      *features.Aggregator
	maxNew   int
	findings []Finding
	maxOpen  int
}

func newFloodRig(t *testing.T, maxEntities, maxNew int) *floodRig {
	d := New(Options{MaxEntities: maxEntities})
	agg := features.New(features.Options{Known: d.Known, MaxNew: maxNew})
	return &floodRig{t: t, d: d, agg: agg, maxNew: maxNew}
}

// add counts one record of token fp from addr at t pulling msgs.
func (r *floodRig) add(t time.Time, fp string, addr netip.Addr, msgs int) {
	rec := ingest.Record{Time: t, IP: addr, Cred: ingest.Credential{FP: fp}, Status: 200, Messages: int64(msgs)}
	known := r.d.Known(features.Token, fp)
	tok, ip, _ := r.agg.Add(&rec)
	if known && tok == nil {
		r.t.Fatalf("%v: the line of known token %s was refused", t, fp)
	}
	for _, w := range []*features.Window{tok, ip} {
		if w != nil {
			r.findings = append(r.findings, r.d.Peek(w)...)
		}
	}
	r.maxOpen = max(r.maxOpen, r.agg.Open())
}

// closeMinute closes the window of minute m and checks the bound.
func (r *floodRig) closeMinute(m int) {
	r.agg.AdvanceAll(t0.Add(time.Duration(m+1)*time.Minute), func(ws []*features.Window) {
		r.d.AddRefused(r.agg.TakeRefused(ws[0].End))
		r.findings = append(r.findings, r.d.CloseAll(ws)...)
	})
	tokens, ips := r.d.Entities()
	if tokens > r.d.opts.maxEntities(features.Token) || ips > r.d.opts.maxEntities(features.IP) {
		r.t.Fatalf("minute %d: %d tokens and %d addresses remembered, over the bound %d",
			m, tokens, ips, r.d.opts.MaxEntities)
	}
}

// A flood of 200,000 random tokens against limits of 1000 entities and
// 500 new windows: the bounds hold, the victim's two-day baseline
// survives although it was idle for the hour before the flood (so the
// longest idle would go first) and it still alerts when it pulls 50
// times its usual, and the flood alerts once.
func TestFloodKeepsVictim(t *testing.T) {
	const (
		maxEntities, maxNew = 1000, 500
		history             = 2 * 1440 // minutes of the victim's baseline
		floodStart, floodN  = history + 60, 200_000
		floodMinutes        = 10
		pullAt              = floodStart + floodMinutes + 5
	)
	r := newFloodRig(t, maxEntities, maxNew)
	rng := rand.New(rand.NewPCG(7, 7))
	victimIP := netip.MustParseAddr("198.51.100.7")
	attacker := netip.MustParseAddr("203.0.113.66")
	for m := range pullAt + 3 {
		at := t0.Add(time.Duration(m) * time.Minute)
		if m%30 == 0 { // ordinary churn: a new token now and then
			r.add(at.Add(30*time.Second), fmt.Sprintf("churn%06d", m), netip.AddrFrom4([4]byte{10, 1, byte(m >> 8), byte(m)}), 3)
		}
		switch {
		case m < history:
			r.add(at.Add(45*time.Second), "victim", victimIP, 8+rng.IntN(5))
		case m >= floodStart && m < floodStart+floodMinutes:
			n := floodN / floodMinutes
			for i := range n {
				r.add(at.Add(time.Duration(i)*time.Minute/time.Duration(n)),
					fmt.Sprintf("%016x", rng.Uint64()), attacker, 1)
			}
		case m == pullAt:
			for i := range 50 { // 500 messages: 50 times its usual 10
				r.add(at.Add(time.Duration(i)*time.Second), "victim", victimIP, 10)
			}
		}
		// Steady tenants, after the flood's lines: their windows open
		// when the new ones have used up the bound.
		for i := range 20 { // steady tenants
			r.add(at.Add(time.Duration(i)*time.Second), fmt.Sprintf("regular%02d", i),
				netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 5+rng.IntN(5))
		}
		r.closeMinute(m)
		if m == pullAt-1 && !r.d.Known(features.Token, "victim") {
			t.Fatal("the victim's baseline was evicted by the flood")
		}
	}
	if limit := 2*maxNew + 100; r.maxOpen > limit {
		t.Errorf("up to %d windows open at once, want at most %d: the bound on new entities did not hold", r.maxOpen, limit)
	}
	if tok, _ := r.agg.Overflow(); tok < floodN-floodMinutes*maxNew {
		t.Errorf("%d token records refused, want at least %d", tok, floodN-floodMinutes*maxNew)
	}
	var floods, victim int
	for _, f := range r.findings {
		switch {
		case f.Detector == "flood" && f.Kind == features.Token:
			floods++
			if f.Observed < floodN/floodMinutes || f.Feature != "new_tokens" {
				t.Errorf("flood finding %+v: want new_tokens of at least %d", f, floodN/floodMinutes)
			}
		case f.Key == "victim":
			victim++
			if f.Detector != "ewma" {
				t.Errorf("victim judged by %s, want its own baseline (ewma): it was forgotten", f.Detector)
			}
		}
	}
	if floods != 1 {
		t.Errorf("%d token flood findings, want exactly 1 (the cooldown covers the flood's ten minutes)", floods)
	}
	if victim == 0 {
		t.Error("the victim pulling 50 times its usual after the flood raised no finding")
	}
}

// The trim forgets short histories first whatever their age, keepers
// last, and within one class the longest idle, in linear time: the
// selection must agree with a full sort.
func TestSelectOldest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + rng.IntN(50)
		es := make([]*entity, n)
		for i := range es {
			es[i] = &entity{key: fmt.Sprintf("k%03d", rng.IntN(1000)), first: int64(rng.IntN(5))}
		}
		k := rng.IntN(n + 1)
		selectOldest(es, k)
		for i := range k {
			for j := k; j < n; j++ {
				if older(es[j], es[i]) < 0 {
					t.Fatalf("trial %d: %s (seen %d) kept while older %s (seen %d) selected",
						trial, es[i].key, es[i].first, es[j].key, es[j].first)
				}
			}
		}
	}
}

// The flood detector's state survives a checkpoint: restored, it does
// not alert again for the same flood.
func TestFloodStateSurvivesRestore(t *testing.T) {
	d := New(Options{})
	st := &d.flood.st[features.Token]
	*st = FloodState{First: 1, Ends: 100, N: 40, Mean: 2, Var: 1, LastAlert: 99, Since: 5, Alerted: 3000}
	s := d.Snapshot()
	e := New(Options{})
	if err := e.Restore(s); err != nil {
		t.Fatal(err)
	}
	if got := e.flood.st[features.Token]; got != *st {
		t.Errorf("restored flood state %+v, want %+v", got, *st)
	}
}
