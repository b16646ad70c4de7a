package detect

import (
	"math"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// PopulationState is the baseline of one kind's ready entities: per feature,
// the mean and second moment of log(1+value) over their non-empty
// windows. It folds in one window-end at a time (the windows of all
// entities that closed at that end, weighted equally), so its memory is
// in event time, like an entity's, and does not shrink as the number of
// entities grows.
type PopulationState struct {
	Mu, M2  features.Vector // EWMA of log1p(value) and of its square
	Ends    int64           // window ends folded in
	Samples int64           // entity windows folded in

	// The window end being gathered.
	PendEnd int64
	PendN   float64
	PendS1  features.Vector
	PendS2  features.Vector
}

// add gathers one ready entity's window ending at end.
func (p *PopulationState) add(v *features.Vector) {
	p.PendN++
	for f := range v {
		x := math.Log1p(max(v[f], 0))
		p.PendS1[f] += x
		p.PendS2[f] += x * x
	}
}

// fold folds the gathered windows in with the EWMA weights of r.
func (p *PopulationState) fold(r *rates) bool {
	if p.PendN == 0 {
		return false
	}
	a := r.weight(p.Ends)
	for f := range p.Mu {
		p.Mu[f] += a * (p.PendS1[f]/p.PendN - p.Mu[f])
		p.M2[f] += a * (p.PendS2[f]/p.PendN - p.M2[f])
	}
	p.Ends++
	p.Samples += int64(p.PendN)
	p.PendN = 0
	p.PendS1, p.PendS2 = features.Vector{}, features.Vector{}
	return true
}

// threshold returns the population's threshold and typical value for
// feature f.
func (p *PopulationState) threshold(o *Options, f features.Feature,
	minAbs float64) (thr, typical float64) {
	sigma := math.Sqrt(max(p.M2[f]-p.Mu[f]*p.Mu[f], 0))
	typical = math.Expm1(p.Mu[f])
	thr = math.Expm1(p.Mu[f] + o.PopulationZ*sigma)
	return max(thr, minAbs*o.PopulationMinFactor), typical
}
