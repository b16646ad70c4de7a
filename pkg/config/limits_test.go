package config

import (
	"strings"
	"testing"
)

func TestLimitsDefaults(t *testing.T) {
	c := Default()
	if c.Limits.MemoryBytes() != 768<<20 || c.Limits.MaxTokens >= DefaultMaxEntities || c.Limits.MaxTokens < 100_000 {
		t.Errorf("default limits %+v, want 768MiB and the maxima sized to fit it", c.Limits)
	}
	c, err := Parse([]byte("limits:\n  memory: \"0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxTokens != DefaultMaxEntities || c.Limits.MaxAddresses != DefaultMaxEntities || c.Limits.MemoryBytes() != 0 {
		t.Errorf("limits without memory %+v, want %d of each and no memory limit", c.Limits, DefaultMaxEntities)
	}
}

// With a memory limit, unset maxima are sized to fit in its share, and
// given ones must fit.
func TestLimitsFromMemory(t *testing.T) {
	c, err := Parse([]byte("limits:\n  memory: 768MiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	share := EntityShare * float64(768<<20)
	want := int(share / (TokenBytes + AddressBytes))
	if l.MemoryBytes() != 768<<20 || l.MaxTokens != want || l.MaxAddresses != want {
		t.Errorf("limits %+v, want %d of each in 768MiB", l, want)
	}
	if got := l.entityBytes(); float64(got) > EntityShare*float64(l.MemoryBytes()) {
		t.Errorf("derived limits need %d bytes, over the share of the memory", got)
	}
	c, err = Parse([]byte("limits:\n  memory: 1GiB\n  max_tokens: 100000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxTokens != 100000 || c.Limits.MaxAddresses <= 100000 || float64(c.Limits.entityBytes()) > EntityShare*(1<<30) {
		t.Errorf("limits %+v: want the given 100000 tokens and the addresses sized from what they leave", c.Limits)
	}
}

func TestLimitsMistakesNameTheField(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"limits:\n  memory: 1 gig\n", `limits.memory (line 2): "1 gig" is not a size: write a number and a unit`},
		{"limits:\n  memory: 1MiB\n", "limits.memory (line 2): 1MiB is too small: allowed is 64MiB or more"},
		{"limits:\n  memory: 64MiB\n  max_tokens: 26000\n", "limits.memory (line 2): 64MiB leaves room for only 3"},
		{"limits:\n  max_tokens: 10\n", "limits.max_tokens (line 2): 10 is out of range: allowed is 1000 to 100000000"},
		{"limits:\n  max_addresses: -1\n", "limits.max_addresses (line 2): -1 is out of range"},
		{"limits:\n  memory: 256MiB\n  max_tokens: 1000000\n  max_addresses: 1000000\n",
			"limits.max_tokens (line 3): 1000000 tokens and 1000000 addresses need about 2GiB"},
		{"limits:\n  max_tokens: lots\n", "limits.max_tokens (line 2): \"lots\" is not a whole number"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"512MiB": 512 << 20, "1GiB": 1 << 30, "1G": 1 << 30, "1.5G": 3 << 29, "800MB": 800e6,
		"2048": 2048, "64 MiB": 64 << 20, "1T": 1 << 40,
	} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1 gig", "-1G", "1e3", "1GiBs", "99999999999T"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) succeeded, want an error", in)
		}
	}
	if got := FormatBytes(3 << 29); got != "1.5GiB" {
		t.Errorf("FormatBytes(1.5GiB) = %q", got)
	}
}

func TestBudgetDetectorShrinksTheDerivedMaxima(t *testing.T) {
	parse := func(yaml string) Limits {
		t.Helper()
		c, err := Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		return c.Limits
	}
	off := parse("limits:\n  memory: 256MiB\n")
	on := parse("limits:\n  memory: 256MiB\ndetect:\n  budget:\n    enabled: true\n")
	share := EntityShare * float64(256<<20)
	if want := int(share / (TokenBytes + AddressBytes)); off.MaxTokens != want {
		t.Fatalf("budget off: max_tokens %d, want %d", off.MaxTokens, want)
	}
	if want := int(share / (TokenBytes + BudgetTokenBytes + AddressBytes)); on.MaxTokens != want {
		t.Fatalf("budget on: max_tokens %d, want %d, room for its larger tokens", on.MaxTokens, want)
	}
}
