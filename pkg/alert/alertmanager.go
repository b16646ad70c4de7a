package alert

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Alertmanager sink defaults.
const (
	// DefaultResend is how often the firing incidents are posted again:
	// well within Alertmanager's resolve_timeout (5m by default), and
	// what Prometheus does too.
	DefaultResend = time.Minute
	// DefaultForget is how long an incident is re-sent without an update
	// before the sink forgets it. The detectors alert again on a lasting
	// incident after their cooldown (30m by default), so only an incident
	// whose resolved notice was lost goes that long without one.
	DefaultForget = 6 * time.Hour
	// DefaultLapse is how long an alert of a detector that sends no
	// back-to-normal notice (iforest, flood, rejects) is re-sent: the
	// detectors' cooldown, after which a lasting anomaly alerts again.
	DefaultLapse = 30 * time.Minute
	// DefaultMaxIncidents bounds the incidents the sink re-sends.
	DefaultMaxIncidents = 10000
)

// AlertnameSentinel is the alertname label of every alert the sink posts.
const AlertnameSentinel = "SentinelAnomaly"

const (
	// endsAfter is how many resend intervals an alert's endsAt lies
	// ahead: three sends may fail before Alertmanager resolves it, and
	// if sentinel dies its alerts resolve on their own, as Prometheus
	// does with four evaluation intervals.
	endsAfter = 4
	// resendBatch bounds the alerts in one request, so a large set of
	// incidents does not make one huge body.
	resendBatch = 500
)

// AlertmanagerOptions configures a Prometheus Alertmanager sink.
type AlertmanagerOptions struct {
	// Name names the sink in logs and statistics; default "alertmanager".
	Name string
	// URL is Alertmanager's base URL, e.g. http://127.0.0.1:9093; alerts
	// are posted to URL/api/v2/alerts. Errors show only its scheme and
	// host.
	URL string
	// Headers are added to every request, e.g. Authorization for basic
	// auth in front of Alertmanager. They cannot replace Content-Type or
	// User-Agent.
	Headers map[string]string
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// Version goes into the User-Agent header; default "dev".
	Version string
	// Client sends the requests; default a new http.Client. Redirects
	// are not followed.
	Client *http.Client
	// Resend is how often the firing incidents are posted again; default
	// DefaultResend. Their endsAt lies 4 intervals ahead.
	Resend time.Duration
	// Forget drops an incident not updated for this long; default
	// DefaultForget.
	Forget time.Duration
	// MaxIncidents bounds the incidents kept; default DefaultMaxIncidents.
	MaxIncidents int
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Store, when set, keeps the firing incidents across restarts and
	// reloads: read at start, saved when they change.
	Store IncidentStore
	// Logger receives the re-sends' state changes (failing, recovered,
	// incidents forgotten).
	Logger zerolog.Logger
}

// Alertmanager posts alerts to a Prometheus Alertmanager (API v2). One
// incident (entity, key and detector) is one Alertmanager alert: every
// firing alert of the incident updates it, a resolved alert ends it, and
// a goroutine of the sink re-posts the firing incidents every Resend
// interval so that Alertmanager keeps them active. Close stops it.
type Alertmanager struct {
	p         *poster
	userAgent string
	opts      AlertmanagerOptions
	log       zerolog.Logger

	// lock (a one-slot channel, so that waiting for it can be given up)
	// guards the incidents and is held across each post, so that a
	// re-send can never reach Alertmanager after the resolved alert of
	// the same incident and make it fire again.
	lock      chan struct{}
	incidents map[string]*incident
	full      bool // the last insert had to evict, for logging
	failing   bool // the last re-send failed, for logging
	unsaved   bool // the last save failed, for logging

	stop   context.CancelFunc
	ctx    context.Context
	done   chan struct{}
	closed sync.Once
}

// incident is what the sink re-sends of one incident.
type incident struct {
	alert   amAlert
	updated time.Time // wall clock of the last alert received
	// lapse is how long it is re-sent without an update: Forget for an
	// incident that ends with a resolved notice, DefaultLapse otherwise.
	lapse time.Duration
}

