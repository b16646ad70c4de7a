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
	"github.com/sentinel-project/sentinel/pkg/engine"
)

func replayCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if fs.NArg() == 0 && len(c.Sources) == 0 {
		return usageErr("name the files to replay (plain or gzip; - for standard input)")
	}
	sources, err := app.Sources(c, fs.Args())
	if err != nil {
		return err
	}
	log := app.NewLogger(c.Log, stderr)
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	enc := json.NewEncoder(out)
	var encErr error
	emit := func(a *alert.Alert) {
		if encErr == nil {
			encErr = enc.Encode(a)
		}
	}
	start := time.Now()
	opts := engine.ReplayOptions{Options: app.EngineOptions(c, log), Sources: sources, Stdin: stdin}
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
