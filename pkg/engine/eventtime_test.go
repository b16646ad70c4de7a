package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/gen"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// splitByAddress writes the lines of a generated log into two files, as
// two gateways behind a balancer would log the same hours.
func splitByAddress(t *testing.T, path, a, b string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fa, fb bytes.Buffer
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		if i%2 == 0 {
			fa.Write(line)
		} else {
			fb.Write(line)
		}
	}
	os.WriteFile(a, fa.Bytes(), 0o644)
	os.WriteFile(b, fb.Bytes(), 0o644)
}

func TestReplayMergesConcurrentGateways(t *testing.T) {
	dir := t.TempDir()
	whole, _ := generate(t, dir, gen.Options{Seed: 4, Tokens: 150, Duration: 4 * 24 * time.Hour, Attacks: true})
	gw1, gw2 := filepath.Join(dir, "gw1.log"), filepath.Join(dir, "gw2.log")
	splitByAddress(t, whole, gw1, gw2)

	want, _ := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(whole)}})
	got, stats := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(gw1, gw2)}})
	if _, _, late := stats.Lines(); late != 0 {
		t.Fatalf("%d lines late: the gateways' logs were not read side by side", late)
	}
	if ids(got) != ids(want) {
		t.Fatalf("two gateways' logs raised %d alerts, the same lines in one file %d", len(got), len(want))
	}
}

func TestReplayIgnoresAFarFutureLine(t *testing.T) {
	dir := t.TempDir()
	clean, _ := generate(t, dir, gen.Options{Seed: 6, Tokens: 100, Duration: 4 * 24 * time.Hour, Attacks: true})
	data, _ := os.ReadFile(clean)
	cut := bytes.IndexByte(data[len(data)/3:], '\n') + len(data)/3 + 1
	poisoned := filepath.Join(dir, "poisoned.log")
	future := `{"ts":"2099-01-01T00:00:00Z","token":"tok_x","ip":"192.0.2.1","method":"GET","path":"/","status":200,"bytes":1,"messages":0,"ua":"u"}` + "\n"
	os.WriteFile(poisoned, slices.Concat(data[:cut], []byte(future), data[cut:]), 0o644)

	want, _ := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(clean)}})
	got, stats := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(poisoned)}})
	if ids(got) != ids(want) {
		t.Fatalf("one line dated 2099 changed the alerts: %d, without it %d", len(got), len(want))
	}
	if n := stats.Sources[poisoned].Rejected["time_outlier"]; n != 1 {
		t.Fatalf("time_outlier rejects = %d, want 1", n)
	}
}

func TestReplayAcceptsARealGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gap.log")
	var buf strings.Builder
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, base := range []time.Time{start, start.Add(5 * time.Hour)} { // a quiet night between
		for i := range 30 {
			fmt.Fprintf(&buf, `{"ts":%q,"token":"tok_a","ip":"192.0.2.1","method":"GET","path":"/","status":200,"bytes":1,"messages":0,"ua":"u"}`+"\n",
				base.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
		}
	}
	os.WriteFile(path, []byte(buf.String()), 0o644)
	_, stats := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}})
	src := stats.Sources[path]
	if src.Rejected.Total() != 0 || src.Late != 0 {
		t.Fatalf("a real five-hour gap lost lines: %v rejected, %d late", src.Rejected, src.Late)
	}
}

func ids(alerts []alert.Alert) string {
	var b strings.Builder
	for _, a := range alerts {
		b.WriteString(a.ID + "\n")
	}
	return b.String()
}

// TestLiveTwoGatewaysResumeWithoutLateLines follows two gateways' logs,
// stops, has both written while it is down, and restarts: neither's
// downtime lines may be late because the other was read first.
func TestLiveTwoGatewaysResumeWithoutLateLines(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	// Dense enough that a 16 KiB read spans a minute or two of event
	// time, as a real gateway's log does.
	whole, _ := generate(t, dir, gen.Options{Seed: 8, Tokens: 300, Duration: 24 * time.Hour})
	full1, full2 := filepath.Join(dir, "full1"), filepath.Join(dir, "full2")
	splitByAddress(t, whole, full1, full2)
	d1, _ := os.ReadFile(full1)
	d2, _ := os.ReadFile(full2)
	cut1 := bytes.IndexByte(d1[len(d1)*2/3:], '\n') + len(d1)*2/3 + 1
	cut2 := bytes.IndexByte(d2[len(d2)*2/3:], '\n') + len(d2)*2/3 + 1
	gw1, gw2 := filepath.Join(dir, "gw1.log"), filepath.Join(dir, "gw2.log")
	os.WriteFile(gw1, d1[:cut1], 0o644)
	os.WriteFile(gw2, d2[:cut2], 0o644)

	got := &collector{}
	opts := RunOptions{
		Options: testOptions(), Sources: []Source{canonicalSource(gw1, gw2)},
		StateDir: filepath.Join(dir, "state"), CheckpointInterval: 20 * time.Millisecond, Deliver: got.deliver,
	}
	stop := startRun(t, opts)
	waitCheckpoint(t, opts.StateDir, gw1, int64(cut1))
	waitCheckpoint(t, opts.StateDir, gw2, int64(cut2))
	stop()
	appendTo(t, gw1, d1[cut1:])
	appendTo(t, gw2, d2[cut2:])
	stop = startRun(t, opts)
	waitCheckpoint(t, opts.StateDir, gw1, int64(len(d1)))
	waitCheckpoint(t, opts.StateDir, gw2, int64(len(d2)))
	stop()

	var cp checkpoint
	if err := state.Load(filepath.Join(opts.StateDir, checkpointFile), &cp); err != nil {
		t.Fatal(err)
	}
	if cp.Features.Late != 0 {
		t.Fatalf("%d lines late across the restart", cp.Features.Late)
	}
}