// endsWithNotice reports whether a detector's incidents end with a
// resolved notice: the per-feature detectors' and the budget detector's
// do (docs/alerts.md, "Back to normal").
func endsWithNotice(detector string) bool {
	return detector == "ewma" || detector == "population" || detector == "budget"
}

// amAlert is a postable alert of Alertmanager's v2 API.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

// NewAlertmanager checks the options, starts the re-send goroutine and
// returns the sink. Close stops the goroutine.
func NewAlertmanager(o AlertmanagerOptions) (*Alertmanager, error) {
	o = o.withDefaults()
	if err := checkHeaders(o.Headers); err != nil {
		return nil, fmt.Errorf("configuring sink %s: %w", o.Name, err)
	}
	if err := checkURL(o.URL); err != nil {
		return nil, fmt.Errorf("configuring sink %s: %w", o.Name, err)
	}
	endpoint, err := url.JoinPath(o.URL, "api/v2/alerts")
	if err != nil {
		return nil, fmt.Errorf("configuring sink %s: joining the api path to the url: not a valid URL", o.Name)
	}
	h := make(http.Header, len(o.Headers))
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	p, err := newPoster(o.Name, endpoint, h, o.Timeout, o.Client)
	if err != nil {
		return nil, fmt.Errorf("configuring sink %s: %w", o.Name, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	am := &Alertmanager{
		p: p, userAgent: userAgent(o.Version), opts: o,
		log:       o.Logger.With().Str("sink", o.Name).Logger(),
		incidents: map[string]*incident{},
		lock:      make(chan struct{}, 1),
		ctx:       ctx, stop: stop, done: make(chan struct{}),
	}
	if err := am.load(); err != nil {
		// Alerts matter more than the incidents of the last run, which
		// lapse at their endsAt.
		am.log.Warn().Err(err).Msg("alertmanager: starting without the incidents of the last run")
	}
	go am.resendLoop(len(am.incidents) > 0)
	return am, nil
}

func (o AlertmanagerOptions) withDefaults() AlertmanagerOptions {
	if o.Name == "" {
		o.Name = "alertmanager"
	}
	if o.Resend <= 0 {
		o.Resend = DefaultResend
	}
	if o.Forget <= 0 {
		o.Forget = DefaultForget
	}
	if o.MaxIncidents <= 0 {
		o.MaxIncidents = DefaultMaxIncidents
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Name returns the sink's name.
func (am *Alertmanager) Name() string { return am.p.name }

// Send posts the alert's incident: firing, with an endsAt a few resend
// intervals ahead, or resolved, with endsAt when it was judged over.
// Errors are *SendError.
func (am *Alertmanager) Send(ctx context.Context, a *Alert) error {
	// A re-send of many incidents can hold the lock for a while; a
	// dispatcher that stops or hands over must not wait for it.
	select {
	case am.lock <- struct{}{}:
	case <-ctx.Done():
		return &SendError{Sink: am.p.name, Retryable: true, Err: ctx.Err()}
	}
	defer func() { <-am.lock }()
	now := am.opts.Now()
	var out amAlert
	if a.Status == StatusResolved {
		out = am.resolve(a, now)
	} else {
		out = am.fire(a, now)
	}
	am.save()
	return am.post(ctx, []amAlert{out})
}

// fire records a firing alert's incident, or updates it, and returns
// what to post. The incident is recorded before the post so that a
// failed post is still re-sent.
func (am *Alertmanager) fire(a *Alert, now time.Time) amAlert {
	k := incidentKey(a)
	inc := am.incidents[k]
	if inc == nil {
		am.makeRoom(now)
		inc = &incident{}
		am.incidents[k] = inc
	}
	start := incidentStart(a)
	if !inc.alert.StartsAt.IsZero() && inc.alert.StartsAt.Before(start) {
		start = inc.alert.StartsAt // the incident began with its first alert
	}
	inc.alert = amAlert{
		Labels: amLabels(a), Annotations: amAnnotations(a), StartsAt: start,
	}
	inc.updated = now
	inc.lapse = am.opts.Forget
	if !endsWithNotice(a.Detector) {
		inc.lapse = min(DefaultLapse, am.opts.Forget)
	}
	return inc.alert.until(now.Add(endsAfter * am.opts.Resend))
}

// resolve drops a resolved alert's incident and returns it ended. An
// incident the sink does not know, because it fired before a restart or
// below this sink's severity, is posted resolved all the same: that ends
// it in Alertmanager if it is there, and does nothing otherwise.
func (am *Alertmanager) resolve(a *Alert, now time.Time) amAlert {
	k := incidentKey(a)
	start := incidentStart(a)
	if inc := am.incidents[k]; inc != nil && inc.alert.StartsAt.Before(start) {
		start = inc.alert.StartsAt
	}
	delete(am.incidents, k)
	end := a.At
	// An end in the future, from a log clock ahead of this one, would
	// keep the alert firing until then.
	if end.IsZero() || end.After(now) {
		end = now
	}
	out := amAlert{Labels: amLabels(a), Annotations: amAnnotations(a), StartsAt: start}
	return out.until(end)
}

// until returns a copy of al ending at end, with its start moved no
// later than its end, which Alertmanager requires.
func (al amAlert) until(end time.Time) amAlert {
	al.StartsAt, al.EndsAt = al.StartsAt.UTC(), end.UTC()
	if al.StartsAt.After(al.EndsAt) {
		al.StartsAt = al.EndsAt
	}
	return al
}

// makeRoom evicts the least recently updated incident when the set is
// full. The evicted incident is no longer re-sent and resolves in
// Alertmanager at its endsAt.
func (am *Alertmanager) makeRoom(now time.Time) {
	if len(am.incidents) < am.opts.MaxIncidents {
		if am.full {
			am.full = false
			am.log.Info().Msg("alertmanager incident set has room again")
		}
		return
	}
	var oldest string
	var oldestAt time.Time
	for k, inc := range am.incidents {
		if oldest == "" || inc.updated.Before(oldestAt) {
			oldest, oldestAt = k, inc.updated
		}
	}
	delete(am.incidents, oldest)
	if !am.full {
		am.full = true
		am.log.Warn().Int("max_incidents", am.opts.MaxIncidents).
			Str("oldest_updated", now.Sub(oldestAt).Round(time.Second).String()+" ago").
			Msg("alertmanager incident set full: the least recently updated incidents are no longer re-sent and resolve at their endsAt")
	}
}

// incidentKey identifies an incident: the labels that name it.
func incidentKey(a *Alert) string {
	return a.Entity + "\x00" + a.Key + "\x00" + a.Detector
}

func incidentStart(a *Alert) time.Time {
	if !a.Since.IsZero() {
		return a.Since
	}
	return a.At
}

// amLabels are the labels that identify the incident. Alertmanager tells
// alerts apart by their whole label set, so only values that stay the
// same for the whole incident are labels: the severity, which rises from
// warning to critical within one incident, is an annotation, else the
// rise would make a second alert and leave the first to time out.
func amLabels(a *Alert) map[string]string {
	l := map[string]string{
		"alertname": AlertnameSentinel,
		"entity":    a.Entity,
		"key":       a.Key,
		"detector":  a.Detector,
	}
	// The label comes from configuration for the entity, so it is the
	// same for every alert of the incident.
	if a.Label != "" {
		l["label"] = a.Label
	}
	return l
}

// amAnnotations describe the latest alert of the incident; they may
// change between updates.
func amAnnotations(a *Alert) map[string]string {
	summary := a.Summary
	if summary == "" {
		summary = Summarize(a)
	}
	ann := map[string]string{
		"summary":  summary,
		"id":       a.ID,
		"severity": a.Severity,
		"feature":  a.Feature,
		"observed": amNumber(a.Observed),
		"expected": amNumber(a.Expected),
		"score":    amNumber(a.Score),
		"excess":   amNumber(a.Excess),
		"since":    incidentStart(a).UTC().Format(time.RFC3339),
	}
	if a.TokenHint != "" {
		ann["token_hint"] = a.TokenHint
	}
	if len(a.TopIPs) > 0 {
		ann["top_ips"] = strings.Join(a.TopIPs, ", ")
	}
	if len(a.TopTokens) > 0 {
		ann["top_tokens"] = strings.Join(a.TopTokens, ", ")
	}
	return ann
}

func amNumber(v float64) string {
	return strconv.FormatFloat(finite(v), 'g', -1, 64)
}

// post sends alerts in one request. The caller holds the lock.
func (am *Alertmanager) post(ctx context.Context, alerts []amAlert) error {
	return am.p.postJSON(ctx, alerts, am.userAgent, "alertmanager alerts")
}

// resendLoop re-posts the firing incidents every Resend interval until
// Close.
func (am *Alertmanager) resendLoop(loaded bool) {
	defer close(am.done)
	t := time.NewTicker(am.opts.Resend)
	defer t.Stop()
	// Incidents read back at start have an endsAt set before the stop,
	// which a long restart may have brought near: re-send them now.
	if loaded {
		am.resend()
	}
	for {
		select {
		case <-am.ctx.Done():
			return
		case <-t.C:
			am.resend()
		}
	}
}

// resend forgets the incidents not updated for Forget and posts the
// others with a fresh endsAt. A failure is logged when the re-sends start
// failing and when they recover, not at every tick: the next tick tries
// again, and the endsAt of the last success leaves room for three.
func (am *Alertmanager) resend() {
	am.lock <- struct{}{}
	defer func() { <-am.lock }()
	now := am.opts.Now()
	am.forget(now)
	end := now.Add(endsAfter * am.opts.Resend)
	batch := make([]amAlert, 0, min(len(am.incidents), resendBatch))
	for _, inc := range am.incidents {
		batch = append(batch, inc.alert.until(end))
		if len(batch) < resendBatch {
			continue
		}
		if err := am.post(am.ctx, batch); err != nil {
			am.resendFailed(err)
			return
		}
		batch = batch[:0]
	}
	if len(batch) > 0 {
		if err := am.post(am.ctx, batch); err != nil {
			am.resendFailed(err)
			return
		}
	}
	if am.failing {
		am.failing = false
		am.log.Info().Int("incidents", len(am.incidents)).Msg("alertmanager re-send recovered")
	}
}

// forget drops the incidents not updated for their lapse, so that one
// whose resolved alert never came, or never comes, is not kept firing
// for ever.
func (am *Alertmanager) forget(now time.Time) {
	n := 0
	for k, inc := range am.incidents {
		if now.Sub(inc.updated) > inc.lapse {
			delete(am.incidents, k)
			n++
		}
	}
	if n > 0 {
		am.save()
		am.log.Info().Int("forgotten", n).
			Msg("alertmanager incidents not updated for long are no longer re-sent; they resolve at their endsAt")
	}
}

func (am *Alertmanager) resendFailed(err error) {
	if am.ctx.Err() != nil || am.failing {
		return // Close cut it short, or already logged
	}
	am.failing = true
	am.log.Warn().Str("error", err.Error()).Int("incidents", len(am.incidents)).
		Msg("alertmanager re-send failing; tried again every interval, logged again when it recovers")
}

// Close stops the re-sends and waits for the goroutine. The incidents
// still firing are not resolved: they stay active in Alertmanager until
// their endsAt, a few resend intervals, unless an alert of theirs comes
// to the sink that replaces this one. Closing twice is harmless.
func (am *Alertmanager) Close() error {
	am.closed.Do(func() {
		am.stop()
		<-am.done
	})
	return nil
}
