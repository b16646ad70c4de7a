package engine

import (
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// How far event time is trusted.
const (
	// maxAhead: a live line dated further than this after the wall clock
	// is refused (counted as rejected, reason "future"). One line dated
	// 2099 would otherwise carry the watermark there and make every later
	// line late, a blindness the checkpoint would even keep.
	maxAhead = 10 * time.Minute
	// maxJump and jumpConfirm: in replay, with no wall clock to compare
	// against, a record more than maxJump after every record before it is
	// held until jumpConfirm more records confirm the jump; if jumpConfirm
	// ordinary records come first, the held ones are outliers (rejected,
	// reason "time_outlier"). A real gap in a log is confirmed by the
	// lines that follow it within moments.
	maxJump     = time.Hour
	jumpConfirm = 10
	// sourceIdle: a live source that delivered nothing for this long no
	// longer holds the watermark back.
	sourceIdle = 30 * time.Second
	// maxSourceLag: a source is waited for while it lags the latest event
	// time by at most this much. Waiting longer would keep every entity's
	// windows of that span open, and memory with them; lines lagging
	// further are counted late.
	maxSourceLag = 15 * time.Minute
)

// sourceClock keeps, for live runs, each source's latest event time and
// when it last delivered. The watermark is the earliest latest-time over
// the sources still delivering, so a source that lags behind another (a
// slower gateway, a file read after another on restart) does not see its
// lines counted late because the other ran ahead.
type sourceClock struct {
	on     bool
	latest map[string]time.Time // event time
	seen   map[string]time.Time // wall time of the last delivery
	now    time.Time            // wall time of the current batch
}

func (sc *sourceClock) enable() {
	sc.on = true
	sc.latest = make(map[string]time.Time)
	sc.seen = make(map[string]time.Time)
}

// expect registers a source before its first line, so that the watermark
// waits for it (for up to sourceIdle) rather than running ahead.
func (sc *sourceClock) expect(source string, now time.Time) {
	if !sc.on {
		return
	}
	if _, ok := sc.seen[source]; !ok {
		sc.seen[source] = now
	}
}

// delivered records that source delivered a batch at wall time now.
func (sc *sourceClock) delivered(source string, now time.Time) {
	sc.now = now
	if sc.on {
		sc.seen[source] = now
	}
}

func (sc *sourceClock) advanced(source string, t time.Time) {
	if sc.on && t.After(sc.latest[source]) {
		sc.latest[source] = t
	}
}

// low returns the earliest latest-time over the sources that delivered
// within sourceIdle, or ok=false when no source is that recent.
func (sc *sourceClock) low() (time.Time, bool) {
	var low time.Time
	found := false
	for src, seen := range sc.seen {
		if sc.now.Sub(seen) > sourceIdle {
			continue
		}
		t := sc.latest[src]
		if !found || t.Before(low) {
			low, found = t, true
		}
	}
	return low, found
}

// low is the event time the watermark may follow: the latest event time
// seen, or in live runs the earliest over the sources still delivering.
func (c *core) low() time.Time {
	if !c.clock.on {
		return c.maxEvent
	}
	low, ok := c.clock.low()
	if !ok {
		return c.maxEvent
	}
	if floor := c.maxEvent.Add(-maxSourceLag); low.Before(floor) {
		return floor
	}
	return low
}

// tick lets the watermark catch up when a lagging source went idle.
func (c *core) tick(now time.Time) {
	if !c.clock.on {
		return
	}
	c.clock.now = now
	c.advanceTo(c.low())
}

// heldRecord is a record held by the jump guard, with where it came from.
type heldRecord struct {
	rec    ingest.Record
	source string
	src    *SourceStats
}

// holdJump holds r when it jumps far ahead of every record before it (see
// maxJump), releases the held records once the jump is confirmed, and
// drops them once ordinary records show they were outliers. It reports
// whether r was taken care of.
func (c *core) holdJump(r *ingest.Record, source string, src *SourceStats) bool {
	jumped := !c.maxEvent.IsZero() && r.Time.Sub(c.maxEvent) > maxJump
	if !jumped {
		c.dropOutliers()
		return false
	}
	c.jump = append(c.jump, heldRecord{rec: *r, source: source, src: src})
	if len(c.jump) >= jumpConfirm {
		c.releaseJump()
	}
	return true
}

// dropOutliers counts an ordinary record against the held ones.
func (c *core) dropOutliers() {
	if len(c.jump) == 0 {
		return
	}
	c.jumpNormals++
	if c.jumpNormals < jumpConfirm {
		return
	}
	for _, h := range c.jump {
		h.src.Rejected["time_outlier"]++
	}
	c.jump, c.jumpNormals = c.jump[:0], 0
}

// releaseJump applies the held records: the jump was real (or the input
// ended, leaving nothing for an outlier to spoil).
func (c *core) releaseJump() {
	held := c.jump
	c.jump, c.jumpNormals = nil, 0
	for i := range held {
		if !c.add(&held[i].rec, held[i].source) {
			held[i].src.Late++
		}
	}
}
