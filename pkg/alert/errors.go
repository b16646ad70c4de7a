package alert

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SendError is the error a sink returns when it could not deliver an
// alert. It tells the Dispatcher whether trying again can help.
type SendError struct {
	// Sink is the name of the sink that failed.
	Sink string
	// Retryable is true when the same alert may succeed later: network
	// errors, timeouts, HTTP 429 and 5xx. Other failures, such as an HTTP
	// 4xx, will fail again however often they are tried.
	Retryable bool
	// RetryAfter is how long the receiver asked to wait before the next
	// try (HTTP Retry-After); zero when it did not say.
	RetryAfter time.Duration
	// Status is the HTTP status received, zero when there was no answer.
	Status int
	// Err is the cause. It never contains a webhook URL's path or query.
	Err error
}

// Error describes the failure without any secret part of a URL.
func (e *SendError) Error() string {
	kind := "permanent"
	if e.Retryable {
		kind = "retryable"
	}
	return fmt.Sprintf("sending alert to %s (%s): %v", e.Sink, kind, e.Err)
}

// Unwrap returns the cause.
func (e *SendError) Unwrap() error { return e.Err }

// Retryable reports whether err says that trying again may succeed, and
// how long the receiver asked to wait first. An error that is not a
// SendError counts as retryable: losing an alert costs more than sending
// one twice, and receivers dedupe on the alert id.
func Retryable(err error) (bool, time.Duration) {
	var se *SendError
	if errors.As(err, &se) {
		return se.Retryable, se.RetryAfter
	}
	return true, 0
}

// RedactURL returns the URL reduced to scheme://host/…, dropping the path,
// query and user information, which in webhook URLs such as Slack's are
// the secret.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparseable url)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// scrub removes every occurrence of the secret URL, and of its path, from
// a message that came from a library, so that no wording of the library's
// can leak it.
func scrub(msg, raw string) string {
	if raw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, raw, RedactURL(raw))
	u, err := url.Parse(raw)
	if err != nil {
		return msg
	}
	if p := u.EscapedPath(); len(p) > 1 {
		msg = strings.ReplaceAll(msg, p, "/…")
	}
	if u.RawQuery != "" {
		msg = strings.ReplaceAll(msg, u.RawQuery, "…")
	}
	return msg
}

// maxRetryAfter bounds how long a receiver can make a sink wait, so a
// bogus header cannot park a sink for days.
const maxRetryAfter = 15 * time.Minute

// parseRetryAfter reads a Retry-After header, given either as seconds or
// as an HTTP date, relative to now. It returns zero when the header is
// absent, unreadable or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
