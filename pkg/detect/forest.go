package detect

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/features"
)

// ForestFeatures names, in order, the features of the vector by which the
// isolation forest judges a closed token window. Volumes are on a log
// scale and measured against the token's own usual window, so that one
// model serves a tenant pulling ten messages a minute and one pulling
// ten thousand; the rest are shares and rates in [0, 1].
var ForestFeatures = []string{
	"log_messages",           // log(1 + messages)
	"messages_vs_usual",      // log(1 + messages) - log(1 + usual messages per busy window)
	"requests_vs_usual",      // the same for requests
	"bytes_vs_usual",         // the same for response bytes
	"error_rate",             // errors (status >= 400 but 401) per request, shrunk: see rate
	"unauthorized_rate",      // 401s and 403s per request, shrunk
	"log_distinct_ips",       // log(1 + distinct addresses)
	"new_network_and_client", // share of requests from a network and a user agent the token does not know
	"new_client_share",       // share of requests from user agents the token does not know
	"usual_new_network",      // the token's usual share of requests from networks it did not know
	"hour_rarity",            // 0 in the token's busiest hour of day, 1 in one it was never busy in
}

// The indexes of ForestFeatures.
const (
	fxLogMessages = iota
	fxMessagesVsUsual
	fxRequestsVsUsual
	fxBytesVsUsual
	fxErrorRate
	fxUnauthorizedRate
	fxLogDistinctIPs
	fxNewNetworkAndClient
	fxNewClientShare
	fxUsualNewNetwork
	fxHourRarity
	numForest
)

// Model is a trained isolation forest over ForestFeatures, with the
// scaling and threshold it was trained with. It is safe for concurrent
// use.
type Model struct {
	forest *iforest.Forest
	meta   iforest.Meta
}

// LoadModel reads a model saved by Model.Save or iforest.Forest.Save. It
// refuses a model trained on other features.
func LoadModel(r io.Reader) (*Model, error) {
	f, meta, err := iforest.Load(r)
	if err != nil {
		return nil, err
	}
	if err := meta.CheckFeatures(ForestFeatures); err != nil {
		return nil, fmt.Errorf("loading isolation forest: %w", err)
	}
	if len(meta.Offset) != numForest {
		return nil, errors.New("loading isolation forest: the model carries no scaling")
	}
	return &Model{forest: f, meta: meta}, nil
}

// Save writes the model in the iforest file format.
func (m *Model) Save(w io.Writer) error { return m.forest.Save(w, m.meta) }

// Meta returns the model's description: features, scaling, threshold,
// when and on how many windows it was trained.
func (m *Model) Meta() iforest.Meta { return m.meta }

// WithThreshold returns a copy of the model that carries threshold.
func (m *Model) WithThreshold(threshold float64) *Model {
	c := *m
	c.meta.Threshold = threshold
	return &c
}

// FitModel trains a model on rows of ForestFeatures. Each feature is
// centred on its median and divided by its interquartile range (see
// minScale), so that the scaled value 0 is the typical window: that is
// what attribution puts a feature back to. Axis-parallel cuts do not
// depend on the scaling; extended cuts do.
func FitModel(rows [][]float64, opts iforest.Options) (*Model, error) {
	if len(rows) == 0 {
		return nil, errors.New("training isolation forest: no windows to learn from")
	}
	for i, r := range rows {
		if len(r) != numForest {
			return nil, fmt.Errorf("training isolation forest: row %d has %d features, want %d", i, len(r), numForest)
		}
	}
	meta := iforest.Meta{Features: slices.Clone(ForestFeatures)}
	meta.Offset, meta.Scale = robustScaling(rows)
	scaled := make([][]float64, len(rows))
	for i, r := range rows {
		scaled[i] = make([]float64, numForest)
		scaleInto(scaled[i], r, &meta)
	}
	f := iforest.New(opts)
	if err := f.Fit(scaled); err != nil {
		return nil, err
	}
	meta.TrainedAt, meta.Rows = f.Trained()
	return &Model{forest: f, meta: meta}, nil
}

