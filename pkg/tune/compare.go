package tune

import (
	"cmp"
	"slices"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// Result is a backtest's outcome. The unit of load is the alert-hour:
// an entity's alerts within one clock hour count once, whatever the
// detectors, as `sentinel eval` counts false alerts.
type Result struct {
	Days   float64 `json:"days"`   // span of the history, at least an hour
	Budget float64 `json:"budget"` // alert-hours a day
	// Candidates are ordered from the most sensitive scale to the least.
	Candidates []Candidate `json:"candidates"`
	// Current indexes the configuration's own candidate (scale 1);
	// Proposed the most sensitive within budget, -1 when none is.
	Current  int `json:"current"`
	Proposed int `json:"proposed"`
	// Dominant lists, when no candidate is within budget, the entities
	// with the most alert-hours at the least sensitive one: at most
	// five, and never one of several that tie where the list is cut, so
	// none is picked among equals by its name.
	Dominant []EntityHours `json:"dominant,omitempty"`
	// Entities counts the entities alerting at the least sensitive
	// candidate when no candidate is within budget.
	Entities int `json:"entities,omitempty"`
	// Tied counts the entities left out of Dominant that tie where it
	// was cut, TiedHours the alert-hours each of them has.
	Tied      int `json:"tied,omitempty"`
	TiedHours int `json:"tied_hours,omitempty"`
}

// Candidate is one setting's replay, compared with the configuration's.
type Candidate struct {
	Scale        float64 `json:"scale"`
	Keys         Keys    `json:"detect"`
	Snippet      string  `json:"snippet"` // Keys as YAML to paste
	Alerts       int     `json:"alerts"`
	AlertHours   int     `json:"alert_hours"`
	PerDay       float64 `json:"alert_hours_per_day"`
	WithinBudget bool    `json:"within_budget"`
	// Gained are the alert-hours this setting raises that the
	// configuration does not, Lost those it no longer raises; each in
	// time order.
	Gained []Hour `json:"gained"`
	Lost   []Hour `json:"lost"`
}

// Hour is one entity's alert-hour, told by its first alert.
type Hour struct {
	Entity    string    `json:"entity"`
	Key       string    `json:"key"`
	TokenHint string    `json:"token_hint,omitempty"`
	Label     string    `json:"label,omitempty"`
	Hour      time.Time `json:"hour"`
	At        time.Time `json:"at"`
	Detector  string    `json:"detector"`
	Feature   string    `json:"feature"`
	Observed  float64   `json:"observed"`
	Threshold float64   `json:"threshold"`
	Alerts    int       `json:"alerts"` // raised in the hour
}

// EntityHours counts one entity's alert-hours.
type EntityHours struct {
	Entity    string `json:"entity"`
	Key       string `json:"key"`
	TokenHint string `json:"token_hint,omitempty"`
	Label     string `json:"label,omitempty"`
	Hours     int    `json:"alert_hours"`
}

type hourKey struct {
	entity, key string
	hour        time.Time
}

// alertHours groups alerts by entity and clock hour.
func alertHours(alerts []alert.Alert) map[hourKey]*Hour {
	hours := map[hourKey]*Hour{}
	for i := range alerts {
		a := &alerts[i]
		k := hourKey{a.Entity, a.Key, a.At.UTC().Truncate(time.Hour)}
		if h := hours[k]; h != nil {
			h.Alerts++
			continue
		}
		h := &Hour{Entity: a.Entity, Key: a.Key, TokenHint: a.TokenHint, Label: a.Label,
			Hour: k.hour, At: a.At.UTC(), Detector: a.Detector, Feature: a.Feature,
			Observed: a.Observed, Alerts: 1}
		if a.Score > 0 {
			// An alert's score is observed ÷ threshold.
			h.Threshold = a.Observed / a.Score
		}
		hours[k] = h
	}
	return hours
}

// compare counts each run's alert-hours, sets each against the
// configuration's run, and picks the proposal.
func compare(scales []float64, keys []Keys, runs []run, budget float64) *Result {
	res := &Result{Budget: budget, Proposed: -1, Current: slices.Index(scales, 1)}
	res.Days = max(time.Hour, runs[res.Current].last.Sub(runs[res.Current].first)).Hours() / 24
	hours := make([]map[hourKey]*Hour, len(runs))
	for i, r := range runs {
		hours[i] = alertHours(r.alerts)
	}
	cur := hours[res.Current]
	for i, r := range runs {
		c := Candidate{Scale: scales[i], Keys: keys[i], Snippet: keys[i].Snippet(),
			Alerts: len(r.alerts), AlertHours: len(hours[i])}
		c.PerDay = float64(c.AlertHours) / res.Days
		c.WithinBudget = c.PerDay <= budget
		c.Gained = missingFrom(hours[i], cur)
		c.Lost = missingFrom(cur, hours[i])
		if c.WithinBudget && res.Proposed < 0 {
			res.Proposed = i
		}
		res.Candidates = append(res.Candidates, c)
	}
	if res.Proposed < 0 {
		res.Dominant, res.Entities, res.Tied, res.TiedHours = dominant(hours[len(hours)-1], 5)
	}
	return res
}

// missingFrom lists the hours of a that b lacks, in time order.
func missingFrom(a, b map[hourKey]*Hour) []Hour {
	out := []Hour{}
	for k, h := range a {
		if b[k] == nil {
			out = append(out, *h)
		}
	}
	slices.SortFunc(out, func(x, y Hour) int {
		return cmp.Or(x.At.Compare(y.At), cmp.Compare(x.Entity, y.Entity), cmp.Compare(x.Key, y.Key))
	})
	return out
}

// dominant lists at most n entities with the most alert-hours, cut
// before any that ties with one left out; and counts the entities, and
// those that tie where the list was cut with their alert-hours each.
func dominant(hours map[hourKey]*Hour, n int) (list []EntityHours, entities, tied, tiedHours int) {
	type ent struct{ entity, key string }
	counts := map[ent]*EntityHours{}
	for k, h := range hours {
		e := ent{k.entity, k.key}
		if counts[e] == nil {
			counts[e] = &EntityHours{Entity: h.Entity, Key: h.Key, TokenHint: h.TokenHint, Label: h.Label}
		}
		counts[e].Hours++
	}
	out := make([]EntityHours, 0, len(counts))
	for _, c := range counts {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(x, y EntityHours) int {
		return cmp.Or(cmp.Compare(y.Hours, x.Hours), cmp.Compare(x.Entity, y.Entity), cmp.Compare(x.Key, y.Key))
	})
	if len(out) <= n || out[n-1].Hours != out[n].Hours {
		return out[:min(n, len(out))], len(out), 0, 0
	}
	tiedHours = out[n].Hours
	cut := slices.IndexFunc(out, func(e EntityHours) bool { return e.Hours == tiedHours })
	for _, e := range out[cut:] {
		if e.Hours == tiedHours {
			tied++
		}
	}
	return out[:cut], len(out), tied, tiedHours
}
