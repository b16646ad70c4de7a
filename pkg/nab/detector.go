package nab

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Detector is a streaming anomaly detector with one set of parameters for
// the whole corpus: NAB judges a detector, not a detector tuned per file.
type Detector interface {
	// Name names the detector in results paths and tables.
	Name() string
	// New starts a fresh stream for one series.
	New() Stream
}

// Stream scores one series row by row, having seen only the rows before.
type Stream interface {
	// Score returns the row's anomaly score, in [0,1].
	Score(t time.Time, v float64) float64
}

// Detectors are the detectors `sentinel eval nab` knows, by name.
var Detectors = map[string]Detector{
	"windowed_gaussian":   DefaultWindowedGaussian(),
	"sentinel_ewma":       DefaultSentinelEWMA(),
	"sentinel_likelihood": DefaultSentinelLikelihood(),
}

// DetectorNames lists the known detectors, sorted.
func DetectorNames() []string {
	names := make([]string, 0, len(Detectors))
	for name := range Detectors {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Lookup finds detectors by name in a comma-separated list.
func Lookup(list string) ([]Detector, error) {
	var out []Detector
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		d, ok := Detectors[name]
		if !ok {
			return nil, fmt.Errorf("unknown detector %q (known: %s)", name, strings.Join(DetectorNames(), ", "))
		}
		out = append(out, d)
	}
	return out, nil
}

// Run streams every series of the corpus through a fresh stream of the
// detector, the series side by side, and returns the anomaly scores in
// the corpus's order.
func Run(c *Corpus, d Detector) ([][]float64, error) {
	out := make([][]float64, len(c.Series))
	errs := make([]error, len(c.Series))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for k := range next {
				out[k], errs[k] = runSeries(c.Series[k], d)
			}
		})
	}
	for k := range c.Series {
		next <- k
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func runSeries(s *Series, d Detector) ([]float64, error) {
	st := d.New()
	scores := make([]float64, s.Len())
	for i := range scores {
		v := st.Score(s.Times[i], s.Floats[i])
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("running %s on %s: row %d scored %v, outside [0,1]", d.Name(), s.Name, i+1, v)
		}
		scores[i] = v
	}
	return scores, nil
}
