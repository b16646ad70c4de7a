package config

import (
	"fmt"
	"net/netip"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Allow lists entities whose alerts are not delivered: a load test's
// token, a partner's known batch job, the monitoring system's address.
// Their baselines are still learned, and the suppressed alerts counted.
type Allow struct {
	// Tokens are token fingerprints (sentinel fingerprint).
	Tokens []string `yaml:"tokens"`
	// Addresses are client addresses or CIDR ranges.
	Addresses []string `yaml:"addresses"`
}

// Prefixes returns Addresses as prefixes; a single address is a /32 or
// /128. Validate has checked them.
func (a Allow) Prefixes() []netip.Prefix { return prefixes(a.Addresses) }

// prefixes parses addresses and CIDR ranges that Validate has checked.
func prefixes(ss []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if p, err := ingest.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func (c *Config) validateAllow() error {
	var errs []error
	for i, fp := range c.Allow.Tokens {
		if fingerprintRE.MatchString(fp) {
			continue
		}
		field := fmt.Sprintf("allow.tokens[%d]", i)
		msg := "is not a token fingerprint (12 hex characters, see sentinel fingerprint)"
		if showLabelKey(fp) {
			msg = fmt.Sprintf("%q %s", fp, msg)
		} else {
			msg += rawTokenHint(fp, "value")
		}
		errs = append(errs, c.fieldErr(field, "%s", msg))
	}
	for i, s := range c.Allow.Addresses {
		if _, err := ingest.ParsePrefix(s); err != nil {
			errs = append(errs, c.fieldErr(fmt.Sprintf("allow.addresses[%d]", i),
				"%q is not an address or a CIDR range: allowed are e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/48", s))
		}
	}
	return joinErrors(errs)
}
