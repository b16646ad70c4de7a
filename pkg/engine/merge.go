package engine

import (
	"container/heap"
	"context"
	"io"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// replayMerged replays several files at once, applying their records in
// event-time order across files. Reading them one after another would let
// the first carry the watermark past the others' lines, which would then
// all be late: two gateways' logs of the same hours are read side by
// side. A file is opened only once the merge reaches its first event, so
// a month of rotated files is not all open at once.
func replayMerged(ctx context.Context, files []string, first map[string]time.Time, stdin io.Reader, newWorker func() *parsers, c *core) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := &merger{ctx: ctx, core: c, stdin: stdin, newWorker: newWorker}
	pending := files
	for {
		for len(pending) > 0 && (m.h.Len() == 0 || !first[pending[0]].After(m.h.top().time())) {
			m.start(len(m.all), pending[0])
			pending = pending[1:]
		}
		if m.h.Len() == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		m.applyNext()
	}
	return m.firstErr()
}

type merger struct {
	ctx       context.Context
	core      *core
	stdin     io.Reader
	newWorker func() *parsers
	h         streamHeap
	all       []*stream
}

// stream is one file's parsed batches and the position in the current one.
type stream struct {
	idx  int // order among the files, which breaks ties in time
	out  <-chan *parsed
	errc chan error
	cur  *parsed
	i    int
	src  *SourceStats
	prev time.Time // time of the last record taken from this file
}

func (s *stream) time() time.Time { return s.cur.recs[s.i].Time }

// start reads and parses one file on goroutines of its own, so that the
// files being merged are parsed in parallel.
func (m *merger) start(idx int, path string) {
	batches := make(chan ingest.Batch, 2)
	out := make(chan *parsed, 2)
	s := &stream{idx: idx, out: out, errc: make(chan error, 1)}
	m.all = append(m.all, s)
	go func() {
		defer close(batches)
		var err error
		if path == "-" {
			err = ingest.ReadStream(m.ctx, "-", m.stdin, batches)
		} else {
			err = ingest.ReadFiles(m.ctx, []string{path}, batches)
		}
		s.report(err)
	}()
	go func() {
		defer close(out)
		ps := m.newWorker()
		for b := range batches {
			p, err := ps.parse(b)
			if err != nil {
				s.report(err)
				p = &parsed{batch: b, rejects: Rejects{"parser": int64(len(b.Lines))}}
			}
			select {
			case out <- p:
			case <-m.ctx.Done():
				return
			}
		}
	}()
	if m.fill(s) {
		heap.Push(&m.h, s)
	}
}

func (s *stream) report(err error) {
	if err == nil {
		return
	}
	select {
	case s.errc <- err:
	default: // the first error is enough
	}
}

// fill makes s point at a record, taking batches as needed and accounting
// for each; it reports false when the file is done.
func (m *merger) fill(s *stream) bool {
	for {
		for s.cur == nil || s.i >= len(s.cur.recs) {
			p, ok := <-s.out
			if !ok {
				return false
			}
			s.src = m.core.account(p)
			m.core.checkRejects(p)
			s.cur, s.i = p, 0
		}
		if !s.outlier() {
			return true
		}
		s.src.Rejected["time_outlier"]++
		s.i++
	}
}

// outlier reports whether the current record jumps far ahead of the
// file's previous one while most of the records after it fall back: one
// line dated 2099 must not order its whole file after every other file
// of the merge. The records looked at are those left in the batch.
func (s *stream) outlier() bool {
	t := s.cur.recs[s.i].Time
	if s.prev.IsZero() || t.Sub(s.prev) <= maxJump {
		return false
	}
	next := s.cur.recs[s.i+1 : min(s.i+1+jumpConfirm, len(s.cur.recs))]
	back := 0
	for _, r := range next {
		if r.Time.Sub(s.prev) <= maxJump {
			back++
		}
	}
	return back > 0 && 2*back >= len(next)
}

// applyNext applies the earliest record over the streams.
func (m *merger) applyNext() {
	s := m.h[0]
	s.prev = s.cur.recs[s.i].Time
	m.core.applyRecord(&s.cur.recs[s.i], s.cur.batch.Source, s.src)
	s.i++
	if m.fill(s) {
		heap.Fix(&m.h, 0)
		return
	}
	heap.Pop(&m.h)
}

func (m *merger) firstErr() error {
	for _, s := range m.all {
		select {
		case err := <-s.errc:
			return err
		default:
		}
	}
	return nil
}

// streamHeap orders streams by the time of their next record, then by
// file order, so that the merge is the same on every run.
type streamHeap []*stream

func (h streamHeap) Len() int { return len(h) }
func (h streamHeap) Less(i, j int) bool {
	ti, tj := h[i].time(), h[j].time()
	if !ti.Equal(tj) {
		return ti.Before(tj)
	}
	return h[i].idx < h[j].idx
}
func (h streamHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)   { *h = append(*h, x.(*stream)) }
func (h streamHeap) top() *stream  { return h[0] }
func (h *streamHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}
