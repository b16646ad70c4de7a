package detect

import (
	"math"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// beginEpisode starts an episode at the window starting at start, freezing
// the thresholds it is measured against.
func (d *Detector) beginEpisode(e *entity, ep *EpisodeState, start int64) {
	ep.Since, ep.Quiet, ep.Excess, ep.Worst = start, 0, 0, 0
	ep.Thr = e.thr
	ep.Exp = e.exp[features.Messages]
}

// beginEpisodeEarly starts an episode of detector det for a window
// reported early unless one is still going on. The window just before
// may still be open, so it does not count as quiet yet. An episode it
// replaces, one whose end no window has shown yet (the whole log was
// quiet), ends first, with its notice when prevAlerted says it raised
// an alert.
func (d *Detector) beginEpisodeEarly(e *entity, det int, start int64, r *rates, prevAlerted bool) {
	ep := e.ep[det]
	if ep.Since != 0 && ep.Quiet+max(idleWindows(e, start, r)-1, 0) < int64(d.opts.EpisodeEnd) {
		return
	}
	if ep.Since != 0 {
		d.closeEpisode(e, det, start, prevAlerted)
	}
	d.beginEpisode(e, ep, start)
}

// endEpisode ends detector det's episode of e, judged over at event
// time at, with a back-to-normal notice when it raised an alert.
func (d *Detector) endEpisode(e *entity, det int, at int64) {
	d.closeEpisode(e, det, at, e.ep[det].alerted())
}

func (d *Detector) closeEpisode(e *entity, det int, at int64, notify bool) {
	ep := e.ep[det]
	if notify {
		d.resolved = append(d.resolved, d.resolution(e, det, at))
	}
	ep.Since, ep.Quiet, ep.Excess, ep.Worst = 0, 0, 0, 0
}

// settle counts the k windows without traffic before the window
// starting at start as ordinary for every episode, those that began
// after them: an episode begun early in this very window (after a long
// silence, like a dormant token waking) must not be ended by the
// silence before it.
func (d *Detector) settle(e *entity, k int64, start int64) {
	if k == 0 {
		return
	}
	for i, ep := range e.ep {
		if ep == nil || ep.Since == 0 {
			continue
		}
		quiet := k
		if ep.Since > e.last {
			quiet = min(k, max(start-ep.Since, 0)/d.rates.size)
		}
		ep.Quiet += quiet
		if ep.Quiet >= int64(d.opts.EpisodeEnd) {
			d.endEpisode(e, i, start)
		}
	}
}

// trackEpisode advances the episodes of e with the closed window w. A
// window continues an episode when it is anomalous, or when it is above
// the thresholds frozen at the episode's start: the baseline adapts to a
// sustained incident within minutes, but the incident goes on.
func (d *Detector) trackEpisode(e *entity, w *features.Window, anomalous uint32) {
	start := w.Start.UnixNano()
	for i := range e.ep {
		judged := int8(i) == e.thrDet
		if judged && anomalous != 0 {
			if e.ep[i] == nil {
				e.ep[i] = &EpisodeState{}
			}
			if e.ep[i].Since == 0 {
				d.beginEpisode(e, e.ep[i], start)
			}
		}
		ep := e.ep[i]
		if ep == nil || ep.Since == 0 {
			continue
		}
		if judged && (anomalous != 0 || d.aboveFrozen(e, ep, w)) {
			ep.Since = min(ep.Since, start)
			ep.Quiet = 0
			ep.Excess += max(0, w.V[features.Messages]-float64(ep.Exp))
			continue
		}
		if start > ep.Since {
			ep.Quiet++
			if ep.Quiet >= int64(d.opts.EpisodeEnd) {
				d.endEpisode(e, i, w.End.UnixNano())
			}
		}
	}
}

func (d *Detector) aboveFrozen(e *entity, ep *EpisodeState, w *features.Window) bool {
	for _, f := range d.alerted[w.Kind] {
		if value(e, w, f) > float64(ep.Thr[f]) {
			return true
		}
	}
	return false
}

// dropIdleEpisodes frees the alert state of detectors with neither an
// episode nor a cooldown going on.
func (d *Detector) dropIdleEpisodes(e *entity, at int64) {
	for i, ep := range e.ep {
		if ep != nil && ep.idle(at, d.cooldown) {
			e.ep[i] = nil
		}
	}
	if e.fep != nil && !e.fep.inCooldown(at, d.cooldown) {
		e.fep = nil
	}
	if e.nep != nil && !e.nep.inCooldown(at, d.cooldown) {
		e.nep = nil
	}
}

// learn folds the closed window w, preceded by k empty windows, into e's
// baseline. Values above their threshold are learned as the threshold
// (winsorised), so an incident does not become the norm at once; a
// legitimate new level is learned within a few windows through the peak
// term (each anomalous window raises the next threshold by PeakRatio).
func (d *Detector) learn(e *entity, w *features.Window, r *rates, k int64) {
	d.gatherSurge(e, w, float64(e.stats[features.Requests].Mean))
	var x features.Vector
	for f := range x {
		x[f] = min(w.V[f], float64(e.thr[f]))
	}
	keep, peakKeep := 1.0, r.peakDecay
	if k > 0 {
		keep = r.keep(e.n, k)
		peakKeep *= math.Pow(r.peakDecay, float64(k))
	}
	a := r.weight(e.n + k)
	for f := range e.stats {
		s := &e.stats[f]
		m, v := decayed(float64(s.Mean), float64(s.Var), keep)
		m, v = step(m, v, x[f], a)
		peak := max(float64(s.Peak)*peakKeep, x[f])
		*s = stat{float32(m), float32(max(v, 0)), float32(peak)}
	}
	d.learnHorizon(e, w, r, k)
	e.n += k + 1
	e.active++
	e.last = w.End.UnixNano()
	e.thrFor = math.MinInt64
	if e.thrDet == detEWMA {
		d.pop[e.kind].add(&x)
	}
}

// learnHorizon carries the horizon sum and the page size past w. Like
// the baselines they are winsorised: the sum is learned no higher than
// its threshold, and a window anomalous in messages does not teach the
// page, so that an exfiltration's large pages do not blunt the
// judgement of the token's next windows.
//
// The peak of the sum is learned a Horizon late: accRun keeps the
// largest sum of the current Horizon-aligned block, and joins accPeak
// when the block ends. A sum chases itself: learned at once, a peak
// that grows by less than PeakRatio a window (any pull spread over the
// horizon) would keep the threshold ahead of it for ever.
func (d *Detector) learnHorizon(e *entity, w *features.Window, r *rates, k int64) {
	acc := min(value(e, w, horizon), float64(e.thr[horizon]))
	decay := pow(r.peakDecay, k+1)
	e.acc = float32(acc)
	e.accPeak = float32(float64(e.accPeak) * decay)
	h := int64(d.opts.Horizon)
	if e.last != 0 && floorDiv(w.Start.UnixNano(), h) != floorDiv(e.last-r.size, h) {
		e.accPeak = max(e.accPeak, e.accRun)
		e.accRun = 0
	}
	e.accRun = max(e.accRun, float32(acc))
	page := float64(e.page) * decay
	if w.V[features.Messages] <= float64(e.thr[features.Messages]) {
		page = max(page, w.MaxMessages)
	}
	e.page = float32(page)
}

// floorDiv divides rounding down, also before the epoch.
func floorDiv(t, d int64) int64 {
	q := t / d
	if t%d < 0 {
		q--
	}
	return q
}

// foldPopulation folds the windows gathered for earlier ends into the
// population baselines once a window with a later end arrives.
func (d *Detector) foldPopulation(end int64) {
	for k := range d.pop {
		p := &d.pop[k]
		if end <= p.PendEnd {
			continue
		}
		if p.fold(&d.popRates) {
			d.popVer++
		}
		p.PendEnd = end
	}
}
