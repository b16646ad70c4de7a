package gen

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Incident classes. The attacks come first, then the look-alikes, which
// must not raise alerts.
const (
	ClassBurstSmall       = "burst_small"
	ClassBurstMedium      = "burst_medium"
	ClassBurstLarge       = "burst_large"
	ClassLowAndSlow       = "low_and_slow"
	ClassDormantWakeup    = "dormant_wakeup"
	ClassNewTokenExfil    = "new_token_exfil"
	ClassIPManyTokens     = "ip_many_tokens"
	ClassNewNetworkClient = "new_network_client"

	ClassSurgeAll      = "surge_all"
	ClassNightlyExport = "nightly_export"
	ClassOrganicGrowth = "organic_growth"
	ClassNewTenant     = "new_tenant"
	ClassTenantMove    = "tenant_move"
)

// Entities an incident or alert is about.
const (
	EntityToken = "token"
	EntityIP    = "ip"
	// Any, as Entity and Key, covers every entity: the platform-wide
	// surge is about all of them at once.
	Any = "*"
)

// Truth is where the generated traffic holds its incidents.
type Truth struct {
	Seed      int64      `json:"seed"`
	Start     time.Time  `json:"start"`
	End       time.Time  `json:"end"`
	Tokens    int        `json:"tokens"`
	TokenDays float64    `json:"token_days"` // each token counted from its first minute
	Incidents []Incident `json:"incidents"`
}

// Incident is one attack or look-alike on one entity over a time window.
type Incident struct {
	Class  string `json:"class"`
	Attack bool   `json:"attack"` // false for look-alikes
	Entity string `json:"entity"` // EntityToken, EntityIP or Any
	// Key is the token's fingerprint (ingest.Fingerprint of the raw
	// token) or the address; Any with Entity Any.
	Key   string    `json:"key"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Related lists keys of the other entity kind that take part: the
	// addresses a token incident's traffic came from, or the tokens an
	// address tried. An alert on one of them in the window belongs to
	// the incident.
	Related []string `json:"related,omitempty"`
}

// WriteJSON writes the truth as one indented JSON document.
func (t *Truth) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t); err != nil {
		return fmt.Errorf("writing truth: %w", err)
	}
	return nil
}

// ReadTruth reads a truth written by WriteJSON.
func ReadTruth(r io.Reader) (*Truth, error) {
	var t Truth
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return nil, fmt.Errorf("reading truth: %w", err)
	}
	return &t, nil
}
