package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/tune"
)

func tuneCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("tune", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one)")
	budget := fs.Float64("budget", 0, "required: alert-hours a day the on-call can take (an entity's alerts within one clock hour count once)")
	scales := fs.String("scales", "", "comma-separated sensitivity scales to try, from 0.1 to 10, 1 being the configuration, below 1 more sensitive (default 0.6,0.8,1,1.25,1.5,2,3)")
	parallel := fs.Int("parallel", 0, "replays run at once (default GOMAXPROCS)")
	list := fs.Int("list", 3, "gained and lost alert-hours listed per candidate; the rest are counted")
	asJSON := fs.Bool("json", false, "print the result as JSON, every gained and lost alert-hour included")
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "budget" })
	if !given {
		return usageErr("--budget is required: the alert-hours a day the on-call can take, 0 or more")
	}
	if err := tune.CheckBudget(*budget); err != nil {
		return usageErr("--budget: %v", err)
	}
	sc, err := parseScales(*scales)
	if err != nil {
		return err
	}
	c, sources, err := historySources(*cfgPath, fs.Args(), "the history to backtest")
	if err != nil {
		return err
	}
	c.Log.Level = "warn" // each replay would log its model's loading and retrainings
	log := app.NewLogger(c.Log, stderr)
	app.SetMemoryLimit(c, log)
	opts := tune.Options{Config: c, Sources: sources, Stdin: stdin, Scales: sc, Budget: *budget,
		Parallel: *parallel, Logger: log,
		Done: func(p tune.Progress) {
			fmt.Fprintf(stderr, "tune: %d/%d replayed: scale %s, %s, in %v\n",
				p.Finished, p.Total, strconv.FormatFloat(p.Scale, 'f', -1, 64), tune.AlertHoursText(float64(p.AlertHours)), p.Took.Round(1e6))
		}}
	res, err := tune.Run(ctx, opts)
	if err != nil {
		return fmt.Errorf("backtesting: %w", err)
	}
	if *asJSON {
		return res.WriteJSON(stdout)
	}
	return res.WriteText(stdout, *list)
}

func parseScales(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, usageErr("--scales %q: allowed is a comma-separated list of numbers above 0, such as 0.8,1.5,2", s)
		}
		if !(v >= tune.MinScale && v <= tune.MaxScale) {
			return nil, usageErr("--scales: %v", tune.ScaleError(v))
		}
		out = append(out, v)
	}
	return out, nil
}
