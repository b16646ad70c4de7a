package alert

import (
	"cmp"
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
	DefaultReminder   = 10 * time.Minute
	DefaultRetryFor   = 24 * time.Hour
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
	// Reminder is how often a sink that keeps failing is logged again,
	// with its counts; default DefaultReminder.
	Reminder time.Duration
	// Outbox, when set, stores every alert before any sink sees it, and
	// each sink delivers from it, oldest first (see Outbox). RetryFor then
	// bounds how long a failing sink is retried, in place of MaxRetries.
	Outbox Outbox
	// RetryFor: with an Outbox, an alert that a sink keeps failing to
	// take is given up this long after it was stored; default
	// DefaultRetryFor.
	RetryFor time.Duration
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
	if o.Reminder <= 0 {
		o.Reminder = DefaultReminder
	}
	if o.RetryFor <= 0 {
		o.RetryFor = DefaultRetryFor
	}
	return o
}

// SinkSpec is one sink as the Dispatcher uses it.
type SinkSpec struct {
	Sink Sink
	// Push marks a sink that notifies people (Slack, webhooks): alerts
	// older than the horizon are not sent to it. Sinks that record
	// (stdout, file) are not Push and receive every alert.
	Push bool
	// MinSeverity: alerts of a lower severity are not sent to this sink;
	// empty sends all.
	MinSeverity string
	// SendResolved sends this sink the back-to-normal notices (alerts
	// with StatusResolved) too.
	SendResolved bool
	// Key names the sink's alerts in the outbox, which outlives the
	// configuration: it must follow the sink itself (its type and URL,
	// say), not its place in the list, or removing one sink would hand
	// its backlog to the next. Empty means the sink's name.
	Key string
	// GroupWait, for a sink that is a GroupSender and delivers from an
	// outbox, is how long an alert waits for others about the same
	// incident to join it in one message; 0 sends each alone.
	GroupWait time.Duration
}

// severityRank orders severities; an unknown one ranks lowest.
func severityRank(s string) int {
	switch s {
	case SeverityCritical:
		return 2
	case SeverityWarning:
		return 1
	}
	return 0
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
	Below   uint64 // under the sink's minimum severity, not sent
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
	// storedCtx, under ctx, bounds deliveries from the outbox; Handover
	// cancels it at once, leaving them to the next dispatcher.
	storedCtx  context.Context
	stopStored context.CancelFunc
	handedOver atomic.Bool   // Handover, not Close, stopped it
	stop       chan struct{} // closed by Close
	wg         sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on closed queues
	closed bool

	stale atomic.Bool // the last alert offered was stale, for logging
	// unstored: the last write to the outbox failed, for logging.
	unstored atomic.Bool

	// unrecorded counts tracked alerts not yet finished with by every
	// recording sink (see SendTracked).
	unrecorded atomic.Int64
}

// envelope is an alert in a sink's queue, with what to call once that
// sink has finished with it (delivered, given up or dropped).
type envelope struct {
	a    *Alert
	done func()
}

func (e envelope) finish() {
	if e.done != nil {
		e.done()
	}
}

type worker struct {
	name    string
	key     string // in the outbox; see SinkSpec.Key
	sink    Sink
	push    bool
	minRank int
	// resolved: the sink takes back-to-normal notices.
	resolved bool
	// groups is the sink when it groups alerts, nil otherwise.
	groups    GroupSender
	groupWait time.Duration
	q         chan envelope
	wake      chan struct{} // an alert was stored for this sink
	ob        Outbox        // nil without one
	log       zerolog.Logger

	sent, failed, dropped, stale, below atomic.Uint64

	full        atomic.Bool   // the last enqueue failed
	fullDropped atomic.Uint64 // drops since the queue became full

	// The failing state is owned by the worker goroutine.
	failing      bool
	failingSince time.Time // wall clock of the first failed attempt
	remindAt     time.Time // wall clock of the next "still failing" line
	failedTries  uint64    // attempts failed since failing began
	failedAlerts uint64    // alerts given up since failing began
}

