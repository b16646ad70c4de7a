package nab

import (
	"math"
	"slices"
	"time"

	"github.com/sentinel-project/sentinel/pkg/detect"
)

// SentinelLikelihood scores a row from several views of the series, each
// a raw score turned by its own detect.Likelihood into how unusual the
// recent raw scores are for this series; the row's score is the most
// surprising view's. Then a detection silences the detector for a while,
// as NAB rewards the first detection in a window and charges for every
// other one.
type SentinelLikelihood struct {
	// Likelihood is every view's likelihood memory.
	Likelihood detect.LikelihoodOptions

	// Error is the prediction error view: how far the value lies from an
	// exponentially weighted mean, in units of the weighted mean absolute
	// deviation. ErrorAlpha is the weight of a new value.
	Error      bool
	ErrorAlpha float64

	// Context is the novelty view, in the spirit of CAD OSE: values are
	// quantised into Levels bins of the range seen so far, and the raw
	// score is how rarely the last ContextLen bins have been followed by
	// the current one.
	Context    bool
	Levels     int
	ContextLen int

	// Entropy is the distribution change view: the relative entropy of
	// the bins of the last EntropyWindow values against all the bins
	// seen before them.
	Entropy       bool
	EntropyWindow int

	// Daily is the daily entropy view, off by default: the relative
	// entropy of the bins of the last EntropyWindow values against the
	// bins of the values seen before at the same hours of the day (by
	// the rows' timestamps), once each of those hours has DailyMin
	// earlier values. Its surprise, times DailyWeight, stands beside the
	// summed surprise of the other views (the larger counts), so it
	// detects alone at a surprise of Surprise/DailyWeight.
	Daily       bool
	DailyMin    int
	DailyWeight float64

	// Shape is the shape novelty view, after KNN-CAD's nearest
	// neighbours and ARTime's new categories: the means of the last
	// ShapeDim runs of ShapeStep values, scaled to the range seen so far,
	// make a point, and its nonconformity is its distance to the nearest
	// of the last ShapeRefs earlier points that share no value with it.
	// A point whose nonconformity exceeds every one of the last
	// ShapeCalib nonconformities of such earlier points by the factor
	// 1+ShapeMargin is novel and, like a spatial anomaly, scores the top
	// score. It judges once ShapeCalib/2 nonconformities are known.
	Shape       bool
	ShapeDim    int
	ShapeStep   int
	ShapeRefs   int
	ShapeCalib  int
	ShapeMargin float64

	// Spatial scores a value beyond the range seen so far, by more than
	// SpatialTolerance of that range, as the top score (Numenta's spatial
	// anomaly), once SpatialWarmup rows have been seen.
	Spatial bool

	// Stuck is the stuck view: once the value has stayed exactly the
	// same for more than StuckMin rows and for longer than any earlier
	// run of one value in the series, the row scores the top score, once
	// a run (a stuck sensor, a feed gone dead). A series that often
	// repeats one value for long sets its own bar.
	Stuck    bool
	StuckMin int

	// Sum adds the views' surprises (so two views moderately surprised
	// together count as one very surprised) instead of taking the
	// largest.
	Sum              bool
	SpatialTolerance float64
	SpatialWarmup    int

	// Surprise is the internal level, -log10 of a view's tail
	// probability, at which a row counts as a detection; for Suppress
	// rows after one, scores are damped by SuppressFactor.
	Surprise       float64
	Suppress       int
	SuppressFactor float64

	// Penalty makes the suppression decay rather than stop at a cut:
	// a row's surprise is lowered by Penalty*exp(-r/PenaltyRows), r rows
	// after the last detection, so another detection soon after one
	// needs a larger surprise, and one long after it almost none more.
	// It does not hold back spatial or shape detections. 0 turns it off.
	Penalty     float64
	PenaltyRows float64

	name string
}

