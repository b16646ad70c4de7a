package report

import (
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// Zoom bounds: the minutes shown before an incident's first alert, and
// the longest span charted window by window. A Zoom holds at most
// MaxCharts entities of ZoomSpan / window points: 40 × 360 at one-minute
// windows, some 300 KB.
const (
	ZoomBefore = time.Hour
	ZoomSpan   = 6 * time.Hour
)

// Zoom records, window by window, the traffic of alerted entities around
// their incidents, which the whole replay's chart shows only as a spike
// in one of its buckets. The alerts must be known first: a second replay
// of the same files, deterministic, feeds it the same windows. It is not
// safe for concurrent use.
type Zoom struct {
	spans map[entityKey]zoomSpan
	pts   map[entityKey][]Point
}

type zoomSpan struct{ from, to time.Time }

// NewZoom returns a Zoom for the entities charted from alerts and ends
// (see Data), each from ZoomBefore before its first incident's start to
// the end of its last, at most ZoomSpan.
func NewZoom(alerts, ends []alert.Alert) *Zoom {
	z := &Zoom{spans: map[entityKey]zoomSpan{}, pts: map[entityKey][]Point{}}
	groups := alertedEntities(alerts, ends)
	for _, g := range groups[:min(len(groups), MaxCharts)] {
		from := earliest(g.alerts).Add(-ZoomBefore)
		to := latest(g.alerts, ends, g).Add(ZoomBefore / 2)
		if limit := from.Add(ZoomSpan); to.After(limit) {
			to = limit
		}
		z.spans[entityKey{g.entity, g.key}] = zoomSpan{from, to}
	}
	return z
}

func earliest(alerts []alert.Alert) time.Time {
	t := alerts[0].WindowStart
	for _, a := range alerts {
		if !a.Since.IsZero() && a.Since.Before(t) {
			t = a.Since
		}
	}
	return t
}

// latest is the end of g's last alert or of its incidents' notices.
func latest(alerts, ends []alert.Alert, g *group) time.Time {
	var t time.Time
	for _, a := range alerts {
		if a.Entity == g.entity && a.Key == g.key && a.WindowEnd.After(t) {
			t = a.WindowEnd
		}
	}
	for _, n := range ends {
		if n.Entity == g.entity && n.Key == g.key && n.At.After(t) {
			t = n.At
		}
	}
	return t
}

// Observe records a closed window of an entity being zoomed on, within
// its span; other windows are ignored.
func (z *Zoom) Observe(kind, key string, start, end time.Time, messages, expected, threshold float64) {
	k := entityKey{kind, key}
	s, ok := z.spans[k]
	if !ok || start.Before(s.from) || !start.Before(s.to) {
		return
	}
	z.pts[k] = append(z.pts[k], Point{Start: start, End: end, Peak: messages,
		Expected: expected, Threshold: threshold, Windows: 1})
}

// series returns the windows recorded for an entity over its span, the
// windows without traffic as zero, so that the line drops to the floor
// between bursts rather than joining them; nil without any.
func (z *Zoom) series(kind, key string) []Point {
	if z == nil {
		return nil
	}
	k := entityKey{kind, key}
	pts := z.pts[k]
	if len(pts) == 0 {
		return nil
	}
	size := pts[0].End.Sub(pts[0].Start)
	span := z.spans[k]
	out := make([]Point, 0, int(span.to.Sub(span.from)/size)+1)
	// The first window boundary of the span, on the windows' grid.
	next := pts[0].Start.Add(-pts[0].Start.Sub(span.from) / size * size)
	for _, p := range pts {
		for ; next.Before(p.Start); next = next.Add(size) {
			out = append(out, Point{Start: next, End: next.Add(size)})
		}
		out = append(out, p)
		next = p.End
	}
	for ; next.Before(span.to); next = next.Add(size) {
		out = append(out, Point{Start: next, End: next.Add(size)})
	}
	return out
}

// within returns the alerts whose window starts within pts.
func within(alerts []alert.Alert, pts []Point) []alert.Alert {
	var out []alert.Alert
	for _, a := range alerts {
		if !a.WindowStart.Before(pts[0].Start) && a.WindowStart.Before(pts[len(pts)-1].End) {
			out = append(out, a)
		}
	}
	return out
}
