package detect

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Fed standard normal raw scores one at a time, the tracker's tail
// probabilities are the normal ones: a level of 2 is about 2.3% likely,
// of 3 about 0.13%, and -1 about 84%.
func TestLikelihoodTailOnKnownDistribution(t *testing.T) {
	l := NewLikelihood(LikelihoodOptions{History: 20000, Short: 1, Learning: 100, Refit: 100, MinDev: 1e-6})
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		l.Update(r.NormFloat64())
	}
	for _, c := range []struct{ raw, want float64 }{{2, 0.02275}, {3, 0.00135}, {-1, 0.8413}, {0, 0.5}} {
		probe := *l // judge each probe against the same fit
		probe.short = append([]float64(nil), l.short...)
		probe.hist = append([]float64(nil), l.hist...)
		got := UpperTail(probe.Update(c.raw))
		if math.Abs(got-c.want) > 0.15*c.want {
			t.Errorf("raw %v: tail %.5f, want %.5f within 15%%", c.raw, got, c.want)
		}
	}
}

// Averaging: with Short = 4, one raw score of 4 on a stream of zeros
// makes a level of 1, judged against the fitted zeros at MinDev.
func TestLikelihoodAveragesShortWindow(t *testing.T) {
	l := NewLikelihood(LikelihoodOptions{History: 100, Short: 4, Learning: 10, Refit: 1, MinDev: 0.5})
	for range 50 {
		l.Update(0)
	}
	if z := l.Update(4); z != 2 {
		t.Errorf("level 1 against mean 0, deviation 0.5: z = %v, want 2", z)
	}
	// The blip stays in the short window for three more scores.
	for i := range 3 {
		if z := l.Update(0); !(z > 0) {
			t.Errorf("score %d after the blip: z = %v, want above 0", i+1, z)
		}
	}
}

// Until Learning scores are seen nothing is judged: z is -Inf, tail 1,
// surprise 0.
func TestLikelihoodLearning(t *testing.T) {
	l := NewLikelihood(LikelihoodOptions{History: 100, Short: 1, Learning: 20, Refit: 5, MinDev: 1e-3})
	for i := range 20 {
		z := l.Update(float64(i % 3))
		if !math.IsInf(z, -1) || UpperTail(z) != 1 || Surprise(z) != 0 {
			t.Fatalf("score %d while learning: z %v", i, z)
		}
	}
	if z := l.Update(100); !(z > 10) {
		t.Errorf("after learning, a raw 100 on 0..2: z = %v, want far above 10", z)
	}
	if l.Seen() != 21 {
		t.Errorf("Seen = %d, want 21", l.Seen())
	}
}

// Surprise is -log10 of the tail and keeps growing where the tail
// underflows, continuously across its switch to the asymptotic form.
func TestSurprise(t *testing.T) {
	for _, z := range []float64{-3, 0, 1, 3, 5, 10, 20} {
		if got, want := Surprise(z), -math.Log10(UpperTail(z)); math.Abs(got-want) > 1e-9*max(1, want) {
			t.Errorf("Surprise(%v) = %v, want %v", z, got, want)
		}
	}
	below, above := Surprise(29.999999), Surprise(30)
	if math.Abs(above-below)/below > 1e-3 {
		t.Errorf("Surprise jumps at 30: %v then %v", below, above)
	}
	prev := 0.0
	for z := 0.0; z < 1000; z += 0.5 {
		s := Surprise(z)
		if !(s > prev) || math.IsInf(s, 0) {
			t.Fatalf("Surprise(%v) = %v, not above %v", z, s, prev)
		}
		prev = s
	}
}

func TestLikelihoodSurvivesExtremeScores(t *testing.T) {
	o := LikelihoodOptions{History: 500, Short: 5, Learning: 50, Refit: 10, MinDev: 1e-3}
	clean, poisoned := NewLikelihood(o), NewLikelihood(o)
	for i := range 800 {
		x := float64(i%10) / 10
		clean.Update(x)
		switch i {
		case 100:
			poisoned.Update(math.Inf(1))
		case 120:
			poisoned.Update(1e17)
		default:
			if z := poisoned.Update(x); math.IsNaN(z) {
				t.Fatalf("row %d, after an infinite score: z is NaN", i)
			}
		}
	}
	// Once the extremes have left the history, the poisoned tracker
	// judges like the clean one again: no NaN, no sum left off.
	for i := range 5 {
		x := float64(i) / 10
		a, b := clean.Update(x), poisoned.Update(x)
		if math.IsNaN(b) || math.Abs(UpperTail(a)-UpperTail(b)) > 0.05 {
			t.Fatalf("after extreme scores: z %v against %v without them", b, a)
		}
	}
}
