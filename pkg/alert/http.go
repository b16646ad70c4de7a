package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// DefaultTimeout bounds one HTTP delivery attempt when none is configured.
const DefaultTimeout = 10 * time.Second

// maxErrorBody is how much of a failed response's body an error quotes.
const maxErrorBody = 200

// poster sends JSON bodies to one secret URL and classifies the outcome.
type poster struct {
	name    string
	url     string
	headers http.Header
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

func newPoster(name, rawURL string, headers http.Header,
	timeout time.Duration, client *http.Client) (*poster, error) {
	if err := checkURL(rawURL); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if client == nil {
		client = &http.Client{}
	}
	// A redirect would resend the alert, secrets in headers included, to
	// a URL nobody configured; an alert endpoint that moved is a
	// configuration error to fix, reported as a permanent failure.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}
	return &poster{
		name: name, url: rawURL, headers: headers,
		timeout: timeout, client: &c, now: time.Now,
	}, nil
}

// checkURL accepts absolute http and https URLs with a host. Its errors
// show the URL redacted.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("parsing webhook url: not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("checking webhook url %s: scheme must be http or https", RedactURL(raw))
	}
	if u.Host == "" {
		return errors.New("checking webhook url: host is missing")
	}
	return nil
}

// checkHeaders rejects header names and values that net/http would refuse
// at every send, so the mistake shows at start-up rather than as a
// permanent failure of every alert.
func checkHeaders(h map[string]string) error {
	for k, v := range h {
		if k == "" || strings.IndexFunc(k, notTokenRune) >= 0 {
			return fmt.Errorf("checking webhook header %q: invalid name", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("checking webhook header %q: value contains a line break or NUL", k)
		}
	}
	return nil
}

func notTokenRune(r rune) bool {
	if r > unicode.MaxASCII || r <= ' ' || r == 0x7f {
		return true
	}
	return strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
}

// post sends body and returns nil on a 2xx answer, a *SendError otherwise.
// postJSON posts v encoded as JSON with userAgent; what names it in the
// error when it cannot be encoded, which no retry mends.
func (p *poster) postJSON(ctx context.Context, v any, userAgent, what string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return &SendError{Sink: p.name, Err: fmt.Errorf("encoding %s: %w", what, err)}
	}
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	return p.post(ctx, body, h)
}

func (p *poster) post(ctx context.Context, body []byte, extra http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return p.fail(SendError{}, err, "building request: %s", err)
	}
	for k, vs := range p.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range extra {
		req.Header[k] = vs
	}
	resp, err := p.client.Do(req)
	if err != nil {
		cause := transportCause(err)
		return p.fail(SendError{Retryable: true}, cause,
			"posting to %s: %s", RedactURL(p.url), cause)
	}
	defer resp.Body.Close()
	return p.classify(resp)
}

// transportCause drops the *url.Error wrapper, whose message repeats the
// full URL, and keeps what went wrong.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (p *poster) classify(resp *http.Response) error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	if code >= 300 && code < 400 {
		return p.fail(SendError{Status: code}, nil,
			"posting to %s: answered %d redirect; configure the final URL",
			RedactURL(p.url), code)
	}
	se := SendError{
		Status:     code,
		Retryable:  code == http.StatusTooManyRequests || code >= 500,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), p.now()),
	}
	text := strings.TrimSpace(clip(string(snippet), maxErrorBody))
	return p.fail(se, nil, "posting to %s: answered %d %q", RedactURL(p.url), code, text)
}

// fail completes se with the sink's name and a message scrubbed of the
// URL. The cause stays reachable through errors.Is and errors.As, but its
// own text is never printed as is.
func (p *poster) fail(se SendError, cause error, format string, args ...any) error {
	msg := scrub(fmt.Sprintf(format, args...), p.url)
	se.Sink = p.name
	se.Err = &redactedError{msg: msg, cause: cause}
	return &se
}

// redactedError prints a scrubbed message and unwraps to the original
// cause, whose own message may hold the URL.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