// minScale is, per feature, the least scale: a feature nearly constant
// over the training windows (a share that is almost always 0) would
// otherwise have a tiny interquartile range, and differences of no
// meaning, a share of 0.002 against 0.001, would look enormous.
var minScale = [numForest]float64{
	fxLogMessages: 0.5, fxMessagesVsUsual: 0.5, fxRequestsVsUsual: 0.5, fxBytesVsUsual: 0.5,
	fxErrorRate: 0.05, fxUnauthorizedRate: 0.05, fxLogDistinctIPs: 0.5,
	fxNewNetworkAndClient: 0.05, fxNewClientShare: 0.05, fxUsualNewNetwork: 0.05, fxHourRarity: 0.1,
}

// robustScaling returns per feature the median and the interquartile
// range, at least minScale.
func robustScaling(rows [][]float64) (offset, scale []float64) {
	offset, scale = make([]float64, numForest), make([]float64, numForest)
	col := make([]float64, len(rows))
	for j := range numForest {
		for i, r := range rows {
			col[i] = r[j]
		}
		slices.Sort(col)
		q := func(p float64) float64 { return col[int(p*float64(len(col)-1))] }
		offset[j], scale[j] = q(0.5), max(q(0.75)-q(0.25), minScale[j])
	}
	return offset, scale
}

func scaleInto(dst, x []float64, m *iforest.Meta) {
	for j := range dst {
		dst[j] = (x[j] - m.Offset[j]) / m.Scale[j]
	}
}

// Score returns the anomaly score in (0, 1] of a vector of
// ForestFeatures, unscaled.
func (m *Model) Score(x []float64) float64 {
	var buf [numForest]float64
	scaleInto(buf[:], x, &m.meta)
	return m.forest.Score(buf[:])
}

// ScoreAbove returns the score of x and whether it reaches floor, the
// score exact when it does; see iforest.Forest.ScoreAbove.
func (m *Model) ScoreAbove(x []float64, floor float64) (float64, bool) {
	var buf [numForest]float64
	scaleInto(buf[:], x, &m.meta)
	return m.forest.ScoreAbove(buf[:], floor)
}

// Isolation says how much one feature made a window stand out.
type Isolation struct {
	Feature string
	Value   float64 // the window's value
	Typical float64 // the median over the windows the model learned from
	// Weight is how much the score falls when the feature is put back to
	// Typical, the others left as they are.
	Weight float64
}

// Explain names the features that isolated x, most telling first: those
// whose return to their typical value lowers the score. The forest's
// paths are not additive, so this asks the question a person asks of the
// alert, "would it still stand out if this were ordinary?", once per
// feature.
func (m *Model) Explain(x []float64, n int) []Isolation {
	var buf [numForest]float64
	scaleInto(buf[:], x, &m.meta)
	score := m.forest.Score(buf[:])
	var out []Isolation
	for j := range numForest {
		v := buf[j]
		buf[j] = 0
		drop := score - m.forest.Score(buf[:])
		buf[j] = v
		if drop > 0 {
			out = append(out, Isolation{
				Feature: ForestFeatures[j], Value: x[j], Typical: m.meta.Offset[j], Weight: drop,
			})
		}
	}
	slices.SortStableFunc(out, func(a, b Isolation) int {
		switch {
		case a.Weight > b.Weight:
			return -1
		case a.Weight < b.Weight:
			return 1
		}
		return 0
	})
	// Features that barely move the score next to the first say nothing
	// to the person reading the alert.
	keep := 0
	for keep < min(n, len(out)) && (keep == 0 || out[keep].Weight >= max(1e-3, out[0].Weight/10)) {
		keep++
	}
	return out[:keep]
}

// ratePrior is how many ordinary requests a rate is shrunk with: two
// errors in three requests are chance, two hundred in three hundred are
// not, and the raw shares (0.67 both) cannot tell them apart.
const ratePrior = 10

// rate returns n per request of reqs, shrunk towards 0 by ratePrior.
func rate(n, reqs float64) float64 { return n / (reqs + ratePrior) }

