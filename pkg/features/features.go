// Package features counts records into event-time windows per API token
// and per client address: requests, messages pulled, bytes sent, errors,
// unauthorized attempts and distinct peers (addresses of a token, tokens
// of an address).
//
// Windows are aligned to multiples of the window size since the Unix
// epoch and close when the caller's watermark passes their end. An
// Aggregator is not safe for concurrent use: the engine drives it from one
// goroutine, which is also what makes its output deterministic.
package features

import "fmt"

// Kind is the kind of entity a window counts for.
type Kind uint8

// The kinds of entity.
const (
	Token Kind = iota // an API credential, keyed by its fingerprint
	IP                // a client address, keyed by its string form
	NumKinds
)

// String returns "token" or "ip".
func (k Kind) String() string {
	switch k {
	case Token:
		return "token"
	case IP:
		return "ip"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Feature is one counter of a window.
type Feature uint8

// The features counted per window. Counts are weighted by Record.Weight,
// except Peers, which counts distinct peers seen.
const (
	Requests     Feature = iota // requests
	Messages                    // messages pulled
	Bytes                       // response bytes
	Errors                      // responses with status >= 400, except 401
	Unauthorized                // responses with status 401 or 403
	Peers                       // distinct addresses (token) or tokens (ip)
	NumFeatures
)

var featureNames = [NumFeatures]string{
	"requests", "messages", "bytes", "errors", "unauthorized", "distinct_ips",
}

// Name returns the feature's name for windows of kind k: Peers is
// "distinct_ips" for a token and "distinct_tokens" for an address.
func (f Feature) Name(k Kind) string {
	if f >= NumFeatures {
		return fmt.Sprintf("feature(%d)", uint8(f))
	}
	if f == Peers && k == IP {
		return "distinct_tokens"
	}
	return featureNames[f]
}

// FeatureByName returns the feature that Name(k) calls name.
func FeatureByName(k Kind, name string) (Feature, bool) {
	for f := Feature(0); f < NumFeatures; f++ {
		if f.Name(k) == name {
			return f, true
		}
	}
	return 0, false
}

// Vector holds one value per feature.
type Vector [NumFeatures]float64
