package app

import (
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/evidence"
)

// EvidenceOptions returns the evidence settings of a live run, nil when
// the evidence log is turned off. `sentinel run` always has a state
// directory, so it keeps the log unless told not to.
func EvidenceOptions(c *config.Config) *engine.EvidenceOptions {
	e := c.Evidence
	if !e.On() {
		return nil
	}
	return &engine.EvidenceOptions{
		Capture:      evidence.CaptureOptions{MaxLines: e.MaxLines, LineBytes: e.LineBytes, Budget: e.BudgetBytes()},
		Log:          evidence.LogOptions{SegmentBytes: e.SegmentBytes(), Segments: e.Segments},
		ConfigSHA256: c.SHA256(),
		Version:      Version,
	}
}
