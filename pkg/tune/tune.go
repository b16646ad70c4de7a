// Package tune backtests a history at a family of detector settings and
// proposes the most sensitive one that would have kept the alerts within
// a budget. Each setting is one sensitivity scale mapped to concrete
// detect keys (see Keys), and each is replayed through the engine in
// full: an engine's alerts depend on its thresholds through cooldowns
// and through what it learns, so re-scoring one replay's findings would
// only approximate them.
package tune

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
)

// Options configure a backtest.
type Options struct {
	// Config is the current configuration: the sources' formats, and the
	// detect settings the scales start from.
	Config  *config.Config
	Sources []engine.Source
	// Stdin is read when a source names "-". Every setting replays it,
	// so it is first copied to a temporary file, removed at the end.
	Stdin io.Reader
	// Scales are the sensitivities tried, 1 being the configuration;
	// below 1 is more sensitive. DefaultScales when empty; 1 is always
	// added.
	Scales []float64
	// Budget is the alert-hours a day the proposal may raise.
	Budget float64
	// Parallel bounds the replays run at once; GOMAXPROCS when 0.
	Parallel int
	Logger   zerolog.Logger
	// Done, when set, is called as each setting's replay ends, from
	// Run's goroutine.
	Done func(Progress)
}

// Progress says that one setting's replay ended.
type Progress struct {
	Scale      float64
	AlertHours int
	Took       time.Duration
	Finished   int
	Total      int
}

// Run replays the history once per scale, at most Parallel at a time,
// and compares each with the configuration's own replay.
func Run(ctx context.Context, o Options) (*Result, error) {
	scales, err := checkScales(o.Scales)
	if err != nil {
		return nil, err
	}
	if err := CheckBudget(o.Budget); err != nil {
		return nil, err
	}
	sources, cleanup, err := spoolStdin(o.Sources, o.Stdin)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	cur, err := app.EngineOptions(o.Config, o.Logger)
	if err != nil {
		return nil, err
	}
	base := currentKeys(o.Config, cur)
	keys := make([]Keys, len(scales))
	for i, s := range scales {
		keys[i] = base.scaled(s, o.Config.Detect.IForest.Threshold)
		if err := checkCandidate(o.Config, base, keys[i], s); err != nil {
			return nil, err
		}
	}
	runs, err := replayAll(ctx, o, sources, scales, keys)
	if err != nil {
		return nil, err
	}
	return compare(scales, keys, runs, o.Budget), nil
}

// MinScale and MaxScale bound the scales tried: a tenth of the current
// thresholds to ten times them. Further out a scaled key leaves what the
// detectors were built for (or rounds to 0, which the configuration
// reads as the default).
const (
	MinScale = 0.1
	MaxScale = 10
)

// ScaleError says what a scale outside MinScale to MaxScale should be.
func ScaleError(s float64) error {
	return fmt.Errorf("scale %v: allowed is %v to %v, 1 being the configuration, below 1 more sensitive", s, MinScale, MaxScale)
}

