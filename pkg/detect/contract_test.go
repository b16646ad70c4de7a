package detect

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

const contractFP = "3f9a1c0b2e4d"

var contractStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// contractReq is an ordinary request of the contracted token, within
// every clause of testContract.
func contractReq(at time.Duration, messages int64) *ingest.Record {
	return &ingest.Record{
		Time: contractStart.Add(at), Cred: ingest.Credential{FP: contractFP, Hint: "a7b1"},
		IP: netip.MustParseAddr("10.1.2.3"), Method: "GET", Path: "/messages?count=50",
		Status: 200, Messages: messages, UA: "Acme-Sync/2.1 (linux)", Weight: 1,
	}
}

func testContract() Contract {
	return Contract{
		PerHour: 1000, PerDay: 5000,
		Networks:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/48")},
		Clients:   []string{"acme-sync/*"},
		Endpoints: []Endpoint{{Method: "GET", Path: "/messages*"}, {Path: "/stats"}},
	}
}

func newTestWatch(c Contract) *ContractWatch {
	return NewContractWatch(ContractOptions{}, map[string]Contract{contractFP: c})
}

func clausesOf(fs []ContractFinding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Clause)
	}
	return out
}

func TestContractWithinIsQuiet(t *testing.T) {
	w := newTestWatch(testContract())
	for i := range 200 {
		r := contractReq(time.Duration(i)*17*time.Second, 5) // 1000 in the hour, exactly the limit
		switch i % 3 {
		case 1:
			r.IP = netip.MustParseAddr("2001:db8:0:1::7")
			r.Path, r.Method = "/stats", "POST"
		case 2:
			r.IP = netip.MustParseAddr("::ffff:10.9.9.9") // a v4 address written as v6
			r.UA = "ACME-SYNC/3.0"
		}
		if fs := w.Check(r); fs != nil {
			t.Fatalf("request %d within the contract: %+v", i, fs)
		}
	}
	other := contractReq(time.Hour, 100000)
	other.Cred.FP = "aaaaaaaaaaaa"
	if fs := w.Check(other); fs != nil {
		t.Fatalf("a token without a contract alerted: %+v", fs)
	}
}

func TestContractHourlyLimit(t *testing.T) {
	w := newTestWatch(testContract())
	// 10:00-10:59: 900 messages, then 10:59:30 brings 1200.
	if fs := w.Check(contractReq(5*time.Minute, 900)); fs != nil {
		t.Fatalf("under the limit: %+v", fs)
	}
	fs := w.Check(contractReq(59*time.Minute+30*time.Second, 300))
	if len(fs) != 1 || fs[0].Clause != ClausePerHour {
		t.Fatalf("crossing the hourly limit: %+v", fs)
	}
	f := fs[0]
	if f.Observed != 1200 || f.Limit != 1000 || !f.Since.Equal(contractStart) || f.Key != contractFP ||
		f.Severity != "warning" || f.Value != "" || !f.WindowStart.Equal(contractStart.Add(59*time.Minute)) {
		t.Fatalf("finding = %+v", f)
	}
	// 11:40, past the cooldown, is in a new hour: 999 is within it.
	if fs := w.Check(contractReq(100*time.Minute, 999)); fs != nil {
		t.Fatalf("a new calendar hour counts from 0: %+v", fs)
	}
}

func TestContractDailyLimitAndWeight(t *testing.T) {
	c := testContract()
	c.PerHour = -1
	w := newTestWatch(c)
	// A sampled source: each logged request stands for 10.
	for h := range 5 {
		r := contractReq(time.Duration(h)*time.Hour, 99)
		r.Weight = 10
		if fs := w.Check(r); fs != nil {
			t.Fatalf("hour %d: %d messages of 5000: %+v", h, (h+1)*990, fs)
		}
	}
	r := contractReq(5*time.Hour, 6)
	r.Weight = 10
	fs := w.Check(r)
	if len(fs) != 1 || fs[0].Clause != ClausePerDay || fs[0].Observed != 5010 ||
		!fs[0].Since.Equal(contractStart.Truncate(24*time.Hour)) {
		t.Fatalf("crossing the daily limit: %+v", fs)
	}
	// The next UTC day starts from 0.
	if fs := w.Check(contractReq(14*time.Hour, 4000)); fs != nil {
		t.Fatalf("a new UTC day: %+v", fs)
	}
}

