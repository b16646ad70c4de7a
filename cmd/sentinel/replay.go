package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/report"
)

func replayCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one)")
	resolved := fs.Bool("resolved", false, `also print the "back to normal" notice that ends each incident (status "resolved")`)
	reportPath := fs.String("report", "", "also write a self-contained HTML forensic report to this file")
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
	var alerts, ends []alert.Alert
	emit := func(a *alert.Alert) {
		if *reportPath != "" {
			if a.Status == alert.StatusResolved {
				ends = append(ends, *a)
			} else {
				alerts = append(alerts, *a)
			}
		}
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
	var rec *report.Recorder
	if *reportPath != "" {
		rec = report.NewRecorder()
		opts.Observe = func(o *engine.Observation) {
			rec.Observe(o.Kind, o.Key, o.Start, o.End, o.Messages, o.Expected, o.Threshold)
		}
	}
	prog := newProgressLine(stderr)
	if prog != nil {
		opts.Progress = prog.update
	}
	stats, err := engine.Replay(ctx, opts, emit)
	prog.clear()
	if err != nil {
		return fmt.Errorf("replaying: %w", err)
	}
	if encErr != nil {
		return fmt.Errorf("writing alerts: %w", encErr)
	}
	writeSummary(stderr, stats, time.Since(start))
	if *reportPath == "" {
		return nil
	}
	d := report.Data{Sources: replayedNames(sources), Alerts: alerts, Ends: ends, Series: rec}
	d.Lines, d.Rejected, _ = stats.Lines()
	if d.Zoom, err = zoomIn(ctx, opts, alerts, ends); err != nil {
		return err
	}
	return writeHTMLReport(*reportPath, d)
}

// zoomIn replays the files a second time to record, window by window,
// the alerted entities around their incidents: which windows matter is
// known only once the alerts are. Replay is deterministic, so the second
// pass sees the windows the first judged. Standard input cannot be read
// twice; its report has the whole replay's charts only.
func zoomIn(ctx context.Context, opts engine.ReplayOptions, alerts, ends []alert.Alert) (*report.Zoom, error) {
	if len(alerts) == 0 || slices.ContainsFunc(opts.Sources, func(s engine.Source) bool { return slices.Contains(s.Paths, "-") }) {
		return nil, nil
	}
	z := report.NewZoom(alerts, ends)
	opts.Observe = func(o *engine.Observation) {
		z.Observe(o.Kind, o.Key, o.Start, o.End, o.Messages, o.Expected, o.Threshold)
	}
	opts.Progress = nil
	if _, err := engine.Replay(ctx, opts, func(*alert.Alert) {}); err != nil {
		return nil, fmt.Errorf("replaying again for the report's close-ups: %w", err)
	}
	return z, nil
}

// writeHTMLReport writes the HTML report, replacing the file only once the
// whole document is written.
func writeHTMLReport(path string, d report.Data) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	w := bufio.NewWriter(f)
	err = report.Write(w, d)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the report %s: %w", path, err)
	}
	return nil
}

// replayedNames lists what the sources name, files or globs, for the
// report's header.
func replayedNames(sources []engine.Source) []string {
	var names []string
	for _, s := range sources {
		names = append(names, s.Paths...)
	}
	return names
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
