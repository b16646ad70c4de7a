package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// WebhookOptions configures a generic webhook sink.
type WebhookOptions struct {
	// Name names the sink in logs and statistics; default "webhook".
	Name string
	// URL receives the POST. It is treated as a secret: errors show only
	// its scheme and host.
	URL string
	// Headers are added to every request, e.g. Authorization. They cannot
	// replace Content-Type, User-Agent, Idempotency-Key or the signature's
	// headers.
	Headers map[string]string
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// Version goes into the User-Agent header, sentinel/<Version>;
	// default "dev".
	Version string
	// Client sends the requests; default a new http.Client. Its redirect
	// policy is replaced: redirects are not followed.
	Client *http.Client
	// Secret, when set, signs every request (see Sign): the receiver can
	// then tell sentinel's alerts from forged ones and refuse replays.
	Secret string
	// Now stamps signed requests; time.Now when nil.
	Now func() time.Time
}

// The headers of a signed webhook request.
const (
	TimestampHeader = "X-Sentinel-Timestamp"
	SignatureHeader = "X-Sentinel-Signature"
)

// Sign returns the signature of body sent at timestamp (Unix seconds):
// "v1=" and the hex HMAC-SHA256, keyed by secret, of the timestamp, a dot
// and the body. The timestamp is signed with the body so that a captured
// request cannot be replayed later with a fresh one; "v1" leaves room to
// change the scheme without breaking receivers.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", timestamp)
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Webhook posts each alert as JSON to a URL, with the alert id in an
// Idempotency-Key header so that a receiver can drop the duplicates that
// retries create.
type Webhook struct {
	p         *poster
	userAgent string
	secret    string
	now       func() time.Time
}

// NewWebhook checks the options and returns the sink.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	if o.Name == "" {
		o.Name = "webhook"
	}
	if err := checkHeaders(o.Headers); err != nil {
		return nil, err
	}
	h := make(http.Header, len(o.Headers))
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	p, err := newPoster(o.Name, o.URL, h, o.Timeout, o.Client)
	if err != nil {
		return nil, fmt.Errorf("configuring sink %s: %w", o.Name, err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Webhook{p: p, userAgent: userAgent(o.Version), secret: o.Secret, now: o.Now}, nil
}

func userAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "sentinel/" + version
}

// Name returns the sink's name.
func (w *Webhook) Name() string { return w.p.name }

// Send posts the alert. Errors are *SendError.
func (w *Webhook) Send(ctx context.Context, a *Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return &SendError{Sink: w.p.name, Err: fmt.Errorf("encoding alert: %w", err)}
	}
	h := http.Header{}
	h.Set("User-Agent", w.userAgent)
	h.Set("Idempotency-Key", a.ID)
	if w.secret != "" {
		// Stamped per attempt: a retry an hour later is not a replay.
		ts := w.now().Unix()
		h.Set(TimestampHeader, strconv.FormatInt(ts, 10))
		h.Set(SignatureHeader, Sign(w.secret, ts, body))
	}
	return w.p.post(ctx, body, h)
}
