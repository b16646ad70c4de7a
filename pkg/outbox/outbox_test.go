package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/sentinel-project/sentinel/internal/testwait"
	"github.com/sentinel-project/sentinel/pkg/alert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 3, 1, 9, 20, 0, 0, time.UTC)

// testAlert returns the i-th of a series of distinct alerts.
func testAlert(i int) *alert.Alert {
	start := t0.Add(time.Duration(i) * time.Minute)
	a := &alert.Alert{
		At: start.Add(30 * time.Second), Entity: alert.EntityToken, Key: fmt.Sprintf("%012x", i),
		Detector: "ewma", Feature: "messages", Observed: 500, Expected: 10, Score: 5,
		Severity: alert.SeverityCritical, WindowStart: start, WindowEnd: start.Add(time.Minute),
		Since: start, Status: alert.StatusFiring,
	}
	a.ID = alert.NewID(a.Entity, a.Key, a.Detector, a.Feature, a.WindowStart)
	return a
}

func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storedAlerts counts the alerts in the file, pending for any sink.
func storedAlerts(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(alertsBucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStoreKeepsPendingAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s := openStore(t, path)
	for i := range 3 {
		if err := s.Put(testAlert(i), []string{"slack", "webhook"}); err != nil {
			t.Fatal(err)
		}
	}
	head, ok, err := s.Head("slack")
	if err != nil || !ok || head.Alert.ID != testAlert(0).ID {
		t.Fatalf("head of slack = %+v, %v, %v; want alert 0", head.Alert.ID, ok, err)
	}
	if err := s.Remove("slack", head.Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, path)
	defer s.Close()
	if got := s.Pending("slack"); got != 2 {
		t.Errorf("slack pending after reopen = %d, want 2", got)
	}
	if got := s.Pending("webhook"); got != 3 {
		t.Errorf("webhook pending after reopen = %d, want 3", got)
	}
	head, _, _ = s.Head("slack")
	if head.Alert.ID != testAlert(1).ID || head.Alert.Excess != testAlert(1).Excess {
		t.Errorf("slack's head after reopen is %s, want alert 1", head.Alert.ID)
	}
	// Alert 0 is still held by the webhook; once it has it too, it goes.
	if n := storedAlerts(t, s); n != 3 {
		t.Errorf("%d alerts stored, want 3", n)
	}
	wh, _, _ := s.Head("webhook")
	if err := s.Remove("webhook", wh.Seq); err != nil {
		t.Fatal(err)
	}
	if n := storedAlerts(t, s); n != 2 {
		t.Errorf("%d alerts stored after both sinks had alert 0, want 2", n)
	}
	// Removing twice changes nothing.
	if err := s.Remove("webhook", wh.Seq); err != nil || s.Pending("webhook") != 2 {
		t.Errorf("second remove: err %v, pending %d, want nil and 2", err, s.Pending("webhook"))
	}
}

// An alert raised again, as after a crash, while it is still stored is
// not stored, so not delivered, twice.
func TestPutIgnoresAnAlertStillStored(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	a := testAlert(0)
	for range 2 {
		if err := s.Put(a, []string{"webhook"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Pending("webhook"); n != 1 {
		t.Fatalf("the same alert put twice is pending %d times, want 1", n)
	}
	head, _, _ := s.Head("webhook")
	s.Remove("webhook", head.Seq)
	if err := s.Put(a, []string{"webhook"}); err != nil || s.Pending("webhook") != 1 {
		t.Errorf("once delivered, its id is free again: err %v, pending %d", err, s.Pending("webhook"))
	}
}

func TestForgetDropsRemovedSinksOnly(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	s.Put(testAlert(0), []string{"old", "kept"})
	s.Put(testAlert(1), []string{"old"})
	dropped, err := s.Forget([]string{"kept"})
	if err != nil {
		t.Fatal(err)
	}
	if dropped["old"] != 2 || len(dropped) != 1 {
		t.Errorf("dropped %v, want old: 2", dropped)
	}
	if s.Pending("kept") != 1 || s.Pending("old") != 0 {
		t.Errorf("pending kept %d old %d, want 1 and 0", s.Pending("kept"), s.Pending("old"))
	}
	if n := storedAlerts(t, s); n != 1 {
		t.Errorf("%d alerts stored, want 1 (only the kept sink's)", n)
	}
}

// receiver is a webhook endpoint that answers 503 while down, and counts
// every request it accepts by Idempotency-Key.
type receiver struct {
	down     atomic.Bool
	refused  atomic.Int64
	mu       sync.Mutex
	accepted map[string]int
	requests int
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	r := &receiver{accepted: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			r.refused.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		r.accepted[req.Header.Get("Idempotency-Key")]++
		r.requests++
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

// counts returns the distinct ids accepted and the requests accepted.
func (r *receiver) counts() (ids, requests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted), r.requests
}

func webhook(t *testing.T, url string) alert.SinkSpec {
	t.Helper()
	wh, err := alert.NewWebhook(alert.WebhookOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return alert.SinkSpec{Sink: wh, Push: true}
}

// fastOpts retries within milliseconds, keeps no horizon, and would give
// an alert up after three attempts were it not for the outbox.
func fastOpts(ob alert.Outbox) alert.DispatchOptions {
	return alert.DispatchOptions{
		Outbox: ob, Horizon: -1, MaxRetries: 3,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	}
}

// eventually waits for cond, polling.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 10*time.Second, what, cond)
}

func closeNow(d *alert.Dispatcher) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = d.Close(ctx)
}

// A receiver that fails for many times the retries an alert would get in
// memory still receives every alert once it is back, in order and once
// each.
func TestOutageLosesNothing(t *testing.T) {
	rcv, srv := newReceiver(t)
	s := openStore(t, filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	rcv.down.Store(true)
	d := alert.NewDispatcher([]alert.SinkSpec{webhook(t, srv.URL)}, fastOpts(s))
	const sent = 40
	var recorded atomic.Int64
	for i := range sent {
		d.SendTracked(testAlert(i), func() { recorded.Add(1) })
	}
	if recorded.Load() != sent {
		t.Errorf("%d of %d alerts reported recorded; with no local sink, each is once stored", recorded.Load(), sent)
	}
	// Ten times the attempts that would have given the first alert up.
	eventually(t, "30 refused attempts", func() bool { return rcv.refused.Load() >= 30 })
	if st := d.Stats()["webhook"]; st.Failed != 0 || st.Queued != sent {
		t.Errorf("during the outage: %+v, want nothing failed and %d queued", st, sent)
	}
	rcv.down.Store(false)
	// Delivered means answered: closing before the last answer arrives
	// would leave that alert stored, to be sent again at the next start.
	eventually(t, "every alert delivered", func() bool { return d.Stats()["webhook"].Sent == sent })
	closeNow(d)
	ids, requests := rcv.counts()
	st := d.Stats()["webhook"]
	t.Logf("outage: sent %d, refused attempts %d, delivered %d ids in %d requests, lost %d",
		sent, rcv.refused.Load(), ids, requests, sent-ids)
	if requests != sent || st.Sent != sent || st.Queued != 0 {
		t.Errorf("delivered %d requests, stats %+v; want %d, each once", requests, st, sent)
	}
	if n := storedAlerts(t, s); n != 0 {
		t.Errorf("%d alerts left in the outbox after delivery", n)
	}
}

// Alerts not delivered when the daemon stops are delivered after it
// starts again, from the reopened file.
func TestRestartDeliversWhatWasLeft(t *testing.T) {
	rcv, srv := newReceiver(t)
	path := filepath.Join(t.TempDir(), FileName)
	s := openStore(t, path)
	rcv.down.Store(true)
	d := alert.NewDispatcher([]alert.SinkSpec{webhook(t, srv.URL)}, fastOpts(s))
	const sent = 10
	for i := range sent {
		d.Send(testAlert(i))
	}
	eventually(t, "refused attempts", func() bool { return rcv.refused.Load() >= 5 })
	closeNow(d)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	rcv.down.Store(false)
	s = openStore(t, path)
	defer s.Close()
	if s.Pending("webhook") != sent {
		t.Fatalf("%d alerts pending after the restart, want %d", s.Pending("webhook"), sent)
	}
	d = alert.NewDispatcher([]alert.SinkSpec{webhook(t, srv.URL)}, fastOpts(s))
	eventually(t, "the left alerts delivered", func() bool { ids, _ := rcv.counts(); return ids == sent })
	closeNow(d)
	if _, requests := rcv.counts(); requests != sent {
		t.Errorf("%d requests for %d alerts", requests, sent)
	}
}

// failingFive returns a receiver that is down, its server, an outbox,
// and a dispatcher that has five alerts for it.
func failingFive(t *testing.T) (*receiver, *httptest.Server, *Store, *alert.Dispatcher) {
	t.Helper()
	rcv, srv := newReceiver(t)
	s := openStore(t, filepath.Join(t.TempDir(), FileName))
	t.Cleanup(func() { s.Close() })
	rcv.down.Store(true)
	d := alert.NewDispatcher([]alert.SinkSpec{webhook(t, srv.URL)}, fastOpts(s))
	for i := range 5 {
		d.Send(testAlert(i))
	}
	return rcv, srv, s, d
}

// After a reload the new dispatcher's worker for a sink waits for the
// old one to let go, so the two never send the same entries.
func TestReloadHandsOverOneSinkAtATime(t *testing.T) {
	rcv, srv, s, old := failingFive(t)
	eventually(t, "the old dispatcher trying", func() bool { return rcv.refused.Load() >= 3 })
	next := alert.NewDispatcher([]alert.SinkSpec{webhook(t, srv.URL)}, fastOpts(s))
	for i := 5; i < 10; i++ {
		next.Send(testAlert(i))
	}
	rcv.down.Store(false)
	// The old one still holds the sink and delivers everything stored,
	// the new one's alerts included; then it is closed.
	eventually(t, "all ten delivered", func() bool { ids, _ := rcv.counts(); return ids == 10 })
	closeNow(old)
	closeNow(next)
	if _, requests := rcv.counts(); requests != 10 {
		t.Errorf("%d requests for 10 alerts: both dispatchers sent", requests)
	}
}

// A dispatcher handing over to the next stops sending stored alerts at
// once, even to a sink that keeps failing, and the next delivers them.
func TestHandoverLeavesStoredAlertsToTheNext(t *testing.T) {
	rcv, srv, s, old := failingFive(t)
	eventually(t, "the old dispatcher trying", func() bool { return rcv.refused.Load() >= 2 })
	next := alert.NewDispatcher([]alert.SinkSpec{webhook(t, srv.URL)}, fastOpts(s))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	if err := old.Handover(ctx); err != nil {
		t.Fatalf("handover: %v", err)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("handover waited %v for a failing sink", took)
	}
	rcv.down.Store(false)
	eventually(t, "the next dispatcher to deliver all five", func() bool { ids, _ := rcv.counts(); return ids == 5 })
	closeNow(next)
	if st := old.Stats()["webhook"]; st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("the old dispatcher counted %+v; handing over loses nothing", st)
	}
}

// slackReceiver keeps the Slack messages it gets.
type slackReceiver struct {
	mu   sync.Mutex
	msgs []slackMessage
}

type slackMessage struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
	} `json:"blocks"`
}

func (r *slackReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var m slackMessage
	if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

func (r *slackReceiver) messages() []slackMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Alerts about one incident raised within the group wait reach Slack as
// one message; an unrelated alert and a back-to-normal notice come alone.
func TestSlackGroupsOneIncident(t *testing.T) {
	rcv := &slackReceiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	sl, err := alert.NewSlack(alert.SlackOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	spec := alert.SinkSpec{Sink: sl, Push: true, SendResolved: true, GroupWait: 2 * time.Second} // room for five fsyncs on a loaded machine
	d := alert.NewDispatcher([]alert.SinkSpec{spec}, fastOpts(s))

	tok := testAlert(0)
	tok.TopIPs = []string{"203.0.113.9"}
	addr := testAlert(1)
	addr.Entity, addr.Key, addr.TopTokens = alert.EntityIP, "203.0.113.9", []string{tok.Key}
	forest := testAlert(2)
	forest.Key, forest.Detector = tok.Key, "iforest"
	other := testAlert(3)
	over := testAlert(4)
	over.Key, over.Status = tok.Key, alert.StatusResolved
	for _, a := range []*alert.Alert{tok, other, addr, forest, over} {
		a.Summary = alert.Summarize(a)
		d.Send(a)
	}
	eventually(t, "three messages", func() bool { return len(rcv.messages()) >= 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.Close(ctx)
	msgs := rcv.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d Slack messages, want 3 (the incident, the other token, the notice)", len(msgs))
	}
	if !strings.Contains(msgs[0].Text, "3 related alerts") || len(msgs[0].Blocks) != 5 {
		t.Errorf("first message %q with %d blocks; want the three related alerts in one (header, 3 lines, ids)", msgs[0].Text, len(msgs[0].Blocks))
	}
	if !strings.Contains(msgs[2].Text, "Back to normal") {
		t.Errorf("last message %q, want the back-to-normal notice alone", msgs[2].Text)
	}
	if st := d.Stats()["slack"]; st.Sent != 5 {
		t.Errorf("sent %d, want the 5 alerts counted one by one", st.Sent)
	}
}

// Sinks are known in the outbox by their key, not their place in the
// list: when the first of two webhooks is removed, its backlog is
// dropped, not handed to the other, whose own backlog stays its own.
func TestRemovedSinksBacklogGoesNowhereElse(t *testing.T) {
	a, srvA := newReceiver(t)
	b, srvB := newReceiver(t)
	s := openStore(t, filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	a.down.Store(true)
	b.down.Store(true)
	specA, specB := webhook(t, srvA.URL), webhook(t, srvB.URL)
	specA.Key, specB.Key = "webhook:a", "webhook:b"
	d := alert.NewDispatcher([]alert.SinkSpec{specA, specB}, fastOpts(s))
	only := testAlert(0)
	d.Send(only)
	eventually(t, "both refusing", func() bool { return a.refused.Load() > 0 && b.refused.Load() > 0 })
	closeNow(d)

	b.down.Store(false)
	d = alert.NewDispatcher([]alert.SinkSpec{specB}, fastOpts(s)) // A removed: B comes first
	if s.Pending("webhook:a") != 0 {
		t.Error("the removed sink's backlog was kept")
	}
	eventually(t, "B's own backlog delivered", func() bool { ids, _ := b.counts(); return ids == 1 })
	closeNow(d)
	if ids, requests := b.counts(); ids != 1 || requests != 1 {
		t.Errorf("B got %d alerts in %d requests, want its own one, once", ids, requests)
	}
}
