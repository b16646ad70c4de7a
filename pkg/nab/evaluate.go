package nab

import (
	"fmt"
	"io"
	"strconv"
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

// FormatThreshold writes a threshold with six significant digits, or,
// when that would round it to 1, as 1 less its distance from 1
// ("1-2.26e-13"): the best thresholds often lie that close.
func FormatThreshold(t float64) string {
	s := strconv.FormatFloat(t, 'g', 6, 64)
	if t < 1 && s == "1" {
		return "1-" + strconv.FormatFloat(1-t, 'g', 3, 64)
	}
	return s
}

// WriteTable prints a line per detector with its normalised score under
// each profile, and the threshold that gave it (FormatThreshold) in the
// column named after the profile with " thr".
func WriteTable(w io.Writer, evals []Evaluation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "detector\t")
	for _, p := range Profiles {
		fmt.Fprintf(tw, "%s\t%s thr\t", p.Name, p.Name)
	}
	fmt.Fprintln(tw)
	for _, e := range evals {
		fmt.Fprintf(tw, "%s\t", e.Detector)
		for _, r := range e.Results {
			fmt.Fprintf(tw, "%.1f\t%s\t", r.Normalized, FormatThreshold(r.Threshold))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