// NewDispatcher starts one goroutine per sink; Close stops them. Sinks
// with the same name get "#2", "#3"… appended in statistics and logs.
func NewDispatcher(sinks []SinkSpec, opts DispatchOptions) *Dispatcher {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{opts: opts, ctx: ctx, cancel: cancel, stop: make(chan struct{})}
	d.storedCtx, d.stopStored = context.WithCancel(ctx)
	seen, seenKey := map[string]int{}, map[string]int{}
	for _, s := range sinks {
		name := s.Sink.Name()
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, seen[name])
		}
		key := cmp.Or(s.Key, s.Sink.Name())
		if seenKey[key]++; seenKey[key] > 1 {
			key = fmt.Sprintf("%s#%d", key, seenKey[key])
		}
		w := &worker{
			name: name, key: key, sink: s.Sink, push: s.Push, minRank: severityRank(s.MinSeverity), resolved: s.SendResolved,
			q:    make(chan envelope, opts.QueueLen),
			wake: make(chan struct{}, 1),
			log:  opts.Logger.With().Str("sink", name).Logger(),
		}
		if s.Push {
			// Local sinks write in microseconds, and what they have not
			// written at a crash is raised again (see SendTracked): only
			// the sinks that can be down for long need the outbox.
			w.ob = opts.Outbox
		}
		if gs, ok := s.Sink.(GroupSender); ok && w.ob != nil && s.GroupWait > 0 {
			w.groups, w.groupWait = gs, s.GroupWait
		}
		d.workers = append(d.workers, w)
	}
	d.forgetRemoved()
	for _, w := range d.workers {
		d.wg.Add(1)
		go d.run(w)
	}
	return d
}

// forgetRemoved drops from the outbox the alerts of sinks that are no
// longer configured, which nothing would ever deliver.
func (d *Dispatcher) forgetRemoved() {
	if d.opts.Outbox == nil {
		return
	}
	var names []string
	for _, w := range d.workers {
		if w.ob != nil {
			names = append(names, w.key)
		}
	}
	dropped, err := d.opts.Outbox.Forget(names)
	if err != nil {
		d.opts.Logger.Warn().Err(err).Msg("alert outbox: could not drop the alerts of removed sinks")
	}
	for name, n := range dropped {
		d.opts.Logger.Warn().Str("sink", name).Int("alerts", n).
			Msg("alert outbox: dropped undelivered alerts of a sink no longer configured")
	}
}

// Send offers a copy of a to every sink and returns at once. A Push sink
// skips it when it is older than the horizon; a sink whose queue is full
// drops it. Both are counted in Stats. Send after Close does nothing.
func (d *Dispatcher) Send(a *Alert) {
	d.SendTracked(a, nil)
}

// SendTracked is Send, and calls recorded once every sink that records
// (stdout, file: those not Push) has finished with the alert, whether it
// wrote it, gave up or dropped it; at once when there is none. Whoever
// must not raise an alert twice after a crash marks it raised only then:
// an alert not yet written when the process dies is raised again on
// restart rather than lost. Push sinks are not waited for: with an
// outbox the alert is stored for them first, and a restart delivers it.
func (d *Dispatcher) SendTracked(a *Alert, recorded func()) {
	c := *a
	stale := d.isStale(&c)
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return
	}
	var pushers, recorders []*worker
	for _, w := range d.takers(&c, stale) {
		if w.push {
			pushers = append(pushers, w)
		} else {
			recorders = append(recorders, w)
		}
	}
	stored := d.store(&c, pushers)
	done := d.tracker(recorders, recorded)
	for _, w := range recorders {
		w.enqueue(envelope{a: &c, done: done})
	}
	if stored {
		wake(pushers)
	} else {
		for _, w := range pushers {
			w.enqueue(envelope{a: &c})
		}
	}
	done() // the tracker's own share, so recorded runs once all are done
}

// takers returns the sinks that take a, counting those that skip it.
func (d *Dispatcher) takers(a *Alert, stale bool) []*worker {
	takers := make([]*worker, 0, len(d.workers))
	for _, w := range d.workers {
		switch w.skips(a, stale) {
		case skipStale:
			w.stale.Add(1)
		case skipBelow:
			w.below.Add(1)
		case skipResolved:
		default:
			takers = append(takers, w)
		}
	}
	return takers
}

// store puts a in the outbox for pushers; false when there is no outbox
// or writing to it failed, and a must go through the queues.
func (d *Dispatcher) store(a *Alert, pushers []*worker) bool {
	if d.opts.Outbox == nil || len(pushers) == 0 {
		return false
	}
	names := make([]string, len(pushers))
	for i, w := range pushers {
		names[i] = w.key
	}
	if err := d.opts.Outbox.Put(a, names); err != nil {
		if !d.unstored.Swap(true) {
			d.opts.Logger.Error().Err(err).
				Msg("alert outbox: cannot store alerts; delivering from memory until it can, a restart loses what is queued")
		}
		return false
	}
	if d.unstored.Swap(false) {
		d.opts.Logger.Info().Msg("alert outbox: storing alerts again")
	}
	return true
}

