package nab

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/internal/testshared"
)

// series is a noisy daily-ish wave with a level shift and a spike, long
// enough for every view to be past learning.
func shiftSpikeWave(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float64, n)
	for i := range v {
		v[i] = 50 + 20*math.Sin(2*math.Pi*float64(i)/288) + 3*r.NormFloat64()
		if i >= n*3/4 {
			v[i] += 15
		}
	}
	v[n/2] = 400
	return v
}

func streamAll(d Detector, v []float64) []float64 {
	st := d.New()
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = st.Score(t0.Add(time.Duration(i)*5*time.Minute), x)
	}
	return out
}

// Causality: the score of row t uses only rows up to t, so changing every
// row after t leaves the scores up to t exactly as they were.
func TestSentinelLikelihoodIsCausal(t *testing.T) {
	d := DefaultSentinelLikelihood()
	testCausal(t, d)
	d.Daily = true
	testCausal(t, d)
}

func testCausal(t *testing.T, d SentinelLikelihood) {
	t.Helper()
	a := shiftSpikeWave(1, 4000)
	want := streamAll(d, a)
	for _, cut := range []int{0, 151, 1999, 2000, 3000, 3998} {
		b := append([]float64(nil), a[:cut+1]...)
		b = append(b, shiftSpikeWave(uint64(cut)+9, 4000)[cut+1:]...)
		for i := range b[cut+1:] {
			b[cut+1+i] *= -3 // far outside anything seen, to disturb every view
		}
		got := streamAll(d, b)
		for i := 0; i <= cut; i++ {
			if got[i] != want[i] {
				t.Fatalf("rows after %d changed: row %d scored %v, was %v", cut, i, got[i], want[i])
			}
		}
	}
}

// Determinism: two streams over the same rows score them identically,
// and every score is in [0,1].
func TestSentinelLikelihoodIsDeterministic(t *testing.T) {
	d := DefaultSentinelLikelihood()
	v := shiftSpikeWave(2, 3000)
	a, b := streamAll(d, v), streamAll(d, v)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("row %d scored %v then %v", i, a[i], b[i])
		}
		if !(a[i] >= 0 && a[i] <= 1) {
			t.Fatalf("row %d scored %v, outside [0,1]", i, a[i])
		}
	}
}

// The spike is a detection (the top score, beyond the range seen), and
// the rows right after it are silenced below every undamped score.
func TestSentinelLikelihoodDetectsAndSuppresses(t *testing.T) {
	d := DefaultSentinelLikelihood()
	v := shiftSpikeWave(3, 4000)
	s := streamAll(d, v)
	spike := len(v) / 2
	if s[spike] != 1 {
		t.Errorf("spike scored %v, want 1", s[spike])
	}
	for i := spike + 1; i <= spike+d.Suppress; i++ {
		if s[i] > d.SuppressFactor {
			t.Fatalf("row %d, %d after the detection, scored %v, want at most %v", i, i-spike, s[i], d.SuppressFactor)
		}
	}
}

// TestSentinelLikelihoodOnCorpus holds the detector's NAB scores at what
// was measured (74.3 / 68.4 / 78.3), less a margin of 0.5.
func TestSentinelLikelihoodOnCorpus(t *testing.T) {
	dir := testshared.Dir(t, "data/nab")
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	scores, err := Run(c, DefaultSentinelLikelihood())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Score(c, scores)
	if err != nil {
		t.Fatal(err)
	}
	floor := map[string]float64{"standard": 73.8, "reward_low_FP_rate": 67.9, "reward_low_FN_rate": 77.8}
	for _, r := range res {
		t.Logf("%s: %.2f at threshold %v (%d detected, %d missed, %d false positives)", r.Profile.Name, r.Normalized, r.Threshold, r.Detected, r.Missed, r.FalsePositives)
		if r.Normalized < floor[r.Profile.Name] {
			t.Errorf("%s: %.2f, want at least %.1f", r.Profile.Name, r.Normalized, floor[r.Profile.Name])
		}
	}
}

