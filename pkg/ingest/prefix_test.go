package ingest

import (
	"errors"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.9", "203.0.113.9/32"},
		{"203.0.113.9/24", "203.0.113.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::1/48", "2001:db8::/48"},
		// Mapped, as some logs print IPv4 addresses: records carry them
		// unmapped, so the range must be the IPv4 one to match.
		{"::ffff:203.0.113.9", "203.0.113.9/32"},
		{"::ffff:203.0.113.9/120", "203.0.113.0/24"},
		{"::ffff:0.0.0.0/96", "0.0.0.0/0"},
	} {
		p, err := ParsePrefix(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
	if _, err := ParsePrefix("::ffff:0:0/80"); !errors.Is(err, ErrMappedTooShort) {
		t.Errorf("a mapped range wider than /96: %v, want ErrMappedTooShort", err)
	}
	for _, bad := range []string{"", "203.0.113", "203.0.113.9/33", "example.com"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q) accepted", bad)
		}
	}
}
