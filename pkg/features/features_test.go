package features

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func rec(at time.Duration, fp, ip string, status int, msgs int64) *ingest.Record {
	r := &ingest.Record{Time: t0.Add(at), Status: status, Messages: msgs, Bytes: 100 * msgs, Weight: 1}
	if fp != "" {
		r.Cred = ingest.Credential{FP: fp, Hint: "h" + fp[len(fp)-1:]}
	}
	if ip != "" {
		r.IP = netip.MustParseAddr(ip)
	}
	return r
}

// closed is what a test keeps of a window passed to emit.
type closed struct {
	Kind       Kind
	Key, Hint  string
	Start, End time.Time
	V          Vector
	MaxMsgs    float64
	First      time.Time
	Last       time.Time
	Top        []string
	Clients    map[uint64]float64
}

func collect(out *[]closed) func(*Window) {
	return func(w *Window) {
		c := closed{w.Kind, w.Key, w.Hint, w.Start, w.End, w.V, w.MaxMessages, w.First, w.Last, w.TopPeers(3), nil}
		w.EachClient(func(h uint64, reqs float64) {
			if c.Clients == nil {
				c.Clients = map[uint64]float64{}
			}
			c.Clients[h] += reqs
		})
		*out = append(*out, c)
	}
}

func TestWindowsAlignAndClose(t *testing.T) {
	a := New(Options{})
	a.Add(rec(10*time.Second, "bbbbbbbbbbbb", "10.0.0.2", 200, 1))
	a.Add(rec(50*time.Second, "aaaaaaaaaaaa", "10.0.0.1", 200, 1))
	a.Add(rec(70*time.Second, "aaaaaaaaaaaa", "", 200, 1))
	if got := a.Open(); got != 5 {
		t.Fatalf("Open() = %d, want 5 (2 tokens and 2 addresses in minute 0, 1 token in minute 1)", got)
	}
	var out []closed
	a.Advance(t0.Add(59*time.Second), collect(&out))
	if len(out) != 0 {
		t.Fatalf("closed %d windows before their end", len(out))
	}
	a.Advance(t0.Add(time.Minute), collect(&out))
	want := []struct {
		kind Kind
		key  string
	}{{Token, "aaaaaaaaaaaa"}, {Token, "bbbbbbbbbbbb"}, {IP, "10.0.0.1"}, {IP, "10.0.0.2"}}
	if len(out) != len(want) {
		t.Fatalf("closed %d windows at the minute, want %d", len(out), len(want))
	}
	for i, w := range want {
		c := out[i]
		if c.Kind != w.kind || c.Key != w.key {
			t.Errorf("window %d = %v %s, want %v %s", i, c.Kind, c.Key, w.kind, w.key)
		}
		if !c.Start.Equal(t0) || !c.End.Equal(t0.Add(time.Minute)) {
			t.Errorf("window %d spans %v..%v, want the minute from %v", i, c.Start, c.End, t0)
		}
	}
	if a.Open() != 1 {
		t.Errorf("Open() = %d after closing minute 0, want 1", a.Open())
	}
}

func TestWindowsAlignToEpochForOtherSizes(t *testing.T) {
	a := New(Options{Window: 5 * time.Minute})
	tok, _, _ := a.Add(rec(7*time.Minute+3*time.Second, "aaaaaaaaaaaa", "", 200, 1))
	if want := t0.Add(5 * time.Minute); !tok.Start.Equal(want) || !tok.End.Equal(want.Add(5*time.Minute)) {
		t.Errorf("window %v..%v, want %v..%v", tok.Start, tok.End, want, want.Add(5*time.Minute))
	}
}