// DefaultSentinelLikelihood is the setting chosen on the NAB corpus
// (one setting for all of it; docs/detection.md has the ablation): the
// context, entropy and spatial views, their surprises summed, and the
// shape view (the last 32 values in 8 means; novel at three times the
// largest of 1000 earlier nearest-neighbour distances), the stuck view
// (one value repeated for more than 50 rows and longer than ever), a
// detection at a surprise of 4 (a tail probability of 1e-4) silencing
// the next 100 rows, and a penalty of 2 on the surprise decaying over
// 500 rows after that. The error view is off: on NAB it adds more false
// positives than detections. The daily view is off too: on NAB it finds
// one more window for no more false positives, a gain inside the noise
// of settings picked on the same corpus.
func DefaultSentinelLikelihood() SentinelLikelihood {
	return SentinelLikelihood{
		Likelihood:       detect.DefaultLikelihoodOptions(),
		ErrorAlpha:       0.05,
		Context:          true,
		Levels:           16,
		ContextLen:       2,
		Entropy:          true,
		EntropyWindow:    30,
		Shape:            true,
		ShapeDim:         8,
		ShapeStep:        4,
		ShapeRefs:        1000,
		ShapeCalib:       1000,
		ShapeMargin:      2,
		DailyMin:         12,
		DailyWeight:      0.5,
		Stuck:            true,
		StuckMin:         50,
		Spatial:          true,
		SpatialTolerance: 0.02,
		SpatialWarmup:    150,
		Sum:              true,
		Surprise:         4,
		Suppress:         100,
		SuppressFactor:   0.01,
		Penalty:          2,
		PenaltyRows:      500,
		name:             "sentinel_likelihood",
	}
}

// Name is "sentinel_likelihood", or the name set by Named.
func (d SentinelLikelihood) Name() string { return d.name }

// Named returns the detector under another name, for variants.
func (d SentinelLikelihood) Named(name string) SentinelLikelihood {
	d.name = name
	return d
}

// New starts a stream that has seen nothing.
func (d SentinelLikelihood) New() Stream {
	s := &likelihoodStream{cfg: d, lastDetect: math.MinInt / 2}
	s.errLik = detect.NewLikelihood(d.Likelihood)
	s.ctxLik = detect.NewLikelihood(d.Likelihood)
	s.entLik = detect.NewLikelihood(d.Likelihood)
	s.dayLik = detect.NewLikelihood(d.Likelihood)
	for h := range s.hourCnt {
		s.hourCnt[h] = make([]float64, max(d.Levels, 1)+2)
	}
	s.ctxCount = map[uint64]float64{}
	s.ctxTotal = map[uint64]float64{}
	s.longCnt = make([]float64, max(d.Levels, 1)+2)
	return s
}

type likelihoodStream struct {
	cfg  SentinelLikelihood
	rows int

	lo, hi float64 // range seen so far

	// error view
	mean, absDev float64
	errLik       *detect.Likelihood

	// context view
	bins     []int // last ContextLen bins, oldest first
	ctxCount map[uint64]float64
	ctxTotal map[uint64]float64
	ctxLik   *detect.Likelihood

	// entropy view
	recent  []int     // bins of the last EntropyWindow-1 values, oldest first
	longCnt []float64 // of the bins before those, indexed by bin+1
	longN   float64
	entLik  *detect.Likelihood

	// daily view
	dayBins  []int         // bins of the last EntropyWindow-1 values, oldest first
	dayHours []int         // and their hours of the day
	hourCnt  [24][]float64 // bins of the values before those, by hour, indexed by bin+1
	hourN    [24]float64   // how many values each hour has had
	dayLik   *detect.Likelihood

	// shape view
	vals  []float64              // last ShapeDim*ShapeStep values, oldest first
	refs  delayedRing[[]float64] // the last ShapeRefs reference points
	calib delayedRing[float64]   // the last ShapeCalib nonconformities

	// stuck view
	last       float64 // the value before this row
	run        int     // rows the value has stayed at last, this one included
	longestRun int     // the longest run before the current one
	stuckFired bool    // the current run has scored already

	lastDetect int
}

// Score judges the row by what the stream has learned from the rows
// before it, then learns it.
func (s *likelihoodStream) Score(ts time.Time, v float64) float64 {
	cfg := &s.cfg
	if s.rows == 0 {
		s.lo, s.hi, s.mean = v, v, v
	}
	surprise := 0.0
	add := func(x float64) {
		if cfg.Sum {
			surprise += x
		} else {
			surprise = max(surprise, x)
		}
	}
	if cfg.Error {
		raw := math.Abs(v-s.mean) / max(s.absDev, 1e-9*max(1, math.Abs(s.mean)), 1e-12)
		add(detect.Surprise(s.errLik.Update(math.Min(raw, 1e3))))
	}
	bin := s.bin(v)
	if cfg.Context {
		add(detect.Surprise(s.ctxLik.Update(s.contextRaw(bin))))
	}
	if cfg.Entropy {
		add(detect.Surprise(s.entLik.Update(s.entropyRaw(bin))))
	}
	hour := ts.Hour()
	if cfg.Daily {
		if raw, ok := s.dailyRaw(bin, hour); ok {
			surprise = max(surprise, cfg.DailyWeight*detect.Surprise(s.dayLik.Update(raw)))
		}
	}
	spatial := cfg.Spatial && s.rows >= cfg.SpatialWarmup && s.outside(v)
	if cfg.Shape && s.shapeNovel(v) {
		spatial = true
	}
	if cfg.Stuck && s.stuck(v) {
		spatial = true
	}

	if cfg.Penalty > 0 && cfg.PenaltyRows > 0 {
		surprise = max(surprise-cfg.Penalty*math.Exp(-float64(s.rows-s.lastDetect)/cfg.PenaltyRows), 0)
	}
	score := surprise / (1 + surprise)
	if spatial {
		score = 1
	}
	if cfg.Suppress > 0 {
		if s.rows-s.lastDetect <= cfg.Suppress {
			score *= cfg.SuppressFactor
		} else if spatial || surprise >= cfg.Surprise {
			s.lastDetect = s.rows
		}
	}
	s.learn(v, bin, hour)
	return score
}

