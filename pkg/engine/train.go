package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
)

// TrainOptions configure training an isolation-forest model from history.
type TrainOptions struct {
	// Windows is how many ordinary token windows, sampled uniformly from
	// the whole history, the model learns from; default 200000.
	Windows int
	// AlertRate is the share of ordinary windows that should score above
	// the calibrated threshold; default detect.DefaultAlertRate.
	AlertRate float64
	// Forest are the forest's options; Extended is what sentinel uses.
	Forest iforest.Options
}

// Training defaults.
const (
	DefaultTrainWindows   = 200_000
	DefaultTrainAlertRate = detect.DefaultAlertRate
	// MinTrainWindows is the fewest windows worth a model.
	MinTrainWindows = 1000
)

// TrainResult is a trained model and how it came about.
type TrainResult struct {
	Model *detect.Model
	// Windows is how many ordinary windows the history had, of which
	// Model.Meta().Rows were learned from.
	Windows int64
	Stats   *Stats
	Took    time.Duration
}

// Train replays history through the features and per-feature detectors,
// keeps a uniform sample of the closed token windows that nothing found
// anomalous, fits a forest on them and calibrates its threshold on the
// sample's scores: the score that AlertRate of ordinary windows exceed.
// A token's windows count once it is past its warm-up, as in scoring.
func Train(ctx context.Context, opts ReplayOptions, t TrainOptions) (*TrainResult, error) {
	if t.Windows <= 0 {
		t.Windows = DefaultTrainWindows
	}
	if t.AlertRate <= 0 {
		t.AlertRate = DefaultTrainAlertRate
	}
	start := time.Now()
	opts.Detect.Forest = detect.ForestOptions{
		Reservoir:   t.Windows,
		Seed:        t.Forest.Seed,
		MinRequests: opts.Detect.Forest.MinRequests,
	}
	c := newCore(opts.Options, func(*alert.Alert) {})
	if _, err := replayInto(ctx, opts, c); err != nil {
		return nil, err
	}
	c.flush()
	rows := c.det.ForestRows()
	if len(rows) < MinTrainWindows {
		return nil, fmt.Errorf("training isolation forest: the history gave %d ordinary windows of ready tokens, at least %d are needed (a token's windows count once it has an hour and 60 busy minutes of history)",
			len(rows), MinTrainWindows)
	}
	m, err := detect.FitModel(rows, t.Forest)
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(rows))
	for i, r := range rows {
		scores[i] = m.Score(r)
	}
	thr := detect.Calibrate(scores, t.AlertRate)
	if err := detect.CheckThreshold(thr); err != nil {
		return nil, fmt.Errorf("training isolation forest on %d windows: %w; give it more history, or a higher --alert-rate", len(rows), err)
	}
	m = m.WithThreshold(thr)
	return &TrainResult{Model: m, Windows: c.det.ForestSeen(), Stats: c.stats, Took: time.Since(start)}, nil
}
