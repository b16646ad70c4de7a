package engine

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// TestContractCountsSurviveARestart follows a token that declared 1000
// messages an hour from 10.0.0.0/8: twelve requests of 100 messages in
// one hour, the seventh from elsewhere, and the tenth, after the
// restart, from there again. The limit is crossed only after the restart, by the
// counts from before it; the second breach from elsewhere falls in the
// cooldown the restart must keep.
func TestContractCountsSurviveARestart(t *testing.T) {
	const token = "tok_live_contractRESTART42"
	fp := ingest.Fingerprint(token)
	dir := t.TempDir()
	full := filepath.Join(dir, "full.log")
	start := time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	for i := range 12 {
		ip := "10.1.2.3"
		if i == 6 || i == 9 {
			ip = "198.51.100.7"
		}
		fmt.Fprintf(&b, `{"ts":%q,"token":%q,"ip":%q,"method":"GET","path":"/messages","status":200,"messages":100,"ua":"acme/1"}`+"\n",
			start.Add(time.Duration(i)*5*time.Minute).Format(time.RFC3339), token, ip)
	}
	os.WriteFile(full, []byte(b.String()), 0o644)

	opts := testOptions()
	opts.Contracts = map[string]detect.Contract{fp: {
		PerHour: 1000, PerDay: -1, Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	}}
	var raised []*alert.Alert
	want := unflushedAlertsWith(t, full, opts, func(a *alert.Alert) {
		if a.Detector == "contract" {
			raised = append(raised, a)
		}
	})
	if len(raised) != 2 || raised[0].Feature != detect.ClauseNetwork || raised[1].Feature != detect.ClausePerHour ||
		raised[1].Observed != 1100 || raised[1].Expected != 1000 || raised[0].Contract.Value != "198.51.100.7" {
		t.Fatalf("replay raised %+v; want a network breach, then the hourly limit crossed at 1100", raised)
	}
	if len(want) != len(raised) {
		t.Fatalf("replay raised %d alerts, %d of them contract alerts: the test needs only those", len(want), len(raised))
	}
	got := stopAndResume(t, dir, full, opts, nil)
	assertSameAlerts(t, got, want)
	if len(got) != len(want) {
		t.Fatalf("after a restart: %d alerts, want %d (the cooldown or the count was lost)", len(got), len(want))
	}
}

// TestContractReload takes a lower limit over between two records, as a
// reloaded configuration does, keeping the count made under the old.
func TestContractReload(t *testing.T) {
	var got []*alert.Alert
	opts := testOptions()
	opts.Contracts = map[string]detect.Contract{"3f9a1c0b2e4d": {PerHour: 1000, PerDay: -1}}
	c := newCore(opts, func(a *alert.Alert) { got = append(got, a) })
	at := time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)
	rec := func(m time.Duration) *ingest.Record {
		return &ingest.Record{Time: at.Add(m), Cred: ingest.Credential{FP: "3f9a1c0b2e4d"}, IP: netip.MustParseAddr("10.1.2.3"),
			Method: "GET", Path: "/messages", Status: 200, Messages: 400, Weight: 1}
	}
	c.add(rec(0), "gw")
	if len(got) != 0 {
		t.Fatalf("400 of 1000, yet %d alerts", len(got))
	}
	c.retune(Retune{Detect: testOptions().Detect, Contracts: map[string]detect.Contract{"3f9a1c0b2e4d": {PerHour: 700, PerDay: -1}}})
	c.add(rec(time.Minute), "gw")
	if len(got) != 1 || got[0].Feature != detect.ClausePerHour || got[0].Observed != 800 {
		t.Fatalf("after the reload: %+v, want the hour's 800 over 700", got)
	}
}

// TestContractCountsFollowAPartition encodes a partition's state, as a
// rebalance hands it to another instance, and restores it there.
func TestContractCountsFollowAPartition(t *testing.T) {
	opts := testOptions()
	opts.Contracts = map[string]detect.Contract{"3f9a1c0b2e4d": {PerHour: 700, PerDay: -1}}
	at := time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)
	rec := &ingest.Record{Time: at, Cred: ingest.Credential{FP: "3f9a1c0b2e4d"}, Status: 200, Messages: 400, Weight: 1}
	var got []*alert.Alert
	from := &task{core: newCore(opts, func(a *alert.Alert) { got = append(got, a) }), source: "requests/0"}
	from.core.add(rec, "requests/0")
	data, err := from.encode(at)
	if err != nil {
		t.Fatal(err)
	}
	to := &task{core: newCore(opts, func(a *alert.Alert) { got = append(got, a) }), source: "requests/0"}
	if err := to.restore(&ingest.PartState{Data: data}); err != nil {
		t.Fatal(err)
	}
	rec.Time = at.Add(time.Minute)
	to.core.add(rec, "requests/0")
	if len(got) != 1 || got[0].Observed != 800 {
		t.Fatalf("after the handover: %+v, want the hour's 800 over 700", got)
	}
}
