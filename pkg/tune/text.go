package tune

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteJSON writes the result as one JSON document, every gained and
// lost alert-hour included.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the result for a person: a table of the candidates,
// what each gains and loses against the configuration (the first list
// of each, and a count of the rest), and the proposal as a snippet.
func (r *Result) WriteText(w io.Writer, list int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "History of %.1f days; budget %s a day (an entity's alerts within one clock hour count once).\n\n",
		r.Days, AlertHoursText(r.Budget))
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scale\tz\tratio\tpopulation_z\tmin_messages\tslow_min_messages\tiforest\talerts\talert-hours\ta day\tgained\tlost\t")
	for i, c := range r.Candidates {
		k := c.Keys
		forest := "off"
		switch {
		case k.ForestThreshold > 0:
			forest = num(k.ForestThreshold)
		case k.forestOn:
			forest = "calibrated"
		}
		mark := ""
		if i == r.Current {
			mark = " (current)"
		}
		if i == r.Proposed {
			mark += " (proposed)"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.2f\t%d\t%d\t\n", num(c.Scale), mark,
			num(k.Z), num(k.Ratio), num(k.PopulationZ), num(k.MinMessages), num(k.SlowMinMessages), forest,
			c.Alerts, c.AlertHours, c.PerDay, len(c.Gained), len(c.Lost))
	}
	tw.Flush()
	for i, c := range r.Candidates {
		if i == r.Current || len(c.Gained)+len(c.Lost) == 0 {
			continue
		}
		fmt.Fprintf(bw, "\nAt scale %s, against the current configuration: %s gained, %d lost\n",
			num(c.Scale), AlertHoursText(float64(len(c.Gained))), len(c.Lost))
		writeHours(bw, "+", c.Gained, list)
		writeHours(bw, "-", c.Lost, list)
	}
	bw.WriteString("\n")
	r.writeProposal(bw)
	return bw.Flush()
}

func writeHours(w io.Writer, sign string, hours []Hour, list int) {
	for i, h := range hours {
		if i == list {
			fmt.Fprintf(w, "  %s and %d more\n", sign, len(hours)-list)
			return
		}
		fmt.Fprintf(w, "  %s %s %s %s %s: %s", sign, h.At.Format("2006-01-02 15:04:05"),
			entityName(h.Entity, h.Key, h.TokenHint, h.Label), h.Detector, h.Feature, observed(h))
		if h.Alerts > 1 {
			fmt.Fprintf(w, " (%d alerts in the hour)", h.Alerts)
		}
		fmt.Fprintln(w)
	}
}

func (r *Result) writeProposal(w io.Writer) {
	if r.Proposed < 0 {
		least := r.Candidates[len(r.Candidates)-1]
		fmt.Fprintf(w, "No candidate is within the budget: even the least sensitive, scale %s, raises %.2f alert-hours a day.\n",
			num(least.Scale), least.PerDay)
		r.writeDominant(w, least.AlertHours)
		if len(r.Dominant) == 0 {
			fmt.Fprintln(w, "The load is spread: no one allow entry or label quiets it; read the lists above.")
			return
		}
		fmt.Fprintln(w, "Look at those first: an allow entry (allow:) for a known job, or a label to find the tenant.")
		return
	}
	c := r.Candidates[r.Proposed]
	if r.Proposed == r.Current {
		fmt.Fprintf(w, "Proposed: keep the current configuration (scale 1, %.2f alert-hours a day); every more sensitive candidate exceeds the budget.\n", c.PerDay)
	} else {
		fmt.Fprintf(w, "Proposed: scale %s, the most sensitive within the budget: %.2f alert-hours a day (%d gained, %d lost). Paste over the same keys of the configuration:\n",
			num(c.Scale), c.PerDay, len(c.Gained), len(c.Lost))
	}
	fmt.Fprintf(w, "\n%s", c.Snippet)
}

// writeDominant lists the entities with the most alert-hours at the
// least sensitive candidate, which raised total, and says when they tie
// rather than pick among equals.
func (r *Result) writeDominant(w io.Writer, total int) {
	top := r.TiedHours
	if len(r.Dominant) > 0 {
		top = r.Dominant[0].Hours
	}
	if r.Entities > 1 && total == r.Entities*top {
		fmt.Fprintf(w, "No entity stands out there: all %d alerting have %s each.\n", r.Entities, AlertHoursText(float64(top)))
	} else {
		fmt.Fprintln(w, "The entities with the most alert-hours there:")
	}
	for _, e := range r.Dominant {
		fmt.Fprintf(w, "  %s: %s\n", entityName(e.Entity, e.Key, e.TokenHint, e.Label), AlertHoursText(float64(e.Hours)))
	}
	switch {
	case r.Tied > 0 && len(r.Dominant) > 0:
		fmt.Fprintf(w, "  and %d more that tie at %s each\n", r.Tied, AlertHoursText(float64(r.TiedHours)))
	case r.Tied > 0 && total != r.Entities*top:
		fmt.Fprintf(w, "  %d that tie at %s each\n", r.Tied, AlertHoursText(float64(r.TiedHours)))
	}
}

// AlertHoursText says a count of alert-hours: "1 alert-hour", "2.5
// alert-hours".
func AlertHoursText(v float64) string {
	if v == 1 {
		return "1 alert-hour"
	}
	return num(v) + " alert-hours"
}

// observed says an hour's first alert's value against its threshold,
// without a word for how far above it is: at the printed precision the
// two may read the same.
func observed(h Hour) string {
	o, t := short(h.Observed), short(h.Threshold)
	if h.Threshold == 0 {
		return "observed " + o
	}
	if o == t {
		return "observed " + o + ", at its threshold"
	}
	return "observed " + o + ", threshold " + t
}

// entityName says which entity: a token by fingerprint and hint, with
// its label when it has one.
func entityName(entity, key, hint, label string) string {
	s := entity + " " + key
	if hint != "" {
		s += " (…" + hint + ")"
	}
	if label != "" {
		s += " [" + label + "]"
	}
	return s
}

// short writes a value with at most three decimals.
func short(v float64) string { return num(round(v, 1000)) }
