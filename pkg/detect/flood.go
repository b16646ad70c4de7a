package detect

import (
	"math"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// FloodState is the "flood" detector's state for one kind: the baseline
// of how many entities of that kind are new per window, the window end
// being counted, and the alert state. A few numbers per kind, whatever
// the flood.
type FloodState struct {
	// First is the first window end seen, Unix ns; Ends counts the
	// window ends completed since.
	First, Ends int64
	// N counts the window ends learned (after the warm-up), Mean and Var
	// their EWMA of new entities per window.
	N         int64
	Mean, Var float64
	// PendEnd is the window end being counted, Pend its new entities so
	// far and PendDone whether it was judged anomalous already: windows
	// ending together may come in several CloseAll calls.
	PendEnd  int64
	Pend     float64
	PendDone bool
	// LastAlert is the event time of the last alert, Alerted the largest
	// count reported since and Since the start of the flood's first
	// window.
	LastAlert, Since int64
	Alerted          float64
}

// floodRun is the flood detector while it runs: its state, and the new
// entities counted for the window end being closed.
type floodRun struct {
	st      [features.NumKinds]FloodState
	pending [features.NumKinds]int64
	last    [features.NumKinds]time.Time // latest event among the new entities' windows
}

// floodWarmupWindows is how many window ends the flood detector neither
// judges nor learns: at start-up every entity is new, and learning that
// would make the baseline blind for days.
const floodWarmupWindows = 60

// floodNames are the flood's features per kind.
var floodNames = [features.NumKinds]string{features.Token: "new_tokens", features.IP: "new_ips"}

// AddRefused counts entities the aggregator refused to open a window for
// (features.Aggregator.TakeRefused, by kind) as new in the windows
// about to close: a flood past the aggregator's bound is seen in full,
// not only as far as it got in.
func (d *Detector) AddRefused(n [features.NumKinds]int64) {
	for k := range n {
		d.flood.pending[k] += n[k]
	}
}

// countNew notes a closing window whose entity has learned nothing yet.
func (d *Detector) countNew(e *entity, w *features.Window) {
	if e.n != 0 {
		return
	}
	d.flood.pending[w.Kind]++
	d.flood.last[w.Kind] = maxTime(d.flood.last[w.Kind], w.Last)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// judgeFloods judges, per kind, how many new entities the windows ending
// at end brought (start is the windows' start), against the usual, and
// learns it. It returns the flood findings.
func (d *Detector) judgeFloods(start, end time.Time) []Finding {
	var out []Finding
	for k := range features.Kind(features.NumKinds) {
		n := float64(d.flood.pending[k])
		last := d.flood.last[k]
		d.flood.pending[k], d.flood.last[k] = 0, time.Time{}
		if last.IsZero() {
			last = end
		}
		if fd, ok := d.judgeFlood(k, n, start, end, last); ok {
			out = append(out, fd)
		}
	}
	return out
}

func (d *Detector) judgeFlood(k features.Kind, n float64, start, end, last time.Time) (Finding, bool) {
	st := &d.flood.st[k]
	d.nextFloodEnd(st, start, end)
	st.Pend += n
	if !d.floodWarm(st) || st.PendDone {
		return Finding{}, false
	}
	thr := d.floodThreshold(st)
	if st.Pend <= thr {
		return Finding{}, false
	}
	st.PendDone = true
	at := last.UnixNano()
	cooling := st.LastAlert != 0 && at < st.LastAlert+d.cooldown
	if cooling && st.Pend < d.opts.EscalateFactor*st.Alerted {
		return Finding{}, false
	}
	if !cooling {
		st.Since, st.Alerted = start.UnixNano(), 0
	}
	st.LastAlert, st.Alerted = at, max(st.Alerted, st.Pend)
	return Finding{
		Kind: k, Key: k.String(), Detector: "flood", Feature: floodNames[k],
		Observed: st.Pend, Expected: st.Mean, Threshold: thr, Score: st.Pend / thr,
		Severity:    severityName(d.severity(st.Pend, thr)),
		WindowStart: start, WindowEnd: end, At: last,
		Since: time.Unix(0, st.Since).UTC(),
	}, true
}

// nextFloodEnd moves st on to the window end end, learning the count of
// the previous one once complete. The warm-up's counts are not learned:
// at start-up every entity is new, and learning that would blind the
// baseline for days.
func (d *Detector) nextFloodEnd(st *FloodState, start, end time.Time) {
	t := end.UnixNano()
	if t <= st.PendEnd {
		return
	}
	if st.PendEnd != 0 {
		if d.floodWarm(st) {
			r := d.ratesFor(&features.Window{Start: start, End: end})
			// Winsorised like an entity's baseline, so a flood does not
			// become the norm.
			x := min(st.Pend, d.floodThreshold(st))
			st.Mean, st.Var = step(st.Mean, st.Var, x, r.weight(st.N))
			st.N++
		}
		st.Ends++
	}
	if st.First == 0 {
		st.First = t
	}
	st.PendEnd, st.Pend, st.PendDone = t, 0, false
}

// floodWarm reports whether the window end being counted is past the
// warm-up: floodWarmupWindows ends and Warmup of event time.
func (d *Detector) floodWarm(st *FloodState) bool {
	return st.Ends >= floodWarmupWindows && st.PendEnd-st.First >= d.warmup
}

// floodThreshold is max(FloodMin, FloodRatio·mean, mean + Z·sd), with sd
// at least the Poisson spread sqrt(mean) and SDFloor: new entities
// arrive one by one, and a platform's usual churn is a handful a minute.
func (d *Detector) floodThreshold(st *FloodState) float64 {
	sd := max(math.Sqrt(max(st.Var, 0)), math.Sqrt(max(st.Mean, 0)), d.opts.SDFloor)
	return max(d.opts.FloodMin, d.opts.FloodRatio*st.Mean, st.Mean+d.opts.Z*sd)
}
