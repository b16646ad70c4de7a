package alert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sentinel-project/sentinel/internal/testlog"
	"github.com/sentinel-project/sentinel/internal/testwait"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastOpts retries quickly so tests take milliseconds, with a clock that
// makes sampleAlert fresh.
func fastOpts() DispatchOptions {
	return DispatchOptions{
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Now: func() time.Time { return t0.Add(3 * time.Minute) },
	}
}

func closeWithin(t *testing.T, d *Dispatcher, limit time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	return d.Close(ctx)
}

// eventually waits for cond, polling.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 5*time.Second, what, cond)
}

// memSink records the alerts it receives.
type memSink struct {
	name string
	mu   sync.Mutex
	got  []Alert
}

func (s *memSink) Name() string { return s.name }

func (s *memSink) Send(_ context.Context, a *Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, *a)
	return nil
}

func (s *memSink) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k []string
	for _, a := range s.got {
		k = append(k, a.Key)
	}
	return k
}

// blockingSink holds every Send until released or cancelled.
type blockingSink struct {
	started chan struct{}
	release chan struct{}
}

func newBlockingSink() *blockingSink {
	return &blockingSink{started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (s *blockingSink) Name() string { return "blocking" }

func (s *blockingSink) Send(ctx context.Context, _ *Alert) error {
	s.started <- struct{}{}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lineWriter hands each write to a channel, so a test can wait for
// output without sleeping.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

func TestDispatchHonoursRetryAfter(t *testing.T) {
	rec := newRecorder(t, status(429, "Retry-After", "1"), status(200))
	d := NewDispatcher([]SinkSpec{{Sink: newTestWebhook(t, rec.url()), Push: true}}, fastOpts())
	d.Send(sampleAlert())
	if err := closeWithin(t, d, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retried after %v, before the 1s the server asked for", gap)
	}
	if got := d.Stats()["webhook"]; got.Sent != 1 || got.Failed != 0 {
		t.Errorf("stats %+v", got)
	}
}

func TestDispatchRetries(t *testing.T) {
	tests := []struct {
		name     string
		script   []func(http.ResponseWriter, *http.Request)
		requests int
		sent     uint64
	}{
		{"500 then success", []func(http.ResponseWriter, *http.Request){status(500), status(502), status(200)}, 3, 1},
		{"400 is final", []func(http.ResponseWriter, *http.Request){status(400), status(200)}, 1, 0},
		{"retries run out", []func(http.ResponseWriter, *http.Request){status(503)}, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, tc.script...)
			opts := fastOpts()
			opts.MaxRetries = 2
			d := NewDispatcher([]SinkSpec{{Sink: newTestWebhook(t, rec.url()), Push: true}}, opts)
			d.Send(sampleAlert())
			if err := closeWithin(t, d, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests()
			if len(reqs) != tc.requests {
				t.Errorf("%d requests, want %d", len(reqs), tc.requests)
			}
			st := d.Stats()["webhook"]
			if st.Sent != tc.sent || st.Failed != 1-tc.sent {
				t.Errorf("stats %+v", st)
			}
			for i := 1; i < len(reqs); i++ {
				if gap := reqs[i].at.Sub(reqs[i-1].at); gap < opts.MinBackoff || gap > time.Second {
					t.Errorf("retry %d after %v, want within backoff bounds", i, gap)
				}
			}
		})
	}
}

func TestDispatchDeadEndpointDoesNotBlockSend(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + secretPath
	srv.Close()
	logs := &testlog.Buffer{}
	opts := fastOpts()
	opts.QueueLen = 4
	opts.MaxRetries = 3
	opts.Logger = zerolog.New(logs)
	d := NewDispatcher([]SinkSpec{{Sink: newTestWebhook(t, url), Push: true}}, opts)
	const n = 200
	start := time.Now()
	for i := 0; i < n; i++ {
		d.Send(sampleAlert())
	}
	// Delivering in line would take n × 3 backoffs of at least 10ms.
	if took := time.Since(start); took > time.Second {
		t.Errorf("%d Sends took %v", n, took)
	}
	if err := closeWithin(t, d, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()["webhook"]
	if st.Sent != 0 || st.Failed == 0 || st.Dropped == 0 || st.Failed+st.Dropped != n {
		t.Errorf("stats %+v, want every alert failed or dropped, some of each", st)
	}
	if c := logs.Count("alert sink failing"); c != 1 {
		t.Errorf("failure logged %d times, want once", c)
	}
	if c := logs.Count("still failing"); c != 0 {
		t.Errorf("reminder logged %d times within the default interval", c)
	}
	lost := fmt.Sprintf(`"sent":0,"failed":%d,"dropped":%d,"stale":0,"queued":0,"message":"alert sink lost alerts"`,
		st.Failed, st.Dropped)
	if c := logs.Count(lost); c != 1 {
		t.Errorf("close logged the counts %d times, want once:\n%s", c, logs.String())
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Error("log reveals the webhook URL")
	}
}

func TestDispatchSlowSinkDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	out := make(lineWriter, 10)
	d := NewDispatcher([]SinkSpec{
		{Sink: newTestWebhook(t, rec.url()), Push: true},
		{Sink: NewWriterSink("stdout", out)},
	}, fastOpts())
	for i := 0; i < 3; i++ {
		d.Send(sampleAlert())
	}
	timeout := time.After(5 * time.Second)
	for i := 0; i < 3; i++ {
		select {
		case <-out:
		case <-timeout:
			t.Fatalf("stdout got %d of 3 alerts while the webhook hung", i)
		}
	}
	close(release)
	if err := closeWithin(t, d, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st["webhook"].Sent != 3 || st["stdout"].Sent != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestDispatchHorizon(t *testing.T) {
	now := t0.Add(time.Hour)
	at := func(ago time.Duration, key string) *Alert {
		a := sampleAlert()
		a.At, a.Key = now.Add(-ago), key
		return a
	}
	tests := []struct {
		name     string
		horizon  time.Duration
		wantPush []string
	}{
		{"default", 0, []string{"fresh", "edge"}},
		{"short", 30 * time.Second, nil},
		{"disabled", -1, []string{"old", "fresh", "edge", "older"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			push, record := &memSink{name: "push"}, &memSink{name: "record"}
			opts := fastOpts()
			opts.Horizon = tc.horizon
			opts.Now = func() time.Time { return now }
			d := NewDispatcher([]SinkSpec{{Sink: push, Push: true}, {Sink: record}}, opts)
			d.Send(at(20*time.Minute, "old"))
			d.Send(at(time.Minute, "fresh"))
			d.Send(at(15*time.Minute, "edge")) // exactly at the horizon: still pushed
			d.Send(at(15*time.Minute+time.Second, "older"))
			if err := closeWithin(t, d, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(push.keys(), ","); got != strings.Join(tc.wantPush, ",") {
				t.Errorf("pushed %q, want %q", got, tc.wantPush)
			}
			if got := record.keys(); len(got) != 4 {
				t.Errorf("recorded %v, want all 4", got)
			}
			st := d.Stats()
			if st["push"].Stale != uint64(4-len(tc.wantPush)) || st["record"].Stale != 0 {
				t.Errorf("stale counts %+v", st)
			}
		})
	}
}

func TestDispatchQueueFullDropsAndLogsOnce(t *testing.T) {
	sink := newBlockingSink()
	logs := &testlog.Buffer{}
	opts := fastOpts()
	opts.QueueLen = 2
	opts.Logger = zerolog.New(logs)
	d := NewDispatcher([]SinkSpec{{Sink: sink, Push: true}}, opts)
	d.Send(sampleAlert())
	<-sink.started // the worker holds one; the queue is empty
	for i := 0; i < 10; i++ {
		d.Send(sampleAlert())
	}
	if st := d.Stats()["blocking"]; st.Dropped != 8 || st.Queued != 2 {
		t.Errorf("stats %+v, want 8 dropped and 2 queued", st)
	}
	if c := logs.Count("alert queue full"); c != 1 {
		t.Errorf("queue full logged %d times, want once", c)
	}
	close(sink.release)
	eventually(t, "the queue to drain", func() bool { return d.Stats()["blocking"].Sent == 3 })
	d.Send(sampleAlert())
	if c := logs.Count("alert queue has room again"); c != 1 {
		t.Errorf("recovery logged %d times, want once", c)
	}
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats()["blocking"]; st.Sent != 4 || st.Dropped != 8 {
		t.Errorf("final stats %+v", st)
	}
}

func TestDispatchCloseDeadlineCancels(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sink := newBlockingSink()
	logs := &testlog.Buffer{}
	opts := fastOpts()
	opts.Logger = zerolog.New(logs)
	d := NewDispatcher([]SinkSpec{{Sink: sink}}, opts)
	for i := 0; i < 3; i++ {
		d.Send(sampleAlert())
	}
	<-sink.started
	err := closeWithin(t, d, 50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want a deadline error", err)
	}
	if st := d.Stats()["blocking"]; st.Failed != 1 || st.Dropped != 2 || st.Sent != 0 {
		t.Errorf("stats %+v, want the one in flight failed, two dropped", st)
	}
	// The attempt Close cancelled is not the sink failing.
	if c := logs.Count("alert sink failing"); c != 0 {
		t.Errorf("cancelled attempt logged as a failing sink:\n%s", logs.String())
	}
	lost := `"sink":"blocking","sent":0,"failed":1,"dropped":2,"stale":0,"queued":0,"message":"alert sink lost alerts"`
	if c := logs.Count(lost); c != 1 {
		t.Errorf("counts logged %d times, want once:\n%s", c, logs.String())
	}
	d.Send(sampleAlert()) // after Close: ignored, no panic
	if err := d.Close(context.Background()); err == nil {
		t.Error("second Close succeeded")
	}
}

// flakySink fails with plain errors, which count as retryable.
type flakySink struct {
	mu    sync.Mutex
	fails int
	calls int
}

func (s *flakySink) Name() string { return "flaky" }

func (s *flakySink) Send(context.Context, *Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls <= s.fails {
		return fmt.Errorf("attempt %d failed", s.calls)
	}
	return nil
}

func TestDispatchRetriesPlainErrorsAndNamesDuplicates(t *testing.T) {
	a, b := &flakySink{fails: 2}, &flakySink{}
	d := NewDispatcher([]SinkSpec{{Sink: a}, {Sink: b}}, fastOpts())
	d.Send(sampleAlert())
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st["flaky"].Sent != 1 || st["flaky#2"].Sent != 1 || a.calls != 3 {
		t.Errorf("stats %+v, calls %d", st, a.calls)
	}
}

func TestBackoffBounds(t *testing.T) {
	d := &Dispatcher{opts: DispatchOptions{MinBackoff: time.Second, MaxBackoff: time.Minute}}
	for attempt := 0; attempt < 70; attempt++ {
		step := min(time.Second<<min(attempt, 10), time.Minute)
		for i := 0; i < 20; i++ {
			got := d.backoff(attempt, 0)
			if got < max(step/2, time.Second) || got > step {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, got, step/2, step)
			}
		}
		if got := d.backoff(attempt, 5*time.Minute); got != 5*time.Minute {
			t.Fatalf("attempt %d: backoff %v ignores Retry-After", attempt, got)
		}
	}
}

func TestDispatchLogsFailureAndRecoveryOnce(t *testing.T) {
	logs := &testlog.Buffer{}
	opts := fastOpts()
	opts.MaxRetries = -1 // no retries: each failure is final
	opts.Logger = zerolog.New(logs)
	sink := &flakySink{fails: 3}
	d := NewDispatcher([]SinkSpec{{Sink: sink}}, opts)
	for i := 0; i < 5; i++ {
		d.Send(sampleAlert())
	}
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats()["flaky"]; st.Failed != 3 || st.Sent != 2 || sink.calls != 5 {
		t.Errorf("stats %+v, calls %d", st, sink.calls)
	}
	if logs.Count("alert sink recovered") != 1 {
		t.Errorf("recovery not logged once:\n%s", logs.String())
	}
	recovered := `"failed_attempts":3,"failed_alerts":3,`
	if f, r := logs.Count("alert sink failing"), logs.Count(recovered); f != 1 || r != 1 {
		t.Errorf("failure logged %d times, recovery with count %d times; want 1 and 1:\n%s", f, r, logs.String())
	}
}

// gatedServer answers 503 to its first fails requests and holds the next
// one until release is closed, then answers 200. arrived receives the
// number of each request as it comes in.
func gatedServer(t *testing.T, fails int) (url string, arrived chan int, release chan struct{}) {
	t.Helper()
	arrived, release = make(chan int, 100), make(chan struct{})
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		arrived <- i
		if i <= fails {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + secretPath, arrived, release
}

// TestDispatchLogsFirstFailedAttempt checks that a sink is reported
// failing at its first failed attempt, long before the alert runs out of
// retries, and that the retries that follow add no line.
func TestDispatchLogsFirstFailedAttempt(t *testing.T) {
	const fails = 3
	url, arrived, release := gatedServer(t, fails)
	logs := &testlog.Buffer{}
	opts := fastOpts()
	opts.Logger = zerolog.New(logs)
	d := NewDispatcher([]SinkSpec{{Sink: newTestWebhook(t, url), Push: true}}, opts)
	d.Send(sampleAlert())
	// Request fails+1 is the first retry that will succeed; it is held.
	for i := 1; i <= fails+1; i++ {
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d never came", i)
		}
	}
	out := logs.String()
	if c := strings.Count(out, "alert sink failing"); c != 1 {
		t.Fatalf("after %d failed attempts, %d failing lines, want 1:\n%s", fails, c, out)
	}
	for _, want := range []string{`"level":"warn"`, `"sink":"webhook"`, `"retry":true`,
		`"retry_in":`, `answered 503`, "127.0.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("failing line lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") || strings.Contains(out, "recovered") {
		t.Errorf("log reveals the URL or recovers early:\n%s", out)
	}
	close(release)
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := logs.Count(`"failed_attempts":3,"failed_alerts":0,`); c != 1 ||
		logs.Count("alert sink recovered") != 1 {
		t.Errorf("recovery with 3 failed attempts logged %d times, want once:\n%s", c, logs.String())
	}
	if logs.Count("alert sink failing") != 1 || logs.Count("lost alerts") != 0 {
		t.Errorf("extra lines after recovery:\n%s", logs.String())
	}
}

// TestDispatchConnectionRefusedThenAccepted is the dead webhook of a
// real outage: nothing listens on the port, then a server starts there.
func TestDispatchConnectionRefusedThenAccepted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the port now refuses connections
	logs := &testlog.Buffer{}
	opts := fastOpts()
	opts.MaxRetries = 1000 // outlast the outage
	opts.Logger = zerolog.New(logs)
	d := NewDispatcher([]SinkSpec{{Sink: newTestWebhook(t, "http://"+addr+secretPath), Push: true}}, opts)
	d.Send(sampleAlert())
	eventually(t, "the failing line", func() bool { return logs.Count("alert sink failing") > 0 })
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("failing line does not say why:\n%s", logs.String())
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	eventually(t, "the delivery", func() bool { return d.Stats()["webhook"].Sent == 1 })
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if f, r := logs.Count("alert sink failing"), logs.Count("alert sink recovered"); f != 1 || r != 1 {
		t.Errorf("%d failing and %d recovered lines, want 1 and 1:\n%s", f, r, logs.String())
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Error("log reveals the webhook URL")
	}
}

func TestDispatchRemindsWhileFailing(t *testing.T) {
	logs := &testlog.Buffer{}
	opts := fastOpts()
	opts.Reminder = time.Nanosecond // every failed attempt after the first
	opts.Logger = zerolog.New(logs)
	d := NewDispatcher([]SinkSpec{{Sink: &flakySink{fails: 3}}}, opts)
	d.Send(sampleAlert())
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f, r := logs.Count("alert sink failing"), logs.Count("alert sink still failing")
	if f != 1 || r != 2 || logs.Count(`"failed_attempts":3,`) != 2 {
		t.Errorf("%d failing and %d reminder lines, want 1 and 2 (at attempts 2, 3):\n%s",
			f, r, logs.String())
	}
}

// TestSendTrackedReportsWhenRecorded checks that recorded runs only after
// the recording sink has the alert, whatever a stuck Push sink does, and
// that WaitRecorded waits for it.
func TestSendTrackedReportsWhenRecorded(t *testing.T) {
	local := newBlockingSink()
	stuck := newBlockingSink()
	d := NewDispatcher([]SinkSpec{{Sink: local}, {Sink: stuck, Push: true}}, fastOpts())
	recorded := make(chan struct{})
	d.SendTracked(&Alert{ID: "a1", At: time.Now()}, func() { close(recorded) })
	<-local.started
	select {
	case <-recorded:
		t.Fatal("recorded before the recording sink finished")
	default:
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if err := d.WaitRecorded(short); err == nil {
		t.Fatal("WaitRecorded returned while the recording sink still held the alert")
	}
	cancel()
	local.release <- struct{}{}
	<-recorded // the Push sink is still stuck: it does not hold this up
	if err := d.WaitRecorded(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(stuck.release)
	closeWithin(t, d, 5*time.Second)
}

func TestSendTrackedWithoutRecordingSinks(t *testing.T) {
	push := &memSink{name: "hook"}
	d := NewDispatcher([]SinkSpec{{Sink: push, Push: true}}, fastOpts())
	called := false
	d.SendTracked(&Alert{ID: "a2", At: time.Now()}, func() { called = true })
	if !called {
		t.Fatal("with no recording sink, recorded must run at once")
	}
	closeWithin(t, d, 5*time.Second)
}

// TestMinSeverityPerSink: a sink set to critical gets only critical
// alerts and counts the others; an alert that no recording sink takes is
// still marked recorded, so a checkpoint never waits for it.
func TestMinSeverityPerSink(t *testing.T) {
	all := &memSink{name: "all"}
	pager := &memSink{name: "pager"}
	d := NewDispatcher([]SinkSpec{
		{Sink: all},
		{Sink: pager, Push: true, MinSeverity: SeverityCritical},
	}, DispatchOptions{Horizon: -1})
	warn, crit := sampleAlert(), sampleAlert()
	warn.ID, warn.Key, warn.Severity = "w1", "warned", SeverityWarning
	crit.ID, crit.Key = "c1", "critical"
	d.Send(warn)
	d.Send(crit)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(all.keys(), ","); got != "warned,critical" {
		t.Errorf("the unfiltered sink got %q", got)
	}
	if got := strings.Join(pager.keys(), ","); got != "critical" {
		t.Errorf("the critical-only sink got %q, want only the critical alert", got)
	}
	if st := d.Stats()["pager"]; st.Below != 1 || st.Sent != 1 {
		t.Errorf("pager stats %+v, want 1 sent and 1 below its minimum", st)
	}

	only := &memSink{name: "only"}
	d = NewDispatcher([]SinkSpec{{Sink: only, MinSeverity: SeverityCritical}}, DispatchOptions{Horizon: -1})
	recorded := make(chan struct{})
	d.SendTracked(warn, func() { close(recorded) })
	select {
	case <-recorded:
	case <-time.After(5 * time.Second):
		t.Fatal("an alert no recording sink takes was never marked recorded")
	}
	d.Close(context.Background())
}

func TestResolvedOnlyToSinksThatTakeThem(t *testing.T) {
	takes, skips := &memSink{name: "takes"}, &memSink{name: "skips"}
	d := NewDispatcher([]SinkSpec{{Sink: takes, SendResolved: true}, {Sink: skips}}, DispatchOptions{Horizon: -1})
	firing, resolved := sampleAlert(), sampleAlert()
	resolved.ID, resolved.Key, resolved.Status = "r1", "over", StatusResolved
	d.Send(firing)
	d.Send(resolved)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(takes.keys(), ","); got != firing.Key+",over" {
		t.Errorf("the sink taking notices got %q", got)
	}
	if got := strings.Join(skips.keys(), ","); got != firing.Key {
		t.Errorf("the sink not taking notices got %q, want only the alert", got)
	}
}
