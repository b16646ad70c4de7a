package engine

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Source is a set of files (or standard input, "-") read with one format.
type Source struct {
	Paths  []string // files or globs
	Format Format
}

// ReplayOptions configure a replay of historical logs.
type ReplayOptions struct {
	Options
	Sources []Source
	// Stdin is read when a source names "-".
	Stdin io.Reader
	// Workers parse in parallel; 0 means one per CPU.
	Workers int
	// Observe, when set, receives every closed token and address window
	// with its baseline, from the engine's goroutine, before the
	// detector learns from it. The Observation is valid only during the
	// call. It costs a baseline computation per window: leave it nil
	// unless a report needs the series.
	Observe func(*Observation)
	// Progress, when set, is called after each batch of lines is read
	// (some thousands of lines), from the engine's goroutine.
	Progress func(Progress)
}

// Replay reads historical files through the features and detectors in
// event time and passes every alert, in order, to emit. Files are read one
// after another, ordered by the event time of their first line, so that
// rotated files (access.log.2.gz, access.log.1, access.log) are replayed
// oldest first whatever their names. The same input always gives the same
// alerts.
func Replay(ctx context.Context, opts ReplayOptions, emit func(*alert.Alert)) (*Stats, error) {
	c := newCore(opts.Options, emit)
	c.observe = opts.Observe
	if _, err := replayInto(ctx, opts, c); err != nil {
		return c.stats, err
	}
	c.flush()
	return c.stats, nil
}

// replayInto reads the sources to their end through c, leaving the last
// windows open.
func replayInto(ctx context.Context, opts ReplayOptions, c *core) (*Stats, error) {
	files, err := expandSources(opts.Sources)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("nothing to replay: no file and no standard input named")
	}
	c.progress = newProgressTracker(opts.Progress, files)
	fi := newFormatIndex(opts.Sources)
	formats := sourceFormats(opts.Sources)
	first, err := orderByFirstEvent(files, newParsers(formats, fi.of))
	if err != nil {
		return nil, err
	}
	newWorker := func() *parsers { return newParsers(formats, fi.of) }
	stdin := opts.Stdin
	if stdin == nil {
		stdin = os.Stdin
	}
	if len(files) > 1 {
		return c.stats, replayMerged(ctx, files, first, stdin, newWorker, c)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan ingest.Batch, 4)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- readOne(ctx, files[0], stdin, batches)
	}()

	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	results, parseErr := parseOrdered(ctx, batches, workers, newWorker)
	for p := range results {
		c.applyParsed(p)
	}
	if err := <-readErr; err != nil {
		return c.stats, err
	}
	select {
	case err := <-parseErr:
		return c.stats, err
	default:
	}
	return c.stats, ctx.Err()
}

func sourceFormats(sources []Source) []Format {
	formats := make([]Format, len(sources))
	for i, s := range sources {
		formats[i] = s.Format
	}
	return formats
}

// readOne sends the batches of the replay's only input, a file or "-".
func readOne(ctx context.Context, path string, stdin io.Reader, out chan<- ingest.Batch) error {
	if path == "-" {
		return ingest.ReadStream(ctx, "-", stdin, out)
	}
	return ingest.ReadFiles(ctx, []string{path}, out)
}

// expandSources resolves globs into a list of files, keeping "-".
func expandSources(sources []Source) ([]string, error) {
	var files []string
	for _, s := range sources {
		for _, p := range s.Paths {
			if p == "-" {
				files = append(files, p)
				continue
			}
			matches, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("expanding %s: %w", p, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("reading %s: no such file", p)
			}
			files = append(files, matches...)
		}
	}
	return files, nil
}

// orderByFirstEvent sorts files by the event time of their first
// parsable line, and returns those times; standard input stays last.
func orderByFirstEvent(files []string, ps *parsers) (map[string]time.Time, error) {
	first := make(map[string]time.Time, len(files))
	for _, f := range files {
		if f == "-" {
			continue
		}
		t, err := firstEvent(f, ps)
		if err != nil {
			return nil, err
		}
		first[f] = t
	}
	slices.SortStableFunc(files, func(a, b string) int {
		if a == "-" || b == "-" {
			return boolCmp(a == "-", b == "-")
		}
		return first[a].Compare(first[b])
	})
	return first, nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// firstEvent returns the time of the first of a file's first thousand
// lines that parses; the zero time when none does.
func firstEvent(path string, ps *parsers) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	r, err := maybeGunzip(bufio.NewReader(f))
	if err != nil {
		return time.Time{}, fmt.Errorf("reading %s: %w", path, err)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var lines [][]byte
	for len(lines) < 1000 && sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	p, err := ps.parse(ingest.Batch{Source: path, Lines: lines})
	if err != nil || len(p.recs) == 0 {
		return time.Time{}, err
	}
	return p.recs[0].Time, nil
}

func maybeGunzip(r *bufio.Reader) (io.Reader, error) {
	magic, _ := r.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(r)
	}
	return r, nil
}
