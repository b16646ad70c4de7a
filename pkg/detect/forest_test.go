package detect

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// tenant is a token with its own server, client and pace.
type tenant struct {
	fp, ip, ua string
	rate       float64 // requests a minute
	page       int     // messages per request
}

func tenants(rng *rand.Rand, n int) []tenant {
	ts := make([]tenant, n)
	for i := range ts {
		ts[i] = tenant{
			fp:   fp(fmt.Sprintf("t%d", i)),
			ip:   fmt.Sprintf("10.%d.0.%d", i, 1+rng.IntN(3)),
			ua:   fmt.Sprintf("app-%d/1.0", i%5),
			rate: 2 + 8*rng.Float64(),
			page: 1 + rng.IntN(20),
		}
	}
	return ts
}

// ordinary returns minute m of every tenant's usual traffic.
func ordinary(rng *rand.Rand, ts []tenant, m int) []*ingest.Record {
	start := t0.Add(time.Duration(m) * time.Minute)
	var rs []*ingest.Record
	for _, t := range ts {
		n := poisson(rng, t.rate)
		for i := range n {
			at := start.Add(time.Duration(i) * time.Minute / time.Duration(n+1))
			r := record(at, t.fp, t.ip, 0, t.page)
			r.UA = t.ua
			rs = append(rs, r)
		}
	}
	slices.SortStableFunc(rs, func(a, b *ingest.Record) int { return a.Time.Compare(b.Time) })
	return rs
}

const forestDay = 24 * 60

// testMinRequests: the tenants here make 2 to 10 requests a minute, and
// the windows planted are of such minutes. Scoring their rare minutes of
// one request too would make the day's highest score, the threshold these
// tests calibrate, a matter of those.
const testMinRequests = 3

// trainedModel learns a model from a day of ordinary traffic the way
// `sentinel train` does: a detector without a model collects the
// ordinary windows, and the forest is fitted on them.
func trainedModel(t *testing.T, seed uint64, ts []tenant) *Model {
	t.Helper()
	p := newPipeline(Options{Forest: ForestOptions{Reservoir: 20000, Seed: seed, MinRequests: testMinRequests}})
	rng := rand.New(rand.NewPCG(seed, 1))
	for m := range forestDay {
		p.feed(ordinary(rng, ts, m))
	}
	rows := p.det.ForestRows()
	if len(rows) < 10000 {
		t.Fatalf("collected %d windows from a day of %d tokens", len(rows), len(ts))
	}
	m, err := FitModel(rows, iforest.Options{Seed: seed, Extended: true, SampleSize: DefaultForestSampleSize})
	if err != nil {
		t.Fatal(err)
	}
	// Calibrate on another day, as train does on its second pass: the
	// threshold is the highest score of an ordinary window.
	var scores []float64
	p = newPipeline(Options{Forest: ForestOptions{Model: m, MinRequests: testMinRequests, Scored: func(s float64) {
		scores = append(scores, s)
	}}})
	for m := range forestDay {
		p.feed(ordinary(rng, ts, m))
	}
	return m.WithThreshold(Calibrate(scores, 0))
}

func forestFindings(fs []Finding) []Finding { return byDetector(fs, "iforest") }

// TestForestNamesPlantedFeature plants, in a day of ordinary traffic, one
// window that is ordinary in every way but one known feature, and checks
// that the forest alone raises it and names that feature first.
func TestForestNamesPlantedFeature(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	ts := tenants(rng, 40)
	model := trainedModel(t, 3, ts)

	cases := []struct {
		feature string
		plant   func(r *ingest.Record)
	}{
		{"new_client_share", func(r *ingest.Record) { r.UA = "python-requests/2.31" }},
		{"new_network_and_client", func(r *ingest.Record) {
			r.IP, r.UA = netip.MustParseAddr("203.0.113.9"), "python-requests/2.31"
		}},
	}
	for _, c := range cases {
		t.Run(c.feature, func(t *testing.T) {
			// The novelty detector would report a new network and client
			// first; this test is about what the forest sees.
			p := newPipeline(Options{Forest: ForestOptions{Model: model, MinRequests: testMinRequests, Reservoir: 1 << 20},
				Novelty: NoveltyOptions{Off: true}})
			rng := rand.New(rand.NewPCG(11, 11))
			var before []Finding
			for m := range forestDay {
				before = append(before, p.feed(ordinary(rng, ts, m))...)
			}
			if fs := forestFindings(before); len(fs) > 0 {
				t.Fatalf("the forest alerted on ordinary traffic:%s", describe(fs))
			}
			victim := ts[7]
			plant := ordinary(rng, ts, forestDay)
			for _, r := range plant {
				if r.Cred.FP == victim.fp {
					c.plant(r)
				}
			}
			p.feed(plant)
			fs := p.flush()
			got := forestFindings(fs)
			if len(got) != 1 || got[0].Key != victim.fp {
				t.Fatalf("want one iforest finding for %s, got:%s\nall findings:%s", victim.fp, describe(got), describe(fs))
			}
			if others := len(fs) - len(got); others > 0 {
				t.Errorf("the per-feature detectors also alerted:%s", describe(fs))
			}
			iso := got[0].Isolated
			if len(iso) == 0 || iso[0].Feature != c.feature || got[0].Feature != "isolation_score" {
				t.Errorf("finding on %q, isolated by %+v; want isolation_score, by %s first", got[0].Feature, iso, c.feature)
			}
			// The window that alerted is no window to learn the next model
			// from.
			j := slices.Index(ForestFeatures, c.feature)
			for _, row := range p.det.ForestRows() {
				if row[j] == 1 {
					t.Fatalf("the alerting window went into the reservoir: %v", row)
				}
			}
			t.Logf("score %.3f (threshold %.2f), isolated by %+v", got[0].Observed, got[0].Threshold, iso)
		})
	}
}