// wake tells the workers of pushers that the outbox holds a new alert.
func wake(pushers []*worker) {
	for _, w := range pushers {
		select {
		case w.wake <- struct{}{}:
		default: // already woken
		}
	}
}

// Why a sink does not get an alert.
const (
	skipNone = iota
	skipStale
	skipBelow
	skipResolved // a back-to-normal notice, which the sink does not take
)

// skips says whether w skips a, and why.
func (w *worker) skips(a *Alert, stale bool) int {
	switch {
	case a.Status == StatusResolved && !w.resolved:
		return skipResolved
	case stale && w.push:
		return skipStale
	case severityRank(a.Severity) < w.minRank:
		return skipBelow
	}
	return skipNone
}

// tracker returns the function each of recorders calls when it has
// finished with an alert; the last call runs recorded.
func (d *Dispatcher) tracker(recorders []*worker, recorded func()) func() {
	remaining := &atomic.Int64{}
	remaining.Store(int64(1 + len(recorders))) // with SendTracked's own share
	d.unrecorded.Add(1)
	return func() {
		if remaining.Add(-1) != 0 {
			return
		}
		if recorded != nil {
			recorded()
		}
		d.unrecorded.Add(-1)
	}
}

// WaitRecorded waits until every alert sent so far has been finished with
// by the recording sinks, or ctx is done.
func (d *Dispatcher) WaitRecorded(ctx context.Context) error {
	for d.unrecorded.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for alerts to be recorded: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond): // local writes take microseconds
		}
	}
	return nil
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
		d.opts.Logger.Info().Str("horizon", d.opts.Horizon.String()).
			Msg("alerts are older than the horizon: recorded, not pushed")
		return stale
	}
	d.opts.Logger.Info().Msg("alerts are within the horizon again: pushing")
	return stale
}

func (w *worker) enqueue(e envelope) {
	select {
	case w.q <- e:
		if w.full.Swap(false) {
			w.log.Info().Uint64("dropped", w.fullDropped.Swap(0)).
				Msg("alert queue has room again")
		}
	default:
		w.dropped.Add(1)
		w.fullDropped.Add(1)
		e.finish()
		if !w.full.Swap(true) {
			w.log.Warn().Int("queue_len", cap(w.q)).
				Msg("alert queue full, dropping alerts for this sink")
		}
	}
}

// run delivers w's alerts, those in the outbox first, until the
// Dispatcher is closed and nothing is left, or Close gives up. Alerts
// still queued in memory then are counted as dropped; those in the
// outbox stay there for the next start.
func (d *Dispatcher) run(w *worker) {
	defer d.wg.Done()
	release, ok := d.claim(w)
	if !ok {
		d.dropQueued(w)
		return
	}
	defer release()
	q := w.q
	for {
		if d.ctx.Err() != nil {
			d.dropQueued(w)
			return
		}
		if d.storedCtx.Err() == nil && d.deliverStored(w) {
			continue
		}
		if q == nil {
			return
		}
		select {
		case e, open := <-q:
			if !open {
				q = nil
				continue
			}
			if d.deliver(d.ctx, w, []*Alert{e.a}, time.Time{}) == interrupted {
				w.failed.Add(1)
			}
			e.finish()
		case <-w.wake:
		}
	}
}

// claim makes w the only worker delivering its sink's outbox entries:
// after a reload, the old dispatcher's worker for the same sink lets go
// first.
func (d *Dispatcher) claim(w *worker) (func(), bool) {
	if w.ob == nil {
		return func() {}, true
	}
	return w.ob.Claim(w.key, d.stop)
}

// dropQueued counts what is left in w's queue as dropped; the queue is
// closed by then, or about to be.
func (d *Dispatcher) dropQueued(w *worker) {
	for e := range w.q {
		w.dropped.Add(1)
		e.finish()
	}
}

