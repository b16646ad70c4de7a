package detect

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// DetState is a Detector's learned state, cooldowns and episodes
// included, so that a restart neither relearns nor re-alerts. It encodes
// with encoding/gob. Times are Unix nanoseconds.
type DetState struct {
	Entities   []EntityState // by Kind, then Key
	Population [features.NumKinds]PopulationState
	PopVersion uint32
	LastSweep  int64
	// Forest is the isolation forest's collected windows, retrained
	// models and the next model's progress.
	Forest *ForestState
	// Flood is the flood detector's baseline and alert state per kind.
	Flood [features.NumKinds]FloodState
	// Surge is, per kind, how busy all entities are against their usual.
	Surge [features.NumKinds]SurgeState
	// Budget is the budget detector's view of the population, nil
	// when it is off.
	Budget *BudgetPopState
}

// EntityState is one entity's state in a DetState.
type EntityState struct {
	Kind            features.Kind
	Key             string
	First, Last     int64
	N, Active       int64
	Mean, Var, Peak [features.NumFeatures]float32
	// Page is the decaying largest page; Acc and AccPeak the horizon sum
	// and its decaying peak.
	Page, Acc, AccPeak, AccRun float32
	Woke                       int64
	// The alert state of each detector, nil when idle.
	EWMA, Population, Forest, Novelty *EpisodeState
	// Profile is a token's networks, clients and busy hours.
	Profile *profile
	// Budget is a token's long-horizon budget, nil for an address.
	Budget *BudgetState
}

// Snapshot returns a copy of the detector's state.
func (d *Detector) Snapshot() DetState {
	s := DetState{Population: d.pop, PopVersion: d.popVer, LastSweep: d.lastSweep, Flood: d.flood.st,
		Surge: cloneSurge(d.surge)}
	if d.budgetPop != nil {
		p := *d.budgetPop
		s.Budget = &p
	}
	s.Forest = d.forest.state()
	for k := range d.ents {
		for _, e := range d.ents[k] {
			s.Entities = append(s.Entities, e.state())
		}
	}
	slices.SortFunc(s.Entities, func(a, b EntityState) int {
		if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return s
}

func (e *entity) state() EntityState {
	s := EntityState{
		Kind: e.kind, Key: e.key, First: e.first, Last: e.last,
		N: e.n, Active: e.active,
		Page: e.page, Acc: e.acc, AccPeak: e.accPeak, AccRun: e.accRun, Woke: e.woke,
		EWMA:       copyEpisode(e.ep[detEWMA]),
		Population: copyEpisode(e.ep[detPopulation]),
		Forest:     copyEpisode(e.fep),
		Novelty:    copyEpisode(e.nep),
	}
	if e.prof != nil {
		p := *e.prof
		s.Profile = &p
	}
	if e.budget != nil {
		b := *e.budget
		s.Budget = &b
	}
	for f, st := range e.stats {
		s.Mean[f], s.Var[f], s.Peak[f] = st.Mean, st.Var, st.Peak
	}
	return s
}

func copyEpisode(ep *EpisodeState) *EpisodeState {
	if ep == nil {
		return nil
	}
	c := *ep
	return &c
}

// Restore replaces the detector's state by s. It fails, leaving the
// detector empty, when s holds an entity of unknown kind or a model that
// cannot be read.
func (d *Detector) Restore(s DetState) error {
	*d = *New(d.opts)
	if err := d.forest.restore(s.Forest); err != nil {
		*d = *New(d.opts)
		return fmt.Errorf("restoring detector: %w", err)
	}
	for i := range s.Entities {
		es := &s.Entities[i]
		if es.Kind >= features.NumKinds {
			*d = *New(d.opts)
			return fmt.Errorf("restoring detector entity %d: unknown kind %d", i, es.Kind)
		}
		e := restoreEntity(es)
		if !d.opts.BudgetOn {
			e.budget = nil // turned off since: its state is not kept
		}
		d.ents[es.Kind][es.Key] = e
	}
	d.pop, d.popVer, d.lastSweep = s.Population, s.PopVersion, s.LastSweep
	d.flood.st = s.Flood
	d.surge = cloneSurge(s.Surge)
	if d.budgetPop != nil && s.Budget != nil {
		*d.budgetPop = *s.Budget
	}
	d.watchResolving()
	return nil
}

func restoreEntity(s *EntityState) *entity {
	e := &entity{
		key: s.Key, kind: s.Kind, first: s.First, last: s.Last,
		n: s.N, active: s.Active, thrFor: math.MinInt64,
		page: s.Page, acc: s.Acc, accPeak: s.AccPeak, accRun: s.AccRun, woke: s.Woke,
	}
	e.ep[detEWMA] = copyEpisode(s.EWMA)
	e.ep[detPopulation] = copyEpisode(s.Population)
	e.fep = copyEpisode(s.Forest)
	e.nep = copyEpisode(s.Novelty)
	if s.Profile != nil {
		p := *s.Profile
		e.prof = &p
	}
	if s.Budget != nil {
		b := *s.Budget
		e.budget = &b
	}
	for f := range e.stats {
		e.stats[f] = stat{s.Mean[f], s.Var[f], s.Peak[f]}
	}
	return e
}
