package detect

import (
	"cmp"
	"math/bits"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// maybeSweep forgets idle entities every SweepEvery of event time, and
// when a kind holds more than its bound (MaxEntities, MaxPerKind), at most once per window end:
// if more entities than that are active at once, trimming after every
// window would scan the whole map each time.
func (d *Detector) maybeSweep(now int64) {
	over := false
	for k := range d.ents {
		over = over || len(d.ents[k]) > d.opts.maxEntities(features.Kind(k))
	}
	due := now-d.lastSweep >= int64(d.opts.SweepEvery)
	if !due && (!over || now == d.lastSweep) {
		return
	}
	d.lastSweep = now
	for k := range d.ents {
		d.expire(features.Kind(k), now)
		d.trim(features.Kind(k))
	}
}

// Evicted returns how many tokens and addresses the detector has
// forgotten since it was made, idle or over MaxEntities. It is not part
// of the Snapshot: a counter for metrics.
func (d *Detector) Evicted() (tokens, ips int64) {
	return d.evicted[features.Token], d.evicted[features.IP]
}

// Known reports whether the detector remembers the entity: what the
// aggregator asks (features.Options.Known) before it opens a window, so
// that a flood of new keys never refuses one it knows.
func (d *Detector) Known(k features.Kind, key string) bool {
	if k >= features.NumKinds {
		return false
	}
	_, ok := d.ents[k][key]
	return ok
}

// seen returns when e was last seen.
func seen(e *entity) int64 {
	return max(e.last, e.first)
}

// keeper reports whether e has enough history to be kept longer: losing
// a long baseline costs days of relearning, losing a few windows of a
// one-off address costs nothing.
func (d *Detector) keeper(e *entity) bool {
	return e.active >= int64(d.opts.KeepWindows)
}

// forget removes e from its kind, marking it for windows that still
// point at it.
func (d *Detector) forget(e *entity) {
	e.gone = true
	delete(d.ents[e.kind], e.key)
	d.evicted[e.kind]++
}

// expire forgets entities unseen for IdleTTL, or four times that for
// keepers. Which entities go depends only on their state, never on the
// map's order.
func (d *Detector) expire(k features.Kind, now int64) {
	ttl := int64(d.opts.IdleTTL)
	for _, e := range d.ents[k] {
		limit := ttl
		if d.keeper(e) {
			limit *= 4
		}
		if now-seen(e) > limit {
			d.forget(e)
		}
	}
}

// keeperClass ranks keepers after every shorter history.
const keeperClass = 64

// class ranks e for eviction, lowest first: keepers last, others by
// their non-empty windows in powers of two. A flood of new keys is all
// in the first classes (one window each), so it is what goes, however
// recently seen, while a token with weeks of history stays even when it
// has been idle for hours. Powers of two keep the classes few, so a trim
// counts them in one pass instead of sorting the map.
func (d *Detector) class(e *entity) int {
	if d.keeper(e) {
		return keeperClass
	}
	return bits.Len64(uint64(max(e.active, 0)))
}

// trim brings a kind over its bound down to 90% of it, forgetting short
// histories before long ones, then within the class where the cut falls
// the longest idle, ties broken by key. Going below the bound leaves
// room, so trims are rare; each is one pass over the map, one over the
// entities it ranked and a selection (not a sort) within one class, so
// a flood of millions of keys costs linear time per trim
// (BenchmarkTrimFlood).
func (d *Detector) trim(k features.Kind) {
	m, limit := d.ents[k], d.opts.maxEntities(k)
	if len(m) <= limit {
		return
	}
	drop := len(m) - limit*9/10
	var count [keeperClass + 1]int
	// Ranking once keeps the second pass off the entities themselves:
	// reading each again was most of a trim's time.
	all := make([]ranked, 0, len(m))
	for _, e := range m {
		c := d.class(e)
		count[c]++
		all = append(all, ranked{e, uint8(c)})
	}
	cut := 0
	for ; cut < keeperClass && drop > count[cut]; cut++ {
		drop -= count[cut]
	}
	edge := make([]*entity, 0, count[cut])
	for _, r := range all {
		switch c := int(r.class); {
		case c < cut:
			d.forget(r.e)
		case c == cut:
			edge = append(edge, r.e)
		}
	}
	drop = min(drop, len(edge))
	selectOldest(edge, drop)
	for _, e := range edge[:drop] {
		d.forget(e)
	}
}

// ranked is an entity with its eviction class.
type ranked struct {
	e     *entity
	class uint8
}

// older orders entities by when they were last seen, then by key.
func older(a, b *entity) int {
	if c := cmp.Compare(seen(a), seen(b)); c != 0 {
		return c
	}
	return cmp.Compare(a.key, b.key)
}

// selectOldest reorders es so that its first n entities are the n least
// recently seen (ties broken by key), in linear expected time
// (quickselect with a median-of-three pivot).
func selectOldest(es []*entity, n int) {
	lo, hi := 0, len(es)
	for hi-lo > 1 && n > lo && n < hi {
		p := lo + partition(es[lo:hi])
		switch {
		case p == n:
			return
		case p < n:
			lo = p + 1
		default:
			hi = p
		}
	}
}

// partition puts a pivot in its sorted place in es, what is older before
// it and what is newer after, and returns that place.
func partition(es []*entity) int {
	last, mid := len(es)-1, len(es)/2
	if older(es[mid], es[0]) < 0 {
		es[mid], es[0] = es[0], es[mid]
	}
	if older(es[last], es[0]) < 0 {
		es[last], es[0] = es[0], es[last]
	}
	if older(es[mid], es[last]) < 0 {
		es[mid], es[last] = es[last], es[mid]
	}
	// es[last] is now the median of the three.
	p := 0
	for i := range last {
		if older(es[i], es[last]) < 0 {
			es[i], es[p] = es[p], es[i]
			p++
		}
	}
	es[p], es[last] = es[last], es[p]
	return p
}
