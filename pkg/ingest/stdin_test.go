package ingest

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// TestReadStream reads a stream delivered one byte per read, so every
// line is cut across reads; the lines and the last unterminated one come
// out whole, with a zero position.
func TestReadStream(t *testing.T) {
	r := iotest.OneByteReader(strings.NewReader("one\ntwo\r\nthree"))
	out := make(chan Batch)
	done := make(chan error, 1)
	go func() { done <- ReadStream(context.Background(), "-", r, out) }()
	var got []string
	for {
		select {
		case b := <-out:
			if b.Source != "-" || b.Pos != (Position{}) {
				t.Fatalf("batch source %q pos %+v, want - and zero", b.Source, b.Pos)
			}
			got = append(got, srcBatchLines([]Batch{b})...)
			continue
		case err := <-done:
			srcMust(t, err)
		}
		break
	}
	if fmt.Sprint(got) != "[one two three]" {
		t.Fatalf("got %q", got)
	}
}

// TestReadStreamCancelInterruptsRead cancels ReadStream while it waits
// on a pipe with no writer activity: the pending read is interrupted.
func TestReadStreamCancelInterruptsRead(t *testing.T) {
	pr, pw, err := os.Pipe()
	srcMust(t, err)
	defer pw.Close()
	defer pr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch)
	done := make(chan error, 1)
	go func() { done <- ReadStream(ctx, "-", pr, out) }()
	_, err = io.WriteString(pw, "first\n")
	srcMust(t, err)
	<-out // ReadStream is now blocked reading the pipe
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("ReadStream returned nil after cancel, want ctx error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadStream did not return after cancel")
	}
}
