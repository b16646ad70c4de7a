package nab

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Evaluation is one detector's scores on the corpus, a result per profile.
type Evaluation struct {
	Detector string
	Results  []Result
}

// Evaluate runs the detector over the corpus, writes its anomaly scores
// under outDir in NAB's results layout and scores them.
func Evaluate(c *Corpus, d Detector, outDir string) (Evaluation, error) {
	scores, err := Run(c, d)
	if err != nil {
		return Evaluation{}, err
	}
	if err := WriteResults(outDir, c, d.Name(), scores); err != nil {
		return Evaluation{}, err
	}
	res, err := Score(c, scores)
	if err != nil {
		return Evaluation{}, err
	}
	return Evaluation{Detector: d.Name(), Results: res}, nil
}

// WriteTable prints a line per detector with its normalised score under
// each profile, and the threshold that gave it.
func WriteTable(w io.Writer, evals []Evaluation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "detector\t")
	for _, p := range Profiles {
		fmt.Fprintf(tw, "%s\tthreshold\t", p.Name)
	}
	fmt.Fprintln(tw)
	for _, e := range evals {
		fmt.Fprintf(tw, "%s\t", e.Detector)
		for _, r := range e.Results {
			fmt.Fprintf(tw, "%.1f\t%.16g\t", r.Normalized, r.Threshold)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