// deliverStored delivers the oldest outbox entry of w, if any, and says
// whether there was one.
func (d *Dispatcher) deliverStored(w *worker) bool {
	ob := w.ob
	if ob == nil {
		return false
	}
	st, ok, err := ob.Head(w.key)
	if err != nil {
		w.log.Error().Err(err).Msg("alert outbox: cannot read this sink's alerts; waiting for the next")
		return false
	}
	if !ok {
		return false
	}
	batch := []Stored{st}
	// A notice goes alone, so it need not wait for company.
	if w.groups != nil && st.Alert.Status != StatusResolved {
		batch = d.gather(w, st)
	}
	giveUp := st.StoredAt.Add(d.opts.RetryFor)
	if d.deliver(d.storedCtx, w, alertsOf(batch), giveUp) == interrupted {
		return true // still stored: delivered after the restart
	}
	for _, st := range batch {
		if err := ob.Remove(w.key, st.Seq); err != nil {
			// It would be delivered again: better than lost, and logged.
			w.log.Error().Err(err).Msg("alert outbox: cannot mark an alert delivered")
		}
	}
	return true
}

// groupScan bounds the stored alerts looked through for head's group.
const groupScan = 10 * MaxGroup

// gather waits until head has been stored for the sink's GroupWait, so
// that the alerts of one incident, raised within seconds of each other,
// can join it, and returns head's group among the stored alerts. It does
// not wait once the Dispatcher is closing.
func (d *Dispatcher) gather(w *worker, head Stored) []Stored {
	if wait := time.Until(head.StoredAt.Add(w.groupWait)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.stop:
		case <-d.storedCtx.Done():
		}
		t.Stop()
	}
	pending, err := w.ob.List(w.key, groupScan)
	if err != nil || len(pending) == 0 || pending[0].Seq != head.Seq {
		return []Stored{head}
	}
	var out []Stored
	for _, i := range group(alertsOf(pending)) {
		out = append(out, pending[i])
	}
	return out
}

func alertsOf(stored []Stored) []*Alert {
	out := make([]*Alert, len(stored))
	for i := range stored {
		out[i] = &stored[i].Alert
	}
	return out
}

// What became of an alert given to a sink.
type outcome int

const (
	delivered outcome = iota
	gaveUp
	interrupted // ctx was done: Close gave up waiting, or Handover
)

// deliver sends alerts, one or a group, retrying retryable failures with
// backoff until ctx is done, and records the outcome. Retries stop after
// MaxRetries, or with a non-zero giveUp at that time.
func (d *Dispatcher) deliver(ctx context.Context, w *worker, alerts []*Alert, giveUp time.Time) outcome {
	n := uint64(len(alerts))
	for attempt := 0; ; attempt++ {
		err := w.send(ctx, alerts)
		if err == nil {
			w.sent.Add(n)
			w.recovered()
			return delivered
		}
		// A failure caused by Close giving up is the Dispatcher's doing,
		// not the sink's: Close reports it with the counts.
		if ctx.Err() != nil {
			return interrupted
		}
		wait, retry := d.nextTry(attempt, err, giveUp)
		w.attemptFailed(err, retry, wait, d.opts.Reminder)
		if !retry {
			w.failed.Add(n)
			w.failedAlerts += n
			return gaveUp
		}
		if !sleep(ctx, wait) {
			return interrupted
		}
	}
}

// send delivers one alert, or several as one message.
func (w *worker) send(ctx context.Context, alerts []*Alert) error {
	if len(alerts) == 1 {
		return w.sink.Send(ctx, alerts[0])
	}
	return w.groups.SendGroup(ctx, alerts)
}

