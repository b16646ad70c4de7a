// Package report turns a replay's alerts and the series of the entities
// it saw into one self-contained HTML document for a forensic review:
// inline CSS, charts as inline SVG, nothing fetched from anywhere, every
// value escaped. It only reads alerts and series; it judges nothing.
package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// Limits of one report, so that a replay with thousands of alerts still
// gives a document a browser opens.
const (
	MaxCharts = 40 // alerted entities charted, most excess first
	TopN      = 20 // rows of each top-volume table
)

// Data is what a report is made of.
type Data struct {
	Sources         []string // the files replayed, as named
	Lines, Rejected int64
	Alerts          []alert.Alert
	// Ends are the back-to-normal notices, whose excess is their whole
	// incident's: an alert's is only the excess when it was raised.
	Ends []alert.Alert
	// Zoom holds the alerted entities' windows around their incidents;
	// nil charts the whole replay only.
	Zoom *Zoom
	// Series holds the entities' windows; nil gives a report without
	// charts or volume tables.
	Series *Recorder
}

// Write renders d as an HTML document to w.
func Write(w io.Writer, d Data) error {
	v, err := build(d)
	if err != nil {
		return err
	}
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// view is what the template shows.
type view struct {
	Data
	From, To   string
	Bucket     string
	Window     string
	Severities string
	Entities   []entityView
	Uncharted  int
	Dropped    int64
	TopTokens  []Total
	TopIPs     []Total
}

type entityView struct {
	Anchor, Entity, Key, Hint, Label string
	Alerts                           int
	Excess                           float64
	Since                            string
	SVG                              template.HTML
	NoSeries                         bool
	// ZoomSVG charts the incident window by window; empty without.
	ZoomSVG template.HTML
}

func build(d Data) (*view, error) {
	v := &view{Data: d, Severities: severities(d.Alerts)}
	rec := d.Series
	if rec == nil {
		rec = NewRecorder()
	}
	from, to := rec.Span()
	if from.IsZero() && len(d.Alerts) > 0 {
		from, to = d.Alerts[0].WindowStart, d.Alerts[len(d.Alerts)-1].WindowEnd
	}
	v.From, v.To = stamp(from), stamp(to)
	v.Dropped = rec.Dropped()
	v.Bucket, v.Window = shortDuration(rec.Bucket()), shortDuration(rec.Window())
	v.TopTokens, v.TopIPs = rec.Top(alert.EntityToken, TopN), rec.Top(alert.EntityIP, TopN)
	groups := alertedEntities(d.Alerts, d.Ends)
	if len(groups) > MaxCharts {
		v.Uncharted = len(groups) - MaxCharts
		groups = groups[:MaxCharts]
	}
	for _, g := range groups {
		ev, err := entity(rec, d.Zoom, g)
		if err != nil {
			return nil, err
		}
		v.Entities = append(v.Entities, ev)
	}
	return v, nil
}

// group is one alerted token or address with its alerts.
type group struct {
	entity, key string
	alerts      []alert.Alert
	excess      float64
}

// alertedEntities groups the token and address alerts by entity, with
// the largest excess of their alerts and incidents' ends, the largest
// excess first, then the earliest alert: the likeliest leaks
// lead the report.
func alertedEntities(alerts, ends []alert.Alert) []*group {
	by := make(map[[2]string]*group)
	var out []*group
	for _, a := range alerts {
		if a.Entity != alert.EntityToken && a.Entity != alert.EntityIP {
			continue
		}
		k := [2]string{a.Entity, a.Key}
		g := by[k]
		if g == nil {
			g = &group{entity: a.Entity, key: a.Key}
			by[k] = g
			out = append(out, g)
		}
		g.alerts = append(g.alerts, a)
		g.excess = max(g.excess, a.Excess)
	}
	for _, n := range ends {
		if g := by[[2]string{n.Entity, n.Key}]; g != nil {
			g.excess = max(g.excess, n.Excess)
		}
	}
	slices.SortStableFunc(out, func(a, b *group) int { return cmp.Compare(b.excess, a.excess) })
	return out
}

func entity(rec *Recorder, zoom *Zoom, g *group) (entityView, error) {
	first := g.alerts[0]
	ev := entityView{
		Anchor: anchor(g.entity, g.key), Entity: g.entity, Key: g.key,
		Hint: first.TokenHint, Label: first.Label, Alerts: len(g.alerts), Excess: g.excess,
		Since: stamp(first.Since),
	}
	pts := rec.Series(g.entity, g.key)
	if len(pts) == 0 {
		ev.NoSeries = true
		return ev, nil
	}
	svg, err := chart(pts, g.alerts, rec.Bucket())
	if err != nil {
		return ev, fmt.Errorf("charting %s %s: %w", g.entity, g.key, err)
	}
	// The SVG is ours: gonum escapes its text, and only numbers and
	// fixed words are put in it.
	ev.SVG = template.HTML(svg)
	if zpts := zoom.series(g.entity, g.key); len(zpts) > 0 {
		zsvg, err := chart(zpts, within(g.alerts, zpts), rec.Window())
		if err != nil {
			return ev, fmt.Errorf("charting %s %s around its incident: %w", g.entity, g.key, err)
		}
		ev.ZoomSVG = template.HTML(zsvg)
	}
	return ev, nil
}

// anchor is the fragment id of an entity's chart; keys are hex
// fingerprints or addresses, and html/template escapes the rest.
func anchor(entity, key string) string {
	return entity + "-" + strings.NewReplacer(":", "_", ".", "_").Replace(key)
}

func severities(alerts []alert.Alert) string {
	var warn, crit int
	for _, a := range alerts {
		if a.Severity == alert.SeverityCritical {
			crit++
		} else {
			warn++
		}
	}
	return fmt.Sprintf("%d critical, %d warning", crit, warn)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"stamp":  stamp,
	"num":    num,
	"anchor": anchor,
	"join":   strings.Join,
}).Parse(pageHTML))

// num writes a count without needless decimals.
func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}
