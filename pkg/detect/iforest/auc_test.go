package iforest

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sentinel-project/sentinel/internal/testshared"
)

// rocAUC returns the area under the ROC curve of scores against labels
// (true for an anomaly): the probability that a random anomaly scores
// above a random nominal, a tie counting one half. It is the Mann-Whitney
// U statistic computed from mid-ranks, exact with ties.
func rocAUC(scores []float64, anomaly []bool) float64 {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpFloat(scores[a], scores[b]) })
	var rankSum float64 // sum of the anomalies' 1-based mid-ranks
	var pos int
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && scores[order[j]] == scores[order[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // mean of the ranks i+1..j
		for _, k := range order[i:j] {
			if anomaly[k] {
				rankSum += mid
				pos++
			}
		}
		i = j
	}
	neg := len(scores) - pos
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	u := rankSum - float64(pos)*float64(pos+1)/2
	return u / (float64(pos) * float64(neg))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestROCAUC(t *testing.T) {
	// Anomalies score 0.9, 0.5, 0.3; nominals 0.5, 0.2, 0.1, 0.3.
	// Of the 12 (anomaly, nominal) pairs, 0.9 beats all 4; 0.5 beats
	// 0.2, 0.1, 0.3 and ties 0.5 (3.5); 0.3 beats 0.2, 0.1 and ties 0.3
	// (2.5): 10/12.
	scores := []float64{0.9, 0.5, 0.3, 0.5, 0.2, 0.1, 0.3}
	labels := []bool{true, true, true, false, false, false, false}
	tests := []struct {
		name   string
		scores []float64
		labels []bool
		want   float64
	}{
		{"ties", scores, labels, 10.0 / 12},
		{"perfect", []float64{3, 2, 1}, []bool{true, false, false}, 1},
		{"inverted", []float64{1, 2, 3}, []bool{true, false, false}, 0},
		{"all tied", []float64{1, 1, 1, 1}, []bool{true, false, true, false}, 0.5},
	}
	for _, tc := range tests {
		if got := rocAUC(tc.scores, tc.labels); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: AUC = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// oddsSet is one ODDS data set with the AUCs published for it.
type oddsSet struct {
	file  string
	paper float64 // Liu, Ting and Zhou, ICDM 2008, Table 3
	rerun float64 // linkedin/isolation-forest's re-run, 10 seeds
}

var oddsSets = []oddsSet{
	{"smtp", 0.88, 0.907},
	{"shuttle", 1.00, 0.9974},
	{"mammography", 0.86, 0.8636},
	{"annthyroid", 0.82, 0.815},
	{"satellite", 0.71, 0.709},
	{"pima", 0.67, 0.651},
	{"breastw", 0.99, 0.9862},
	{"arrhythmia", 0.80, 0.804},
	{"ionosphere", 0.85, 0.8481},
}

const aucSeeds = 10

// TestPaperAUC checks the forest, with default options, trained on the
// whole of each data set without labels as the paper did, against the
// paper's AUCs: none may fall more than 0.01 below. The extended forest
// is reported beside it; the paper has no figures for it, so it is only
// held to clearly better than chance. Run it alone, tables included,
// with go test ./pkg/detect/iforest -run AUC -v.
func TestPaperAUC(t *testing.T) {
	dir := testshared.Dir(t, "data/odds")
	var std, ext aucTable
	for _, ds := range oddsSets {
		X, y := readODDS(t, filepath.Join(dir, ds.file+".csv"))
		std.add(ds, X, seedAUCs(t, Options{}, X, y))
		ext.add(ds, X, seedAUCs(t, Options{Extended: true}, X, y))
		if m := std.means[len(std.means)-1]; m < ds.paper-0.01 {
			t.Errorf("%s: mean AUC %.4f is more than 0.01 below the paper's %.2f", ds.file, m, ds.paper)
		}
		if m := ext.means[len(ext.means)-1]; m < 0.6 {
			t.Errorf("%s: extended forest's mean AUC %.4f is near chance", ds.file, m)
		}
	}
	t.Logf("standard forest:\n%s", std.String())
	t.Logf("extended forest (full extension):\n%s", ext.String())
}

// aucTable collects one variant's results for the log.
type aucTable struct {
	rows   []string
	means  []float64
	papers []float64
}

func (a *aucTable) add(ds oddsSet, X [][]float64, r aucRun) {
	verdict := "pass"
	if r.mean < ds.paper-0.01 {
		verdict = "below"
	}
	a.rows = append(a.rows, fmt.Sprintf("%-12s %6d %4d  %.4f ± %.4f [%.4f, %.4f]  %.2f  %.4f  %s",
		ds.file, len(X), len(X[0]), r.mean, r.sd, r.lo, r.hi, ds.paper, ds.rerun, verdict))
	a.means = append(a.means, r.mean)
	a.papers = append(a.papers, ds.paper)
}

func (a *aucTable) String() string {
	return fmt.Sprintf("%d seeds, mean ± sd [min, max]; verdict against paper - 0.01\n"+
		"data set       rows dims  AUC                               paper  re-run\n%s\n"+
		"mean over %d sets: %.4f (paper %.4f)",
		aucSeeds, strings.Join(a.rows, "\n"), len(a.means), avg(a.means), avg(a.papers))
}

// aucRun summarises the AUCs of aucSeeds seeds.
type aucRun struct{ mean, sd, lo, hi float64 }

// seedAUCs trains and scores a forest on X for each of aucSeeds seeds.
func seedAUCs(t *testing.T, o Options, X [][]float64, y []bool) aucRun {
	t.Helper()
	aucs := make([]float64, aucSeeds)
	for seed := range aucs {
		o.Seed = uint64(seed)
		f := New(o)
		if err := f.Fit(X); err != nil {
			t.Fatal(err)
		}
		s, err := f.Scores(X)
		if err != nil {
			t.Fatal(err)
		}
		aucs[seed] = rocAUC(s, y)
	}
	r := aucRun{mean: avg(aucs), lo: slices.Min(aucs), hi: slices.Max(aucs)}
	for _, v := range aucs {
		r.sd += (v - r.mean) * (v - r.mean) / (aucSeeds - 1)
	}
	r.sd = math.Sqrt(r.sd)
	return r
}

func avg(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// readODDS reads a CSV of header label,v1..vd and rows whose label is
// "anomaly" or "nominal".
func readODDS(t *testing.T, path string) ([][]float64, []bool) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	X := make([][]float64, 0, len(recs)-1)
	y := make([]bool, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		row := make([]float64, len(rec)-1)
		for j, s := range rec[1:] {
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatalf("%s line %d: %v", path, i+2, err)
			}
		}
		switch rec[0] {
		case "anomaly", "nominal":
		default:
			t.Fatalf("%s line %d: label %q", path, i+2, rec[0])
		}
		X = append(X, row)
		y = append(y, rec[0] == "anomaly")
	}
	return X, y
}
