package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// secretPath stands for the secret part of a Slack-style webhook URL.
const secretPath = "/services/T0SECRET/B0SECRET/xyzSECRETxyz"

// testClient returns a client with its own transport, whose idle
// connections are closed when the test ends so goleak sees no leftovers.
func testClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// request is what a test server saw.
type request struct {
	at     time.Time
	header http.Header
	body   []byte
}

// recorder is an httptest server that records requests and answers with
// the next of its scripted responses (the last one repeats).
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []request
	next []func(w http.ResponseWriter, r *http.Request)
}

func newRecorder(t *testing.T, script ...func(w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{next: script}
	rec.srv = httptest.NewServer(http.HandlerFunc(rec.serve))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, request{at: time.Now(), header: r.Header.Clone(), body: body})
	h := rec.next[min(len(rec.reqs), len(rec.next))-1]
	rec.mu.Unlock()
	h(w, r)
}

func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.reqs...)
}

func (rec *recorder) url() string { return rec.srv.URL + secretPath }

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		// Some receivers echo the request path; it must not reach errors.
		_, _ = io.WriteString(w, "no hook at "+r.URL.Path)
	}
}

func newTestWebhook(t *testing.T, url string) *Webhook {
	w, err := NewWebhook(WebhookOptions{
		URL: url, Version: "1.2.3", Client: testClient(t), Timeout: 2 * time.Second,
		Headers: map[string]string{"Authorization": "Bearer test", "Idempotency-Key": "override"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookDelivers(t *testing.T) {
	rec := newRecorder(t, status(http.StatusOK))
	a := sampleAlert()
	if err := newTestWebhook(t, rec.url()).Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests", len(reqs))
	}
	h := reqs[0].header
	checks := map[string]string{
		"Idempotency-Key": a.ID, "User-Agent": "sentinel/1.2.3",
		"Content-Type": "application/json", "Authorization": "Bearer test",
	}
	for k, want := range checks {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var got Alert
	if err := json.Unmarshal(reqs[0].body, &got); err != nil {
		t.Fatalf("body is not an alert: %v", err)
	}
	if got.ID != a.ID || got.Key != a.Key || got.Observed != a.Observed || !got.At.Equal(a.At) {
		t.Errorf("received %+v", got)
	}
}

func TestWebhookClassifiesAnswers(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		handler   func(http.ResponseWriter, *http.Request)
		wantErr   bool
		retryable bool
		wait      time.Duration
	}{
		{"200", status(200), false, false, 0},
		{"204", status(204), false, false, 0},
		{"400", status(400), true, false, 0},
		{"404", status(404), true, false, 0},
		{"429 seconds", status(429, "Retry-After", "7"), true, true, 7 * time.Second},
		{"429 date", status(429, "Retry-After", now.Add(30*time.Second).Format(http.TimeFormat)), true, true, 30 * time.Second},
		{"429 bogus", status(429, "Retry-After", "soon"), true, true, 0},
		{"500", status(500), true, true, 0},
		{"503 capped", status(503, "Retry-After", "999999"), true, true, maxRetryAfter},
		{"301", status(301, "Location", "http://127.0.0.1:1/elsewhere"), true, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, tc.handler)
			w := newTestWebhook(t, rec.url())
			w.p.now = func() time.Time { return now }
			err := w.Send(context.Background(), sampleAlert())
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if len(rec.requests()) != 1 {
				t.Errorf("%d requests, want 1 (redirects are not followed)", len(rec.requests()))
			}
			if err == nil {
				return
			}
			assertNoSecret(t, err)
			retry, wait := Retryable(err)
			if retry != tc.retryable || wait != tc.wait {
				t.Errorf("Retryable = %v, %v; want %v, %v", retry, wait, tc.retryable, tc.wait)
			}
		})
	}
}

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "SECRET") || strings.Contains(msg, "/services/") {
		t.Errorf("error reveals the webhook URL: %s", msg)
	}
}

func TestWebhookDeadEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + secretPath
	srv.Close()
	err := newTestWebhook(t, url).Send(context.Background(), sampleAlert())
	var se *SendError
	if !errors.As(err, &se) || !se.Retryable || se.Status != 0 {
		t.Fatalf("err = %#v, want a retryable SendError", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("cause lost: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error should name the host: %v", err)
	}
	assertNoSecret(t, err)
}

func TestWebhookTimeout(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	w := newTestWebhook(t, rec.url())
	w.p.timeout = 50 * time.Millisecond
	err := w.Send(context.Background(), sampleAlert())
	if retry, _ := Retryable(err); err == nil || !retry {
		t.Fatalf("err = %v, want retryable", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	assertNoSecret(t, err)
}

func TestNewWebhookRejects(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		headers map[string]string
	}{
		{"scheme", "ftp://example.invalid/SECRET", nil},
		{"no host", "http:///SECRET", nil},
		{"unparseable", "http://[::1/SECRET", nil},
		{"header newline", "http://127.0.0.1/SECRET", map[string]string{"X-A": "a\r\nX-B: b"}},
		{"header name", "http://127.0.0.1/SECRET", map[string]string{"Bad Name": "v"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewWebhook(WebhookOptions{URL: tc.url, Headers: tc.headers})
			if err == nil {
				t.Fatal("accepted")
			}
			assertNoSecret(t, err)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":   0,
		"0":  0,
		"-5": 0,
		" 3": 3 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		"Tue, 99 Foo": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://hooks.slack.com/services/T0/B0/abc":     "https://hooks.slack.com/…",
		"https://user:pw@example.invalid:8443/x?token=y": "https://example.invalid:8443/…",
		"::":        "(unparseable url)",
		"/relative": "(unparseable url)",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSignedWebhookVerifiesIndependently checks the signature with
// OpenSSL rather than with Go's crypto/hmac, which Sign itself uses: a
// receiver following docs/alerts.md must get the same answer. A header
// configured with the signature's name cannot replace it, and an unsigned
// webhook sends neither header.
func TestSignedWebhookVerifiesIndependently(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is missing: it is the independent check of the signature (Debian's openssl package)")
	}
	const secret = "7f3c9e1a5b2d8f4c6a0e9b3d1f5c7a2e"
	rec := newRecorder(t, status(http.StatusOK))
	stamp := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	w, err := NewWebhook(WebhookOptions{
		URL: rec.url(), Client: testClient(t), Timeout: 2 * time.Second, Secret: secret,
		Now:     func() time.Time { return stamp },
		Headers: map[string]string{SignatureHeader: "v1=forged"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	req := rec.requests()[0]
	if ts := req.header.Get(TimestampHeader); ts != strconv.FormatInt(stamp.Unix(), 10) {
		t.Fatalf("%s = %q, want %d", TimestampHeader, ts, stamp.Unix())
	}
	cmd := exec.Command(openssl, "dgst", "-sha256", "-hmac", secret, "-hex")
	cmd.Stdin = strings.NewReader(req.header.Get(TimestampHeader) + "." + string(req.body))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	fields := strings.Fields(string(out)) // "HMAC-SHA2-256(stdin)= <hex>"
	want := "v1=" + fields[len(fields)-1]
	if got := req.header.Get(SignatureHeader); got != want {
		t.Fatalf("%s = %q, openssl computes %q", SignatureHeader, got, want)
	}

	plain := newTestWebhook(t, rec.url())
	if err := plain.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if h := rec.requests()[1].header; h.Get(SignatureHeader) != "" || h.Get(TimestampHeader) != "" {
		t.Errorf("an unsigned webhook sent %s %q", SignatureHeader, h.Get(SignatureHeader))
	}
}
