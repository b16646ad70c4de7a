package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

const stamp = "2006-01-02 15:04Z"

// WriteText writes the report as tables a person can read.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "seed %d, %d tokens, %.1f token-days, %d alerts\n\n",
		r.Seed, r.Tokens, r.TokenDays, r.Alerts)
	fmt.Fprintln(tw, "ATTACK\tKEY\tSTART\tCAUGHT\tDETECTED AFTER\tALERTS\tRELATED\tDETECTORS")
	for _, c := range r.Attacks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.Class, c.Key, c.Start.Format(stamp),
			yesNo(c.Caught), ttd(c.Caught, c.TimeToDetect), c.Alerts, c.RelatedAlerts, detectors(c.Detectors))
	}
	fmt.Fprintln(tw, "\nLOOK-ALIKE\tKEY\tSTART\tALERTED\tALERTS\tRELATED\tDETECTORS")
	for _, c := range r.Lookalikes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.Class, c.Key, c.Start.Format(stamp),
			yesNo(c.Caught), c.Alerts, c.RelatedAlerts, detectors(c.Detectors))
	}
	fmt.Fprintf(tw, "\nfalse alert-hours: %d (%.2f per 1000 token-days)%s\n",
		r.FalseAlertHours, r.FalsePer1000TokenDays, byDetector(r.FalseByDetector))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	return writeJSON(w, r, "report")
}

// WriteText writes the summary as tables a person can read.
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%d runs (seeds %s), %.1f token-days, %d alerts\n\n",
		s.Runs, seeds(s.Seeds), s.TokenDays, s.Alerts)
	fmt.Fprintln(tw, "ATTACK\tCAUGHT\tMEDIAN DETECTED AFTER\tALERTS")
	for _, c := range s.Attacks {
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%d\n", c.Class, c.Caught, c.Incidents,
			ttd(c.Caught > 0, c.MedianTimeToDetect), c.Alerts)
	}
	fmt.Fprintln(tw, "\nLOOK-ALIKE\tALERTED\tALERTS")
	for _, c := range s.Lookalikes {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\n", c.Class, c.Caught, c.Incidents, c.Alerts)
	}
	fmt.Fprintf(tw, "\nfalse alert-hours: %d (%.2f per 1000 token-days)%s\n",
		s.FalseAlertHours, s.FalsePer1000TokenDays, byDetector(s.FalseByDetector))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}

// WriteJSON writes the summary as one indented JSON document.
func (s *Summary) WriteJSON(w io.Writer) error {
	return writeJSON(w, s, "summary")
}

func writeJSON(w io.Writer, v any, what string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func ttd(caught bool, d time.Duration) string {
	if !caught {
		return "-"
	}
	return d.Round(time.Second).String()
}

func detectors(d []string) string {
	if len(d) == 0 {
		return "-"
	}
	return strings.Join(d, ",")
}

// byDetector lists false alert-hours per detector, busiest first.
func byDetector(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	names := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return "; by detector: " + strings.Join(parts, ", ")
}

func seeds(s []int64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
