package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	// replace Content-Type, User-Agent or Idempotency-Key.
	Headers map[string]string
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// Version goes into the User-Agent header, sentinel/<Version>;
	// default "dev".
	Version string
	// Client sends the requests; default a new http.Client. Its redirect
	// policy is replaced: redirects are not followed.
	Client *http.Client
}

// Webhook posts each alert as JSON to a URL, with the alert id in an
// Idempotency-Key header so that a receiver can drop the duplicates that
// retries create.
type Webhook struct {
	p         *poster
	userAgent string
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
	return &Webhook{p: p, userAgent: userAgent(o.Version)}, nil
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
	return w.p.post(ctx, body, h)
}