func appendTo(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(data)
}

// TestLiveRefusesLinesFromTheFuture feeds a live run a line dated 2099
// among current ones: it is refused, and a burst after it still alerts.
func TestLiveRefusesLinesFromTheFuture(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	log := filepath.Join(dir, "live.log")
	f, _ := os.Create(log)
	now := time.Now()
	line := func(ts time.Time, token string, msgs int) {
		fmt.Fprintf(f, `{"ts":%q,"token":%q,"ip":"192.0.2.5","method":"GET","path":"/m","status":200,"bytes":1,"messages":%d,"ua":"u"}`+"\n",
			ts.UTC().Format(time.RFC3339Nano), token, msgs)
	}
	for m := range 120 {
		line(now.Add(time.Duration(m-125)*time.Minute), "tok_steady_000001", 5)
	}
	line(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), "tok_steady_000001", 0)
	for i := range 10 {
		line(now.Add(-4*time.Minute+time.Duration(i)*time.Second), "tok_steady_000001", 500)
	}
	f.Close()
	got := &collector{}
	opts := RunOptions{
		Options: testOptions(), Sources: []Source{canonicalSource(log)},
		StateDir: filepath.Join(dir, "state"), CheckpointInterval: 20 * time.Millisecond, Deliver: got.deliver,
	}
	stop := startRun(t, opts)
	waitCheckpoint(t, opts.StateDir, log, fileSize(t, log))
	stop()
	if len(got.snapshot()) == 0 {
		t.Fatal("the burst after the 2099 line raised no alert")
	}
}

// TestReplayMergeIgnoresAFarFutureLine puts a line dated 2099 into one of
// two gateways' logs: it must not hold that whole file back in the merge.
func TestReplayMergeIgnoresAFarFutureLine(t *testing.T) {
	dir := t.TempDir()
	whole, _ := generate(t, dir, gen.Options{Seed: 4, Tokens: 150, Duration: 4 * 24 * time.Hour, Attacks: true})
	gw1, gw2 := filepath.Join(dir, "gw1.log"), filepath.Join(dir, "gw2.log")
	splitByAddress(t, whole, gw1, gw2)
	want, _ := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(gw1, gw2)}})

	data, _ := os.ReadFile(gw2)
	cut := bytes.IndexByte(data[len(data)/3:], '\n') + len(data)/3 + 1
	future := `{"ts":"2099-01-01T00:00:00Z","token":"tok_x","ip":"192.0.2.1","method":"GET","path":"/","status":200,"bytes":1,"messages":0,"ua":"u"}` + "\n"
	os.WriteFile(gw2, slices.Concat(data[:cut], []byte(future), data[cut:]), 0o644)
	got, stats := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(gw1, gw2)}})
	if _, _, late := stats.Lines(); late != 0 {
		t.Fatalf("%d lines late: the 2099 line held its file back", late)
	}
	if stats.Sources[gw2].Rejected["time_outlier"] != 1 {
		t.Fatalf("gw2 rejects %v, want one time_outlier", stats.Sources[gw2].Rejected)
	}
	if ids(got) != ids(want) {
		t.Fatalf("the 2099 line changed the alerts: %d, without it %d", len(got), len(want))
	}
}

// TestReplayMergeKeepsARealGap merges a gateway that logged all night
// with one that was down for five hours: the second's lines after its gap
// are not outliers, and none is late.
func TestReplayMergeKeepsARealGap(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	write := func(name string, from, to time.Duration) string {
		var buf strings.Builder
		for at := from; at < to; at += 20 * time.Second {
			fmt.Fprintf(&buf, `{"ts":%q,"token":"tok_%s","ip":"192.0.2.1","method":"GET","path":"/","status":200,"bytes":1,"messages":0,"ua":"u"}`+"\n",
				start.Add(at).Format(time.RFC3339), name)
		}
		path := filepath.Join(dir, name+".log")
		os.WriteFile(path, []byte(buf.String()), 0o644)
		return path
	}
	gw1 := write("gw1", 0, 10*time.Hour)
	down := write("gw2a", 0, 2*time.Hour)
	back := write("gw2b", 7*time.Hour, 10*time.Hour)
	gw2 := filepath.Join(dir, "gw2.log")
	a, _ := os.ReadFile(down)
	b, _ := os.ReadFile(back)
	os.WriteFile(gw2, slices.Concat(a, b), 0o644)
	_, stats := replayAlerts(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(gw1, gw2)}})
	if _, rejected, late := stats.Lines(); rejected != 0 || late != 0 {
		t.Fatalf("a five-hour outage of one gateway cost %d rejected and %d late lines", rejected, late)
	}
}
