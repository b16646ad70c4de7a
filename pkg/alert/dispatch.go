package alert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Dispatcher defaults.
const (
	DefaultHorizon    = 15 * time.Minute
	DefaultQueueLen   = 1024
	DefaultMaxRetries = 10
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
)

// DispatchOptions configures a Dispatcher. Zero values take the defaults.
type DispatchOptions struct {
	// Horizon: an alert whose At is older than now minus Horizon is not
	// sent to Push sinks, only to the others, so that reading a backlog
	// at first start does not page anyone about old events. Default
	// DefaultHorizon; negative disables the check.
	Horizon time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// QueueLen bounds each sink's queue; default DefaultQueueLen.
	QueueLen int
	// MaxRetries is how many times a retryable failure is tried again;
	// default DefaultMaxRetries, negative for no retries.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait between tries, which
	// doubles from MinBackoff with jitter; defaults DefaultMinBackoff and
	// DefaultMaxBackoff. A longer Retry-After from the receiver wins.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives state changes (a queue filling, a sink failing or
	// recovering), never one line per alert.
	Logger zerolog.Logger
}

func (o DispatchOptions) withDefaults() DispatchOptions {
	if o.Horizon == 0 {
		o.Horizon = DefaultHorizon
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	o.MaxRetries = max(o.MaxRetries, 0)
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	return o
}

// SinkSpec is one sink as the Dispatcher uses it.
type SinkSpec struct {
	Sink Sink
	// Push marks a sink that notifies people (Slack, webhooks): alerts
	// older than the horizon are not sent to it. Sinks that record
	// (stdout, file) are not Push and receive every alert.
	Push bool
}

// Sink delivers one alert somewhere.
type Sink interface {
	// Name identifies the sink in logs and statistics.
	Name() string
	// Send delivers a, which it must not modify. It returns promptly once
	// ctx is done. A failure is reported as a *SendError saying whether
	// a retry can help; any other error is treated as retryable.
	Send(ctx context.Context, a *Alert) error
}

// SinkStats counts what happened to the alerts offered to one sink.
type SinkStats struct {
	Sent   uint64 // delivered
	Failed uint64 // given up after a permanent error or the last retry
	// Dropped were never tried: the queue was full, or the Dispatcher
	// closed before their turn came.
	Dropped uint64
	Stale   uint64 // older than the horizon, not sent to this Push sink
	Queued  int    // waiting now
}

// Dispatcher fans alerts out to sinks. Each sink has its own bounded queue
// and goroutine, so a slow or dead sink delays only itself and Send never
// blocks.
type Dispatcher struct {
	opts    DispatchOptions
	workers []*worker
	ctx     context.Context // cancelled when Close gives up draining
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on closed queues
	closed bool

	stale atomic.Bool // the last alert offered was stale, for logging
}

type worker struct {
	name string
	sink Sink
	push bool
	q    chan *Alert
	log  zerolog.Logger

	sent, failed, dropped, stale atomic.Uint64

	full        atomic.Bool   // the last enqueue failed
	fullDropped atomic.Uint64 // drops since the queue became full
	failing     bool          // owned by the worker goroutine
	failedRun   uint64        // failures since failing began
}

// NewDispatcher starts one goroutine per sink; Close stops them. Sinks
// with the same name get "#2", "#3"… appended in statistics and logs.
func NewDispatcher(sinks []SinkSpec, opts DispatchOptions) *Dispatcher {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{opts: opts, ctx: ctx, cancel: cancel}
	seen := map[string]int{}
	for _, s := range sinks {
		name := s.Sink.Name()
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, seen[name])
		}
		w := &worker{
			name: name, sink: s.Sink, push: s.Push,
			q:   make(chan *Alert, opts.QueueLen),
			log: opts.Logger.With().Str("sink", name).Logger(),
		}
		d.workers = append(d.workers, w)
		d.wg.Add(1)
		go d.run(w)
	}
	return d
}

// Send offers a copy of a to every sink and returns at once. A Push sink
// skips it when it is older than the horizon; a sink whose queue is full
// drops it. Both are counted in Stats. Send after Close does nothing.
func (d *Dispatcher) Send(a *Alert) {
	c := *a
	stale := d.isStale(&c)
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return
	}
	for _, w := range d.workers {
		if stale && w.push {
			w.stale.Add(1)
			continue
		}
		w.enqueue(&c)
	}
}