// TestForestCheckpoint checks that a restart keeps the reservoir, the
// profiles and a retrained model, so the restarted detector judges as
// the uninterrupted one does.
func TestForestCheckpoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	ts := tenants(rng, 20)
	model := trainedModel(t, 4, ts)
	o := Options{Forest: ForestOptions{
		Model: model, Reservoir: 5000, RetrainEvery: 6 * time.Hour, Seed: 9,
		Train: iforest.Options{Extended: true, Trees: 20},
	}}
	feed := func(p *pipeline, from, to int, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(from)))
		for m := from; m < to; m++ {
			p.feed(ordinary(rng, ts, m))
		}
	}
	a := newPipeline(o)
	feed(a, 0, 800, 1)
	b := a.restart(t, o)
	feed(a, 800, 2*forestDay, 2)
	feed(b, 800, 2*forestDay, 2)
	sa, sb := a.det.Snapshot(), b.det.Snapshot()
	if sa.Forest == nil || len(sa.Forest.Model) == 0 {
		t.Fatal("two days with a retraining every 6h left no retrained model")
	}
	ma, mb := a.det.ForestModel(), b.det.ForestModel()
	if ma == model || mb == model {
		t.Fatal("the retrained model was not swapped in")
	}
	for _, row := range a.det.ForestRows()[:100] {
		if ma.Score(row) != mb.Score(row) {
			t.Fatal("the restarted detector retrained a different model")
		}
	}
	if !slices.Equal(sa.Forest.Reservoir, sb.Forest.Reservoir) {
		t.Error("the restarted detector collected different windows")
	}
	for i := range sa.Entities {
		pa, pb := sa.Entities[i].Profile, sb.Entities[i].Profile
		if (pa == nil) != (pb == nil) || pa != nil && *pa != *pb {
			t.Fatalf("entity %s: profile differs after restart", sa.Entities[i].Key)
		}
	}
}

func TestLoadModelRefusesOtherFeatures(t *testing.T) {
	rows := make([][]float64, 300)
	for i := range rows {
		rows[i] = []float64{float64(i), float64(i % 7)}
	}
	f := iforest.New(iforest.Options{Trees: 5})
	if err := f.Fit(rows); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Save(&buf, iforest.Meta{Features: []string{"log_messages", "requests"}}); err != nil {
		t.Fatal(err)
	}
	_, err := LoadModel(&buf)
	if err == nil || !strings.Contains(err.Error(), "feature mismatch") || !strings.Contains(err.Error(), "new_client_share") {
		t.Fatalf("LoadModel of a model over other features: %v; want a feature mismatch naming what is missing", err)
	}
}

