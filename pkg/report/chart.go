package report

import (
	"bytes"
	"fmt"
	"image/color"
	"iter"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// VolumeColor is the colour of the volume line in every chart,
// #E6007E, a magenta used nowhere else in the report, so that a test can
// find the line among a rendering's pixels.
var VolumeColor = color.RGBA{R: 0xE6, G: 0x00, B: 0x7E, A: 0xFF}

var (
	bandColor     = color.RGBA{R: 0x9E, G: 0xC5, B: 0xE8, A: 0xFF}
	expectedColor = color.RGBA{R: 0x1F, G: 0x5F, B: 0xA0, A: 0xFF}
	alertColor    = color.RGBA{R: 0x20, G: 0x20, B: 0x20, A: 0xFF}
)

const chartWidth, chartHeight = 9 * vg.Inch, 2.6 * vg.Inch

// chart draws an entity's series and its alerts as an SVG document:
// the busiest window of each bucket as a line, the baseline band from
// expected to threshold shaded, and a triangle at each alert. Only
// numbers and fixed words go into the SVG; names stay in the HTML.
func chart(pts []Point, alerts []alert.Alert, bucket time.Duration) ([]byte, error) {
	p := plot.New()
	p.X.Tick.Marker = timeTicks{}
	p.Y.Tick.Marker = countTicks{}
	if len(pts) > 0 {
		p.X.Min, p.X.Max = unix(pts[0].Start), unix(pts[len(pts)-1].End)
	}
	p.X.Label.Text = "UTC"
	p.Y.Label.Text = "messages / window"
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	// Room above the data for the legend.
	p.Y.Max = 1.45 * maxY(pts, alerts)

	if err := addBand(p, pts); err != nil {
		return nil, err
	}
	vol, exp := make(plotter.XYs, len(pts)), plotter.XYs{}
	for i, pt := range pts {
		vol[i] = plotter.XY{X: unix(pt.Start), Y: pt.Peak}
		if pt.Windows > 0 && finite(pt.Expected) {
			exp = append(exp, plotter.XY{X: unix(pt.Start), Y: pt.Expected})
		}
	}
	if len(exp) > 0 {
		l, err := plotter.NewLine(exp)
		if err != nil {
			return nil, fmt.Errorf("drawing the expected line: %w", err)
		}
		l.Color, l.Width = expectedColor, vg.Points(0.8)
		p.Add(l)
		p.Legend.Add("expected", l)
	}
	if len(vol) > 0 {
		l, err := plotter.NewLine(vol)
		if err != nil {
			return nil, fmt.Errorf("drawing the volume line: %w", err)
		}
		l.Color, l.Width = VolumeColor, vg.Points(1.6)
		p.Add(l)
		p.Legend.Add(volumeLegend(bucket), l)
	}
	if err := addAlerts(p, pts, alerts); err != nil {
		return nil, err
	}
	c := vgsvg.New(chartWidth, chartHeight)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("writing the chart: %w", err)
	}
	return stripProlog(buf.Bytes()), nil
}

func volumeLegend(bucket time.Duration) string {
	return "messages (busiest window of each " + shortDuration(bucket) + ")"
}

// maxY is the highest value a chart shows, at least 1.
func maxY(pts []Point, alerts []alert.Alert) float64 {
	y := 1.0
	for _, pt := range pts {
		y = max(y, pt.Peak)
		if pt.Windows > 0 && finite(pt.Threshold) {
			y = max(y, pt.Threshold)
		}
	}
	for _, a := range alerts {
		if a.Feature == "messages" {
			y = max(y, a.Observed)
		}
	}
	return y
}

