package gen

import (
	"math"
	"math/rand/v2"
	"net/netip"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// tenant is one customer: its clock, its servers and its clients.
type tenant struct {
	offset  int  // UTC offset in minutes
	flat    bool // machine traffic that hardly follows office hours
	addrs   []string
	uas     []string
	count   int     // page size the tenant's pulls ask for
	fill    float64 // how full a page usually comes back
	msgSize float64 // mean bytes per message pulled
	p422    float64 // share of sends rejected as invalid
	inbound float64 // share of pulls that read the inbound stream

	// moveAt is the minute from which the tenant uses moved instead of
	// addrs; zero when it never moves.
	moveAt int
	moved  []string
}

// token is one API token and its rate model.
type token struct {
	raw, fp string
	ten     *tenant
	base    float64 // requests an hour at a weekday's peak
	pull    float64 // share of requests that pull messages
	batch   float64 // share of sends that go to /email/batch
	// from and until bound the ordinary traffic: minutes [from, until).
	from, until int
	// seen is the first minute the token exists, for token-days.
	seen int
	// growth is the extra volume reached by the end of the run: 1
	// doubles it.
	growth   float64
	dayNoise []float64
	k        float64 // per-minute rate of the current hour before the daily shape
	reserved bool    // taken by a scenario
}

// Office-hours shape by local hour; flat tenants are servers that poll
// around the clock.
var (
	officeDay = [24]float64{0.10, 0.08, 0.07, 0.07, 0.08, 0.12, 0.22, 0.45,
		0.75, 0.95, 1.0, 1.0, 0.9, 0.95, 1.0, 0.98, 0.9, 0.75, 0.55, 0.4,
		0.3, 0.22, 0.16, 0.12}
	flatDay = [24]float64{0.7, 0.7, 0.7, 0.7, 0.7, 0.72, 0.75, 0.8, 0.9,
		0.95, 1, 1, 1, 1, 1, 1, 0.95, 0.9, 0.85, 0.8, 0.78, 0.75, 0.72, 0.7}
)

// UTC offsets in hours, repeated to weight where tenants are.
var offsets = []float64{-8, -7, -6, -5, -5, -5, -4, -3, 0, 0, 1, 1, 1, 2,
	3, 5.5, 8, 9, 10}

var pageSizes = []int{10, 20, 25, 50, 50, 100, 100, 100, 200}

// Clients tenants use. None holds a quote or backslash, so lines need no
// JSON escaping.
var tenantUAs = []string{
	"mailapi-node/4.2.1", "mailapi-node/4.3.0", "mailapi-python/3.1.0",
	"mailapi-php/2.8.4", "mailapi-ruby/1.9.2", "mailapi-go/1.4.0",
	"mailapi-java/5.0.3", "mailapi-dotnet/6.2.0", "Zapier",
	"n8n/1.42.1", "WordPress/6.5.2; https://blog.example.org",
	"python-requests/2.31.0", "Go-http-client/1.1", "curl/8.5.0",
	"axios/1.6.8", "Laravel/11.0 (mailapi-laravel 3.2)",
}

// Clients attackers use: none of them is a tenant's.
var attackerUAs = []string{
	"python-requests/2.32.3", "curl/8.7.1", "Go-http-client/2.0",
	"python-httpx/0.27.2", "okhttp/4.12.0",
}

const exportUA = "mailapi-exporter/1.3 (cron)"

// Network layout in the documentation ranges. The first two tenants own
// the two IPv4 /24s; 203.0.113.0/24 belongs to outsiders; every other
// tenant owns the /48 2001:db8:XXXX:: with XXXX = tenantNet+i, and
// networks first seen mid-run come from freshNet upwards.
const (
	tenantNet = 0x1000
	freshNet  = 0xe000
	maxTokens = freshNet - tenantNet - 2
)

var (
	tenantV4   = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")}
	outsiderV4 = netip.MustParsePrefix("203.0.113.0/24")
)

func v6Net(n int) netip.Prefix {
	var a [16]byte
	a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
	a[4], a[5] = byte(n>>8), byte(n)
	return netip.PrefixFrom(netip.AddrFrom16(a), 48)
}

// host returns a random address in p, which is a /24 or a /48.
func host(r *rand.Rand, p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		b[3] = byte(1 + r.IntN(254))
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	b[7] = byte(r.IntN(16)) // a handful of subnets
	b[14], b[15] = byte(r.IntN(16)), byte(1+r.IntN(255))
	return netip.AddrFrom16(b)
}

// hosts returns n distinct addresses in p, avoiding those in used.
func hosts(r *rand.Rand, p netip.Prefix, n int, used map[netip.Addr]bool) []string {
	out := make([]string, 0, n)
	for len(out) < n {
		a := host(r, p)
		if used[a] {
			continue
		}
		used[a] = true
		out = append(out, a.String())
	}
	return out
}

func (g *generator) addTenant(i int) *tenant {
	r := g.rng
	t := &tenant{
		offset:  int(offsets[r.IntN(len(offsets))] * 60),
		flat:    r.Float64() < 0.25,
		count:   pageSizes[r.IntN(len(pageSizes))],
		fill:    0.3 + 0.7*r.Float64(),
		msgSize: 1500 * math.Exp(0.6*r.NormFloat64()),
		p422:    0.002 + 0.03*r.Float64()*r.Float64(),
		inbound: r.Float64(),
	}
	p := v6Net(tenantNet + i)
	if i < len(tenantV4) {
		p = tenantV4[i]
	}
	t.addrs = hosts(r, p, 1+r.IntN(4), g.used)
	t.uas = []string{tenantUAs[r.IntN(len(tenantUAs))]}
	if second := tenantUAs[r.IntN(len(tenantUAs))]; r.Float64() < 0.3 && second != t.uas[0] {
		t.uas = append(t.uas, second)
	}
	return t
}

func (g *generator) newToken(t *tenant) *token {
	r := g.rng
	raw := g.rawToken()
	k := &token{
		raw: raw, fp: ingest.Fingerprint(raw), ten: t,
		base:  min(max(5*math.Exp(1.8*r.NormFloat64()), 0.3), 6000),
		batch: 0.05 + 0.25*r.Float64(),
		until: g.minutes,
	}
	switch u := r.Float64(); {
	case u < 0.45: // sends mail, rarely reads
		k.pull = 0.01 + 0.04*r.Float64()
	case u < 0.85:
		k.pull = 0.1 + 0.3*r.Float64()
	default: // mostly reads
		k.pull = 0.5 + 0.4*r.Float64()
	}
	k.dayNoise = make([]float64, g.minutes/minPerDay+1)
	for i := range k.dayNoise {
		k.dayNoise[i] = math.Exp(0.25*r.NormFloat64() - 0.03)
	}
	return k
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// rawToken returns a fresh token in the provider's live-key format.
func (g *generator) rawToken() string {
	b := make([]byte, 0, 33)
	b = append(b, "tok_live_"...)
	for range 24 {
		b = append(b, tokenAlphabet[g.rng.IntN(len(tokenAlphabet))])
	}
	return string(b)
}

// localMinute returns the tenant's local minute of the day at run
// minute m.
func (g *generator) localMinute(t *tenant, m int) int {
	lm := (g.clock0 + m + t.offset) % minPerDay
	if lm < 0 {
		lm += minPerDay
	}
	return lm
}

// weekFactor is how busy the tenant's local day is compared with a
// weekday.
func (g *generator) weekFactor(t *tenant, m int) float64 {
	day := floorDiv(g.clock0+m+t.offset, minPerDay)
	wd := (int(g.opts.Start.Weekday()) + day%7 + 7) % 7
	if wd != 0 && wd != 6 {
		return 1
	}
	if t.flat {
		return 0.8
	}
	return 0.3
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// shape is the tenant's daily shape at local minute lm, interpolated
// between hours so the rate has no steps.
func shape(t *tenant, lm int) float64 {
	tab := &officeDay
	if t.flat {
		tab = &flatDay
	}
	h := lm / 60
	f := float64(lm%60) / 60
	return tab[h] + (tab[(h+1)%24]-tab[h])*f
}

// growthAt is the token's organic growth factor at minute m.
func (g *generator) growthAt(k *token, m int) float64 {
	return 1 + k.growth*float64(m)/float64(g.minutes)
}

// startHour draws each token's rate for the hour starting at minute m.
// Every token draws its noise, active or not, so one token's schedule
// never shifts another's random numbers.
func (g *generator) startHour(m int) {
	for _, k := range g.tokens {
		noise := math.Exp(0.3*g.rng.NormFloat64() - 0.045)
		k.k = k.base / 60 * noise * k.dayNoise[m/minPerDay] *
			g.weekFactor(k.ten, m) * g.growthAt(k, m)
	}
}

// meanPage is the expected number of messages an ordinary pull returns.
func (t *tenant) meanPage() float64 {
	return float64(t.count) * min(t.fill*0.85, 1)
}

// expectedRate is the token's expected requests at minute m, without
// noise.
func (g *generator) expectedRate(k *token, m int) float64 {
	t := k.ten
	return k.base / 60 * shape(t, g.localMinute(t, m)) * g.weekFactor(t, m) * g.growthAt(k, m)
}

// expectedPull is the token's expected messages pulled at minute m,
// without noise.
func (g *generator) expectedPull(k *token, m int) float64 {
	return g.expectedRate(k, m) * k.pull * k.ten.meanPage()
}

// addr picks the address of an ordinary request at minute m: servers
// are not used evenly, the first one carries most.
func (t *tenant) addr(r *rand.Rand, m int) string {
	a := t.addrs
	if t.moveAt > 0 && m >= t.moveAt {
		a = t.moved
	}
	if len(a) == 1 || r.Float64() < 0.6 {
		return a[0]
	}
	return a[1+r.IntN(len(a)-1)]
}

func (t *tenant) ua(r *rand.Rand) string {
	if len(t.uas) == 1 || r.Float64() < 0.8 {
		return t.uas[0]
	}
	return t.uas[1]
}

// poisson draws a Poisson count of mean lam.
func poisson(r *rand.Rand, lam float64) int {
	if lam <= 0 {
		return 0
	}
	if lam > 30 {
		return max(int(math.Round(lam+math.Sqrt(lam)*r.NormFloat64())), 0)
	}
	l := math.Exp(-lam)
	n := 0
	for p := r.Float64(); p > l; p *= r.Float64() {
		n++
	}
	return n
}
