package report

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Memory bounds of a Recorder: every entity kept has one series of at
// most a cap of points, the same cap for all; the cap halves (and every
// series is merged two buckets into one) whenever the entities times the
// cap would pass DefaultBudget points, but never below MinPoints. A
// point is 16 bytes, so the series hold at most
// max(DefaultBudget, MinPoints × entities) × 16 bytes: 32 MiB (256 points
// an entity up to 8,192 entities, 16 from 131,072) and 256 bytes an
// entity beyond. The entities are capped at MaxEntities (about 70 MiB
// with their keys): a flood of new keys is not a reason to run out of
// memory. When the cap is reached the half of the entities with the
// fewest messages is dropped (counted in Dropped); one of them that
// alerts later is charted from its next window, its earlier traffic
// having been small.
const (
	DefaultBudget = 1 << 21
	MaxPoints     = 256
	MinPoints     = 16
	MaxEntities   = 200_000
)

// Recorder keeps, for every token and address of a replay, its messages
// per window against its baseline, downsampled to share one bucket width:
// all entities are recorded from their first window, so an entity alerted
// late still has its whole history, at a resolution that coarsens as the
// replay grows longer or the fleet larger. It is not safe for concurrent
// use.
type Recorder struct {
	budget  int
	maxEnts int
	cap     int   // points per entity
	origin  int64 // start of the first window, Unix ns
	width   int64 // bucket width, ns; 0 before the first window
	window  time.Duration
	maxIdx  int // largest bucket index in use
	end     time.Time
	entries map[entityKey]*series
	dropped int64
}

type entityKey struct{ kind, key string }

// series is one entity's buckets from bucket off on.
type series struct {
	off   int
	pts   []point
	total float64 // messages over the replay
	peak  float64 // messages of its busiest window
	n     int64   // windows with traffic
}

// point is one bucket: the busiest window's messages, and the sums of
// the windows' expected values and thresholds, averaged when read.
type point struct {
	peak, exp, thr float32
	n              uint32 // windows observed in the bucket
}

// NewRecorder returns a Recorder with the default budget.
func NewRecorder() *Recorder { return newRecorder(DefaultBudget, MaxEntities) }

func newRecorder(budget, maxEnts int) *Recorder {
	return &Recorder{budget: budget, maxEnts: maxEnts, cap: MaxPoints, entries: make(map[entityKey]*series)}
}

// Dropped is how many entities were dropped at MaxEntities.
func (r *Recorder) Dropped() int64 { return r.dropped }

// Observe records one closed window of a token or address: its messages
// and its baseline, expected messages and the threshold (+Inf when not
// judged). Windows of one entity come in order of start.
func (r *Recorder) Observe(kind, key string, start, end time.Time, messages, expected, threshold float64) {
	s := r.entry(kind, key)
	if r.width == 0 {
		r.origin, r.width, r.window = start.UnixNano(), int64(end.Sub(start)), end.Sub(start)
		if r.width <= 0 {
			r.width = int64(time.Minute)
		}
	}
	if end.After(r.end) {
		r.end = end
	}
	idx := max(0, int((start.UnixNano()-r.origin)/r.width))
	for idx >= r.cap {
		r.coarsen()
		idx = max(0, int((start.UnixNano()-r.origin)/r.width))
	}
	r.maxIdx = max(r.maxIdx, idx)
	s.total += messages
	s.peak = max(s.peak, messages)
	s.n++
	s.add(idx, point{peak: float32(messages), exp: float32(expected), thr: float32(threshold), n: 1}, r.cap)
}

// entry returns key's series, making room for a new entity first.
func (r *Recorder) entry(kind, key string) *series {
	k := entityKey{kind, key}
	if s := r.entries[k]; s != nil {
		return s
	}
	if len(r.entries) >= r.maxEnts {
		r.dropQuietest()
	}
	for (len(r.entries)+1)*r.cap > r.budget && r.cap > MinPoints {
		r.cap /= 2
		for r.maxIdx >= r.cap {
			r.coarsen()
		}
	}
	s := &series{off: -1}
	r.entries[k] = s
	return s
}