func TestLateness(t *testing.T) {
	a := New(Options{})
	lateness := a.Options().Lateness
	var out []closed
	maxT := time.Time{}
	add := func(at time.Duration) bool {
		r := rec(at, "aaaaaaaaaaaa", "", 200, 1)
		if r.Time.After(maxT) {
			maxT = r.Time
			a.Advance(maxT.Add(-lateness), collect(&out))
		}
		_, _, late := a.Add(r)
		return late
	}
	steps := []struct {
		at   time.Duration
		late bool
	}{
		{50 * time.Second, false},
		{80 * time.Second, false},
		{55 * time.Second, false}, // 25s behind the latest: still counted
		{100 * time.Second, false},
		{58 * time.Second, true}, // minute 0 closed at watermark 70s
		{85 * time.Second, false},
	}
	for _, s := range steps {
		if got := add(s.at); got != s.late {
			t.Errorf("record at %v: late = %v, want %v", s.at, got, s.late)
		}
	}
	if a.Late() != 1 {
		t.Errorf("Late() = %d, want 1", a.Late())
	}
	if len(out) != 1 || out[0].V[Requests] != 2 {
		t.Fatalf("closed windows %+v, want minute 0 with 2 requests", out)
	}
	if !out[0].First.Equal(t0.Add(50*time.Second)) || !out[0].Last.Equal(t0.Add(55*time.Second)) {
		t.Errorf("First, Last = %v, %v; want 50s and 55s", out[0].First, out[0].Last)
	}
}

func TestCounts(t *testing.T) {
	tests := []struct {
		name   string
		weight float64
		status int
		msgs   int64
		want   Vector
	}{
		{"ok", 1, 200, 3, Vector{Requests: 1, Messages: 3, Bytes: 300, Peers: 1}},
		{"weighted", 10, 200, 3, Vector{Requests: 10, Messages: 30, Bytes: 3000, Peers: 1}},
		{"zero weight counts once", 0, 200, 3, Vector{Requests: 1, Messages: 3, Bytes: 300, Peers: 1}},
		{"401 is unauthorized only", 2, 401, 0, Vector{Requests: 2, Unauthorized: 2, Peers: 1}},
		{"403 is both", 2, 403, 0, Vector{Requests: 2, Errors: 2, Unauthorized: 2, Peers: 1}},
		{"500 is an error", 1, 500, 0, Vector{Requests: 1, Errors: 1, Peers: 1}},
		{"399 is not", 1, 399, 0, Vector{Requests: 1, Peers: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{})
			r := rec(0, "aaaaaaaaaaaa", "10.0.0.1", tt.status, tt.msgs)
			r.Weight = tt.weight
			tok, ip, _ := a.Add(r)
			if tok.V != tt.want {
				t.Errorf("token window %v, want %v", tok.V, tt.want)
			}
			if ip.V != tt.want {
				t.Errorf("ip window %v, want %v", ip.V, tt.want)
			}
		})
	}
}

func TestDistinctPeers(t *testing.T) {
	for _, n := range []int{1, 16, 17, 64, 65, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			a := New(Options{})
			var tok, ip *Window
			for i := range 3 * n {
				// Every address three times, in a cycle, so repeats
				// happen in the slice, map and untracked states.
				addr := fmt.Sprintf("10.0.%d.%d", (i%n)/256, (i%n)%256)
				tok, _, _ = a.Add(rec(time.Duration(i)*time.Millisecond, "aaaaaaaaaaaa", addr, 200, 1))
				fp := fmt.Sprintf("%012x", i%n)
				_, ip, _ = a.Add(rec(time.Duration(i)*time.Millisecond, fp, "192.0.2.1", 401, 0))
			}
			if tok.V[Peers] != float64(n) {
				t.Errorf("token saw %v distinct addresses, want %d", tok.V[Peers], n)
			}
			if ip.V[Peers] != float64(n) {
				t.Errorf("address saw %v distinct tokens, want %d", ip.V[Peers], n)
			}
		})
	}
}

func TestTopPeers(t *testing.T) {
	type hit struct {
		ip   string
		msgs int64
	}
	tests := []struct {
		name string
		hits []hit
		want []string
	}{
		{"by messages", []hit{{"10.0.0.1", 1}, {"10.0.0.2", 5}, {"10.0.0.3", 3}}, []string{"10.0.0.2", "10.0.0.3", "10.0.0.1"}},
		{"then requests", []hit{{"10.0.0.1", 0}, {"10.0.0.2", 0}, {"10.0.0.2", 0}, {"10.0.0.3", 1}}, []string{"10.0.0.3", "10.0.0.2", "10.0.0.1"}},
		{"then name", []hit{{"10.0.0.9", 2}, {"10.0.0.10", 2}, {"10.0.0.1", 2}}, []string{"10.0.0.1", "10.0.0.10", "10.0.0.9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{})
			var w *Window
			for _, h := range tt.hits {
				w, _, _ = a.Add(rec(0, "aaaaaaaaaaaa", h.ip, 200, h.msgs))
			}
			if got := w.TopPeers(5); !slices.Equal(got, tt.want) {
				t.Errorf("TopPeers = %v, want %v", got, tt.want)
			}
			if got := w.TopPeers(1); !slices.Equal(got, tt.want[:1]) {
				t.Errorf("TopPeers(1) = %v, want %v", got, tt.want[:1])
			}
		})
	}
}

