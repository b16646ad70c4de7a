// Package alert turns a detector's finding into a notification and delivers
// it: the Alert type is the public JSON contract, sinks write or post one
// alert, and the Dispatcher fans alerts out to sinks without ever making the
// caller wait for one of them.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"time"
)

// Entity kinds an alert can be about.
const (
	EntityToken  = "token"
	EntityIP     = "ip"
	EntitySource = "source"
	// EntityPopulation is all the entities of one kind, Key naming the
	// kind ("token" or "ip"): a flood of new keys is about no one of them.
	EntityPopulation = "population"
)

// Statuses of an alert. A resolved alert is the "back to normal" notice
// of an incident: the same Entity, Key and Detector as the alerts it
// ends, Since the incident's start, At when it was judged over, and
// Excess the messages pulled above expected over the whole incident.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Severities, in increasing order.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is one anomaly, as written to every sink. The JSON field names are a
// public contract: fields may be added, never renamed or removed.
//
// An Alert never carries a raw credential: Key is a fingerprint and
// TokenHint the credential's last four characters at most.
type Alert struct {
	// ID is stable for one finding: see NewID. Receivers dedupe on it.
	ID string `json:"id"`
	// At is the event time of the evidence that fired the alert.
	At time.Time `json:"at"`
	// Entity is EntityToken, EntityIP, EntitySource or EntityPopulation.
	Entity string `json:"entity"`
	// Key is the token fingerprint, the client address, the source name,
	// or for a population the kind, "token" or "ip".
	Key string `json:"key"`
	// TokenHint is the credential's last 4 characters; empty for key ids.
	TokenHint string `json:"token_hint"`
	// Label is an optional name from configuration, such as a tenant.
	Label string `json:"label"`
	// Detector names the detector that fired, e.g. "ewma".
	Detector string `json:"detector"`
	// Feature names the measured quantity, e.g. "messages".
	Feature string `json:"feature"`
	// Observed is the feature's value in the window; Expected is what the
	// detector predicted; Score is the detector's anomaly score.
	Observed float64 `json:"observed"`
	Expected float64 `json:"expected"`
	Score    float64 `json:"score"`
	// Severity is SeverityWarning or SeverityCritical.
	Severity    string    `json:"severity"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Since is when the anomalous activity began.
	Since time.Time `json:"since"`
	// Excess is the messages pulled above the entity's expected volume
	// since Since, summed over windows, whichever feature fired.
	Excess float64 `json:"excess"`
	// TopIPs lists the busiest client addresses of a token alert.
	TopIPs []string `json:"top_ips,omitempty"`
	// TopTokens lists the busiest token fingerprints of an address alert.
	TopTokens []string `json:"top_tokens,omitempty"`
	// IsolatedBy lists, for an "iforest" alert, the features that made
	// the window stand out, most telling first.
	IsolatedBy []Isolation `json:"isolated_by,omitempty"`
	// Contract says, for a "contract" alert, what breached the token's
	// declared contract.
	Contract *Breach `json:"contract,omitempty"`
	// Summary is one sentence for a person; see Summarize.
	Summary string `json:"summary"`
	// Status is StatusFiring or StatusResolved; an alert made without
	// one is written as firing.
	Status string `json:"status"`
	// Chain is the head hash of the evidence log once this alert was
	// appended to it, which `sentinel verify` checks the log against;
	// empty when no evidence log is kept.
	Chain string `json:"chain,omitempty"`
}

// Isolation is one feature that made a window stand out to the
// isolation forest: its value in the window, its typical value over the
// windows the model learned from, and how much the score falls when it is
// put back to typical.
type Isolation struct {
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
	Typical float64 `json:"typical"`
	Weight  float64 `json:"weight"`
}

// alertJSON has Alert's fields without its methods, so MarshalJSON can
// delegate to encoding/json without recursing.
type alertJSON Alert

// MarshalJSON writes the alert with every time in UTC, whatever location
// the caller's times carry, and with non-finite numbers made finite (NaN
// as 0, ±Inf as ±math.MaxFloat64) because JSON has no representation for
// them and an alert must not be lost to a score that overflowed.
func (a Alert) MarshalJSON() ([]byte, error) {
	c := alertJSON(a)
	c.At = c.At.UTC()
	c.WindowStart = c.WindowStart.UTC()
	c.WindowEnd = c.WindowEnd.UTC()
	c.Since = c.Since.UTC()
	c.Observed = finite(c.Observed)
	c.Expected = finite(c.Expected)
	c.Score = finite(c.Score)
	c.Excess = finite(c.Excess)
	if c.Status == "" {
		c.Status = StatusFiring
	}
	return json.Marshal(c)
}

func finite(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case math.IsInf(v, 1):
		return math.MaxFloat64
	case math.IsInf(v, -1):
		return -math.MaxFloat64
	}
	return v
}

// IDLen is the number of hex characters in an alert id.
const IDLen = 16

// NewID returns the id of the alert about one entity, detector and feature
// in the window starting at windowStart: the first IDLen hex characters of
// the SHA-256 of the five values joined by NUL bytes, the window start
// written as RFC 3339 in UTC with nanoseconds. The same finding always gets
// the same id, across restarts and replays, so a receiver recognises a
// repeat.
func NewID(entity, key, detector, feature string, windowStart time.Time) string {
	h := sha256.New()
	for _, s := range []string{entity, key, detector, feature} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write([]byte(windowStart.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h.Sum(nil))[:IDLen]
}
