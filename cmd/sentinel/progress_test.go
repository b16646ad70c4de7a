package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/engine"
)

func TestFormatProgress(t *testing.T) {
	for _, c := range []struct {
		p       engine.Progress
		elapsed time.Duration
		want    string
	}{
		// A quarter read in 10s: 30s left.
		{engine.Progress{Lines: 250_000, Bytes: 25, Total: 100}, 10 * time.Second,
			"replaying: 250k lines, 25k lines/s, 25%, 0:30 left"},
		// Two hours in, a tenth left: 13:20.
		{engine.Progress{Lines: 3_600_000, Bytes: 900, Total: 1000}, 2 * time.Hour,
			"replaying: 3.6M lines, 500 lines/s, 90%, 13:20 left"},
		// Long: hours.
		{engine.Progress{Lines: 5000, Bytes: 1, Total: 100}, time.Minute,
			"replaying: 5000 lines, 83 lines/s, 1%, 1:39:00 left"},
		// Standard input: no size, no share, no estimate.
		{engine.Progress{Lines: 12_000}, 2 * time.Second, "replaying: 12k lines, 6000 lines/s"},
		// Too early for a rate to estimate from.
		{engine.Progress{Lines: 100, Bytes: 5, Total: 100}, 100 * time.Millisecond,
			"replaying: 100 lines, 1000 lines/s, 5%"},
	} {
		if got := formatProgress(c.p, c.elapsed); got != c.want {
			t.Errorf("formatProgress(%+v, %v) = %q, want %q", c.p, c.elapsed, got, c.want)
		}
	}
}

// TestProgressLineRewritesInPlace checks the rate limit, the carriage
// returns and that clear leaves an empty line.
func TestProgressLineRewritesInPlace(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	p := &progressLine{w: &buf, now: func() time.Time { return now }, start: now.Add(-time.Second)}
	p.update(engine.Progress{Lines: 1_000_000, Bytes: 50, Total: 100})
	now = now.Add(progressEvery / 2)
	p.update(engine.Progress{Lines: 1_100_000})
	if strings.Count(buf.String(), "\r") != 1 {
		t.Fatalf("updated twice within %v: %q", progressEvery, buf.String())
	}
	now = now.Add(progressEvery)
	p.update(engine.Progress{Lines: 5})
	p.clear()
	out := buf.String()
	last := out[strings.LastIndex(out[:len(out)-1], "\r")+1 : len(out)-1]
	if strings.Count(out, "\r") != 4 || strings.TrimSpace(last) != "" || len(last) < len("replaying: 1.0M lines") {
		t.Fatalf("output %q does not end with the line erased", out)
	}
	var none *progressLine
	none.clear() // not a terminal: nothing to do, no panic
}
