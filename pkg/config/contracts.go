package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Contract is what a token's owner declares the token is for; see
// docs/detection.md. A clause left out is not declared: it allows
// anything.
type Contract struct {
	// MessagesPerHour and MessagesPerDay are the most messages the token
	// may pull in one calendar hour or day, UTC. 0 declares a token that
	// pulls none; nil declares no limit.
	MessagesPerHour *float64 `yaml:"messages_per_hour"`
	MessagesPerDay  *float64 `yaml:"messages_per_day"`
	// Networks are addresses or CIDR ranges, IPv4 or IPv6.
	Networks []string `yaml:"networks"`
	// Clients are user-agent patterns: * matches any run of characters,
	// case is ignored.
	Clients []string `yaml:"clients"`
	// Endpoints are the requests the token may make.
	Endpoints []Endpoint `yaml:"endpoints"`
}

// Endpoint is a method (empty or * for any) and a path pattern, in
// which * matches any run of characters, slashes included.
type Endpoint struct {
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
}

// Prefixes returns Networks as prefixes; Validate has checked them. A
// prefix written in IPv4-mapped IPv6 form (::ffff:203.0.113.0/120) is
// returned as the IPv4 prefix it covers (203.0.113.0/24): requests are
// matched by their IPv4 address.
func (k Contract) Prefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(k.Networks))
	for _, s := range k.Networks {
		if p, err := ingest.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// contractMethods are the methods an endpoint may name, in any case;
// empty or * is any. A name outside them is more likely a typo (FETCH,
// GTE) than a method the API serves, and would match no request.
var contractMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func knownMethod(m string) bool {
	return m == "" || m == "*" || slices.Contains(contractMethods, strings.ToUpper(m))
}

// limitAllowed is what messages_per_hour and messages_per_day allow.
const limitAllowed = "0 (a token that pulls no messages) or a positive number; leave it out for no limit"

// fieldAllowed is what a field whose value could not be read allows,
// when typeWords alone would not say: "" for the others.
func fieldAllowed(path string) string {
	if strings.HasPrefix(path, "contracts.") &&
		(strings.HasSuffix(path, ".messages_per_hour") || strings.HasSuffix(path, ".messages_per_day")) {
		return limitAllowed
	}
	return ""
}

// contractKeyMistake says that key is not a fingerprint, offering the
// fingerprint to write when it may be a raw token.
func contractKeyMistake(key string) string {
	msg := "is not a token fingerprint (12 lowercase hex characters, see sentinel fingerprint)"
	if !showLabelKey(key) {
		msg += rawTokenHint(key, "key")
	}
	return msg
}

func (c *Config) validateContracts() error {
	var errs []error
	for _, key := range sortedKeys(c.Contracts) {
		k := c.Contracts[key]
		field := func(sub string) string { return shownPath("contracts", key) + sub }
		fail := func(sub, format string, args ...any) {
			errs = append(errs, &FieldError{Field: field(sub), Line: c.lineOf(field(sub)),
				Msg: fmt.Sprintf(format, args...)})
		}
		if !fingerprintRE.MatchString(key) {
			fail("", "%s", contractKeyMistake(key))
		}
		if k.MessagesPerHour == nil && k.MessagesPerDay == nil && len(k.Networks)+len(k.Clients)+len(k.Endpoints) == 0 {
			fail("", "declares nothing: give at least one of messages_per_hour, messages_per_day, networks, clients, endpoints")
		}
		// An empty list (or a key with nothing under it) would allow
		// anything, as a list left out does; an owner who writes one may
		// well have meant none.
		for _, l := range []struct {
			name     string
			n        int
			nilSlice bool
		}{{"networks", len(k.Networks), k.Networks == nil},
			{"clients", len(k.Clients), k.Clients == nil},
			{"endpoints", len(k.Endpoints), k.Endpoints == nil}} {
			_, written := c.lines[field("."+l.name)]
			if l.n == 0 && (written || !l.nilSlice) {
				fail("."+l.name, "is empty, which would allow any %s rather than none: give at least one, or leave it out to allow any", l.name)
			}
		}
		for i, v := range []*float64{k.MessagesPerHour, k.MessagesPerDay} {
			if v != nil && (*v < 0 || math.IsNaN(*v) || math.IsInf(*v, 0)) {
				fail([]string{".messages_per_hour", ".messages_per_day"}[i],
					"%v: allowed is %s", *v, limitAllowed)
			}
		}
		for i, s := range k.Networks {
			if _, err := ingest.ParsePrefix(s); errors.Is(err, ingest.ErrMappedTooShort) {
				fail(fmt.Sprintf(".networks[%d]", i),
					"%q is an IPv4-mapped IPv6 range wider than /96, which covers more than IPv4: allowed is a mapped range of /96 to /128 (::ffff:203.0.113.0/120), or write it as IPv4 (203.0.113.0/24)", s)
			} else if err != nil {
				fail(fmt.Sprintf(".networks[%d]", i),
					"%q is not an address or a CIDR range: allowed are e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/48", s)
			}
		}
		for i, e := range k.Endpoints {
			sub := fmt.Sprintf(".endpoints[%d]", i)
			if !knownMethod(e.Method) {
				fail(sub+".method", "%q is not a method: allowed are %s, or * (or nothing) for any", e.Method, strings.Join(contractMethods, ", "))
			}
			if e.Path == "" || (e.Path[0] != '/' && e.Path[0] != '*') {
				fail(sub+".path", "%q is not a path pattern: allowed is a path starting with / or *, such as /messages/*", e.Path)
			}
		}
	}
	return joinErrors(errs)
}

// lineOf is the line of field, or of the nearest enclosing field the
// file gave when it left field out.
func (c *Config) lineOf(field string) int {
	for {
		if n, ok := c.lines[field]; ok {
			return n
		}
		i := strings.LastIndexByte(field, '.')
		if i < 0 {
			return 0
		}
		field = field[:i]
	}
}
