package iforest

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Default values used when the corresponding Options field is zero.
const (
	DefaultTrees      = 100
	DefaultSampleSize = 256
)

// Options configure a Forest. The zero value gives the paper's defaults:
// 100 trees of subsamples of 256 rows, axis-parallel cuts, seed 0.
type Options struct {
	// Trees is the number of isolation trees; zero means 100.
	Trees int
	// SampleSize is psi, the rows drawn without replacement for each tree;
	// zero means 256. When the training set has fewer rows, psi is the
	// number of rows.
	SampleSize int
	// Seed makes training reproducible: the same seed and data give the
	// same forest whatever the number of workers.
	Seed uint64
	// Extended selects the extended isolation forest of Hariri, Kind and
	// Brunner: random hyperplane cuts instead of axis-parallel ones.
	Extended bool
	// ExtensionLevel is k, the hyperplane normal having k+1 non-zero
	// components, between 1 and dims-1; zero means full extension, dims-1.
	// Level 0 of the paper is the standard forest (Extended false).
	ExtensionLevel int
	// Workers bounds the goroutines used by Fit and Scores; zero means
	// GOMAXPROCS. A loaded forest scores with GOMAXPROCS workers.
	Workers int
}

// Forest is an isolation forest. A fitted Forest is safe for concurrent
// scoring; Fit must not run concurrently with anything else.
type Forest struct {
	opts  Options
	trees []tree
	dims  int
	psi   int     // effective sample size: min(SampleSize, rows)
	nnz   int     // non-zero hyperplane components; 0 for axis-parallel cuts
	norm  float64 // c(psi), the average path length the score is relative to
	rows  int
	at    time.Time
	// minRest[i] is the least path length trees i and after can add up
	// to: the sum of their shortest external nodes. See ScoreAbove.
	minRest []float64
}

// New returns an unfitted Forest with the given options.
func New(opts Options) *Forest {
	return &Forest{opts: opts}
}

// Dims returns the number of features the forest was fitted on, or 0.
func (f *Forest) Dims() int { return f.dims }

// Fit trains the forest on the rows of X, replacing any earlier fit. All
// rows must have the same, non-zero number of finite values.
func (f *Forest) Fit(X [][]float64) error {
	dims, err := checkRows(X)
	if err != nil {
		return fmt.Errorf("fitting isolation forest: %w", err)
	}
	o, err := resolve(f.opts, dims)
	if err != nil {
		return fmt.Errorf("fitting isolation forest: %w", err)
	}
	psi := min(o.SampleSize, len(X))
	nnz := 0
	if o.Extended {
		nnz = o.ExtensionLevel + 1
	}
	trees := make([]tree, o.Trees)
	bufs := sync.Pool{New: func() any { return newScratch(len(X), dims) }}
	parallel(o.Trees, o.Workers, func(i int) {
		s := bufs.Get().(*scratch)
		trees[i] = grow(X, s, growParams{
			rng: treeRNG(o.Seed, i), psi: psi, nnz: nnz,
			limit: bits.Len(uint(psi - 1)),
		})
		bufs.Put(s)
	})
	*f = Forest{
		opts: o, trees: trees, dims: dims, psi: psi, nnz: nnz,
		norm: avgPath(psi), rows: len(X), at: time.Now().UTC(),
	}
	f.bound()
	return nil
}

// bound computes minRest.
func (f *Forest) bound() {
	f.minRest = make([]float64, len(f.trees)+1)
	for i := len(f.trees) - 1; i >= 0; i-- {
		shortest := math.Inf(1)
		for _, n := range f.trees[i].nodes {
			if n.feat < 0 {
				shortest = min(shortest, n.value)
			}
		}
		f.minRest[i] = f.minRest[i+1] + shortest
	}
}

// checkRows returns the common row length of X, or why X cannot be used.
func checkRows(X [][]float64) (int, error) {
	if len(X) == 0 {
		return 0, errors.New("no rows")
	}
	dims := len(X[0])
	if dims == 0 {
		return 0, errors.New("row 0 has no features")
	}
	for i, row := range X {
		if len(row) != dims {
			return 0, fmt.Errorf("row %d has %d features, row 0 has %d", i, len(row), dims)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("row %d feature %d is %v: impute or drop non-finite values before fitting", i, j, v)
			}
		}
	}
	return dims, nil
}

// resolve fills defaults into o and checks it against the data's width.
func resolve(o Options, dims int) (Options, error) {
	switch {
	case o.Trees < 0:
		return o, fmt.Errorf("option Trees is %d, want 0 (default) or more", o.Trees)
	case o.SampleSize < 0:
		return o, fmt.Errorf("option SampleSize is %d, want 0 (default) or more", o.SampleSize)
	case o.Workers < 0:
		return o, fmt.Errorf("option Workers is %d, want 0 (GOMAXPROCS) or more", o.Workers)
	case o.ExtensionLevel != 0 && !o.Extended:
		return o, errors.New("option ExtensionLevel is set but Extended is false")
	case o.ExtensionLevel < 0 || o.ExtensionLevel > dims-1:
		return o, fmt.Errorf("ExtensionLevel is %d, want 0 (full) to %d for %d features", o.ExtensionLevel, dims-1, dims)
	}
	if o.Trees == 0 {
		o.Trees = DefaultTrees
	}
	if o.SampleSize == 0 {
		o.SampleSize = DefaultSampleSize
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Extended && o.ExtensionLevel == 0 {
		o.ExtensionLevel = dims - 1
	}
	return o, nil
}

// treeRNG derives tree i's generator from the seed alone, so that which
// goroutine builds which tree, and in what order, cannot change the forest.
func treeRNG(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix(seed), splitmix(seed^splitmix(uint64(i)+1))))
}

// splitmix is the SplitMix64 finaliser, used to spread nearby seeds apart.
func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// parallel calls fn(i) for i in [0, n) on at most workers goroutines and
// returns when all calls have.
func parallel(n, workers int, fn func(i int)) {
	workers = max(1, min(workers, n))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// avgPath is c(n), the average path length of an unsuccessful search in a
// binary search tree of n keys, 2H(n-1) - 2(n-1)/n; c(0) = c(1) = 0.
func avgPath(n int) float64 {
	if n <= 1 {
		return 0
	}
	m := float64(n - 1)
	return 2*harmonic(n-1) - 2*m/float64(n)
}

// exactHarmonicMax bounds the sizes whose harmonic number is summed; past
// it the asymptotic series below is exact to double precision.
const exactHarmonicMax = 1 << 12

// harmonic returns H(i) = 1 + 1/2 + ... + 1/i.
func harmonic(i int) float64 {
	if i <= exactHarmonicMax {
		h := 0.0
		for k := i; k >= 1; k-- { // smallest terms first, for accuracy
			h += 1 / float64(k)
		}
		return h
	}
	x := float64(i)
	const eulerGamma = 0.57721566490153286060651209008240243
	return math.Log(x) + eulerGamma + 1/(2*x) - 1/(12*x*x) + 1/(120*x*x*x*x)
}

// Trained returns when the forest was fitted, in UTC, and on how many
// rows; zero values before Fit.
func (f *Forest) Trained() (at time.Time, rows int) { return f.at, f.rows }
