package nab

import (
	"math"
	"testing"
	"time"
)

// The expected values below were worked out by hand from the README's
// formulas. sigma(y) = 2/(1+exp(5y)) - 1 is tanh(-5y/2), so sigma(-1) =
// tanh(2.5) = 0.98661, sigma(-0.1) = tanh(0.25) = 0.24492 and sigma(1/9) =
// tanh(-5/18) = -0.27085.
const (
	lateWorth  = 0.24824154977542992        // tanh(0.25)/tanh(2.5): last row of a 10-row window
	midWorth   = 0.8597925669097837         // tanh(1.25)/tanh(2.5): 5 rows before the end
	justAfter  = -0.11 * 0.2708471185167214 // A_FP * sigma(1/9) = -0.11 * tanh(5/18), one row past a 10-row window
	pastWindow = -0.11 * 0.9922979352881395 // A_FP * sigma(10/9) = -0.11 * tanh(25/9), ten rows past it
)

// testSeries is n rows, one a minute, with the given windows.
func testSeries(name string, n int, windows ...Window) *Series {
	s := &Series{Name: name, Windows: windows}
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		t := t0.Add(time.Duration(i) * time.Minute)
		s.Times = append(s.Times, t)
		s.Timestamps = append(s.Timestamps, t.Format(rowLayout))
		s.Values = append(s.Values, "0")
		s.Floats = append(s.Floats, 0)
	}
	return s
}

// detections scores n rows 0 but for the given rows, scored 1.
func detections(n int, rows ...int) []float64 {
	out := make([]float64, n)
	for _, r := range rows {
		out[r] = 1
	}
	return out
}

func standard(t *testing.T, res []Result) Result {
	t.Helper()
	if len(res) != 3 || res[0].Profile.Name != "standard" {
		t.Fatalf("results %+v, want the three profiles, standard first", res)
	}
	return res[0]
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestProbation(t *testing.T) {
	for n, want := range map[int]int{40: 6, 4032: 604, 5000: 750, 22695: 750} {
		if got := Probation(n); got != want {
			t.Errorf("Probation(%d) = %d, want %d", n, got, want)
		}
	}
}

// Each case: a 40-row series (probation 6) with one window of 10 rows,
// rows 20 to 29, detections at the given rows, scored at threshold 1.
func TestScoreAtDetectionPositions(t *testing.T) {
	cases := []struct {
		name      string
		rows      []int
		raw       float64
		detected  int
		falsePos  int
		normalize float64
	}{
		{"first row of the window", []int{20}, 1, 1, 0, 100},
		{"last row of the window", []int{29}, lateWorth, 1, 0, 100 * (lateWorth + 1) / 2},
		{"middle of the window", []int{25}, midWorth, 1, 0, 100 * (midWorth + 1) / 2},
		{"the earliest of several counts, once", []int{29, 25, 20}, 1, 1, 0, 100},
		{"before the first window", []int{10}, -1 - 0.11, 0, 1, 100 * -0.11 / 2},
		{"just after the window", []int{30}, -1 + justAfter, 0, 1, 100 * justAfter / 2},
		{"ten rows after the window", []int{39}, -1 + pastWindow, 0, 1, 100 * pastWindow / 2},
		{"each false positive costs", []int{10, 11, 20}, 1 - 0.22, 1, 2, 100 * (2 - 0.22) / 2},
		{"no detection", nil, -1, 0, 0, 0},
		{"probation rows ignored", []int{0, 5}, -1, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			corpus := &Corpus{Series: []*Series{testSeries("a/a.csv", 40, Window{20, 29})}}
			res, err := ScoreAt(corpus, [][]float64{detections(40, c.rows...)}, 1)
			if err != nil {
				t.Fatal(err)
			}
			got := standard(t, res)
			if !near(got.Raw, c.raw) || got.Detected != c.detected || got.FalsePositives != c.falsePos || !near(got.Normalized, c.normalize) {
				t.Errorf("got raw %v (normalised %v), %d detected, %d false positives; want %v (%v), %d, %d",
					got.Raw, got.Normalized, got.Detected, got.FalsePositives, c.raw, c.normalize, c.detected, c.falsePos)
			}
		})
	}
}