// A heavy peer that shows up after the tracked set is full must still
// come out on top.
func TestTopPeersHeavyLatecomer(t *testing.T) {
	a := New(Options{})
	var w *Window
	for i := range 200 {
		_, w, _ = a.Add(rec(0, fmt.Sprintf("%012x", i), "192.0.2.1", 200, 1))
	}
	for range 50 {
		_, w, _ = a.Add(rec(0, "ffffffffffff", "192.0.2.1", 200, 100))
	}
	if got := w.TopPeers(1); !slices.Equal(got, []string{"ffffffffffff"}) {
		t.Errorf("TopPeers(1) = %v, want the heavy latecomer", got)
	}
	if w.V[Peers] != 201 {
		t.Errorf("distinct tokens = %v, want 201", w.V[Peers])
	}
}

// stream is a deterministic mixed stream over a few minutes with a
// scanning address, used to compare a run with a restored one.
func stream() []*ingest.Record {
	var rs []*ingest.Record
	for i := range 3000 {
		at := time.Duration(i) * 80 * time.Millisecond
		if i%7 == 0 {
			at -= 20 * time.Second // a little out of order
		}
		fp := fmt.Sprintf("%012x", (i*7)%40)
		addr := fmt.Sprintf("10.1.%d.%d", i%3, (i*13)%90)
		status := 200
		if i%5 == 0 {
			fp = fmt.Sprintf("%012x", 1000+i) // a new token each time
			addr, status = "198.51.100.7", 401
		}
		r := rec(at, fp, addr, status, int64(i%9))
		r.UA = fmt.Sprintf("client/%d", i%6)
		rs = append(rs, r)
	}
	return rs
}

func run(a *Aggregator, rs []*ingest.Record, out *[]closed, maxT *time.Time) {
	for _, r := range rs {
		if r.Time.After(*maxT) {
			*maxT = r.Time
			a.Advance(maxT.Add(-30*time.Second), collect(out))
		}
		a.Add(r)
	}
}

// TestMaxMessages checks that a window keeps the largest single
// record's messages, unweighted: it is the page size of the requests,
// whatever the sampling, while the total is weighted.
func TestMaxMessages(t *testing.T) {
	a := New(Options{})
	var tok, ip *Window
	for i, n := range []int64{3, 7, 0, 2} {
		r := rec(time.Duration(i)*time.Second, "aaaaaaaaaaaa", "10.0.0.1", 200, n)
		r.Weight = 10
		tok, ip, _ = a.Add(r)
	}
	if tok.MaxMessages != 7 || ip.MaxMessages != 7 {
		t.Errorf("MaxMessages = %v (token), %v (ip), want 7", tok.MaxMessages, ip.MaxMessages)
	}
	if tok.V[Messages] != 120 {
		t.Errorf("messages = %v, want 120", tok.V[Messages])
	}
}

func TestSnapshotRestore(t *testing.T) {
	rs := stream()
	var want []closed
	var maxT time.Time
	a := New(Options{})
	run(a, rs, &want, &maxT)
	a.Advance(maxT.Add(time.Hour), collect(&want))

	var got []closed
	maxT = time.Time{}
	b := New(Options{})
	run(b, rs[:1700], &got, &maxT)
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(b.Snapshot()); err != nil {
		t.Fatalf("encoding snapshot: %v", err)
	}
	var st AggState
	if err := gob.NewDecoder(&buf).Decode(&st); err != nil {
		t.Fatalf("decoding snapshot: %v", err)
	}
	if len(st.Windows) == 0 {
		t.Fatal("snapshot holds no open window")
	}
	c := New(Options{})
	if err := c.Restore(st); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if c.Open() != b.Open() {
		t.Errorf("restored %d open windows, had %d", c.Open(), b.Open())
	}
	run(c, rs[1700:], &got, &maxT)
	c.Advance(maxT.Add(time.Hour), collect(&got))
	if c.Late() != a.Late() {
		t.Errorf("Late() = %d after restore, %d uninterrupted", c.Late(), a.Late())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored run emitted %d windows differing from the uninterrupted run's %d", len(got), len(want))
	}
}

