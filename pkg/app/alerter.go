package app

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// alerter is the alert dispatcher of a running daemon, replaced whole
// when a reloaded configuration changes the sinks. The old one delivers
// what it has queued while the new one takes new alerts.
type alerter struct {
	mu      sync.RWMutex
	cur     *alert.Dispatcher
	closing map[*alert.Dispatcher]bool
	// retired sums, per sink name, the counts of dispatchers replaced
	// and done, so that a sink's counters go on rising across a reload.
	retired map[string]alert.SinkStats
	closed  bool
	// handing counts the replaced dispatchers still handing over, which
	// Close waits for: they use the outbox, closed after it.
	handing sync.WaitGroup
}

func newAlerter(d *alert.Dispatcher) *alerter {
	return &alerter{cur: d, closing: map[*alert.Dispatcher]bool{}, retired: map[string]alert.SinkStats{}}
}

func (a *alerter) SendTracked(al *alert.Alert, recorded func()) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	a.cur.SendTracked(al, recorded)
}

// WaitRecorded waits for the current dispatcher and those still
// draining: a checkpoint must not cover an alert the old sinks have yet
// to write.
func (a *alerter) WaitRecorded(ctx context.Context) error {
	a.mu.RLock()
	all := []*alert.Dispatcher{a.cur}
	for d := range a.closing {
		all = append(all, d)
	}
	a.mu.RUnlock()
	for _, d := range all {
		if err := d.WaitRecorded(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stats returns every sink's counts since start, summed over the
// dispatchers that carried it.
func (a *alerter) Stats() map[string]alert.SinkStats {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := maps.Clone(a.retired)
	for d := range a.closing {
		addStats(out, d.Stats())
	}
	// Queued is a level, not a count: the current sinks', who have the
	// outbox's backlog now, and not what a replaced one held at the end.
	for name, st := range out {
		st.Queued = 0
		out[name] = st
	}
	addStats(out, a.cur.Stats())
	return out
}

func addStats(sum, more map[string]alert.SinkStats) {
	for name, s := range more {
		t := sum[name]
		t.Sent += s.Sent
		t.Failed += s.Failed
		t.Dropped += s.Dropped
		t.Stale += s.Stale
		t.Below += s.Below
		t.Queued += s.Queued
		sum[name] = t
	}
}

// swap puts d in place and lets the old dispatcher's local sinks drain
// for up to drainFor; its push sinks hand what is in the outbox over to
// d's at once.
func (a *alerter) swap(d *alert.Dispatcher, drainFor time.Duration) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		d.Close(context.Background()) // nothing was sent to it
		return
	}
	old := a.cur
	a.cur = d
	a.closing[old] = true
	a.handing.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.handing.Done()
		ctx, cancel := context.WithTimeout(context.Background(), drainFor)
		defer cancel()
		_ = old.Handover(ctx) // its losses are logged by Close
		a.mu.Lock()
		delete(a.closing, old)
		addStats(a.retired, old.Stats())
		a.mu.Unlock()
	}()
}

// Close closes the current dispatcher and waits for the old ones.
func (a *alerter) Close(ctx context.Context) error {
	a.mu.Lock()
	cur := a.cur
	a.closed = true
	a.mu.Unlock()
	err := cur.Close(ctx)
	werr := a.WaitRecorded(ctx)
	// Each is bounded by its own drain time.
	a.handing.Wait()
	return errors.Join(err, werr)
}
