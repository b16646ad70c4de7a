package nab

import (
	"math"
	"time"
)

// WindowedGaussian scores a value by how far out in the tail it lies of a
// normal distribution fitted to a window of recent values. It is NAB's
// simplest baseline, here to check that the scoring matches NAB's.
type WindowedGaussian struct {
	// Window is how many recent values the fit uses.
	Window int
	// Step is how many new values, once the window is full, wait in a
	// buffer before the window slides forward by that many and is fitted
	// again.
	Step int
}

// DefaultWindowedGaussian has NAB's parameters: a window of 6400 values
// sliding by 100.
func DefaultWindowedGaussian() WindowedGaussian {
	return WindowedGaussian{Window: 6400, Step: 100}
}

// Name is "windowed_gaussian".
func (WindowedGaussian) Name() string { return "windowed_gaussian" }

// New starts an empty window.
func (g WindowedGaussian) New() Stream {
	return &gaussianStream{cfg: g, window: make([]float64, 0, g.Window)}
}

// minDeviation stands in for a deviation of zero, as on a flat series, so
// that a value off the flat line scores high rather than dividing by zero.
const minDeviation = 1e-6

type gaussianStream struct {
	cfg       WindowedGaussian
	window    []float64 // oldest first
	pending   []float64 // values waiting for the window to slide
	mean, dev float64
}

// Score rates v against the fit so far, then lets v into the window. The
// first value has nothing to be compared with and scores 0.
func (s *gaussianStream) Score(_ time.Time, v float64) float64 {
	score := 0.0
	if len(s.window) > 0 {
		score = 1 - tail(math.Abs(v-s.mean)/s.dev)
	}
	s.observe(v)
	return score
}

// tail is the probability that a standard normal value exceeds z (the
// Q-function); for a value on either side of the mean it is taken at the
// distance from the mean, so a score is at least 0.5.
func tail(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// observe fits again after every value while the window fills, then only
// once every Step values, when the window slides by that many.
func (s *gaussianStream) observe(v float64) {
	if len(s.window) < s.cfg.Window {
		s.window = append(s.window, v)
		s.fit()
		return
	}
	s.pending = append(s.pending, v)
	if len(s.pending) < s.cfg.Step {
		return
	}
	n := copy(s.window, s.window[len(s.pending):])
	copy(s.window[n:], s.pending)
	s.pending = s.pending[:0]
	s.fit()
}

// fit sets the mean and the population deviation of the window, in two
// passes so that large values with a small spread keep their precision.
func (s *gaussianStream) fit() {
	sum := 0.0
	for _, x := range s.window {
		sum += x
	}
	s.mean = sum / float64(len(s.window))
	sq := 0.0
	for _, x := range s.window {
		d := x - s.mean
		sq += d * d
	}
	s.dev = math.Sqrt(sq / float64(len(s.window)))
	if s.dev == 0 {
		s.dev = minDeviation
	}
}
