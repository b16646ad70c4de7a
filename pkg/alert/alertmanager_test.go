package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sentinel-project/sentinel/internal/testlog"
)

// The Debian package and binary the Alertmanager tests run.
const (
	amPackage = "prometheus-alertmanager"
	amBinary  = "prometheus-alertmanager"
)

// amWebhook is the part of Alertmanager's webhook payload the tests read.
type amWebhook struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// amReceiver is the webhook receiver Alertmanager notifies: it records
// each (alert status, labels) it is sent.
type amReceiver struct {
	mu     sync.Mutex
	events []amEvent
}

type amEvent struct {
	status      string
	labels      map[string]string
	annotations map[string]string
}

func (r *amReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var p amWebhook
	if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range p.Alerts {
		r.events = append(r.events, amEvent{a.Status, a.Labels, a.Annotations})
	}
}

// got reports whether the receiver was notified of an alert with labels
// in status.
func (r *amReceiver) got(status string, labels map[string]string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.status == status && maps.Equal(e.labels, labels) {
			return true
		}
	}
	return false
}

// amInstance is a running Alertmanager and its webhook receiver.
type amInstance struct {
	url  string
	recv *amReceiver
}

// startAlertmanager runs the real Alertmanager on a free loopback port,
// routing every alert to a webhook receiver of the test's, with resolved
// notices and tiny grouping delays, and kills it when the test ends.
func startAlertmanager(t *testing.T) *amInstance {
	t.Helper()
	bin, err := exec.LookPath(amBinary)
	if err != nil {
		if os.Getenv("SENTINEL_REQUIRE_SHARED") != "" {
			t.Fatalf("%s is missing (Debian package %s); this run requires it (SENTINEL_REQUIRE_SHARED is set)", amBinary, amPackage)
		}
		t.Skipf("skipped: needs %s (Debian package %s)", amBinary, amPackage)
	}
	recv := &amReceiver{}
	hook := httptest.NewServer(recv)
	t.Cleanup(hook.Close)

	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: hook
  group_by: ['...']
  group_wait: 50ms
  group_interval: 100ms
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %q
        send_resolved: true
`, hook.URL+"/hook")
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var out testlog.Buffer
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip listener on 0.0.0.0:9094
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", amBinary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	waitReady(t, base, exited, &out)
	return &amInstance{url: base, recv: recv}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady polls /-/ready until Alertmanager answers 200, it exits, or
// the deadline passes.
func waitReady(t *testing.T, base string, exited <-chan struct{}, out *testlog.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before it was ready:\n%s", amBinary, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 30s:\n%s", amBinary, out.String())
		}
	}
}

// amGettable is the part of GET /api/v2/alerts the tests read.
type amGettable struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// alerts returns the alerts Alertmanager holds and has not resolved.
func (am *amInstance) alerts(t *testing.T) []amGettable {
	t.Helper()
	resp, err := http.Get(am.url + "/api/v2/alerts")
	if err != nil {
		t.Fatalf("listing alertmanager alerts: %v", err)
	}
	defer resp.Body.Close()
	var out []amGettable
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decoding alertmanager alerts: %v", err)
	}
	return out
}

func newTestAlertmanager(t *testing.T, base string, resend time.Duration) *Alertmanager {
	t.Helper()
	s, err := NewAlertmanager(AlertmanagerOptions{URL: base, Resend: resend, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// amTestAlert is a firing token alert of the incident the tests use.
func amTestAlert(severity string) *Alert {
	now := time.Now().UTC().Truncate(time.Second)
	return &Alert{
		ID: NewID(EntityToken, "3f9a1c0b2e4d", "ewma", "messages", now.Add(-time.Minute)),
		At: now, Entity: EntityToken, Key: "3f9a1c0b2e4d", TokenHint: "a7b1", Label: "acme",
		Detector: "ewma", Feature: "messages", Observed: 4812, Expected: 126, Score: 14.2,
		Severity: severity, WindowStart: now.Add(-time.Minute), WindowEnd: now,
		Since: now.Add(-2 * time.Minute), Excess: 9340, Status: StatusFiring,
	}
}

// amTestLabels are the labels amTestAlert's incident must have.
var amTestLabels = map[string]string{
	"alertname": AlertnameSentinel, "entity": EntityToken, "key": "3f9a1c0b2e4d",
	"detector": "ewma", "label": "acme",
}

// find returns the alerts of amTestAlert's incident.
func findIncident(alerts []amGettable) []amGettable {
	var out []amGettable
	for _, a := range alerts {
		if a.Labels["key"] == amTestLabels["key"] {
			out = append(out, a)
		}
	}
	return out
}

func send(t *testing.T, s *Alertmanager, a *Alert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Send(ctx, a); err != nil {
		t.Fatalf("sending to alertmanager: %v", err)
	}
}

// A firing alert becomes one active Alertmanager alert labelled by its
// incident, starting when the incident began, and reaches the receiver.
func TestAlertmanagerFiringReachesReceiver(t *testing.T) {
	am := startAlertmanager(t)
	s := newTestAlertmanager(t, am.url, time.Minute)
	a := amTestAlert(SeverityWarning)
	send(t, s, a)

	var got []amGettable
	eventually(t, "alert listed by alertmanager", func() bool {
		got = findIncident(am.alerts(t))
		return len(got) == 1
	})
	g := got[0]
	if !maps.Equal(g.Labels, amTestLabels) {
		t.Errorf("labels = %v, want %v", g.Labels, amTestLabels)
	}
	if g.Status.State != "active" {
		t.Errorf("state = %q, want active", g.Status.State)
	}
	if !g.StartsAt.Equal(a.Since) {
		t.Errorf("startsAt = %v, want the incident's since %v", g.StartsAt, a.Since)
	}
	if d := time.Until(g.EndsAt); d < 3*time.Minute || d > 5*time.Minute {
		t.Errorf("endsAt is %v ahead, want about 4 resend intervals (4m)", d)
	}
	for k, want := range map[string]string{
		"id": a.ID, "severity": "warning", "feature": "messages", "observed": "4812",
		"expected": "126", "score": "14.2", "excess": "9340", "token_hint": "a7b1",
		"since": a.Since.Format(time.RFC3339),
	} {
		if g.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, g.Annotations[k], want)
		}
	}
	if !strings.Contains(g.Annotations["summary"], "3f9a1c0b2e4d") {
		t.Errorf("summary annotation %q does not name the key", g.Annotations["summary"])
	}
	eventually(t, "receiver notified of the firing alert", func() bool {
		return am.recv.got("firing", amTestLabels)
	})
}

// Re-sending moves endsAt ahead, so an incident stays active past the
// endsAt of its first send, and Alertmanager never resolves it.
func TestAlertmanagerResendKeepsActive(t *testing.T) {
	am := startAlertmanager(t)
	const resend = 250 * time.Millisecond
	s := newTestAlertmanager(t, am.url, resend)
	send(t, s, amTestAlert(SeverityWarning))

	var first time.Time
	eventually(t, "alert listed by alertmanager", func() bool {
		got := findIncident(am.alerts(t))
		if len(got) == 1 {
			first = got[0].EndsAt
		}
		return len(got) == 1
	})
	// Past the first endsAt (1s ahead) by two resend intervals, the
	// alert must still be listed, with a later endsAt.
	past := first.Add(2 * resend)
	eventually(t, "the first endsAt to pass", func() bool {
		return time.Now().After(past)
	})
	got := findIncident(am.alerts(t))
	if len(got) != 1 || got[0].Status.State != "active" {
		t.Fatalf("after the first endsAt: alerts %+v, want the incident still active", got)
	}
	if !got[0].EndsAt.After(past) {
		t.Errorf("endsAt %v not moved past %v by re-sending", got[0].EndsAt, past)
	}
	if am.recv.got("resolved", amTestLabels) {
		t.Error("receiver was told the incident resolved while it was being re-sent")
	}
}

// A resolved alert ends the incident in Alertmanager, the receiver is
// told, and the sink stops re-sending it.
func TestAlertmanagerResolvedResolves(t *testing.T) {
	am := startAlertmanager(t)
	// A long interval: were the resolved alert to end later, its endsAt
	// would be minutes ahead and the receiver would wait for it.
	s := newTestAlertmanager(t, am.url, time.Minute)
	a := amTestAlert(SeverityCritical)
	send(t, s, a)
	eventually(t, "receiver notified of the firing alert", func() bool {
		return am.recv.got("firing", amTestLabels)
	})

	r := *a
	r.Status, r.At = StatusResolved, time.Now().UTC()
	send(t, s, &r)
	eventually(t, "receiver notified that the incident resolved", func() bool {
		return am.recv.got("resolved", amTestLabels)
	})
	if got := findIncident(am.alerts(t)); len(got) != 0 {
		t.Errorf("after resolving: alertmanager still lists %+v", got)
	}
	// A re-send after the resolved alert must not make it fire again.
	s.resend()
	if got := findIncident(am.alerts(t)); len(got) != 0 {
		t.Errorf("after a re-send: alertmanager lists %+v again", got)
	}
}

// An incident that rises from warning to critical stays one Alertmanager
// alert, updated, rather than a second alert beside the first.
func TestAlertmanagerEscalationStaysOneAlert(t *testing.T) {
	am := startAlertmanager(t)
	s := newTestAlertmanager(t, am.url, time.Minute)
	warn := amTestAlert(SeverityWarning)
	send(t, s, warn)
	crit := amTestAlert(SeverityCritical)
	crit.ID, crit.Feature, crit.Observed = "0123456789abcdef", "requests", 9000
	crit.Since = warn.Since.Add(time.Minute) // a later alert must not move the start
	send(t, s, crit)

	var got []amGettable
	eventually(t, "alertmanager to show the critical update", func() bool {
		got = findIncident(am.alerts(t))
		return len(got) > 0 && got[len(got)-1].Annotations["severity"] == "critical"
	})
	if len(got) != 1 {
		t.Fatalf("alertmanager lists %d alerts for one incident, want 1: %+v", len(got), got)
	}
	if got[0].Annotations["id"] != crit.ID || got[0].Annotations["feature"] != "requests" {
		t.Errorf("annotations %v, want those of the latest alert", got[0].Annotations)
	}
	if !got[0].StartsAt.Equal(warn.Since) {
		t.Errorf("startsAt = %v, want the first alert's since %v", got[0].StartsAt, warn.Since)
	}
}

// amRecorder is a stand-in Alertmanager that records every posted batch.
type amRecorder struct {
	mu      sync.Mutex
	batches [][]amAlert
	paths   []string
}

func (r *amRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var b []amAlert
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
	r.paths = append(r.paths, req.URL.Path)
}

// posted returns the batches and paths posted so far.
func (r *amRecorder) posted() ([][]amAlert, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches), slices.Clone(r.paths)
}

// The set of incidents is bounded: beyond MaxIncidents the least recently
// updated is dropped, and an incident not updated for Forget is no longer
// re-sent.
func TestAlertmanagerBoundsIncidents(t *testing.T) {
	rec := &amRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := NewAlertmanager(AlertmanagerOptions{
		URL: srv.URL + "/am/", Resend: time.Hour, Forget: 2 * time.Hour,
		MaxIncidents: 2, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, key := range []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"} {
		a := amTestAlert(SeverityWarning)
		a.Key = key
		now = now.Add(time.Duration(i) * time.Minute)
		send(t, s, a)
	}
	if _, ok := s.incidents[incidentKey(&Alert{Entity: EntityToken, Key: "aaaaaaaaaaaa", Detector: "ewma"})]; ok || len(s.incidents) != 2 {
		t.Fatalf("incidents %v: want the 2 most recently updated", keys(s.incidents))
	}
	now = now.Add(time.Hour)
	s.resend()
	batches, paths := rec.posted()
	if n := len(batches[len(batches)-1]); n != 2 {
		t.Errorf("re-send posted %d alerts, want 2", n)
	}
	now = now.Add(2 * time.Hour)
	s.resend()
	if len(s.incidents) != 0 {
		t.Errorf("incidents %v kept after Forget without an update", keys(s.incidents))
	}
	if paths[0] != "/am/api/v2/alerts" {
		t.Errorf("posted to %s, want the base URL's path and /api/v2/alerts", paths[0])
	}
}

// Every post of an incident starts when its first alert said it began,
// whatever later alerts say.
func TestAlertmanagerKeepsFirstStart(t *testing.T) {
	rec := &amRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s, err := NewAlertmanager(AlertmanagerOptions{URL: srv.URL, Resend: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := amTestAlert(SeverityWarning)
	send(t, s, first)
	later := amTestAlert(SeverityCritical)
	later.Since = first.Since.Add(time.Minute)
	send(t, s, later)
	s.resend()
	resolved := *later
	resolved.Status = StatusResolved
	send(t, s, &resolved)
	batches, _ := rec.posted()
	for i, b := range batches {
		if got := b[0].StartsAt; !got.Equal(first.Since) {
			t.Errorf("post %d: startsAt %v, want the first alert's since %v", i, got, first.Since)
		}
	}
}

func keys(m map[string]*incident) []string {
	var out []string
	for k := range m {
		out = append(out, strings.ReplaceAll(k, "\x00", "/"))
	}
	return out
}

// A resolved alert whose time is ahead of this clock ends now, not in the
// future, and the start never falls after the end.
func TestAlertmanagerResolvedEndsNoLaterThanNow(t *testing.T) {
	rec := &amRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s, err := NewAlertmanager(AlertmanagerOptions{URL: srv.URL, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := amTestAlert(SeverityWarning)
	a.Status, a.At, a.Since = StatusResolved, now.Add(time.Hour), now.Add(30*time.Minute)
	send(t, s, a)
	batches, _ := rec.posted()
	got := batches[0][0]
	if !got.EndsAt.Equal(now) || got.StartsAt.After(got.EndsAt) {
		t.Errorf("startsAt %v endsAt %v, want endsAt now (%v) and startsAt no later", got.StartsAt, got.EndsAt, now)
	}
}

// Closing the dispatcher closes the sink, whose re-send goroutine stops.
func TestAlertmanagerClosedWithDispatcher(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rec := &amRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s, err := NewAlertmanager(AlertmanagerOptions{URL: srv.URL, Resend: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher([]SinkSpec{{Sink: s, Push: true}}, DispatchOptions{Horizon: -1})
	d.Send(amTestAlert(SeverityWarning))
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
}

// An iforest alert, which no resolved notice will end, is re-sent for
// the detectors' cooldown only; an ewma or budget incident goes on until
// Forget.
func TestAlertmanagerLapsesIncidentsWithoutNotice(t *testing.T) {
	rec := &amRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s, err := NewAlertmanager(AlertmanagerOptions{URL: srv.URL, Resend: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ewma, forest, budget := amTestAlert(SeverityWarning), amTestAlert(SeverityWarning), amTestAlert(SeverityWarning)
	forest.Detector = "iforest"
	budget.Detector, budget.Feature = "budget", "messages_excess"
	send(t, s, ewma)
	send(t, s, forest)
	send(t, s, budget)
	now = now.Add(DefaultLapse + time.Minute)
	s.resend()
	if _, ok := s.incidents[incidentKey(forest)]; ok {
		t.Error("the iforest incident is still re-sent past the lapse")
	}
	if _, ok := s.incidents[incidentKey(ewma)]; !ok {
		t.Error("the ewma incident, which a notice will end, was dropped at the lapse")
	}
	if _, ok := s.incidents[incidentKey(budget)]; !ok {
		t.Error("the budget incident, which a notice will end, was dropped at the lapse")
	}
}

// memStore is an IncidentStore in memory.
type memStore struct {
	mu  sync.Mutex
	doc []byte
}

func (m *memStore) Load() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doc, nil
}

func (m *memStore) Save(doc []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.doc = slices.Clone(doc)
	return nil
}

// The firing incidents outlive the sink: a restart (or the sink a reload
// builds) reads them and goes on re-sending them, so Alertmanager does
// not resolve an exfiltration still going on; a resolved one is gone.
func TestAlertmanagerKeepsIncidentsAcrossARestart(t *testing.T) {
	rec := &amRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	store := &memStore{}
	open := func() *Alertmanager {
		s, err := NewAlertmanager(AlertmanagerOptions{URL: srv.URL, Resend: time.Hour, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	going, over := amTestAlert(SeverityWarning), amTestAlert(SeverityWarning)
	over.Key = "bbbbbbbbbbbb"
	send(t, s, going)
	send(t, s, over)
	ended := *over
	ended.Status = StatusResolved
	send(t, s, &ended)
	s.Close()

	before, _ := rec.posted()
	s = open()
	defer s.Close()
	// Re-sent at once, not an interval (here an hour) later: a long
	// restart may have brought the endsAt set before it near.
	eventually(t, "the re-send at start", func() bool { b, _ := rec.posted(); return len(b) > len(before) })
	s.lock <- struct{}{}
	if _, ok := s.incidents[incidentKey(going)]; !ok || len(s.incidents) != 1 {
		t.Fatalf("incidents after the restart %v, want only the one still firing", keys(s.incidents))
	}
	<-s.lock
	batches, _ := rec.posted()
	last := batches[len(batches)-1]
	if len(last) != 1 || last[0].Labels["key"] != going.Key || !last[0].EndsAt.After(time.Now()) {
		t.Errorf("re-send after the restart posted %+v, want the firing incident with an endsAt ahead", last)
	}
}
