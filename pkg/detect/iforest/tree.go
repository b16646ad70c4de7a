package iforest

import (
	"math"
	"math/rand/v2"
	"slices"
)

// node is one node of an isolation tree, stored in preorder: an internal
// node's left child follows it, its right child is at index right.
type node struct {
	// value is the cut for an internal node (x[feat] < value, or x·n <
	// value for a hyperplane, goes left); for an external node it is the
	// whole path length, depth + c(size).
	value float64
	// feat is the feature (axis-parallel cut) or hyperplane index of an
	// internal node, and -1 for an external node.
	feat  int32
	right int32
}

// tree is one isolation tree. Hyperplane h, in an extended tree, has the
// non-zero normal components coef[h*nnz:(h+1)*nnz] on features
// idx[h*nnz:(h+1)*nnz].
type tree struct {
	nodes []node
	idx   []int32
	coef  []float64
}

// growParams are what one tree's construction depends on.
type growParams struct {
	rng   *rand.Rand
	psi   int // rows to draw
	nnz   int // hyperplane components; 0 for axis-parallel cuts
	limit int // height limit, ceil(log2 psi)
}

// scratch is per-goroutine working memory, reused across trees.
type scratch struct {
	perm  []int32   // identity permutation of the rows, restored after each draw
	feats []int     // a permutation of the features
	lo    []float64 // per-feature minimum of a node's rows
	hi    []float64 // per-feature maximum of a node's rows
}

func newScratch(rows, dims int) *scratch {
	s := &scratch{
		perm:  make([]int32, rows),
		feats: make([]int, dims),
		lo:    make([]float64, dims),
		hi:    make([]float64, dims),
	}
	for i := range s.perm {
		s.perm[i] = int32(i)
	}
	for j := range s.feats {
		s.feats[j] = j
	}
	return s
}

// builder grows one tree.
type builder struct {
	growParams
	x [][]float64
	s *scratch
	t tree
}

// grow builds one isolation tree on a subsample of X.
func grow(X [][]float64, s *scratch, p growParams) tree {
	for j := range s.feats {
		s.feats[j] = j // a fresh order, so the tree depends on its generator only
	}
	b := &builder{growParams: p, x: X, s: s}
	b.grow(b.sample(), 0)
	return b.t
}

// sample draws psi distinct rows by a partial Fisher-Yates shuffle of the
// shared identity permutation, then undoes the swaps so that the next tree
// on this goroutine starts from the same state: the draw depends only on
// the tree's generator.
func (b *builder) sample() []int32 {
	perm, n := b.s.perm, len(b.s.perm)
	swaps := make([]int32, b.psi)
	rows := make([]int32, b.psi)
	for i := range b.psi {
		j := i + b.rng.IntN(n-i)
		swaps[i] = int32(j)
		perm[i], perm[j] = perm[j], perm[i]
	}
	copy(rows, perm[:b.psi])
	for i := b.psi - 1; i >= 0; i-- {
		j := swaps[i]
		perm[i], perm[j] = perm[j], perm[i]
	}
	return rows
}

// grow appends the subtree isolating rows at the given depth. As in the
// paper, a node is external at the height limit, with at most one row, or
// when all its rows are equal.
func (b *builder) grow(rows []int32, depth int) {
	if depth >= b.limit || len(rows) <= 1 {
		b.leaf(len(rows), depth)
		return
	}
	var feat int
	var cut float64
	var goLeft func(row []float64) bool
	var ok bool
	if b.nnz == 0 {
		feat, cut, ok = b.axisCut(rows)
		goLeft = func(row []float64) bool { return row[feat] < cut }
	} else {
		feat, cut, ok = b.planeCut(rows)
		goLeft = func(row []float64) bool { return b.t.dot(feat, b.nnz, row) < cut }
	}
	if !ok {
		b.leaf(len(rows), depth)
		return
	}
	k := partition(rows, func(r int32) bool { return goLeft(b.x[r]) })
	at := len(b.t.nodes)
	b.t.nodes = append(b.t.nodes, node{value: cut, feat: int32(feat)})
	b.grow(rows[:k], depth+1)
	b.t.nodes[at].right = int32(len(b.t.nodes))
	b.grow(rows[k:], depth+1)
}

