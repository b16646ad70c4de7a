package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	// readChunkSize is how many bytes one read of a historical file or a
	// stream asks for. Each chunk is handed whole to the batches cut from
	// it, so a line costs no allocation of its own.
	readChunkSize = 1 << 20
	// readFilesMaxBatch caps the lines of one historical batch; a 1 MiB
	// chunk of 200-byte lines holds about 5,000.
	readFilesMaxBatch = 16384
	// maxLineBytes is the longest line kept. A longer one is dropped and
	// counted in Batch.Gap, so that a file without newlines cannot make a
	// reader buffer without bound.
	maxLineBytes = 1 << 20
)

// ReadFiles reads historical files to their end, one after the other in
// the order given, and sends their lines in large batches. A file is read
// as gzip when it starts with gzip's magic bytes, whatever its name. The
// last line of a file is delivered even without a trailing newline.
//
// Batches of a plain file carry its Position; those of a gzip file carry
// a zero Position, as an offset into decompressed data cannot be resumed.
// ReadFiles returns ctx.Err() when ctx is done before the end.
func ReadFiles(ctx context.Context, paths []string, out chan<- Batch) error {
	for _, path := range paths {
		if err := readHistoryFile(ctx, path, out); err != nil {
			return err
		}
	}
	return nil
}

func readHistoryFile(ctx context.Context, path string, out chan<- Batch) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening history file: %w", err)
	}
	defer f.Close()
	cr := &countingReader{r: f}
	sr := &streamReader{source: path, out: out, fill: true, maxBatch: readFilesMaxBatch, consumed: &cr.n}
	gz, err := hasGzipMagic(f)
	if err != nil {
		return fmt.Errorf("reading history file %s: %w", path, err)
	}
	if !gz {
		id, err := IdentifyFile(f)
		if err != nil {
			return err
		}
		sr.pos = &Position{Path: path, ID: id}
		return sr.run(ctx, cr)
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(cr, 1<<16))
	if err != nil {
		return fmt.Errorf("opening gzip history file %s: %w", path, err)
	}
	defer zr.Close()
	return sr.run(ctx, zr)
}

