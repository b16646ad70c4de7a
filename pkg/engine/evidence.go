package engine

import (
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/evidence"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// EvidenceOptions turn on the evidence log of a live run: every alert is
// appended, with what it was judged on, before it reaches the sinks.
// Replays keep no evidence: they have no state directory, and the alerts
// they print are a report, not a record.
type EvidenceOptions struct {
	Capture evidence.CaptureOptions
	Log     evidence.LogOptions
	// ConfigSHA256 identifies the configuration in force.
	ConfigSHA256 string
	// Version is sentinel's, which names the code of the detectors
	// other than the isolation forest.
	Version string
}

// keeper gathers evidence in the core: the lines of the windows that may
// alert, and at an alert the window's values and baselines.
type keeper struct {
	opts    EvidenceOptions
	capture *evidence.Capture
	// parsers read a kept line again for its raw credential, which the
	// record does not carry; only kept lines pay for it.
	parsers *parsers
	// emit receives each alert of a finding with its evidence.
	emit func(*alert.Alert, *evidence.Evidence)

	// line is the line of the record being applied and source its
	// source; nil outside applyParsed, or when the batch was parsed
	// without line indexes (the warm-up's replay).
	line   []byte
	source string
	// raw caches the credential of rawFor, the last line read again.
	raw    string
	rawFor []byte
}

func newKeeper(opts EvidenceOptions, ps *parsers, emit func(*alert.Alert, *evidence.Evidence)) *keeper {
	return &keeper{opts: opts, capture: evidence.NewCapture(opts.Capture), parsers: ps, emit: emit}
}

// keep offers the current line to w's capture when w may alert.
func (c *core) keep(w *features.Window, r *ingest.Record) {
	k := c.keeper
	if k == nil || len(k.line) == 0 {
		return
	}
	// Near is a few comparisons and false for nearly every line; the
	// capture's map is looked up only then, and only once it holds any.
	if !c.det.Near(w) && !k.capture.Holds(int(w.Kind), w.Key, w.Start) {
		return
	}
	k.capture.Add(int(w.Kind), w.Key, w.Start, w.End, k.line, k.rawCred(), r.Cred.FP)
}

// rawCred returns the current line's credential, parsing it once for
// the token's and the address's windows both.
func (k *keeper) rawCred() string {
	if len(k.rawFor) == len(k.line) && &k.rawFor[0] == &k.line[0] {
		return k.raw
	}
	k.raw, k.rawFor = "", k.line
	p, err := k.parsers.parser(k.source)
	if err != nil {
		return ""
	}
	var rec ingest.Record
	if p.Parse(k.line, &rec) == nil {
		k.raw = p.RawCredential()
	}
	return k.raw
}

// release forgets the lines of windows closed by watermark.
func (k *keeper) release(watermark time.Time) {
	if k != nil {
		k.capture.Release(watermark)
	}
}

// evidence returns what f was judged on.
func (k *keeper) evidence(f *detect.Finding, det *detect.Detector) *evidence.Evidence {
	ev := k.bare(f.Detector)
	if f.Resolved {
		return ev // the end of an incident: its alerts hold the evidence
	}
	for _, j := range f.Judged {
		ev.Features = append(ev.Features, evidence.NewFeature(j.Feature, j.Value, j.Expected, j.Threshold))
	}
	if !slices.ContainsFunc(f.Judged, func(j detect.Judged) bool { return j.Feature == f.Feature }) {
		ev.Features = append(ev.Features, evidence.NewFeature(f.Feature, f.Observed, f.Expected, f.Threshold))
	}
	if m := det.ForestModel(); f.Detector == "iforest" && m != nil {
		meta := m.Meta()
		trained := meta.TrainedAt.UTC()
		ev.Model.Version = "trained " + trained.Format(time.RFC3339)
		ev.Model.TrainedAt, ev.Model.Rows, ev.Model.Threshold = &trained, meta.Rows, f.Threshold
	}
	if f.Detector != "flood" {
		lines, more, full := k.capture.Lines(int(f.Kind), f.Key, f.WindowStart)
		ev.Lines, ev.MoreLines, ev.LinesDropped = slices.Clone(lines), more, full
	}
	return ev
}

// bare returns the evidence every alert has: the detector's version and
// the configuration.
func (k *keeper) bare(detector string) *evidence.Evidence {
	return &evidence.Evidence{
		ConfigSHA256: k.opts.ConfigSHA256,
		Model:        evidence.Model{Detector: detector, Version: "sentinel " + k.opts.Version},
	}
}

// openEvidence opens the evidence log in the state directory, which the
// runner holds locked, and gives the core a keeper.
func (r *runner) openEvidence(fi *formatIndex) error {
	eo := r.opts.Evidence
	if eo == nil {
		return nil
	}
	l, err := openEvidenceLog(r.opts.StateDir, eo, r.log)
	if err != nil {
		return err
	}
	r.evlog = l
	r.parsers.indexLines = true
	ps := newParsers(sourceFormats(r.opts.Sources), fi.of)
	r.core.keeper = newKeeper(*eo, ps, r.deliverWith)
	return nil
}

// openEvidenceLog opens the evidence log in dir and says what its
// recovery found.
func openEvidenceLog(dir string, eo *EvidenceOptions, log zerolog.Logger) (*evidence.Log, error) {
	l, err := evidence.Open(dir, eo.Log)
	if err != nil {
		return nil, err
	}
	if n := l.Recovered.TornBytes; n > 0 {
		log.Warn().Int("bytes", n).Msg("evidence log: cut a torn last entry left by a crash; its alert was never sent and is raised again")
	}
	if l.Recovered.HeadAhead {
		h, _ := evidence.ReadHead(dir)
		log.Error().Uint64("log_ends_at", l.Head().Seq).Uint64("head_file_seq", h.Seq).
			Msg("evidence log: entries were removed from its end; appending after the last one left (sentinel verify reports the loss)")
	}
	return l, nil
}

// deliverWith is deliver for an alert with its evidence: a new alert is
// appended to the evidence log, and given its chain, before the sinks
// see it.
func (r *runner) deliverWith(a *alert.Alert, ev *evidence.Evidence) {
	if !r.fresh(a.ID) {
		return
	}
	if ev == nil && r.evlog != nil {
		ev = r.core.keeper.bare(a.Detector)
	}
	appendEvidence(r.evlog, a, ev, r.log)
	r.opts.Deliver(a, func() { r.recorded(a.ID) })
}

// appendEvidence appends a new alert and its evidence to l, when there
// is a log. An alert the log cannot take is still delivered, without a
// chain: losing the alert would be worse than losing its evidence.
func appendEvidence(l *evidence.Log, a *alert.Alert, ev *evidence.Evidence, log zerolog.Logger) {
	if l == nil {
		return
	}
	if err := l.Append(a, ev); err != nil {
		log.Error().Err(err).Str("alert", a.ID).Msg("evidence log: alert not appended; delivering it without a chain")
	}
}