func TestContractZeroLimit(t *testing.T) {
	w := newTestWatch(Contract{PerHour: 0, PerDay: -1})
	if fs := w.Check(contractReq(0, 0)); fs != nil {
		t.Fatalf("a request pulling nothing from a sending key: %+v", fs)
	}
	fs := w.Check(contractReq(time.Minute, 4))
	if len(fs) != 1 || fs[0].Observed != 4 || fs[0].Limit != 0 || fs[0].Severity != "critical" {
		t.Fatalf("a sending key pulled messages: %+v", fs)
	}
}

func TestContractShapeClauses(t *testing.T) {
	long := "evil/1.0 " + strings.Repeat("x", 500)
	for _, tc := range []struct {
		name   string
		change func(r *ingest.Record)
		clause string
		value  string
	}{
		{"network v4", func(r *ingest.Record) { r.IP = netip.MustParseAddr("198.51.100.7") }, ClauseNetwork, "198.51.100.7"},
		{"network v6", func(r *ingest.Record) { r.IP = netip.MustParseAddr("2001:db9::1") }, ClauseNetwork, "2001:db9::1"},
		{"network mapped", func(r *ingest.Record) { r.IP = netip.MustParseAddr("::ffff:198.51.100.7") }, ClauseNetwork, "198.51.100.7"},
		{"client", func(r *ingest.Record) { r.UA = "curl/8.5.0" }, ClauseClient, "curl/8.5.0"},
		{"no client", func(r *ingest.Record) { r.UA = "" }, ClauseClient, ""},
		{"long client", func(r *ingest.Record) { r.UA = long }, ClauseClient, long[:127] + "…"},
		{"method", func(r *ingest.Record) { r.Method = "DELETE" }, ClauseEndpoint, "DELETE /messages"},
		{"path", func(r *ingest.Record) { r.Path = "/accounts/9?q=fp:abc" }, ClauseEndpoint, "GET /accounts/9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newTestWatch(testContract())
			r := contractReq(90*time.Second, 1)
			tc.change(r)
			fs := w.Check(r)
			if len(fs) != 1 {
				t.Fatalf("got %v, want one %s finding", clausesOf(fs), tc.clause)
			}
			f := fs[0]
			if f.Clause != tc.clause || f.Value != tc.value || f.Observed != 1 || len(f.Declared) == 0 ||
				!f.WindowStart.Equal(contractStart.Add(time.Minute)) || !f.At.Equal(r.Time) {
				t.Fatalf("finding = %+v", f)
			}
		})
	}
}

func TestContractCooldownAndEscalation(t *testing.T) {
	w := newTestWatch(testContract())
	outside := func(at time.Duration, messages int64) []ContractFinding {
		r := contractReq(at, messages)
		r.IP = netip.MustParseAddr("198.51.100.7")
		return w.Check(r)
	}
	if got := clausesOf(outside(0, 0)); len(got) != 1 || got[0] != ClauseNetwork {
		t.Fatalf("first request from outside: %v", got)
	}
	// The same clause stays quiet for the cooldown, whatever the address.
	for m := 1; m < 30; m++ {
		if got := outside(time.Duration(m)*time.Minute, 0); got != nil {
			t.Fatalf("minute %d, within the cooldown: %v", m, got)
		}
	}
	if got := clausesOf(outside(31*time.Minute, 0)); len(got) != 1 {
		t.Fatalf("after the cooldown: %v", got)
	}
	// A limit crossed at 1001 escalates at twice that, in a later minute.
	w = newTestWatch(testContract())
	if got := clausesOf(w.Check(contractReq(40*time.Minute, 1001))); len(got) != 1 {
		t.Fatalf("crossing: %v", got)
	}
	if got := w.Check(contractReq(40*time.Minute+10*time.Second, 1500)); got != nil {
		t.Fatalf("doubled, but in the minute already alerted: %v", got)
	}
	if got := w.Check(contractReq(41*time.Minute, 1)); len(got) != 1 || got[0].Observed != 2502 {
		t.Fatalf("doubled: %+v", got)
	}
	if got := w.Check(contractReq(42*time.Minute, 1000)); got != nil {
		t.Fatalf("not doubled again: %v", got)
	}
}

// TestContractLimitNeedsAPull: over its limit, a token whose requests
// pull nothing more does not raise the same count again each cooldown.
func TestContractLimitNeedsAPull(t *testing.T) {
	w := newTestWatch(testContract())
	if got := clausesOf(w.Check(contractReq(0, 1001))); len(got) != 1 || got[0] != ClausePerHour {
		t.Fatalf("crossing: %v", got)
	}
	if got := w.Check(contractReq(45*time.Minute, 0)); got != nil {
		t.Fatalf("a request pulling nothing, past the cooldown: %+v", got)
	}
	if got := clausesOf(w.Check(contractReq(46*time.Minute, 10))); len(got) != 1 || got[0] != ClausePerHour {
		t.Fatalf("a request pulling more, past the cooldown: %v", got)
	}
}

