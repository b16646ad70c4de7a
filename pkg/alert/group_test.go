package alert

import (
	"fmt"
	"slices"
	"testing"
)

func TestRelated(t *testing.T) {
	tok := &Alert{Entity: EntityToken, Key: "aaaaaaaaaaaa", TopIPs: []string{"203.0.113.9"}}
	forest := &Alert{Entity: EntityToken, Key: "aaaaaaaaaaaa", Detector: "iforest"}
	addr := &Alert{Entity: EntityIP, Key: "203.0.113.9"}
	spraying := &Alert{Entity: EntityIP, Key: "198.51.100.4", TopTokens: []string{"bbbbbbbbbbbb"}}
	tried := &Alert{Entity: EntityToken, Key: "bbbbbbbbbbbb"}
	other := &Alert{Entity: EntityToken, Key: "cccccccccccc"}
	over := &Alert{Entity: EntityToken, Key: "aaaaaaaaaaaa", Status: StatusResolved}
	for _, tc := range []struct {
		name string
		a, b *Alert
		want bool
	}{
		{"one token, two detectors", tok, forest, true},
		{"a token and its address", addr, tok, true},
		{"an address and a token it tried", spraying, tried, true},
		{"two unrelated tokens", tok, other, false},
		{"a token and an address it never used", tried, addr, false},
		{"a back-to-normal notice", tok, over, false},
	} {
		if got := Related(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: Related = %v, want %v", tc.name, got, tc.want)
		}
		if got := Related(tc.b, tc.a); got != tc.want {
			t.Errorf("%s, the other way: Related = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// An address trying many tokens gathers them, through itself, into one
// group however they are interleaved with others, up to MaxGroup.
func TestGroupGathersThroughTheIncident(t *testing.T) {
	addr := &Alert{Entity: EntityIP, Key: "198.51.100.4"}
	all := []*Alert{addr}
	for i := range MaxGroup + 5 {
		key := fmt.Sprintf("%012x", i)
		addr.TopTokens = append(addr.TopTokens, key)
		all = append(all, &Alert{Entity: EntityToken, Key: key}, &Alert{Entity: EntityToken, Key: fmt.Sprintf("ffff%08x", i)})
	}
	got := group(all)
	if len(got) != MaxGroup || got[0] != 0 {
		t.Fatalf("group of %d starting at %d, want %d starting at the address", len(got), got[0], MaxGroup)
	}
	if !slices.IsSorted(got) {
		t.Errorf("group %v is not in the order the alerts came", got)
	}
	for _, i := range got[1:] {
		if !slices.Contains(addr.TopTokens, all[i].Key) {
			t.Errorf("alert %d (%s) joined, though unrelated", i, all[i].Key)
		}
	}
}
