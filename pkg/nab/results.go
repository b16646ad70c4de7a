package nab

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
)

// WriteResults writes a detector's anomaly scores in NAB's results
// layout, dir/<detector>/<category>/<detector>_<file>.csv with columns
// timestamp,value,anomaly_score, so NAB's own scorer can read them too.
func WriteResults(dir string, c *Corpus, detector string, scores [][]float64) error {
	for k, s := range c.Series {
		category, file := path.Split(s.Name)
		p := filepath.Join(dir, detector, filepath.FromSlash(category), detector+"_"+file)
		if err := writeSeries(p, s, scores[k]); err != nil {
			return fmt.Errorf("writing the %s results of %s: %w", detector, s.Name, err)
		}
	}
	return nil
}

func writeSeries(p string, s *Series, scores []float64) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString("timestamp,value,anomaly_score\n")
	for i, v := range scores {
		w.WriteString(s.Timestamps[i])
		w.WriteByte(',')
		w.WriteString(s.Values[i])
		w.WriteByte(',')
		w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