// outside says whether v lies beyond the range seen by more than the
// tolerance.
func (s *likelihoodStream) outside(v float64) bool {
	tol := s.cfg.SpatialTolerance * (s.hi - s.lo)
	return v > s.hi+tol || v < s.lo-tol
}

// stuck says whether v extends a run of one value past StuckMin rows and
// past every earlier run, the first time the current run does, and moves
// the view on.
func (s *likelihoodStream) stuck(v float64) bool {
	if s.rows > 0 && v == s.last {
		s.run++
	} else {
		s.longestRun = max(s.longestRun, s.run)
		s.run, s.stuckFired = 1, false
	}
	s.last = v
	if s.stuckFired || s.run <= s.cfg.StuckMin || s.run <= s.longestRun {
		return false
	}
	s.stuckFired = true
	return true
}

// bin quantises v into the range seen so far; values beyond it fall into
// the edge bins.
func (s *likelihoodStream) bin(v float64) int {
	n := max(s.cfg.Levels, 1)
	if !(s.hi > s.lo) {
		return 0
	}
	b := int(math.Floor((v - s.lo) / (s.hi - s.lo) * float64(n)))
	return min(max(b, -1), n)
}

// contextRaw is 1 minus the frequency with which the current context has
// been followed by bin, with one imagined unseen follower.
func (s *likelihoodStream) contextRaw(bin int) float64 {
	if len(s.bins) < s.cfg.ContextLen {
		return 0
	}
	ctx := s.contextKey()
	return 1 - s.ctxCount[ctx*1000003+uint64(bin+2)]/(s.ctxTotal[ctx]+1)
}

func (s *likelihoodStream) contextKey() uint64 {
	var k uint64 = 1469598103934665603
	for _, b := range s.bins {
		k = (k ^ uint64(b+2)) * 1099511628211
	}
	return k
}

// entropyRaw is the relative entropy of the recent bins, the current one
// included, against the long-run bins. Bins are summed in their order so
// that the sum rounds the same way every time.
func (s *likelihoodStream) entropyRaw(bin int) float64 {
	if s.longN < float64(s.cfg.EntropyWindow) || len(s.recent) < s.cfg.EntropyWindow-1 {
		return 0
	}
	cnt := make([]float64, len(s.longCnt))
	cnt[bin+1]++
	for _, b := range s.recent {
		cnt[b+1]++
	}
	total := float64(len(s.recent) + 1)
	k := float64(len(cnt))
	d := 0.0
	for b, c := range cnt {
		if c == 0 {
			continue
		}
		p := c / total
		q := (s.longCnt[b] + 0.5) / (s.longN + 0.5*k)
		d += p * math.Log(p/q)
	}
	return d
}

// dailyRaw is the relative entropy of the recent bins, the current one
// included, against the mixture of the bins seen before at each of their
// hours of the day, smoothed as if every hour had DailyMin values with
// half a value in each bin; ok is false while the recent rows are too
// few or one of their hours has fewer than DailyMin values.
func (s *likelihoodStream) dailyRaw(bin, hour int) (raw float64, ok bool) {
	n := max(s.cfg.DailyMin, 1)
	if len(s.dayBins) < s.cfg.EntropyWindow-1 || s.hourN[hour] < float64(n) {
		return 0, false
	}
	k := len(s.longCnt)
	q := make([]float64, k)
	cnt := make([]float64, k)
	addHour := func(h, b int) bool {
		if s.hourN[h] < float64(n) {
			return false
		}
		for i, c := range s.hourCnt[h] {
			q[i] += c / s.hourN[h]
		}
		cnt[b+1]++
		return true
	}
	for i, h := range s.dayHours {
		if !addHour(h, s.dayBins[i]) {
			return 0, false
		}
	}
	addHour(hour, bin)
	total := float64(len(s.dayBins) + 1)
	alpha := 0.5 / float64(n)
	d := 0.0
	for b, c := range cnt {
		if c == 0 {
			continue
		}
		p := c / total
		qb := (q[b]/total + alpha) / (1 + alpha*float64(k))
		d += p * math.Log(p/qb)
	}
	return d, true
}

