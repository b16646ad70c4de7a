package tune

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/gen"
)

// history writes four days of generated traffic with attacks from 40
// tokens, the smallest the generator's scenarios allow, and returns its
// path and the sources that replay it.
func history(t *testing.T) (string, []engine.Source) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	_, err = gen.Generate(gen.Options{Seed: 1, Tokens: gen.MinAttackTokens, Duration: gen.MinAttackDuration, Attacks: true}, w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	sources, err := app.Sources(config.Default(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	return path, sources
}

func backtest(t *testing.T, sources []engine.Source, scales []float64, budget float64) *Result {
	t.Helper()
	res, err := Run(context.Background(), Options{Config: config.Default(), Sources: sources,
		Scales: scales, Budget: budget, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// replaySnippet replays the history with the configuration a candidate's
// snippet says, parsed as a user's file would be, and returns its alerts
// grouped by entity and clock hour, each with its first alert.
func replaySnippet(t *testing.T, sources []engine.Source, snippet string) map[hourKey]alert.Alert {
	t.Helper()
	c, err := config.Parse([]byte(snippet))
	if err != nil {
		t.Fatalf("the snippet does not parse: %v\n%s", err, snippet)
	}
	eo, err := app.EngineOptions(c, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	hours := map[hourKey]alert.Alert{}
	_, err = engine.Replay(context.Background(), engine.ReplayOptions{Options: eo, Sources: sources}, func(a *alert.Alert) {
		k := hourKey{a.Entity, a.Key, a.At.UTC().Truncate(time.Hour)}
		if _, seen := hours[k]; !seen && a.Status != alert.StatusResolved {
			hours[k] = *a
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return hours
}

// TestProposalHoldsBudget sets a budget between two candidates' loads and
// checks the proposal against replays of the snippets it prints: the
// proposed one stays within the budget, the next more sensitive does
// not, and what it gains and loses against the configuration is what
// the replays differ by.
func TestProposalHoldsBudget(t *testing.T) {
	_, sources := history(t)
	scales := []float64{0.6, 1, 2, 3}
	first := backtest(t, sources, scales, 0)
	// A budget just under the current configuration's load and above
	// scale 2's, so that scale 2 is proposed over 3, also within it, and
	// 1 is the next more sensitive.
	cur, two, three := first.Candidates[1].PerDay, first.Candidates[2].PerDay, first.Candidates[3].PerDay
	if !(two < cur && three <= two) {
		t.Fatalf("alert-hours a day at scales 1, 2, 3: %v, %v, %v; the history cannot exercise the choice", cur, two, three)
	}
	budget := (cur + two) / 2
	res := backtest(t, sources, scales, budget)
	if res.Proposed != 2 {
		t.Fatalf("proposed candidate %d with budget %v, want 2 (scale 2); loads: %v, %v, %v, %v",
			res.Proposed, budget, res.Candidates[0].PerDay, cur, two, three)
	}
	if d := res.Days; d < 3.9 || d > 4 {
		t.Fatalf("the history spans %v days, want about 4", d)
	}
	proposed := replaySnippet(t, sources, res.Candidates[2].Snippet)
	if got := float64(len(proposed)) / res.Days; got > budget {
		t.Errorf("the proposed snippet replays to %v alert-hours a day, over the budget %v", got, budget)
	}
	next := replaySnippet(t, sources, res.Candidates[1].Snippet)
	if got := float64(len(next)) / res.Days; got <= budget {
		t.Errorf("the next more sensitive snippet replays to %v alert-hours a day, within the budget %v", got, budget)
	}
	current := replaySnippet(t, sources, "") // the defaults, the configuration backtested
	replays := []map[hourKey]alert.Alert{replaySnippet(t, sources, res.Candidates[0].Snippet), next, proposed,
		replaySnippet(t, sources, res.Candidates[3].Snippet)}
	for i, c := range res.Candidates {
		at := replays[i]
		if len(at) != c.AlertHours {
			t.Errorf("scale %v: its snippet replays to %d alert-hours, the backtest counted %d", c.Scale, len(at), c.AlertHours)
		}
		sameHours(t, "gained at scale "+num(c.Scale), c.Gained, at, current)
		sameHours(t, "lost at scale "+num(c.Scale), c.Lost, current, at)
	}
	if len(res.Candidates[0].Gained) == 0 || len(res.Candidates[2].Lost) == 0 {
		t.Errorf("nothing gained at scale 0.6 (%d) or lost at scale 2 (%d): the comparison is not exercised",
			len(res.Candidates[0].Gained), len(res.Candidates[2].Lost))
	}
}

// sameHours checks that listed holds exactly the alert-hours of a that
// b lacks, each told by a's first alert of the hour, in time order.
func sameHours(t *testing.T, what string, listed []Hour, a, b map[hourKey]alert.Alert) {
	t.Helper()
	want := 0
	for k, first := range a {
		if _, ok := b[k]; ok {
			continue
		}
		want++
		found := false
		for _, h := range listed {
			if h.Entity == k.entity && h.Key == k.key && h.Hour.Equal(k.hour) {
				found = true
				if !h.At.Equal(first.At) || h.Detector != first.Detector || h.Observed != first.Observed {
					t.Errorf("%s: %s %s at %v is told by %s %v at %v, want %s %v at %v", what, k.entity, k.key, k.hour,
						h.Detector, h.Observed, h.At, first.Detector, first.Observed, first.At)
				}
			}
		}
		if !found {
			t.Errorf("%s: %s %s in the hour %v is missing", what, k.entity, k.key, k.hour)
		}
	}
	if len(listed) != want {
		t.Errorf("%s: %d alert-hours listed, the replays differ by %d", what, len(listed), want)
	}
	for i := 1; i < len(listed); i++ {
		if listed[i].At.Before(listed[i-1].At) {
			t.Errorf("%s: not in time order at %d", what, i)
		}
	}
}

// TestImpossibleBudget asks for fewer alerts than even the least
// sensitive candidate raises, and checks that it says so and names the
// entity with the most alert-hours there, or counts those that tie.
func TestImpossibleBudget(t *testing.T) {
	_, sources := history(t)
	res := backtest(t, sources, []float64{1, 3}, 0)
	least := res.Candidates[len(res.Candidates)-1]
	at := replaySnippet(t, sources, least.Snippet)
	if len(at) == 0 {
		t.Fatal("the least sensitive candidate raises nothing: the history cannot make a budget impossible")
	}
	if res.Proposed != -1 {
		t.Fatalf("proposed candidate %d with a budget of 0, when every candidate alerts", res.Proposed)
	}
	counts := map[string]int{}
	most := 0
	for k := range at {
		counts[k.entity+" "+k.key]++
		most = max(most, counts[k.entity+" "+k.key])
	}
	// When more entities tie for the most than are listed, none is
	// listed and they are counted instead.
	switch {
	case len(res.Dominant) > 0:
		if res.Dominant[0].Hours != most || counts[res.Dominant[0].Entity+" "+res.Dominant[0].Key] != most {
			t.Errorf("dominant entities %+v, want first one with %d alert-hours (%v)", res.Dominant, most, counts)
		}
	case res.TiedHours != most || res.Tied < 2 || res.Entities != len(counts):
		t.Errorf("no dominant entity, %d of %d tied at %d: want those with %d alert-hours counted (%v)",
			res.Tied, res.Entities, res.TiedHours, most, counts)
	}
	var out bytes.Buffer
	if err := res.WriteText(&out, 3); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No candidate is within the budget") || strings.Contains(out.String(), "detect:\n") {
		t.Errorf("the text does not say the budget cannot be met, or proposes a snippet:\n%s", out.String())
	}
}

// TestScaledKeys checks which keys a scale moves, and that scale 1 is
// the configuration itself.
func TestScaledKeys(t *testing.T) {
	base := Keys{Z: 6, Ratio: 5, PopulationZ: 4, MinMessages: 300, SlowMinMessages: 1000, ForestThreshold: 0.7, forestOn: true}
	if got := base.scaled(1, 0); got.ForestThreshold != 0 || got.Z != 6 || got.MinMessages != 300 {
		t.Errorf("scale 1 = %+v, want the configuration with the calibrated threshold", got)
	}
	got := base.scaled(2, 0)
	want := Keys{Z: 12, Ratio: 10, PopulationZ: 8, MinMessages: 600, SlowMinMessages: 2000, ForestThreshold: 0.85, forestOn: true}
	if got != want {
		t.Errorf("scale 2 = %+v, want %+v", got, want)
	}
	if got := base.scaled(0.1, 0); got.Ratio != 1 || got.ForestThreshold != 0.5 {
		t.Errorf("scale 0.1 = %+v, want ratio 1 and threshold 0.5, the least allowed", got)
	}
	if _, err := checkScales([]float64{2, -1}); err == nil {
		t.Error("a negative scale was accepted")
	}
}

// TestCompareCountsAlertHours checks the counting on alerts made by
// hand: an entity's alerts within one clock hour count once, and the
// entities with the most alert-hours come first.
func TestCompareCountsAlertHours(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 5, 0, 0, time.UTC)
	a := func(key string, offset time.Duration) alert.Alert {
		return alert.Alert{Entity: "token", Key: key, At: at.Add(offset), Detector: "ewma", Observed: 600, Score: 2}
	}
	busy := []alert.Alert{a("aaa", 0), a("aaa", 10*time.Minute), a("aaa", time.Hour), a("aaa", 3*time.Hour),
		a("bbb", 0), a("bbb", 2*time.Minute)}
	quiet := []alert.Alert{a("bbb", 0)}
	span := run{first: at.Add(-time.Hour), last: at.Add(47 * time.Hour)} // two days
	busyRun, quietRun := span, span
	busyRun.alerts, quietRun.alerts = busy, quiet
	res := compare([]float64{1, 2}, []Keys{{}, {}}, []run{busyRun, quietRun}, 0.4)
	if res.Days != 2 {
		t.Fatalf("days %v, want 2", res.Days)
	}
	c := res.Candidates[0]
	if c.Alerts != 6 || c.AlertHours != 4 || c.PerDay != 2 {
		t.Errorf("6 alerts in 4 entity-hours over 2 days counted as %d alerts, %d alert-hours, %v a day", c.Alerts, c.AlertHours, c.PerDay)
	}
	if h := res.Candidates[1].Lost; len(h) != 3 || h[0].Key != "aaa" || h[0].Alerts != 2 || h[0].Threshold != 300 {
		t.Errorf("scale 2 lost %+v, want aaa's three hours, the first of 2 alerts with threshold 300", h)
	}
	if res.Proposed != -1 || len(res.Dominant) != 1 || res.Dominant[0].Key != "bbb" {
		t.Errorf("with a budget under every candidate: proposed %d, dominant %+v", res.Proposed, res.Dominant)
	}
	res = compare([]float64{1, 2}, []Keys{{}, {}}, []run{busyRun, busyRun}, 2)
	if res.Proposed != 0 {
		t.Errorf("proposed %d, want 0, the most sensitive within the budget", res.Proposed)
	}
	res = compare([]float64{1, 2}, []Keys{{}, {}}, []run{busyRun, busyRun}, 0.4)
	if len(res.Dominant) != 2 || res.Dominant[0].Key != "aaa" || res.Dominant[0].Hours != 3 || res.Dominant[1].Hours != 1 {
		t.Errorf("dominant %+v, want aaa with 3 alert-hours, then bbb with 1", res.Dominant)
	}
}

// TestCandidatesValidated checks that scales outside 0.1 to 10 are
// refused, and that a candidate whose keys the configuration would
// refuse, or read as its default, stops the backtest before any replay,
// naming the scale and the field.
func TestCandidatesValidated(t *testing.T) {
	for _, s := range []float64{0.001, 0.09, 10.5, 1e-9} {
		if _, err := checkScales([]float64{s}); err == nil || !strings.Contains(err.Error(), "0.1 to 10") {
			t.Errorf("scale %v: error %v, want it refused with the range allowed", s, err)
		}
	}
	if _, err := checkScales([]float64{0.1, 10}); err != nil {
		t.Errorf("scales 0.1 and 10 refused: %v", err)
	}
	for _, tc := range []struct {
		file  string
		scale float64
		field string
	}{
		{"detect:\n  z: 0.004\n", 0.5, "detect.z"},                      // rounds to 0, read as the default 6
		{"detect:\n  population_z: 1e307\n", 10, "detect.population_z"}, // infinite
	} {
		c, err := config.Parse([]byte(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(context.Background(), Options{Config: c, Scales: []float64{tc.scale}, Budget: 1, Logger: zerolog.Nop()})
		if err == nil || !strings.Contains(err.Error(), "scale "+num(tc.scale)) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q at scale %v: error %v, want the scale and %s named", tc.file, tc.scale, err, tc.field)
		}
	}
}

// TestBudgetChecked checks that Run refuses a budget that is not a
// finite number of 0 or more.
func TestBudgetChecked(t *testing.T) {
	for _, b := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1} {
		_, err := Run(context.Background(), Options{Config: config.Default(), Budget: b, Logger: zerolog.Nop()})
		if err == nil || !strings.Contains(err.Error(), "allowed is a finite number, 0 or more") {
			t.Errorf("budget %v: error %v, want it refused with what is allowed", b, err)
		}
	}
}

// TestTextTiesAndPlurals checks the text on alerts made by hand: when
// entities tie where the list of the busiest would be cut it says so
// rather than pick among them by name, one alert-hour is singular, and
// an alert whose value and threshold print alike is not told as above it.
func TestTextTiesAndPlurals(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 5, 0, 0, time.UTC)
	a := func(key string, offset time.Duration) alert.Alert {
		return alert.Alert{Entity: "token", Key: key, At: at.Add(offset), Detector: "ewma", Feature: "messages",
			Observed: 2000, Score: 1.0000001}
	}
	span := run{first: at.Add(-time.Hour), last: at.Add(23 * time.Hour)}
	text := func(res *Result) string {
		var b bytes.Buffer
		if err := res.WriteText(&b, 3); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	var flat []alert.Alert
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7"} {
		flat = append(flat, a(k, 0))
	}
	cur, wide := span, span
	cur.alerts, wide.alerts = flat[:6], flat
	res := compare([]float64{1, 2}, []Keys{{}, {}}, []run{cur, wide}, 0)
	out := text(res)
	for _, want := range []string{"No entity stands out there: all 7 alerting have 1 alert-hour each.",
		"1 alert-hour gained, 0 lost", "token k7 ewma messages: observed 2000, at its threshold"} {
		if !strings.Contains(out, want) {
			t.Errorf("the text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "1 alert-hours") || strings.Contains(out, "  token k1: ") {
		t.Errorf("the text says 1 alert-hours, or lists entities that all tie:\n%s", out)
	}
	busy := append([]alert.Alert{a("k0", time.Hour), a("k0", 2*time.Hour)}, flat...)
	wide.alerts = busy
	res = compare([]float64{1, 2}, []Keys{{}, {}}, []run{cur, wide}, 0)
	if len(res.Dominant) != 1 || res.Dominant[0].Key != "k0" || res.Entities != 8 || res.Tied != 7 || res.TiedHours != 1 {
		t.Errorf("dominant %+v, %d entities, %d tied at %d: want k0 alone, then 7 of 8 tied at 1", res.Dominant, res.Entities, res.Tied, res.TiedHours)
	}
	out = text(res)
	if !strings.Contains(out, "  token k0: 2 alert-hours\n  and 7 more that tie at 1 alert-hour each\n") {
		t.Errorf("the text does not list k0 and say the rest tie:\n%s", out)
	}
}