func TestModelSaveLoadScoresAlike(t *testing.T) {
	rows := normalRows(1, 2000)
	m, err := FitModel(rows, iforest.Options{Trees: 20, Extended: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	m = m.WithThreshold(0.66)
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := LoadModel(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Meta().Threshold != 0.66 || !slices.Equal(back.Meta().Offset, m.Meta().Offset) {
		t.Errorf("meta after load: %+v, want %+v", back.Meta(), m.Meta())
	}
	for _, r := range rows[:50] {
		if a, b := m.Score(r), back.Score(r); a != b {
			t.Fatalf("score %v before save, %v after load", a, b)
		}
	}
}

func TestTailThreshold(t *testing.T) {
	// Scores whose tail above 0.6 is exponential with mean excess 0.02:
	// the score exceeded one time in a million is 0.6 + 0.02 ln(P(>0.6)/1e-6).
	n := int64(1_000_000)
	var top []float64
	for i := range topKept {
		// Quantiles of the exponential tail, ascending.
		p := 1 - (float64(i)+0.5)/topKept
		top = append(top, 0.6-0.02*math.Log(p))
	}
	top[0] = 0.6
	for _, rate := range []float64{1e-5, 1e-6, 1e-8} {
		got := tailThreshold(top, n, rate)
		want := 0.6 + 0.02*math.Log(float64(topKept)/float64(n)/rate)
		if math.Abs(got-want) > 0.01 {
			t.Errorf("rate %g: tailThreshold = %.4f, want about %.4f", rate, got, want)
		}
	}
	if got := tailThreshold(top, n, 1e-3); got != 0.6 {
		t.Errorf("a rate below the lowest score kept gives %.4f, want that score, 0.6", got)
	}
}

// TestForestScoresAlikeOnAnyCores closes windows by the hundred, which
// CloseAll scores on several goroutines, and checks that the findings do
// not depend on how many.
func TestForestScoresAlikeOnAnyCores(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	ts := tenants(rng, 150)
	p := newPipeline(Options{Forest: ForestOptions{Reservoir: 20000, Seed: 1}})
	for m := range 240 {
		p.feed(ordinary(rng, ts, m))
	}
	model, err := FitModel(p.det.ForestRows(), iforest.Options{Extended: true, Trees: 30, SampleSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	// A low threshold, so that there is something to find.
	model = model.WithThreshold(0.55)
	snap := p.det.Snapshot()
	traffic := make([][]*ingest.Record, 120)
	for i := range traffic {
		traffic[i] = ordinary(rng, ts, 240+i)
	}
	// Retraining every 20 minutes puts a model in the shadow of the one in
	// use for most of the two hours: its scores are taken in parallel too.
	o := Options{Forest: ForestOptions{
		Model: model, Reservoir: 5000, RetrainEvery: 20 * time.Minute, Shadow: time.Hour,
		Train: iforest.Options{Extended: true, Trees: 10, SampleSize: 256},
	}}
	run := func(procs int) ([]Finding, *ForestState) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		q := newPipeline(o)
		if err := q.det.Restore(snap); err != nil {
			t.Fatal(err)
		}
		if err := q.agg.Restore(p.agg.Snapshot()); err != nil {
			t.Fatal(err)
		}
		q.maxT = p.maxT
		var fs []Finding
		for _, rs := range traffic {
			fs = append(fs, q.feed(rs)...)
		}
		return append(fs, q.flush()...), q.det.Snapshot().Forest
	}
	one, s1 := run(1)
	two, s2 := run(2)
	if len(forestFindings(two)) == 0 {
		t.Fatal("no iforest finding at threshold 0.55: the test checks nothing")
	}
	if !reflect.DeepEqual(one, two) {
		t.Errorf("findings differ: %d on one core, %d on two", len(one), len(two))
	}
	if len(s2.Shadow) == 0 || s2.Count == 0 || len(s2.Top) == 0 {
		t.Fatalf("no model in its shadow at the end (%d windows scored): the test checks nothing of it", s2.Count)
	}
	if s1.Count != s2.Count || !slices.Equal(s1.Top, s2.Top) {
		t.Errorf("the shadow's calibration differs: %d windows, top %v on one core; %d, %v on two",
			s1.Count, s1.Top[len(s1.Top)-3:], s2.Count, s2.Top[len(s2.Top)-3:])
	}
}

// TestPromoteRefusesAModelThatCouldNeverAlert: a shadow calibrated on
// windows too alike puts its threshold at the cap of 1, where the forest
// would be silent for good; it must not take over, and the failure must
// be reported. A sound calibration does take over.
func TestPromoteRefusesAModelThatCouldNeverAlert(t *testing.T) {
	rows := normalRows(4, 2000)
	inUse, err := FitModel(rows, iforest.Options{Trees: 10, Extended: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := FitModel(rows, iforest.Options{Trees: 10, Extended: true, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	var failed []error
	var took []float64
	d := New(Options{Forest: ForestOptions{
		Model:         inUse.WithThreshold(0.7),
		RetrainFailed: func(err error) { failed = append(failed, err) },
		Retrained:     func(_ *Model, _ int64, thr float64) { took = append(took, thr) },
	}})
	shadowWith := func(top []float64) {
		r := &d.forest.next
		r.shadow, r.count, r.top = shadow, minShadowWindows, top
		d.promote(0)
	}

	// Scores spread from 0.5 to 0.9 in the top 64 of 5000: the tail
	// extrapolated to 2e-6 passes 1 and is capped there.
	var wide []float64
	for i := range topKept {
		wide = append(wide, 0.5+0.4*float64(i)/topKept)
	}
	shadowWith(wide)
	if len(failed) != 1 || !errors.Is(failed[0], ErrUncalibrated) || len(took) != 0 {
		t.Fatalf("failed %v, took %v: want the shadow refused as uncalibrated", failed, took)
	}
	if d.ForestModel() == shadow || d.forest.thr != 0.7 {
		t.Fatalf("the model in use changed to the refused shadow (threshold %v)", d.forest.thr)
	}

	var tight []float64
	for i := range topKept {
		tight = append(tight, 0.6+0.05*float64(i)/topKept)
	}
	shadowWith(tight)
	if len(took) != 1 || took[0] > MaxThreshold || took[0] < 0.6 {
		t.Fatalf("a sound calibration did not take over: took %v, failed %v", took, failed)
	}
}

// normalRows returns n feature rows of independent standard normals,
// the same for the same seed.
func normalRows(seed uint64, n int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, numForest)
		for j := range rows[i] {
			rows[i][j] = rng.NormFloat64()
		}
	}
	return rows
}
