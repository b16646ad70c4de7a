package engine

import (
	"errors"
	"github.com/sentinel-project/sentinel/internal/testlog"

	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/gen"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// collector gathers delivered alerts from the engine's goroutine.
type collector struct {
	mu  sync.Mutex
	ids []string
}

func (c *collector) deliver(a *alert.Alert, recorded func()) {
	c.mu.Lock()
	c.ids = append(c.ids, a.ID)
	c.mu.Unlock()
	recorded()
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

// unflushedAlerts replays path and returns the ids of the alerts raised
// before the last windows would close: what a live run raises once it has
// read the whole file.
func unflushedAlerts(t *testing.T, path string) []string {
	t.Helper()
	return unflushedAlertsWith(t, path, testOptions(), func(*alert.Alert) {})
}

// unflushedAlertsWith is unflushedAlerts with options, showing each alert
// to seen.
func unflushedAlertsWith(t *testing.T, path string, opts Options, seen func(*alert.Alert)) []string {
	t.Helper()
	var ids []string
	c := newCore(opts, func(a *alert.Alert) {
		ids = append(ids, a.ID)
		seen(a)
	})
	ro := ReplayOptions{Options: opts, Sources: []Source{canonicalSource(path)}}
	if _, err := replayInto(context.Background(), ro, c); err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitCheckpoint polls the checkpoint until it covers size bytes of path.
func waitCheckpoint(t *testing.T, dir, path string, size int64) {
	t.Helper()
	// Generous: under the race detector on a loaded machine, catching up
	// on tens of megabytes takes many seconds.
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var cp checkpoint
		if err := state.Load(filepath.Join(dir, checkpointFile), &cp); err == nil && cp.Positions[path].Offset == size {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not synchronising on time
	}
	t.Fatalf("checkpoint never covered %d bytes of %s", size, path)
}

func startRun(t *testing.T, opts RunOptions) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	// Cleanups run last in, first out: a test that registered its leak
	// check before starting the run sees the run stopped first, even when
	// it fails half-way.
	t.Cleanup(stop)
	return stop
}

// clock is a wall clock the test can move forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) skip(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func TestRunResumesAfterStopWithLinesWrittenMeanwhile(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	full, _ := generate(t, dir, gen.Options{Seed: 5, Tokens: 150, Duration: 4 * 24 * time.Hour, Attacks: true})
	want := unflushedAlerts(t, full)
	if len(want) == 0 {
		t.Fatal("the generated traffic raised no alerts")
	}
	got := stopAndResume(t, dir, full, testOptions(), nil)
	assertSameAlerts(t, got, want)
}

// stopAndResume follows the first two thirds of full, stops, calls
// between with the state directory, then restarts with the rest written
// meanwhile, and returns the ids of the alerts delivered.
func stopAndResume(t *testing.T, dir, full string, o Options, between func(stateDir string)) []string {
	t.Helper()
	data, _ := os.ReadFile(full)
	cut := int64(bytes.IndexByte(data[len(data)*2/3:], '\n') + len(data)*2/3 + 1)
	live := filepath.Join(dir, "live.log")
	os.WriteFile(live, data[:cut], 0o644)
	stateDir := filepath.Join(dir, "state")
	got := &collector{}
	opts := RunOptions{
		Options:            o,
		Sources:            []Source{canonicalSource(live)},
		StateDir:           stateDir,
		CheckpointInterval: 50 * time.Millisecond,
		Deliver:            got.deliver,
	}
	stop := startRun(t, opts)
	waitCheckpoint(t, stateDir, live, cut)
	stop()
	if between != nil {
		between(stateDir)
	}

	// Lines written while sentinel is down must be read on restart.
	f, _ := os.OpenFile(live, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(data[cut:])
	f.Close()
	stop = startRun(t, opts)
	waitCheckpoint(t, stateDir, live, int64(len(data)))
	stop()
	return got.snapshot()
}

// TestRunKeepsTheForestAcrossRestart runs with the isolation forest
// retraining every six hours, stops after a retrained model took over, and
// restarts: the alerts must be those of one uninterrupted replay, which
// they are only if the reservoir, the model in use and the one in its
// shadow all came back; the models must be in files of their own.
func TestRunKeepsTheForestAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	full, _ := generate(t, dir, gen.Options{Seed: 8, Tokens: 150, Duration: 6 * 24 * time.Hour, Attacks: true})
	model := builtinModel(t)
	retrained := 0
	opts := testOptions()
	// Retrained models calibrated to alert on one window in a hundred:
	// their alerts tell them apart.
	opts.Detect.Forest = detect.ForestOptions{
		Model: model, Reservoir: 5000, RetrainEvery: 6 * time.Hour, Shadow: 6 * time.Hour, AlertRate: 0.01,
		Train:     iforest.Options{Extended: true, Trees: 20, SampleSize: 256},
		Retrained: func(*detect.Model, int64, float64) { retrained++ },
	}
	forest := 0
	want := unflushedAlertsWith(t, full, opts, func(a *alert.Alert) {
		if a.Detector == "iforest" {
			forest++
		}
	})
	t.Logf("retrained %d, forest alerts %d of %d", retrained, forest, len(want))
	if retrained < 2 || forest == 0 {
		t.Fatalf("%d retrained models took over in six days, and the forest alerted %d times; the test needs both",
			retrained, forest)
	}
	opts.Detect.Forest.Retrained = nil
	got := stopAndResume(t, dir, full, opts, func(stateDir string) {
		var cp checkpoint
		if err := state.Load(filepath.Join(stateDir, checkpointFile), &cp); err != nil {
			t.Fatal(err)
		}
		if cp.Models.Model == "" || len(cp.Detect.Forest.Model) != 0 {
			t.Fatalf("checkpoint models %+v, %d model bytes inline; want the retrained model in a file of its own",
				cp.Models, len(cp.Detect.Forest.Model))
		}
		files, _ := filepath.Glob(filepath.Join(stateDir, modelDir, modelPrefix+"*"))
		for _, f := range files {
			if name := filepath.Base(f); name != cp.Models.Model && name != cp.Models.Trained && name != cp.Models.Shadow {
				t.Errorf("model file %s is left over from an earlier checkpoint", name)
			}
		}
	})
	assertSameAlerts(t, got, want)
}

func assertSameAlerts(t *testing.T, got, want []string) {
	t.Helper()
	seen := make(map[string]int)
	for _, id := range got {
		seen[id]++
		if seen[id] > 1 {
			t.Errorf("alert %s delivered twice", id)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("alert %s raised by replay was never delivered", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("delivered %d alerts, replay raised %d", len(got), len(want))
	}
}

// liveLines writes a token's requests, one a second, ending at end.
func liveLines(t *testing.T, path string, end time.Time, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := n - 1; i >= 0; i-- {
		ts := end.Add(-time.Duration(i) * time.Second).UTC().Format(time.RFC3339Nano)
		fmt.Fprintf(f, `{"ts":%q,"token":"tok_quiet","ip":"192.0.2.9","method":"GET","path":"/m","status":200,"bytes":10,"messages":1,"ua":"u"}`+"\n", ts)
	}
}

func openWindows(t *testing.T, dir string) (int, bool) {
	var cp checkpoint
	if err := state.Load(filepath.Join(dir, checkpointFile), &cp); err != nil {
		return 0, false
	}
	return len(cp.Features.Windows), true
}

func TestQuietLiveSourcesStillCloseWindows(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	log := filepath.Join(dir, "live.log")
	// Live lines, ending now: the engine may assume event time goes on.
	liveLines(t, log, time.Now(), 120)
	clk := &clock{}
	opts := quietRunOptions(dir, log, clk)
	stop := startRun(t, opts)
	waitCheckpoint(t, opts.StateDir, log, fileSize(t, log))
	if n, _ := openWindows(t, opts.StateDir); n == 0 {
		t.Fatal("no open window after reading: nothing left for the test to close")
	}
	clk.skip(2 * time.Minute) // a two-minute lull
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, ok := openWindows(t, opts.StateDir); ok && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("windows stayed open although the live sources were quiet")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
	stop()
}

func TestQuietAfterBacklogKeepsWindowsOpen(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	log := filepath.Join(dir, "old.log")
	// A backlog from last month: a pause says nothing about event time.
	end := time.Now().Add(-30 * 24 * time.Hour)
	liveLines(t, log, end, 120)
	clk := &clock{}
	opts := quietRunOptions(dir, log, clk)
	stop := startRun(t, opts)
	waitCheckpoint(t, opts.StateDir, log, fileSize(t, log))
	clk.skip(2 * time.Minute)
	// Several quiet ticks later the last windows must still be open.
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n, ok := openWindows(t, opts.StateDir); ok && n == 0 {
			t.Fatal("windows of a backlog were closed by the wall clock")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition
	}
	stop()
}

// quietRunOptions follows log with checkpoints every 20ms, a clock the
// test moves, and sources counted quiet after 50ms.
func quietRunOptions(dir, log string, clk *clock) RunOptions {
	return RunOptions{
		Options: testOptions(), Sources: []Source{canonicalSource(log)},
		StateDir: filepath.Join(dir, "state"), CheckpointInterval: 20 * time.Millisecond,
		Deliver: func(_ *alert.Alert, recorded func()) { recorded() }, QuietAfter: 50 * time.Millisecond,
		Now: clk.now,
	}
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestWrongFormatIsReported follows a Traefik log read as if it were in
// the canonical format: every line is rejected (no ts), yet that must
// raise a source alert and say so in the log, not pass in silence.
func TestWrongFormatIsReported(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	log := filepath.Join(dir, "traefik.log")
	f, _ := os.Create(log)
	for i := range 1200 {
		ts := time.Now().Add(-time.Duration(1200-i) * time.Second).UTC().Format(time.RFC3339Nano)
		fmt.Fprintf(f, `{"ClientHost":"203.0.113.21","DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/messages","StartUTC":%q,"request_X-Api-Key":"tok_live_x"}`+"\n", ts)
	}
	f.Close()
	var logs testlog.Buffer
	got := &collector{}
	var srcAlerts []string
	var mu sync.Mutex
	opts := RunOptions{
		Options: testOptions(), Sources: []Source{canonicalSource(log)},
		StateDir: filepath.Join(dir, "state"), CheckpointInterval: 20 * time.Millisecond,
		Deliver: func(a *alert.Alert, recorded func()) {
			got.deliver(a, recorded)
			mu.Lock()
			if a.Entity == alert.EntitySource {
				srcAlerts = append(srcAlerts, a.Key)
			}
			mu.Unlock()
		},
	}
	opts.Logger = zerolog.New(&logs)
	stop := startRun(t, opts)
	waitCheckpoint(t, opts.StateDir, log, fileSize(t, log))
	stop()
	if len(srcAlerts) != 1 || srcAlerts[0] != log {
		t.Errorf("source alerts %v, want one for %s", srcAlerts, log)
	}
	for _, want := range []string{"no line carried a credential", "rejected lines that could not be parsed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
}

// TestRunFromStdinEndsWithItsInput pipes generated traffic into a live
// run: when the pipe ends, the run ends too, having raised what a replay
// of the same lines raises.
func TestRunFromStdinEndsWithItsInput(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	path, _ := generate(t, dir, gen.Options{Seed: 9, Tokens: 100, Duration: 4 * 24 * time.Hour, Attacks: true})
	// Back-to-normal notices included: live and replay end incidents alike.
	want, _ := replayAll(t, ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := &collector{}
	opts := RunOptions{
		Options: testOptions(), Sources: []Source{canonicalSource("-")}, Stdin: f,
		StateDir: filepath.Join(dir, "state"), CheckpointInterval: time.Hour, Deliver: got.deliver,
	}
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), opts) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not end when its only input ended")
	}
	var ids []string
	for _, a := range want {
		ids = append(ids, a.ID)
	}
	assertSameAlerts(t, got.snapshot(), ids)
}

// TestWarmLearnsFromHistory gives a live run a week-old history through
// Warm: a token known only from that history must be judged against its
// own baseline (ewma) when it bursts in the live file, not as a newcomer.
func TestWarmLearnsFromHistory(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	hist := filepath.Join(dir, "history.log")
	live := filepath.Join(dir, "live.log")
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	line := func(f *os.File, ts time.Time, msgs int) {
		fmt.Fprintf(f, `{"ts":%q,"token":"tok_warm_example_1","ip":"192.0.2.7","method":"GET","path":"/m","status":200,"bytes":%d,"messages":%d,"ua":"u"}`+"\n",
			ts.UTC().Format(time.RFC3339Nano), msgs*100, msgs)
	}
	hf, _ := os.Create(hist)
	for m := range 150 {
		line(hf, start.Add(time.Duration(m)*time.Minute), 5)
	}
	hf.Close()
	lf, _ := os.Create(live)
	for i := range 20 {
		line(lf, start.Add(150*time.Minute+time.Duration(i)*time.Second), 400)
	}
	lf.Close()

	var mu sync.Mutex
	var detectors []string
	opts := RunOptions{
		Options: testOptions(), Sources: []Source{canonicalSource(live)}, Warm: []string{hist},
		StateDir: filepath.Join(dir, "state"), CheckpointInterval: 20 * time.Millisecond,
		Deliver: func(a *alert.Alert, recorded func()) {
			defer recorded()
			mu.Lock()
			defer mu.Unlock()
			if a.Entity == alert.EntityToken {
				detectors = append(detectors, a.Detector)
			}
		},
	}
	stop := startRun(t, opts)
	waitCheckpoint(t, opts.StateDir, live, fileSize(t, live))
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(detectors) == 0 || detectors[0] != "ewma" {
		t.Fatalf("token alerts by %v, want the first by ewma: its baseline should come from the warm history", detectors)
	}
}

// TestSecondRunOnOneStateDirIsRefused: two runs on one state directory
// would overwrite each other's checkpoint and journal.
func TestSecondRunOnOneStateDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	first, err := newRunner(RunOptions{StateDir: dir, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, err = newRunner(RunOptions{StateDir: dir, CheckpointInterval: time.Hour})
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second run on %s: %v, want ErrLocked", dir, err)
	}
	first.close()
	again, err := newRunner(RunOptions{StateDir: dir, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	again.close()
}
