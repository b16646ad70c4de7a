package ingest

import (
	"errors"
	"net/netip"
	"strings"
)

// ErrMappedTooShort refuses an IPv4-mapped IPv6 range wider than /96,
// which covers more than IPv4 and has no IPv4 equivalent.
var ErrMappedTooShort = errors.New("an IPv4-mapped range wider than /96 covers more than IPv4")

// ParsePrefix reads an address or a CIDR range, as allowlists, silences
// and contracts name them: a single address is its own /32 or /128, and
// a range's host bits are cleared. An address or range written in
// IPv4-mapped form (::ffff:203.0.113.0/120, as some logs print them) is
// returned as the IPv4 one it covers (203.0.113.0/24), since records
// carry IPv4 addresses unmapped: written as mapped, it would never match.
func ParsePrefix(s string) (netip.Prefix, error) {
	written, _, ranged := strings.Cut(s, "/")
	a, err := netip.ParseAddr(written)
	if err != nil {
		return netip.Prefix{}, err
	}
	p := netip.PrefixFrom(a, a.BitLen())
	if ranged {
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	}
	if !a.Is4In6() {
		return p.Masked(), nil
	}
	if p.Bits() < 96 {
		return netip.Prefix{}, ErrMappedTooShort
	}
	return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), nil
}