func (b *builder) leaf(size, depth int) {
	b.t.nodes = append(b.t.nodes, node{value: float64(depth) + avgPath(size), feat: -1})
}

// axisCut draws the feature uniformly among those not constant on rows
// (drawing a constant one would cut nothing) and the cut uniformly
// between its minimum and maximum. ok is false when every feature is
// constant, that is when all rows are equal.
func (b *builder) axisCut(rows []int32) (feat int, cut float64, ok bool) {
	feats := b.s.feats
	for left := len(feats); left > 0; left-- {
		j := b.rng.IntN(left)
		q := feats[j]
		lo, hi := b.span(rows, q)
		if lo < hi {
			return q, between(lo, hi, b.rng.Float64()), true
		}
		feats[j], feats[left-1] = feats[left-1], feats[j]
	}
	return 0, 0, false
}

// planeCut adds a hyperplane, per Hariri et al.: a normal with nnz
// standard-normal components on distinct random features, through a
// point drawn uniformly in the bounding box of rows. It returns the
// hyperplane index and x·n of that point; ok is false when all rows are
// equal.
func (b *builder) planeCut(rows []int32) (plane int, cut float64, ok bool) {
	if !b.bounds(rows) {
		return 0, 0, false
	}
	feats := b.s.feats
	for i := range b.nnz {
		j := i + b.rng.IntN(len(feats)-i)
		feats[i], feats[j] = feats[j], feats[i]
	}
	// In feature order, a full-extension normal is dense (see dot) and the
	// model file canonical.
	slices.Sort(feats[:b.nnz])
	for _, q := range feats[:b.nnz] {
		c := b.rng.NormFloat64()
		cut += c * between(b.s.lo[q], b.s.hi[q], b.rng.Float64())
		b.t.idx = append(b.t.idx, int32(q))
		b.t.coef = append(b.t.coef, c)
	}
	return len(b.t.coef)/b.nnz - 1, cut, true
}

// span returns the minimum and maximum of feature q over rows.
func (b *builder) span(rows []int32, q int) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		v := b.x[r][q]
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// bounds fills the scratch bounding box of rows and reports whether it
// has any extent.
func (b *builder) bounds(rows []int32) bool {
	lo, hi := b.s.lo, b.s.hi
	copy(lo, b.x[rows[0]])
	copy(hi, b.x[rows[0]])
	for _, r := range rows[1:] {
		for j, v := range b.x[r] {
			lo[j], hi[j] = min(lo[j], v), max(hi[j], v)
		}
	}
	for j := range lo {
		if lo[j] < hi[j] {
			return true
		}
	}
	return false
}

// between maps u in [0, 1) into [lo, hi], without overflowing when hi-lo
// exceeds the largest float.
func between(lo, hi, u float64) float64 {
	if d := hi - lo; !math.IsInf(d, 0) {
		return lo + u*d
	}
	return lo*(1-u) + hi*u
}

// partition moves the rows for which left is true to the front and
// returns how many there are.
func partition(rows []int32, left func(int32) bool) int {
	k := 0
	for i, r := range rows {
		if left(r) {
			rows[i], rows[k] = rows[k], rows[i]
			k++
		}
	}
	return k
}

// dot returns x·n for hyperplane h.
func (t *tree) dot(h, nnz int, x []float64) float64 {
	off := h * nnz
	coef := t.coef[off : off+nnz : off+nnz]
	if nnz == len(x) {
		return denseDot(coef, x)
	}
	idx := t.idx[off : off+nnz : off+nnz]
	s := 0.0
	for j, q := range idx {
		s += coef[j] * x[q]
	}
	return s
}

// denseDot returns c·x for a full-extension normal, whose components are
// stored in feature order. Four sums shorten the chain of dependent adds.
func denseDot(c, x []float64) float64 {
	x = x[:len(c)]
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(c); j += 4 {
		s0 += c[j] * x[j]
		s1 += c[j+1] * x[j+1]
		s2 += c[j+2] * x[j+2]
		s3 += c[j+3] * x[j+3]
	}
	for ; j < len(c); j++ {
		s0 += c[j] * x[j]
	}
	return (s0 + s1) + (s2 + s3)
}
