package engine

import (
	"maps"
	"time"

	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Status is what a live run has done so far, as reported to
// RunOptions.Status about once a second. It is a copy: the receiver may
// keep it.
type Status struct {
	At        time.Time // wall clock
	EventTime time.Time // latest event time applied
	Sources   map[string]SourceStats
	Alerts    int64 // raised since start
	// Repeats are alerts not delivered because they were raised before
	// (lines read again after a crash).
	Repeats int64
	// Tokens and Addresses are the entities remembered now; Evicted*
	// those forgotten since start, idle or to stay under the limits.
	Tokens, Addresses               int
	EvictedTokens, EvictedAddresses int64
	// Untracked* count the lines of keys not tracked because their kind
	// was at its limit during a flood of new keys.
	UntrackedTokens, UntrackedAddresses int64
	OpenWindows                         int
	// Apply is the time spent parsing and applying lines since start.
	Apply time.Duration
	// Behind is, per followed file, the bytes written and not yet read.
	Behind      map[string]int64
	Checkpoints Checkpoints
	// Lag is, per Kafka partition read ("topic/id"), the lines written
	// and not yet read; KafkaStalls counts readers replaced because they
	// stopped delivering, KafkaSkipped the lines deleted by retention
	// before they were read. The consumer fills them in.
	Lag          map[string]int64
	KafkaStalls  int64
	KafkaSkipped int64 // offsets never read: deleted by retention first
}

// Checkpoints says how saving the checkpoint goes: at a million
// entities it is the costliest thing the loop does.
type Checkpoints struct {
	Last time.Time     // wall clock of the last saved, zero before one
	Took time.Duration // how long it took to encode and sync, off the loop
	// Held is how long taking its snapshot held the engine's loop.
	Held   time.Duration
	Bytes  int64 // its size
	Failed int64 // saves failed since start
}

// status copies the run's counts.
func (r *runner) status() *Status {
	s := &Status{
		At:          r.opts.Now(),
		EventTime:   r.core.maxEvent,
		Sources:     make(map[string]SourceStats, len(r.core.stats.Sources)),
		Alerts:      r.core.stats.Alerts,
		Repeats:     r.duplicates,
		OpenWindows: r.core.agg.Open(),
		Apply:       r.applyTime,
		Behind:      make(map[string]int64, len(r.positions)),
		Checkpoints: r.writer.counts(),
	}
	s.Tokens, s.Addresses = r.core.det.Entities()
	s.EvictedTokens, s.EvictedAddresses = r.core.det.Evicted()
	s.UntrackedTokens, s.UntrackedAddresses = r.core.agg.Overflow()
	for name, src := range r.core.stats.Sources {
		c := *src
		c.Rejected = maps.Clone(src.Rejected)
		s.Sources[name] = c
	}
	for path, pos := range r.positions {
		if n, ok := ingest.Behind(pos); ok {
			s.Behind[path] = n
		}
	}
	return s
}

// Retune is what a reloaded configuration changes in a running engine:
// the labels shown in alerts and the detectors' thresholds (see
// detect.Detector.Retune for which).
type Retune struct {
	Labels map[string]string
	Detect detect.Options
	// Contracts replace the tokens' declared usage; their counts stay.
	Contracts map[string]detect.Contract
	// ConfigSHA256 names the new configuration in alerts' evidence.
	ConfigSHA256 string
}

// retune takes over rt between two batches, so no window is judged half
// by the old thresholds and half by the new.
func (c *core) retune(rt Retune) {
	c.opts.Labels = rt.Labels
	c.det.Retune(rt.Detect)
	c.rejects.SetCooldown(rt.Detect.Cooldown)
	c.contracts.SetCooldown(rt.Detect.Cooldown)
	c.contracts.SetContracts(rt.Contracts)
	if c.keeper != nil && rt.ConfigSHA256 != "" {
		c.keeper.opts.ConfigSHA256 = rt.ConfigSHA256
	}
}
