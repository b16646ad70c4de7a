package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
)

func replayCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one)")
	resolved := fs.Bool("resolved", false, `also print the "back to normal" notice that ends each incident (status "resolved")`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, sources, err := historySources(*cfgPath, fs.Args(), "the files to replay")
	if err != nil {
		return err
	}
	log := app.NewLogger(c.Log, stderr)
	app.SetMemoryLimit(c, log)
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	enc := json.NewEncoder(out)
	var encErr error
	emit := func(a *alert.Alert) {
		if a.Status == alert.StatusResolved && !*resolved {
			return
		}
		if encErr == nil {
			encErr = enc.Encode(a)
		}
	}
	eo, err := app.EngineOptions(c, log)
	if err != nil {
		return err
	}
	start := time.Now()
	opts := engine.ReplayOptions{Options: eo, Sources: sources, Stdin: stdin}
	stats, err := engine.Replay(ctx, opts, emit)
	if err != nil {
		return fmt.Errorf("replaying: %w", err)
	}
	if encErr != nil {
		return fmt.Errorf("writing alerts: %w", encErr)
	}
	writeSummary(stderr, stats, time.Since(start))
	return nil
}

// historySources loads the configuration and the sources a command that
// reads history is given: those named, else the configured ones.
func historySources(cfgPath string, args []string, what string) (*config.Config, []engine.Source, error) {
	c, err := loadConfig(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	if len(args) == 0 && len(c.Sources) == 0 {
		return nil, nil, usageErr("name %s (plain or gzip files; - for standard input)", what)
	}
	sources, err := app.Sources(c, args)
	if err != nil {
		return nil, nil, err
	}
	return c, sources, nil
}

// writeSummary prints what a replay read and raised, per source when
// there are several or when something needs a look.
func writeSummary(w io.Writer, s *engine.Stats, took time.Duration) {
	lines, rejected, late := s.Lines()
	var withCred int64
	for _, src := range s.Sources {
		withCred += src.WithCred
	}
	rate := float64(lines) / took.Seconds()
	fmt.Fprintf(w, "replayed %d lines in %v (%.0f lines/s): %d with a credential, %d rejected, %d late, %d alerts\n",
		lines, took.Round(time.Millisecond), rate, withCred, rejected, late, s.Alerts)
	if lines > 0 && withCred == 0 {
		fmt.Fprintln(w, "no line carried a credential: check the format (--config, format:) and the mapping's token paths")
	}
	if len(s.Sources) < 2 && rejected == 0 {
		return
	}
	for _, name := range s.Names() {
		src := s.Sources[name]
		fmt.Fprintf(w, "  %s: %d lines, %d with a credential, %d rejected", name, src.Lines, src.WithCred, src.Rejected.Total())
		if len(src.Rejected) > 0 {
			fmt.Fprintf(w, " (%s)", src.Rejected)
		}
		fmt.Fprintf(w, ", %d late\n", src.Late)
	}
}
