package nab

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Profile weighs a true positive, a false positive and a missed window.
type Profile struct {
	Name       string
	TP, FP, FN float64
}

// Profiles are NAB's three application profiles.
var Profiles = []Profile{
	{Name: "standard", TP: 1, FP: 0.11, FN: 1},
	{Name: "reward_low_FP_rate", TP: 1, FP: 0.22, FN: 1},
	{Name: "reward_low_FN_rate", TP: 1, FP: 0.11, FN: 2},
}

// Probation is how many leading rows of a series of n rows count for
// nothing: detectors get that long to learn before they are judged.
func Probation(n int) int {
	return min(int(math.Floor(0.15*float64(n))), 750)
}

// sigma is NAB's scaled sigmoid of a position relative to a window: near
// 1 well before a window's right edge, 0 at it, falling towards -1 after
// it and exactly -1 beyond three widths.
func sigma(y float64) float64 {
	if y > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// Result is a detector's score on the corpus under one profile, at the
// threshold that maximises it.
type Result struct {
	Profile Profile
	// Threshold is the lowest anomaly score counted as a detection;
	// +Inf when detecting nothing scores best.
	Threshold float64
	// Raw is the sum of the weighted detections and misses; Normalized
	// puts it on NAB's scale, 0 for detecting nothing and 100 for a
	// detection at the start of every window and nowhere else.
	Raw, Normalized float64
	// Detected and Missed count windows; FalsePositives counts
	// detections outside windows after probation.
	Detected, Missed, FalsePositives int
}

// scoredRow is one row after probation: its anomaly score, the window it
// lies in (-1 outside all), and its worth as a detection before the
// profile's weight.
type scoredRow struct {
	score  float64
	window int
	worth  float64
}

// Score scores a detector's anomaly scores, one slice per series in the
// corpus's order, under every profile.
func Score(c *Corpus, scores [][]float64) ([]Result, error) {
	rows, windows, err := scoredRows(c, scores)
	if err != nil {
		return nil, err
	}
	// Highest score first: lowering the threshold past each distinct score
	// adds that score's rows as detections.
	slices.SortFunc(rows, func(a, b scoredRow) int { return -cmp.Compare(a.score, b.score) })
	out := make([]Result, 0, len(Profiles))
	for _, p := range Profiles {
		out = append(out, sweep(rows, windows, p))
	}
	return out, nil
}

// scoredRows lists the rows after probation of every series, numbering
// the windows across the corpus. A window wholly in probation cannot be
// detected, so it is not counted as missed either.
func scoredRows(c *Corpus, scores [][]float64) ([]scoredRow, int, error) {
	if len(scores) != len(c.Series) {
		return nil, 0, fmt.Errorf("scoring %d series of anomaly scores against a corpus of %d", len(scores), len(c.Series))
	}
	rows := make([]scoredRow, 0, c.Rows())
	windows := 0
	for k, s := range c.Series {
		if err := checkScores(s, scores[k]); err != nil {
			return nil, 0, err
		}
		var n int
		rows, n = appendSeriesRows(rows, s, scores[k], windows)
		windows += n
	}
	return rows, windows, nil
}

func checkScores(s *Series, scores []float64) error {
	if len(scores) != s.Len() {
		return fmt.Errorf("scoring %s: %d anomaly scores for %d rows", s.Name, len(scores), s.Len())
	}
	for i, v := range scores {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("scoring %s: row %d has anomaly score %v, outside [0,1]", s.Name, i+1, v)
		}
	}
	return nil
}

// appendSeriesRows appends the series' rows after probation, giving its
// windows numbers from first on, and says how many numbers it used.
func appendSeriesRows(rows []scoredRow, s *Series, scores []float64, first int) ([]scoredRow, int) {
	probation := Probation(s.Len())
	ids, used := windowIDs(s.Windows, probation, first)
	worths, in := rowWorths(s)
	for i := probation; i < s.Len(); i++ {
		id := -1
		if in[i] >= 0 {
			id = ids[in[i]]
		}
		rows = append(rows, scoredRow{score: scores[i], window: id, worth: worths[i]})
	}
	return rows, used
}

