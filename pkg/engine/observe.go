package engine

import (
	"os"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// Observation is one closed token or address window as the detector
// judged it: what a report draws an entity's volume and baseline band
// from.
type Observation struct {
	Kind       string // "token" or "ip"
	Key        string // token fingerprint or address
	Start, End time.Time
	Messages   float64
	// Expected and Threshold are the entity's baseline for the window's
	// messages (see detect.Detector.Band); Threshold is +Inf while the
	// entity's messages are not judged yet.
	Expected, Threshold float64
}

// Progress is how far a replay has read.
type Progress struct {
	Lines int64 // lines read, of every source
	// Bytes is how much of the files was read (compressed bytes for gzip
	// files), Total the sum of their sizes; Total is 0 when a source has
	// no size, such as standard input.
	Bytes, Total int64
}

// observeAll passes each window, with its baseline before the window is
// learned, to the observer. It runs before the detector closes ws, as
// the band must be the one the window was judged against.
func (c *core) observeAll(ws []*features.Window) {
	if c.observe == nil {
		return
	}
	for _, w := range ws {
		if w == nil || w.Kind >= features.NumKinds {
			continue
		}
		exp, thr := c.det.Band(w)
		c.observe(&Observation{
			Kind: w.Kind.String(), Key: w.Key, Start: w.Start, End: w.End,
			Messages: w.V[features.Messages], Expected: exp, Threshold: thr,
		})
	}
}

// progressTracker sums what the replay's files have delivered, for the
// progress callback.
type progressTracker struct {
	report func(Progress)
	read   map[string]int64 // bytes read per file
	p      Progress
}

func newProgressTracker(report func(Progress), files []string) *progressTracker {
	if report == nil {
		return nil
	}
	t := &progressTracker{report: report, read: make(map[string]int64)}
	for _, f := range files {
		fi, err := os.Stat(f)
		if f == "-" || err != nil {
			// Without every size no fraction is meaningful.
			t.p.Total = 0
			return t
		}
		t.p.Total += fi.Size()
	}
	return t
}

// batch accounts for one batch of source and reports the new totals.
func (t *progressTracker) batch(source string, lines int, read int64) {
	if t == nil {
		return
	}
	t.p.Lines += int64(lines)
	if read > t.read[source] {
		t.p.Bytes += read - t.read[source]
		t.read[source] = read
	}
	t.report(t.p)
}
