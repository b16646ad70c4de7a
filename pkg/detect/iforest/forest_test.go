package iforest

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// gaussian returns n rows of d standard-normal features from seed.
func gaussian(seed uint64, n, d int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	X := make([][]float64, n)
	for i := range X {
		X[i] = make([]float64, d)
		for j := range X[i] {
			X[i][j] = rng.NormFloat64()
		}
	}
	return X
}

func fit(t *testing.T, o Options, X [][]float64) *Forest {
	t.Helper()
	f := New(o)
	if err := f.Fit(X); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAvgPath(t *testing.T) {
	tests := []struct {
		n    int
		want float64
	}{
		{0, 0},
		{1, 0},
		{2, 1},               // 2H(1) - 2/2
		{3, 5.0 / 3},         // 2(1 + 1/2) - 4/3
		{4, 13.0 / 6},        // 2(1 + 1/2 + 1/3) - 6/4
		{5, 2*25.0/12 - 1.6}, // H(4) = 25/12
	}
	for _, tc := range tests {
		if got := avgPath(tc.n); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("c(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	// Past the exact range the series must agree with the plain sum.
	for _, i := range []int{exactHarmonicMax + 1, 3 * exactHarmonicMax, 100_000} {
		sum := 0.0
		for k := i; k >= 1; k-- {
			sum += 1 / float64(k)
		}
		if got := harmonic(i); math.Abs(got-sum) > 1e-12 {
			t.Errorf("H(%d) = %.15f, the sum is %.15f", i, got, sum)
		}
	}
}

func TestScoreIsolatesOutlier(t *testing.T) {
	X := append(gaussian(1, 1000, 4), []float64{6, -6, 6, -6})
	for _, v := range benchVariants {
		f := fit(t, Options{Seed: 3, Extended: v.opts.Extended}, X)
		s, err := f.Scores(X)
		if err != nil {
			t.Fatal(err)
		}
		out := s[len(s)-1]
		if out < 0.7 {
			t.Errorf("%s: the outlier scores %.3f, want above 0.7", v.name, out)
		}
		var inliers float64
		for i, x := range s[:len(s)-1] {
			if x >= out {
				t.Fatalf("%s: row %d scores %.3f, not below the outlier's %.3f", v.name, i, x, out)
			}
			inliers += x / float64(len(s)-1)
		}
		if inliers > 0.5 {
			t.Errorf("%s: inliers score %.3f on average, want under 0.5", v.name, inliers)
		}
		if got := f.Score(X[len(X)-1]); got != out {
			t.Errorf("%s: Score = %v, Scores gave %v", v.name, got, out)
		}
	}
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	X := gaussian(2, 3000, 5)
	for _, v := range benchVariants {
		o := v.opts
		o.Seed = 42
		o.Workers = 1
		one := fit(t, o, X)
		o.Workers = 7
		many := fit(t, o, X)
		if !reflect.DeepEqual(one.trees, many.trees) {
			t.Errorf("%s: 1 and 7 workers grew different forests from one seed", v.name)
		}
		a, _ := one.Scores(X)
		b, _ := many.Scores(X)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: 1 and 7 workers scored differently", v.name)
		}
		o.Seed = 43
		if other := fit(t, o, X); reflect.DeepEqual(one.trees, other.trees) {
			t.Errorf("%s: seeds 42 and 43 grew the same forest", v.name)
		}
	}
}

func TestSubsampleWithoutReplacement(t *testing.T) {
	X := gaussian(3, 1000, 2)
	s := newScratch(len(X), 2)
	for i := range 20 {
		b := &builder{growParams: growParams{rng: treeRNG(1, i), psi: 256}, x: X, s: s}
		seen := map[int32]bool{}
		for _, r := range b.sample() {
			if seen[r] || r < 0 || int(r) >= len(X) {
				t.Fatalf("tree %d: row %d drawn twice or out of range", i, r)
			}
			seen[r] = true
		}
		if len(seen) != 256 {
			t.Fatalf("tree %d drew %d rows, want 256", i, len(seen))
		}
		for j, p := range s.perm {
			if int(p) != j {
				t.Fatalf("tree %d left the permutation changed at %d", i, j)
			}
		}
	}
}

// TestHeightLimit checks that no tree is deeper than ceil(log2 psi).
func TestHeightLimit(t *testing.T) {
	X := gaussian(4, 2000, 3)
	for _, psi := range []int{2, 3, 64, 256, 257} {
		f := fit(t, Options{SampleSize: psi, Trees: 20}, X)
		limit := math.Ceil(math.Log2(float64(psi)))
		for i := range f.trees {
			if d := depth(f.trees[i].nodes, 0); float64(d) > limit {
				t.Errorf("psi %d: tree %d is %d deep, the limit is %v", psi, i, d, limit)
			}
		}
	}
}

func depth(nodes []node, i int32) int {
	if nodes[i].feat < 0 {
		return 0
	}
	return 1 + max(depth(nodes, i+1), depth(nodes, nodes[i].right))
}

func TestDegenerateData(t *testing.T) {
	constCol := gaussian(5, 500, 3)
	for _, row := range constCol {
		row[1] = 7
	}
	same := make([][]float64, 300)
	for i := range same {
		same[i] = []float64{1, 2, 3}
	}
	tests := []struct {
		name    string
		X       [][]float64
		psi     int  // expected effective sample size
		allHalf bool // every row must score 0.5
		stdHalf bool // every row must score 0.5 in the standard forest
	}{
		// All rows equal: the root is external with psi rows, so
		// h = c(psi) and s = 2^-1.
		{"duplicate rows", same, 256, true, true},
		{"constant feature", constCol, 256, false, false},
		{"fewer rows than psi", gaussian(6, 10, 2), 10, false, false},
		// One row: nothing to isolate, c(1) = 0, scored 0.5 by definition.
		{"single row", [][]float64{{1, 2}}, 1, true, true},
		// Two distinct rows: an axis cut puts each alone at depth 1, so
		// h = 1 = c(2). A hyperplane may miss both, leaving h = 1 + c(2).
		{"two rows", [][]float64{{0, 0}, {1, 1}}, 2, false, true},
	}
	for _, tc := range tests {
		for _, v := range benchVariants {
			f := fit(t, v.opts, tc.X)
			if f.psi != tc.psi {
				t.Errorf("%s/%s: psi = %d, want %d", tc.name, v.name, f.psi, tc.psi)
			}
			s, err := f.Scores(tc.X)
			if err != nil {
				t.Fatal(err)
			}
			half := tc.allHalf || tc.stdHalf && !v.opts.Extended
			for i, x := range s {
				if !(x > 0 && x <= 1) || half && math.Abs(x-0.5) > 1e-12 {
					t.Fatalf("%s/%s: row %d scores %v", tc.name, v.name, i, x)
				}
			}
		}
	}
	// A constant feature cuts nothing, so the standard forest never uses it.
	f := fit(t, Options{}, constCol)
	for _, tr := range f.trees {
		for _, n := range tr.nodes {
			if n.feat == 1 {
				t.Fatal("the standard forest cut on the constant feature")
			}
		}
	}
}

func TestFitRejects(t *testing.T) {
	good := gaussian(7, 20, 3)
	withNaN := gaussian(7, 20, 3)
	withNaN[4][2] = math.NaN()
	withInf := gaussian(7, 20, 3)
	withInf[5][0] = math.Inf(-1)
	ragged := gaussian(7, 20, 3)
	ragged[3] = ragged[3][:2]
	tests := []struct {
		name string
		opts Options
		X    [][]float64
		want string // a fragment the error must contain
	}{
		{"NaN", Options{}, withNaN, "row 4 feature 2 is NaN"},
		{"Inf", Options{}, withInf, "row 5 feature 0 is -Inf"},
		{"no rows", Options{}, nil, "no rows"},
		{"no features", Options{}, [][]float64{{}}, "no features"},
		{"ragged", Options{}, ragged, "row 3 has 2 features"},
		{"negative trees", Options{Trees: -1}, good, "Trees"},
		{"negative psi", Options{SampleSize: -5}, good, "SampleSize"},
		{"level too high", Options{Extended: true, ExtensionLevel: 3}, good, "ExtensionLevel is 3"},
		{"level without extended", Options{ExtensionLevel: 1}, good, "Extended is false"},
	}
	for _, tc := range tests {
		err := New(tc.opts).Fit(tc.X)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Fit error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestScoreNaNAndWidth(t *testing.T) {
	X := gaussian(8, 500, 3)
	for _, v := range benchVariants {
		f := fit(t, v.opts, X)
		nan := []float64{0.1, math.NaN(), -0.2}
		s := f.Score(nan)
		if !(s > 0 && s <= 1) {
			t.Errorf("%s: a NaN feature scores %v", v.name, s)
		}
		if !v.opts.Extended {
			// Documented: NaN takes the right branch, as +Inf does.
			if inf := f.Score([]float64{0.1, math.Inf(1), -0.2}); inf != s {
				t.Errorf("%s: NaN scores %v, +Inf %v; want equal", v.name, s, inf)
			}
		}
		if _, err := f.Scores([][]float64{{1, 2, 3}, {1, 2}}); err == nil {
			t.Errorf("%s: Scores took a row of the wrong width", v.name)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Score took a vector of the wrong width", v.name)
				}
			}()
			f.Score([]float64{1})
		}()
	}
}

func TestExtensionLevel(t *testing.T) {
	X := gaussian(9, 1000, 6)
	for _, tc := range []struct{ level, nnz int }{{0, 6}, {1, 2}, {3, 4}, {5, 6}} {
		f := fit(t, Options{Extended: true, ExtensionLevel: tc.level, Trees: 10}, X)
		if f.nnz != tc.nnz {
			t.Fatalf("level %d: %d components, want %d", tc.level, f.nnz, tc.nnz)
		}
		for _, tr := range f.trees {
			internal := 0
			for _, n := range tr.nodes {
				if n.feat >= 0 {
					internal++
				}
			}
			if len(tr.coef) != internal*tc.nnz || len(tr.idx) != len(tr.coef) {
				t.Fatalf("level %d: %d components for %d cuts", tc.level, len(tr.coef), internal)
			}
			if err := tr.check(6, tc.nnz); err != nil {
				t.Fatalf("level %d: %v", tc.level, err)
			}
			for _, c := range tr.coef {
				if c == 0 {
					t.Fatalf("level %d: a zero component", tc.level)
				}
			}
		}
	}
}

// TestExtendedRemovesAxisBias checks the point of Hariri et al.: on a
// round Gaussian blob, axis-parallel cuts score a point on an axis lower
// than one at the same radius on a diagonal (cuts along the other axis
// pass near the centre, through the crowd, and rarely isolate it), while
// hyperplane cuts score every direction about alike.
func TestExtendedRemovesAxisBias(t *testing.T) {
	X := gaussian(10, 2000, 2)
	// bias is the mean score of points on the axes minus that of points
	// on the diagonals, at radii 2 to 4.
	bias := func(f *Forest) float64 {
		var axis, diag float64
		for _, r := range []float64{2, 2.5, 3, 3.5, 4} {
			for k := range 4 {
				a := math.Pi / 2 * float64(k)
				axis += f.Score([]float64{r * math.Cos(a), r * math.Sin(a)})
				a += math.Pi / 4
				diag += f.Score([]float64{r * math.Cos(a), r * math.Sin(a)})
			}
		}
		return (axis - diag) / 20
	}
	std := bias(fit(t, Options{Trees: 1000, Seed: 1}, X))
	ext := bias(fit(t, Options{Trees: 1000, Seed: 1, Extended: true}, X))
	t.Logf("axis minus diagonal score: standard %.4f, extended %.4f", std, ext)
	if std > -0.01 || math.Abs(ext) > math.Abs(std)/3 {
		t.Errorf("want a clear negative bias for the standard forest and under a third of it for the extended")
	}
}

// TestScoreAbove checks the early exit against full scoring: the same
// verdict for every point and floor, and the same score when above.
func TestScoreAbove(t *testing.T) {
	X := gaussian(21, 3000, 5)
	for _, o := range []Options{{Seed: 2}, {Seed: 2, Extended: true}} {
		f := fit(t, o, X)
		probe := append(gaussian(22, 300, 5), []float64{9, 9, 9, 9, 9}, []float64{-7, 0, 0, 0, 0})
		for _, floor := range []float64{0.4, 0.5, 0.55, 0.6, 0.7} {
			above := 0
			for _, x := range probe {
				want := f.Score(x)
				got, ok := f.ScoreAbove(x, floor)
				if ok != (want >= floor) || ok && got != want {
					t.Fatalf("extended %v floor %v: ScoreAbove = %v, %v; Score = %v", o.Extended, floor, got, ok, want)
				}
				if ok {
					above++
				}
			}
			if floor >= 0.6 && above == 0 {
				t.Errorf("extended %v floor %v: not even the planted outliers are above", o.Extended, floor)
			}
		}
	}
}
