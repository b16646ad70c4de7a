package engine

import (
	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/evidence"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// checkContract checks r against its token's declared contract. It runs
// before the record's window is looked at, so a line too late for its
// window is still judged: a contract has no window.
func (c *core) checkContract(r *ingest.Record) {
	if r.Cred.FP == "" || c.opts.Features.Skip[features.Token] {
		return // a partition of addresses: tokens are judged elsewhere
	}
	for _, f := range c.contracts.Check(r) {
		a := c.contractAlert(&f)
		c.stats.Alerts++
		if k := c.keeper; k != nil {
			ev := k.bare(a.Detector)
			ev.Features = []evidence.Feature{evidence.NewFeature(f.Clause, f.Observed, 0, f.Limit)}
			if len(k.line) > 0 {
				// The request that breached is the evidence, redacted.
				ev.Lines = []string{k.capture.One(k.line, k.rawCred(), r.Cred.FP)}
			}
			k.emit(a, ev)
			continue
		}
		c.emit(a)
	}
}

func (c *core) contractAlert(f *detect.ContractFinding) *alert.Alert {
	a := &alert.Alert{
		ID:          alert.NewID(alert.EntityToken, f.Key, "contract", f.Clause, f.WindowStart),
		At:          f.At.UTC(),
		Entity:      alert.EntityToken,
		Key:         f.Key,
		TokenHint:   f.Hint,
		Label:       c.opts.Labels[f.Key],
		Detector:    "contract",
		Feature:     f.Clause,
		Observed:    round(f.Observed, 2),
		Expected:    round(f.Limit, 2),
		Score:       round(f.Score, 3),
		Severity:    f.Severity,
		WindowStart: f.WindowStart.UTC(),
		WindowEnd:   f.WindowEnd.UTC(),
		Since:       f.Since.UTC(),
		Status:      alert.StatusFiring,
		Contract:    &alert.Breach{Clause: f.Clause, Value: f.Value, Declared: f.Declared},
	}
	if a.Contract.Value == "" && a.Contract.Declared == nil {
		a.Excess = round(f.Observed-f.Limit, 0) // a limit: what was pulled over it
	}
	a.Summary = alert.Summarize(a)
	return a
}
