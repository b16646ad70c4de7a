package detect

import (
	"math"
	"time"
)

// RejectOptions configures RejectWatch. Zero values take the defaults.
type RejectOptions struct {
	// Window is the span rejected lines are counted over; default 1m.
	Window time.Duration
	// Min is the fewest rejected lines in a window that can alert; a
	// source that always rejects a few lines never does. Default 50.
	Min float64
	// Z and Ratio play the roles they play for entities: the count must
	// exceed mean + Z·sd and Ratio·mean. Defaults 6 and 5.
	Z, Ratio float64
	// HalfLife of the per-source baseline; default 24h.
	HalfLife time.Duration
	// Cooldown after an alert for a source; default 30m.
	Cooldown time.Duration
}

func (o RejectOptions) withDefaults() RejectOptions {
	setDur(&o.Window, time.Minute)
	setF(&o.Min, 50)
	setF(&o.Z, 6)
	setF(&o.Ratio, 5)
	setDur(&o.HalfLife, 24*time.Hour)
	setDur(&o.Cooldown, 30*time.Minute)
	return o
}

// RejectFinding says that a source's rejected lines jumped: an attacker
// can hide requests in lines a parser drops, so a rise is worth a look
// even though nothing about those requests is known.
type RejectFinding struct {
	Source                     string
	WindowStart, WindowEnd, At time.Time
	Observed, Expected         float64 // rejected lines in the window; baseline mean
	Lines                      float64 // all lines in the window
	Threshold, Score           float64
	Severity                   string
}

// SetCooldown changes the cooldown after an alert, as a reloaded
// configuration does; zero takes the default.
func (w *RejectWatch) SetCooldown(d time.Duration) {
	w.opts.Cooldown = d
	w.opts = w.opts.withDefaults()
}

// RejectWatch keeps a baseline of rejected lines per source. Rejected
// lines carry no readable time, so they are counted in the window of the
// latest event time read when they arrived.
type RejectWatch struct {
	opts    RejectOptions
	alpha   float64
	sources map[string]*RejectState
}

// RejectState is one source's counts and baseline, exported so that
// the engine can checkpoint it.
type RejectState struct {
	Start          time.Time // current window
	Lines, Rejects float64
	Mean, Variance float64
	Windows        int
	Fired          bool      // already alerted for the current window
	QuietUntil     time.Time // cooldown
}

// Snapshot returns the per-source state for a checkpoint.
func (w *RejectWatch) Snapshot() map[string]RejectState { return snapshotOf(w.sources) }

// snapshotOf copies a map of states for a checkpoint.
func snapshotOf[S any](m map[string]*S) map[string]S {
	out := make(map[string]S, len(m))
	for k, s := range m {
		out[k] = *s
	}
	return out
}

// Restore replaces the state with a snapshot.
func (w *RejectWatch) Restore(snap map[string]RejectState) {
	w.sources = make(map[string]*RejectState, len(snap))
	for k, s := range snap {
		w.sources[k] = &s
	}
}

// NewRejectWatch returns an empty RejectWatch.
func NewRejectWatch(opts RejectOptions) *RejectWatch {
	opts = opts.withDefaults()
	steps := float64(opts.HalfLife) / float64(opts.Window)
	return &RejectWatch{
		opts:    opts,
		alpha:   1 - math.Pow(0.5, 1/steps),
		sources: make(map[string]*RejectState),
	}
}

// Add counts lines read from source at event time at, of which rejected
// were rejected, and returns a finding when the current window's rejects
// already exceed the threshold.
func (w *RejectWatch) Add(source string, at time.Time, lines, rejected int64) *RejectFinding {
	if at.IsZero() {
		return nil // nothing parsed yet: no window to count in
	}
	s := w.sources[source]
	if s == nil {
		s = &RejectState{Start: at.Truncate(w.opts.Window)}
		w.sources[source] = s
	}
	if start := at.Truncate(w.opts.Window); start.After(s.Start) {
		w.roll(s, start)
	}
	s.Lines += float64(lines)
	s.Rejects += float64(rejected)
	if s.Fired || rejected == 0 || at.Before(s.QuietUntil) {
		return nil
	}
	thr := w.threshold(s)
	if s.Rejects < thr {
		return nil
	}
	s.Fired = true
	s.QuietUntil = at.Add(w.opts.Cooldown)
	return w.finding(source, s, at, thr)
}

// roll learns from the finished window and from the empty ones between
// it and start, then opens the window at start.
func (w *RejectWatch) roll(s *RejectState, start time.Time) {
	learn := s.Rejects
	if s.Fired {
		// An anomalous window must not become normal.
		learn = math.Min(learn, w.threshold(s))
	}
	w.learn(s, learn)
	gap := int(start.Sub(s.Start)/w.opts.Window) - 1
	for i := 0; i < gap && i < 1440; i++ {
		w.learn(s, 0)
	}
	*s = RejectState{Start: start, Mean: s.Mean, Variance: s.Variance, Windows: s.Windows, QuietUntil: s.QuietUntil}
}

func (w *RejectWatch) learn(s *RejectState, x float64) {
	s.Windows++
	diff := x - s.Mean
	incr := w.alpha * diff
	s.Mean += incr
	s.Variance = (1 - w.alpha) * (s.Variance + diff*incr)
}

func (w *RejectWatch) threshold(s *RejectState) float64 {
	sd := math.Sqrt(math.Max(s.Variance, s.Mean)) // Poisson floor
	return math.Max(w.opts.Min, math.Max(s.Mean+w.opts.Z*sd, w.opts.Ratio*s.Mean))
}

func (w *RejectWatch) finding(source string, s *RejectState, at time.Time, thr float64) *RejectFinding {
	f := &RejectFinding{
		Source: source, WindowStart: s.Start, WindowEnd: s.Start.Add(w.opts.Window), At: at,
		Observed: s.Rejects, Expected: s.Mean, Lines: s.Lines, Threshold: thr,
		Score: s.Rejects / thr, Severity: "warning",
	}
	if f.Score >= 3 {
		f.Severity = "critical"
	}
	return f
}
