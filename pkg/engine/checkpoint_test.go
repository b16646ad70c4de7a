package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/state"
)

// TestCheckpointWriterWritesTheLastSnapshot: of several snapshots handed
// over in a row, the one on disk when finish returns is the last, and
// the counts say so.
func TestCheckpointWriterWritesTheLastSnapshot(t *testing.T) {
	dir := t.TempDir()
	w := newCheckpointWriter(dir, zerolog.Nop())
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		w.submit(checkpoint{Saved: t0, MaxEvent: t0.Add(time.Duration(i) * time.Minute)})
	}
	if err := w.finish(checkpoint{Saved: t0, MaxEvent: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var cp checkpoint
	if err := state.Load(filepath.Join(dir, checkpointFile), &cp); err != nil {
		t.Fatal(err)
	}
	if !cp.MaxEvent.Equal(t0.Add(time.Hour)) {
		t.Errorf("checkpoint on disk is of %v, want the last snapshot's %v", cp.MaxEvent, t0.Add(time.Hour))
	}
	if c := w.counts(); c.Failed != 0 || c.Bytes == 0 || !c.Last.Equal(t0) {
		t.Errorf("counts %+v after good writes", c)
	}
}

// TestCheckpointWriterReportsAFailure: a checkpoint that cannot be
// written is counted, and the final one returns its error.
func TestCheckpointWriterReportsAFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	w := newCheckpointWriter(dir, zerolog.Nop())
	if err := w.finish(checkpoint{Saved: time.Now()}); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	if c := w.counts(); c.Failed != 1 || !c.Last.IsZero() {
		t.Errorf("counts %+v, want one failure and no success", c)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the writer created %s", dir)
	}
}
