package eval

import (
	"encoding/json"
	"slices"
	"time"
)

// ClassSummary is how one class of incident went across runs.
type ClassSummary struct {
	Class     string `json:"class"`
	Incidents int    `json:"incidents"`
	// Caught counts incidents with an alert on their own entity: for
	// attacks the more the better, for look-alikes the fewer.
	Caught int `json:"caught"`
	// MedianTimeToDetect is over the caught incidents; written to JSON
	// in seconds.
	MedianTimeToDetect time.Duration `json:"-"`
	Alerts             int           `json:"alerts"` // own and related
}

// MarshalJSON writes the summary with its median time in seconds.
func (c ClassSummary) MarshalJSON() ([]byte, error) {
	type plain ClassSummary
	return json.Marshal(struct {
		plain
		TTD float64 `json:"median_time_to_detect_s"`
	}{plain(c), c.MedianTimeToDetect.Seconds()})
}

// Summary aggregates the reports of several runs, usually several seeds.
type Summary struct {
	Runs                  int            `json:"runs"`
	Seeds                 []int64        `json:"seeds"`
	TokenDays             float64        `json:"token_days"`
	Attacks               []ClassSummary `json:"attacks"`
	Lookalikes            []ClassSummary `json:"lookalikes"`
	FalseAlertHours       int            `json:"false_alert_hours"`
	FalsePer1000TokenDays float64        `json:"false_per_1000_token_days"`
	FalseByDetector       map[string]int `json:"false_by_detector"`
	Alerts                int            `json:"alerts"`
}

// Combine sums reports; classes keep the order they first appear in.
func Combine(reports []*Report) *Summary {
	s := &Summary{Runs: len(reports), Seeds: []int64{}, FalseByDetector: map[string]int{}}
	var atk, look classAcc
	for _, r := range reports {
		s.Seeds = append(s.Seeds, r.Seed)
		s.TokenDays += r.TokenDays
		s.FalseAlertHours += r.FalseAlertHours
		s.Alerts += r.Alerts
		for d, n := range r.FalseByDetector {
			s.FalseByDetector[d] += n
		}
		atk.add(r.Attacks)
		look.add(r.Lookalikes)
	}
	s.Attacks, s.Lookalikes = atk.summaries(), look.summaries()
	if s.TokenDays > 0 {
		s.FalsePer1000TokenDays = float64(s.FalseAlertHours) * 1000 / s.TokenDays
	}
	return s
}

// classAcc accumulates results by class in first-seen order.
type classAcc struct {
	order []string
	sum   map[string]*ClassSummary
	ttd   map[string][]time.Duration
}

func (a *classAcc) add(res []ClassResult) {
	if a.sum == nil {
		a.sum, a.ttd = map[string]*ClassSummary{}, map[string][]time.Duration{}
	}
	for _, c := range res {
		s, ok := a.sum[c.Class]
		if !ok {
			s = &ClassSummary{Class: c.Class}
			a.sum[c.Class] = s
			a.order = append(a.order, c.Class)
		}
		s.Incidents++
		s.Alerts += c.Alerts + c.RelatedAlerts
		if c.Caught {
			s.Caught++
			a.ttd[c.Class] = append(a.ttd[c.Class], c.TimeToDetect)
		}
	}
}

func (a *classAcc) summaries() []ClassSummary {
	out := make([]ClassSummary, 0, len(a.order))
	for _, class := range a.order {
		s := *a.sum[class]
		s.MedianTimeToDetect = median(a.ttd[class])
		out = append(out, s)
	}
	return out
}

// median returns the middle duration, the mean of the two middle ones
// for an even count, and 0 for none.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}
