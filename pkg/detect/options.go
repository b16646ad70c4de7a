package detect

import (
	"math"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// Options tunes a Detector. DefaultOptions documents every default; New
// replaces zero fields by them, so a caller sets only what it changes.
type Options struct {
	// HalfLife is the half-life, in event time, of an entity's baseline
	// (mean and variance per window). Default 24h: yesterday's minutes
	// weigh half as much as today's.
	HalfLife time.Duration
	// PeakHalfLife is the half-life of the remembered peak window.
	// Default 72h, so a heavy minute seen once a day (a nightly export)
	// is still remembered at 79% the next night.
	PeakHalfLife time.Duration

	// Z is how many standard deviations above its mean a window must be
	// to be anomalous. Default 6.
	Z float64
	// Ratio: a window is never anomalous below Ratio times the mean.
	// Default 5.
	Ratio float64
	// PeakRatio: a window is never anomalous below PeakRatio times the
	// remembered peak. Default 2.
	PeakRatio float64
	// SDFloor is the smallest standard deviation assumed. Default 1.
	SDFloor float64
	// MinAbs are per kind and feature the volumes under which a window is
	// never anomalous, whatever its history. A zero MinAbs means the
	// feature is learned but never alerted on for that kind. A kind whose
	// MinAbs are all zero takes the defaults.
	MinAbs [features.NumKinds]features.Vector
	// Horizon is the time over which the horizon sum of a window adds up
	// earlier windows: a geometric sum with time constant Horizon, about
	// a Horizon's worth of windows. Default 30m.
	Horizon time.Duration
	// HorizonMinAbs are per kind the horizon sums under which a window is
	// never anomalous: of messages for a token, of 401s spread over
	// distinct tokens (the lesser of the window's 401s and its distinct
	// tokens) for an address. Zero for a kind means no horizon judgement
	// for it; all zero takes the defaults.
	HorizonMinAbs [features.NumKinds]float64
	// DormantAfter is the silence after which an entity with history is
	// dormant: for a Horizon after it wakes, its horizon sum faces
	// HorizonMinAbs and its mean, not its stale peaks. Default 48h.
	DormantAfter time.Duration
	// Critical: a finding is critical when the observed value is at least
	// Critical times the threshold. Default 3.
	Critical float64

	// Warmup is how long, in event time, an entity must have been seen
	// before it is judged against its own history. Default 1h.
	Warmup time.Duration
	// WarmupWindows is how many non-empty windows it must also have had.
	// Default 10.
	WarmupWindows int

	// PopulationHalfLife is the half-life of the population baselines.
	// Default 24h.
	PopulationHalfLife time.Duration
	// PopulationZ is how many standard deviations of log(1+value) above
	// the population's mean a new entity's window must be. Default 4.
	PopulationZ float64
	// PopulationMinFactor multiplies MinAbs for entities judged by the
	// population. Default 2.
	PopulationMinFactor float64
	// PopulationWarmup is how many windows of ready entities a kind's
	// population must have learned before it judges. Default 300.
	PopulationWarmup int
	// ColdFactor multiplies MinAbs to judge new entities while the
	// population is still warming up, so that a fresh deployment is not
	// blind to an obvious burst. Default 10.
	ColdFactor float64

	// Cooldown is how long, in event time, after an alert an entity stays
	// quiet for that detector unless the incident escalates. Default 30m.
	Cooldown time.Duration
	// EscalateFactor: during the cooldown, a feature alerts again when its
	// value reaches EscalateFactor times the value last alerted. Default 2.
	EscalateFactor float64
	// EpisodeEnd is how many ordinary windows in a row end an episode.
	// Default 5.
	EpisodeEnd int

	// IdleTTL is how long, in event time, an entity may go unseen before
	// it is forgotten; entities with at least KeepWindows non-empty
	// windows are kept four times as long. Default 7 days.
	IdleTTL time.Duration
	// KeepWindows: see IdleTTL. Default 1440 (a day of active minutes).
	KeepWindows int
	// MaxEntities bounds the entities remembered per kind; beyond it the
	// shortest histories are forgotten first, keepers (KeepWindows) last,
	// and the longest idle among equals. Default 1M.
	MaxEntities int
	// MaxPerKind, when set for a kind, replaces MaxEntities for it
	// (configuration: limits.max_tokens, limits.max_addresses).
	MaxPerKind [features.NumKinds]int
	// SweepEvery is how often, in event time, idle entities are looked
	// for. Default 1h.
	SweepEvery time.Duration

	// FloodMin is the fewest new entities of a kind in one window that
	// the "flood" detector reports, whatever the usual; FloodRatio how
	// many times the usual they must also be. Defaults 1000 and 10: a
	// platform's churn is a few new tokens a minute, a flood of random
	// keys thousands.
	FloodMin   float64
	FloodRatio float64

	// TopPeers is how many peers a finding lists. Default 5.
	TopPeers int

	// The "budget" detector (budget.go) sums each token's messages by
	// hour and accumulates, hour after hour, what exceeds BudgetDrift
	// times the token's usual for that hour of day (scaled up by the
	// population's own factor in a platform-wide surge); it alerts when
	// the accumulation passes the largest of BudgetMinAbs messages,
	// BudgetSpan times the expected messages over the accumulation,
	// BudgetDay times the token's usual day, and the Poisson quantile of
	// its pages. Defaults 1.5, 250, 1, 1 (see the package
	// documentation, "Budgets"). It runs only with BudgetOn, off by
	// default: see its costs there.
	BudgetOn     bool
	BudgetDrift  float64
	BudgetMinAbs float64
	BudgetSpan   float64
	BudgetDay    float64
	// BudgetQuiet: an hour is expected to hold at least BudgetQuiet
	// times the token's mean hour. Default 0.25.
	BudgetQuiet float64
	// BudgetSpanMax is the longest an accumulation that has not alerted
	// builds up before it starts again. Default 24h.
	BudgetSpanMax time.Duration
	// BudgetDays is how many days the hourly profile averages over.
	// Default 7.
	BudgetDays int
	// BudgetWarmup is how many hours a token's profile must have learned
	// before it is judged. Default 48h.
	BudgetWarmup time.Duration

	// Forest configures the isolation-forest detector; its zero value
	// scores nothing and collects nothing.
	Forest ForestOptions
	// SurgeOff stops a platform-wide surge from lifting every entity's
	// expectations (surge.go): each is then judged against its own
	// baseline alone.
	SurgeOff bool

	// Novelty configures the detector of tokens used from a new network
	// with a new client; its zero value takes the defaults.
	Novelty NoveltyOptions

	// tail is the normal tail probability beyond Z, used as the tail of
	// the Poisson quantiles.
	tail float64
}

// DefaultOptions returns the defaults, reasoned about in the package
// documentation.
func DefaultOptions() Options {
	return Options{
		HalfLife:            24 * time.Hour,
		PeakHalfLife:        72 * time.Hour,
		Z:                   6,
		Ratio:               5,
		PeakRatio:           2,
		SDFloor:             1,
		MinAbs:              defaultMinAbs(),
		Horizon:             30 * time.Minute,
		DormantAfter:        48 * time.Hour,
		HorizonMinAbs:       [features.NumKinds]float64{features.Token: 1000, features.IP: 100},
		Critical:            3,
		Warmup:              time.Hour,
		WarmupWindows:       10,
		PopulationHalfLife:  24 * time.Hour,
		PopulationZ:         4,
		PopulationMinFactor: 2,
		PopulationWarmup:    300,
		ColdFactor:          10,
		Cooldown:            30 * time.Minute,
		EscalateFactor:      2,
		EpisodeEnd:          5,
		IdleTTL:             7 * 24 * time.Hour,
		KeepWindows:         1440,
		MaxEntities:         1_000_000,
		SweepEvery:          time.Hour,
		FloodMin:            1000,
		FloodRatio:          10,
		TopPeers:            5,
		BudgetDrift:         1.5,
		BudgetMinAbs:        250,
		BudgetSpan:          1,
		BudgetDay:           1,
		BudgetSpanMax:       24 * time.Hour,
		BudgetQuiet:         0.25,
		BudgetDays:          7,
		BudgetWarmup:        48 * time.Hour,
	}
}

func defaultMinAbs() [features.NumKinds]features.Vector {
	var m [features.NumKinds]features.Vector
	m[features.Token] = features.Vector{
		features.Requests: 3000, // 50 requests a second
		features.Messages: 300,
		features.Bytes:    20e6,
		features.Peers:    10, // distinct addresses
	}
	m[features.IP] = features.Vector{
		features.Requests:     3000,
		features.Messages:     500,
		features.Unauthorized: 30,
		features.Peers:        20, // distinct tokens
	}
	return m
}

// withDefaults fills zero fields from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setDur(&o.HalfLife, d.HalfLife)
	setDur(&o.PeakHalfLife, d.PeakHalfLife)
	setF(&o.Z, d.Z)
	setF(&o.Ratio, d.Ratio)
	setF(&o.PeakRatio, d.PeakRatio)
	setF(&o.SDFloor, d.SDFloor)
	for k := range o.MinAbs {
		if o.MinAbs[k] == (features.Vector{}) {
			o.MinAbs[k] = d.MinAbs[k]
		}
	}
	setDur(&o.Horizon, d.Horizon)
	setDur(&o.DormantAfter, d.DormantAfter)
	if o.HorizonMinAbs == [features.NumKinds]float64{} {
		o.HorizonMinAbs = d.HorizonMinAbs
	}
	setF(&o.Critical, d.Critical)
	setDur(&o.Warmup, d.Warmup)
	setInt(&o.WarmupWindows, d.WarmupWindows)
	setDur(&o.PopulationHalfLife, d.PopulationHalfLife)
	setF(&o.PopulationZ, d.PopulationZ)
	setF(&o.PopulationMinFactor, d.PopulationMinFactor)
	setInt(&o.PopulationWarmup, d.PopulationWarmup)
	setF(&o.ColdFactor, d.ColdFactor)
	setDur(&o.Cooldown, d.Cooldown)
	setF(&o.EscalateFactor, d.EscalateFactor)
	setInt(&o.EpisodeEnd, d.EpisodeEnd)
	setDur(&o.IdleTTL, d.IdleTTL)
	setInt(&o.KeepWindows, d.KeepWindows)
	setInt(&o.MaxEntities, d.MaxEntities)
	setDur(&o.SweepEvery, d.SweepEvery)
	setF(&o.FloodMin, d.FloodMin)
	setF(&o.FloodRatio, d.FloodRatio)
	setInt(&o.TopPeers, d.TopPeers)
	o.Novelty = o.Novelty.withDefaults()
	setF(&o.BudgetDrift, d.BudgetDrift)
	setF(&o.BudgetMinAbs, d.BudgetMinAbs)
	setF(&o.BudgetSpan, d.BudgetSpan)
	setF(&o.BudgetDay, d.BudgetDay)
	setF(&o.BudgetQuiet, d.BudgetQuiet)
	setInt(&o.BudgetDays, d.BudgetDays)
	setDur(&o.BudgetSpanMax, d.BudgetSpanMax)
	setDur(&o.BudgetWarmup, d.BudgetWarmup)
	o.tail = math.Erfc(o.Z/math.Sqrt2) / 2
	return o
}

// maxEntities returns the bound on entities of kind k.
func (o *Options) maxEntities(k features.Kind) int {
	if n := o.MaxPerKind[k]; n > 0 {
		return n
	}
	return o.MaxEntities
}

func setDur(p *time.Duration, d time.Duration) {
	if *p <= 0 {
		*p = d
	}
}

func setF(p *float64, d float64) {
	if !(*p > 0) {
		*p = d
	}
}

func setInt(p *int, d int) {
	if *p <= 0 {
		*p = d
	}
}