// TestSentinelLikelihoodAblation logs the corpus scores of the detector
// with each piece taken out or swapped, all in one run, for the table in
// docs/detection.md. It takes a few seconds, so it runs only when
// SENTINEL_NAB_ABLATION is set.
func TestSentinelLikelihoodAblation(t *testing.T) {
	if os.Getenv("SENTINEL_NAB_ABLATION") == "" {
		t.Skip("skipped: set SENTINEL_NAB_ABLATION=1 to run the ablation")
	}
	c, err := Load(testshared.Dir(t, "data/nab"))
	if err != nil {
		t.Fatal(err)
	}
	b := DefaultSentinelLikelihood()
	type variant struct {
		name string
		d    SentinelLikelihood
	}
	vs := []variant{{"all (default)", b}}
	add := func(name string, change func(*SentinelLikelihood)) {
		d := b
		change(&d)
		vs = append(vs, variant{name, d})
	}
	add("without context view", func(d *SentinelLikelihood) { d.Context = false })
	add("without entropy view", func(d *SentinelLikelihood) { d.Entropy = false })
	add("without spatial view (shape kept)", func(d *SentinelLikelihood) { d.Spatial = false })
	add("without suppression", func(d *SentinelLikelihood) { d.Suppress = 0 })
	add("max of surprises, not sum", func(d *SentinelLikelihood) { d.Sum = false })
	add("without shape view", func(d *SentinelLikelihood) { d.Shape = false })
	add("shape view, margin 1", func(d *SentinelLikelihood) { d.ShapeMargin = 1 })
	add("shape view, margin 1.5", func(d *SentinelLikelihood) { d.ShapeMargin = 1.5 })
	add("shape view, margin 3", func(d *SentinelLikelihood) { d.ShapeMargin = 3 })
	add("shape view, 8 single values", func(d *SentinelLikelihood) { d.ShapeStep = 1 })
	add("shape view, 8 means of 8", func(d *SentinelLikelihood) { d.ShapeStep = 8 })
	add("shape view, 4 means of 4", func(d *SentinelLikelihood) { d.ShapeDim = 4 })
	add("shape view, 3000 references", func(d *SentinelLikelihood) { d.ShapeRefs = 3000 })
	add("shape view, calibrated on 500", func(d *SentinelLikelihood) { d.ShapeCalib = 500 })
	add("shape view, calibrated on 3000", func(d *SentinelLikelihood) { d.ShapeCalib = 3000 })
	add("without stuck view", func(d *SentinelLikelihood) { d.Stuck = false })
	add("stuck view after 30 rows", func(d *SentinelLikelihood) { d.StuckMin = 30 })
	add("stuck view after 100 rows", func(d *SentinelLikelihood) { d.StuckMin = 100 })
	add("stuck view after 200 rows", func(d *SentinelLikelihood) { d.StuckMin = 200 })
	add("with daily view", func(d *SentinelLikelihood) { d.Daily = true })
	add("with daily view, weight 0.3", func(d *SentinelLikelihood) { d.Daily, d.DailyWeight = true, 0.3 })
	add("with daily view, weight 1", func(d *SentinelLikelihood) { d.Daily, d.DailyWeight = true, 1 })
	add("with daily view, 24 values an hour", func(d *SentinelLikelihood) { d.Daily, d.DailyMin = true, 24 })
	add("with daily view, 6 values an hour", func(d *SentinelLikelihood) { d.Daily, d.DailyMin = true, 6 })
	add("without decaying penalty (the cut alone)", func(d *SentinelLikelihood) { d.Penalty = 0 })
	add("penalty 1 over 500 rows", func(d *SentinelLikelihood) { d.Penalty = 1 })
	add("penalty 3 over 500 rows", func(d *SentinelLikelihood) { d.Penalty = 3 })
	add("penalty 2 over 250 rows", func(d *SentinelLikelihood) { d.PenaltyRows = 250 })
	add("penalty 2 over 1000 rows", func(d *SentinelLikelihood) { d.PenaltyRows = 1000 })
	add("with error view", func(d *SentinelLikelihood) { d.Error = true })
	add("likelihood without averaging (Short 1)", func(d *SentinelLikelihood) { d.Likelihood.Short = 1 })
	add("spatial, shape and suppression only", func(d *SentinelLikelihood) { d.Context, d.Entropy = false, false })
	for _, v := range vs {
		scores, err := Run(c, v.d)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Score(c, scores)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("| %s | %.1f | %.1f | %.1f | %d | %d |", v.name, res[0].Normalized, res[1].Normalized, res[2].Normalized, res[0].Detected, res[0].FalsePositives)
	}
}

