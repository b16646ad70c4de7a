package detect

import (
	"math"
	"time"
)

// rates are the per-window constants of one window length.
type rates struct {
	size int64 // window length, nanoseconds
	// alpha is the EWMA weight of one window once the baseline has seen
	// cumN windows; before that window number t weighs 1/(t+1), so the
	// early baseline is the plain mean and variance of what was seen
	// instead of a mean dragged towards its zero start.
	alpha float64
	cumN  int64
	// peakDecay is what the remembered peak keeps per window.
	peakDecay float64
	// accKeep is what the horizon sum keeps of itself per window:
	// exp(-size/horizon), so that it holds about a horizon of windows.
	accKeep float64
}

func newRates(size time.Duration, halfLife, peakHalfLife, horizon time.Duration) rates {
	r := rates{size: int64(size)}
	r.alpha = 1 - math.Exp2(-float64(size)/float64(halfLife))
	r.cumN = int64(math.Ceil(1/r.alpha - 1))
	r.peakDecay = math.Exp2(-float64(size) / float64(peakHalfLife))
	r.accKeep = math.Exp(-float64(size) / float64(horizon))
	return r
}

// pow returns x^k for the small k of a few idle windows without calling
// math.Pow.
func pow(x float64, k int64) float64 {
	if k > 8 {
		return math.Pow(x, float64(k))
	}
	p := 1.0
	for range k {
		p *= x
	}
	return p
}

// weight returns the EWMA weight of window number t (from 0).
func (r *rates) weight(t int64) float64 {
	if t < r.cumN {
		return 1 / float64(t+1)
	}
	return r.alpha
}

// keep returns the product of (1 - weight) over windows n to n+k-1: what
// k empty windows leave of the mean. Every step x=0 does
// m' = b·m and v' = b·(v + a·m²); by induction over any sequence of
// weights, after steps whose (1-a) multiply to D, m_k = D·m and
// v_k = D·(v + m²·(1-D)). So only D depends on the weights, and in the
// early (cumulative) phase the factors t/(t+1) telescope to n/(n+c).
func (r *rates) keep(n, k int64) float64 {
	d := 1.0
	if c := min(k, max(0, r.cumN-n)); c > 0 {
		d = float64(n) / float64(n+c)
		k -= c
	}
	if k > 0 {
		d *= math.Pow(1-r.alpha, float64(k))
	}
	return d
}

// decayed returns mean and variance after empty windows that kept d.
func decayed(m, v, d float64) (float64, float64) {
	return d * m, d * (v + m*m*(1-d))
}

// step returns mean and variance after one window of value x with weight a.
func step(m, v, x, a float64) (float64, float64) {
	diff := x - m
	return m + a*diff, (1 - a) * (v + a*diff*diff)
}

// stat is an entity's baseline for one feature. float32 keeps seven
// significant digits, plenty for a mean that moves by a fraction of a
// percent per window, and halves the memory of an entity.
type stat struct {
	Mean, Var, Peak float32
}

// expected returns the stat's mean, variance and peak as they are after
// k more windows without traffic, starting from window number n.
func (s stat) expected(r *rates, n, k int64) (m, v, peak float64) {
	m, v, peak = float64(s.Mean), float64(s.Var), float64(s.Peak)
	if k <= 0 {
		return m, v, peak
	}
	m, v = decayed(m, v, r.keep(n, k))
	return m, max(v, 0), peak * math.Pow(r.peakDecay, float64(k))
}

// threshold returns the value above which x is anomalous for a baseline
// of mean m, variance v and peak, with floor minAbs, for a count that
// arrives in lots of up to unit (1 for requests, the page size for
// messages, 0 when the count is not a sum of such lots), recent being
// the entity's rate over the last horizon (0 when unknown).
//
// A count made of N ~ Poisson(λ) lots of at most unit has variance at
// most λ·unit² = m·unit: the compound-Poisson spread, which is what a
// token that pulls a page of 500 now and then has however few pages the
// variance has seen. While λ is small the count is a few lots, not a
// normal variable, so the threshold is at least the lots a Poisson(λ)
// exceeds with the tail probability of Z, for λ the larger of the mean
// and the recent rate (an entity's busy hour, or a platform surge, is
// several times its daily mean).
func (o *Options) threshold(m, v, peak, minAbs, unit, recent float64) float64 {
	sd := max(math.Sqrt(v), math.Sqrt(max(m, recent)*max(unit, 1)), o.SDFloor)
	thr := max(m+o.Z*sd, o.Ratio*m, o.PeakRatio*peak, minAbs)
	if unit <= 0 {
		return thr
	}
	if rate := max(m, recent); rate > 0 {
		thr = max(thr, unit*poissonQuantile(rate/unit, o.Z, o.tail))
	}
	return thr
}

// poissonQuantile returns the smallest k with P(N > k) <= tail for
// N ~ Poisson(lam), or lam + z·sqrt(lam) when lam is large enough for the
// normal approximation.
func poissonQuantile(lam, z, tail float64) float64 {
	if lam > 50 {
		return lam + z*math.Sqrt(lam)
	}
	pmf := math.Exp(-lam)
	cdf, k := pmf, 0.0
	for 1-cdf > tail && k < 200 {
		k++
		pmf *= lam / k
		cdf += pmf
	}
	return k
}
