package nab

import (
	"math"
	"testing"
	"time"
)

// A steady series with one spike, past the detector's warm-up: every
// score is in [0,1] and the spike's is the highest by far, above the
// threshold (0.5) while the steady rows stay under it.
func TestSentinelEWMAScoresSpike(t *testing.T) {
	d, ok := Detectors["sentinel_ewma"]
	if !ok {
		t.Fatal("sentinel_ewma is not registered")
	}
	const n, spike = 300, 200
	st := d.New()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	scores := make([]float64, n)
	for i := range scores {
		v := 100 + 10*math.Sin(float64(i)/5)
		if i == spike {
			v = 1000
		}
		scores[i] = st.Score(t0.Add(time.Duration(i)*5*time.Minute), v)
		if !(scores[i] >= 0 && scores[i] <= 1) {
			t.Fatalf("row %d scored %v, outside [0,1]", i, scores[i])
		}
	}
	if scores[spike] <= 0.5 {
		t.Errorf("spike scored %v, want above 0.5", scores[spike])
	}
	for i, s := range scores {
		if i != spike && s >= 0.5 {
			t.Errorf("steady row %d scored %v, want under 0.5", i, s)
		}
	}
}
