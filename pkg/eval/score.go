package eval

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/sentinel-project/sentinel/pkg/gen"
)

// Grace is how long after an incident's end an alert on it still counts:
// detectors that close windows report a little late.
const Grace = 15 * time.Minute

// ClassResult is how the alerts went on one incident.
type ClassResult struct {
	Class  string    `json:"class"`
	Entity string    `json:"entity"`
	Key    string    `json:"key"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// Caught says an alert on the incident's own entity fell in its
	// window. For a look-alike that is a failure.
	Caught bool `json:"caught"`
	// TimeToDetect is FirstAlert minus Start; written to JSON in seconds.
	TimeToDetect time.Duration `json:"-"`
	FirstAlert   time.Time     `json:"first_alert,omitzero"`
	// Alerts counts alerts on the incident's own entity; RelatedAlerts
	// those on its related keys, such as the tokens an address tried.
	// Both are matched, never false.
	Alerts        int      `json:"alerts"`
	RelatedAlerts int      `json:"related_alerts"`
	Detectors     []string `json:"detectors,omitempty"` // that fired on it, sorted
}

// MarshalJSON writes the result with its time to detect in seconds.
func (c ClassResult) MarshalJSON() ([]byte, error) {
	type plain ClassResult
	return json.Marshal(struct {
		plain
		TTD float64 `json:"time_to_detect_s"`
	}{plain(c), c.TimeToDetect.Seconds()})
}

// Report is the score of one run's alerts.
type Report struct {
	Seed       int64         `json:"seed"`
	Tokens     int           `json:"tokens"`
	TokenDays  float64       `json:"token_days"`
	Attacks    []ClassResult `json:"attacks"`
	Lookalikes []ClassResult `json:"lookalikes"`
	// FalseAlertHours counts alerts that match no incident once per
	// entity, key and hour, so a flapping alert costs one.
	FalseAlertHours       int     `json:"false_alert_hours"`
	FalsePer1000TokenDays float64 `json:"false_per_1000_token_days"`
	// FalseByDetector counts false alert-hours per detector; an hour
	// two detectors flagged counts for each.
	FalseByDetector map[string]int `json:"false_by_detector"`
	Alerts          int            `json:"alerts"`
}

type hourKey struct {
	detector, entity, key string
	hour                  time.Time
}

// Score matches alerts to the truth's incidents. An alert matches an
// incident when its entity and key are the incident's, or one of its
// related keys, and it falls in [Start, End+Grace]. Attacks are tried
// first; an alert no attack claims counts against any look-alike it
// matches, and only then as false.
func Score(t *gen.Truth, alerts []Alert) *Report {
	r := &Report{Seed: t.Seed, Tokens: t.Tokens, TokenDays: t.TokenDays,
		Alerts: len(alerts), FalseByDetector: map[string]int{}}
	var atk, look []gen.Incident
	for _, in := range t.Incidents {
		if in.Attack {
			atk = append(atk, in)
			r.Attacks = append(r.Attacks, newResult(in))
			continue
		}
		look = append(look, in)
		r.Lookalikes = append(r.Lookalikes, newResult(in))
	}
	// Time order makes the first match the earliest alert.
	sorted := slices.Clone(alerts)
	slices.SortStableFunc(sorted, func(a, b Alert) int { return a.At.Compare(b.At) })
	hours, byDetector := map[hourKey]bool{}, map[hourKey]bool{}
	for _, a := range sorted {
		if match(atk, r.Attacks, a) || match(look, r.Lookalikes, a) {
			continue
		}
		h := hourKey{entity: a.Entity, key: a.Key, hour: a.At.UTC().Truncate(time.Hour)}
		hours[h] = true
		h.detector = a.Detector
		if !byDetector[h] {
			byDetector[h] = true
			r.FalseByDetector[a.Detector]++
		}
	}
	r.FalseAlertHours = len(hours)
	if r.TokenDays > 0 {
		r.FalsePer1000TokenDays = float64(r.FalseAlertHours) * 1000 / r.TokenDays
	}
	return r
}

func newResult(in gen.Incident) ClassResult {
	return ClassResult{Class: in.Class, Entity: in.Entity, Key: in.Key, Start: in.Start, End: in.End}
}

// match records a on every incident it matches and says whether any did.
func match(ins []gen.Incident, res []ClassResult, a Alert) bool {
	found := false
	for i, in := range ins {
		if a.At.Before(in.Start) || a.At.After(in.End.Add(Grace)) {
			continue
		}
		switch {
		case own(in, a):
			res[i].record(a, in.Start)
		case a.Entity != in.Entity && slices.Contains(in.Related, a.Key):
			res[i].RelatedAlerts++
		default:
			continue
		}
		res[i].addDetector(a.Detector)
		found = true
	}
	return found
}

func own(in gen.Incident, a Alert) bool {
	return (in.Entity == gen.Any || in.Entity == a.Entity) && (in.Key == gen.Any || in.Key == a.Key)
}

func (c *ClassResult) record(a Alert, start time.Time) {
	c.Alerts++
	if c.Caught {
		return
	}
	c.Caught, c.FirstAlert, c.TimeToDetect = true, a.At, a.At.Sub(start)
}

func (c *ClassResult) addDetector(d string) {
	i, ok := slices.BinarySearch(c.Detectors, d)
	if !ok {
		c.Detectors = slices.Insert(c.Detectors, i, d)
	}
}
