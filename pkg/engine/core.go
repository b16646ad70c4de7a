// Package engine wires sentinel's stages together: lines from ingest are
// parsed into records, counted into windows by features, judged by detect,
// and the findings turned into alerts. One goroutine owns all learned
// state (the core), so the same lines in the same order always give the
// same alerts, whether replayed or followed live.
package engine

import (
	"math"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Options are the settings shared by replay and live runs.
type Options struct {
	Features features.Options
	Detect   detect.Options
	// Labels names keys (token fingerprints or addresses), e.g. tenants.
	Labels map[string]string
	// Contracts are the tokens' declared usage, by fingerprint.
	Contracts map[string]detect.Contract
	Logger    zerolog.Logger
}

// core applies records to the features and detectors, in order, and
// turns findings into alerts. It is not safe for concurrent use.
type core struct {
	opts    Options
	agg     *features.Aggregator
	det     *detect.Detector
	rejects *detect.RejectWatch
	// contracts checks each request of a token that declared its usage.
	contracts *detect.ContractWatch
	emit      func(*alert.Alert)

	maxEvent time.Time // latest event time applied
	closeAt  time.Time // event time at which the next window closes
	stats    *Stats
	// wallClock is set for live runs only. It dates rejected lines while
	// no line has given an event time (a source whose every line is
	// rejected must still be reported), refuses lines from the future,
	// and tells which sources are still delivering.
	wallClock func() time.Time
	batchNow  time.Time // wallClock at the current batch
	clock     sourceClock
	// jump holds records that jumped far ahead of the others, in replay,
	// until enough follow to confirm the jump.
	jump        []heldRecord
	jumpNormals int
	// observe and progress are a replay's optional hooks (see
	// ReplayOptions); nil when unused.
	observe  func(*Observation)
	progress *progressTracker
	// keeper gathers evidence; nil unless a live run keeps an evidence
	// log.
	keeper *keeper
}

func newCore(opts Options, emit func(*alert.Alert)) *core {
	if f := &opts.Detect.Forest; f.Retrained == nil {
		log := opts.Logger
		f.Retrained = func(m *detect.Model, shadowed int64, threshold float64) {
			meta := m.Meta()
			log.Info().Int("trained_on", meta.Rows).Int64("calibrated_on", shadowed).
				Float64("threshold", threshold).Float64("calibrated_threshold", meta.Threshold).
				Msg("isolation forest: retrained model took over")
		}
	}
	if f := &opts.Detect.Forest; f.RetrainFailed == nil {
		log := opts.Logger
		f.RetrainFailed = func(err error) {
			log.Warn().Err(err).Msg("isolation forest: retraining failed; the model in use stays")
		}
	}
	det := detect.New(opts.Detect)
	// The aggregator bounds the windows of entities the detector does
	// not know, so that a flood of new keys never refuses a known one.
	// Restore keeps det's address, so the method value stays valid.
	opts.Features.Known = det.Known
	return &core{
		opts: opts,
		agg:  features.New(opts.Features),
		det:  det,
		rejects: detect.NewRejectWatch(detect.RejectOptions{
			Window:   opts.Features.Window,
			Cooldown: opts.Detect.Cooldown,
		}),
		contracts: detect.NewContractWatch(detect.ContractOptions{
			Window:   opts.Features.Window,
			Cooldown: opts.Detect.Cooldown,
		}, opts.Contracts),
		emit:  emit,
		stats: newStats(),
	}
}

// applyParsed applies one parsed batch and accounts for it.
func (c *core) applyParsed(p *parsed) {
	src := c.account(p)
	for i := range p.recs {
		if c.keeper != nil {
			c.keeper.line, c.keeper.source = p.line(i), p.batch.Source
		}
		if c.applyRecord(&p.recs[i], p.batch.Source, src) {
			// A line from the future is a rejected line like any other
			// for the warning and the reject watch.
			p.rejects[reasonFuture]++
		}
	}
	if c.keeper != nil {
		c.keeper.line = nil
	}
	c.checkRejects(p)
}

// account counts a batch's lines, rejects and gap.
func (c *core) account(p *parsed) *SourceStats {
	src := c.stats.source(p.batch.Source)
	src.Lines += int64(len(p.batch.Lines))
	src.Rejected.add(p.rejects)
	src.GapBytes += p.batch.Gap
	if c.wallClock != nil {
		c.batchNow = c.wallClock()
		c.clock.delivered(p.batch.Source, c.batchNow)
	}
	c.progress.batch(p.batch.Source, len(p.batch.Lines), p.batch.Read)
	return src
}

// reasonFuture is the reject reason of a line dated too far ahead of
// the wall clock.
const reasonFuture = "future"

// applyRecord applies one record of source, unless its time is not to be
// trusted; it returns true when the record was rejected as from the
// future.
func (c *core) applyRecord(r *ingest.Record, source string, src *SourceStats) (future bool) {
	if c.wallClock != nil && r.Time.Sub(c.batchNow) > maxAhead {
		src.Rejected[reasonFuture]++
		return true
	}
	if r.Cred.FP != "" {
		src.WithCred++
	}
	if c.wallClock == nil && c.holdJump(r, source, src) {
		return false
	}
	if !c.add(r, source) {
		src.Late++
	}
	return false
}

// checkRejects feeds the batch's rejected lines to their watch.
func (c *core) checkRejects(p *parsed) {
	n := int64(len(p.batch.Lines))
	at := c.maxEvent
	if at.IsZero() && c.wallClock != nil {
		at = c.batchNow
	}
	if f := c.rejects.Add(p.batch.Source, at, n, p.rejects.Total()); f != nil {
		c.stats.Alerts++
		c.emit(c.rejectAlert(f))
	}
}

func (c *core) rejectAlert(f *detect.RejectFinding) *alert.Alert {
	a := &alert.Alert{
		ID:          alert.NewID(alert.EntitySource, f.Source, "rejects", "rejected_lines", f.WindowStart),
		At:          f.At.UTC(),
		Entity:      alert.EntitySource,
		Key:         f.Source,
		Label:       c.opts.Labels[f.Source],
		Detector:    "rejects",
		Feature:     "rejected_lines",
		Observed:    f.Observed,
		Expected:    round(f.Expected, 2),
		Score:       round(f.Score, 3),
		Severity:    f.Severity,
		WindowStart: f.WindowStart.UTC(),
		WindowEnd:   f.WindowEnd.UTC(),
		Since:       f.WindowStart.UTC(),
	}
	a.Summary = alert.Summarize(a)
	return a
}

// add applies one record; it returns false when the record was too late
// for its window.
func (c *core) add(r *ingest.Record, source string) bool {
	if r.Time.After(c.maxEvent) {
		c.maxEvent = r.Time
		c.stats.Last = r.Time
	}
	if c.stats.First.IsZero() || r.Time.Before(c.stats.First) {
		c.stats.First = r.Time
	}
	c.clock.advanced(source, r.Time)
	c.checkContract(r)
	// The watermark only moves when this record's time passes closeAt:
	// it is the earliest latest-time over the sources, never later than r.
	if !r.Time.Before(c.closeAt) {
		c.advanceTo(c.low())
	}
	tok, ip, late := c.agg.Add(r)
	if late {
		return false
	}
	// A line is kept after Peek, which prepares the window's baseline,
	// and before its findings are reported, so that the line that made
	// the window cross is in their evidence.
	if tok != nil {
		found := c.det.Peek(tok)
		c.keep(tok, r)
		c.report(found)
	}
	if ip != nil {
		found := c.det.Peek(ip)
		c.keep(ip, r)
		c.report(found)
	}
	return true
}

// advanceTo closes the windows that event time low, less the lateness,
// has passed.
func (c *core) advanceTo(low time.Time) {
	if low.Before(c.closeAt) {
		return
	}
	c.advance(low.Add(-c.opts.Features.Lateness))
}

// advance closes every window that ends at or before watermark.
func (c *core) advance(watermark time.Time) {
	c.agg.AdvanceAll(watermark, func(ws []*features.Window) {
		// Records refused by the aggregator's bound were new entities
		// too: the flood detector counts them with these windows.
		c.det.AddRefused(c.agg.TakeRefused(ws[0].End))
		c.observeAll(ws)
		c.report(c.det.CloseAll(ws))
	})
	c.keeper.release(watermark)
	size := c.opts.Features.Window
	c.closeAt = watermark.Truncate(size).Add(size + c.opts.Features.Lateness)
}

// flush closes every open window, as at the end of a replay.
func (c *core) flush() {
	c.releaseJump()
	if c.maxEvent.IsZero() {
		return
	}
	c.advance(c.maxEvent.Add(c.opts.Features.Window + c.opts.Features.Lateness))
}

func (c *core) report(findings []detect.Finding) {
	for i := range findings {
		a := c.toAlert(&findings[i])
		if a.Status == alert.StatusResolved {
			c.stats.Resolved++
		} else {
			c.stats.Alerts++
		}
		if c.keeper != nil {
			c.keeper.emit(a, c.keeper.evidence(&findings[i], c.det))
			continue
		}
		c.emit(a)
	}
}

func (c *core) toAlert(f *detect.Finding) *alert.Alert {
	entity := f.Kind.String()
	if f.Detector == "flood" {
		// About a kind's whole population, not one of its entities.
		entity = alert.EntityPopulation
	}
	a := c.incidentAlert(f, entity)
	if f.Resolved {
		// The incident's start stands for the window, and "resolved" for
		// the feature, so a replay gives the notice the same id too.
		a.ID = alert.NewID(entity, f.Key, f.Detector, alert.StatusResolved, f.Since)
		a.Status = alert.StatusResolved
		a.Summary = alert.Summarize(a)
		return a
	}
	a.ID = alert.NewID(entity, f.Key, f.Detector, f.Feature, f.WindowStart)
	a.Feature = f.Feature
	a.Observed = round(f.Observed, observedDigits(f))
	a.Expected = round(f.Expected, 2)
	a.Score = round(f.Score, max(3, observedDigits(f)))
	if f.Kind == features.Token {
		a.TopIPs = f.TopPeers
	} else {
		a.TopTokens = f.TopPeers
	}
	for _, iso := range f.Isolated {
		a.IsolatedBy = append(a.IsolatedBy, alert.Isolation{
			Feature: iso.Feature, Value: round(iso.Value, 3), Typical: round(iso.Typical, 3), Weight: round(iso.Weight, 3),
		})
	}
	a.Summary = alert.Summarize(a)
	return a
}

// incidentAlert holds what an alert and a back-to-normal notice of f
// share: the entity, the detector, the window and the incident.
func (c *core) incidentAlert(f *detect.Finding, entity string) *alert.Alert {
	return &alert.Alert{
		At:          f.At.UTC(),
		Entity:      entity,
		Key:         f.Key,
		TokenHint:   f.Hint,
		Label:       c.opts.Labels[f.Key],
		Detector:    f.Detector,
		Severity:    f.Severity,
		WindowStart: f.WindowStart.UTC(),
		WindowEnd:   f.WindowEnd.UTC(),
		Since:       f.Since.UTC(),
		Excess:      round(f.Excess, 0),
		Status:      alert.StatusFiring,
	}
}

// observedDigits is how many decimals an alert keeps of a finding's
// observed value and score: two of a count, four of a forest's score,
// which lies between 0.5 and 1 and is compared with a threshold near it.
func observedDigits(f *detect.Finding) int {
	if f.Detector == "iforest" {
		return 4
	}
	return 2
}

// round keeps the digits a person reads: baselines are float32 inside the
// detector, and 1.2365145683288574 says no more than 1.24.
func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}
