// Package evidence keeps what each alert was judged on, in a hash-chained,
// append-only log in the state directory: the window's feature values,
// the baseline they were compared with, the model and configuration in
// force, and the log lines of the window with the token replaced by its
// fingerprint. Verify checks the log for edited, missing and cut entries.
package evidence

import (
	"math"
	"time"
)

// Evidence is what one alert was raised on.
type Evidence struct {
	// Features are the window's judged values, each with the baseline
	// it was compared with. A flood or reject alert has only its own
	// feature.
	Features []Feature `json:"features"`
	Model    Model     `json:"model"`
	// ConfigSHA256 is the SHA-256 of the configuration file's bytes as
	// read, or of no bytes when sentinel ran on its defaults.
	ConfigSHA256 string `json:"config_sha256"`
	// Lines are the first lines of the window seen once it passed its
	// expected level and half its threshold (see Capture), the alert's
	// token replaced by its fingerprint; MoreLines counts the window's
	// lines seen after those that were not kept.
	Lines     []string `json:"lines"`
	MoreLines int64    `json:"more_lines"`
	// LinesDropped says lines were not kept because the capture budget
	// was spent.
	LinesDropped bool `json:"lines_dropped,omitempty"`
}

// Feature is one judged quantity of the window. Threshold is nil when
// the feature had none: not judged in this window.
type Feature struct {
	Name      string   `json:"name"`
	Value     float64  `json:"value"`
	Expected  float64  `json:"expected"`
	Threshold *float64 `json:"threshold,omitempty"`
}

// NewFeature returns a Feature, leaving out a threshold that is not a
// finite number (JSON has no infinity). Values are kept to four
// decimals: baselines are float32 inside the detector, and
// 9.916666984558105 says no more than 9.9167.
func NewFeature(name string, value, expected, threshold float64) Feature {
	f := Feature{Name: name, Value: round(value), Expected: round(expected)}
	if !math.IsInf(threshold, 0) && !math.IsNaN(threshold) {
		thr := round(threshold)
		f.Threshold = &thr
	}
	return f
}

func round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1e4) / 1e4
}

// Model says what judged the window: for the isolation forest the model
// in use (when and on how many windows it was trained, its threshold),
// for the other detectors the sentinel version whose code and the
// configuration whose options they ran with.
type Model struct {
	Detector  string     `json:"detector"`
	Version   string     `json:"version"`
	TrainedAt *time.Time `json:"trained_at,omitempty"`
	Rows      int        `json:"rows,omitempty"`
	Threshold float64    `json:"threshold,omitempty"`
}
