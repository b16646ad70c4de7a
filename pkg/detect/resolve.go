package detect

import (
	"slices"
	"strings"
	"time"
)

// resolution is the back-to-normal notice of detector det's episode of
// e, judged over at event time at.
func (d *Detector) resolution(e *entity, det int, at int64) Finding {
	ep := e.ep[det]
	since, end := time.Unix(0, ep.Since).UTC(), time.Unix(0, at).UTC()
	return Finding{
		Kind: e.kind, Key: e.key, Hint: ep.Hint,
		Detector:    detectorNames[det],
		Severity:    severityName(ep.Worst),
		WindowStart: since, WindowEnd: end, At: end,
		Since: since, Excess: ep.Excess,
		Resolved: true,
	}
}

// noticesFirst returns the back-to-normal notices gathered since the
// last call, then found: an incident's end must reach the sinks before
// the alert of the next one, which Alertmanager would otherwise take
// for the same incident and resolve.
func (d *Detector) noticesFirst(found []Finding) []Finding {
	if len(d.resolved) == 0 {
		return found
	}
	out := append(d.resolved, found...)
	d.resolved = nil
	return out
}

// endSilentEpisodes ends the alerted episodes of entities that have sent
// nothing for EpisodeEnd windows by now: without a window of theirs to
// close, nothing else would. Entities are visited in key order, so that
// the same input gives the same notices in the same order.
func (d *Detector) endSilentEpisodes(now int64) {
	size := d.rates.size
	if size <= 0 {
		return
	}
	for k := range d.resolving {
		keys := make([]string, 0, len(d.resolving[k]))
		for key := range d.resolving[k] {
			keys = append(keys, key)
		}
		slices.SortFunc(keys, strings.Compare)
		for _, key := range keys {
			if !d.endIfSilent(d.ents[k][key], now, size) {
				delete(d.resolving[k], key)
			}
		}
	}
}

// endIfSilent ends e's alerted episodes that its silence since its last
// window completes, and reports whether one is still going on.
func (d *Detector) endIfSilent(e *entity, now, size int64) (ongoing bool) {
	if e == nil {
		return false // evicted
	}
	for i, ep := range e.ep {
		if !ep.alerted() {
			continue
		}
		// A window reported early and still open is not silence; past
		// it, the windows since the entity's last one that have closed
		// without it were empty. The window ending now is left for the
		// next time: closed one by one (Close), the entity's own may come
		// next.
		last := max(e.last, ep.Since)
		idle := max(now-size-last, 0) / size
		if ep.Open != 0 || ep.Quiet+idle < int64(d.opts.EpisodeEnd) {
			ongoing = true
			continue
		}
		d.endEpisode(e, i, last+(int64(d.opts.EpisodeEnd)-ep.Quiet)*size)
	}
	return ongoing
}

// watchResolving lists the restored entities with an alerted episode.
func (d *Detector) watchResolving() {
	for k, m := range d.ents {
		for key, e := range m {
			for _, ep := range e.ep {
				if ep.alerted() {
					d.resolving[k][key] = struct{}{}
				}
			}
		}
	}
}
