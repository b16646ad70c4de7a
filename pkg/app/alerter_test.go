package app

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

func dispatcherTo(w *lockedWriter) *alert.Dispatcher {
	return alert.NewDispatcher([]alert.SinkSpec{{Sink: alert.NewWriterSink("stdout", w)}}, alert.DispatchOptions{Horizon: -1})
}

// TestSinkCountsRiseAcrossASwap: a reload that replaces the sinks must
// not reset the counters of a sink that stays, or every rate over them
// would dip at each reload.
func TestSinkCountsRiseAcrossASwap(t *testing.T) {
	out := &lockedWriter{w: &bytes.Buffer{}}
	a := newAlerter(dispatcherTo(out))
	send := func(n int) {
		for i := range n {
			a.SendTracked(&alert.Alert{ID: "x", At: time.Now(), Observed: float64(i)}, nil)
		}
	}
	send(3)
	a.swap(dispatcherTo(out), time.Minute)
	send(2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitRetired(t, a)
	if got := a.Stats()["stdout"].Sent; got != 5 {
		t.Fatalf("stdout sent %d across the swap, want 5", got)
	}
}

// waitRetired waits for the replaced dispatcher to finish draining.
func waitRetired(t *testing.T, a *alerter) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.RLock()
		n := len(a.closing)
		a.mu.RUnlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the replaced dispatcher never finished")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not synchronising on time
	}
}
