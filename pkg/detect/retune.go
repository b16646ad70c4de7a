package detect

// Retune takes over the thresholds of o, keeping everything learned: the
// Z, ratios and floors a window is judged against, what makes a finding
// critical, the cooldown and escalation, and the forest's threshold.
// What shapes the baselines themselves (half-lives, warm-up, the horizon's
// span, the forest's model and retraining) stays as it was: a new value
// would make the learned state mean something else, so it takes a
// restart. Zero fields of o take their defaults, as in New.
func (d *Detector) Retune(o Options) {
	o = o.withDefaults()
	d.opts.Z, d.opts.tail = o.Z, o.tail
	d.opts.Ratio = o.Ratio
	d.opts.PeakRatio = o.PeakRatio
	d.opts.SDFloor = o.SDFloor
	d.opts.MinAbs = o.MinAbs
	d.opts.HorizonMinAbs = o.HorizonMinAbs
	d.opts.Critical = o.Critical
	d.opts.PopulationZ = o.PopulationZ
	d.opts.PopulationMinFactor = o.PopulationMinFactor
	d.opts.ColdFactor = o.ColdFactor
	d.opts.Cooldown, d.cooldown = o.Cooldown, int64(o.Cooldown)
	d.opts.EscalateFactor = o.EscalateFactor
	d.setAlerted()
	d.forest.opts.Threshold = o.Forest.Threshold
	d.forest.thr = d.forest.opts.ThresholdFor(d.forest.model)
}
