package report

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// fleet records minutes of traffic for tokens tok0..tokN-1 and one
// address, and returns the recorder; the burst token pulls 5000 in its
// window at burstAt.
func fleet(tokens, minutes int, burstAt int) *Recorder {
	r := NewRecorder()
	for m := range minutes {
		start := t0.Add(time.Duration(m) * time.Minute)
		for i := range tokens {
			msgs := float64(1 + (i+m)%5)
			if i == 0 && m == burstAt {
				msgs = 5000
			}
			r.Observe(alert.EntityToken, fmt.Sprintf("tok%d", i), start, start.Add(time.Minute), msgs, 3, 40)
		}
		r.Observe(alert.EntityIP, "203.0.113.7", start, start.Add(time.Minute), 10, 9, 60)
	}
	return r
}

func sampleAlerts() []alert.Alert {
	at := t0.Add(90 * time.Minute)
	mk := func(entity, key, feature string) alert.Alert {
		a := alert.Alert{
			ID: alert.NewID(entity, key, "ewma", feature, at), At: at, Entity: entity, Key: key,
			Detector: "ewma", Feature: feature, Observed: 5000, Expected: 3, Score: 4.2,
			Severity: alert.SeverityCritical, WindowStart: at, WindowEnd: at.Add(time.Minute),
			Since: at, Excess: 4997, TopIPs: []string{"203.0.113.7"}, Status: alert.StatusFiring,
		}
		a.Summary = alert.Summarize(&a)
		return a
	}
	return []alert.Alert{
		mk(alert.EntityToken, "tok0", "messages"),
		mk(alert.EntityToken, "tok1", "messages_30m"),
		mk(alert.EntityIP, "203.0.113.7", "messages"),
		mk(alert.EntitySource, "access.log", "rejected_lines"),
	}
}

func render(t *testing.T, d Data) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestReportChartsEachAlertedEntity checks one chart per alerted token
// and address, none for a source alert, each in its entity's section,
// and every alert listed.
func TestReportChartsEachAlertedEntity(t *testing.T) {
	alerts := sampleAlerts()
	html := render(t, Data{Sources: []string{"access.log"}, Lines: 1000, Alerts: alerts, Series: fleet(5, 180, 90)})
	if n := strings.Count(html, "<svg"); n != 3 {
		t.Fatalf("%d charts, want 3 (two tokens, one address)", n)
	}
	for _, id := range []string{`id="token-tok0"`, `id="token-tok1"`, `id="ip-203_0_113_7"`} {
		i := strings.Index(html, id)
		if i < 0 {
			t.Fatalf("no section %s", id)
		}
		if j := strings.Index(html[i:], "</section>"); !strings.Contains(html[i:i+j], "<svg") {
			t.Errorf("section %s has no chart", id)
		}
	}
	for _, a := range alerts {
		if !strings.Contains(html, a.ID) {
			t.Errorf("alert %s is not listed", a.ID)
		}
	}
	if !strings.Contains(html, fmt.Sprintf("stroke:#%02X%02X%02X", VolumeColor.R, VolumeColor.G, VolumeColor.B)) {
		t.Error("no line is drawn in the volume colour")
	}
}

