package nab

import (
	"math"
	"time"

	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/features"
)

// SentinelEWMA runs sentinel's own per-entity baseline detector
// (package detect: EWMA mean and variance, remembered peak, thresholds,
// warm-up) on a series, as if each row were one closed one-minute window
// of one token whose messages are the row's value. It measures the
// daemon's detector as it is, so its options are the daemon's defaults
// but for the floors that only make sense for message counts.
type SentinelEWMA struct {
	Options detect.Options
}

// DefaultSentinelEWMA has detect.DefaultOptions with two changes that
// NAB's series force, every other option (SDFloor included) being the
// daemon's:
//
//   - the token messages floor (MinAbs, 300 a minute) is lowered to
//     nearly nothing: the series run from fractions of a percent of CPU
//     to hundreds of millions of bytes, and a floor of 300 would hold
//     every small-valued series under it;
//   - ColdFactor is raised so that the cold threshold, MinAbs times
//     ColdFactor, is above every value (1e12, NAB's largest is 8.6e8). A
//     series is a lone entity, judged during its warm-up by a population
//     that never warms, and learning winsorises every value to that
//     threshold: at 10 times the lowered floor the warm-up would learn a
//     baseline of nothing.
func DefaultSentinelEWMA() SentinelEWMA {
	o := detect.DefaultOptions()
	o.MinAbs[features.Token][features.Messages] = 1e-6
	o.ColdFactor = 1e18
	return SentinelEWMA{Options: o}
}

// Name is "sentinel_ewma".
func (SentinelEWMA) Name() string { return "sentinel_ewma" }

// New starts a detector that knows nothing yet, one per series.
func (s SentinelEWMA) New() Stream {
	return &sentinelStream{det: detect.New(s.Options), opts: s.Options}
}

// sentinelKey is the token every row belongs to. Stream.New is not told
// the series' name, and each series has a detector of its own, so one
// key serves them all.
const sentinelKey = "nab-series"

// rowWindow is the length of the window a row stands for. Rows become
// consecutive windows whatever their timestamps: a gap in a NAB series
// is missing data, which the detector would take for windows without
// traffic and decay its baseline over, and uneven spacing would change
// the detector's per-window rates from row to row. One minute is the
// window the defaults are reasoned for.
const rowWindow = time.Minute

type sentinelStream struct {
	det   *detect.Detector
	opts  detect.Options
	start time.Time // of the next row's window
	rows  int
}

// Score judges the row's window against the baseline learned from the
// rows before, then lets the detector learn from it.
func (s *sentinelStream) Score(t time.Time, v float64) float64 {
	if s.rows == 0 {
		s.start = t.Truncate(rowWindow)
	}
	w := s.window(v)
	score := 0.0
	if s.ready() {
		_, thr := s.det.Band(w)
		score = ratioScore(w.V[features.Messages], thr)
	}
	s.det.CloseAll([]*features.Window{w})
	s.start = w.End
	s.rows++
	return score
}

// window makes the row's closed window. Negative values count as 0:
// messages cannot be negative, sentinel judges only excesses, and a
// shift would need the series' minimum before it is streamed (only
// art_daily_flatmiddle goes below 0, in a drop). MaxMessages stays 0:
// a NAB value is not a sum of pages, so the detector's lot-size spread
// does not apply.
func (s *sentinelStream) window(v float64) *features.Window {
	w := &features.Window{
		Kind:  features.Token,
		Key:   sentinelKey,
		Start: s.start,
		End:   s.start.Add(rowWindow),
		First: s.start,
		Last:  s.start,
	}
	w.V[features.Messages] = max(v, 0)
	return w
}

// ready mirrors the detector's rule for judging an entity against its
// own baseline (Warmup of event time and WarmupWindows windows). Before
// that it is judged against a population, of which a lone series has
// none, so its scores would only say the detector is cold.
func (s *sentinelStream) ready() bool {
	seen := time.Duration(s.rows) * rowWindow
	return seen >= s.opts.Warmup && s.rows >= s.opts.WarmupWindows
}

// ratioScore maps the detector's own score, value over threshold, into
// [0,1] by r/(1+r): monotonic, so NAB's threshold sweep sees the same
// order, 0.5 at the threshold and under it for values within the band.
// An infinite threshold (not judged) scores 0.
func ratioScore(v, thr float64) float64 {
	if math.IsInf(thr, 1) || !(thr > 0) {
		return 0
	}
	r := v / thr
	return r / (1 + r)
}
