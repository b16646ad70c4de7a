package detect

import "github.com/sentinel-project/sentinel/pkg/features"

// Judged is one feature of a window as the detector judged it: its value
// and the entity's baseline then, for the evidence an alert keeps.
// Expected is 0 and Threshold the feature's floor while the window stays
// below every floor (no baseline is computed for it then); Threshold is
// +Inf for a feature not judged in the window.
type Judged struct {
	Feature   string
	Value     float64
	Expected  float64
	Threshold float64
}

// judged lists w's alerted features with e's baseline for w, which
// prepare has set.
func (d *Detector) judged(e *entity, w *features.Window) []Judged {
	out := make([]Judged, 0, len(d.alerted[w.Kind]))
	for _, f := range d.alerted[w.Kind] {
		out = append(out, Judged{Feature: d.names[w.Kind][f], Value: value(e, w, f),
			Expected: float64(e.exp[f]), Threshold: float64(e.thr[f])})
	}
	return out
}

// Near reports whether an open window just given to Peek stands above
// its entity's expected level and half its threshold in some alerted
// feature: a window that may alert, whose lines are worth keeping as
// evidence. Most windows never get there, so that keeping lines costs
// nothing for ordinary traffic.
func (d *Detector) Near(w *features.Window) bool {
	e, ok := w.Ref.(*entity)
	if !ok || e.gone || e.thrFor != w.Start.UnixNano() {
		return false
	}
	for _, f := range d.alerted[w.Kind] {
		v := value(e, w, f)
		if v > float64(e.exp[f]) && v > float64(e.thr[f])/2 {
			return true
		}
	}
	return false
}
