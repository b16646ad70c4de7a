package engine

import (
	"context"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/gen"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// parsedBatches reads and parses a generated file once, so that the
// benchmarks below can time the stages apart.
func parsedBatches(b *testing.B) []*parsed {
	path, _ := generate(b, b.TempDir(), gen.Options{Seed: 1, Tokens: 300, Duration: 2 * 24 * time.Hour})
	src := canonicalSource(path)
	fi := newFormatIndex([]Source{src})
	ps := newParsers([]Format{src.Format}, fi.of)
	batches := make(chan ingest.Batch, 16)
	go func() {
		defer close(batches)
		ingest.ReadFiles(context.Background(), []string{path}, batches)
	}()
	var out []*parsed
	for batch := range batches {
		p, err := ps.parse(batch)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// BenchmarkCore times the single goroutine that applies records to the
// windows and detectors: the stage replay cannot spread over cores.
func BenchmarkCore(b *testing.B) {
	benchCore(b, parsedBatches(b), testOptions())
}

// benchCore applies batches through a fresh core with opts, repeatedly.
func benchCore(b *testing.B, batches []*parsed, opts Options) {
	b.ReportAllocs()
	b.ResetTimer()
	var lines int
	for b.Loop() {
		c := newCore(opts, func(*alert.Alert) {})
		for _, p := range batches {
			c.applyParsed(p)
			lines += len(p.recs)
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkCoreForest is BenchmarkCore with the isolation forest scoring
// every closed token window with the built-in model, and collecting and
// retraining as the daemon does: compare the two with benchstat.
func BenchmarkCoreForest(b *testing.B) {
	batches := parsedBatches(b)
	model := builtinModel(b)
	opts := testOptions()
	opts.Detect.Forest = detect.ForestOptions{
		Model: model, Reservoir: 20000, RetrainEvery: 6 * time.Hour, MinRequests: 1,
		Train: iforest.Options{Extended: true, SampleSize: detect.DefaultForestSampleSize},
	}
	benchCore(b, batches, opts)
}

// BenchmarkParse times parsing alone, on one goroutine.
func BenchmarkParse(b *testing.B) {
	batches := parsedBatches(b)
	src := canonicalSource("x")
	ps := newParsers([]Format{src.Format}, func(string) int { return 0 })
	b.ReportAllocs()
	b.ResetTimer()
	var lines int
	for b.Loop() {
		for _, p := range batches {
			ps.parse(p.batch)
			lines += len(p.batch.Lines)
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
