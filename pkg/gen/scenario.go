package gen

import (
	"cmp"
	"slices"
)

// plan places the attacks and look-alikes. Each takes its own tokens,
// chosen among single-token tenants by size, so that no scenario's
// traffic is mixed with another's.
func (g *generator) plan() {
	c := g.candidates()
	g.planLookalikes(c)
	g.planAttacks(c)
}

// candidates returns the tokens of single-token tenants, smallest first.
func (g *generator) candidates() []*token {
	per := make(map[*tenant]int, len(g.tenants))
	for _, k := range g.tokens {
		per[k.ten]++
	}
	var c []*token
	for _, k := range g.tokens {
		if per[k.ten] == 1 {
			c = append(c, k)
		}
	}
	slices.SortStableFunc(c, func(a, b *token) int { return cmp.Compare(a.base, b.base) })
	return c
}

// pick reserves the free candidate nearest the size quantile q.
func (g *generator) pick(c []*token, q float64) *token {
	i0 := int(q * float64(len(c)-1))
	for d := range len(c) {
		for _, i := range [2]int{i0 + d, i0 - d} {
			if i >= 0 && i < len(c) && !c[i].reserved {
				c[i].reserved = true
				return c[i]
			}
		}
	}
	// Options demand enough tokens for every scenario.
	panic("gen: no free token for a scenario")
}

func (g *generator) incident(class string, attack bool, entity, key string, from, to int, related ...string) {
	g.incidents = append(g.incidents, Incident{
		Class: class, Attack: attack, Entity: entity, Key: key,
		Start: g.at(from), End: g.at(to), Related: related,
	})
}

// freshAddr returns an address in a /48 nobody has used.
func (g *generator) freshAddr() string {
	p := v6Net(g.nextNet)
	g.nextNet++
	return hosts(g.rng, p, 1, g.used)[0]
}

func (g *generator) attackerUA() string {
	return attackerUAs[g.rng.IntN(len(attackerUAs))]
}

// pullRun is a run of GETs of full pages by one token from one address:
// an exfiltration, or a nightly export.
type pullRun struct {
	raw, ip, ua, path string
	from, to          int // minutes [from, to)
	perMin            float64
	count             int
	msgSize           float64
}

func (p *pullRun) emit(g *generator, m int) {
	if m < p.from || m >= p.to {
		return
	}
	for n := poisson(g.rng, p.perMin); n > 0; n-- {
		e := event{at: g.msIn(m), token: p.raw, ip: p.ip, ua: p.ua,
			method: "GET", path: p.path, count: int32(p.count)}
		e.status, e.bytes = 429, 84
		if g.rng.Float64() >= 0.02 {
			e.status, e.messages = 200, int32(p.count)
			e.bytes = 42 + int64(float64(p.count)*p.msgSize*(0.8+0.4*g.rng.Float64()))
		}
		g.events = append(g.events, e)
	}
}

// newPullRun spreads about total messages over minutes [from, to).
func (g *generator) newPullRun(k *token, ip, ua string, from, to, count int, total float64) *pullRun {
	path := "/messages/outbound"
	if g.rng.Float64() < 0.5 {
		path = "/messages/inbound"
	}
	return &pullRun{raw: k.raw, ip: ip, ua: ua, path: path, from: from, to: to,
		perMin: total / float64(count*(to-from)), count: count, msgSize: k.ten.msgSize}
}

// mimic is a token's ordinary traffic from somewhere else.
type mimic struct {
	k        *token
	ip, ua   string
	from, to int
	perMin   float64
}

func (p *mimic) emit(g *generator, m int) {
	if m < p.from || m >= p.to {
		return
	}
	for n := poisson(g.rng, p.perMin); n > 0; n-- {
		g.events = append(g.events, g.ordinaryEvent(p.k, m, p.ip, p.ua))
	}
}

// try is one request of a token-guessing address.
type try struct {
	at  int64
	k   *token // the token tried; real ones are accepted
	raw string
}

// spray is one address trying many tokens.
type spray struct {
	ip, ua string
	tries  []try // by time
	next   int
}

func (s *spray) emit(g *generator, m int) {
	end := int64(m+1) * msPerMin
	for ; s.next < len(s.tries) && s.tries[s.next].at < end; s.next++ {
		t := s.tries[s.next]
		e := event{at: t.at, token: t.raw, ip: s.ip, ua: s.ua, method: "GET",
			path: "/messages/inbound", count: 100, status: 401, bytes: 61}
		if t.k != nil {
			g.pullEvent(&e, t.k.ten)
			e.ip, e.ua = s.ip, s.ua
		}
		g.events = append(g.events, e)
	}
}

// peakPull is the token's expected messages a minute at its busiest.
func (k *token) peakPull() float64 {
	return k.base / 60 * (1 + k.growth) * k.pull * k.ten.meanPage()
}

// minutesOf converts a fraction of the run to a minute.
func (g *generator) minutesOf(f float64) int {
	return int(f * float64(g.minutes))
}

// uniform returns a minute in [lo, hi).
func (g *generator) uniform(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + g.rng.IntN(hi-lo)
}
