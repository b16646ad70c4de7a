package main

import (
	"context"
	"fmt"
	"io"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/app"
)

func checkCmd(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	cfgPath := fs.String("config", "", "configuration file to validate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usageErr("--config FILE is required")
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	// Sinks are checked here even though replay skips them: check
	// answers whether run would start.
	if err := c.SinkErrors(); err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	ks, err := app.Kafka(c, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	if len(c.Sources) > 0 && ks == nil {
		if _, err := app.Sources(c, nil); err != nil {
			return err
		}
	}
	// The model too: run refuses to start on one it cannot read.
	if _, err := app.EngineOptions(c, zerolog.Nop()); err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	fmt.Fprintf(stdout, "%s: valid (%d sources, %d sinks, config hash %s)\n", *cfgPath, len(c.Sources), len(c.Alerts.Sinks), c.Hash())
	return nil
}
