package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
)

// WriterSink writes each alert as one line of JSON. It is safe for
// concurrent use: each alert is written with a single Write call under a
// lock, so lines never interleave.
type WriterSink struct {
	name string
	mu   sync.Mutex
	w    io.Writer
	c    io.Closer
}

// NewWriterSink returns a sink named name that writes JSON lines to w,
// such as os.Stdout. Closing the sink does not close w.
func NewWriterSink(name string, w io.Writer) *WriterSink {
	return &WriterSink{name: name, w: w}
}

// OpenFileSink opens path for appending, creating it with mode 0640 if it
// is missing, and returns a sink named "file:" followed by the path.
// Appending means several processes, or a restart, never overwrite
// earlier alerts.
func OpenFileSink(path string) (*WriterSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening alert file: %w", err)
	}
	return &WriterSink{name: "file:" + path, w: f, c: f}, nil
}

// Name returns the sink's name.
func (s *WriterSink) Name() string { return s.name }

// Send writes the alert as one JSON line. A write error is retryable, as
// a full disk may be freed; an alert that cannot be encoded is not.
func (s *WriterSink) Send(ctx context.Context, a *Alert) error {
	if err := ctx.Err(); err != nil {
		return &SendError{Sink: s.name, Retryable: true, Err: err}
	}
	line, err := json.Marshal(a)
	if err != nil {
		return &SendError{Sink: s.name, Err: fmt.Errorf("encoding alert: %w", err)}
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(line); err != nil {
		return &SendError{Sink: s.name, Retryable: true, Err: fmt.Errorf("writing alert: %w", err)}
	}
	return nil
}

// Close closes the file of a sink made by OpenFileSink; for other writer
// sinks it does nothing.
func (s *WriterSink) Close() error {
	if s.c == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.c.Close(); err != nil {
		return fmt.Errorf("closing alert file: %w", err)
	}
	return nil
}
