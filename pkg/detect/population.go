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

// PopulationSummary is what a population baseline shares with others:
// enough to merge the baselines of partitions judged apart into the
// baseline of the whole.
type PopulationSummary struct {
	Mu, M2  features.Vector
	Samples int64 // entity windows folded in
}

// Population returns the summary of kind k's own population baseline.
func (d *Detector) Population(k features.Kind) PopulationSummary {
	p := &d.pop[k]
	return PopulationSummary{Mu: p.Mu, M2: p.M2, Samples: p.Samples}
}

// SetFleet makes new entities of kind k face s instead of the population
// this detector formed itself; nil goes back to its own. The detector
// keeps forming its own, for others to merge.
func (d *Detector) SetFleet(k features.Kind, s *PopulationSummary) {
	d.fleet[k] = s
	d.popVer++ // thresholds prepared against the old population are stale
}

// MergePopulations weighs summaries by the windows each folded in: a
// partition's share of the fleet's entity windows. Summaries that folded
// nothing count for nothing; nil when none folded anything.
func MergePopulations(ss []PopulationSummary) *PopulationSummary {
	var out PopulationSummary
	for _, s := range ss {
		if s.Samples <= 0 {
			continue
		}
		w := float64(s.Samples)
		for f := range out.Mu {
			out.Mu[f] += w * s.Mu[f]
			out.M2[f] += w * s.M2[f]
		}
		out.Samples += s.Samples
	}
	if out.Samples == 0 {
		return nil
	}
	for f := range out.Mu {
		out.Mu[f] /= float64(out.Samples)
		out.M2[f] /= float64(out.Samples)
	}
	return &out
}
