package detect

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/features"
)

// warmDetector returns a detector that has learned n tokens for two hours.
func warmDetector(n int) (*Detector, []string) {
	d := New(Options{})
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%012x", i)
	}
	for m := range 120 {
		for _, k := range keys {
			d.Close(window(features.Token, k, m, float64(10+m%7)))
		}
	}
	return d, keys
}

// BenchmarkPeek is the per-record cost: an open window of a ready token
// whose count grows but stays under its threshold.
func BenchmarkPeek(b *testing.B) {
	d, keys := warmDetector(1000)
	ws := make([]*features.Window, len(keys))
	for i, k := range keys {
		ws[i] = window(features.Token, k, 120, 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := ws[i%len(ws)]
		w.V[features.Messages] = float64(i/len(ws)) * 1e-9
		if len(d.Peek(w)) != 0 {
			b.Fatal("unexpected finding")
		}
	}
}

// BenchmarkClose judges and learns one window of one of 10,000 ready
// tokens per iteration, minute after minute.
func BenchmarkClose(b *testing.B) {
	d, keys := warmDetector(10000)
	ws := make([]*features.Window, len(keys))
	for i, k := range keys {
		ws[i] = window(features.Token, k, 0, 12)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := 120 + i/len(keys)
		w := ws[i%len(keys)]
		if i%len(keys) == 0 || w.Start.Before(t0) {
			b.StopTimer()
			for j, k := range keys {
				ws[j] = window(features.Token, k, m, 12)
			}
			b.StartTimer()
			w = ws[i%len(keys)]
		}
		d.Close(w)
	}
}

// BenchmarkEntityMemory reports the heap held per remembered entity
// (B/token, B/address: HeapAlloc after GC, before and after) at 100,000
// and 1,000,000 tokens, then addresses, each after a window has been
// judged and learned (so with its cached thresholds), without and with
// the isolation forest, which keeps a profile per token, and with the
// budget detector, which keeps a BudgetState per token. The map grows
// by doubling, so the figure at 1M depends on where 1M falls between
// two sizes.
func BenchmarkEntityMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		for _, c := range []struct {
			kind           features.Kind
			forest, budget bool
		}{{features.Token, false, false}, {features.IP, false, false}, {features.Token, true, false}, {features.Token, false, true}} {
			kind, opts, name := c.kind, Options{MaxEntities: n}, c.kind.String()
			unit := "B/token"
			if kind == features.IP {
				unit = "B/address"
			}
			if c.forest {
				opts.Forest.Reservoir, name = 1, name+"/forest"
			}
			if c.budget {
				opts.BudgetOn, name = true, name+"/budget"
			}
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				var perEntity float64
				for range b.N {
					perEntity = entityBytes(kind, opts, n)
				}
				b.ReportMetric(perEntity, unit)
			})
		}
	}
}

// entityBytes returns the heap per entity of a detector that learned one
// window of each of n entities of kind.
func entityBytes(kind features.Kind, opts Options, n int) float64 {
	keys := make([]string, n)
	for i := range keys {
		if kind == features.IP {
			keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
			continue
		}
		keys[i] = fmt.Sprintf("%012x", i)
	}
	before := heap()
	d := New(opts)
	w := window(kind, "", 0, 10)
	for i, k := range keys {
		start := t0.Add(time.Duration(i/50_000) * time.Minute)
		w.Key, w.Start, w.End, w.First, w.Last = k, start, start.Add(time.Minute), start, start
		w.Ref, w.Marks = nil, 0
		d.Close(w)
	}
	after := heap()
	runtime.KeepAlive(keys) // held before too
	runtime.KeepAlive(d)
	return float64(after-before) / float64(n)
}

func heap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchModel fits a model the way sentinel train does, on rows shaped
// like token windows: mostly ordinary, a few heavy.
func benchModel(b *testing.B, opts iforest.Options) (*Model, [][]float64) {
	rng := rand.New(rand.NewPCG(1, 1))
	rows := make([][]float64, 20000)
	for i := range rows {
		r := make([]float64, numForest)
		for j := range r {
			r[j] = rng.NormFloat64()
		}
		r[fxNewNetworkAndClient], r[fxNewClientShare] = 0, 0
		rows[i] = r
	}
	m, err := FitModel(rows, opts)
	if err != nil {
		b.Fatal(err)
	}
	return m, rows
}

// BenchmarkForestScore is the cost of scoring one window with sentinel's
// default forest: what the isolation forest adds per closed token window.
func BenchmarkForestScore(b *testing.B) {
	for _, v := range []struct {
		name string
		opts iforest.Options
	}{
		{"extended", iforest.Options{Extended: true, SampleSize: DefaultForestSampleSize}},
		{"standard", iforest.Options{SampleSize: DefaultForestSampleSize}},
	} {
		b.Run(v.name, func(b *testing.B) {
			m, rows := benchModel(b, v.opts)
			b.ResetTimer()
			for i := range b.N {
				m.Score(rows[i%len(rows)])
			}
		})
	}
}

// BenchmarkForestScoreAbove is what the daemon pays per window: scoring
// only as far as needed to tell whether the window passes a threshold of
// 0.7, on rows like those the model learned from.
func BenchmarkForestScoreAbove(b *testing.B) {
	m, rows := benchModel(b, iforest.Options{Extended: true, SampleSize: DefaultForestSampleSize})
	b.ResetTimer()
	for i := range b.N {
		m.ScoreAbove(rows[i%len(rows)], 0.7)
	}
}

// BenchmarkForestFit is the cost of training sentinel's default forest
// on 20000 windows, the reservoir a retraining learns from.
func BenchmarkForestFit(b *testing.B) {
	_, rows := benchModel(b, iforest.Options{Trees: 1})
	b.ResetTimer()
	for range b.N {
		if _, err := FitModel(rows, iforest.Options{Extended: true, SampleSize: DefaultForestSampleSize}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrimFlood is the cost of one trim during a flood: 1.1 million
// tokens against a bound of a million, a thousand of them keepers and the
// rest one-window keys of the flood, cut to 900,000.
func BenchmarkTrimFlood(b *testing.B) {
	const limit, n = 1_000_000, 1_100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%016x", rand.Uint64())
	}
	d := New(Options{MaxEntities: limit})
	for range b.N {
		b.StopTimer()
		m := d.ents[features.Token]
		for i, k := range keys {
			e := &entity{key: k, kind: features.Token, first: int64(i % 60), active: 1}
			if i < 1000 {
				e.active = int64(d.opts.KeepWindows)
			}
			m[k] = e
		}
		b.StartTimer()
		d.trim(features.Token)
		if len(m) != limit*9/10 {
			b.Fatalf("%d tokens after the trim, want %d", len(m), limit*9/10)
		}
	}
}