func (d *Dispatcher) isStale(a *Alert) bool {
	if d.opts.Horizon < 0 {
		return false
	}
	stale := a.At.Before(d.opts.Now().Add(-d.opts.Horizon))
	if d.stale.Swap(stale) == stale {
		return stale
	}
	if stale {
		d.opts.Logger.Info().Dur("horizon", d.opts.Horizon).
			Msg("alerts are older than the horizon: recorded, not pushed")
		return stale
	}
	d.opts.Logger.Info().Msg("alerts are within the horizon again: pushing")
	return stale
}

func (w *worker) enqueue(a *Alert) {
	select {
	case w.q <- a:
		if w.full.Swap(false) {
			w.log.Info().Uint64("dropped", w.fullDropped.Swap(0)).
				Msg("alert queue has room again")
		}
	default:
		w.dropped.Add(1)
		w.fullDropped.Add(1)
		if !w.full.Swap(true) {
			w.log.Warn().Int("queue_len", cap(w.q)).
				Msg("alert queue full, dropping alerts for this sink")
		}
	}
}

// run delivers w's queue until it is closed. Once d.ctx is cancelled the
// remaining alerts are counted as dropped without being tried.
func (d *Dispatcher) run(w *worker) {
	defer d.wg.Done()
	for a := range w.q {
		if d.ctx.Err() != nil {
			w.dropped.Add(1)
			continue
		}
		d.deliver(w, a)
	}
}

// deliver sends a, retrying retryable failures with backoff, and records
// the outcome.
func (d *Dispatcher) deliver(w *worker, a *Alert) {
	var err error
	for attempt := 0; ; attempt++ {
		err = w.sink.Send(d.ctx, a)
		if err == nil {
			w.sent.Add(1)
			w.recovered()
			return
		}
		retry, after := Retryable(err)
		if !retry || attempt >= d.opts.MaxRetries || d.ctx.Err() != nil {
			break
		}
		if !d.wait(d.backoff(attempt, after)) {
			break
		}
	}
	w.failed.Add(1)
	w.fail(a, err)
}

// backoff returns the wait before retry number attempt+1: an exponential
// step from MinBackoff with "equal jitter" (half fixed, half random) so
// that many sentinels do not retry in step, within [MinBackoff,
// MaxBackoff], and never shorter than what the receiver asked for.
func (d *Dispatcher) backoff(attempt int, retryAfter time.Duration) time.Duration {
	step := d.opts.MinBackoff
	for i := 0; i < attempt && step < d.opts.MaxBackoff; i++ {
		step *= 2
	}
	step = min(step, d.opts.MaxBackoff)
	wait := step/2 + rand.N(step/2+1)
	wait = min(max(wait, d.opts.MinBackoff), d.opts.MaxBackoff)
	return max(wait, retryAfter)
}

// wait sleeps for dur unless the Dispatcher gives up first, and reports
// whether the full wait passed.
func (d *Dispatcher) wait(dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

func (w *worker) fail(a *Alert, err error) {
	w.failedRun++
	if w.failing {
		return
	}
	w.failing = true
	w.log.Error().Err(err).Str("alert_id", a.ID).
		Msg("alert delivery failed; further failures are counted until the sink recovers")
}

func (w *worker) recovered() {
	if !w.failing {
		return
	}
	w.log.Info().Uint64("failed", w.failedRun).Msg("alert sink recovered")
	w.failing = false
	w.failedRun = 0
}

// Close stops accepting alerts and waits for the queues to drain. When ctx
// is done first, it cancels the attempts and waits in progress, counts
// what was still queued as dropped, and returns ctx's error once every
// sink goroutine has stopped.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("closing alert dispatcher: already closed")
	}
	d.closed = true
	for _, w := range d.workers {
		close(w.q)
	}
	d.mu.Unlock()

	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	defer d.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	d.cancel()
	<-done
	d.opts.Logger.Warn().Msg("alert dispatcher closed before its queues drained; see dropped counts")
	return fmt.Errorf("draining alert queues: %w", ctx.Err())
}

// Stats returns the counts of every sink, by sink name.
func (d *Dispatcher) Stats() map[string]SinkStats {
	m := make(map[string]SinkStats, len(d.workers))
	for _, w := range d.workers {
		m[w.name] = SinkStats{
			Sent: w.sent.Load(), Failed: w.failed.Load(),
			Dropped: w.dropped.Load(), Stale: w.stale.Load(),
			Queued: len(w.q),
		}
	}
	return m
}