// nextTry says whether attempt number attempt, which failed with err,
// is tried again, and after how long: not after MaxRetries attempts, or,
// when giveUp is set, not past it.
func (d *Dispatcher) nextTry(attempt int, err error, giveUp time.Time) (time.Duration, bool) {
	retry, after := Retryable(err)
	if !retry {
		return 0, false
	}
	wait := d.backoff(attempt, after)
	if giveUp.IsZero() {
		return wait, attempt < d.opts.MaxRetries
	}
	return wait, time.Now().Add(wait).Before(giveUp)
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

// sleep waits for dur unless ctx is done first, and reports whether the
// full wait passed.
func sleep(ctx context.Context, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// attemptFailed logs the first failed attempt of a healthy sink at once,
// so a dead receiver shows within seconds rather than when its first
// alert runs out of retries; while the sink keeps failing it only counts,
// with a reminder every interval.
func (w *worker) attemptFailed(err error, retry bool, wait, interval time.Duration) {
	w.failedTries++
	now := time.Now()
	if !w.failing {
		w.failing, w.failingSince, w.remindAt = true, now, now.Add(interval)
		ev := w.log.Warn()
		addRetry(ev, retry, wait)
		// The error's own text is already redacted; Str rather than Err
		// keeps a custom zerolog.ErrorMarshalFunc from walking the chain
		// to a cause that quotes the URL.
		ev.Str("error", err.Error()).
			Msg("alert sink failing; further failures are counted until it recovers")
		return
	}
	if now.Before(w.remindAt) {
		return
	}
	w.remindAt = now.Add(interval)
	ev := w.log.Warn().Str("error", err.Error()).
		Str("failing_for", now.Sub(w.failingSince).Round(time.Second).String()).
		Uint64("failed_attempts", w.failedTries).
		Uint64("failed_alerts", w.failedAlerts).
		Uint64("dropped", w.dropped.Load()).Int("queued", len(w.q))
	addRetry(ev, retry, wait)
	ev.Msg("alert sink still failing")
}

// addRetry says whether and when the alert is tried again. Durations are
// written as text ("1.5s") because a bare number's unit depends on a
// global of zerolog's.
func addRetry(ev *zerolog.Event, retry bool, wait time.Duration) {
	ev.Bool("retry", retry)
	if retry {
		ev.Str("retry_in", wait.Round(time.Millisecond).String())
	}
}

func (w *worker) recovered() {
	if !w.failing {
		return
	}
	w.log.Info().Uint64("failed_attempts", w.failedTries).
		Uint64("failed_alerts", w.failedAlerts).
		Str("failing_for", time.Since(w.failingSince).Round(time.Millisecond).String()).
		Msg("alert sink recovered")
	w.failing = false
	w.failedTries, w.failedAlerts = 0, 0
}

// Handover is Close for a dispatcher replaced by another on the same
// outbox: the local sinks write what is queued, but the push sinks stop
// at once, their attempts in progress cancelled, and leave what is stored
// to the next dispatcher, which takes each sink over once this one has
// let go. Sending with the old settings, perhaps the very mistake the new
// ones correct, would only delay it.
func (d *Dispatcher) Handover(ctx context.Context) error {
	d.handedOver.Store(true)
	d.stopStored()
	return d.Close(ctx)
}

// Close stops accepting alerts and waits for the queues to drain. When ctx
// is done first, it cancels the attempts and waits in progress, counts
// what was still queued as dropped, and returns ctx's error once every
// sink goroutine has stopped. Then it closes the sinks that have a Close
// method (a file, the Alertmanager sink's re-sends).
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
	close(d.stop)
	d.mu.Unlock()

	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	defer d.cancel()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done
		err = fmt.Errorf("draining alert queues: %w", ctx.Err())
	}
	d.logLosses()
	return errors.Join(err, d.closeSinks())
}

// closeSinks closes the sinks that hold something, a file or a goroutine,
// once no worker can call them any more: a reload replaces the
// dispatcher, and its sinks must not outlive it.
func (d *Dispatcher) closeSinks() error {
	var errs []error
	for _, w := range d.workers {
		c, ok := w.sink.(interface{ Close() error })
		if !ok {
			continue
		}
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing sink %s: %w", w.name, err))
		}
	}
	return errors.Join(errs...)
}

// logLosses writes one line for each sink that failed or dropped alerts,
// in configuration order, so the counts are in the log whoever calls
// Close.
func (d *Dispatcher) logLosses() {
	for _, w := range d.workers {
		if n := w.stored(); n > 0 {
			msg := "alert outbox: undelivered alerts kept for the next start"
			if d.handedOver.Load() {
				msg = "alert outbox: undelivered alerts left to the new sinks"
			}
			w.log.Info().Int("alerts", n).Msg(msg)
		}
		st := w.stats()
		if st.Failed == 0 && st.Dropped == 0 {
			continue
		}
		w.log.Warn().Uint64("sent", st.Sent).
			Uint64("failed", st.Failed).Uint64("dropped", st.Dropped).
			Uint64("stale", st.Stale).Int("queued", st.Queued).
			Msg("alert sink lost alerts")
	}
}

// Stats returns the counts of every sink, by sink name.
func (d *Dispatcher) Stats() map[string]SinkStats {
	m := make(map[string]SinkStats, len(d.workers))
	for _, w := range d.workers {
		m[w.name] = w.stats()
	}
	return m
}

func (w *worker) stats() SinkStats {
	return SinkStats{
		Sent: w.sent.Load(), Failed: w.failed.Load(),
		Dropped: w.dropped.Load(), Stale: w.stale.Load(), Below: w.below.Load(),
		Queued: len(w.q) + w.stored(),
	}
}

// stored counts w's entries in the outbox, including one being tried.
func (w *worker) stored() int {
	if w.ob == nil {
		return 0
	}
	return w.ob.Pending(w.key)
}
