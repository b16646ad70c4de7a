package detect

import (
	"cmp"
	"slices"
)

// maybeSweep forgets idle entities every SweepEvery of event time, and
// when a kind holds more than MaxEntities, at most once per window end:
// if more entities than that are active at once, trimming after every
// window would sort the whole map each time.
func (d *Detector) maybeSweep(now int64) {
	over := false
	for k := range d.ents {
		over = over || len(d.ents[k]) > d.opts.MaxEntities
	}
	due := now-d.lastSweep >= int64(d.opts.SweepEvery)
	if !due && (!over || now == d.lastSweep) {
		return
	}
	d.lastSweep = now
	for k := range d.ents {
		d.expire(d.ents[k], now)
		d.trim(d.ents[k])
	}
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

// expire forgets entities unseen for IdleTTL, or four times that for
// keepers. Which entities go depends only on their state, never on the
// map's order.
func (d *Detector) expire(m map[string]*entity, now int64) {
	ttl := int64(d.opts.IdleTTL)
	for key, e := range m {
		limit := ttl
		if d.keeper(e) {
			limit *= 4
		}
		if now-seen(e) > limit {
			e.gone = true
			delete(m, key)
		}
	}
}

// trim brings a kind over MaxEntities down to 90% of it, forgetting
// short histories before long ones, then the longest idle, ties broken
// by key. Going below the bound leaves room, so the sort is rare.
func (d *Detector) trim(m map[string]*entity) {
	if len(m) <= d.opts.MaxEntities {
		return
	}
	all := make([]*entity, 0, len(m))
	for _, e := range m {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entity) int {
		ka, kb := d.keeper(a), d.keeper(b)
		if ka != kb {
			if kb {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(seen(a), seen(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	drop := len(m) - d.opts.MaxEntities*9/10
	for _, e := range all[:drop] {
		e.gone = true
		delete(m, e.key)
	}
}
