package detect

import (
	"math"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// Band returns the expected messages of w's entity in w and the
// threshold above which they are anomalous, as the detector judges w
// when it closes, for a report to draw the baseline band under the
// entity's volume. It changes nothing the detector has learned: called
// before Close, it works on a copy of the entity, so that asking never
// alters an alert.
//
// Unlike the cached thresholds, which hold floors while a window stays
// below them (the verdict is the same), Band always computes the real
// baseline. For an entity still judged against the population it uses
// the population as it was before w's end is folded in. A threshold of
// +Inf means the feature is not judged yet (a cold population).
func (d *Detector) Band(w *features.Window) (expected, threshold float64) {
	if w == nil || w.Kind >= features.NumKinds {
		return 0, math.Inf(1)
	}
	start := w.Start.UnixNano()
	e := entity{kind: w.Kind, first: start}
	if known := d.ents[w.Kind][w.Key]; known != nil {
		e = *known
	}
	// A copy: prepareWindow and the prepare functions write only to e.
	r := d.ratesFor(w)
	d.prepareWindow(&e, start, r)
	if e.thrDet == detEWMA {
		d.prepareEWMA(&e, r, idleWindows(&e, start, r))
	} else {
		d.preparePopulation(&e)
	}
	return float64(e.exp[features.Messages]), float64(e.thr[features.Messages])
}
