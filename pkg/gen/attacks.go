package gen

import (
	"cmp"
	"slices"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// planAttacks places one attack of each class on its own token. The
// dormant token and the low-and-slow pull have their own calendars; the
// others are spread over the run after the warm-up, in random order.
func (g *generator) planAttacks(c []*token) {
	g.dormant(g.pick(c, 0.5))
	g.lowAndSlow(g.pick(c, 0.75))
	small, medium, large := g.pick(c, 0.25), g.pick(c, 0.6), g.pick(c, 0.97)
	fresh, leaked := g.pick(c, 0.4), g.pick(c, 0.65)
	tried := []*token{g.pick(c, 0.3), g.pick(c, 0.55)}
	place := []func(at int){
		func(at int) { g.burst(ClassBurstSmall, small, at, g.outsiderAddr(), g.attackerUA()) },
		func(at int) { g.burst(ClassBurstMedium, medium, at, medium.ten.addrs[0], medium.ten.uas[0]) },
		func(at int) { g.burst(ClassBurstLarge, large, at, g.freshAddr(), large.ten.uas[0]) },
		func(at int) { g.newTokenExfil(fresh, at) },
		func(at int) { g.ipManyTokens(at, tried) },
		func(at int) { g.newNetworkClient(leaked, at) },
	}
	// Leave room after the last for its longest window, three hours.
	span := float64(g.minutes - 4*60 - g.warm)
	for i, j := range g.rng.Perm(len(place)) {
		f := (float64(i) + 0.2 + 0.6*g.rng.Float64()) / float64(len(place))
		place[j](g.warm + int(f*span))
	}
}

func (g *generator) outsiderAddr() string {
	return hosts(g.rng, outsiderV4, 1, g.used)[0]
}

func (g *generator) addRun(p *pullRun) { g.emitters = append(g.emitters, p) }

// burst is a bulk download of tens of thousands of messages in 10 to 30
// minutes, and at least fifteen times the token's busiest pulling.
func (g *generator) burst(class string, k *token, at int, ip, ua string) {
	d := 10 + g.rng.IntN(21)
	total := max(20000+40000*g.rng.Float64(), 15*k.peakPull()*float64(d))
	g.addRun(g.newPullRun(k, ip, ua, at, at+d, 500, total))
	g.incident(class, true, EntityToken, k.fp, at, at+d, ip)
}

// lowAndSlow adds twice the token's expected pulls over ten office
// hours of a weekday, from its own server and client, so the day ends at
// about three times its usual volume with no minute that stands out.
func (g *generator) lowAndSlow(k *token) {
	k.pull = max(k.pull, 0.4)
	from := g.officeStart(k.ten)
	to := from + 600
	expected := 0.0
	for m := from; m < to; m++ {
		expected += g.expectedPull(k, m)
	}
	ip := k.ten.addrs[0]
	g.addRun(g.newPullRun(k, ip, k.ten.uas[0], from, to, k.ten.count, 2*expected))
	g.incident(ClassLowAndSlow, true, EntityToken, k.fp, from, to, ip)
}

// officeStart returns the run minute of 08:00 local time on a random
// weekday after the warm-up that leaves ten hours and a margin; any day
// when no weekday fits.
func (g *generator) officeStart(t *tenant) int {
	var days, any []int
	for d := 0; d <= g.minutes/minPerDay+1; d++ {
		from := d*minPerDay + 8*60 - t.offset - g.clock0
		if from < g.warm || from+600 > g.minutes-60 {
			continue
		}
		any = append(any, from)
		if g.weekFactor(t, from) == 1 {
			days = append(days, from)
		}
	}
	if len(days) == 0 {
		days = any
	}
	return days[g.rng.IntN(len(days))]
}

// dormant silences the token after early activity and wakes it, more
// than three days later, to pull thousands of messages from elsewhere.
func (g *generator) dormant(k *token) {
	last := int(0.25*float64(g.minutes-3*minPerDay)) + minPerDay/2
	k.until = last
	d := 20 + g.rng.IntN(41)
	lo := last + 3*minPerDay + 60
	wake := g.uniform(lo, g.minutes-180-d)
	ip := g.freshAddr()
	g.addRun(g.newPullRun(k, ip, g.attackerUA(), wake, wake+d, 200, 3000+6000*g.rng.Float64()))
	g.incident(ClassDormantWakeup, true, EntityToken, k.fp, wake, wake+d, ip)
}

// newTokenExfil makes the token's first hour an exfiltration.
func (g *generator) newTokenExfil(k *token, at int) {
	k.from, k.until, k.seen = g.minutes, g.minutes, at
	ip := g.freshAddr()
	g.addRun(g.newPullRun(k, ip, g.attackerUA(), at, at+60, 500, 5000+15000*g.rng.Float64()))
	g.incident(ClassNewTokenExfil, true, EntityToken, k.fp, at, at+60, ip)
}

// ipManyTokens is one outside address trying hundreds of made-up tokens,
// each once or twice, and a few real ones that work.
func (g *generator) ipManyTokens(at int, real []*token) {
	d := 20 + g.rng.IntN(26)
	from, span := int64(at)*msPerMin, int64(d)*msPerMin
	s := &spray{ip: g.outsiderAddr(), ua: g.attackerUA()}
	var related []string
	for range 200 + g.rng.IntN(400) {
		raw := g.rawToken()
		related = append(related, ingest.Fingerprint(raw))
		for range 1 + g.rng.IntN(2) {
			s.tries = append(s.tries, try{at: from + g.rng.Int64N(span), raw: raw})
		}
	}
	for _, k := range real {
		related = append(related, k.fp)
		s.tries = append(s.tries, try{at: from + g.rng.Int64N(span), k: k, raw: k.raw})
	}
	slices.SortStableFunc(s.tries, func(a, b try) int { return cmp.Compare(a.at, b.at) })
	g.emitters = append(g.emitters, s)
	g.incident(ClassIPManyTokens, true, EntityIP, s.ip, at, at+d, related...)
}

// newNetworkClient uses the token at its ordinary volume and mix, for
// three hours, from a network and client it has never used. Ordinary is
// the token's mean rate over the day before.
func (g *generator) newNetworkClient(k *token, at int) {
	ip := g.freshAddr()
	perMin := 0.0
	for m := at - minPerDay; m < at; m++ {
		perMin += g.expectedRate(k, m) / minPerDay
	}
	g.emitters = append(g.emitters, &mimic{k: k, ip: ip, ua: g.attackerUA(),
		from: at, to: at + 180, perMin: perMin})
	g.incident(ClassNewNetworkClient, true, EntityToken, k.fp, at, at+180, ip)
}