// windowIDs numbers from first on the windows that end after probation.
func windowIDs(windows []Window, probation, first int) ([]int, int) {
	ids := make([]int, len(windows))
	n := 0
	for k, w := range windows {
		ids[k] = -1
		if w.End >= probation {
			ids[k] = first + n
			n++
		}
	}
	return ids, n
}

// rowWorths gives every row of the series its worth as a detection and
// the window it lies in (-1 outside). In a window the worth is a true
// positive's, 1 at the window's first row and falling towards 0 at its
// last; before the first window it is -1, and after a window it runs from
// about 0 just past the right edge to -1 three widths later.
func rowWorths(s *Series) ([]float64, []int) {
	worths := make([]float64, s.Len())
	in := make([]int, s.Len())
	top := sigma(-1)
	prev := -1
	next := 0
	for i := range worths {
		in[i] = -1
		if next < len(s.Windows) && i >= s.Windows[next].Start {
			w := s.Windows[next]
			in[i] = next
			worths[i] = sigma(-float64(w.End-i+1)/float64(w.Width())) / top
			if i == w.End {
				prev, next = next, next+1
			}
			continue
		}
		worths[i] = afterWindow(s, prev, i)
	}
	return worths, in
}

// afterWindow is a false positive's worth at row i, given the index of
// the last window ended before it (-1 for none).
func afterWindow(s *Series, prev, i int) float64 {
	if prev < 0 {
		return -1
	}
	w := s.Windows[prev]
	if w.Width() == 1 {
		// Its width less one is 0: any later row is infinitely far past.
		return -1
	}
	return sigma(float64(i-w.End) / float64(w.Width()-1))
}

// ScoreAt scores a detector's anomaly scores, one slice per series in the
// corpus's order, under every profile at a threshold chosen elsewhere.
func ScoreAt(c *Corpus, scores [][]float64, threshold float64) ([]Result, error) {
	rows, windows, err := scoredRows(c, scores)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(Profiles))
	for _, p := range Profiles {
		res := nothingDetected(p, windows)
		res.Threshold = threshold
		found := make([]float64, windows)
		hit := make([]bool, windows)
		for _, r := range rows {
			if r.score >= threshold {
				res.add(r, p, found, hit)
			}
		}
		res.Normalized = normalize(res.Raw, p, windows)
		out = append(out, res)
	}
	return out, nil
}

// sweep lowers the threshold through every distinct score, keeping the
// one that scores best. A window's worth is its earliest detection's,
// which is its most valuable one.
func sweep(rows []scoredRow, windows int, p Profile) Result {
	best := nothingDetected(p, windows)
	cur := best
	found := make([]float64, windows)
	hit := make([]bool, windows)
	for i, r := range rows {
		cur.add(r, p, found, hit)
		if i+1 < len(rows) && rows[i+1].score == r.score {
			continue // rows of equal score go in together
		}
		if cur.Raw > best.Raw {
			best = cur
			best.Threshold = r.score
		}
	}
	best.Normalized = normalize(best.Raw, p, windows)
	return best
}

// nothingDetected is the result of a threshold above every score: every
// window missed.
func nothingDetected(p Profile, windows int) Result {
	return Result{Profile: p, Threshold: math.Inf(1), Raw: -p.FN * float64(windows), Missed: windows}
}

// add counts row r as a detection.
func (res *Result) add(r scoredRow, p Profile, found []float64, hit []bool) {
	if r.window < 0 {
		res.Raw += p.FP * r.worth
		res.FalsePositives++
		return
	}
	w := r.window
	if !hit[w] {
		hit[w], found[w] = true, r.worth
		res.Raw += p.FN + p.TP*r.worth
		res.Detected++
		res.Missed--
		return
	}
	if r.worth > found[w] {
		res.Raw += p.TP * (r.worth - found[w])
		found[w] = r.worth
	}
}

// normalize maps the raw score so that detecting nothing scores 0 and a
// perfect detector 100.
func normalize(raw float64, p Profile, windows int) float64 {
	null := -p.FN * float64(windows)
	perfect := p.TP * float64(windows)
	if perfect == null {
		return 0
	}
	return 100 * (raw - null) / (perfect - null)
}
