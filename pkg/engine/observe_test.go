package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/gen"
)

// TestObserverSeesEveryWindowAndChangesNothing checks the report's hook:
// every message counted lands in some observed window, each alert's
// window was observed above its threshold-crossing baseline, and
// observing leaves the alerts exactly as they were.
func TestObserverSeesEveryWindowAndChangesNothing(t *testing.T) {
	path, _ := generate(t, t.TempDir(), gen.Options{Seed: 7, Tokens: 100, Duration: 4 * 24 * time.Hour, Attacks: true})
	opts := ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}}
	plain, _ := replayAlerts(t, opts)

	type wkey struct {
		key   string
		start time.Time
	}
	seen := make(map[wkey]Observation)
	var tokenMessages float64
	opts.Observe = func(o *Observation) {
		if o.End.Sub(o.Start) != time.Minute || math.IsNaN(o.Expected) {
			t.Fatalf("odd observation %+v", *o)
		}
		seen[wkey{o.Key, o.Start}] = *o
		if o.Kind == "token" {
			tokenMessages += o.Messages
		}
	}
	observed, _ := replayAlerts(t, opts)
	a, _ := json.Marshal(plain)
	b, _ := json.Marshal(observed)
	if !bytes.Equal(a, b) {
		t.Fatalf("observing changed the alerts: %d vs %d", len(observed), len(plain))
	}
	if tokenMessages == 0 {
		t.Fatal("no token messages observed")
	}
	checked := 0
	for _, al := range plain {
		if al.Feature != "messages" || al.Entity != alert.EntityToken {
			continue
		}
		checked++
		o, ok := seen[wkey{al.Key, al.WindowStart}]
		if !ok {
			t.Fatalf("alert %s: its window was not observed", al.ID)
		}
		if o.Messages < al.Observed || o.Messages <= o.Threshold {
			t.Errorf("alert %s observed %v: window has %v messages against threshold %v", al.ID, al.Observed, o.Messages, o.Threshold)
		}
	}
	if checked == 0 {
		t.Fatal("no messages alert to check the observed band against")
	}
}

// TestProgressReachesTheFilesSize checks that progress counts every
// line and, for a gzip file, its compressed size.
func TestProgressReachesTheFilesSize(t *testing.T) {
	dir := t.TempDir()
	path, _ := generate(t, dir, gen.Options{Seed: 3, Tokens: 50, Duration: 24 * time.Hour})
	data, _ := os.ReadFile(path)
	gz := filepath.Join(dir, "access.log.gz")
	writeGzip(t, gz, data)
	fi, _ := os.Stat(gz)

	var last Progress
	calls := 0
	opts := ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(gz)}}
	opts.Progress = func(p Progress) { last = p; calls++ }
	_, stats := replayAlerts(t, opts)
	lines, _, _ := stats.Lines()
	if calls == 0 || last.Lines != lines {
		t.Fatalf("progress: %d calls, last %+v; replay read %d lines", calls, last, lines)
	}
	if last.Total != fi.Size() || last.Bytes != last.Total {
		t.Fatalf("progress ended at %d of %d bytes; the file has %d", last.Bytes, last.Total, fi.Size())
	}
}
