package admin

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/silence"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestHealthFailsWhenTheEngineStopsReporting: the process still answers
// HTTP, but a loop that no longer reports is wedged, and /healthz must
// say so; /readyz follows SetReady.
func TestHealthFailsWhenTheEngineStopsReporting(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s, err := Listen(Options{Listen: "127.0.0.1:0", Stale: 30 * time.Second, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	base := "http://" + s.Addr()

	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before SetReady = %d, want 503", code)
	}
	s.SetReady(true)
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after SetReady = %d, want 200", code)
	}

	s.Status(&engine.Status{At: clock()})
	now.Add(int64(29 * time.Second))
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz 29s after a report = %d, want 200", code)
	}
	now.Add(int64(2 * time.Second))
	code, body := get(t, base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "31s") {
		t.Errorf("/healthz 31s after a report = %d %q, want 503 saying for how long", code, body)
	}
	s.Status(&engine.Status{At: clock()})
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after a new report = %d, want 200", code)
	}
}

// TestMetricsCountWhatTheEngineAndSinksReport checks the names and
// values exported for a known status, sink counts and reloads.
func TestMetricsCountWhatTheEngineAndSinksReport(t *testing.T) {
	sinks := func() map[string]alert.SinkStats {
		return map[string]alert.SinkStats{"webhook": {Sent: 7, Failed: 2, Queued: 3}}
	}
	s, err := Listen(Options{Listen: "127.0.0.1:0", Sinks: sinks, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	s.Status(&engine.Status{
		Sources: map[string]engine.SourceStats{
			"/var/log/api.log": {Lines: 100, Late: 4, Rejected: engine.Rejects{"json": 3, "time": 2}},
		},
		Tokens: 42, Addresses: 9, Alerts: 5, Apply: 1500 * time.Millisecond,
		Behind:      map[string]int64{"/var/log/api.log": 4096},
		Checkpoints: engine.Checkpoints{Last: time.Unix(1800000000, 0), Took: 250 * time.Millisecond, Bytes: 123456, Failed: 1},
	})
	s.Reloaded(false)
	_, body := get(t, "http://"+s.Addr()+"/metrics")
	for _, want := range []string{
		`sentinel_lines_read_total{source="/var/log/api.log"} 100`,
		`sentinel_lines_parsed_total{source="/var/log/api.log"} 95`,
		`sentinel_lines_rejected_total{reason="json",source="/var/log/api.log"} 3`,
		`sentinel_lines_late_total{source="/var/log/api.log"} 4`,
		`sentinel_file_bytes_behind{path="/var/log/api.log"} 4096`,
		`sentinel_entities{kind="token"} 42`,
		`sentinel_entities{kind="address"} 9`,
		`sentinel_alerts_raised_total 5`,
		`sentinel_apply_seconds_total 1.5`,
		`sentinel_alerts_delivered_total{sink="webhook"} 7`,
		`sentinel_alerts_failed_total{sink="webhook"} 2`,
		`sentinel_alert_queue_depth{sink="webhook"} 3`,
		`sentinel_config_reloads_total{result="failure"} 1`,
		`sentinel_config_last_reload_successful 0`,
		`sentinel_build_info{version="1.2.3"} 1`,
		`sentinel_checkpoint_last_success_timestamp_seconds 1.8e+09`,
		`sentinel_checkpoint_duration_seconds 0.25`,
		`sentinel_checkpoint_bytes 123456`,
		`sentinel_checkpoint_failures_total 1`,
		`process_resident_memory_bytes`,
		`go_memstats_heap_alloc_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestListenFailsOnABusyAddress(t *testing.T) {
	s, err := Listen(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	_, err = Listen(Options{Listen: s.Addr()})
	if err == nil || !strings.Contains(err.Error(), "admin listener: listening on "+s.Addr()) {
		t.Fatalf("second Listen on %s: %v, want an error naming the address", s.Addr(), err)
	}
}

// TestSilencesRefuseWhatAWebPageCouldSend: a page the operator opens can
// POST to 127.0.0.1; such requests must not set or end silences.
func TestSilencesRefuseWhatAWebPageCouldSend(t *testing.T) {
	store, err := silence.Open(filepath.Join(t.TempDir(), "s.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Options{Listen: "127.0.0.1:0", Silences: store})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	body := `{"token":"3f9a1c0b2e4d","until":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
	post := func(contentType, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/silences", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("text/plain", ""); code != http.StatusUnsupportedMediaType {
		t.Errorf("a text/plain POST (a form's) got %d", code)
	}
	if code := post("application/json", "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("a POST with an Origin got %d", code)
	}
	if n := len(store.Active()); n != 0 {
		t.Fatalf("%d silences set by requests that were refused", n)
	}
	c := &Client{Addr: s.Addr()}
	added, err := c.AddSilence(context.Background(), silence.Silence{Token: "3f9a1c0b2e4d", Until: time.Now().Add(time.Hour)})
	if err != nil || added.ID == "" {
		t.Fatalf("the command line's own request: %+v, %v", added, err)
	}
	if list, err := c.Silences(context.Background()); err != nil || len(list) != 1 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if err := c.RemoveSilence(context.Background(), added.ID); err != nil {
		t.Fatal(err)
	}
}
