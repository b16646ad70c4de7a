package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/internal/testwait"
	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/outbox"
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

// The queue depth across a swap is the backlog once: the new sinks', who
// took the outbox over, not the old ones' as well, and it falls back to
// zero once delivered.
func TestQueueDepthAcrossASwap(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	dispatcher := func() *alert.Dispatcher {
		wh, err := alert.NewWebhook(alert.WebhookOptions{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		return alert.NewDispatcher([]alert.SinkSpec{{Sink: wh, Push: true, Key: "webhook:x"}},
			alert.DispatchOptions{Horizon: -1, Outbox: ob, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	}
	a := newAlerter(dispatcher())
	for i := range 3 {
		a.SendTracked(&alert.Alert{ID: fmt.Sprintf("%016x", i), At: time.Now()}, nil)
	}
	a.swap(dispatcher(), time.Minute)
	waitRetired(t, a)
	if got := a.Stats()["webhook"].Queued; got != 3 {
		t.Errorf("queue depth after the swap %d, want the 3 stored once", got)
	}
	down.Store(false)
	// An alert is counted sent just before it leaves the outbox: wait
	// for both, and fail if the depth never comes back to 0.
	testwait.For(t, 10*time.Second, "the backlog delivered and the depth back to 0", func() bool {
		st := a.Stats()["webhook"]
		return st.Sent == 3 && st.Queued == 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.Close(ctx)
}
