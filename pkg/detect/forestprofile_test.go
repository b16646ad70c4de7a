package detect

import (
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/features"
)

// A token whose every window was anomalous until now has no profile yet:
// with detect.min_messages: 1 a replay reached this and crashed. Its
// first ordinary window is not scored (there is nothing to compare its
// networks and clients with), and it is learned.
func TestForestSkipsATokenWithoutProfile(t *testing.T) {
	m, err := FitModel(normalRows(5, 500), iforest.Options{Trees: 10, Extended: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Forest: ForestOptions{Model: m.WithThreshold(0.7)}})
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	w := &features.Window{Kind: features.Token, Key: fp("noprofile"), Start: start, End: start.Add(time.Minute)}
	w.V[features.Requests], w.V[features.Messages] = 5, 50
	e := &entity{kind: features.Token, thrDet: detEWMA, active: 2 * forestWarmWindows}
	c := &closing{w: w, e: e, r: d.ratesFor(w)}
	d.forestVector(c)
	if c.forest.scored || !c.forest.learnable {
		t.Fatalf("scored %v, learnable %v: want a learnable window left unscored", c.forest.scored, c.forest.learnable)
	}
	d.learnProfile(e, w, c.forest.learnable)
	if e.prof == nil {
		t.Fatal("the window was not learned into a profile")
	}
}
