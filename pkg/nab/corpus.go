// Package nab reads the Numenta Anomaly Benchmark corpus and scores a
// detector's per-row anomaly scores on it the way NAB does: windows
// around each labelled anomaly, an early detection in a window worth more
// than a late one, false positives costing less just after a window, and
// one threshold per detector and profile chosen over the whole corpus.
package nab

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Time layouts of the corpus: rows and window edges differ in their
// fractional seconds only.
const (
	rowLayout    = "2006-01-02 15:04:05"
	windowLayout = "2006-01-02 15:04:05.000000"
)

// Window is a labelled anomaly window as inclusive row indices.
type Window struct {
	Start, End int
}

// Width is the window's length in rows.
func (w Window) Width() int { return w.End - w.Start + 1 }

// Series is one data file with its labelled windows.
type Series struct {
	// Name is the file as the labels name it: "<category>/<file>.csv".
	Name string
	// Timestamps and Values keep the rows as written, so results files
	// can repeat them exactly; Times and Floats are what detectors read.
	Timestamps []string
	Values     []string
	Times      []time.Time
	Floats     []float64
	Windows    []Window
}

// Len is the number of rows.
func (s *Series) Len() int { return len(s.Floats) }

// Corpus is every series of the benchmark, sorted by name.
type Corpus struct {
	Series []*Series
}

// Rows counts the rows of all series.
func (c *Corpus) Rows() int {
	n := 0
	for _, s := range c.Series {
		n += s.Len()
	}
	return n
}

// Load reads dir/labels/combined_windows.json and every data file it
// names under dir/data.
func Load(dir string) (*Corpus, error) {
	labels, err := readLabels(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	sort.Strings(names)
	c := &Corpus{}
	for _, name := range names {
		s, err := readSeries(filepath.Join(dir, "data", filepath.FromSlash(name)))
		if err != nil {
			return nil, err
		}
		s.Name = name
		if s.Windows, err = windowRows(s, labels[name]); err != nil {
			return nil, fmt.Errorf("placing the windows of %s: %w", name, err)
		}
		c.Series = append(c.Series, s)
	}
	return c, nil
}

func readLabels(path string) (map[string][][2]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the NAB labels: %w", err)
	}
	var labels map[string][][2]string
	if err := json.Unmarshal(b, &labels); err != nil {
		return nil, fmt.Errorf("parsing the NAB labels %s: %w", path, err)
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("the NAB labels %s name no files", path)
	}
	return labels, nil
}

func readSeries(path string) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading a NAB series: %w", err)
	}
	defer f.Close()
	s, err := parseSeries(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return s, nil
}

func parseSeries(r io.Reader) (*Series, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	if header[0] != "timestamp" || header[1] != "value" {
		return nil, fmt.Errorf("header is %q, want timestamp,value", header)
	}
	s := &Series{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		if err := s.add(rec[0], rec[1]); err != nil {
			return nil, fmt.Errorf("row %d: %w", s.Len()+1, err)
		}
	}
}

func (s *Series) add(ts, value string) error {
	t, err := time.Parse(rowLayout, ts)
	if err != nil {
		return err
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return err
	}
	s.Timestamps = append(s.Timestamps, ts)
	s.Values = append(s.Values, value)
	s.Times = append(s.Times, t)
	s.Floats = append(s.Floats, v)
	return nil
}

// windowRows turns labelled time windows into row windows. Window edges
// are row timestamps, but a few series repeat a timestamp or step back
// (a clock change), so an edge is the first row at that time, as in NAB.
func windowRows(s *Series, labels [][2]string) ([]Window, error) {
	var out []Window
	for _, l := range labels {
		first, err := rowAt(s, l[0])
		if err != nil {
			return nil, err
		}
		last, err := rowAt(s, l[1])
		if err != nil {
			return nil, err
		}
		if last < first {
			return nil, fmt.Errorf("window %s to %s ends before it starts", l[0], l[1])
		}
		if n := len(out); n > 0 && first <= out[n-1].End {
			return nil, fmt.Errorf("window %s to %s overlaps or precedes the one before", l[0], l[1])
		}
		out = append(out, Window{Start: first, End: last})
	}
	return out, nil
}

// rowAt finds the first row at a window edge's time.
func rowAt(s *Series, edge string) (int, error) {
	t, err := time.Parse(windowLayout, edge)
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(s.Times, t.Equal)
	if i < 0 {
		return 0, fmt.Errorf("no row at the window edge %s", edge)
	}
	return i, nil
}
