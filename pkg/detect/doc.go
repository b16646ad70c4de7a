// Package detect judges the windows counted by package features against
// learned baselines and reports anomalous ones as findings.
//
// # Baselines
//
// Every token and address has, per feature, an exponentially weighted
// mean and variance over its windows, empty windows included: a token
// that pulls 600 messages in one minute a day has a mean of about 0.4 a
// minute and a large variance, which is what "usually quiet, sometimes
// busy" looks like. Windows without traffic are never visited; when the
// entity is next seen the missed windows are applied at once in closed
// form: with b = 1-alpha, k empty windows leave m·b^k and
// b^k·(v + m²·(1-b^k)) (TestClosedFormDecay checks this against the
// step-by-step update). Until an entity has seen 1/alpha windows, window
// number t weighs 1/(t+1), so the young baseline is the plain mean and
// variance of what was seen rather than a mean dragged towards its zero
// start; the same closed form holds with b^k replaced by n/(n+k).
//
// HalfLife (default 24h, alpha ≈ 1/2078 per minute) sets the memory: a
// day of history, so that a token's daily rhythm is in its variance.
// Beside it each entity keeps a peak, the largest recent window decaying
// with PeakHalfLife (72h): a nightly export of 3000 messages is
// remembered at 79% the next night, and PeakRatio = 2 times that covers
// it even when tonight's export is half as large again as last night's
// (1.5, the first choice, let seed 3's second export night alert).
//
// # Thresholds
//
// A ready entity's window is anomalous for a feature when the value
// exceeds
//
//	max(mean + Z·sd, Ratio·mean, PeakRatio·peak, MinAbs)
//
// where sd is at least sqrt(mean), the Poisson spread of a count, and at
// least SDFloor. Z = 6 keeps a normal tail at 1e-9 per window, a
// thousand times under the target of one false alert per thousand
// token-days (1.44 million windows), which leaves room for real
// traffic's heavier tails; Ratio = 5 stops a token with a very steady
// past from alerting at twice its usual volume (platform surges, organic
// growth); PeakRatio keeps regular heavy windows normal; MinAbs stops a
// quiet token from alerting over a handful of messages. MinAbs defaults,
// per minute: tokens 300 messages (a few pages: exfiltration starts well
// above, and at 200 young tokens on their first day alerted on one
// ordinary large page), 20 MB, 10 distinct addresses, 3000 requests;
// addresses 500 messages, 30 unauthorized responses, 20 distinct
// tokens, 3000 requests. A zero MinAbs means the feature is learned but
// never alerted on: errors (status >= 400 but 401) by default for both
// kinds, since failing requests are an operational signal whose
// security relevant part, 401 and 403, is the unauthorized feature; and
// unauthorized for tokens, since a token refused by the API is not
// pulling anything.
//
// # Counts that come in lots
//
// Messages arrive a page at a time: a token that pulls a page of 500
// every two hours has a mean of 4 a minute, and two pages in one minute
// is not a 250-fold anomaly. Each entity keeps its page, the most
// messages one request returned (features.Window.MaxMessages), as a
// peak decaying like the others. A count of N ~ Poisson(λ) lots of at
// most page messages has a variance of at most mean·page, the
// compound-Poisson spread, which floors sd; and while λ = mean/page is
// small the count is a few lots, so the threshold is at least page times
// the Poisson quantile of λ at the tail probability of Z (1e-9): for
// the token above, four pages. λ takes the larger of the daily mean and
// the token's rate over the last Horizon, since a busy hour or a
// platform surge is several times the daily mean. Requests, errors and
// 401s are the same with lots of one. A window anomalous in messages
// does not teach the page, so an exfiltration's large pages do not
// blunt the next judgements.
//
// # Horizon sums
//
// A pull spread over half an hour can stay under every one-minute
// threshold. Each entity also carries a horizon sum, a geometric sum of
// its windows keeping exp(-window/Horizon) of itself per window (Horizon
// 30m: about half an hour's worth), judged in Peek like a feature
// ("messages_30m"): messages for a token; for an address the lesser of
// its 401s and its distinct tokens per window, so 401s count as far as
// they are spread over tokens (one client retrying a revoked key adds
// one a window, an address trying hundreds of tokens adds them all).
// Its mean and variance follow from the per-window baseline (m/(1-g),
// v/(1-g²) for keep g), its floor is HorizonMinAbs (tokens 1000
// messages, five full pages, above the busiest half hour of most
// tokens; addresses 100 spread 401s, three times what a tenant with all
// of its few keys revoked would reach), and its own peak, with the
// Poisson quantile of that peak in pages: a past half hour of P pages
// makes up to about P + 6·sqrt(P) pages ordinary, which keeps a nightly
// export that varies from night to night normal. The peak of a sum is
// learned one Horizon-aligned block late: learned at once, a peak
// chases the sum it bounds and a pull that grows by less than PeakRatio
// a window is never anomalous.
//
// A new entity's horizon sum faces PopulationMinFactor times the floor
// (2000 messages in half an hour for a token: a new tenant's first
// hours pull a few hundred, an exfiltrating new token thousands), and
// is not judged while the population is cold, when every big tenant is
// new. A token silent for DormantAfter (48h, longer than any weekend
// lull of a token with history worth the name) is dormant for a Horizon
// after it wakes: its peaks, learned before the silence, are ignored,
// so the horizon sum faces its floor and decayed mean.
//
// # Budgets
//
// A token pulling three times its usual over ten office hours has no
// minute and no half hour that stands out; only the day does. The
// "budget" detector, off unless Options.BudgetOn
// (detect.budget.enabled), (budget.go) sums each token's messages by hour and
// keeps a one-sided CUSUM of the hourly sums over their expectation:
// S = max(0, S + x - BudgetDrift·E), reported as "messages_excess" with
// Observed S, Expected the summed E since the accumulation began (Since)
// and Threshold its bound. E is the token's profile for that hour of
// day (24 float32, an average over BudgetDays = 7 days, the plain mean
// while younger), at least half of each neighbouring hour's (a nightly
// export that spills over the hour one night and not the next) and
// BudgetQuiet (0.25) times its mean hour or its daily mean rate, times
// the population's factor for the hour when above 1: the population's
// sum over its own usual, the token's own messages left out, so a
// platform-wide surge raises every expectation instead of filling every
// budget. The drift k = 1.5 absorbs ordinary days up to half as busy
// again; the bound is the largest of BudgetMinAbs (250 messages),
// BudgetSpan (1) times the expected messages over the span (so the
// span must run at k+1 = 2.5 times its usual), BudgetDay (1) times
// the token's usual day, and the Poisson quantile of its pages over
// the span; times 1+1/n for a profile of n days. Hours are not learned
// while an alerted accumulation goes on, and others at most k·E, so a
// pull does not become the usual; an accumulation that has not alerted
// after BudgetSpanMax (24h) starts again. Tokens are judged from
// BudgetWarmup (48h) of profile on. It alerts once per accumulation,
// again when S doubles, and sends a back-to-normal notice when S falls
// to zero. Off, it allocates nothing: no BudgetState per token, no
// BudgetPopState, nothing in the Snapshot, and a snapshot taken with it
// on is restored without them.
//
// Measured both ways in one run (eval scenarios, seeds 1, 2, 3, 62,630
// token-days): on, it catches 2 of the 3 low-and-slow pulls about 8h
// into their ten hours, and raises false alert-hours from 17 (0.27 per
// 1000 token-days) to 39 (0.62; 22 of them its own) and alerts on one
// organic-growth look-alike in 90; off, it catches none and changes
// nothing. Seeds 4, 5, 6: on, 1 of 3 caught, 19 false alert-hours
// become 32 (budget 13), one organic-growth token alerted.
// BenchmarkEntityMemory: 563 bytes a token off (as without the
// detector), 739 on, at 100,000 tokens. Hence off by default. A trend
// term (the last two full days over the profile's day, capped at 1.5)
// and a looser bound (1+1/(2n), BudgetDay 0.6) were measured and not
// kept: the first lost seed 4's catch, the second caught seed 3's pull
// and alerted on the same look-alike (docs/detection.md).
//
// Its limit is statistical: ordinary days vary by a lognormal factor
// (in the generated traffic sigma 0.25 a day, 0.3 an hour), and a
// profile of a few days is itself off by some of that, so a threefold
// day is caught only when the day's excess reaches the token's usual
// day, and a token judged on its third day is judged loosely. The
// hour is judged when the token's first window of a later hour
// closes: up to an hour late, and not at all while it stays silent.
//
// Score is Observed/Threshold, which reads the same for every feature and
// both detectors; a finding is critical from Critical (3) upwards.
//
// # New entities
//
// An entity is judged against its own baseline once it has been seen for
// Warmup (1h) and has had WarmupWindows (10) non-empty windows. Before
// that the "population" detector judges it against the kind's ready
// entities: per feature, the EWMA over windows (HalfLife 24h) of the
// mean and variance of log(1+value) over their non-empty windows.
// Volumes across tenants are roughly log-normal, spanning orders of
// magnitude, so the log scale is where a mean and a deviation mean
// something. The threshold is max(exp(mu + PopulationZ·sigma) - 1,
// PopulationMinFactor·MinAbs). PopulationZ = 4 puts it about 4 sigma
// above the typical tenant: with a spread of sigma ≈ 1.3 (tenants from 5
// to 500 messages a minute) that is 10^4 messages a minute, so a new
// token that starts by downloading a mailbox is caught in its first
// minute while a new tenant's ordinary first hour, even a large one, is
// not. The population judges only after PopulationWarmup (300) windows;
// before that new entities face ColdFactor (10) times MinAbs, so a fresh
// deployment is not blind to an obvious burst during its first hour.
//
// # Early findings
//
// Counts in a window only grow, so once a running count exceeds its
// threshold the closed window will too: Peek, called after each record,
// reports it then (Early), within seconds of the crossing, and Close does
// not report that feature of that window again. Thresholds are computed
// at most once per window and baseline change, and only once some value
// of the window passes its floor (every threshold is at least its floor,
// and most windows never get there), so a Peek is a few comparisons
// (BenchmarkPeek: under 20 ns).
//
// # Learning from anomalies
//
// A value above its threshold is learned as the threshold (winsorised),
// so an incident does not become the norm. A legitimate new level is
// still learned: each anomalous window raises the peak to the previous
// threshold, hence the next threshold by PeakRatio, and a tenfold change
// is normal after about six windows. This is what lets a new nightly
// export alert once, the first night, and never again. Its cost: a
// sustained incident also stops being anomalous after some minutes. It
// has alerted by then, and its episode (below) keeps running.
//
// # Cooldown, escalation, episodes
//
// Per entity and detector, an alert starts a Cooldown (30m of event
// time) during which further anomalies of that entity are not reported
// unless they escalate: a feature reaching EscalateFactor (2) times the
// value last alerted for it, or the severity rising. A window reported
// early is measured by its final value once closed, and escalation
// waits for that close (at most the lateness), otherwise a burst that
// continues into its next minute would escalate against the value at
// which it first crossed.
//
// An episode starts at the first anomalous window and ends after
// EpisodeEnd (5) ordinary windows, idle windows included. It freezes the
// thresholds of its first window: while windows stay above them the
// episode goes on even after the baseline has adapted. Since is its
// first window's start; Excess sums, over its windows, the messages
// above the mean frozen at its start. Cooldowns and episodes are in the
// Snapshot, so a restart neither forgets an incident nor alerts again.
//
// # Memory
//
// An entity is a fixed struct of float32 baselines (seven significant
// digits are plenty for values that move by a fraction of a percent per
// window) and cached thresholds, with no maps: BenchmarkEntityMemory
// measures about 340 bytes per address at 100,000 and 360 at a million,
// map entry and key included, and 563 and 584 for a token, with the
// profile of networks, clients and hours that the isolation forest and
// the novelty detector read; an ongoing alert adds about 100, and the
// budget detector, when on, about 176 (its BudgetState). Entities
// unseen for IdleTTL (7 days) are forgotten, except those with
// KeepWindows (a day) of non-empty windows, kept four times as long:
// losing a long baseline costs days of relearning and the chance to
// notice a dormant token waking up, losing a one-off address costs
// nothing. MaxEntities (or MaxPerKind) bounds each kind whatever the
// churn: over it, the kind is cut to 90%, fewest non-empty windows
// first, in powers of two, keepers last, the longest idle first among
// equals (evict.go). A flood of random keys has one window each, so it
// evicts itself and not a victim's baseline, however long the victim
// was idle; the cut counts the classes and selects within one, in
// linear time.
//
// # Floods
//
// The "flood" detector (flood.go) counts per kind the entities whose
// first window closes at each window end, plus those the aggregator
// refused to open a window for (AddRefused: features.Options.MaxNew
// bounds the open windows of entities Known does not report), and keeps
// an EWMA mean and variance of that count, winsorised like the others.
// Its first floodWarmupWindows window ends and Warmup are neither judged
// nor learned, since at start-up every entity is new. A count above
// max(FloodMin, FloodRatio·mean, mean + Z·sd) is reported once per
// Cooldown unless it doubles, as a Finding whose Key is the kind.
//
// # The isolation forest
//
// The detectors above judge one feature at a time. The "iforest"
// detector (forest.go, forestrun.go) judges a closed token window by all
// its features together with an isolation forest (package iforest): each
// window of a ready token becomes ForestFeatures, measured against the
// token's own usual and its profile of networks, clients and busy hours
// (profile.go), and a window whose score passes the model's threshold is
// reported with the features that isolated it. Windows that end together
// are scored on every core by CloseAll. Ordinary windows feed a
// reservoir from which the model is retrained, calibrated in the shadow
// of the model in use, and swapped in (retrain.go), all at event times so
// that replays retrain as live runs did.
//
// # Surges
//
// A surge of the whole platform lifts every expectation (surge.go): per
// kind, the median over ready entities' windows ending together of
// log((1+requests)/(1+usual requests in a busy window)), among entities
// usually making surgeMinUsual (2) requests a busy window, is followed
// by an EWMA over window ends (Fast, weight 0.2) and compared with its
// own slow mean for the same UTC hour of day (about three days). The
// lift, clamped to [0, log 3], multiplies the mean, peak and (squared)
// variance of the volume features and the horizon sum in prepareEWMA. A
// median needs half the entities to move; a cap of three keeps a theft
// of every key at once, or a tenfold surge, visible. SurgeOff turns it
// off.
//
// # New networks and clients
//
// The "novelty" detector (novelty.go) reads the same profile: a closed
// window of a token known for Novelty.After (24h), whose profile holds
// an established network and client, is anomalous when at least
// Novelty.Share (half) of its requests came from a network and with a
// client the token does not know, the lesser of the two shares standing
// for the share new in both. Either alone is a move or an upgrade. It
// stands aside for windows a per-feature detector found anomalous or
// that belong to an incident that alerted, and the forest does not score
// a window it reported. The network and client it alerted on are
// established at once, so one party is one alert however long it stays;
// another alerts again after the Cooldown.
//
// # Limits
//
// Windows must come to Close in order of their end, as Advance gives
// them, and the lateness should not exceed the window: Peek counts
// windows before the previous one as empty when it decides whether an
// episode is over. A legitimate heavy pattern alerts once the first time
// it is seen, and a new tenant that pulls over 2000 messages in its
// first half hour alerts (the population's volumes span too many orders
// of magnitude to judge that better from volume alone). The first
// minutes of a nightly export, before the recent rate reflects it, can
// still exceed a one-minute threshold set by a day-mean rate, and an
// address's messages have no recent rate at all. Sampled sources
// undercount distinct peers.
package detect
