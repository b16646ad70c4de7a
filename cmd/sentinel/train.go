package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/state"
)

func trainCmd(ctx context.Context, args []string, stdin io.Reader, _, stderr io.Writer) error {
	fs := newFlags("train", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one)")
	out := fs.String("out", "", "model file to write (default: iforest.model in the state directory, where run and replay look)")
	windows := fs.Int("windows", engine.DefaultTrainWindows, "ordinary token windows to learn from, sampled over the whole history")
	rate := fs.Float64("alert-rate", engine.DefaultTrainAlertRate, "share of ordinary windows allowed above the calibrated threshold")
	trees := fs.Int("trees", iforest.DefaultTrees, "isolation trees")
	sample := fs.Int("sample-size", detect.DefaultForestSampleSize, "windows drawn for each tree (psi)")
	standard := fs.Bool("standard", false, "axis-parallel cuts (the original forest) instead of the extended forest's hyperplanes")
	seed := fs.Uint64("seed", 1, "random seed: the same history and seed give the same model")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *rate <= 0 || *rate >= 1:
		return usageErr("--alert-rate %v: allowed is a share above 0 and below 1, such as 0.000002", *rate)
	case *windows < engine.MinTrainWindows:
		return usageErr("--windows %d: allowed is %d or more", *windows, engine.MinTrainWindows)
	case *trees < 1 || *trees > 10000:
		return usageErr("--trees %d: allowed is 1 to 10000", *trees)
	case *sample < 16 || *sample > *windows:
		return usageErr("--sample-size %d: allowed is 16 up to --windows (%d)", *sample, *windows)
	}
	c, sources, err := historySources(*cfgPath, fs.Args(), "the history to train on")
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = filepath.Join(c.StateDir, config.ModelFile)
	}
	opts := engine.ReplayOptions{Options: app.BaseOptions(c, app.NewLogger(c.Log, stderr)), Sources: sources, Stdin: stdin}
	topts := engine.TrainOptions{
		Windows: *windows, AlertRate: *rate,
		Forest: iforest.Options{Trees: *trees, SampleSize: *sample, Seed: *seed, Extended: !*standard},
	}
	res, err := engine.Train(ctx, opts, topts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("writing model: %w", err)
	}
	if err := state.WriteAtomic(path, res.Model.Save); err != nil {
		return fmt.Errorf("writing model: %w", err)
	}
	lines, _, _ := res.Stats.Lines()
	meta := res.Model.Meta()
	fmt.Fprintf(stderr, "trained on %d of %d ordinary token windows from %d lines in %v; threshold %.4f; wrote %s\n",
		meta.Rows, res.Windows, lines, res.Took.Round(time.Millisecond), meta.Threshold, path)
	return nil
}
