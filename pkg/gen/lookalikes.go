package gen

// planLookalikes places the harmless changes a detector must not alert
// on. Their counts grow with the population so that a large run tests
// many of each.
func (g *generator) planLookalikes(c []*token) {
	n := g.opts.Tokens
	g.surge()
	for range max(2, n/1000) {
		g.nightlyExport(g.pick(c, 0.3+0.6*g.rng.Float64()))
	}
	for range max(3, n/100) {
		g.organicGrowth(g.pick(c, 0.2+0.7*g.rng.Float64()))
	}
	for range max(3, n/100) {
		g.newTenant(g.pick(c, 0.2+0.6*g.rng.Float64()))
	}
	for range max(2, n/300) {
		g.tenantMove(g.pick(c, 0.2+0.7*g.rng.Float64()))
	}
}

// surge makes every tenant 2.5 times busier for one hour, starting on
// the hour.
func (g *generator) surge() {
	from := g.uniform(g.warm, g.minutes-120)
	from -= (g.clock0 + from) % 60
	g.surgeFrom, g.surgeTo = from, from+60
	g.incident(ClassSurgeAll, false, Any, Any, from, from+60)
}

// nightlyExport pulls a large export every night at the same local
// hour, from the first night on, so the detectors have seen it before
// the days whose windows the truth records.
func (g *generator) nightlyExport(k *token) {
	t := k.ten
	local := 2*60 + g.rng.IntN(30)
	d := 20 + g.rng.IntN(21)
	total := max(5000+20000*g.rng.Float64(), 20*60*k.peakPull())
	for day := -1; day <= g.minutes/minPerDay; day++ {
		from := day*minPerDay + local - t.offset - g.clock0 + g.rng.IntN(7) - 3
		if from < 0 || from+d > g.minutes {
			continue
		}
		p := g.newPullRun(k, t.addrs[0], exportUA, from, from+d, 500, total*(0.85+0.3*g.rng.Float64()))
		p.path = "/messages/outbound" // an export reads the same stream nightly
		g.addRun(p)
		if from >= g.warm {
			g.incident(ClassNightlyExport, false, EntityToken, k.fp, from, from+d, t.addrs[0])
		}
	}
}

// organicGrowth makes the token's volume double, steadily, over the run.
func (g *generator) organicGrowth(k *token) {
	k.growth = 1
	g.incident(ClassOrganicGrowth, false, EntityToken, k.fp, 0, g.minutes)
}

// newTenant starts the token mid-run with its ordinary volume; the
// truth covers its first two days.
func (g *generator) newTenant(k *token) {
	from := g.uniform(g.minutesOf(0.4), g.minutesOf(0.7))
	k.from, k.seen = from, from
	to := min(from+2*minPerDay, g.minutes)
	g.incident(ClassNewTenant, false, EntityToken, k.fp, from, to, k.ten.addrs...)
}

// tenantMove moves the tenant for good to new servers in a network it
// never used, with the same clients.
func (g *generator) tenantMove(k *token) {
	t := k.ten
	t.moveAt = g.uniform(g.minutesOf(0.4), g.minutesOf(0.75))
	t.moved = hosts(g.rng, v6Net(g.nextNet), len(t.addrs), g.used)
	g.nextNet++
	g.incident(ClassTenantMove, false, EntityToken, k.fp, t.moveAt, g.minutes, t.moved...)
}
