package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Stats counts what the engine read, per source, and what it raised.
type Stats struct {
	Sources map[string]*SourceStats
	Alerts  int64
	// Resolved counts the back-to-normal notices, which are not alerts.
	Resolved int64
	// First and Last are the earliest and latest event times applied:
	// the span of history a replay covered.
	First, Last time.Time
}

// SourceStats counts one source's lines.
type SourceStats struct {
	Lines    int64
	Rejected Rejects // by reason
	Late     int64   // parsed, but too late for their window
	WithCred int64   // parsed lines that carried a credential
	GapBytes int64   // known lost, e.g. logrotate's copytruncate gap
}

// Rejects counts rejected lines by reason.
type Rejects map[string]int64

func (r Rejects) add(o Rejects) {
	for k, v := range o {
		r[k] += v
	}
}

// Total is the number of rejected lines.
func (r Rejects) Total() int64 {
	var n int64
	for _, v := range r {
		n += v
	}
	return n
}

func newStats() *Stats {
	return &Stats{Sources: make(map[string]*SourceStats)}
}

func (s *Stats) source(name string) *SourceStats {
	src, ok := s.Sources[name]
	if !ok {
		src = &SourceStats{Rejected: make(Rejects)}
		s.Sources[name] = src
	}
	return src
}

// Names returns the source names, sorted.
func (s *Stats) Names() []string {
	return slices.Sorted(maps.Keys(s.Sources))
}

// String gives the counts as "json=3 time=1", sorted by reason.
func (r Rejects) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, r[k])
	}
	return b.String()
}

// Lines returns the totals over all sources.
func (s *Stats) Lines() (lines, rejected, late int64) {
	for _, src := range s.Sources {
		lines += src.Lines
		rejected += src.Rejected.Total()
		late += src.Late
	}
	return lines, rejected, late
}
