package features

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// MaxNew bounds the open windows of unknown entities per kind: past it a
// record is refused for that kind only, counted per window end and in
// total, and a known entity is never refused. The bound and the counts
// survive a snapshot.
func TestMaxNewBoundsUnknownEntities(t *testing.T) {
	known := map[string]bool{"tok-known": true}
	a := New(Options{MaxNew: 3, Known: func(k Kind, key string) bool { return k == Token && known[key] }})
	t0 := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	addr := netip.MustParseAddr("192.0.2.1")
	for i := range 10 {
		r := ingest.Record{Time: t0.Add(time.Duration(i) * time.Second), IP: addr, Cred: ingest.Credential{FP: fmt.Sprintf("tok%d", i)}}
		tok, ip, _ := a.Add(&r)
		if (tok != nil) != (i < 3) {
			t.Errorf("record %d: token window %v, want one only for the first 3", i, tok != nil)
		}
		if ip == nil {
			t.Errorf("record %d: the address's window was refused with the token's", i)
		}
	}
	tok, _, _ := a.Add(&ingest.Record{Time: t0, Cred: ingest.Credential{FP: "tok-known"}})
	if tok == nil {
		t.Error("a known token was refused")
	}
	b := New(a.Options())
	if err := b.Restore(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	for _, agg := range []*Aggregator{a, b} {
		if got, _ := agg.Overflow(); got != 7 {
			t.Errorf("overflow %d token records, want 7", got)
		}
		if _, _, _ = agg.Add(&ingest.Record{Time: t0, Cred: ingest.Credential{FP: "tok-late"}}); agg.TakeRefused(t0)[Token] != 0 {
			t.Error("refusals of a window still open were taken")
		}
		if got := agg.TakeRefused(t0.Add(time.Minute)); got[Token] != 8 || got[IP] != 0 {
			t.Errorf("refused at the window's end %v, want 8 tokens and no address", got)
		}
		if got := agg.TakeRefused(t0.Add(time.Minute)); got[Token] != 0 {
			t.Errorf("refusals taken twice: %v", got)
		}
		agg.AdvanceAll(t0.Add(time.Minute), func([]*Window) {})
		if tok, _, _ := agg.Add(&ingest.Record{Time: t0.Add(time.Minute), Cred: ingest.Credential{FP: "tok-new"}}); tok == nil {
			t.Error("closing the windows did not free the bound")
		}
	}
}

// BenchmarkWindowMemory reports the heap held per open window of a new
// token (with its address's), what a flood costs the aggregator per
// admitted key until its window closes: 100,000 tokens each with one
// record from its own address.
func BenchmarkWindowMemory(b *testing.B) {
	const n = 100_000
	var per float64
	for range b.N {
		fps := make([]string, n)
		for i := range fps {
			fps[i] = fmt.Sprintf("%012x", i)
		}
		t0 := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
		before := heapAlloc()
		a := New(Options{MaxNew: n})
		for i, fp := range fps {
			a.Add(&ingest.Record{Time: t0, Cred: ingest.Credential{FP: fp, Hint: "abcd"},
				IP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Messages: 1, UA: "curl/8"})
		}
		after := heapAlloc()
		runtime.KeepAlive(a)
		runtime.KeepAlive(fps)
		per = float64(after-before) / n
	}
	b.ReportMetric(per, "B/token+address")
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