// The shape view flags a shape never seen, inside the range seen: a
// wave that goes flat halfway up scores the top score soon after it
// flattens, and the wave before it never does.
func TestSentinelLikelihoodShapeNovelty(t *testing.T) {
	d := DefaultSentinelLikelihood()
	d.Context, d.Entropy, d.Spatial = false, false, false
	r := rand.New(rand.NewPCG(4, 7))
	v := make([]float64, 3000)
	for i := range v {
		v[i] = 50 + 20*math.Sin(2*math.Pi*float64(i)/50) + r.NormFloat64()
		if i >= 2500 && i < 2600 {
			v[i] = 50 + r.NormFloat64()
		}
	}
	s := streamAll(d, v)
	for i := range 2500 {
		if s[i] == 1 {
			t.Fatalf("row %d of the ordinary wave scored 1", i)
		}
	}
	first := -1
	for i := 2500; i < 2600; i++ {
		if s[i] == 1 {
			first = i
			break
		}
	}
	if first < 0 || first > 2500+d.ShapeDim*d.ShapeStep {
		t.Fatalf("the flat stretch from row 2500 was first scored 1 at row %d, want within %d rows", first, d.ShapeDim*d.ShapeStep)
	}
}

// The stuck view flags a value that stays the same for longer than any
// run before it, once, and never a run no longer than one seen before.
func TestSentinelLikelihoodStuck(t *testing.T) {
	d := DefaultSentinelLikelihood()
	d.Context, d.Entropy, d.Spatial, d.Shape = false, false, false, false
	r := rand.New(rand.NewPCG(5, 7))
	v := make([]float64, 3000)
	for i := range v {
		v[i] = 50 + 20*math.Sin(2*math.Pi*float64(i)/50) + r.NormFloat64()
		if i >= 1000 && i < 1080 { // an earlier run of 80
			v[i] = 10
		}
		if i >= 2000 && i < 2070 { // shorter than it: ordinary
			v[i] = 10
		}
		if i >= 2500 && i < 2700 { // longer: stuck
			v[i] = 30
		}
	}
	s := streamAll(d, v)
	var ones []int
	for i, x := range s {
		if x == 1 {
			ones = append(ones, i)
		}
	}
	// The run from 1000 is the longest yet once past 50 rows; the one
	// from 2500 once past 80.
	want := []int{1000 + d.StuckMin, 2580}
	if len(ones) != len(want) || ones[0] != want[0] || ones[1] != want[1] {
		t.Fatalf("rows scored 1: %v, want %v", ones, want)
	}
}

// The daily view flags a day whose wave does not come: on five-minute
// rows of a daily wave, a flat day scores a detection, and the days
// before it never do.
func TestSentinelLikelihoodDaily(t *testing.T) {
	d := DefaultSentinelLikelihood()
	d.Context, d.Entropy, d.Spatial, d.Shape, d.Stuck = false, false, false, false, false
	d.Daily = true
	r := rand.New(rand.NewPCG(6, 7))
	const day = 288
	v := make([]float64, 12*day)
	for i := range v {
		v[i] = 50 + 20*math.Sin(2*math.Pi*float64(i)/day) + r.NormFloat64()
		if i >= 10*day && i < 11*day {
			v[i] = 50 + r.NormFloat64()
		}
	}
	s := streamAll(d, v)
	level := d.Surprise / (1 + d.Surprise)
	for i := range 10 * day {
		if s[i] >= level {
			t.Fatalf("row %d of the ordinary days scored %v, a detection", i, s[i])
		}
	}
	if m := slices.Max(s[10*day : 11*day]); m < level {
		t.Fatalf("the flat day scored at most %v, want a detection (%v)", m, level)
	}
}