// checkScales sorts the scales, most sensitive first, and adds 1.
func checkScales(in []float64) ([]float64, error) {
	if len(in) == 0 {
		in = DefaultScales
	}
	out := []float64{1}
	for _, s := range in {
		if !(s >= MinScale && s <= MaxScale) {
			return nil, ScaleError(s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// CheckBudget refuses a budget that is negative, infinite or not a
// number.
func CheckBudget(b float64) error {
	if !(b >= 0) || math.IsInf(b, 0) {
		return fmt.Errorf("%v alert-hours a day: allowed is a finite number, 0 or more", b)
	}
	return nil
}

// checkCandidate checks a candidate's configuration as a configuration
// file is checked, and that no key the scale moves came out at 0, which
// the configuration would read as its default rather than as 0.
func checkCandidate(c *config.Config, base, k Keys, scale float64) error {
	for _, f := range []struct {
		name      string
		base, got float64
	}{
		{"detect.z", base.Z, k.Z}, {"detect.ratio", base.Ratio, k.Ratio},
		{"detect.population_z", base.PopulationZ, k.PopulationZ},
		{"detect.min_messages", base.MinMessages, k.MinMessages},
		{"detect.slow_min_messages", base.SlowMinMessages, k.SlowMinMessages},
	} {
		if f.got == 0 && f.base != 0 {
			return fmt.Errorf("the candidate at scale %v: %s: %v × %v rounds to 0, which the configuration reads as the default; allowed are scales that keep it above 0",
				scale, f.name, num(f.base), num(scale))
		}
	}
	if err := k.apply(c).Validate(); err != nil {
		return fmt.Errorf("the candidate at scale %v: %w", scale, err)
	}
	return nil
}

// spoolStdin copies standard input to a temporary file when a source
// names "-", and returns the sources reading that file instead.
func spoolStdin(sources []engine.Source, stdin io.Reader) ([]engine.Source, func(), error) {
	named := slices.ContainsFunc(sources, func(s engine.Source) bool { return slices.Contains(s.Paths, "-") })
	if !named {
		return sources, func() {}, nil
	}
	f, err := os.CreateTemp("", "sentinel-tune-*.log")
	if err != nil {
		return nil, nil, fmt.Errorf("keeping standard input to replay it: %w", err)
	}
	cleanup := func() { os.Remove(f.Name()) }
	_, err = io.Copy(f, stdin)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("keeping standard input to replay it: %w", err)
	}
	out := make([]engine.Source, len(sources))
	for i, s := range sources {
		s.Paths = slices.Clone(s.Paths)
		if j := slices.Index(s.Paths, "-"); j >= 0 {
			s.Paths[j] = f.Name()
		}
		out[i] = s
	}
	return out, cleanup, nil
}

// run is one setting's replay.
type run struct {
	alerts      []alert.Alert // firing, in the order raised
	first, last time.Time     // the history's span
	took        time.Duration
}

// replayAll replays every setting, at most Parallel at once, each with
// its share of the cores for parsing. The first error cancels the rest.
func replayAll(ctx context.Context, o Options, sources []engine.Source, scales []float64, keys []Keys) ([]run, error) {
	par := o.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	par = min(par, len(keys))
	workers := max(1, runtime.GOMAXPROCS(0)/par)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type done struct {
		i   int
		r   run
		err error
	}
	sem := make(chan struct{}, par)
	results := make(chan done, len(keys)) // never blocks a sender
	for i := range keys {
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results <- done{i: i, err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			r, err := replayOne(ctx, o, sources, scales[i], keys[i], workers)
			results <- done{i, r, err}
		}()
	}
	runs := make([]run, len(keys))
	var firstErr error
	for n := range keys {
		d := <-results
		runs[d.i] = d.r
		if d.err != nil {
			if firstErr == nil {
				firstErr = d.err
				cancel()
			}
			continue
		}
		if o.Done != nil && firstErr == nil {
			o.Done(Progress{Scale: scales[d.i], AlertHours: len(alertHours(d.r.alerts)),
				Took: d.r.took, Finished: n + 1, Total: len(keys)})
		}
	}
	return runs, firstErr
}

func replayOne(ctx context.Context, o Options, sources []engine.Source, scale float64, k Keys, workers int) (run, error) {
	c := k.apply(o.Config)
	eo, err := app.EngineOptions(c, o.Logger)
	if err != nil {
		return run{}, err
	}
	start := time.Now()
	var r run
	emit := func(a *alert.Alert) {
		if a.Status != alert.StatusResolved {
			r.alerts = append(r.alerts, *a)
		}
	}
	ro := engine.ReplayOptions{Options: eo, Sources: sources, Workers: workers}
	stats, err := engine.Replay(ctx, ro, emit)
	if err != nil {
		return run{}, fmt.Errorf("replaying at scale %v: %w", scale, err)
	}
	r.first, r.last, r.took = stats.First, stats.Last, time.Since(start)
	return r, nil
}
