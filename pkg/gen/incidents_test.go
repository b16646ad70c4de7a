package gen

import (
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"
)

// The tests here check from the generated lines, not from the model,
// that the traffic holds each incident where the truth says.

// peakWindow returns the largest total of weight over the token's
// lines in any window of d minutes within [from, to).
func (c *corpus) peakWindow(fp string, d int, from, to time.Time, weight func(line) int64) int64 {
	perMin := map[int64]int64{}
	for _, l := range c.tokenLines(fp, from, to) {
		perMin[l.at.Unix()/60] += weight(l)
	}
	mins := make([]int64, 0, len(perMin))
	for m := range perMin {
		mins = append(mins, m)
	}
	slices.Sort(mins)
	var best, sum int64
	lo := 0
	for _, m := range mins {
		sum += perMin[m]
		for mins[lo] <= m-int64(d) {
			sum -= perMin[mins[lo]]
			lo++
		}
		best = max(best, sum)
	}
	return best
}

func pulled(l line) int64 { return l.messages }
func one(line) int64      { return 1 }

func TestBurstsStandOut(t *testing.T) {
	c := sample(t)
	for _, class := range []string{ClassBurstSmall, ClassBurstMedium, ClassBurstLarge} {
		in := c.incidents(t, class)[0]
		d := int(in.End.Sub(in.Start) / time.Minute)
		if d < 10 || d > 30 {
			t.Errorf("%s lasts %d minutes, want 10 to 30", class, d)
		}
		got := messages(c.tokenLines(in.Key, in.Start, in.End))
		peak := c.peakWindow(in.Key, d, c.truth.Start, in.Start, pulled)
		if got < 15000 || got < 5*peak {
			t.Errorf("%s pulled %d messages in %d minutes; earlier peak over as long was %d", class, got, d, peak)
		}
		if peak == 0 {
			t.Errorf("%s token never pulled before: no baseline to stand out from", class)
		}
		if !c.fromAddr(in.Key, in.Start, in.End, in.Related[0]) {
			t.Errorf("%s has no lines from its recorded address %s", class, in.Related[0])
		}
	}
}

// fromAddr says whether the token has lines from ip in [from, to).
func (c *corpus) fromAddr(fp string, from, to time.Time, ip string) bool {
	return slices.ContainsFunc(c.tokenLines(fp, from, to), func(l line) bool { return l.ip == ip })
}

func TestLowAndSlowTriplesTheDay(t *testing.T) {
	c := sample(t)
	in := c.incidents(t, ClassLowAndSlow)[0]
	if in.End.Sub(in.Start) != 10*time.Hour {
		t.Fatalf("low-and-slow window is %v, want 10h", in.End.Sub(in.Start))
	}
	got := messages(c.tokenLines(in.Key, in.Start, in.End))
	var before []int64
	for s := in.Start.Add(-24 * time.Hour); !s.Before(c.truth.Start); s = s.Add(-24 * time.Hour) {
		before = append(before, messages(c.tokenLines(in.Key, s, s.Add(10*time.Hour))))
	}
	slices.Sort(before)
	median := before[len(before)/2]
	if median == 0 || float64(got) < 1.5*float64(median) {
		t.Errorf("low-and-slow window pulled %d messages; earlier days' same hours %v", got, before)
	}
	// Slow: no ten minutes hold more than a tenth of the window's pull.
	if peak := c.peakWindow(in.Key, 10, in.Start, in.End, pulled); peak*10 > got {
		t.Errorf("low-and-slow pulled %d of %d messages in ten minutes", peak, got)
	}
}

func TestDormantTokenWakes(t *testing.T) {
	c := sample(t)
	in := c.incidents(t, ClassDormantWakeup)[0]
	if n := len(c.tokenLines(in.Key, in.Start.Add(-72*time.Hour), in.Start)); n != 0 {
		t.Errorf("dormant token has %d lines in the 3 days before waking", n)
	}
	if n := len(c.tokenLines(in.Key, c.truth.Start, in.Start)); n == 0 {
		t.Error("dormant token had no early activity")
	}
	if got := messages(c.tokenLines(in.Key, in.Start, in.End)); got < 2000 {
		t.Errorf("dormant token pulled %d messages on waking, want thousands", got)
	}
}

func TestNewTokenStartsWithExfiltration(t *testing.T) {
	c := sample(t)
	in := c.incidents(t, ClassNewTokenExfil)[0]
	if in.End.Sub(in.Start) != time.Hour {
		t.Errorf("window is %v, want its first hour", in.End.Sub(in.Start))
	}
	idx := c.byFP[in.Key]
	if len(idx) == 0 || c.lines[idx[0]].at.Before(in.Start) {
		t.Fatal("new token has lines before its incident, or none")
	}
	if got := messages(c.tokenLines(in.Key, in.Start, in.End)); got < 3000 {
		t.Errorf("new token pulled %d messages in its first hour", got)
	}
}

