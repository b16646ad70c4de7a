package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Format is how one source's lines are parsed.
type Format struct {
	Mapping ingest.Mapping
	Pull    []ingest.PullRule
}

// parsed is a batch after parsing: its records in line order, and the
// lines rejected, by reason.
type parsed struct {
	batch   ingest.Batch
	recs    []ingest.Record
	rejects Rejects
	// lineOf is, when the parsers index lines, the index in batch.Lines
	// of each record's line.
	lineOf []int32
}

// line returns the line record i was parsed from, nil when not indexed.
func (p *parsed) line(i int) []byte {
	if i >= len(p.lineOf) {
		return nil
	}
	return p.batch.Lines[p.lineOf[i]]
}

// parsers holds one worker's parsers, one per format, since a parser
// keeps scratch buffers and is not safe for concurrent use.
type parsers struct {
	formats  []Format
	formatOf func(source string) int
	byIndex  map[int]*ingest.Parser
	// indexLines makes parse note each record's line, for evidence.
	indexLines bool
}

func newParsers(formats []Format, formatOf func(string) int) *parsers {
	return &parsers{formats: formats, formatOf: formatOf, byIndex: make(map[int]*ingest.Parser)}
}

// parser returns the parser of source's format.
func (ps *parsers) parser(source string) (*ingest.Parser, error) {
	i := ps.formatOf(source)
	if p, ok := ps.byIndex[i]; ok {
		return p, nil
	}
	p, err := ingest.NewParser(ps.formats[i].Mapping, ps.formats[i].Pull)
	if err != nil {
		return nil, fmt.Errorf("building parser for %s: %w", source, err)
	}
	ps.byIndex[i] = p
	return p, nil
}

func (ps *parsers) parse(b ingest.Batch) (*parsed, error) {
	p, err := ps.parser(b.Source)
	if err != nil {
		return nil, err
	}
	out := &parsed{batch: b, recs: make([]ingest.Record, 0, len(b.Lines)), rejects: make(Rejects)}
	if ps.indexLines {
		out.lineOf = make([]int32, 0, len(b.Lines))
	}
	var rec ingest.Record
	for i, line := range b.Lines {
		if err := p.Parse(line, &rec); err != nil {
			out.rejects[rejectReason(err)]++
			continue
		}
		out.recs = append(out.recs, rec)
		if ps.indexLines {
			out.lineOf = append(out.lineOf, int32(i))
		}
	}
	return out, nil
}

func rejectReason(err error) string {
	var le *ingest.LineError
	if errors.As(err, &le) {
		return le.Reason
	}
	return "other"
}

// SourceParser parses batches of followed files as Run does: each in the
// format of the first source whose paths match the batch's source, with
// that format's mapping and pull rules. It is for readers other than the
// engine (sentinel ship), so that they read each line exactly as a run
// would. It is not safe for concurrent use.
type SourceParser struct{ ps *parsers }

// NewSourceParser returns a parser for the batches of sources.
func NewSourceParser(sources []Source) *SourceParser {
	fi := newFormatIndex(sources)
	return &SourceParser{ps: newParsers(sourceFormats(sources), fi.of)}
}

// Parse returns the records of b's lines in order, and the lines
// rejected by reason (ingest.LineError's Reason). An error means the
// source's format could not be built, and no line was read.
func (sp *SourceParser) Parse(b ingest.Batch) ([]ingest.Record, Rejects, error) {
	p, err := sp.ps.parse(b)
	if err != nil {
		return nil, nil, err
	}
	return p.recs, p.rejects, nil
}

// parseOrdered parses batches from in on several workers and delivers
// them on the returned channel in the order they were read, which keeps
// replay deterministic while using every core. The channel is closed when
// in is closed and drained, or when ctx is done.
func parseOrdered(ctx context.Context, in <-chan ingest.Batch, workers int, newWorker func() *parsers) (<-chan *parsed, <-chan error) {
	type job struct {
		batch ingest.Batch
		slot  chan *parsed
	}
	jobs := make(chan job, workers)
	order := make(chan chan *parsed, 2*workers)
	errc := make(chan error, workers+1)

	go func() {
		defer close(jobs)
		defer close(order)
		for b := range in {
			slot := make(chan *parsed, 1)
			select {
			case order <- slot:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{b, slot}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		go func() {
			ps := newWorker()
			for j := range jobs {
				p, err := ps.parse(j.batch)
				if err != nil {
					select {
					case errc <- err:
					default: // the first error is enough to report
					}
					p = &parsed{batch: j.batch, rejects: Rejects{"parser": int64(len(j.batch.Lines))}}
				}
				j.slot <- p
			}
		}()
	}
	out := make(chan *parsed, workers)
	go func() {
		defer close(out)
		for slot := range order {
			var p *parsed
			select {
			case p = <-slot:
			case <-ctx.Done():
				return
			}
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errc
}

// formatIndex maps a source name to the index of the format whose path
// pattern matches it, caching the answer.
type formatIndex struct {
	patterns [][]string
	mu       sync.Mutex
	cache    map[string]int
}

func newFormatIndex(sources []Source) *formatIndex {
	fi := &formatIndex{cache: make(map[string]int)}
	for _, s := range sources {
		fi.patterns = append(fi.patterns, s.Paths)
	}
	return fi
}

func (fi *formatIndex) of(source string) int {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if i, ok := fi.cache[source]; ok {
		return i
	}
	idx := 0
	for i, pats := range fi.patterns {
		if matchAny(pats, source) {
			idx = i
			break
		}
	}
	fi.cache[source] = idx
	return idx
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if p == name {
			return true
		}
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return false
}
