package iforest

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchData returns n rows of d standard-normal features.
func benchData(n, d int) [][]float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	X := make([][]float64, n)
	for i := range X {
		X[i] = make([]float64, d)
		for j := range X[i] {
			X[i][j] = rng.NormFloat64()
		}
	}
	return X
}

var benchVariants = []struct {
	name string
	opts Options
}{
	{"standard", Options{}},
	{"extended", Options{Extended: true}},
}

func BenchmarkFit(b *testing.B) {
	X := benchData(10_000, 8)
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := New(v.opts).Fit(X); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScore measures one vector against 100 trees, on one goroutine.
func BenchmarkScore(b *testing.B) {
	X := benchData(10_000, 8)
	for _, v := range benchVariants {
		f := New(v.opts)
		if err := f.Fit(X); err != nil {
			b.Fatal(err)
		}
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink = f.Score(X[i%len(X)])
				i++
			}
		})
	}
}

// BenchmarkScores measures batch scoring of 10k rows on all workers.
func BenchmarkScores(b *testing.B) {
	for _, d := range []int{3, 36} {
		X := benchData(10_000, d)
		for _, v := range benchVariants {
			f := New(v.opts)
			if err := f.Fit(X); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/d=%d", v.name, d), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.Scores(X); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

var sink float64
