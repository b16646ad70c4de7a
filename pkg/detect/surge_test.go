package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// surgeRig is a platform of 120 tokens pulling pages of ten all day,
// twelve times busier in office hours (09:00 to 17:00 UTC), for three
// days. The first day teaches the rhythm, and its office hours alert.
type surgeRig struct {
	p   *pipeline
	rng *rand.Rand
}

const (
	surgeTokens = 120
	surgeDay    = 24 * 60
)

func newSurgeRig(o Options) *surgeRig {
	r := &surgeRig{p: newPipeline(o), rng: rand.New(rand.NewPCG(5, 5))}
	for m := range 3 * surgeDay {
		if m == surgeDay {
			r.p.found = nil
		}
		r.minute(m, 1, -1, 0)
	}
	return r
}

// minute feeds minute m with every token's traffic times lift, and
// token thief's (-1 for none) times theft.
func (r *surgeRig) minute(m int, lift float64, thief int, theft float64) {
	var bs []burst
	office := m%surgeDay >= 9*60 && m%surgeDay < 17*60
	for i := range surgeTokens {
		rate := 0.5
		if office {
			rate *= 12
		}
		rate *= lift
		if i == thief {
			rate *= theft
		}
		reqs := poisson(r.rng, rate)
		bs = append(bs, burst{fp: fp(fmt.Sprintf("s%d", i)), ip: fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), msgs: 10 * reqs, per: 10})
	}
	r.p.feed(minute(m, bs...))
}

// surgeHour runs an office hour of day four at lift, with thief at
// theft, and returns the findings about tokens.
func surgeHour(t *testing.T, o Options, lift float64, thief int, theft float64) []Finding {
	t.Helper()
	r := newSurgeRig(o)
	if len(r.p.found) != 0 {
		t.Fatalf("ordinary days alerted:%s", describe(r.p.found))
	}
	from := 3*surgeDay + 11*60
	for m := from; m < from+60; m++ {
		r.minute(m, lift, thief, theft)
	}
	for m := from + 60; m < from+90; m++ {
		r.minute(m, 1, -1, 0)
	}
	r.p.flush()
	return r.p.found
}

func TestPlatformSurgeMovesTheBaselines(t *testing.T) {
	if fs := surgeHour(t, Options{}, 2.5, -1, 0); len(fs) != 0 {
		t.Fatalf("every tenant two and a half times busier for an hour alerted:%s", describe(fs))
	}
	// The same hour with the surge measure kept at 1 alerts: the test
	// fails if the measure does nothing.
	if fs := surgeHour(t, Options{SurgeOff: true}, 2.5, -1, 0); len(fs) == 0 {
		t.Fatal("without the surge measure the surge did not alert; the test proves nothing")
	}
}

func TestSurgeDoesNotExcuseOneThief(t *testing.T) {
	// One token pulling three times its office hours while the others
	// are ordinary: the median moves by nothing.
	fs := only(surgeHour(t, Options{}, 1, 7, 3), fp("s7"))
	if len(fs) == 0 {
		t.Fatal("a token pulling three times its usual hour was not alerted")
	}
}

// feedSurge folds n window ends, from minute *m on, each of 100 windows
// whose log ratios are those of ratio(i), i the window's index.
func feedSurge(s *SurgeState, m *int, n int, ratio func(i int) float64) {
	const minute = int64(60e9)
	for range n {
		*m++
		end := t0.UnixNano() + int64(*m)*minute
		s.fold(end, minute)
		for i := range 100 {
			usual := 10.0
			s.add(math.Expm1(ratio(i)+math.Log1p(usual)), usual)
		}
	}
	*m++
	s.fold(t0.UnixNano()+int64(*m)*minute, minute)
}

func TestSurgeMeasure(t *testing.T) {
	var s SurgeState
	m := 0
	ordinary := func(i int) float64 { return 0.3 * float64(i%7-3) / 3 }
	feedSurge(&s, &m, 2*surgeDay, ordinary)
	if f := s.factor(); f != 1 {
		t.Fatalf("ordinary days give a factor of %v, want 1", f)
	}
	feedSurge(&s, &m, 30, func(int) float64 { return math.Log(2.5) })
	if f := s.factor(); f < 2 || f > 2.6 {
		t.Fatalf("half an hour of everyone 2.5 times busier gives %v, want about 2.5, less what its hour has learned", f)
	}
	feedSurge(&s, &m, 30, func(int) float64 { return math.Log(10) })
	if f := s.factor(); math.Abs(f-3) > 1e-9 {
		t.Fatalf("everyone ten times busier gives %v, want the cap, 3", f)
	}
	feedSurge(&s, &m, 60, ordinary)
	feedSurge(&s, &m, 30, func(i int) float64 {
		if i < 10 {
			return math.Log(1000) // a tenth of the platform pulling everything
		}
		return ordinary(i)
	})
	if f := s.factor(); f > 1.05 {
		t.Fatalf("a tenth of the entities pulling a thousand times their usual gives %v, want 1", f)
	}
}

func TestSurgeFadesWithoutWindows(t *testing.T) {
	var s SurgeState
	m := 0
	feedSurge(&s, &m, 2*surgeDay, func(int) float64 { return 0 })
	feedSurge(&s, &m, 30, func(int) float64 { return math.Log(10) })
	if f := s.factor(); f < 2.9 {
		t.Fatalf("a surge at the cap gives %v, want 3", f)
	}
	// The platform goes quiet: a few windows a minute for half an hour,
	// then nothing for hours.
	const minute = int64(60e9)
	for range 30 {
		m++
		s.fold(t0.UnixNano()+int64(m)*minute, minute)
		for range 10 {
			s.add(100, 10)
		}
	}
	if f := s.factor(); f > 1.01 {
		t.Fatalf("half an hour too quiet to measure still lifts by %v, want about 1", f)
	}
	feedSurge(&s, &m, 30, func(int) float64 { return math.Log(10) })
	m += 8 * 60
	s.fold(t0.UnixNano()+int64(m)*minute, minute)
	if f := s.factor(); f > 1.01 {
		t.Fatalf("eight hours without a window still lift by %v, want about 1", f)
	}
}
