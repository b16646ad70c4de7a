package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/gen"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// collector gathers delivered alerts from the engine's goroutine.
type collector struct {
	mu  sync.Mutex
	ids []string
}

func (c *collector) deliver(a *alert.Alert) {
	c.mu.Lock()
	c.ids = append(c.ids, a.ID)
	c.mu.Unlock()
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
	var ids []string
	c := newCore(testOptions(), func(a *alert.Alert) { ids = append(ids, a.ID) })
	ro := ReplayOptions{Options: testOptions(), Sources: []Source{canonicalSource(path)}}
	if _, err := replayInto(context.Background(), ro, c); err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitCheckpoint polls the checkpoint until it covers size bytes of path.
func waitCheckpoint(t *testing.T, dir, path string, size int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
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
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
}

func TestRunResumesAfterStopWithLinesWrittenMeanwhile(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	full, _ := generate(t, dir, gen.Options{Seed: 5, Tokens: 150, Duration: 4 * 24 * time.Hour, Attacks: true})
	want := unflushedAlerts(t, full)
	if len(want) == 0 {
		t.Fatal("the generated traffic raised no alerts")
	}
	data, _ := os.ReadFile(full)
	cut := int64(bytes.IndexByte(data[len(data)*2/3:], '\n') + len(data)*2/3 + 1)

	live := filepath.Join(dir, "live.log")
	os.WriteFile(live, data[:cut], 0o644)
	stateDir := filepath.Join(dir, "state")
	got := &collector{}
	opts := RunOptions{
		Options:            testOptions(),
		Sources:            []Source{canonicalSource(live)},
		StateDir:           stateDir,
		CheckpointInterval: 50 * time.Millisecond,
		Deliver:            got.deliver,
	}
	stop := startRun(t, opts)
	waitCheckpoint(t, stateDir, live, cut)
	stop()

	// Lines written while sentinel is down must be read on restart.
	f, _ := os.OpenFile(live, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(data[cut:])
	f.Close()
	stop = startRun(t, opts)
	waitCheckpoint(t, stateDir, live, int64(len(data)))
	stop()

	assertSameAlerts(t, got.snapshot(), want)
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