// hasGzipMagic says whether f starts with gzip's magic bytes.
func hasGzipMagic(f *os.File) (bool, error) {
	var magic [2]byte
	n, err := f.ReadAt(magic[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b, nil
}

// streamReader cuts a reader's bytes into batches of lines until EOF.
type streamReader struct {
	source   string
	out      chan<- Batch
	fill     bool      // fill each chunk before cutting it (files), or cut what each Read returns (pipes)
	maxBatch int       // lines per batch
	pos      *Position // nil for sources without positions
	carry    lineCarry
	offset   int64  // stream offset of the carried partial line
	gap      int64  // bytes dropped, reported with the next batch
	consumed *int64 // bytes of the file read so far, nil for streams
}

// countingReader counts the bytes read from a file, before any
// decompression, which is what a replay's progress compares with the
// files' sizes.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (sr *streamReader) run(ctx context.Context, r io.Reader) error {
	for {
		data := sr.carry.chunk(readChunkSize)
		n, err := sr.read(r, data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err := sr.cut(ctx, data); err != nil {
			return err
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return sr.finish(ctx)
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", sr.source, err)
		}
	}
}

func (sr *streamReader) read(r io.Reader, p []byte) (int, error) {
	if sr.fill {
		return io.ReadFull(r, p)
	}
	return r.Read(p)
}

func (sr *streamReader) cut(ctx context.Context, data []byte) error {
	base := sr.offset
	err := sr.carry.feed(data, sr.maxBatch, func(lines [][]byte, end int, gap int64) error {
		sr.offset = base + int64(end)
		sr.gap += gap
		return sr.send(ctx, lines)
	})
	return err
}

// finish delivers the last line when the stream does not end with a
// newline, and any gap not yet reported.
func (sr *streamReader) finish(ctx context.Context) error {
	line := sr.carry.takeLast()
	sr.offset += int64(len(sr.carry.partial))
	sr.carry.partial = nil
	if line != nil {
		return sr.sendForce(ctx, [][]byte{line})
	}
	if sr.gap > 0 {
		return sr.sendForce(ctx, nil)
	}
	return nil
}

func (sr *streamReader) send(ctx context.Context, lines [][]byte) error {
	if len(lines) == 0 {
		return nil
	}
	return sr.sendForce(ctx, lines)
}

func (sr *streamReader) sendForce(ctx context.Context, lines [][]byte) error {
	b := Batch{Source: sr.source, Lines: lines, Gap: sr.gap}
	if sr.consumed != nil {
		b.Read = *sr.consumed
	}
	if sr.pos != nil {
		b.Pos = *sr.pos
		b.Pos.Offset = sr.offset
	}
	if err := sendLineBatch(ctx, sr.out, b); err != nil {
		return err
	}
	sr.gap = 0
	return nil
}

// sendLineBatch sends b unless ctx is done first.
func sendLineBatch(ctx context.Context, out chan<- Batch, b Batch) error {
	select {
	case out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lineCarry is what a chunked line reader carries from one chunk to the
// next: the incomplete last line, or the fact that it is skipping the
// rest of an over-long line.
type lineCarry struct {
	partial  []byte
	skipping bool
}

// chunk returns a new buffer that starts with the carried partial line and
// has room for n more bytes. The buffer is never reused: the batches cut
// from it own it.
func (c *lineCarry) chunk(n int) []byte {
	buf := make([]byte, len(c.partial), len(c.partial)+n)
	copy(buf, c.partial)
	return buf
}

// feed cuts data, which starts with the carried partial line, into runs of
// at most max complete lines, and calls emit for each run with its lines,
// the offset in data just after its last newline, and the bytes of
// over-long lines dropped before it. emit is called with no lines only to
// report dropped bytes. The bytes after the last newline are carried.
func (c *lineCarry) feed(data []byte, max int, emit func(lines [][]byte, end int, gap int64) error) error {
	start := c.skipLong(data)
	gap := int64(start)
	remaining := bytes.Count(data[start:], []byte{'\n'})
	for remaining > 0 {
		lines, used := cutLineRun(data[start:], make([][]byte, 0, min(remaining, max)), max)
		start += used
		remaining -= len(lines)
		if err := emit(lines, start, gap); err != nil {
			return err
		}
		gap = 0
	}
	c.partial = data[start:]
	if len(c.partial) > maxLineBytes {
		gap += int64(len(c.partial))
		start = len(data)
		c.partial = nil
		c.skipping = true
	}
	if gap == 0 {
		return nil
	}
	return emit(nil, start, gap)
}

// skipLong returns how many bytes at the start of data belong to an
// over-long line being skipped.
func (c *lineCarry) skipLong(data []byte) int {
	if !c.skipping {
		return 0
	}
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return len(data)
	}
	c.skipping = false
	return i + 1
}

// takeLast returns the carried partial line as a final line, for a source
// that ended without a newline; nil when there is none.
func (c *lineCarry) takeLast() []byte {
	p := c.partial
	if len(p) == 0 || c.skipping {
		return nil
	}
	line := bytes.TrimSuffix(p, []byte{'\r'})
	return line[:len(line):len(line)]
}

// cutLineRun appends to lines at most max complete lines from the start of
// data, without their "\n" or "\r\n", and returns them with the number of
// bytes they span. Each line is capped so that appending to one cannot
// overwrite the next.
func cutLineRun(data []byte, lines [][]byte, max int) ([][]byte, int) {
	used := 0
	for len(lines) < max {
		i := bytes.IndexByte(data[used:], '\n')
		if i < 0 {
			break
		}
		end := used + i
		next := end + 1
		if end > used && data[end-1] == '\r' {
			end--
		}
		lines = append(lines, data[used:end:end])
		used = next
	}
	return lines, used
}