func TestRestoreRejectsOtherWindowSize(t *testing.T) {
	a := New(Options{})
	a.Add(rec(0, "aaaaaaaaaaaa", "", 200, 1))
	b := New(Options{Window: 5 * time.Minute})
	if err := b.Restore(a.Snapshot()); err == nil {
		t.Error("Restore accepted windows of another size")
	}
}

func TestFeatureNames(t *testing.T) {
	for k := Token; k < NumKinds; k++ {
		for f := Feature(0); f < NumFeatures; f++ {
			g, ok := FeatureByName(k, f.Name(k))
			if !ok || g != f {
				t.Errorf("FeatureByName(%v, %q) = %v, %v", k, f.Name(k), g, ok)
			}
		}
	}
	if Peers.Name(Token) != "distinct_ips" || Peers.Name(IP) != "distinct_tokens" {
		t.Errorf("peer names %q, %q", Peers.Name(Token), Peers.Name(IP))
	}
}

// BenchmarkAdd replays a stream shaped like a busy gateway: 5,000 tokens
// and 20,000 addresses, four addresses per token, with windows closing as
// the watermark moves. "zipf" draws tokens with the skew of real API
// traffic (a few tenants send most requests); "uniform" draws them
// evenly, the worst case for the CPU caches. At 1k records a second of
// event time most windows hold a handful of records, so opening, sorting
// and closing windows weighs on every record; at 10k a second the cost
// is mostly the two lookups.
func BenchmarkAdd(b *testing.B) {
	for _, rate := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("zipf/%d", rate), func(b *testing.B) {
			z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, 4999)
			benchmarkAdd(b, rate, func(int) int { return int(z.Uint64()) })
		})
		b.Run(fmt.Sprintf("uniform/%d", rate), func(b *testing.B) {
			benchmarkAdd(b, rate, func(i int) int { return (i * 2654435761) % 5000 })
		})
	}
}

func benchmarkAdd(b *testing.B, rate int, token func(int) int) {
	const n = 1 << 16
	rs := make([]ingest.Record, n)
	for i := range rs {
		tokID := token(i)
		ipID := (tokID*4 + i%4) % 20000
		rs[i] = ingest.Record{
			Cred:     ingest.Credential{FP: fmt.Sprintf("%012x", tokID), Hint: "abcd"},
			IP:       netip.AddrFrom4([4]byte{10, byte(ipID >> 16), byte(ipID >> 8), byte(ipID)}),
			Status:   200,
			Messages: int64(i % 3),
			Bytes:    2048,
			Weight:   1,
		}
	}
	a := New(Options{})
	emit := func(*Window) {}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &rs[i%n]
		r.Time = t0.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if i%1024 == 0 {
			a.Advance(r.Time.Add(-30*time.Second), emit)
		}
		a.Add(r)
	}
}

// Windows whose keys share a hash are told apart and both closed.
func TestHashCollisionChain(t *testing.T) {
	a := New(Options{})
	start := t0.UnixNano()
	x := a.tokWindow(42, "aaaaaaaaaaaa", start)
	y := a.tokWindow(42, "bbbbbbbbbbbb", start)
	z := a.ipWindow(42^ipSalt, netip.MustParseAddr("10.0.0.1"), start)
	if x == y || x == z || y == z {
		t.Fatal("colliding keys share a window")
	}
	if a.tokWindow(42, "aaaaaaaaaaaa", start) != x || a.tokWindow(42, "bbbbbbbbbbbb", start) != y {
		t.Fatal("a colliding key does not find its own window again")
	}
	var out []closed
	a.Advance(t0.Add(time.Minute), collect(&out))
	if len(out) != 3 || a.Open() != 0 || len(a.open) != 0 {
		t.Errorf("closed %d windows, %d still open, %d map entries; want 3, 0, 0", len(out), a.Open(), len(a.open))
	}
}

