package detect

import (
	"math"
	"slices"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// A platform-wide surge (a marketing send, a holiday, a partner's
// outage draining into this API) makes every tenant busier at once. Each
// token judged alone sees two and a half times its usual for an hour and
// its half-hour sum can pass its threshold, though nothing is wrong with
// any of them. SurgeState measures how busy a kind's ready entities are
// together against their own baselines, and lifts every expectation by
// that much, so a surge moves the baselines instead of firing alerts.
//
// The measure is the median, over the ready entities' windows that end
// together, of log(1+requests) minus log(1+usual requests in a busy
// window of that entity): 0 when everyone does what they usually do,
// about log(2.5) when all are two and a half times busier. Requests,
// not messages, since every window has some and messages come in pages
// that make one window's ratio mostly noise; only entities that usually
// make surgeMinUsual requests a busy window count, since a sporadic
// token's one request says nothing of how busy it is. A median cannot be
// moved by a few entities, however much they pull: a theft shows as a
// theft, not as a surge that excuses it. The median follows window ends
// quickly (Fast) and is compared with the same hour of earlier days
// (Hours), since a baseline with a day's memory already expects mornings
// to be busier than nights; what is left, the lift, is the surge.
type SurgeState struct {
	Fast  float64     // EWMA of the median log ratio over window ends
	Hours [24]float64 // per UTC hour of day, the slow EWMA of the same
	Seen  [24]bool    // whether the hour has been learned yet
	Lift  float64     // Fast minus its hour, at the last end folded

	PendEnd int64     // the window end being gathered
	Pend    []float64 // its windows' log ratios
}

const (
	// surgeFast is the weight of a window end in Fast: a time constant of
	// five minutes, quick enough to follow a surge's start before the
	// half-hour sums have filled, slow enough to smooth one minute.
	surgeFast = 0.2
	// surgeSlow is the weight of a window end in its hour's mean: about
	// three days of that hour (60 ends a day).
	surgeSlow = 1.0 / 180
	// surgeMinWindows is the fewest ready windows at an end for it to say
	// anything about the platform: a deployment of twenty tokens has no
	// surge to measure, only noise.
	surgeMinWindows = 30
	// surgeMaxLift caps the lift at a factor of three. A surge beyond it
	// is rare enough to be worth an alert, and a theft of every key at
	// once, which would also lift everything, must not hide completely.
	surgeMaxLift = 1.0986122886681098 // log(3)
	// surgeMinUsual is the fewest requests an entity must usually make in
	// a busy window to count.
	surgeMinUsual = 2
)

// add gathers one ready entity's window: x its requests, usual its
// usual requests in a busy window.
func (s *SurgeState) add(x, usual float64) {
	if usual < surgeMinUsual {
		return
	}
	s.Pend = append(s.Pend, math.Log1p(max(x, 0))-math.Log1p(usual))
}

// fold folds the windows gathered for the end before, once a window with
// a later end arrives.
func (s *SurgeState) fold(end, size int64) {
	if end <= s.PendEnd {
		return
	}
	ends := int64(1)
	if s.PendEnd > 0 && size > 0 {
		ends = max(1, (end-s.PendEnd)/size)
	}
	defer func() { s.PendEnd, s.Pend = end, s.Pend[:0] }()
	if len(s.Pend) < surgeMinWindows {
		// Too few windows to measure, such as a small fleet's nights, or
		// none at all: the lift fades as Fast would on an ordinary
		// platform, instead of holding a surge that ended at dusk over
		// every token all night, when a thief would pull.
		s.Lift *= math.Pow(1-surgeFast, float64(ends))
		return
	}
	slices.Sort(s.Pend)
	median := s.Pend[len(s.Pend)/2]
	h := hourOf(s.PendEnd - 1)
	s.Fast += surgeFast * (median - s.Fast)
	if !s.Seen[h] {
		s.Hours[h], s.Seen[h] = s.Fast, true
	}
	s.Lift = s.Fast - s.Hours[h]
	// The hour learns no more of a surge than the cap, so that an hour of
	// surge does not make tomorrow's same hour look quiet for days.
	s.Hours[h] += surgeSlow * min(s.Fast-s.Hours[h], surgeMaxLift)
}

// cloneSurge copies per-kind surge states, their gathered windows
// included, so that a snapshot does not share them with the detector.
func cloneSurge(s [features.NumKinds]SurgeState) [features.NumKinds]SurgeState {
	for k := range s {
		s[k].Pend = slices.Clone(s[k].Pend)
	}
	return s
}

// factor is how many times busier than usual the kind's entities are
// together: at least 1, at most 3.
func (s *SurgeState) factor() float64 {
	return math.Exp(max(0, min(s.Lift, surgeMaxLift)))
}

// gatherSurge adds a ready entity's closed window to its kind's surge
// measure. mean is the entity's mean requests per window before w.
func (d *Detector) gatherSurge(e *entity, w *features.Window, mean float64) {
	if e.thrDet != detEWMA || e.active == 0 {
		return
	}
	busy := float64(e.n) / float64(e.active)
	d.surge[e.kind].add(w.V[features.Requests], mean*busy)
}

func (d *Detector) foldSurge(end, size int64) {
	for k := range d.surge {
		d.surge[k].fold(end, size)
	}
}
