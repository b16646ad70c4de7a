package detect

import (
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// The "budget" detector catches a token that pulls a few times its
// usual volume for hours: no window and no half hour stands out, the day
// does. See the package documentation, "Budgets".

const hourNs = int64(time.Hour)

// BudgetState is a token's long-horizon budget: its expected messages
// per hour of day, the hour being summed, and a one-sided CUSUM of the
// hourly sums above their expectation. Times are Unix ns.
type BudgetState struct {
	// Prof is the expected messages in each hour of the day (UTC), an
	// average over about BudgetDays days; Hours counts the hours learned.
	Prof  [24]float32
	Hours uint32
	// Hour is the start of the hour being summed, Sum its messages.
	Hour int64
	Sum  float32
	// S is the cumulative excess over Drift times the expectation since
	// Since, the start of the accumulation (0 when S is 0); Exp the
	// expected messages over that span.
	S, Exp float32
	Since  int64
	// LastAlert is when the accumulation last alerted, 0 when it has
	// not; Alerted the S it alerted at; Hint the token's hint then.
	LastAlert int64
	Alerted   float32
	Hint      string
	// Excess is the largest excess over the expectation (not over Drift
	// times it) of the alerted accumulation, Worst its highest severity.
	Excess float32
	Worst  uint8
}

// BudgetPopState is what the budget detector knows of the population:
// the messages of its judged tokens in the hour being summed, their
// usual per hour of day, and the resulting factor of recent hours.
type BudgetPopState struct {
	Hour  int64
	Sum   float64
	Prof  [24]float64
	Hours int64
	// Last and LastProf are, per hour of day, the population's sum in
	// the last hour of that hour of day and its usual then, LastHour
	// which hour.
	Last, LastProf [24]float64
	LastHour       [24]int64
}

func hourStart(ns int64) int64 { return floorDiv(ns, hourNs) * hourNs }

// learnRate is the weight of a new day in a profile that has learned
// days days: the plain mean while young, then 1/days.
func learnRate(hours int64, days int) float64 {
	n := hours / 24
	return 1 / float64(min(n, int64(days))+1)
}

// budgetPopulation moves the population's hour on to the hour starting
// at h, closing the one it was summing.
func (d *Detector) budgetPopulation(h int64) {
	p := d.budgetPop
	if p.Hour == h {
		return
	}
	if p.Hour != 0 && h > p.Hour {
		i := hourOf(p.Hour)
		p.Last[i], p.LastProf[i], p.LastHour[i] = p.Sum, p.Prof[i], p.Hour
		if p.Hours < 24 {
			p.LastHour[i] = 0 // no usual yet
		}
		a := learnRate(p.Hours, d.opts.BudgetDays)
		p.Prof[i] += a * (p.Sum - p.Prof[i])
		p.Hours++
	}
	p.Hour, p.Sum = h, 0
}

// popFactor returns how much busier than usual the rest of the
// population was in the hour starting at h, at least 1: a platform-wide
// surge raises every token's expectation rather than its excess. The
// token's own x messages and usual own are left out, so that its pull
// never passes for a surge, however large the token.
func (d *Detector) popFactor(h int64, x, own float64) float64 {
	p := d.budgetPop
	i := hourOf(h)
	if p.LastHour[i] != h || p.LastProf[i]-own <= 0 {
		return 1
	}
	return max(1, (p.Last[i]-x)/(p.LastProf[i]-own))
}

// expected returns the token's usual messages in the hour of day i: its
// profile, at least half of each neighbouring hour (a nightly export
// that spills over the hour one night and not the next) and
// BudgetQuiet times its mean hour.
func (b *BudgetState) expected(i int, quiet float64) (e, day float64) {
	for _, v := range b.Prof {
		day += float64(v)
	}
	e = max(float64(b.Prof[i]), float64(b.Prof[(i+23)%24])/2,
		float64(b.Prof[(i+1)%24])/2, quiet*day/24)
	return e, day
}

// budgetWindow adds a closed token window to its budget, judging the
// hours it closes, and returns found with any finding appended.
func (d *Detector) budgetWindow(e *entity, w *features.Window, found []Finding) []Finding {
	if e.kind != features.Token || !d.opts.BudgetOn {
		return found
	}
	h := hourStart(w.Start.UnixNano())
	d.budgetPopulation(h)
	b := e.budget
	if b == nil {
		b = &BudgetState{Hour: h}
		e.budget = b
	}
	if h > b.Hour {
		found = append(found, d.closeBudgetHours(e, b, h, w)...)
	}
	if h == b.Hour {
		x := w.V[features.Messages]
		b.Sum += float32(x)
		d.budgetPop.Sum += x
	}
	return found
}

// closeBudgetHours judges and learns the hours of b from its current
// one up to the hour starting at h, the idle ones as empty.
func (d *Detector) closeBudgetHours(e *entity, b *BudgetState, h int64, w *features.Window) []Finding {
	var out []Finding
	if h-b.Hour > 7*24*hourNs {
		// A week of silence: what was accumulating is over, and the
		// profile has learned nothing since.
		d.endBudget(e, b, b.Hour+hourNs)
		b.Hour, b.Sum = h, 0
		return nil
	}
	for b.Hour < h {
		if fd, ok := d.budgetHour(e, b, w); ok {
			out = append(out, fd)
		}
		b.Hour += hourNs
		b.Sum = 0
	}
	return out
}

// budgetHour judges the hour b is summing, then learns it.
func (d *Detector) budgetHour(e *entity, b *BudgetState, w *features.Window) (Finding, bool) {
	o := &d.opts
	i := hourOf(b.Hour)
	x := float64(b.Sum)
	exp, day := b.expected(i, o.BudgetQuiet)
	// A token that pulls a page now and then has an empty profile most
	// hours; its daily mean says what an hour holds on average.
	exp = max(exp, o.BudgetQuiet*60*float64(e.stats[features.Messages].Mean))
	exp *= d.popFactor(b.Hour, x, float64(b.Prof[i]))
	ready := b.Hours >= uint32(o.BudgetWarmup/time.Hour) && e.thrDet == detEWMA
	var fd Finding
	fired := false
	if ready {
		if b.S > 0 && b.LastAlert == 0 && b.Hour-b.Since >= int64(o.BudgetSpanMax) {
			// A budget is about hours, not days: an excess that took
			// longer to build up is the token's drift, which the
			// profile learns, and starts again.
			b.S, b.Exp = 0, 0
		}
		s := float64(b.S) + x - o.BudgetDrift*exp
		if s <= 0 {
			d.endBudget(e, b, b.Hour+hourNs)
		} else {
			if b.S == 0 {
				b.Since, b.Exp = b.Hour, 0
			}
			b.S = float32(s)
			b.Exp += float32(exp)
			if b.LastAlert != 0 {
				b.Excess = max(b.Excess, float32(s+(o.BudgetDrift-1)*float64(b.Exp)))
			}
			fd, fired = d.judgeBudget(e, b, day, w)
		}
	}
	// Learn the hour, at most Drift times its expectation once there is
	// one, and not at all while an alerted accumulation goes on: the
	// pull being reported must not become the token's usual.
	if b.LastAlert == 0 {
		if b.Hours >= 24 {
			x = min(x, o.BudgetDrift*exp)
		}
		a := learnRate(int64(b.Hours), o.BudgetDays)
		b.Prof[i] += float32(a * (x - float64(b.Prof[i])))
		b.Hours++
	}
	return fd, fired
}

// budgetBound returns the decision bound of an accumulation whose
// expected messages are exp, of a token whose usual day is day
// messages and whose page is page.
func (d *Detector) budgetBound(exp, day, page float64) float64 {
	o := &d.opts
	bound := max(o.BudgetMinAbs, o.BudgetSpan*exp, o.BudgetDay*day)
	if page > 0 {
		// Pages come in Poisson lots: over a span expecting exp/page of
		// them, up to their quantile is ordinary.
		q := page*poissonQuantile(max(exp/page, 1), o.Z, o.tail) - o.BudgetDrift*exp
		bound = max(bound, q)
	}
	return bound
}

// judgeBudget reports the accumulation of b when it passes its bound:
// once, and again only when it has grown EscalateFactor times since.
func (d *Detector) judgeBudget(e *entity, b *BudgetState, day float64, w *features.Window) (Finding, bool) {
	s, exp := float64(b.S), float64(b.Exp)
	// A profile of n days is a mean of n noisy days: young, it may be
	// low by a fair share, so the bound is 1+1/n times higher.
	young := 1 + 24/float64(max(b.Hours, 24))
	bound := young * d.budgetBound(exp, day, float64(e.page))
	if s <= bound {
		return Finding{}, false
	}
	if b.LastAlert != 0 && s < d.opts.EscalateFactor*float64(b.Alerted) {
		return Finding{}, false
	}
	at := w.Last.UnixNano()
	sev := d.severity(s, bound)
	b.LastAlert, b.Alerted, b.Hint = at, float32(s), w.Hint
	b.Worst = max(b.Worst, sev)
	since := time.Unix(0, b.Since).UTC()
	end := time.Unix(0, b.Hour+hourNs).UTC()
	return Finding{
		Kind: e.kind, Key: e.key, Hint: w.Hint,
		Detector:    "budget",
		Feature:     "messages_excess",
		Observed:    s,
		Expected:    exp,
		Threshold:   bound,
		Score:       s / bound,
		Severity:    severityName(sev),
		WindowStart: since, WindowEnd: end,
		At:       w.Last,
		Since:    since,
		Excess:   s + (d.opts.BudgetDrift-1)*exp,
		TopPeers: w.TopPeers(d.opts.TopPeers),
	}, true
}

// endBudget ends b's accumulation at event time at, with a
// back-to-normal notice when it alerted.
func (d *Detector) endBudget(e *entity, b *BudgetState, at int64) {
	if b.LastAlert != 0 {
		since, end := time.Unix(0, b.Since).UTC(), time.Unix(0, at).UTC()
		d.resolved = append(d.resolved, Finding{
			Kind: e.kind, Key: e.key, Hint: b.Hint,
			Detector: "budget", Feature: "messages_excess",
			Severity:    severityName(b.Worst),
			WindowStart: since, WindowEnd: end, At: end,
			Since: since, Excess: float64(b.Excess),
			Resolved: true,
		})
	}
	b.S, b.Exp, b.Since, b.LastAlert, b.Alerted, b.Hint = 0, 0, 0, 0, 0, ""
	b.Excess, b.Worst = 0, 0
}
