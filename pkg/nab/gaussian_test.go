package nab

import (
	"math"
	"testing"
	"time"
)

// twoSigma is 1 - Q(2): a value two deviations from the mean.
const twoSigma = 0.9772498680518208

func scoreAll(st Stream, values ...float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = st.Score(time.Time{}, v)
	}
	return out
}

func wantScores(t *testing.T, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("row %d scored %v, want %v", i, got[i], want[i])
		}
	}
}

// The first value has nothing to compare with (0); the second is off the
// flat window {0} (1). Then {0, 2} fits mean 1 and deviation 1: a 1 is at
// the mean (0.5), a 3 or a -1 two deviations out on either side.
func TestWindowedGaussianScores(t *testing.T) {
	wantScores(t, scoreAll(WindowedGaussian{Window: 2, Step: 1}.New(), 0, 2, 1), []float64{0, 1, 0.5})
	for _, v := range []float64{3, -1} {
		got := scoreAll(WindowedGaussian{Window: 2, Step: 100}.New(), 0, 2, v)
		wantScores(t, got, []float64{0, 1, twoSigma})
	}
}

// Once full, the window holds still until Step new values have come, then
// slides by all of them at once: both 10s are judged against {0, 2} (nine
// deviations out: 1), and only then is the window {10, 10}, flat, so 10
// scores 0.5 and 10.5 scores 1.
func TestWindowedGaussianSlidesByStep(t *testing.T) {
	got := scoreAll(WindowedGaussian{Window: 2, Step: 2}.New(), 0, 2, 10, 10, 10, 10.5)
	wantScores(t, got, []float64{0, 1, 1, 1, 0.5, 1})
}
