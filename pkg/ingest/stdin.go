package ingest

import (
	"context"
	"io"
	"time"
)

// streamMaxBatch caps the lines of one batch read from a stream.
const streamMaxBatch = 4096

// ReadStream reads r to EOF and sends its lines in batches whose Source is
// name; their Pos is zero, as a stream cannot be resumed. Lines are sent as
// soon as a read returns them, so a slow pipe is not held back waiting for
// a full chunk. The last line is delivered even without a trailing newline.
//
// When ctx is done ReadStream returns ctx.Err(). A read in progress is
// interrupted when r supports read deadlines (a net.Conn, an *os.File the
// runtime polls); otherwise, as for a blocking stdin, ReadStream returns
// when that read does.
func ReadStream(ctx context.Context, name string, r io.Reader, out chan<- Batch) error {
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Now()) })
		defer stop()
	}
	sr := &streamReader{source: name, out: out, maxBatch: streamMaxBatch}
	err := sr.run(ctx, r)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
