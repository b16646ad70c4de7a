package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/eval"
	"github.com/sentinel-project/sentinel/pkg/gen"
)

func evalCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "nab" {
		return evalNab(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "scenarios" {
		return usageErr("eval takes a subcommand: scenarios or nab")
	}
	return evalScenarios(ctx, args[1:], stdout, stderr)
}

func evalScenarios(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval scenarios", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one)")
	seeds := fs.String("seed", "1", "seed, or comma-separated seeds, of the generated traffic")
	tokens := fs.Int("tokens", 3000, "number of tokens")
	days := fs.Float64("days", 7, "days of traffic")
	asJSON := fs.Bool("json", false, "print the reports as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	seedList, err := parseSeeds(*seeds)
	if err != nil {
		return err
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	c.Log.Level = "warn"
	log := app.NewLogger(c.Log, stderr)
	sources, err := app.Sources(c, []string{"-"})
	if err != nil {
		return err
	}
	eo, err := app.EngineOptions(c, log)
	if err != nil {
		return err
	}
	var reports []*eval.Report
	for _, seed := range seedList {
		opts := gen.Options{Seed: seed, Tokens: *tokens, Duration: time.Duration(*days * float64(24*time.Hour)), Attacks: true}
		r, err := scoreSeed(ctx, eo, sources, opts, stderr)
		if err != nil {
			return err
		}
		reports = append(reports, r)
		if err := writeReport(stdout, r, *asJSON); err != nil {
			return err
		}
	}
	if len(reports) > 1 && !*asJSON {
		return eval.Combine(reports).WriteText(stdout)
	}
	return nil
}

// scoreSeed generates one seed's traffic straight into a replay, through
// a pipe, and scores the alerts against the generator's truth.
func scoreSeed(ctx context.Context, eo engine.Options, sources []engine.Source, opts gen.Options, stderr io.Writer) (*eval.Report, error) {
	pr, pw := io.Pipe()
	truthc := make(chan *gen.Truth, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		t, err := gen.Generate(opts, bw)
		if err == nil {
			err = bw.Flush()
		}
		truthc <- t
		pw.CloseWithError(err)
	}()
	var alerts []eval.Alert
	emit := func(a *alert.Alert) {
		if a.Status == alert.StatusResolved {
			return // an end of incident, not an alert to score
		}
		alerts = append(alerts, eval.Alert{At: a.At, Entity: a.Entity, Key: a.Key, Detector: a.Detector})
	}
	start := time.Now()
	ro := engine.ReplayOptions{Options: eo, Sources: sources, Stdin: pr}
	stats, err := engine.Replay(ctx, ro, emit)
	pr.CloseWithError(io.EOF) // let the generator stop if replay failed early
	if err != nil {
		return nil, fmt.Errorf("replaying seed %d: %w", opts.Seed, err)
	}
	truth := <-truthc
	if truth == nil {
		return nil, fmt.Errorf("generating seed %d failed", opts.Seed)
	}
	lines, _, _ := stats.Lines()
	fmt.Fprintf(stderr, "seed %d: %d lines replayed in %v\n", opts.Seed, lines, time.Since(start).Round(time.Millisecond))
	return eval.Score(truth, alerts), nil
}

func writeReport(w io.Writer, r *eval.Report, asJSON bool) error {
	if asJSON {
		return r.WriteJSON(w)
	}
	return r.WriteText(w)
}

func parseSeeds(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, usageErr("--seed %q: allowed is an integer or a comma-separated list of integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}