// vector fills x with w's ForestFeatures for e, k idle windows after the
// last it learned.
func (d *Detector) vector(x *[numForest]float64, e *entity, w *features.Window, r *rates, k int64) {
	reqs := w.V[features.Requests]
	busy := 1.0
	if e.active > 0 {
		busy = float64(e.n) / float64(e.active)
	}
	vsUsual := func(f features.Feature) float64 {
		m, _, _ := e.stats[f].expected(r, e.n, k)
		return math.Log1p(w.V[f]) - math.Log1p(m*busy)
	}
	x[fxLogMessages] = math.Log1p(w.V[features.Messages])
	x[fxMessagesVsUsual] = vsUsual(features.Messages)
	x[fxRequestsVsUsual] = vsUsual(features.Requests)
	x[fxBytesVsUsual] = vsUsual(features.Bytes)
	x[fxErrorRate] = rate(w.V[features.Errors], reqs)
	x[fxUnauthorizedRate] = rate(w.V[features.Unauthorized], reqs)
	x[fxLogDistinctIPs] = math.Log1p(w.V[features.Peers])
	nets, clients := e.prof.newShares(w)
	// A new network alone is a tenant moving to new servers; a new
	// client from a new network is someone else. The window does not
	// count requests by network and client together, so the lesser
	// share stands for the share that is new in both: exact when one
	// party is new in both and the other in neither.
	x[fxNewNetworkAndClient] = min(nets, clients)
	x[fxNewClientShare] = clients
	x[fxUsualNewNetwork] = float64(e.prof.Novelty)
	x[fxHourRarity] = e.prof.hourRarity(w.Start.UnixNano())
}

// Calibrate returns the threshold that a share rate of scores would
// exceed, or with rate 0 the highest score. It sorts scores. See
// tailThreshold.
func Calibrate(scores []float64, rate float64) float64 {
	if len(scores) == 0 {
		return 0
	}
	slices.Sort(scores)
	if rate <= 0 {
		return scores[len(scores)-1]
	}
	top := scores[max(0, len(scores)-topKept):]
	return tailThreshold(top, int64(len(scores)), rate)
}

// MaxThreshold is the highest calibrated threshold a model is used
// with. A score is 2^(-mean path / c(psi)); at 0.95 the mean path is
// under a tenth of an average one, about one split with psi 1024: a
// window would have to be cut off by the first split of nearly every
// tree. A calibration that lands above it says the windows it was
// calibrated on were too few or too alike to tell, not that nothing
// should ever alert.
const MaxThreshold = 0.95

// ErrUncalibrated is returned for a calibrated threshold above
// MaxThreshold.
var ErrUncalibrated = errors.New("calibration failed")

// CheckThreshold refuses a calibrated threshold with which the forest
// would never alert.
func CheckThreshold(thr float64) error {
	if thr > MaxThreshold {
		return fmt.Errorf("%w: its threshold came out at %.4f, above %.2f, so it would never alert: "+
			"the windows were too few or too alike to calibrate on", ErrUncalibrated, thr, MaxThreshold)
	}
	return nil
}

// tailThreshold returns the score that a share rate of n scores would
// exceed, given top, the highest of them in ascending order. An alert
// rate worth living with is a few windows in a million: further out than
// the highest of a day's scores, whose value then swings with the day.
// So the tail is modelled, the way SPOT (Siffer et al., KDD 2017) does:
// above u, the lowest score kept, exceedances are taken as exponential
// (a generalised Pareto tail of shape 0) with the mean excess of top,
// which puts the score exceeded with probability rate at
// u + mean excess * ln(P(score > u) / rate).
func tailThreshold(top []float64, n int64, rate float64) float64 {
	if len(top) == 0 || n <= 0 {
		return 0
	}
	u := top[0]
	pu := float64(len(top)) / float64(n)
	if rate >= pu {
		// The quantile is at or below the lowest score kept: that score,
		// which errs on the side of fewer alerts.
		return u
	}
	excess := 0.0
	for _, s := range top {
		excess += s - u
	}
	excess /= float64(len(top))
	return min(u+excess*math.Log(pu/rate), 1)
}
