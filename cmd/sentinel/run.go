package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/engine"
)

func runCmd(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one); SIGHUP re-reads it")
	var warm multiFlag
	fs.Var(&warm, "warm", "historical file or glob to learn baselines from before following (repeatable; first start only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	// Secrets named in the configuration and missing from the
	// environment are said before anything starts.
	if err := c.SinkErrors(); err != nil {
		return fmt.Errorf("settings read from the environment: %w", err)
	}
	ks, err := app.Kafka(c, fs.Args())
	if err != nil {
		return usageErr("%v", err)
	}
	var sources []engine.Source
	if ks == nil {
		sources, err = app.Sources(c, fs.Args())
	}
	if err != nil {
		return usageErr("%v", err)
	}
	log := app.NewLogger(c.Log, stderr)
	ev := log.Info().Str("version", app.Version).Str("config_hash", c.Hash()).Str("state_dir", c.StateDir)
	if ks != nil {
		ev = ev.Strs("kafka_topics", ks.Kafka.Topics).Str("group", ks.Kafka.Group)
	} else {
		ev = ev.Int("sources", len(sources))
	}
	ev.Msg("starting")
	d := &app.Daemon{
		ConfigPath: *cfgPath, Config: c, Sources: sources, Kafka: ks, Warm: warm,
		Stdout: stdout, Log: log, Reload: hangups(ctx),
	}
	if err := d.Run(ctx); err != nil {
		return fmt.Errorf("running: %w", err)
	}
	log.Info().Msg("stopped: state saved")
	return nil
}

// hangups turns SIGHUP into reload requests until ctx is done. A request
// arriving while one is pending is merged into it. After that SIGHUP is
// ignored rather than left to its default, which would kill the process
// before it has saved its state (a logrotate postrotate script sending
// one during a stop, say).
func hangups(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Ignore(syscall.SIGHUP)
		for {
			select {
			case <-sig:
				select {
				case out <- struct{}{}:
				default:
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
