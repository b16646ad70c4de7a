// Package gen writes synthetic multi-tenant API request logs in
// sentinel's canonical JSON-lines schema, with attacks and harmless
// look-alikes injected at known places, and the ground truth that says
// where they are. The output is a pure function of the options: the same
// seed gives byte-identical logs and truth.
package gen

import (
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Options says what traffic to generate.
type Options struct {
	Seed   int64
	Tokens int // real tokens, including new and attacked ones; 300 when zero
	// Start is the first minute of traffic, truncated to the minute;
	// 2026-03-02T00:00:00Z, a Monday, when zero.
	Start time.Time
	// Duration is rounded down to whole minutes; 7 days when zero.
	Duration time.Duration
	// Attacks injects the attack and look-alike scenarios. It needs at
	// least MinAttackTokens tokens and MinAttackDuration.
	Attacks bool
}

// Limits on the options that inject scenarios: each scenario takes its
// own tokens, and a dormant token needs three silent days between early
// activity and waking up.
const (
	MinAttackTokens   = 40
	MinAttackDuration = 4 * 24 * time.Hour
)

const (
	msPerMin  = 60_000
	minPerDay = 1440
	// flushAt is how much output is buffered before a write.
	flushAt = 1 << 16
)

var defaultStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func (o Options) withDefaults() (Options, error) {
	if o.Start.IsZero() {
		o.Start = defaultStart
	}
	o.Start = o.Start.UTC().Truncate(time.Minute)
	if o.Duration == 0 {
		o.Duration = 7 * 24 * time.Hour
	}
	if o.Tokens == 0 {
		o.Tokens = 300
	}
	switch {
	case o.Tokens < 0 || o.Tokens > maxTokens:
		return o, fmt.Errorf("checking options: Tokens is %d, allowed 1 to %d", o.Tokens, maxTokens)
	case o.Duration < time.Hour:
		return o, fmt.Errorf("checking options: Duration is %v, at least 1h is needed", o.Duration)
	case o.Attacks && o.Tokens < MinAttackTokens:
		return o, fmt.Errorf("checking options: Attacks needs Tokens >= %d, got %d",
			MinAttackTokens, o.Tokens)
	case o.Attacks && o.Duration < MinAttackDuration:
		return o, fmt.Errorf("checking options: Attacks needs Duration >= %v, got %v",
			MinAttackDuration, o.Duration)
	}
	return o, nil
}

// Generate writes the traffic the options describe to w, one JSON
// object per line in non-decreasing time, and returns its ground truth.
func Generate(opts Options, w io.Writer) (*Truth, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	g := newGenerator(opts)
	g.populate()
	if opts.Attacks {
		g.plan()
	}
	if err := g.run(w); err != nil {
		return nil, fmt.Errorf("writing generated traffic: %w", err)
	}
	return g.truth(), nil
}

// event is one request before formatting. Its strings are shared with
// the model, so building one allocates nothing.
type event struct {
	at            int64 // milliseconds since Start
	token, ip, ua string
	method, path  string
	count         int32 // the count query parameter; 0 for none
	status        int32
	messages      int32
	bytes         int64
}

// emitter adds a scenario's requests of one minute.
type emitter interface {
	emit(g *generator, m int)
}

type generator struct {
	opts    Options
	rng     *rand.Rand
	minutes int
	clock0  int // Start's minute of the UTC day
	warm    int // minutes of history before the first attack
	used    map[netip.Addr]bool
	nextNet int // next fresh /48

	tenants   []*tenant
	tokens    []*token
	emitters  []emitter
	incidents []Incident
	// The platform-wide surge covers minutes [surgeFrom, surgeTo).
	surgeFrom, surgeTo int

	events []event
	out    []byte
}

func newGenerator(o Options) *generator {
	minutes := int(o.Duration / time.Minute)
	return &generator{
		opts:    o,
		rng:     rand.New(rand.NewPCG(uint64(o.Seed), 0x5e7_1ee1)),
		minutes: minutes,
		clock0:  o.Start.Hour()*60 + o.Start.Minute(),
		warm:    min(2*minPerDay, minutes/2),
		used:    make(map[netip.Addr]bool),
		nextNet: freshNet,
	}
}

// populate builds the tenants and their tokens; about one tenant in ten
// holds two tokens sharing its servers.
func (g *generator) populate() {
	for len(g.tokens) < g.opts.Tokens {
		t := g.addTenant(len(g.tenants))
		g.tenants = append(g.tenants, t)
		n := 1
		if g.rng.Float64() < 0.1 && len(g.tokens)+2 <= g.opts.Tokens {
			n = 2
		}
		for range n {
			g.tokens = append(g.tokens, g.newToken(t))
		}
	}
}

func (g *generator) run(w io.Writer) error {
	for m := range g.minutes {
		if m%60 == 0 {
			g.startHour(m)
		}
		g.events = g.events[:0]
		g.ordinary(m)
		for _, e := range g.emitters {
			e.emit(g, m)
		}
		slices.SortStableFunc(g.events, func(a, b event) int { return cmp.Compare(a.at, b.at) })
		g.format(m)
		if len(g.out) < flushAt && m < g.minutes-1 {
			continue
		}
		if _, err := w.Write(g.out); err != nil {
			return err
		}
		g.out = g.out[:0]
	}
	return nil
}

// ordinary adds every token's everyday requests of minute m.
func (g *generator) ordinary(m int) {
	surge := 1.0
	if m >= g.surgeFrom && m < g.surgeTo {
		surge = 2.5
	}
	for _, k := range g.tokens {
		if m < k.from || m >= k.until {
			continue
		}
		lam := k.k * shape(k.ten, g.localMinute(k.ten, m)) * surge
		for n := poisson(g.rng, lam); n > 0; n-- {
			g.events = append(g.events, g.ordinaryEvent(k, m, k.ten.addr(g.rng, m), k.ten.ua(g.rng)))
		}
	}
}

// ordinaryEvent is one everyday request of the token, from ip with ua.
func (g *generator) ordinaryEvent(k *token, m int, ip, ua string) event {
	r := g.rng
	e := event{at: g.msIn(m), token: k.raw, ip: ip, ua: ua}
	if r.Float64() < k.pull {
		g.pullEvent(&e, k.ten)
		return e
	}
	e.method, e.path = "POST", "/email"
	batch := r.Float64() < k.batch
	if batch {
		e.path = "/email/batch"
	}
	switch u := r.Float64(); {
	case u < 0.0004:
		e.status, e.bytes = 500+int32(r.IntN(4)), 40+r.Int64N(80)
	case u < 0.0024:
		e.status, e.bytes = 429, 84
	case u < 0.0024+k.ten.p422:
		e.status, e.bytes = 422, 110+r.Int64N(90)
	case batch:
		e.status, e.bytes = 200, 40+70*(2+r.Int64N(49))
	default:
		e.status, e.bytes = 200, 95+r.Int64N(20)
	}
	return e
}

// pullEvent makes e an ordinary GET of the tenant's messages.
func (g *generator) pullEvent(e *event, t *tenant) {
	r := g.rng
	e.method, e.path, e.count = "GET", "/messages/outbound", int32(t.count)
	if r.Float64() < t.inbound {
		e.path = "/messages/inbound"
	}
	switch u := r.Float64(); {
	case u < 0.0004:
		e.status, e.bytes = 502+int32(r.IntN(2)), 40+r.Int64N(80)
		return
	case u < 0.0024:
		e.status, e.bytes = 429, 84
		return
	}
	n := min(int(float64(t.count)*t.fill*(0.5+0.7*r.Float64())+0.5), t.count)
	e.status, e.messages = 200, int32(n)
	e.bytes = 42 + int64(float64(n)*t.msgSize*(0.8+0.4*r.Float64()))
}

// msIn returns a random instant of minute m.
func (g *generator) msIn(m int) int64 {
	return int64(m)*msPerMin + g.rng.Int64N(msPerMin)
}

// truth returns the ground truth of what was generated.
func (g *generator) truth() *Truth {
	t := &Truth{
		Seed:      g.opts.Seed,
		Start:     g.opts.Start,
		End:       g.at(g.minutes),
		Tokens:    len(g.tokens),
		Incidents: slices.Clone(g.incidents),
	}
	for _, k := range g.tokens {
		t.TokenDays += float64(g.minutes-k.seen) / minPerDay
	}
	slices.SortStableFunc(t.Incidents, func(a, b Incident) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Class, b.Class), cmp.Compare(a.Key, b.Key))
	})
	if t.Incidents == nil {
		t.Incidents = []Incident{}
	}
	return t
}

// at returns the time of run minute m.
func (g *generator) at(m int) time.Time {
	return g.opts.Start.Add(time.Duration(m) * time.Minute)
}