func TestIPManyTokens(t *testing.T) {
	c := sample(t)
	in := c.incidents(t, ClassIPManyTokens)[0]
	if in.Entity != EntityIP {
		t.Fatalf("entity %q, want ip", in.Entity)
	}
	tried := map[string]bool{}
	var rejected, n int
	for _, l := range c.lines {
		if l.ip != in.Key {
			continue
		}
		if l.at.Before(in.Start) || !l.at.Before(in.End) {
			t.Fatalf("address %s used at %v, outside its window", in.Key, l.at)
		}
		n++
		tried[l.fp] = true
		if l.status == 401 {
			rejected++
		}
	}
	if len(tried) < 200 || rejected*10 < n*9 || rejected == n {
		t.Errorf("%d tokens tried, %d of %d requests rejected; want hundreds, most rejected", len(tried), rejected, n)
	}
	related := slices.Clone(in.Related)
	sort.Strings(related)
	got := make([]string, 0, len(tried))
	for fp := range tried {
		got = append(got, fp)
	}
	sort.Strings(got)
	if !slices.Equal(got, related) {
		t.Errorf("truth relates %d tokens, the address tried %d others", len(related), len(got))
	}
}

func TestNewNetworkClient(t *testing.T) {
	c := sample(t)
	in := c.incidents(t, ClassNewNetworkClient)[0]
	before := c.tokenLines(in.Key, c.truth.Start, in.Start)
	var attacker []line
	for _, l := range c.tokenLines(in.Key, in.Start, in.End) {
		if l.ip == in.Related[0] {
			attacker = append(attacker, l)
		}
	}
	if len(before) == 0 || len(attacker) == 0 {
		t.Fatalf("%d lines before, %d from the new address", len(before), len(attacker))
	}
	nets := map[netip.Prefix]bool{}
	uas := map[string]bool{}
	for _, l := range before {
		nets[network(l.ip)] = true
		uas[l.ua] = true
	}
	if nets[network(attacker[0].ip)] || uas[attacker[0].ua] {
		t.Errorf("network %v or client %q was used before", network(attacker[0].ip), attacker[0].ua)
	}
	// Ordinary volume: no more than the token's own busiest three hours.
	if got, peak := int64(len(attacker)), c.peakWindow(in.Key, 180, c.truth.Start, in.Start, one); got > peak {
		t.Errorf("attacker made %d requests in 3h, the token's own peak is %d", got, peak)
	}
}

// network returns the /24 or /48 of an address.
func network(ip string) netip.Prefix {
	a := netip.MustParseAddr(ip)
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

func TestNightlyExportSeenBefore(t *testing.T) {
	c := sample(t)
	firsts := map[string]Incident{}
	for _, in := range c.incidents(t, ClassNightlyExport) {
		if got := messages(c.tokenLines(in.Key, in.Start, in.End)); got < 3000 {
			t.Errorf("export %v pulled %d messages", in.Start, got)
		}
		if f, ok := firsts[in.Key]; !ok || in.Start.Before(f.Start) {
			firsts[in.Key] = in
		}
	}
	for key, in := range firsts {
		// The same export ran the night before, which the truth leaves
		// out as baseline, give or take the nightly jitter.
		s, e := in.Start.Add(-24*time.Hour-10*time.Minute), in.End.Add(-24*time.Hour+10*time.Minute)
		if got := messages(c.tokenLines(key, s, e)); got < 3000 || !s.Before(c.truth.Start.Add(48*time.Hour)) {
			t.Errorf("token %s pulled %d messages the night before its first recorded export", key, got)
		}
	}
}

func TestNewTenantAndMove(t *testing.T) {
	c := sample(t)
	for _, in := range c.incidents(t, ClassNewTenant) {
		idx := c.byFP[in.Key]
		if len(idx) == 0 || c.lines[idx[0]].at.Before(in.Start) {
			t.Errorf("new tenant %s has lines before %v, or none", in.Key, in.Start)
		}
	}
	for _, in := range c.incidents(t, ClassTenantMove) {
		before, after := c.tokenLines(in.Key, c.truth.Start, in.Start), c.tokenLines(in.Key, in.Start, in.End)
		if len(before) == 0 || len(after) == 0 {
			t.Errorf("moving tenant %s: %d lines before, %d after", in.Key, len(before), len(after))
			continue
		}
		uas := map[string]bool{}
		for _, l := range before {
			uas[l.ua] = true
			if slices.Contains(in.Related, l.ip) {
				t.Errorf("moving tenant %s used new address %s before the move", in.Key, l.ip)
			}
		}
		for _, l := range after {
			if !slices.Contains(in.Related, l.ip) || !uas[l.ua] {
				t.Errorf("after the move %s used %s with %q", in.Key, l.ip, l.ua)
				break
			}
		}
	}
}

func TestSurgeRaisesEveryone(t *testing.T) {
	c := sample(t)
	in := c.incidents(t, ClassSurgeAll)[0]
	count := func(from time.Time) map[string]int {
		n := map[string]int{}
		for _, l := range c.lines {
			if !l.at.Before(from) && l.at.Before(from.Add(time.Hour)) {
				n[l.fp]++
			}
		}
		return n
	}
	during, pre, post := count(in.Start), count(in.Start.Add(-time.Hour)), count(in.End)
	var ratios []float64
	for fp, n := range during {
		if base := float64(pre[fp]+post[fp]) / 2; base >= 10 {
			ratios = append(ratios, float64(n)/base)
		}
	}
	if len(ratios) < 5 {
		t.Fatalf("only %d tokens busy enough to compare", len(ratios))
	}
	slices.Sort(ratios)
	if m := ratios[len(ratios)/2]; m < 1.8 {
		t.Errorf("median token is %.2f times busier in the surge hour, want about 2.5", m)
	}
}
