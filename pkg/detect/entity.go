package detect

import (
	"github.com/sentinel-project/sentinel/pkg/features"
)

// The detectors, as indexes of per-detector state.
const (
	detEWMA = iota
	detPopulation
	numDetectors
)

var detectorNames = [numDetectors]string{"ewma", "population"}

// horizon is the slot, after the per-window features, of the judged
// value that sums windows over the Horizon: messages for a token, 401s
// spread over distinct tokens for an address. numJudged counts all.
const (
	horizon   = features.NumFeatures
	numJudged = features.NumFeatures + 1
)

// entity is what the detector remembers of one token or address. The
// thresholds for the window being judged are cached, so that judging a
// record is a few comparisons.
type entity struct {
	key    string
	first  int64 // start of the first window seen, Unix ns
	last   int64 // end of the last window learned, Unix ns; 0 before
	n      int64 // windows learned, empty ones included
	active int64 // non-empty windows learned
	stats  [features.NumFeatures]stat
	// page is the most messages one request returned, a peak decaying
	// like stat.Peak: the unit in which messages arrive.
	page float32
	// acc is the horizon sum at the end of the last window learned, a
	// geometric sum of windows that forgets with the Horizon; accPeak is
	// its decaying peak.
	acc, accPeak float32
	accRun       float32 // largest sum of the current block, see learnHorizon
	// woke is the start of the window that ended a silence of at least
	// DormantAfter, 0 when none: for a Horizon from then the entity's
	// peaks, learned before the silence, are not trusted.
	woke int64

	// Cached judgement of the window starting at thrFor: thresholds and
	// expected values, by the detector thrDet, and accBase, the horizon
	// sum carried into that window.
	thrFor  int64
	thr     [numJudged]float32
	exp     [numJudged]float32
	accBase float32
	thrPop  uint32 // population version the cache was computed with

	kind   features.Kind
	thrDet int8
	gone   bool // evicted: a window still pointing here must look again
	// thrReady says thr and exp hold the window's real thresholds; until
	// some value passes its floor they hold the floors, which give the
	// same verdicts (every threshold is at least its floor) at a fraction
	// of the cost.
	thrReady bool

	ep [numDetectors]*EpisodeState
	// fep is the isolation forest's alert state, nep the novelty
	// detector's, nil when idle; prof the token's networks, clients and
	// hours, nil for an address.
	fep, nep *EpisodeState
	prof     *profile
	// budget is a token's long-horizon budget (budget.go), nil for an
	// address.
	budget *BudgetState
}

// EpisodeState is an entity's alert state for one detector: the cooldown
// since its last alert, and the ongoing anomalous episode if any.
type EpisodeState struct {
	// Cooldown.
	LastAlert int64              // event time of the last alert, Unix ns
	Alerted   [numJudged]float32 // value last alerted per feature
	Severity  uint8              // highest severity alerted in the cooldown
	Worst     uint8              // highest severity alerted in the episode
	Hint      string             // the token's hint, for the back-to-normal notice
	// Open is the start of a window reported early that has not closed
	// yet, 0 when none.
	Open int64

	// Episode; Since is 0 when none is ongoing.
	Since  int64 // start of its first window, Unix ns
	Quiet  int64 // ordinary windows in a row
	Excess float64
	// Thresholds and expected values frozen when the episode began, so
	// that it keeps counting while the baseline adapts to the traffic.
	Thr [numJudged]float32
	Exp float32 // expected messages
}

const (
	sevWarning uint8 = iota + 1
	sevCritical
)

func severityName(s uint8) string {
	if s == sevCritical {
		return "critical"
	}
	return "warning"
}

func (ep *EpisodeState) inCooldown(at int64, cooldown int64) bool {
	return ep.LastAlert != 0 && at < ep.LastAlert+cooldown
}

// alerted reports whether an episode is going on and raised an alert.
func (ep *EpisodeState) alerted() bool {
	return ep != nil && ep.Since != 0 && ep.LastAlert >= ep.Since
}

// idle reports whether the episode state holds nothing worth keeping.
func (ep *EpisodeState) idle(at int64, cooldown int64) bool {
	return ep.Since == 0 && !ep.inCooldown(at, cooldown)
}
