package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// window returns a closed window of key at minute m with v messages.
func window(k features.Kind, key string, m int, v float64) *features.Window {
	start := t0.Add(time.Duration(m) * time.Minute)
	return &features.Window{
		Kind: k, Key: key, Start: start, End: start.Add(time.Minute),
		V:     features.Vector{features.Requests: 1, features.Messages: v, features.Peers: 1},
		First: start, Last: start,
	}
}

func TestIdleEviction(t *testing.T) {
	d := New(Options{IdleTTL: time.Hour, SweepEvery: 10 * time.Minute, KeepWindows: 30})
	for m := range 40 {
		if m < 10 {
			d.Close(window(features.Token, "short", m, 5))
		}
		d.Close(window(features.Token, "long", m, 5))
	}
	remembered := func(key string) bool {
		for _, e := range d.Snapshot().Entities {
			if e.Key == key {
				return true
			}
		}
		return false
	}
	tests := []struct {
		minute      int
		short, long bool
	}{
		{60, true, true},    // short idle 50 minutes
		{80, false, true},   // short idle 70 minutes, over the TTL
		{200, false, true},  // long idle 160 minutes: kept 4 hours
		{300, false, false}, // long idle 260 minutes
	}
	for _, tt := range tests {
		d.Close(window(features.Token, "other", tt.minute, 5))
		if got := remembered("short"); got != tt.short {
			t.Errorf("minute %d: short history remembered = %v, want %v", tt.minute, got, tt.short)
		}
		if got := remembered("long"); got != tt.long {
			t.Errorf("minute %d: long history remembered = %v, want %v", tt.minute, got, tt.long)
		}
	}
}

func TestMaxEntities(t *testing.T) {
	d := New(Options{MaxEntities: 100, KeepWindows: 5})
	for m := range 5 {
		d.Close(window(features.IP, "192.0.2.1", m, 1))
	}
	for i := range 150 {
		d.Close(window(features.IP, fmt.Sprintf("10.0.%d.%d", i/256, i%256), 10+i, 1))
	}
	_, ips := d.Entities()
	if ips > 100 || ips < 90 {
		t.Errorf("%d addresses remembered, want between 90 and the bound 100", ips)
	}
	found := false
	for _, e := range d.Snapshot().Entities {
		found = found || e.Key == "192.0.2.1"
	}
	if !found {
		t.Error("the one address with history was forgotten before one-off addresses")
	}
}

// An entity evicted while a window still points at it gets a fresh state
// rather than updating the forgotten one.
func TestEvictedEntityIsRecreated(t *testing.T) {
	d := New(Options{IdleTTL: time.Hour, SweepEvery: time.Minute})
	w := window(features.Token, "tok", 0, 5)
	d.Peek(w)
	d.Close(window(features.Token, "other", 200, 5)) // sweeps "tok" away
	if tok, _ := d.Entities(); tok != 1 {
		t.Fatalf("%d tokens remembered, want only other", tok)
	}
	d.Peek(w)
	if tok, _ := d.Entities(); tok != 2 {
		t.Errorf("%d tokens after peeking at the evicted one's window, want 2", tok)
	}
}
