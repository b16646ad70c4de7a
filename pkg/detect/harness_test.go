package detect

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

var t0 = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

const lateness = 30 * time.Second

// pipeline drives an Aggregator and a Detector the way the engine does:
// the watermark trails the latest event time by the lateness, every
// record is peeked at, every closed window judged.
type pipeline struct {
	agg   *features.Aggregator
	det   *Detector
	maxT  time.Time
	found []Finding
	// resolved are the back-to-normal notices, kept apart so that tests
	// counting alerts count only those; all has both, in order.
	resolved []Finding
	all      []Finding
}

// keep appends the alerts of fs to p.found and its notices to p.resolved.
func (p *pipeline) keep(fs []Finding) {
	p.all = append(p.all, fs...)
	for _, f := range fs {
		if f.Resolved {
			p.resolved = append(p.resolved, f)
			continue
		}
		p.found = append(p.found, f)
	}
}

func newPipeline(o Options) *pipeline {
	return &pipeline{
		agg: features.New(features.Options{Lateness: lateness}),
		det: New(o),
	}
}

// add applies one record and returns the findings it caused.
func (p *pipeline) add(r *ingest.Record) []Finding {
	n := len(p.found)
	if r.Time.After(p.maxT) {
		p.maxT = r.Time
		p.advance(r.Time.Add(-lateness))
	}
	tok, ip, late := p.agg.Add(r)
	if !late {
		p.keep(p.det.Peek(tok))
		p.keep(p.det.Peek(ip))
	}
	return p.found[n:]
}

func (p *pipeline) advance(wm time.Time) {
	p.agg.Advance(wm, func(w *features.Window) {
		p.keep(p.det.Close(w))
	})
}

// feed applies records and returns the findings they caused.
func (p *pipeline) feed(rs []*ingest.Record) []Finding {
	n := len(p.found)
	for _, r := range rs {
		p.add(r)
	}
	return p.found[n:]
}

// flush closes every open window.
func (p *pipeline) flush() []Finding {
	n := len(p.found)
	p.advance(p.maxT.Add(time.Hour))
	return p.found[n:]
}

// checkpoint is what the engine saves: both states and its clock.
type checkpoint struct {
	Agg  features.AggState
	Det  DetState
	MaxT time.Time
}

// restart saves p's state through gob and returns a fresh pipeline
// restored from it.
func (p *pipeline) restart(t *testing.T, o Options) *pipeline {
	t.Helper()
	var buf bytes.Buffer
	cp := checkpoint{p.agg.Snapshot(), p.det.Snapshot(), p.maxT}
	if err := gob.NewEncoder(&buf).Encode(cp); err != nil {
		t.Fatalf("encoding checkpoint: %v", err)
	}
	var back checkpoint
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatalf("decoding checkpoint: %v", err)
	}
	q := newPipeline(o)
	if err := q.agg.Restore(back.Agg); err != nil {
		t.Fatalf("restoring aggregator: %v", err)
	}
	if err := q.det.Restore(back.Det); err != nil {
		t.Fatalf("restoring detector: %v", err)
	}
	q.maxT = back.MaxT
	return q
}

// burst is traffic of one token from one address within one minute.
type burst struct {
	fp, ip string
	msgs   int // messages in the minute
	per    int // messages per request; 0 means 1
	status int // 0 means 200
	reqs   int // requests without messages, on top
}

// minute turns bursts into records spread evenly over minute m, merged
// in time order (ties in the order given).
func minute(m int, bursts ...burst) []*ingest.Record {
	start := t0.Add(time.Duration(m) * time.Minute)
	var rs []*ingest.Record
	for _, b := range bursts {
		per := max(b.per, 1)
		n := (b.msgs+per-1)/per + b.reqs
		left := b.msgs
		for i := range n {
			msgs := min(per, left)
			left -= msgs
			at := start.Add(time.Duration(i) * time.Minute / time.Duration(n+1))
			rs = append(rs, record(at, b.fp, b.ip, b.status, msgs))
		}
	}
	slices.SortStableFunc(rs, func(a, b *ingest.Record) int { return a.Time.Compare(b.Time) })
	return rs
}

func record(at time.Time, fp, ip string, status, msgs int) *ingest.Record {
	if status == 0 {
		status = 200
	}
	r := &ingest.Record{
		Time: at, Status: status, Method: "GET", Path: "/messages",
		Messages: int64(msgs), Bytes: 2048 * int64(msgs), Weight: 1,
	}
	if fp != "" {
		r.Cred = ingest.Credential{FP: fp, Hint: fp[:4]}
	}
	if ip != "" {
		r.IP = netip.MustParseAddr(ip)
	}
	return r
}

// poisson draws from a Poisson distribution (Knuth), fine for small means.
func poisson(rng *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func fp(name string) string { return fmt.Sprintf("%012s", name) }

// only returns the findings about key.
func only(fs []Finding, key string) []Finding {
	return filter(fs, func(f *Finding) bool { return f.Key == key })
}

// byDetector returns the findings of one detector.
func byDetector(fs []Finding, name string) []Finding {
	return filter(fs, func(f *Finding) bool { return f.Detector == name })
}

func filter(fs []Finding, keep func(*Finding) bool) []Finding {
	var out []Finding
	for i := range fs {
		if keep(&fs[i]) {
			out = append(out, fs[i])
		}
	}
	return out
}

func describe(fs []Finding) string {
	var b bytes.Buffer
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s %s %s obs=%.0f thr=%.0f early=%v at=%s",
			f.Kind, f.Key, f.Detector, f.Feature, f.Observed, f.Threshold, f.Early, f.At.Format(time.DateTime))
	}
	return b.String()
}
