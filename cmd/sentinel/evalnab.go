package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/sentinel-project/sentinel/pkg/nab"
)

// evalNab runs streaming detectors over the NAB corpus, writes their
// anomaly scores in NAB's results layout and prints NAB's three scores.
func evalNab(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval nab", stderr)
	data := fs.String("data", "", "the NAB corpus: a folder holding data/ and labels/combined_windows.json")
	out := fs.String("out", "", "folder for the results, OUT/<detector>/<category>/<detector>_<file>.csv")
	detectors := fs.String("detectors", strings.Join(nab.DetectorNames(), ","), "comma-separated detectors to run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return usageErr("eval nab needs --data and --out")
	}
	ds, err := nab.Lookup(*detectors)
	if err != nil {
		return usageErr("%v", err)
	}
	c, err := nab.Load(*data)
	if err != nil {
		return err
	}
	var evals []nab.Evaluation
	for _, d := range ds {
		e, err := nab.Evaluate(c, d, *out)
		if err != nil {
			return fmt.Errorf("evaluating %s: %w", d.Name(), err)
		}
		evals = append(evals, e)
	}
	return nab.WriteTable(stdout, evals)
}
