package nab

import (
	"math"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/internal/testshared"
)

// published are NAB's scores for its Windowed Gaussian (v1.0 README).
var published = map[string]float64{"standard": 39.6, "reward_low_FP_rate": 20.9, "reward_low_FN_rate": 47.4}

// TestWindowedGaussianOnCorpus checks the scorer and the detector against
// NAB's published Windowed Gaussian scores.
//
// Searching every distinct score finds the best thresholds within
// 2^-52 of 1, where 1 - Q(z) rounds, and scores 40.13 / 23.94 / 47.73: a
// little above the published 39.6 / 20.9 / 47.4, most of all with false
// positives costing double. The published scores are matched within 0.33
// by the threshold 1 - 1e-12 for all three profiles (39.51 / 20.59 /
// 47.32), as if NAB's search had stopped short of that last rounding
// region. So the best scores may sit above the published ones by up to
// 3.5 and below by no more than 0.5, and at 1 - 1e-12 all three must
// agree within 0.5.
func TestWindowedGaussianOnCorpus(t *testing.T) {
	dir := testshared.Dir(t, "data/nab")
	start := time.Now()
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Series) != 58 || c.Rows() != 365558 {
		t.Fatalf("corpus has %d series of %d rows, want 58 of 365,558", len(c.Series), c.Rows())
	}
	scores, err := Run(c, DefaultWindowedGaussian())
	if err != nil {
		t.Fatal(err)
	}
	best, err := Score(c, scores)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range best {
		want := published[r.Profile.Name]
		t.Logf("%s: %.2f (published %.1f) at threshold %v", r.Profile.Name, r.Normalized, want, r.Threshold)
		if r.Normalized < want-0.5 || r.Normalized > want+3.5 {
			t.Errorf("%s: best score %.2f, want within -0.5/+3.5 of the published %.1f", r.Profile.Name, r.Normalized, want)
		}
	}
	fixed, err := ScoreAt(c, scores, 1-1e-12)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fixed {
		want := published[r.Profile.Name]
		if math.Abs(r.Normalized-want) > 0.5 {
			t.Errorf("%s at threshold 1-1e-12: %.2f, want within 0.5 of the published %.1f", r.Profile.Name, r.Normalized, want)
		}
	}
	t.Logf("loaded, ran and scored in %v", time.Since(start))
}