func TestClientsAndPeerAddrs(t *testing.T) {
	a := New(Options{})
	for i, ua := range []string{"a/1.0", "b", "a/1.1", "c", "d", "e", "f", "a/2"} {
		r := rec(time.Duration(i)*time.Second, "00000000000a", fmt.Sprintf("10.0.0.%d", i%3), 200, 1)
		r.UA = ua
		a.Add(r)
	}
	var clients map[uint64]float64
	var addrs map[string]float64
	a.Advance(t0.Add(time.Hour), func(w *Window) {
		if w.Kind != Token {
			return
		}
		clients, addrs = map[uint64]float64{}, map[string]float64{}
		w.EachClient(func(h uint64, reqs float64) { clients[h] += reqs })
		w.EachPeerAddr(func(ip netip.Addr, reqs float64) { addrs[ip.String()] += reqs })
	})
	// Versions do not make a client new. The first four clients are
	// counted apart, the rest together.
	want := map[uint64]float64{
		ClientHash("a/"): 3, ClientHash("b"): 1, ClientHash("c"): 1, ClientHash("d"): 1, 0: 2,
	}
	if !reflect.DeepEqual(clients, want) {
		t.Errorf("clients = %v, want %v", clients, want)
	}
	wantAddrs := map[string]float64{"10.0.0.0": 3, "10.0.0.1": 3, "10.0.0.2": 2}
	if !reflect.DeepEqual(addrs, wantAddrs) {
		t.Errorf("addresses = %v, want %v", addrs, wantAddrs)
	}
}

// TestDistinctPeersStayBoundedUnderAScan: one address sending 200,000
// random tokens in a minute keeps at most maxIndexed hashes, its distinct
// count never falls below the truth (past the bound it is an upper
// bound), a heavy token stays among the top peers, and a checkpoint
// carries the count across a restart.
func TestDistinctPeersStayBoundedUnderAScan(t *testing.T) {
	a := New(Options{})
	const n = 200_000
	var ip *Window
	for i := range n {
		at := time.Duration(i) * time.Minute / (n + 1)
		_, ip, _ = a.Add(rec(at, fmt.Sprintf("%012x", i), "192.0.2.9", 401, 0))
		if i%100 == 0 {
			_, ip, _ = a.Add(rec(at, "heavyheavy00", "192.0.2.9", 200, 50))
		}
	}
	if len(ip.peers.idx) > maxIndexed {
		t.Errorf("the window indexes %d hashes, want at most %d", len(ip.peers.idx), maxIndexed)
	}
	if ip.V[Peers] < n+1 {
		t.Errorf("distinct tokens %v, want at least the %d seen", ip.V[Peers], n+1)
	}
	if top := ip.TopPeers(1); len(top) != 1 || top[0] != "heavyheavy00" {
		t.Errorf("top peers %v, want the heavy token first", top)
	}
	b := New(Options{})
	if err := b.Restore(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	// One more new token after the restart: the count goes on from
	// where it was, not from the hashes still indexed.
	before := ip.V[Peers]
	_, restored, _ := b.Add(rec(59*time.Second, "newnewnew000", "192.0.2.9", 401, 0))
	if restored == nil || restored.V[Peers] != before+1 {
		t.Fatalf("after a restart and one more token the distinct count is %v, want %v", restored.V[Peers], before+1)
	}
}

func TestSkippedKindOpensNoWindowButStillCountsAsPeer(t *testing.T) {
	a := New(Options{Skip: [NumKinds]bool{IP: true}})
	tok, ip, _ := a.Add(rec(0, "aaaaaaaaaaaa", "192.0.2.1", 200, 5))
	tok2, ip2, _ := a.Add(rec(time.Second, "aaaaaaaaaaaa", "192.0.2.2", 200, 5))
	if ip != nil || ip2 != nil {
		t.Fatal("an address window opened although addresses are skipped")
	}
	if tok == nil || tok2 != tok || tok.V[Peers] != 2 || tok.V[Messages] != 10 {
		t.Fatalf("token window %+v: want one window with both records and 2 addresses as peers", tok)
	}
	if _, ip, _ := a.Add(rec(2*time.Second, "", "192.0.2.3", 401, 0)); ip != nil {
		t.Error("a record with only an address opened a window")
	}
}
