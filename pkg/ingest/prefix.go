package ingest

import (
	"net/netip"
	"strings"
)

// ParsePrefix reads an address or a CIDR range, as allowlists and
// silences name them: a single address is its own /32 or /128, and a
// range's host bits are cleared.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