// dropQuietest forgets the half of the entities with the fewest
// messages, so that room is made once per MaxEntities/2 new entities.
func (r *Recorder) dropQuietest() {
	totals := make([]float64, 0, len(r.entries))
	for _, s := range r.entries {
		totals = append(totals, s.total)
	}
	slices.Sort(totals)
	limit := totals[len(totals)/2]
	drop := len(r.entries) / 2
	for k, s := range r.entries {
		if drop > 0 && s.total <= limit {
			delete(r.entries, k)
			r.dropped++
			drop--
		}
	}
}

// coarsen doubles the bucket width, merging every series's buckets in
// pairs.
func (r *Recorder) coarsen() {
	r.width *= 2
	r.maxIdx /= 2
	for _, s := range r.entries {
		s.halve()
	}
}

func (s *series) add(idx int, p point, limit int) {
	if s.off < 0 {
		s.off = idx
	}
	i := idx - s.off
	if i < 0 {
		// Out of order: count it in the first bucket rather than lose it.
		i = 0
	}
	for len(s.pts) <= i {
		if len(s.pts) == cap(s.pts) {
			s.pts = slices.Grow(s.pts, min(max(2*cap(s.pts), 8), limit)-len(s.pts))
		}
		s.pts = append(s.pts, point{})
	}
	s.pts[i].merge(p)
}

// halve merges the series's buckets in pairs, in place, and releases the
// memory the coarser series no longer needs.
func (s *series) halve() {
	if s.off < 0 {
		return
	}
	newOff := s.off / 2
	n := 0
	for i, p := range s.pts {
		j := (s.off+i)/2 - newOff
		if j == n {
			s.pts[j] = p
			n++
			continue
		}
		s.pts[j].merge(p)
	}
	s.off = newOff
	s.pts = slices.Clone(s.pts[:n])
}

func (p *point) merge(o point) {
	if o.n == 0 {
		return
	}
	p.peak = max(p.peak, o.peak)
	p.exp += o.exp
	p.thr += o.thr
	p.n += o.n
}

// Point is one bucket of an entity's series, as a chart draws it.
type Point struct {
	Start, End time.Time
	// Peak is the messages of the bucket's busiest window; Expected and
	// Threshold are the baseline averaged over the bucket's windows.
	Peak, Expected, Threshold float64
	// Windows is how many of the bucket's windows had traffic; 0 for a
	// bucket without any, whose baseline is unknown.
	Windows int
}

// Series returns an entity's buckets over the whole replay, with no
// messages and no windows where it had no traffic; nil when it was never
// seen.
func (r *Recorder) Series(kind, key string) []Point {
	s := r.entries[entityKey{kind, key}]
	if s == nil || s.off < 0 {
		return nil
	}
	out := make([]Point, r.maxIdx+1)
	for i := range out {
		start := r.origin + int64(i)*r.width
		out[i] = Point{Start: time.Unix(0, start).UTC(), End: time.Unix(0, start+r.width).UTC()}
		j := i - s.off
		if j < 0 || j >= len(s.pts) || s.pts[j].n == 0 {
			continue
		}
		p := s.pts[j]
		out[i].Peak, out[i].Windows = float64(p.peak), int(p.n)
		out[i].Expected = float64(p.exp) / float64(p.n)
		out[i].Threshold = float64(p.thr) / float64(p.n)
	}
	return out
}

// Bucket is the width of a point, a whole number of windows.
func (r *Recorder) Bucket() time.Duration { return time.Duration(r.width) }

// Window is the length of the windows observed.
func (r *Recorder) Window() time.Duration { return r.window }

// Span returns the start of the first window observed and the end of the
// last; zero times when none was.
func (r *Recorder) Span() (from, to time.Time) {
	if r.width == 0 {
		return time.Time{}, time.Time{}
	}
	return time.Unix(0, r.origin).UTC(), r.end
}

// Total is one entity's messages over the replay.
type Total struct {
	Kind, Key string
	Messages  float64
	Peak      float64 // its busiest window
	Windows   int64   // windows with traffic
}

// Top returns the n entities of kind with the most messages, most first,
// ties broken by key.
func (r *Recorder) Top(kind string, n int) []Total {
	var all []Total
	for k, s := range r.entries {
		if k.kind != kind || s.total <= 0 {
			continue
		}
		all = append(all, Total{Kind: k.kind, Key: k.key, Messages: s.total, Peak: s.peak, Windows: s.n})
	}
	slices.SortFunc(all, func(a, b Total) int {
		if c := cmp.Compare(b.Messages, a.Messages); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return all[:min(n, len(all))]
}

// finite reports whether v is a number a chart can place.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
