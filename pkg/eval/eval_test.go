package eval

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/gen"
)

var day = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)

func at(h, m int) time.Time {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// handTruth is a small truth whose scores below were worked out by hand.
func handTruth() *gen.Truth {
	return &gen.Truth{Seed: 9, Tokens: 100, TokenDays: 100, Start: day, End: day.Add(24 * time.Hour),
		Incidents: []gen.Incident{
			{Class: gen.ClassBurstSmall, Attack: true, Entity: "token", Key: "aaa",
				Start: at(10, 0), End: at(10, 20), Related: []string{"203.0.113.5"}},
			{Class: gen.ClassLowAndSlow, Attack: true, Entity: "token", Key: "bbb",
				Start: at(8, 0), End: at(18, 0)},
			{Class: gen.ClassIPManyTokens, Attack: true, Entity: "ip", Key: "203.0.113.9",
				Start: at(12, 0), End: at(12, 30), Related: []string{"t1", "t2"}},
			{Class: gen.ClassSurgeAll, Entity: gen.Any, Key: gen.Any, Start: at(14, 0), End: at(15, 0)},
			{Class: gen.ClassNightlyExport, Entity: "token", Key: "ccc", Start: at(2, 0), End: at(2, 30)},
		}}
}

func handAlerts() []Alert {
	tok := func(key string, h, m int, det string) Alert {
		return Alert{At: at(h, m), Entity: "token", Key: key, Detector: det}
	}
	ip := func(key string, h, m int) Alert {
		return Alert{At: at(h, m), Entity: "ip", Key: key, Detector: "ipfan"}
	}
	// Out of time order on purpose: the first alert is the earliest.
	return []Alert{
		tok("aaa", 10, 30, "volume"), // in the 15 minutes' grace: matched
		tok("aaa", 10, 2, "burst"),   // caught after 2m
		ip("203.0.113.5", 10, 5),     // the burst's address: related
		tok("aaa", 10, 40, "burst"),  // past the grace: false (token aaa, 10h)
		tok("aaa", 9, 59, "burst"),   // before the start: false (token aaa, 09h)
		ip("aaa", 10, 3),             // wrong entity: false (ip aaa, 10h)
		ip("203.0.113.9", 12, 1),     // caught after 1m
		tok("t1", 12, 10, "volume"),  // a tried token: related, not false
		tok("zzz", 14, 30, "volume"), // during the surge: counts against it
		tok("ccc", 2, 10, "volume"),  // the export: counts against it
		tok("xxx", 5, 10, "volume"),  // false (token xxx, 05h)
		tok("xxx", 5, 50, "volume"),  // same hour: no extra
		tok("xxx", 6, 5, "burst"),    // false (token xxx, 06h)
		ip("198.51.100.7", 5, 20),    // false (ip 198.51.100.7, 05h)
	}
}

func TestScoreByHand(t *testing.T) {
	r := Score(handTruth(), handAlerts())
	if len(r.Attacks) != 3 || len(r.Lookalikes) != 2 {
		t.Fatalf("%d attacks, %d look-alikes; want 3 and 2", len(r.Attacks), len(r.Lookalikes))
	}
	burst, slow, spray := r.Attacks[0], r.Attacks[1], r.Attacks[2]
	if !burst.Caught || burst.TimeToDetect != 2*time.Minute || !burst.FirstAlert.Equal(at(10, 2)) ||
		burst.Alerts != 2 || burst.RelatedAlerts != 1 {
		t.Errorf("burst: %+v", burst)
	}
	if got := strings.Join(burst.Detectors, ","); got != "burst,ipfan,volume" {
		t.Errorf("burst detectors %q", got)
	}
	if slow.Caught || slow.Alerts != 0 || !slow.FirstAlert.IsZero() {
		t.Errorf("low-and-slow should be missed: %+v", slow)
	}
	if !spray.Caught || spray.TimeToDetect != time.Minute || spray.Alerts != 1 || spray.RelatedAlerts != 1 {
		t.Errorf("ip spray: %+v", spray)
	}
	surge, export := r.Lookalikes[0], r.Lookalikes[1]
	if surge.Alerts != 1 || !surge.Caught || export.Alerts != 1 {
		t.Errorf("look-alikes: surge %+v, export %+v", surge, export)
	}
	// token aaa 09h and 10h, ip aaa 10h, token xxx 05h and 06h, ip
	// 198.51.100.7 05h.
	if r.FalseAlertHours != 6 || r.FalsePer1000TokenDays != 60 || r.Alerts != 14 {
		t.Errorf("false alert-hours %d (%.1f per 1000 token-days), %d alerts; want 6 (60), 14",
			r.FalseAlertHours, r.FalsePer1000TokenDays, r.Alerts)
	}
	if r.FalseByDetector["burst"] != 3 || r.FalseByDetector["volume"] != 1 || r.FalseByDetector["ipfan"] != 2 {
		t.Errorf("false by detector %v", r.FalseByDetector)
	}
}

func TestScoreNoAlerts(t *testing.T) {
	r := Score(handTruth(), nil)
	for _, c := range r.Attacks {
		if c.Caught {
			t.Errorf("%s caught with no alerts", c.Class)
		}
	}
	if r.FalseAlertHours != 0 || r.Alerts != 0 {
		t.Errorf("%+v", r)
	}
}

// TestScoreGenerated scores a perfect detector and a noisy one on a
// real generated truth.
func TestScoreGenerated(t *testing.T) {
	var log bytes.Buffer
	tr, err := gen.Generate(gen.Options{Seed: 3, Tokens: 60, Duration: 4 * 24 * time.Hour, Attacks: true}, &log)
	if err != nil {
		t.Fatal(err)
	}
	var alerts []Alert
	for _, in := range tr.Incidents {
		if in.Attack {
			alerts = append(alerts, Alert{At: in.Start.Add(90 * time.Second), Entity: in.Entity, Key: in.Key, Detector: "d"})
		}
	}
	r := Score(tr, alerts)
	if len(r.Attacks) != 8 {
		t.Fatalf("%d attacks, want the 8 classes", len(r.Attacks))
	}
	for _, c := range r.Attacks {
		if !c.Caught || c.TimeToDetect != 90*time.Second {
			t.Errorf("%s: caught %v after %v", c.Class, c.Caught, c.TimeToDetect)
		}
	}
	if r.FalseAlertHours != 0 {
		t.Errorf("%d false alert-hours from a perfect detector", r.FalseAlertHours)
	}
	// An alert a day before any incident, on a token no incident names.
	noisy := append(alerts, Alert{At: tr.Start.Add(time.Hour), Entity: "token", Key: "nobody", Detector: "d"})
	if r := Score(tr, noisy); r.FalseAlertHours != 1 {
		t.Errorf("%d false alert-hours, want 1", r.FalseAlertHours)
	}
}

func TestCombine(t *testing.T) {
	mk := func(seed int64, burstTTD time.Duration, slowCaught bool, falseHours int) *Report {
		return &Report{Seed: seed, TokenDays: 500, FalseAlertHours: falseHours, Alerts: 4,
			FalseByDetector: map[string]int{"volume": falseHours},
			Attacks: []ClassResult{
				{Class: gen.ClassBurstSmall, Caught: true, TimeToDetect: burstTTD, Alerts: 1},
				{Class: gen.ClassLowAndSlow, Caught: slowCaught, TimeToDetect: time.Hour},
			},
			Lookalikes: []ClassResult{{Class: gen.ClassSurgeAll, Caught: seed == 1, Alerts: int(seed % 2)}},
		}
	}
	s := Combine([]*Report{mk(1, 2*time.Minute, true, 1), mk(2, 4*time.Minute, false, 2), mk(3, 9*time.Minute, false, 0)})
	if s.Runs != 3 || s.TokenDays != 1500 || s.FalseAlertHours != 3 || s.FalsePer1000TokenDays != 2 || s.Alerts != 12 {
		t.Errorf("totals %+v", s)
	}
	burst, slow := s.Attacks[0], s.Attacks[1]
	if burst.Class != gen.ClassBurstSmall || burst.Caught != 3 || burst.MedianTimeToDetect != 4*time.Minute {
		t.Errorf("burst %+v", burst)
	}
	if slow.Caught != 1 || slow.Incidents != 3 || slow.MedianTimeToDetect != time.Hour {
		t.Errorf("low-and-slow %+v", slow)
	}
	if surge := s.Lookalikes[0]; surge.Caught != 1 || surge.Incidents != 3 || surge.Alerts != 2 {
		t.Errorf("surge %+v", surge)
	}
	if s.FalseByDetector["volume"] != 3 {
		t.Errorf("false by detector %v", s.FalseByDetector)
	}
	if m := median([]time.Duration{4, 1, 3, 2}); m != 2 {
		t.Errorf("median of 1..4 is %v, want 2 (integer mean of 2 and 3)", m)
	}
}

func TestReadAlertsFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "alerts.jsonl")
	body := `{"id":"a1","at":"2026-03-04T10:02:00Z","entity":"token","key":"aaa","detector":"burst","severity":"high","feature":"messages"}

{"id":"a2","at":"2026-03-04T12:01:00.5Z","entity":"ip","key":"203.0.113.9","detector":"ipfan","window_start":"2026-03-04T12:00:00Z"}
`
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadAlerts(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []Alert{
		{At: at(10, 2), Entity: "token", Key: "aaa", Detector: "burst"},
		{At: at(12, 1).Add(500 * time.Millisecond), Entity: "ip", Key: "203.0.113.9", Detector: "ipfan"},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d alerts, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || got[i].Key != want[i].Key || got[i].Entity != want[i].Entity ||
			got[i].Detector != want[i].Detector {
			t.Errorf("alert %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := ReadAlerts(strings.NewReader(body + "{\"at\": 12\n")); err == nil {
		t.Error("a broken line was accepted")
	}
}

func TestWriters(t *testing.T) {
	r := Score(handTruth(), handAlerts())
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{"burst_small", "low_and_slow", "surge_all", "2m0s", "false alert-hours: 6 (60.00 per 1000 token-days)"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Attacks []struct {
			Class string  `json:"class"`
			TTD   float64 `json:"time_to_detect_s"`
		} `json:"attacks"`
		False int `json:"false_alert_hours"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Attacks) != 3 || back.Attacks[0].TTD != 120 || back.False != 6 {
		t.Errorf("JSON report read back as %+v", back)
	}
	s := Combine([]*Report{r, r})
	text.Reset()
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if out := text.String(); !strings.Contains(out, "2 runs (seeds 9, 9)") || !strings.Contains(out, "2/2") {
		t.Errorf("summary text:\n%s", out)
	}
}
