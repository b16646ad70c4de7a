package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/engine"
)

func runCmd(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one)")
	var warm multiFlag
	fs.Var(&warm, "warm", "historical file or glob to learn baselines from before following (repeatable; first start only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	sources, err := app.Sources(c, fs.Args())
	if err != nil {
		return usageErr("%v", err)
	}
	log := app.NewLogger(c.Log, stderr)
	disp, err := app.Dispatcher(c, stdout, log)
	if err != nil {
		return err
	}
	log.Info().Str("version", app.Version).Str("config_hash", c.Hash()).
		Int("sources", len(sources)).Str("state_dir", c.StateDir).Msg("starting")
	eo, err := app.EngineOptions(c, log)
	if err != nil {
		return err
	}
	opts := engine.RunOptions{
		Options:            eo,
		Sources:            sources,
		StateDir:           c.StateDir,
		CheckpointInterval: c.CheckpointInterval,
		Warm:               warm,
		Deliver:            disp.SendTracked,
		WaitRecorded:       disp.WaitRecorded,
		Ready:              func() { log.Info().Msg("ready: following sources") },
	}
	runErr := engine.Run(ctx, opts)
	// Sinks get a bounded time to deliver what is queued, so a dead
	// webhook cannot hold up a restart.
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := disp.Close(closeCtx); err != nil {
		log.Warn().Err(err).Msg("alerts still queued at exit")
	}
	if runErr != nil {
		return fmt.Errorf("running: %w", runErr)
	}
	log.Info().Msg("stopped: state saved")
	return nil
}
