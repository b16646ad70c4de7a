package app

import (
	"strings"
	"testing"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/config"
)

// TestAllowlistHoldsBackOnlyWhatItNames: a listed token, an address in a
// listed range (IPv4, IPv4-mapped and IPv6) are held back and marked
// recorded; anything else goes on; a reload's new list applies at once.
func TestAllowlistHoldsBackOnlyWhatItNames(t *testing.T) {
	l := newAllowlist(config.Allow{
		Tokens:    []string{"3f9a1c0b2e4d"},
		Addresses: []string{"203.0.113.0/24", "2001:db8::/48", "198.51.100.7"},
	})
	var sent []string
	deliver := holdBack(l.holds, func(a *alert.Alert, _ func()) { sent = append(sent, a.Key) })
	recorded := 0
	for _, a := range []alert.Alert{
		{Entity: alert.EntityToken, Key: "3f9a1c0b2e4d"},
		{Entity: alert.EntityToken, Key: "aaaaaaaaaaaa"},
		{Entity: alert.EntityIP, Key: "203.0.113.200"},
		{Entity: alert.EntityIP, Key: "::ffff:203.0.113.9"},
		{Entity: alert.EntityIP, Key: "2001:db8:0:1::5"},
		{Entity: alert.EntityIP, Key: "198.51.100.7"},
		{Entity: alert.EntityIP, Key: "198.51.100.8"},
		{Entity: alert.EntitySource, Key: "/var/log/api.log"},
	} {
		deliver(&a, func() { recorded++ })
	}
	want := "aaaaaaaaaaaa 198.51.100.8 /var/log/api.log"
	if got := strings.Join(sent, " "); got != want {
		t.Errorf("delivered %q, want %q", got, want)
	}
	if recorded != 5 || l.Skipped() != 5 {
		t.Errorf("recorded %d, skipped %d: want the 5 held back marked recorded and counted", recorded, l.Skipped())
	}
	l.set(config.Allow{})
	sent = nil
	deliver(&alert.Alert{Entity: alert.EntityToken, Key: "3f9a1c0b2e4d"}, func() {})
	if len(sent) != 1 {
		t.Error("after the list was emptied, the token's alert was still held back")
	}
}