// learn lets the row into every view.
func (s *likelihoodStream) learn(v float64, bin, hour int) {
	cfg := &s.cfg
	if s.rows > 0 {
		s.absDev += cfg.ErrorAlpha * (math.Abs(v-s.mean) - s.absDev)
		s.mean += cfg.ErrorAlpha * (v - s.mean)
	}
	if cfg.Context {
		if len(s.bins) == cfg.ContextLen && cfg.ContextLen > 0 {
			ctx := s.contextKey()
			s.ctxCount[ctx*1000003+uint64(bin+2)]++
			s.ctxTotal[ctx]++
		}
		s.bins = append(s.bins, bin)
		if len(s.bins) > cfg.ContextLen {
			s.bins = append(s.bins[:0], s.bins[1:]...)
		}
	}
	if cfg.Entropy {
		s.recent = append(s.recent, bin)
		if len(s.recent) >= cfg.EntropyWindow {
			s.longCnt[s.recent[0]+1]++
			s.longN++
			s.recent = append(s.recent[:0], s.recent[1:]...)
		}
	}
	if cfg.Daily {
		s.dayBins = append(s.dayBins, bin)
		s.dayHours = append(s.dayHours, hour)
		if len(s.dayBins) >= cfg.EntropyWindow {
			h := s.dayHours[0]
			s.hourCnt[h][s.dayBins[0]+1]++
			s.hourN[h]++
			s.dayBins = append(s.dayBins[:0], s.dayBins[1:]...)
			s.dayHours = append(s.dayHours[:0], s.dayHours[1:]...)
		}
	}
	s.lo, s.hi = min(s.lo, v), max(s.hi, v)
	s.rows++
}

// shapeNovel says whether the point the row completes is farther from
// its nearest past point than every recent point has been from theirs,
// by the margin, and moves the view on.
func (s *likelihoodStream) shapeNovel(v float64) bool {
	cfg := &s.cfg
	dim, step := max(cfg.ShapeDim, 1), max(cfg.ShapeStep, 1)
	span := dim * step
	refs, calib := max(cfg.ShapeRefs, 1), max(cfg.ShapeCalib, 1)
	s.vals = append(s.vals, v)
	if len(s.vals) > span {
		s.vals = append(s.vals[:0], s.vals[1:]...)
	}
	if len(s.vals) < span {
		return false
	}
	lo, hi := min(s.lo, v), max(s.hi, v)
	width := hi - lo
	if !(width > 0) {
		width = 1
	}
	pt := make([]float64, dim)
	for i, x := range s.vals {
		pt[i/step] += (x - lo) / width / float64(step)
	}
	novel := false
	if n := s.refs.len(refs); n > 0 {
		nearest := math.Inf(1)
		for _, r := range s.refs.ring[:n] {
			d := 0.0
			for i := range pt {
				e := pt[i] - r[i]
				d += e * e
			}
			nearest = min(nearest, d)
		}
		alpha := math.Sqrt(nearest / float64(dim))
		if nc := s.calib.len(calib); nc >= calib/2 && nc > 0 {
			novel = alpha > slices.Max(s.calib.ring[:nc])*(1+cfg.ShapeMargin)
		}
		// A nonconformity calibrates once its point no longer shares
		// values with the newest, so that a novel stretch, whose
		// nonconformities grow row by row, is not judged against itself.
		s.calib.push(alpha, span, calib)
	}
	// A point becomes a reference once it no longer shares values with
	// the newest point.
	s.refs.push(pt, span, refs)
	return novel
}

// delayedRing keeps the last items of a stream, each only once delay
// newer ones have come after it.
type delayedRing[T any] struct {
	waiting []T // items not yet delay back
	ring    []T
	n       int // items ever moved into the ring
}

// push adds x, and moves the oldest waiting item into a ring of size
// once more than delay wait.
func (d *delayedRing[T]) push(x T, delay, size int) {
	d.waiting = append(d.waiting, x)
	if len(d.waiting) <= delay {
		return
	}
	old := d.waiting[0]
	d.waiting = d.waiting[1:]
	if len(d.ring) < size {
		d.ring = append(d.ring, old)
	} else {
		d.ring[d.n%size] = old
	}
	d.n++
}

// len is how many items of the ring are filled.
func (d *delayedRing[T]) len(size int) int { return min(d.n, size) }
