package detect

import (
	"math"
	"strings"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// Finding is one anomalous feature of one entity's window.
type Finding struct {
	Kind      features.Kind
	Key, Hint string
	// Detector is "ewma" when the entity was judged against its own
	// baseline, "population" when against its peers' (it was still
	// warming up), "iforest" when the isolation forest found the window
	// unlike the windows it learned from, "budget" when a token's hourly
	// messages added up over hours to far more than its usual (Feature
	// "messages_excess", see BudgetState), "flood" when a kind saw far
	// more new entities in a window than usual (Key is then the kind,
	// "token" or "ip", and Feature "new_tokens" or "new_ips").
	Detector string
	// Feature is the feature's name, as features.Feature.Name, or for
	// "iforest" "isolation_score", Observed being the forest's score and
	// Expected 0.5, the score of an ordinary window.
	Feature  string
	Observed float64
	// Expected is the entity's mean for "ewma", the population's typical
	// value (the exponential of its mean log) for "population".
	Expected  float64
	Threshold float64
	// Score is Observed / Threshold: above 1 is anomalous, Critical and
	// above is critical. A ratio reads the same for every feature and
	// detector, unlike a z-score, which means little for the population's
	// log scale or for a threshold set by a floor.
	Score    float64
	Severity string // "warning" or "critical"

	WindowStart, WindowEnd time.Time
	At                     time.Time // event time of the evidence: the window's Last
	// Since is the start of the first window of the entity's ongoing
	// anomalous episode, and Excess the messages above expected summed
	// over the episode so far.
	Since    time.Time
	Excess   float64
	TopPeers []string
	Early    bool // reported before the window closed
	// Resolved marks the back-to-normal notice of an episode that raised
	// an alert: it ended after EpisodeEnd ordinary windows. Detector,
	// Kind, Key and Since are the episode's; At is when it was judged
	// over, Excess its whole excess, Severity the highest alerted.
	Resolved bool
	// Isolated names, for the "iforest" detector, the features that made
	// the window stand out, most telling first.
	Isolated []Isolation
	// Judged is, for a finding about one entity's window, each alerted
	// feature of the window with the baseline it faced.
	Judged []Judged
}

// Detector judges windows against learned baselines. It is not safe for
// concurrent use, and its findings depend only on the windows it is given
// and their order.
type Detector struct {
	opts     Options
	cooldown int64
	warmup   int64
	alerted  [features.NumKinds][]features.Feature
	names    [features.NumKinds][numJudged]string

	ents   [features.NumKinds]map[string]*entity
	pop    [features.NumKinds]PopulationState
	popVer uint32
	surge  [features.NumKinds]SurgeState
	// fleet, when set for a kind, replaces pop in judging new entities:
	// the population of every partition of a fleet of instances.
	fleet     [features.NumKinds]*PopulationSummary
	lastSweep int64

	evicted [features.NumKinds]int64
	flood   floodRun

	// resolving holds, per kind, the entities with an ongoing episode
	// that raised an alert, whose end is reported even when they fall
	// silent; resolved collects those reports until CloseAll returns.
	resolving [features.NumKinds]map[string]struct{}
	resolved  []Finding

	rates    rates // for the last window length seen
	popRates rates
	forest   *forestRun
	closing  []closing // CloseAll's, reused

	// budgetPop is the "budget" detector's population (budget.go), nil
	// when it is off.
	budgetPop *BudgetPopState
}

// alertOrder is the order in which features are judged, most telling
// first, so that when several cross at once the alert names that one.
var alertOrder = []features.Feature{
	features.Messages, horizon, features.Unauthorized, features.Peers,
	features.Bytes, features.Requests, features.Errors,
}

// unit is, per feature, the lot a count arrives in (see threshold):
// requests, errors and 401s one at a time, messages a page at a time
// (the entity's own page, filled in by prepare); bytes and distinct
// peers are not sums of Poisson lots.
var unit = [features.NumFeatures]float64{
	features.Requests: 1, features.Errors: 1, features.Unauthorized: 1,
}

// New returns a Detector that knows no entity yet. Zero fields of opts
// take their defaults.
func New(opts Options) *Detector {
	o := opts.withDefaults()
	d := &Detector{
		opts:     o,
		cooldown: int64(o.Cooldown),
		warmup:   int64(o.Warmup),
		forest:   newForestRun(o.Forest),
	}
	if o.BudgetOn {
		d.budgetPop = &BudgetPopState{}
	}
	d.setAlerted()
	for k := range d.ents {
		d.ents[k] = make(map[string]*entity)
		d.resolving[k] = make(map[string]struct{})
		for f := range features.NumFeatures {
			d.names[k][f] = f.Name(features.Kind(k))
		}
		d.names[k][horizon] = horizonName(features.Kind(k), o.Horizon)
	}
	return d
}

// setAlerted lists, per kind, the features that can alert: those with
// a floor.
func (d *Detector) setAlerted() {
	for k := range d.alerted {
		d.alerted[k] = d.alerted[k][:0]
		for _, f := range alertOrder {
			if d.opts.minAbs(features.Kind(k), f) > 0 {
				d.alerted[k] = append(d.alerted[k], f)
			}
		}
	}
}

// horizonName names the horizon sum of kind k in findings, such as
// "messages_30m".
func horizonName(k features.Kind, h time.Duration) string {
	what := "messages"
	if k == features.IP {
		what = "unauthorized_tokens"
	}
	d := h.String()
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return what + "_" + d
}

// minAbs returns the floor of feature f, the horizon slot included.
func (o *Options) minAbs(k features.Kind, f features.Feature) float64 {
	if f == horizon {
		return o.HorizonMinAbs[k]
	}
	return o.MinAbs[k][f]
}

// horizonValue is what a window adds to the horizon sum: its messages
// for a token; for an address the lesser of its 401s and its distinct
// tokens, so 401s count only as far as they are spread over tokens: one
// client retrying a revoked key stays at one a window.
func horizonValue(w *features.Window) float64 {
	if w.Kind == features.IP {
		return min(w.V[features.Unauthorized], w.V[features.Peers])
	}
	return w.V[features.Messages]
}

// value returns the judged value f of w for e: a feature of the window,
// or the horizon sum carried into it plus what the window adds.
func value(e *entity, w *features.Window, f features.Feature) float64 {
	if f == horizon {
		return float64(e.accBase) + horizonValue(w)
	}
	return w.V[f]
}

// Entities returns how many tokens and addresses the detector remembers.
func (d *Detector) Entities() (tokens, ips int) {
	return len(d.ents[features.Token]), len(d.ents[features.IP])
}

func (d *Detector) ratesFor(w *features.Window) *rates {
	size := w.End.Sub(w.Start)
	if size <= 0 {
		size = time.Minute
	}
	if d.rates.size != int64(size) {
		d.rates = newRates(size, d.opts.HalfLife, d.opts.PeakHalfLife, d.opts.Horizon)
		d.popRates = newRates(size, d.opts.PopulationHalfLife, d.opts.PeakHalfLife, d.opts.Horizon)
	}
	return &d.rates
}

// entityFor returns the state of w's entity, creating it on first sight.
func (d *Detector) entityFor(w *features.Window) *entity {
	if e, ok := w.Ref.(*entity); ok && !e.gone {
		return e
	}
	m := d.ents[w.Kind]
	e := m[w.Key]
	if e == nil {
		e = &entity{
			key:    strings.Clone(w.Key),
			kind:   w.Kind,
			first:  w.Start.UnixNano(),
			thrFor: math.MinInt64,
		}
		m[e.key] = e
	}
	w.Ref = e
	return e
}

// idleWindows returns how many windows passed without traffic between
// the last window e learned and the window starting at start.
func idleWindows(e *entity, start int64, r *rates) int64 {
	if e.last == 0 || start <= e.last {
		return 0
	}
	return (start - e.last) / r.size
}

// prepare makes sure e's cached thresholds are those for w.
func (d *Detector) prepare(e *entity, w *features.Window, r *rates) {
	start := w.Start.UnixNano()
	if e.thrFor != start {
		d.prepareWindow(e, start, r)
	}
	if e.thrReady && (e.thrDet == detEWMA || e.thrPop == d.popVer) {
		return
	}
	// Most windows of most entities never come near a floor: computing
	// their thresholds was most of the engine's time per line.
	if !d.aboveFloor(e, w) {
		d.floorThresholds(e)
		return
	}
	e.thrReady = true
	k := idleWindows(e, start, r)
	if e.thrDet == detEWMA {
		d.prepareEWMA(e, r, k)
		return
	}
	d.preparePopulation(e)
}

// prepareWindow does what the start of a window needs whatever its
// values: the horizon sum carried in, a wake from dormancy, and which
// detector judges the entity.
func (d *Detector) prepareWindow(e *entity, start int64, r *rates) {
	e.thrFor = start
	e.thrReady = false
	k := idleWindows(e, start, r)
	e.accBase = float32(float64(e.acc) * pow(r.accKeep, k+1))
	if e.active > 0 && k*r.size >= int64(d.opts.DormantAfter) {
		e.woke = start
	}
	e.thrDet = detPopulation
	if start-e.first >= d.warmup && e.active >= int64(d.opts.WarmupWindows) {
		e.thrDet = detEWMA
	}
}

// aboveFloor reports whether some judged value of w exceeds its floor.
func (d *Detector) aboveFloor(e *entity, w *features.Window) bool {
	for _, f := range d.alerted[e.kind] {
		if value(e, w, f) > d.opts.minAbs(e.kind, f) {
			return true
		}
	}
	return false
}

// floorThresholds sets every threshold to its floor, or to infinity for
// a feature learned but never alerted on, so that learning clamps
// nothing a real threshold would not have clamped.
func (d *Detector) floorThresholds(e *entity) {
	for f := range features.Feature(numJudged) {
		thr := d.opts.minAbs(e.kind, f)
		if thr == 0 {
			thr = math.Inf(1)
		}
		e.thr[f], e.exp[f] = float32(thr), 0
	}
}

func (d *Detector) prepareEWMA(e *entity, r *rates, k int64) {
	page := float64(e.page) * pow(r.peakDecay, k)
	lift := 1.0
	if !d.opts.SurgeOff {
		lift = d.surge[e.kind].factor()
	}
	for f := range e.stats {
		m, v, peak := e.stats[f].expected(r, e.n, k)
		if surges[f] {
			m, v, peak = m*lift, v*lift*lift, peak*lift
		}
		u, recent := unit[f], 0.0
		if f == int(features.Messages) {
			u = page
			if e.kind == features.Token {
				recent = float64(e.accBase) * (1 - r.accKeep)
			}
		}
		thr := d.opts.threshold(m, v, peak, d.opts.MinAbs[e.kind][f], u, recent)
		e.thr[f], e.exp[f] = float32(thr), float32(m)
	}
	d.prepareHorizon(e, r, k, page, lift)
}

// surges marks the features a platform-wide surge lifts: volumes. The
// distinct peers of a token, or the 401s of an address, do not grow
// because everyone is busier.
var surges = [features.NumFeatures]bool{
	features.Messages: true, features.Requests: true, features.Bytes: true,
}

// prepareHorizon sets the threshold of the horizon sum of a ready
// entity. Its mean and variance follow from the per-window baseline of
// the feature it sums: a geometric sum keeping g per window has mean
// m/(1-g) and, for independent windows, variance v/(1-g²); its own peak
// covers what the daily rhythm adds to that.
func (d *Detector) prepareHorizon(e *entity, r *rates, k int64, page, lift float64) {
	f, u := features.Messages, page
	if e.kind == features.IP {
		f, u, lift = features.Unauthorized, 1, 1
	}
	m, v, _ := e.stats[f].expected(r, e.n, k)
	g := r.accKeep
	mA, vA := lift*m/(1-g), lift*lift*v/(1-g*g)
	peak := lift * float64(e.accPeak) * pow(r.peakDecay, k)
	if e.woke != 0 && e.thrFor-e.woke < int64(d.opts.Horizon) {
		// Peaks from before days of silence say nothing of the token
		// waking: a leaked credential used by someone else.
		peak = 0
	}
	thr := d.opts.threshold(mA, vA, peak, d.opts.HorizonMinAbs[e.kind], u, 0)
	if u > 0 && peak > 0 {
		// A past sum of P lots says the rate then gave P lots a horizon;
		// at that rate Poisson counts up to its quantile are ordinary. A
		// nightly export that varies from night to night stays normal.
		thr = max(thr, u*poissonQuantile(peak/u, d.opts.Z, d.opts.tail))
	}
	e.thr[horizon], e.exp[horizon] = float32(thr), float32(mA)
}

func (d *Detector) preparePopulation(e *entity) {
	e.thrPop = d.popVer
	p := &d.pop[e.kind]
	if f := d.fleet[e.kind]; f != nil {
		p = &PopulationState{Mu: f.Mu, M2: f.M2, Samples: f.Samples}
	}
	warm := p.Samples >= int64(d.opts.PopulationWarmup)
	for f := range features.Feature(numJudged) {
		minAbs := d.opts.minAbs(e.kind, f)
		if warm && f != horizon {
			thr, typ := p.threshold(&d.opts, f, minAbs)
			e.thr[f], e.exp[f] = float32(thr), float32(typ)
			continue
		}
		// The horizon sum of a new entity faces PopulationMinFactor
		// times its floor, and is not judged while the population is
		// cold: at start-up every big tenant is new. Every other feature
		// faces a floor well above the usual one while cold. No floor,
		// no threshold at all (so no winsorising).
		factor := d.opts.ColdFactor
		if f == horizon {
			factor = d.opts.PopulationMinFactor
		}
		thr := minAbs * factor
		if thr == 0 || (f == horizon && !warm) {
			thr = math.Inf(1)
		}
		e.thr[f], e.exp[f] = float32(thr), 0
	}
}

// Peek judges an open window just after a record was added to it. Counts
// only grow, so a running value above the threshold makes the closed
// window anomalous too: Peek reports it at once (Early) rather than at
// the end of the window. Each feature is reported at most once per
// window. Thresholds are computed once per window and baseline change,
// so a Peek is a lookup and a few comparisons.
func (d *Detector) Peek(w *features.Window) []Finding {
	if w == nil || w.Kind >= features.NumKinds {
		return nil
	}
	e := d.entityFor(w)
	r := d.ratesFor(w)
	d.prepare(e, w, r)
	var out []Finding
	for _, f := range d.alerted[w.Kind] {
		bit := uint32(1) << f
		if value(e, w, f) <= float64(e.thr[f]) || w.Marks&bit != 0 {
			continue
		}
		if fd, ok := d.fire(e, w, f, true); ok {
			w.Marks |= bit
			out = append(out, fd)
		}
	}
	return d.noticesFirst(out)
}

// Close judges a closed window, except features already reported early
// for it, then learns from it. Windows must come in order of End, as
// features.Aggregator.Advance gives them.
func (d *Detector) Close(w *features.Window) []Finding {
	return d.CloseAll([]*features.Window{w})
}

// closing is one window of a CloseAll between its steps.
type closing struct {
	w         *features.Window
	e         *entity
	r         *rates
	k         int64
	anomalous uint32
	found     [2]int // its per-feature findings in CloseAll's list
	novel     bool   // the novelty detector reported it
	forest    forestJob
}

// CloseAll closes windows that end together, as
// features.Aggregator.AdvanceAll gives them, and returns their findings
// in the windows' order. It judges them all, scores the forest's on every
// core, then learns from each: one entity has one window per end, and
// the population moves on only at the next end, so the windows do not
// depend on each other and the outcome is that of closing them one by
// one, whatever the number of cores.
func (d *Detector) CloseAll(ws []*features.Window) []Finding {
	jobs := d.closing[:0]
	var found []Finding
	for _, w := range ws {
		if w == nil || w.Kind >= features.NumKinds {
			continue
		}
		c := closing{w: w}
		found = d.judge(&c, found)
		jobs = append(jobs, c)
	}
	d.scoreForest(jobs)
	var out []Finding
	for i := range jobs {
		c := &jobs[i]
		out = append(out, found[c.found[0]:c.found[1]]...)
		if fd := d.forestVerdict(c); fd != nil {
			out = append(out, *fd)
		}
		out = d.budgetWindow(c.e, c.w, out)
		d.learn(c.e, c.w, c.r, c.k)
		d.learnProfile(c.e, c.w, c.forest.learnable)
		d.dropIdleEpisodes(c.e, c.w.Last.UnixNano())
	}
	if len(jobs) > 0 {
		lastW := jobs[len(jobs)-1].w
		out = append(out, d.judgeFloods(lastW.Start, lastW.End)...)
		end := lastW.End.UnixNano()
		d.retrainForest(end)
		d.endSilentEpisodes(end)
		out = d.noticesFirst(out)
		d.maybeSweep(end)
	}
	clear(jobs)
	d.closing = jobs[:0]
	return out
}

// judge runs the per-feature detectors on c's window, appending their
// findings to found, and prepares its forest vector.
func (d *Detector) judge(c *closing, found []Finding) []Finding {
	w := c.w
	c.e, c.r = d.entityFor(w), d.ratesFor(w)
	d.countNew(c.e, w)
	d.foldPopulation(w.End.UnixNano())
	d.foldSurge(w.End.UnixNano(), c.r.size)
	d.prepare(c.e, w, c.r)
	c.k = idleWindows(c.e, w.Start.UnixNano(), c.r)
	d.settle(c.e, c.k, w.Start.UnixNano())
	c.anomalous = d.anomalies(c.e, w)
	d.trackEpisode(c.e, w, c.anomalous)
	c.found[0] = len(found)
	found = append(found, d.judgeClosed(c.e, w, c.anomalous)...)
	if fd := d.judgeNovelty(c); fd != nil {
		c.novel = true
		found = append(found, *fd)
	}
	c.found[1] = len(found)
	d.forestVector(c)
	return found
}

// anomalies returns the alerted features of w above their thresholds.
func (d *Detector) anomalies(e *entity, w *features.Window) uint32 {
	var bits uint32
	for _, f := range d.alerted[w.Kind] {
		if value(e, w, f) > float64(e.thr[f]) {
			bits |= 1 << f
		}
	}
	return bits
}

func (d *Detector) judgeClosed(e *entity, w *features.Window, anomalous uint32) []Finding {
	d.settleEarly(e, w, anomalous)
	var out []Finding
	for _, f := range d.alerted[w.Kind] {
		bit := uint32(1) << f
		if anomalous&bit == 0 || w.Marks&bit != 0 {
			continue
		}
		if fd, ok := d.fire(e, w, f, false); ok {
			out = append(out, fd)
		}
	}
	return out
}

// settleEarly records the final values of the features reported early
// for w, so that escalation is measured against what the window became,
// not against the value at which it crossed the threshold.
func (d *Detector) settleEarly(e *entity, w *features.Window, anomalous uint32) {
	start := w.Start.UnixNano()
	for _, ep := range e.ep {
		if ep != nil && ep.Open == start {
			ep.Open = 0
		}
	}
	ep := e.ep[e.thrDet]
	if ep == nil {
		return
	}
	for _, f := range d.alerted[w.Kind] {
		bit := uint32(1) << f
		if w.Marks&bit == 0 || anomalous&bit == 0 {
			continue
		}
		obs := value(e, w, f)
		ep.Alerted[f] = max(ep.Alerted[f], float32(obs))
		ep.Severity = max(ep.Severity, d.severity(obs, float64(e.thr[f])))
		ep.Worst = max(ep.Worst, ep.Severity)
	}
}

func (d *Detector) severity(obs, thr float64) uint8 {
	if obs >= d.opts.Critical*thr {
		return sevCritical
	}
	return sevWarning
}

// fire decides whether feature f of w, above its threshold, is reported:
// always outside the cooldown, and inside it only when it escalates.
func (d *Detector) fire(e *entity, w *features.Window, f features.Feature,
	early bool) (Finding, bool) {
	det := e.thrDet
	obs, thr := value(e, w, f), float64(e.thr[f])
	at, start := w.Last.UnixNano(), w.Start.UnixNano()
	sev := d.severity(obs, thr)
	ep := e.ep[det]
	if ep == nil {
		ep = &EpisodeState{}
		e.ep[det] = ep
	}
	cooling := ep.inCooldown(at, d.cooldown)
	if cooling && !d.escalates(ep, f, obs, sev, start, w.End.Sub(w.Start)) {
		return Finding{}, false
	}
	prevAlerted := ep.alerted()
	if !cooling {
		ep.Alerted, ep.Severity = [numJudged]float32{}, 0
	}
	ep.LastAlert, ep.Hint = at, w.Hint
	d.resolving[e.kind][e.key] = struct{}{}
	ep.Alerted[f] = max(ep.Alerted[f], float32(obs))
	ep.Severity = max(ep.Severity, sev)
	if early {
		ep.Open = start
		d.beginEpisodeEarly(e, int(det), start, d.ratesFor(w), prevAlerted)
	}
	ep.Worst = max(ep.Worst, sev)
	return d.finding(e, w, f, ep, sev, early), true
}

// escalates reports whether a value above threshold during the cooldown
// is worse enough to alert again. While a window reported early is still
// open its final values are unknown, and comparing with the value at
// which it crossed would turn every continuing burst into an escalation,
// so escalations wait for it to close (at most the lateness).
func (d *Detector) escalates(ep *EpisodeState, f features.Feature, obs float64,
	sev uint8, start int64, size time.Duration) bool {
	// The bound only guards against a window that never closes.
	if ep.Open != 0 && start-ep.Open <= 2*int64(size) {
		return false
	}
	if sev > ep.Severity {
		return true
	}
	last := float64(ep.Alerted[f])
	return last > 0 && obs >= d.opts.EscalateFactor*last
}

func (d *Detector) finding(e *entity, w *features.Window, f features.Feature,
	ep *EpisodeState, sev uint8, early bool) Finding {
	obs, thr := value(e, w, f), float64(e.thr[f])
	excess := ep.Excess
	if early {
		excess += max(0, w.V[features.Messages]-float64(ep.Exp))
	}
	return Finding{
		Kind:        w.Kind,
		Key:         w.Key,
		Hint:        w.Hint,
		Detector:    detectorNames[e.thrDet],
		Feature:     d.names[w.Kind][f],
		Observed:    obs,
		Expected:    float64(e.exp[f]),
		Threshold:   thr,
		Score:       obs / thr,
		Severity:    severityName(sev),
		WindowStart: w.Start,
		WindowEnd:   w.End,
		At:          w.Last,
		Since:       time.Unix(0, ep.Since).UTC(),
		Excess:      excess,
		TopPeers:    w.TopPeers(d.opts.TopPeers),
		Early:       early,
		Judged:      d.judged(e, w),
	}
}