// Three widths after a window a false positive costs the whole A_FP: here
// a window of 2 rows, so 4 rows past it is 4 widths-less-one.
func TestScoreAtFarAfterWindow(t *testing.T) {
	corpus := &Corpus{Series: []*Series{testSeries("a/a.csv", 40, Window{7, 8})}}
	res, err := ScoreAt(corpus, [][]float64{detections(40, 7, 12)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := standard(t, res); !near(got.Raw, 1-0.11) {
		t.Errorf("raw %v, want 1 - 0.11", got.Raw)
	}
}

// A window wholly inside probation can be neither detected nor missed.
func TestScoreAtWindowInProbation(t *testing.T) {
	corpus := &Corpus{Series: []*Series{testSeries("a/a.csv", 40, Window{2, 4}, Window{20, 29})}}
	res, err := ScoreAt(corpus, [][]float64{detections(40, 3, 20)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := standard(t, res)
	if !near(got.Raw, 1) || got.Detected != 1 || got.Missed != 0 || !near(got.Normalized, 100) {
		t.Errorf("got %+v, want the one window after probation detected, raw 1", got)
	}
}

// Seven false positives before the window at 0.95 and a late detection at
// 0.9: worth it under the standard profile (0.248 - 7*0.11 = -0.522 beats
// -1 for detecting nothing), not when false positives cost 0.22 (-1.292).
func TestScoreChoosesThresholdPerProfile(t *testing.T) {
	scores := make([]float64, 40)
	for i := 7; i <= 13; i++ {
		scores[i] = 0.95
	}
	scores[29] = 0.9
	corpus := &Corpus{Series: []*Series{testSeries("a/a.csv", 40, Window{20, 29})}}
	res, err := Score(corpus, [][]float64{scores})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		threshold, raw float64
	}{
		{0.9, lateWorth - 7*0.11}, // standard
		{math.Inf(1), -1},         // reward_low_FP_rate
		{0.9, lateWorth - 7*0.11}, // reward_low_FN_rate: -2 missed, -0.522 caught
	}
	for k, w := range want {
		if res[k].Threshold != w.threshold || !near(res[k].Raw, w.raw) {
			t.Errorf("%s: threshold %v raw %v, want %v and %v", res[k].Profile.Name, res[k].Threshold, res[k].Raw, w.threshold, w.raw)
		}
	}
}

// One threshold serves the whole corpus: b alone would do best detecting
// nothing, but a's detection at 0.6 brings b's false positive at 0.7 in.
func TestScoreThresholdIsCorpusWide(t *testing.T) {
	a := testSeries("a/a.csv", 40, Window{20, 29})
	b := testSeries("a/b.csv", 40, Window{20, 29})
	sa, sb := make([]float64, 40), make([]float64, 40)
	sa[20], sb[10] = 0.6, 0.7
	res, err := Score(&Corpus{Series: []*Series{a, b}}, [][]float64{sa, sb})
	if err != nil {
		t.Fatal(err)
	}
	got := standard(t, res)
	// a caught at its first row (+1), b missed (-1) with a false positive
	// before its window (-0.11); of 2 windows, null -2 and perfect +2.
	if got.Threshold != 0.6 || !near(got.Raw, -0.11) || !near(got.Normalized, 100*(2-0.11)/4) {
		t.Errorf("got %+v, want threshold 0.6 and raw -0.11", got)
	}
}

func TestScoreRejectsBadScores(t *testing.T) {
	corpus := &Corpus{Series: []*Series{testSeries("a/a.csv", 40, Window{20, 29})}}
	for _, bad := range [][]float64{make([]float64, 39), append(make([]float64, 39), 1.5), append(make([]float64, 39), math.NaN())} {
		if _, err := Score(corpus, [][]float64{bad}); err == nil {
			t.Errorf("scores %v accepted", bad[len(bad)-1:])
		}
	}
}
