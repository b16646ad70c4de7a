package detect

import (
	"time"

	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/features"
)

// ForestOptions configure the isolation-forest detector, which judges a
// closed token window by all its features at once. Zero fields take
// their defaults; with no Model nothing is scored, but ordinary windows
// are still collected when Reservoir is set, which is how a model is
// trained from history.
type ForestOptions struct {
	// Model scores windows; nil disables scoring.
	Model *Model
	// Threshold is the score above which a window is anomalous; 0 takes
	// the model's calibrated threshold, or DefaultForestThreshold when the
	// model has none.
	Threshold float64
	// MinRequests: windows with fewer requests are not scored. Default 3:
	// a window of one or two requests is too little to be unusual in
	// anything but chance.
	MinRequests float64
	// Reservoir is how many ordinary windows are kept to train from: a
	// uniform sample of all seen, until the first retraining, and after
	// each mostly of those since the one before. 0 keeps none.
	Reservoir int
	// RetrainEvery is the event time between retrainings on the
	// reservoir; 0 never retrains. See retrain.go for the life of a
	// retrained model: trained in the background, then calibrated in the
	// shadow of the model in use for Shadow, then swapped in.
	RetrainEvery time.Duration
	// Shadow is how long, in event time, a retrained model scores beside
	// the one in use before it replaces it; default 24h, a whole daily
	// cycle.
	Shadow time.Duration
	// AlertRate is the share of ordinary windows a retrained model may
	// score above its threshold, calibrated in its shadow; default 2e-6,
	// two in a million.
	AlertRate float64
	// Train are the options of retrained forests.
	Train iforest.Options
	// Seed drives the reservoir's sampling.
	Seed uint64
	// Scored, when set, is called with the score of every window scored
	// that no other detector found anomalous, for calibration.
	Scored func(score float64)
	// Retrained, when set, is called when a retrained model takes over,
	// with the number of windows its shadow scored.
	Retrained func(m *Model, shadowed int64)
}

// Forest defaults.
const (
	DefaultForestThreshold = 0.7
	DefaultAlertRate       = 2e-6
	// DefaultForestSampleSize is psi for sentinel's forests, four times
	// the paper's 256: token windows number in the hundreds of thousands
	// and the anomalies that matter are a corner of one or two features,
	// which deeper trees isolate sooner than ordinary windows. On the
	// planted windows of TestForestNamesPlantedFeature it widens the gap
	// between their scores and the threshold from about 0 to 0.02-0.04;
	// 4096 widens it further but makes models four times the size.
	DefaultForestSampleSize = 1024
	defaultMinRequests      = 3
	defaultShadow           = 24 * time.Hour
	// forestWarmWindows is how many busy windows a token must have had
	// before the forest judges it: its profile of networks, clients and
	// hours needs longer than its baselines to mean anything.
	forestWarmWindows = 60
)

// forestRun is the isolation forest's part of a Detector.
type forestRun struct {
	opts  ForestOptions
	model *Model
	thr   float64
	res   reservoir
	next  retraining
	x     [numForest]float64
	// encoded caches the file form of the models a snapshot carries.
	encoded map[*Model][]byte
}

func newForestRun(o ForestOptions) *forestRun {
	if o.MinRequests <= 0 {
		o.MinRequests = defaultMinRequests
	}
	if o.Shadow <= 0 {
		o.Shadow = defaultShadow
	}
	if o.AlertRate <= 0 {
		o.AlertRate = DefaultAlertRate
	}
	f := &forestRun{opts: o, res: reservoir{size: o.Reservoir, seed: o.Seed}}
	f.setModel(o.Model)
	return f
}

func (f *forestRun) setModel(m *Model) {
	f.model = m
	f.thr = f.opts.Threshold
	if f.thr <= 0 && m != nil {
		f.thr = m.meta.Threshold
	}
	if f.thr <= 0 {
		f.thr = DefaultForestThreshold
	}
}

