package detect

import "math"

// Likelihood turns a stream of raw anomaly scores, of any scale, into how
// unusual the recent scores are for that stream, in the manner of
// Numenta's anomaly likelihood: the mean of the last Short raw scores is
// judged against a normal distribution fitted to those short means over
// the last History scores, and its upper tail probability is how likely
// so high a recent level is. A detector whose raw score is often high
// (a noisy series) thus needs a higher raw score to alarm than one whose
// raw score is usually near zero, and a single raw blip counts for less
// than a run of them.
//
// A Likelihood is causal: Update judges a score against the fit of the
// scores before it, then learns it. It is not safe for concurrent use.
type Likelihood struct {
	opts LikelihoodOptions

	short    []float64 // ring of the last Short raw scores
	shortSum float64
	shortN   int

	hist  []float64 // ring of the last History short means
	histN int       // short means learned, all time

	mean, dev float64 // of the short means, as last fitted
	fitted    bool
}

// LikelihoodOptions sets a Likelihood's memory.
type LikelihoodOptions struct {
	// History is how many recent short means the distribution is fitted
	// over.
	History int
	// Short is how many recent raw scores are averaged into the level
	// being judged (1 judges each raw score alone).
	Short int
	// Learning is how many scores are learned before any is judged;
	// until then Update reports a tail probability of 1.
	Learning int
	// Refit is how many scores pass between fits of the distribution.
	Refit int
	// MinDev is the least deviation the fit may have, so that a stream
	// of constant raw scores does not make the smallest change infinitely
	// unlikely.
	MinDev float64
}

// DefaultLikelihoodOptions fits over a month of five-minute scores
// (8640) averaged by 10, learns for 150 scores and refits every 100.
func DefaultLikelihoodOptions() LikelihoodOptions {
	return LikelihoodOptions{History: 8640, Short: 10, Learning: 150, Refit: 100, MinDev: 1e-3}
}

// NewLikelihood starts a Likelihood that has seen nothing. Options below
// 1 are taken as 1.
func NewLikelihood(o LikelihoodOptions) *Likelihood {
	o.History = max(o.History, 1)
	o.Short = max(o.Short, 1)
	o.Refit = max(o.Refit, 1)
	o.Learning = max(o.Learning, 0)
	return &Likelihood{
		opts:  o,
		short: make([]float64, o.Short),
		hist:  make([]float64, o.History),
	}
}

// Update takes the next raw score and returns the recent level it makes
// as a standard score under the distribution fitted to the levels before
// it: UpperTail of it is the level's tail probability (near 1 for an
// ordinary level, near 0 for one far above the usual) and Surprise of it
// the same on a scale that does not round off. While learning it returns
// -Inf, whose tail probability is 1 and surprise 0.
func (l *Likelihood) Update(raw float64) float64 {
	// A raw score is a measure, not a count: past ±1e9 it says nothing
	// more, and an infinity would turn the running sum into NaN for good.
	if math.IsNaN(raw) {
		raw = 0
	}
	raw = max(-maxRaw, min(raw, maxRaw))
	k := l.shortN % l.opts.Short
	if l.shortN >= l.opts.Short {
		l.shortSum -= l.short[k]
	}
	l.short[k] = raw
	l.shortSum += raw
	l.shortN++
	level := l.shortSum / float64(min(l.shortN, l.opts.Short))

	z := math.Inf(-1)
	if l.fitted && l.histN >= l.opts.Learning {
		z = (level - l.mean) / l.dev
	}
	l.hist[l.histN%l.opts.History] = level
	l.histN++
	if !l.fitted || l.histN%l.opts.Refit == 0 {
		l.fit()
		l.resum()
	}
	return z
}

// maxRaw bounds the raw scores a Likelihood takes.
const maxRaw = 1e9

// resum adds the short ring up again, so that the rounding a huge score
// leaves in the running sum when it leaves the ring does not last.
func (l *Likelihood) resum() {
	l.shortSum = 0
	for _, x := range l.short[:min(l.shortN, l.opts.Short)] {
		l.shortSum += x
	}
}

// Seen is how many scores have been learned.
func (l *Likelihood) Seen() int { return l.histN }

// fit sets the mean and deviation of the levels in the history, in two
// passes.
func (l *Likelihood) fit() {
	n := min(l.histN, l.opts.History)
	sum := 0.0
	for _, x := range l.hist[:n] {
		sum += x
	}
	l.mean = sum / float64(n)
	sq := 0.0
	for _, x := range l.hist[:n] {
		d := x - l.mean
		sq += d * d
	}
	l.dev = max(math.Sqrt(sq/float64(n)), l.opts.MinDev)
	l.fitted = true
}

// UpperTail is the probability that a standard normal value exceeds z.
func UpperTail(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// Surprise is -log10 of the upper tail probability of z, computed so
// that it keeps growing far into the tail where the probability itself
// underflows or rounds to 0 (an asymptotic expansion past z = 30). It is
// 0 at z = -Inf, 0.30 at z = 0, about 2.9 at z = 3 and 6.5 at z = 5.
func Surprise(z float64) float64 {
	if math.IsInf(z, -1) {
		return 0
	}
	if z < 30 {
		return -math.Log10(UpperTail(z))
	}
	// Q(z) ~ phi(z)/z for large z.
	lnQ := -z*z/2 - math.Log(z*math.Sqrt(2*math.Pi))
	return -lnQ / math.Ln10
}