func TestContractStateRoundTrip(t *testing.T) {
	w := newTestWatch(testContract())
	w.Check(contractReq(0, 800))
	r := contractReq(time.Minute, 0)
	r.UA = "curl/8"
	if len(w.Check(r)) != 1 {
		t.Fatal("no client finding")
	}
	snap := w.Snapshot()
	v := newTestWatch(testContract())
	v.Restore(snap)
	// The count goes on from 800, and the client clause is cooling.
	if fs := v.Check(r); fs != nil {
		t.Fatalf("restored cooldown lost: %+v", fs)
	}
	if fs := v.Check(contractReq(2*time.Minute, 201)); len(fs) != 1 || fs[0].Observed != 1001 {
		t.Fatalf("restored count lost: %+v", fs)
	}
	// A reload dropping the contract drops its state.
	v.SetContracts(nil)
	if n := len(v.Snapshot()); n != 0 {
		t.Fatalf("%d states kept for tokens without a contract", n)
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything/at/all", true},
		{"/messages*", "/messages/12/raw", true},
		{"/messages/*/raw", "/messages/12/x/raw", true},
		{"/messages/*/raw", "/messages/12/rawer", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"acme-sync/*", "acme-sync/2.1", true},
		{"acme-sync/*", "xacme-sync/2.1", false},
	} {
		if got := glob(tc.pattern, tc.s, false); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
		if got := glob(strings.ToUpper(tc.pattern), strings.ToLower(tc.s), true); got != tc.want {
			t.Errorf("glob(%q, %q, fold) = %v, want %v", strings.ToUpper(tc.pattern), tc.s, got, tc.want)
		}
	}
	if glob("/Messages", "/messages", false) {
		t.Error("paths are compared with their case")
	}
}

// BenchmarkContractCheck measures a request of a token with every
// clause declared, and one of a token without a contract.
func BenchmarkContractCheck(b *testing.B) {
	w := newTestWatch(testContract())
	r := contractReq(0, 0)
	other := contractReq(0, 0)
	other.Cred.FP = "aaaaaaaaaaaa"
	b.Run("contracted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.Check(r)
		}
	})
	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.Check(other)
		}
	})
}

// TestContractEndpointDotSegments checks that a path is judged where it
// leads: * matches slashes, so /messages* would otherwise allow
// /messages/../admin/keys.
func TestContractEndpointDotSegments(t *testing.T) {
	for _, tc := range []struct {
		path   string
		breach bool
	}{
		{"/messages/../admin/keys", true},
		{"/messages/./../admin/keys?x=1", true},
		{"/messages/%2e%2e/admin/keys", true},
		{"/messages/%2E%2e/admin/keys", true},
		{"/messages/..%2fadmin/keys", true},
		{"/messages/%2e%2e%2Fadmin/keys", true},
		{`/messages/..\admin/keys`, true},
		{"/messages/..%5cadmin/keys", true},
		{"/stats/../admin", true},
		{"/messages/12/../13", false},
		{"//messages/12", false},
		{"/messages/%2e/12", false},
		{"/stats/", false},      // a trailing slash means nothing
		{"/stats/./", false},    // nor a dot segment that stays
		{"/messages..x", false}, // dots that are no segment
		{"/", true},
	} {
		w := newTestWatch(testContract())
		r := contractReq(90*time.Second, 1)
		r.Path = tc.path
		fs := w.Check(r)
		if got := len(fs) == 1 && fs[0].Clause == ClauseEndpoint; got != tc.breach {
			t.Errorf("GET %s: got %v, want a breach %v", tc.path, clausesOf(fs), tc.breach)
		}
		if tc.breach && len(fs) == 1 {
			if want := "GET " + strings.Split(tc.path, "?")[0]; fs[0].Value != want {
				t.Errorf("GET %s: the finding quotes %q, want the path as logged %q", tc.path, fs[0].Value, want)
			}
		}
	}
	// A trailing slash means nothing in a pattern either, nor its absence.
	w := newTestWatch(Contract{PerHour: -1, PerDay: -1, Endpoints: []Endpoint{{Path: "/stats/"}, {Path: "/messages/*"}}})
	for _, p := range []string{"/stats", "/stats/", "/messages", "/messages/", "/messages/1"} {
		r := contractReq(0, 1)
		r.Path = p
		if fs := w.Check(r); fs != nil {
			t.Errorf("GET %s: %+v", p, fs)
		}
	}
}