// judgeForest scores w, a closed token window of e that the other
// detectors judged, when e is ready and w busy enough. It returns the
// finding, if any, and whether w may be learned from: not when anything
// found it anomalous.
func (d *Detector) judgeForest(e *entity, w *features.Window, r *rates, k int64,
	others uint32) (*Finding, bool) {
	f := d.forest
	ordinary := others == 0 && !d.inEpisode(e)
	if w.Kind != features.Token || e.thrDet != detEWMA || e.active < forestWarmWindows ||
		w.V[features.Requests] < f.opts.MinRequests {
		return nil, ordinary
	}
	if !ordinary {
		// Already reported, or part of an incident that was: a second
		// alert would say nothing new, and it is no window to learn from.
		return nil, false
	}
	d.vector(&f.x, e, w, r, k)
	if f.model == nil {
		f.res.add(f.x[:])
		return nil, true
	}
	f.next.shadowScore(f.x[:])
	var score float64
	above := false
	if f.opts.Scored != nil {
		score = f.model.Score(f.x[:])
		f.opts.Scored(score)
		above = score > f.thr
	} else {
		score, above = f.model.ScoreAbove(f.x[:], f.thr)
		above = above && score > f.thr
	}
	if !above {
		f.res.add(f.x[:])
		return nil, true
	}
	return d.fireForest(e, w, score), false
}

// inEpisode reports whether e is in an anomalous episode of a per-feature
// detector.
func (d *Detector) inEpisode(e *entity) bool {
	for _, ep := range e.ep {
		if ep != nil && ep.Since != 0 {
			return true
		}
	}
	return false
}

// learnProfile takes a closed token window into its token's profile,
// unless it was anomalous: an attacker's network stays new.
func (d *Detector) learnProfile(e *entity, w *features.Window, learnable bool) {
	if w.Kind != features.Token || !learnable {
		return
	}
	if e.prof == nil {
		e.prof = &profile{}
	}
	nets, _ := e.prof.newShares(w)
	e.prof.learn(w, nets)
}

// fireForest turns an anomalous score into a finding, unless the token
// is cooling down from an alert of the forest that this one does not
// escalate.
func (d *Detector) fireForest(e *entity, w *features.Window, score float64) *Finding {
	f := d.forest
	ep := e.fep
	if ep == nil {
		ep = &EpisodeState{}
		e.fep = ep
	}
	at, start := w.Last.UnixNano(), w.Start.UnixNano()
	sev := sevWarning
	if score >= (1+f.thr)/2 {
		sev = sevCritical
	}
	cooling := ep.inCooldown(at, d.cooldown)
	if !cooling {
		ep.Since, ep.Severity = start, 0
	}
	if cooling && sev <= ep.Severity {
		return nil
	}
	ep.LastAlert, ep.Severity = at, max(ep.Severity, sev)
	iso := f.model.Explain(f.x[:], 3)
	fd := &Finding{
		Kind: w.Kind, Key: w.Key, Hint: w.Hint,
		Detector:    "iforest",
		Feature:     "isolation_score",
		Observed:    score,
		Threshold:   f.thr,
		Score:       score / f.thr,
		Severity:    severityName(sev),
		Expected:    0.5,
		WindowStart: w.Start, WindowEnd: w.End, At: w.Last,
		Since:    time.Unix(0, ep.Since).UTC(),
		TopPeers: w.TopPeers(d.opts.TopPeers),
		Isolated: iso,
	}
	return fd
}

// reservoir keeps a uniform sample of size rows out of all added
// (Vitter's algorithm R), with the random choices drawn from a hash of
// the seed and the count, so the sample depends only on what was added.
type reservoir struct {
	size int
	seen int64
	seed uint64
	data []float32 // rows of numForest values
}

func (r *reservoir) len() int { return len(r.data) / numForest }

func (r *reservoir) add(x []float64) {
	if r.size <= 0 {
		return
	}
	r.seen++
	i := r.len()
	if i >= r.size {
		j := splitmix(r.seed^uint64(r.seen)) % uint64(r.seen)
		if j >= uint64(r.size) {
			return
		}
		i = int(j)
	} else {
		r.data = append(r.data, make([]float32, numForest)...)
	}
	row := r.data[i*numForest : (i+1)*numForest]
	for j, v := range x {
		row[j] = float32(v)
	}
}

// rows returns a copy of the sample.
func (r *reservoir) rows() [][]float64 {
	out := make([][]float64, r.len())
	for i := range out {
		row := make([]float64, numForest)
		for j, v := range r.data[i*numForest : (i+1)*numForest] {
			row[j] = float64(v)
		}
		out[i] = row
	}
	return out
}

func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// ForestRows returns a copy of the ordinary windows the forest collected:
// the rows to train a model on.
func (d *Detector) ForestRows() [][]float64 { return d.forest.res.rows() }

// ForestModel returns the model in use, nil when none.
func (d *Detector) ForestModel() *Model { return d.forest.model }

// ForestSeen returns how many ordinary windows were offered to the
// reservoir.
func (d *Detector) ForestSeen() int64 { return d.forest.res.seen }
