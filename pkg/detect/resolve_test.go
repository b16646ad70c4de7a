package detect

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// warmed returns a pipeline in which tokA has two days of about twenty
// messages a minute behind it, and tokB, another steady token, keeps the
// clock moving when tokA is silent.
func warmed(t *testing.T, rng *rand.Rand) (*pipeline, int) {
	t.Helper()
	p := newPipeline(Options{})
	const days2 = 2 * 1440
	for m := range days2 {
		p.feed(steadyPair(rng, m, true))
	}
	if len(p.found)+len(p.resolved) != 0 {
		t.Fatalf("steady tokens raised%s", describe(append(p.found, p.resolved...)))
	}
	return p, days2
}

const tokB, ipB = "bbbbbbbbbbbb", "10.0.0.2"

// steadyPair is one minute of tokB's ordinary traffic, and of tokA's
// when withA.
func steadyPair(rng *rand.Rand, m int, withA bool) []*ingest.Record {
	bs := []burst{{fp: tokB, ip: ipB, msgs: poisson(rng, 20)}}
	if withA {
		bs = append(bs, burst{fp: tokA, ip: ipA, msgs: poisson(rng, 20)})
	}
	return minute(m, bs...)
}

func TestBackToNormalAfterTheEpisode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		silentAt bool // tokA sends nothing at all after its burst
	}{{"ordinary traffic again", false}, {"silent after", true}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 9))
			p, m := warmed(t, rng)
			start := t0.Add(time.Duration(m) * time.Minute)
			for i := range 3 {
				p.feed(minute(m+i, burst{fp: tokA, ip: ipA, msgs: 5000, per: 50}, burst{fp: tokB, ip: ipB, msgs: 20}))
			}
			alerts := only(p.found, tokA)
			if len(alerts) == 0 {
				t.Fatal("the burst raised no alert")
			}
			for i := 3; i < 30; i++ {
				p.feed(steadyPair(rng, m+i, !tc.silentAt))
			}
			res := only(p.resolved, tokA)
			if len(res) != 1 {
				t.Fatalf("%d back-to-normal notices for tokA, want 1:%s", len(res), describe(res))
			}
			r := res[0]
			end := start.Add(time.Duration(3+DefaultOptions().EpisodeEnd) * time.Minute)
			if !r.Resolved || r.Detector != alerts[0].Detector || !r.Since.Equal(start) {
				t.Errorf("notice %+v; want resolved, detector %s, since %v", r, alerts[0].Detector, start)
			}
			// Judged over once EpisodeEnd ordinary windows have closed,
			// or for a silent token one window later: its silence is
			// counted once the next window has closed without it.
			if r.At.Before(end) || r.At.After(end.Add(time.Minute)) {
				t.Errorf("judged over at %v, want %v (or a minute later)", r.At, end)
			}
			if r.Excess < 3*(5000-100) {
				t.Errorf("excess %v, want the three minutes' ~%d above normal", r.Excess, 3*4900)
			}
			if len(only(p.resolved, tokB)) != 0 {
				t.Error("a token that never alerted got a back-to-normal notice")
			}
		})
	}
}

func TestBackToNormalSurvivesARestart(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	p, m := warmed(t, rng)
	p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: 5000, per: 50}, burst{fp: tokB, ip: ipB, msgs: 20}))
	p.feed(steadyPair(rng, m+1, false))
	if len(only(p.found, tokA)) == 0 {
		t.Fatal("the burst raised no alert")
	}
	p = p.restart(t, Options{})
	for i := 2; i < 20; i++ {
		p.feed(steadyPair(rng, m+i, false))
	}
	if res := only(p.resolved, tokA); len(res) != 1 {
		t.Fatalf("%d notices after a restart in the episode, want 1:%s", len(res), describe(res))
	}
}

// When the whole log falls silent after an incident, no window closes to
// end it; the token's next burst does, and its notice comes before the
// new incident's alert, so that Alertmanager does not resolve the new one.
func TestNoticeComesBeforeTheNextIncident(t *testing.T) {
	for _, early := range []bool{true, false} {
		t.Run(map[bool]string{true: "reported early", false: "reported at close"}[early], func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 9))
			p, m := warmed(t, rng)
			p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: 5000, per: 50}, burst{fp: tokB, ip: ipB, msgs: 20}))
			p.feed(steadyPair(rng, m+1, true))
			if len(only(p.found, tokA)) == 0 {
				t.Fatal("the first burst raised no alert")
			}
			per := 50
			if !early {
				per = 5000 // one request: crossing and closing come together
			}
			// Two silent hours, then tokA bursts again, alone.
			p.feed(minute(m+120, burst{fp: tokA, ip: ipA, msgs: 5000, per: per}))
			p.flush()
			var order []string
			for _, f := range only(p.all, tokA) {
				order = append(order, map[bool]string{true: "notice", false: "alert"}[f.Resolved])
			}
			if len(order) < 3 || order[0] != "alert" || order[1] != "notice" || order[2] != "alert" {
				t.Errorf("tokA's findings in order %v, want alert, notice, alert", order)
			}
		})
	}
}

// A notice carries the highest severity of its incident, not of its last
// alert, so that a sink for critical alerts only hears of its end: here a
// critical burst, then a sustained pull, and past the cooldown a warning.
func TestNoticeHasTheIncidentsWorstSeverity(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	p, m := warmed(t, rng)
	p.feed(minute(m, burst{fp: tokA, ip: ipA, msgs: 50000, per: 50}, burst{fp: tokB, ip: ipB, msgs: 20}))
	for i := 1; i < 35; i++ {
		p.feed(minute(m+i, burst{fp: tokA, ip: ipA, msgs: 300, per: 50}, burst{fp: tokB, ip: ipB, msgs: 20}))
	}
	p.feed(minute(m+35, burst{fp: tokA, ip: ipA, msgs: 6000, per: 50}, burst{fp: tokB, ip: ipB, msgs: 20}))
	for i := 36; i < 60; i++ {
		p.feed(steadyPair(rng, m+i, false))
	}
	alerts, res := only(p.found, tokA), only(p.resolved, tokA)
	var sev []string
	for _, a := range alerts {
		sev = append(sev, a.Severity)
	}
	if !slices.Contains(sev, "critical") || sev[len(sev)-1] != "warning" {
		t.Fatalf("alert severities %v, want a critical one and a warning last", sev)
	}
	if len(res) != 1 || res[0].Severity != "critical" {
		t.Errorf("notices %s; want one, critical", describe(res))
	}
}

// The notice takes the episode's worst severity even when the cooldown's
// has been reset by a later, milder alert.
func TestResolutionTakesTheEpisodesWorst(t *testing.T) {
	d := New(Options{})
	e := &entity{key: tokA}
	e.ep[detEWMA] = &EpisodeState{Since: 1, LastAlert: 2, Severity: sevWarning, Worst: sevCritical}
	d.endEpisode(e, detEWMA, 3)
	if len(d.resolved) != 1 || d.resolved[0].Severity != "critical" {
		t.Fatalf("notices %s, want one, critical", describe(d.resolved))
	}
}