// shortDuration writes 32m rather than 32m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// addBand shades expected to threshold over each run of buckets whose
// baseline is known; a gap or a threshold not yet set breaks the band.
func addBand(p *plot.Plot, pts []Point) error {
	var last *plotter.Polygon
	for run := range bandRuns(pts) {
		poly := make(plotter.XYs, 0, 2*len(run))
		for _, pt := range run {
			poly = append(poly, plotter.XY{X: unix(pt.Start), Y: pt.Expected})
		}
		for i := len(run) - 1; i >= 0; i-- {
			poly = append(poly, plotter.XY{X: unix(run[i].Start), Y: run[i].Threshold})
		}
		g, err := plotter.NewPolygon(poly)
		if err != nil {
			return fmt.Errorf("drawing the baseline band: %w", err)
		}
		g.Color, g.LineStyle.Width = bandColor, 0
		p.Add(g)
		last = g
	}
	if last != nil {
		p.Legend.Add("expected to threshold", last)
	}
	return nil
}

// bandRuns yields the runs of consecutive buckets with a known baseline.
func bandRuns(pts []Point) iter.Seq[[]Point] {
	return func(yield func([]Point) bool) {
		from := -1
		for i := 0; i <= len(pts); i++ {
			known := i < len(pts) && pts[i].Windows > 0 && finite(pts[i].Threshold) && finite(pts[i].Expected)
			switch {
			case known && from < 0:
				from = i
			case !known && from >= 0:
				if !yield(pts[from:i]) {
					return
				}
				from = -1
			}
		}
	}
}

// addAlerts marks each alert at its window: at the observed messages for
// a messages alert, else on the volume line.
func addAlerts(p *plot.Plot, pts []Point, alerts []alert.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	xy := make(plotter.XYs, len(alerts))
	for i, a := range alerts {
		y := peakAt(pts, a.WindowStart)
		if a.Feature == "messages" {
			y = a.Observed
		}
		xy[i] = plotter.XY{X: unix(a.WindowStart), Y: y}
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return fmt.Errorf("drawing the alert markers: %w", err)
	}
	s.GlyphStyle = draw.GlyphStyle{Color: alertColor, Radius: vg.Points(4), Shape: draw.PyramidGlyph{}}
	p.Add(s)
	p.Legend.Add("alert", s)
	return nil
}

// peakAt returns the volume of the bucket holding t, 0 outside the
// series.
func peakAt(pts []Point, t time.Time) float64 {
	for _, pt := range pts {
		if !t.Before(pt.Start) && t.Before(pt.End) {
			return pt.Peak
		}
	}
	return 0
}

// timeTicks marks round UTC times: midnights over days, hours within a
// day, at most about eight labels.
type timeTicks struct{}

var tickSteps = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour,
	6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour,
}

func (timeTicks) Ticks(lo, hi float64) []plot.Tick {
	from := time.Unix(0, int64(lo*1e9)).UTC()
	to := time.Unix(0, int64(hi*1e9)).UTC()
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if to.Sub(from)/s <= 8 {
			step = s
			break
		}
	}
	format := "01-02 15:04"
	if step >= 24*time.Hour {
		format = "Mon 01-02"
	}
	var ticks []plot.Tick
	for t := from.Truncate(step); !t.After(to); t = t.Add(step) {
		if t.Before(from) {
			continue
		}
		label := t.Format(format)
		if to.Sub(t) < step/4 {
			// A label at the right edge would be cut where the
			// browser's font is wider than the one plot measured.
			label = ""
		}
		ticks = append(ticks, plot.Tick{Value: unix(t), Label: label})
	}
	return ticks
}

// countTicks labels counts without needless decimals.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', 6, 64)
		}
	}
	return ticks
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// stripProlog removes the XML declaration and comment before <svg, which
// have no place inside an HTML document, and the namespace declarations,
// which HTML does not need: the report then holds no URL at all.
func stripProlog(svg []byte) []byte {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:]
	}
	for _, ns := range []string{`xmlns="http://www.w3.org/2000/svg"`, `xmlns:xlink="http://www.w3.org/1999/xlink"`} {
		svg = bytes.Replace(svg, []byte(ns), nil, 1)
	}
	return svg
}