// TestReportEscapes feeds markup through every free-text field an alert
// can carry from a log or a configuration.
func TestReportEscapes(t *testing.T) {
	evil := `<script>alert("x")</script><img src=x onerror=1>`
	alerts := sampleAlerts()
	alerts[0].Label = evil
	alerts[0].Summary = evil
	alerts[0].TopIPs = []string{evil}
	alerts[3].Key = evil
	html := render(t, Data{Sources: []string{evil}, Alerts: alerts, Series: fleet(3, 120, 90)})
	for _, bad := range []string{"<script", "<img"} {
		if strings.Contains(html, bad) {
			t.Fatalf("report contains unescaped %q", bad)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;") {
		t.Fatal("the escaped label is missing")
	}
}

var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//`)

// TestReportLoadsNothing checks the document references no URL: no
// src or href leaves it, and no address appears at all.
func TestReportLoadsNothing(t *testing.T) {
	for name, d := range map[string]Data{
		"alerts": {Alerts: sampleAlerts(), Series: fleet(5, 180, 90)},
		"empty":  {},
	} {
		html := render(t, d)
		if m := externalRef.FindString(html); m != "" {
			t.Errorf("%s: external reference %q", name, m)
		}
		for _, u := range []string{"http://", "https://", "@import", "url("} {
			if strings.Contains(html, u) {
				t.Errorf("%s: report contains %q", name, u)
			}
		}
	}
}

// TestRecorderKeepsLateAlertedHistory records a fleet too large for the
// budget over a long replay: the points stay within the documented
// bound, and a token's burst in its first hours is still in its series
// at the end, at the busiest window's value.
func TestRecorderKeepsLateAlertedHistory(t *testing.T) {
	r := newRecorder(4096, MaxEntities)
	for m := range 3 * 24 * 60 {
		start := t0.Add(time.Duration(m) * time.Minute)
		for i := range 300 {
			msgs := 1.0
			if i == 7 && m == 30 {
				msgs = 777
			}
			r.Observe(alert.EntityToken, fmt.Sprintf("t%d", i), start, start.Add(time.Minute), msgs, 1, 9)
		}
	}
	points := 0
	for _, s := range r.entries {
		points += len(s.pts)
	}
	if bound := max(r.budget, MinPoints*len(r.entries)); points > bound || r.cap != MinPoints {
		t.Fatalf("%d points for %d entities (cap %d), bound %d", points, len(r.entries), r.cap, bound)
	}
	pts := r.Series(alert.EntityToken, "t7")
	if len(pts) == 0 || len(pts) > MinPoints {
		t.Fatalf("%d points", len(pts))
	}
	first := pts[0]
	if first.Peak != 777 || !first.Start.Equal(t0) || first.Expected != 1 || first.Threshold != 9 {
		t.Fatalf("first bucket %+v, want the 777 burst and the band 1..9", first)
	}
	if last := pts[len(pts)-1]; !last.End.After(t0.Add(3*24*time.Hour - time.Minute)) {
		t.Fatalf("series ends at %v", last.End)
	}
	var windows int
	for _, p := range pts {
		windows += p.Windows
	}
	if windows != 3*24*60 {
		t.Fatalf("%d windows in the series, want every one", windows)
	}
}

// TestRecorderBandUnknownWhileCold checks that an infinite threshold (a
// feature not judged yet) leaves no band rather than a broken chart.
func TestRecorderBandUnknownWhileCold(t *testing.T) {
	r := NewRecorder()
	r.Observe(alert.EntityToken, "a", t0, t0.Add(time.Minute), 5, 0, math.Inf(1))
	pts := r.Series(alert.EntityToken, "a")
	if len(pts) != 1 || finite(pts[0].Threshold) {
		t.Fatalf("points %+v", pts)
	}
	a := sampleAlerts()[0]
	a.Key = "a"
	if html := render(t, Data{Alerts: []alert.Alert{a}, Series: r}); strings.Count(html, "<svg") != 1 {
		t.Fatal("no chart for a cold entity")
	}
}

// TestTopByMessages checks the volume tables' order.
func TestTopByMessages(t *testing.T) {
	r := fleet(5, 60, 30)
	top := r.Top(alert.EntityToken, 2)
	if len(top) != 2 || top[0].Key != "tok0" || top[0].Peak != 5000 {
		t.Fatalf("top %+v", top)
	}
	if ips := r.Top(alert.EntityIP, 5); len(ips) != 1 || ips[0].Messages != 600 {
		t.Fatalf("top addresses %+v", ips)
	}
}

// TestRecorderCapsEntities floods the recorder with one-window keys: it
// keeps at most its cap and keeps the busy token whatever came after.
func TestRecorderCapsEntities(t *testing.T) {
	r := newRecorder(DefaultBudget, 1000)
	r.Observe(alert.EntityToken, "busy", t0, t0.Add(time.Minute), 900, 1, 9)
	for i := range 5000 {
		start := t0.Add(time.Duration(i/100) * time.Minute)
		r.Observe(alert.EntityToken, fmt.Sprintf("flood%d", i), start, start.Add(time.Minute), 1, 0, 5)
	}
	if len(r.entries) > 1000 || r.Dropped() == 0 {
		t.Fatalf("%d entities kept, %d dropped", len(r.entries), r.Dropped())
	}
	if pts := r.Series(alert.EntityToken, "busy"); len(pts) == 0 || pts[0].Peak != 900 {
		t.Fatal("the busy token was dropped")
	}
}

// An entity's excess is its whole incident's, from its back-to-normal
// notice, not the excess its first alert saw when raised.
func TestReportTakesTheIncidentsExcess(t *testing.T) {
	alerts := sampleAlerts()
	end := alerts[0]
	end.Status, end.Excess = alert.StatusResolved, 38500
	html := render(t, Data{Alerts: alerts, Ends: []alert.Alert{end}, Series: fleet(5, 180, 90)})
	i := strings.Index(html, `id="token-tok0"`)
	if i < 0 {
		t.Fatal("no section for tok0")
	}
	section := html[i : i+strings.Index(html[i:], "</section>")]
	if !strings.Contains(section, "38,500 messages above expected") && !strings.Contains(section, "38500 messages above expected") {
		t.Errorf("tok0's section does not give its incident's 38,500 messages:\n%.300s", section)
	}
}
