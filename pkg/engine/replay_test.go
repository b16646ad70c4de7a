package engine

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/gen"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

func testOptions() Options {
	return Options{
		Features: features.Options{Window: time.Minute, Lateness: 30 * time.Second},
		Detect:   detect.DefaultOptions(),
	}
}

func canonicalSource(paths ...string) Source {
	m, err := ingest.Preset(ingest.FormatCanonical)
	if err != nil {
		panic(err)
	}
	return Source{Paths: paths, Format: Format{Mapping: m, Pull: ingest.DefaultPullRules(ingest.FormatCanonical)}}
}

// generate writes a seed's traffic to dir and returns the file and truth.
func generate(tb testing.TB, dir string, opts gen.Options) (string, *gen.Truth) {
	tb.Helper()
	path := filepath.Join(dir, "access.log")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	truth, err := gen.Generate(opts, bw)
	if err != nil {
		tb.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return path, truth
}

// replayAlerts returns the alerts a replay raised, without the
// back-to-normal notices (see replayAll).
func replayAlerts(tb testing.TB, opts ReplayOptions) ([]alert.Alert, *Stats) {
	tb.Helper()
	all, stats := replayAll(tb, opts)
	alerts := all[:0]
	for _, a := range all {
		if a.Status != alert.StatusResolved {
			alerts = append(alerts, a)
		}
	}
	return alerts, stats
}

// replayAll returns everything a replay emitted, in order.
func replayAll(tb testing.TB, opts ReplayOptions) ([]alert.Alert, *Stats) {
	tb.Helper()
	var all []alert.Alert
	stats, err := Replay(context.Background(), opts, func(a *alert.Alert) { all = append(all, *a) })
	if err != nil {
		tb.Fatal(err)
	}
	return all, stats
}

// Every back-to-normal notice ends an incident that alerted: an earlier
// alert of the same entity and detector, from its start on; and each
// incident ends once.
func TestResolvedNoticesEndAlertedIncidents(t *testing.T) {
	path, _ := generate(t, t.TempDir(), gen.Options{Seed: 7, Tokens: 200, Duration: 4 * 24 * time.Hour, Attacks: true})
	all, stats := replayAll(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}})
	type incident struct{ entity, key, detector string }
	firing := map[incident]alert.Alert{}
	ended := map[string]bool{}
	for _, a := range all {
		inc := incident{a.Entity, a.Key, a.Detector}
		if a.Status != alert.StatusResolved {
			firing[inc] = a
			continue
		}
		first, ok := firing[inc]
		if !ok || first.At.Before(a.Since) && first.Since.Before(a.Since) {
			t.Errorf("notice %s (%s %s, since %v) ends no incident that alerted", a.ID, a.Entity, a.Key, a.Since)
		}
		if a.At.Before(a.Since) || ended[a.ID] {
			t.Errorf("notice %s: at %v before since %v, or a second time", a.ID, a.At, a.Since)
		}
		ended[a.ID] = true
		delete(firing, inc)
	}
	if stats.Resolved == 0 || int64(len(ended)) != stats.Resolved {
		t.Errorf("%d notices, stats say %d; the generated attacks end, so some are expected", len(ended), stats.Resolved)
	}
}

func TestReplayIsDeterministic(t *testing.T) {
	path, _ := generate(t, t.TempDir(), gen.Options{Seed: 7, Tokens: 200, Duration: 4 * 24 * time.Hour, Attacks: true})
	opts := ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}}
	first, _ := replayAll(t, opts)
	if len(first) == 0 {
		t.Fatal("no alerts: the generated attacks should raise some")
	}
	for _, workers := range []int{1, 3} {
		opts.Workers = workers
		again, _ := replayAll(t, opts)
		a, _ := json.Marshal(first)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatalf("replay with %d workers gave different alerts", workers)
		}
	}
}

