package iforest

import (
	"fmt"
	"math"
	"runtime"
)

// Score returns the anomaly score s(x) = 2^(-E[h(x)]/c(psi)) of x, in
// (0, 1]: near 1 for a point isolated quickly, at or below 0.5 for
// ordinary ones. A forest fitted on a single row, where c(psi) is 0 and
// nothing can be isolated, scores every point 0.5.
//
// A NaN feature of x fails every comparison and so always takes the
// right-hand (greater or equal) branch, for axis-parallel and hyperplane
// cuts alike; the score stays finite. Score panics if len(x) differs from
// Dims, like an out-of-range index; Scores returns an error instead.
func (f *Forest) Score(x []float64) float64 {
	if len(x) != f.dims {
		panic(fmt.Sprintf("iforest: scoring %d features with a forest of %d", len(x), f.dims))
	}
	return f.score(x)
}

// Scores returns the score of every row of X, computed on all workers.
func (f *Forest) Scores(X [][]float64) ([]float64, error) {
	for i, row := range X {
		if len(row) != f.dims {
			return nil, fmt.Errorf("scoring row %d: %d features, the forest has %d", i, len(row), f.dims)
		}
	}
	out := make([]float64, len(X))
	const chunk = 256
	chunks := (len(X) + chunk - 1) / chunk
	workers := f.opts.Workers
	if workers == 0 { // a loaded forest
		workers = runtime.GOMAXPROCS(0)
	}
	parallel(chunks, workers, func(c int) {
		for i := c * chunk; i < min(len(X), (c+1)*chunk); i++ {
			out[i] = f.score(X[i])
		}
	})
	return out, nil
}

// PathLength returns E[h(x)], the mean over the trees of the path length
// of x including the c(size) adjustment at its external node.
func (f *Forest) PathLength(x []float64) float64 {
	if len(f.trees) == 0 {
		return 0
	}
	sum := 0.0
	for i := range f.trees {
		sum += f.treePath(i, x)
	}
	return sum / float64(len(f.trees))
}

// treePath returns the path length of x in tree i.
func (f *Forest) treePath(i int, x []float64) float64 {
	if f.nnz == 0 {
		return f.trees[i].axisPath(x)
	}
	return f.trees[i].planePath(x, f.nnz)
}

// ScoreAbove returns s(x) and true when s(x) >= floor. When the trees
// seen so far already make that impossible, whatever the rest hold, it
// stops and returns false: a detector that only needs to know whether a
// point passes its threshold skips most trees for most points. Its score,
// when it returns true, is exactly Score's.
func (f *Forest) ScoreAbove(x []float64, floor float64) (float64, bool) {
	if len(x) != f.dims {
		panic(fmt.Sprintf("iforest: scoring %d features with a forest of %d", len(x), f.dims))
	}
	if f.norm == 0 || floor <= 0 || len(f.trees) == 0 {
		s := f.score(x)
		return s, s >= floor
	}
	// s >= floor  <=>  mean path <= -norm·log2(floor).
	limit := -f.norm * math.Log2(floor) * float64(len(f.trees))
	sum := 0.0
	for i := range f.trees {
		sum += f.treePath(i, x)
		if sum+f.minRest[i+1] > limit {
			return 0, false
		}
	}
	s := math.Exp2(-sum / float64(len(f.trees)) / f.norm)
	return s, s >= floor
}

func (f *Forest) score(x []float64) float64 {
	if f.norm == 0 {
		return 0.5
	}
	return math.Exp2(-f.PathLength(x) / f.norm)
}

func (t *tree) axisPath(x []float64) float64 {
	nodes := t.nodes
	i := int32(0)
	for {
		n := &nodes[i]
		if n.feat < 0 {
			return n.value
		}
		if x[n.feat] < n.value {
			i++
		} else {
			i = n.right
		}
	}
}

func (t *tree) planePath(x []float64, nnz int) float64 {
	if nnz != len(x) {
		return t.sparsePath(x, nnz)
	}
	nodes, coef := t.nodes, t.coef
	i := int32(0)
	for {
		n := &nodes[i]
		if n.feat < 0 {
			return n.value
		}
		off := int(n.feat) * nnz
		if denseDot(coef[off:off+nnz:off+nnz], x) < n.value {
			i++
		} else {
			i = n.right
		}
	}
}

func (t *tree) sparsePath(x []float64, nnz int) float64 {
	nodes := t.nodes
	i := int32(0)
	for {
		n := &nodes[i]
		if n.feat < 0 {
			return n.value
		}
		if t.dot(int(n.feat), nnz, x) < n.value {
			i++
		} else {
			i = n.right
		}
	}
}
