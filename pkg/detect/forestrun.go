package detect

import (
	"math"
	"runtime"
	"sync"
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
	// MinRequests: windows with fewer requests are not scored. Default
	// 1: a stolen token used at its owner's pace from elsewhere makes a
	// request every few minutes, and a minute with one request from a
	// network and client the token never used is the whole signal. The
	// error rates are shrunk so that one failed request is not.
	MinRequests float64
	// Reservoir is how many ordinary windows are kept to train from: a
	// uniform sample of all seen, until the first retraining, and after
	// each mostly of those since the one before. 0 keeps none.
	Reservoir int
	// RetrainEvery is the event time between the starts of retrainings
	// on the reservoir, or Shadow and a minute when that is longer; 0
	// never retrains. See retrain.go for the life of a retrained model:
	// trained in the background, then calibrated in the shadow of the
	// model in use for Shadow, then swapped in.
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
	// with the number of windows its shadow scored and the threshold now
	// in effect; RetrainFailed when a fit failed, and the model in use
	// stays.
	Retrained     func(m *Model, shadowed int64, threshold float64)
	RetrainFailed func(err error)
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
	defaultMinRequests      = 1
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
	f.thr = f.opts.ThresholdFor(m)
}

// ThresholdFor returns the threshold that windows scored by m face: the
// configured one when set, else m's calibrated one, else
// DefaultForestThreshold. A configured threshold holds for retrained
// models too.
func (o ForestOptions) ThresholdFor(m *Model) float64 {
	switch {
	case o.Threshold > 0:
		return o.Threshold
	case m != nil && m.meta.Threshold > 0:
		return m.meta.Threshold
	}
	return DefaultForestThreshold
}

// forestJob is the isolation forest's part of closing one window.
type forestJob struct {
	scored    bool // x is to be scored
	learnable bool // the window may be learned from
	above     bool // its score passed the threshold
	score     float64
	// shadowed says the model in its shadow scores the window too;
	// shadowTop that its score, shadow, may be among the highest.
	shadowed, shadowTop bool
	shadow              float64
	x                   [numForest]float64
}

// forestVector decides whether c's window is for the forest, a closed
// window of a ready token that nothing else found anomalous, and if so
// builds its vector.
func (d *Detector) forestVector(c *closing) {
	f, e, w := d.forest, c.e, c.w
	j := &c.forest
	*j = forestJob{learnable: c.anomalous == 0 && !d.inEpisode(e)}
	if !f.active() || w.Kind != features.Token || e.thrDet != detEWMA || e.active < forestWarmWindows ||
		w.V[features.Requests] < f.opts.MinRequests || !j.learnable || c.novel || e.prof == nil {
		// A window already reported, or part of an incident that was,
		// would give a second alert that says nothing new. A token with
		// no profile yet (every window so far anomalous, as with a
		// min_messages of 1) has no networks or clients to compare with.
		return
	}
	d.vector(&j.x, e, w, c.r, c.k)
	// Extreme weights (a sample rate of 1e-300) can overflow a count; a
	// vector that is not finite can be neither scored nor learned from.
	j.scored = finite(j.x[:])
}

// active reports whether the forest scores or collects anything.
func (f *forestRun) active() bool { return f.model != nil || f.res.size > 0 }

func finite(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// parallelScoreMin is the fewest windows worth scoring on several cores.
const parallelScoreMin = 64

// scoreForest scores the windows of jobs that are for the forest, on
// every core when they are many. A window is only scored as far as it
// takes to know whether it passes the threshold.
func (d *Detector) scoreForest(jobs []closing) {
	f := d.forest
	if f.model == nil {
		return
	}
	shadowFloor := f.next.sample(jobs)
	score := func(j *forestJob) {
		if !j.scored {
			return
		}
		if j.shadowed {
			j.shadow, j.shadowTop = f.next.shadow.ScoreAbove(j.x[:], shadowFloor)
		}
		if f.opts.Scored != nil {
			j.score = f.model.Score(j.x[:])
			j.above = j.score > f.thr
			return
		}
		j.score, j.above = f.model.ScoreAbove(j.x[:], f.thr)
		j.above = j.above && j.score > f.thr
	}
	workers := min(runtime.GOMAXPROCS(0), len(jobs)/parallelScoreMin)
	if workers <= 1 {
		for i := range jobs {
			score(&jobs[i].forest)
		}
		return
	}
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := g; i < len(jobs); i += workers {
				score(&jobs[i].forest)
			}
		})
	}
	wg.Wait()
}

// forestVerdict acts on c's score, in window order: a finding when it
// passed the threshold, else the window joins the reservoir and the
// shadow model's calibration.
func (d *Detector) forestVerdict(c *closing) *Finding {
	f, j := d.forest, &c.forest
	if !j.scored {
		return nil
	}
	if f.model == nil {
		f.res.add(j.x[:])
		return nil
	}
	if f.opts.Scored != nil {
		f.opts.Scored(j.score)
	}
	if !j.above {
		f.res.add(j.x[:])
		f.next.record(j)
		return nil
	}
	// The window is not sampled for the next model, but its networks and
	// clients are learned: a tenant that moved to new servers must not
	// stay new, and alert, for good. Its first windows alerted.
	return d.fireForest(c.e, c.w, j)
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
// unless a per-feature detector found it anomalous: a bulk download from
// a new address must not make the address the token's own.
func (d *Detector) learnProfile(e *entity, w *features.Window, learnable bool) {
	if w.Kind != features.Token || !learnable || !d.profiles() {
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
func (d *Detector) fireForest(e *entity, w *features.Window, j *forestJob) *Finding {
	f, score := d.forest, j.score
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
	iso := f.model.Explain(j.x[:], 3)
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
		Judged:   d.judged(e, w),
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