func TestReplayOrdersFilesByEventTime(t *testing.T) {
	dir := t.TempDir()
	path, _ := generate(t, dir, gen.Options{Seed: 3, Tokens: 100, Duration: 4 * 24 * time.Hour, Attacks: true})
	whole, _ := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}})

	// Split the log the way logrotate leaves it: the older half compressed
	// under a name that sorts after the newer one.
	data, _ := os.ReadFile(path)
	cut := bytes.IndexByte(data[len(data)/2:], '\n') + len(data)/2 + 1
	older := filepath.Join(dir, "z-access.log.1.gz")
	newer := filepath.Join(dir, "a-access.log")
	writeGzip(t, older, data[:cut])
	os.WriteFile(newer, data[cut:], 0o644)

	split, stats := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(newer, older)}})
	if _, _, late := stats.Lines(); late != 0 {
		t.Fatalf("%d late lines: files were not replayed oldest first", late)
	}
	a, _ := json.Marshal(whole)
	b, _ := json.Marshal(split)
	if !bytes.Equal(a, b) {
		t.Fatalf("split and compressed replay differs from the whole file: %d vs %d alerts", len(split), len(whole))
	}
}

func writeGzip(tb testing.TB, path string, data []byte) {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestReplayCountsRejectedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.log")
	lines := `{"ts":"2026-03-02T00:00:01Z","token":"tok_a","ip":"192.0.2.1","method":"GET","path":"/x","status":200,"bytes":1,"messages":0,"ua":"u"}
not json
{"token":"tok_a"}
{"ts":"2026-03-02T00:00:02Z","token":"tok_a","ip":"192.0.2.1","method":"GET","path":"/x","status":200,"bytes":1,"messages":0,"ua":"u"}
`
	os.WriteFile(path, []byte(lines), 0o644)
	_, stats := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}})
	src := stats.Sources[path]
	if src == nil || src.Lines != 4 || src.Rejected.Total() != 2 {
		t.Fatalf("stats = %+v, want 4 lines, 2 rejected", src)
	}
}

func BenchmarkReplay(b *testing.B) {
	path, _ := generate(b, b.TempDir(), gen.Options{Seed: 1, Tokens: 300, Duration: 2 * 24 * time.Hour, Attacks: false})
	opts := ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}}
	b.ReportAllocs()
	b.ResetTimer()
	var lines int64
	for b.Loop() {
		_, stats := replayAlerts(b, opts)
		n, _, _ := stats.Lines()
		lines += n
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

func TestReplayAlertsOnARiseInRejectedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.log")
	var buf bytes.Buffer
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	good := func(ts time.Time) {
		fmt.Fprintf(&buf, `{"ts":%q,"token":"tok_a","ip":"192.0.2.1","method":"GET","path":"/x","status":200,"bytes":1,"messages":0,"ua":"u"}`+"\n", ts.Format(time.RFC3339))
	}
	for m := range 90 {
		for s := range 20 {
			good(start.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second))
		}
	}
	// A stretch of lines a parser cannot read, among readable ones.
	for i := range 300 {
		buf.WriteString("<garbage the attacker hides requests in>\n")
		if i%10 == 0 {
			good(start.Add(90*time.Minute + time.Duration(i/10)*time.Second))
		}
	}
	os.WriteFile(path, buf.Bytes(), 0o644)
	alerts, _ := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}})
	var found []alert.Alert
	for _, a := range alerts {
		if a.Entity == alert.EntitySource {
			found = append(found, a)
		}
	}
	if len(found) != 1 || found[0].Key != path || found[0].Feature != "rejected_lines" || found[0].Observed < 50 {
		t.Fatalf("source alerts = %+v, want one on %s for its rejected lines", found, path)
	}
}

func TestReplayWithNothingToReadIsAnError(t *testing.T) {
	_, err := Replay(context.Background(), ReplayOptions{Options: testOptions()}, func(*alert.Alert) {})
	if err == nil || !strings.Contains(err.Error(), "nothing to replay") {
		t.Fatalf("got %v, want an error saying there is nothing to replay", err)
	}
}
