package engine

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/evidence"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// StreamOptions configure a live run over a partitioned log, such as
// Kafka topics read in a consumer group.
type StreamOptions struct {
	Options
	// Format is how every partition's lines are parsed.
	Format Format
	// StateDir holds the alert journal and the lock. The learned state is
	// not kept there: it belongs to the partitions, and moves with them.
	StateDir string
	// Deliver, WaitRecorded, Now, QuietAfter, Status and Retune are as in
	// RunOptions.
	Deliver      func(a *alert.Alert, recorded func())
	WaitRecorded func(ctx context.Context) error
	Now          func() time.Time
	QuietAfter   time.Duration
	Status       func(*Status)
	Retune       <-chan Retune
	// SkipByTopic, when it names a partition's topic, replaces
	// Options.Features.Skip for that partition's core: the kinds not
	// judged from that topic.
	SkipByTopic map[string][features.NumKinds]bool
	// Evidence, when set, keeps every alert's evidence in the state
	// directory's evidence log, as RunOptions.Evidence does. Each
	// partition captures lines within its share of the capture budget.
	Evidence *EvidenceOptions
}

// Stream judges a partitioned log with one core per partition, the way
// Kafka Streams runs one task per partition: a partition's learned state
// (baselines, open windows, cooldowns) is its own, so when the partition
// moves to another instance its state can move with it, and the new
// owner carries on where the old one stopped.
//
// A consumer drives it from its own goroutines through Assigned, Apply,
// Snapshot and Revoked; every change is made on the goroutine of Run, so
// the same lines in the same order still give the same alerts.
type Stream struct {
	opts StreamOptions
	log  zerolog.Logger
	*gate
	unlock  func()
	evlog   *evidence.Log // nil without StreamOptions.Evidence
	parsers *parsers
	warner  *RejectWarner
	ops     chan func()
	urgent  chan struct{}
	tasks   map[ingest.Partition]*task
	// gone keeps the counts of partitions no longer owned, so that the
	// totals reported never go down.
	gone Stats
	// fleet is the population merged from every partition's summary,
	// per kind; nil until summaries arrive.
	fleet        [features.NumKinds]*detect.PopulationSummary
	badSummaries int // unreadable summaries last said
	applyTime    time.Duration
}

// task is one partition's share of the work.
type task struct {
	core        *core
	source      string
	next        int64 // offset just after the last line applied
	lastArrival time.Time
}

// NewStream opens the journal in opts.StateDir and holds its lock.
func NewStream(opts StreamOptions) (*Stream, error) {
	liveDefaults(&opts.Now, &opts.QuietAfter)
	unlock, j, err := openStateDir(opts.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Stream{
		opts: opts, log: opts.Logger, gate: newGate(j, opts.Logger), unlock: unlock,
		parsers: newParsers([]Format{opts.Format}, func(string) int { return 0 }),
		warner:  NewRejectWarner(opts.Logger, time.Minute, opts.Now),
		// A short queue: a rebalance waits for what is queued to be
		// applied before the partitions' states are saved.
		ops:    make(chan func(), 16),
		urgent: make(chan struct{}, 1),
		tasks:  map[ingest.Partition]*task{},
		gone:   *newStats(),
	}
	if opts.Evidence != nil {
		if s.evlog, err = openEvidenceLog(opts.StateDir, opts.Evidence, opts.Logger); err != nil {
			s.Close()
			return nil, err
		}
		s.parsers.indexLines = true
	}
	return s, nil
}

// Close releases the journal and the state directory; call it after Run
// returned.
func (s *Stream) Close() {
	s.journal.Close()
	if s.evlog != nil {
		s.evlog.Close()
	}
	s.unlock()
}

// Run applies what the consumer hands over until ctx is done.
func (s *Stream) Run(ctx context.Context) error {
	quiet := time.NewTicker(time.Second)
	defer quiet.Stop()
	s.report()
	for {
		select {
		case op := <-s.ops:
			op()
		case <-quiet.C:
			s.tick()
		case rt := <-s.opts.Retune:
			for _, t := range s.tasks {
				t.core.retune(rt)
			}
		case <-ctx.Done():
			st := s.status()
			logSummary(s.log, st.Sources, st.Alerts, st.Repeats)
			return nil
		}
	}
}

// Urgent signals that a partition raised an alert since its last
// snapshot: the consumer should save the partitions soon, so that an
// instance taking them over after a crash does not raise it again.
func (s *Stream) Urgent() <-chan struct{} { return s.urgent }

// do runs op on Run's goroutine and waits for it.
func (s *Stream) do(ctx context.Context, op func()) error {
	done := make(chan struct{})
	select {
	case s.ops <- func() { op(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Assigned takes over the partitions of a new generation of the group,
// each from its saved state when it has one (nil when not), or from
// nothing; partitions owned before and not named are given up. A
// partition still owned whose saved state is the one it would save now
// is kept as it is. It returns, per partition, the offset to read from,
// or -1 where no state says: the group's committed offset then applies.
func (s *Stream) Assigned(ctx context.Context, states map[ingest.Partition]*ingest.PartState) (map[ingest.Partition]int64, error) {
	var starts map[ingest.Partition]int64
	var err error
	if e := s.do(ctx, func() { starts, err = s.assign(states) }); e != nil {
		return nil, e
	}
	return starts, err
}

func (s *Stream) assign(states map[ingest.Partition]*ingest.PartState) (map[ingest.Partition]int64, error) {
	var gone []ingest.Partition
	for p := range s.tasks {
		if _, ok := states[p]; !ok {
			gone = append(gone, p)
		}
	}
	s.revoke(gone)
	starts := map[ingest.Partition]int64{}
	var errs []error
	for p, st := range states {
		if t, ok := s.tasks[p]; ok && (st == nil || st.Offset == t.next) {
			starts[p] = t.next
			continue
		}
		t, err := s.newTask(p, st, len(states))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.tasks[p] = t
		starts[p] = t.next
	}
	return starts, errors.Join(errs...)
}

// newTask builds partition p's core, restored from st when not nil; its
// evidence capture gets its share of the budget among owned partitions.
func (s *Stream) newTask(p ingest.Partition, st *ingest.PartState, owned int) (*task, error) {
	opts := s.opts.Options
	if skip, ok := s.opts.SkipByTopic[p.Topic]; ok {
		opts.Features.Skip = skip
	}
	t := &task{source: SourceName(p), core: newCore(opts, s.deliver), next: -1}
	if eo := s.opts.Evidence; eo != nil {
		share := *eo
		share.Capture.Budget /= int64(max(owned, 1))
		t.core.keeper = newKeeper(share, newParsers([]Format{s.opts.Format}, func(string) int { return 0 }), s.deliverWith)
	}
	t.core.wallClock = s.opts.Now
	t.core.clock.enable()
	t.core.clock.expect(t.source, s.opts.Now())
	t.core.stats.source(t.source)
	for k, f := range s.fleet {
		t.core.det.SetFleet(features.Kind(k), f)
	}
	if st == nil {
		s.log.Info().Str("partition", p.String()).Msg("partition assigned with no saved state: learning from scratch")
		return t, nil
	}
	if err := t.restore(st); err != nil {
		// Waiting would not mend it (a state of another version, say),
		// and holding the partition back would stop its detection.
		s.log.Error().Err(err).Str("partition", p.String()).
			Msg("partition assigned with a saved state that cannot be restored: learning from scratch (docs/kafka.md, Recovering a partition's state)")
		return s.newTask(p, nil, owned)
	}
	s.log.Info().Str("partition", p.String()).Int64("offset", st.Offset).Time("event_time", t.core.maxEvent).
		Int("bytes", len(st.Data)).Msg("partition assigned: restored its learned state")
	return t, nil
}

// SourceName is the source name of a partition in counts and metrics.
func SourceName(p ingest.Partition) string { return "kafka:" + p.String() }

// Apply queues a batch of a partition's lines. It blocks while the loop
// is behind, which holds the consumer back rather than buffering without
// bound.
func (s *Stream) Apply(ctx context.Context, b ingest.PartBatch) error {
	select {
	case s.ops <- func() { s.apply(b) }:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Stream) apply(b ingest.PartBatch) {
	t, ok := s.tasks[b.Partition]
	if !ok {
		// Read before a revoke took the partition away: its new owner
		// reads it from the saved offset.
		return
	}
	start := time.Now()
	defer func() { s.applyTime += time.Since(start) }()
	raised := t.core.stats.Alerts
	p, err := s.parsers.parse(ingest.Batch{Source: t.source, Lines: b.Lines})
	if err != nil {
		s.log.Error().Err(err).Str("source", t.source).Msg("parsing batch")
		return
	}
	t.core.applyParsed(p)
	s.warner.Add(t.source, p.rejects)
	t.next = b.Next
	t.lastArrival = s.opts.Now()
	if t.core.stats.Alerts > raised {
		select {
		case s.urgent <- struct{}{}:
		default:
		}
	}
}

// Snapshot returns the state of the partitions named, each covering
// every line handed to Apply before the call. Partitions not owned are
// left out.
func (s *Stream) Snapshot(ctx context.Context, parts []ingest.Partition) (map[ingest.Partition]ingest.PartState, error) {
	out := map[ingest.Partition]ingest.PartState{}
	var err error
	e := s.do(ctx, func() {
		// A state must never cover lines whose alerts could still be
		// lost, as in runner.snapshot; waiting here, on the loop, means
		// no batch applied after the wait is in the state.
		if s.opts.WaitRecorded != nil {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := s.opts.WaitRecorded(wctx); err != nil {
				s.log.Warn().Err(err).Msg("partition state saved with alerts not yet recorded")
			}
			cancel()
		}
		for _, p := range parts {
			t, ok := s.tasks[p]
			if !ok || t.next < 0 {
				continue
			}
			var data, sum []byte
			if data, err = t.encode(s.opts.Now()); err != nil {
				return
			}
			if sum, err = t.summary(s.opts.Now()); err != nil {
				return
			}
			out[p] = ingest.PartState{Offset: t.next, Data: data, Summary: sum}
		}
	})
	if e != nil {
		return nil, e
	}
	return out, err
}

// Revoked gives partitions up: their state is dropped, and their counts
// kept in the totals.
func (s *Stream) Revoked(ctx context.Context, parts []ingest.Partition) error {
	return s.do(ctx, func() { s.revoke(parts) })
}

func (s *Stream) revoke(parts []ingest.Partition) {
	n := 0
	for _, p := range parts {
		t, ok := s.tasks[p]
		if !ok {
			continue
		}
		s.gone.Alerts += t.core.stats.Alerts
		s.gone.Resolved += t.core.stats.Resolved
		for name, src := range t.core.stats.Sources {
			s.gone.source(name).add(src)
		}
		delete(s.tasks, p)
		n++
	}
	if n > 0 {
		s.log.Info().Int("partitions", n).Int("still_owned", len(s.tasks)).Msg("partitions given up")
	}
}

// owned lists the partitions owned now, sorted; it also waits for every
// batch queued before it to be applied.
func (s *Stream) owned(ctx context.Context) []ingest.Partition {
	var out []ingest.Partition
	s.do(ctx, func() { out = slices.Collect(maps.Keys(s.tasks)) })
	slices.SortFunc(out, ingest.Partition.Compare)
	return out
}

// deliver passes on an alert not raised before by this instance; the
// partition's cooldowns, saved with its state, keep the next owner from
// raising it again.
func (s *Stream) deliver(a *alert.Alert) {
	s.deliverWith(a, nil)
}

// deliverWith is deliver with the alert's evidence, appended to the
// evidence log first when there is one.
func (s *Stream) deliverWith(a *alert.Alert, ev *evidence.Evidence) {
	if !s.fresh(a.ID) {
		return
	}
	if ev == nil && s.opts.Evidence != nil {
		ev = (&keeper{opts: *s.opts.Evidence}).bare(a.Detector)
	}
	appendEvidence(s.evlog, a, ev, s.log)
	s.opts.Deliver(a, func() { s.recorded(a.ID) })
}

// tick closes windows as wall-clock time passes, per partition, and
// reports.
func (s *Stream) tick() {
	now := s.opts.Now()
	for _, t := range s.tasks {
		t.core.tick(now)
		advanceQuiet(t.core, t.lastArrival, now, s.opts.QuietAfter)
	}
	s.report()
}

func (s *Stream) report() {
	if s.opts.Status != nil {
		s.opts.Status(s.status())
	}
}

// status adds up the partitions' counts.
func (s *Stream) status() *Status {
	st := &Status{At: s.opts.Now(), Sources: map[string]SourceStats{}, Alerts: s.gone.Alerts,
		Repeats: s.duplicates, Apply: s.applyTime, Behind: map[string]int64{}}
	addSources(st.Sources, &s.gone)
	for _, t := range s.tasks {
		c := t.core
		if c.maxEvent.After(st.EventTime) {
			st.EventTime = c.maxEvent
		}
		st.Alerts += c.stats.Alerts
		st.OpenWindows += c.agg.Open()
		tok, ip := c.det.Entities()
		st.Tokens, st.Addresses = st.Tokens+tok, st.Addresses+ip
		et, ei := c.det.Evicted()
		st.EvictedTokens, st.EvictedAddresses = st.EvictedTokens+et, st.EvictedAddresses+ei
		ut, ui := c.agg.Overflow()
		st.UntrackedTokens, st.UntrackedAddresses = st.UntrackedTokens+ut, st.UntrackedAddresses+ui
		addSources(st.Sources, c.stats)
	}
	return st
}

func addSources(dst map[string]SourceStats, from *Stats) {
	for name, src := range from.Sources {
		c := dst[name]
		if c.Rejected == nil {
			c.Rejected = Rejects{}
		}
		c.add(src)
		dst[name] = c
	}
}

func (s *SourceStats) add(o *SourceStats) {
	s.Lines += o.Lines
	s.Rejected.add(o.Rejected)
	s.Late += o.Late
	s.WithCred += o.WithCred
	s.GapBytes += o.GapBytes
}

// summary is what a partition shares of its population baselines, per
// kind, with the time it was taken.
type summary struct {
	At    time.Time                                   `json:"at"`
	Kinds [features.NumKinds]detect.PopulationSummary `json:"kinds"`
}

// summaryTTL is how old a partition's summary may be and still count:
// one of a partition that no longer exists, or that nobody reads, must
// not weigh on the fleet's population for ever.
const summaryTTL = 24 * time.Hour

// summary encodes the partition's population baselines, for the other
// partitions' owners to merge.
func (t *task) summary(now time.Time) ([]byte, error) {
	sm := summary{At: now.UTC()}
	for k := range sm.Kinds {
		sm.Kinds[k] = t.core.det.Population(features.Kind(k))
	}
	b, err := json.Marshal(sm)
	if err != nil {
		return nil, fmt.Errorf("encoding the population of %s: %w", t.source, err)
	}
	return b, nil
}

// Fleet takes over the population baselines of every partition of the
// fleet, keyed by partition, as the partitions' owners last shared them:
// new entities are then judged against the whole fleet's population
// rather than that of their partition alone, which with a few hundred
// tokens per partition strays far from the whole (see
// TestFleetPopulationMatchesTheWhole). Summaries that cannot be read, or
// older than a day, are left out.
func (s *Stream) Fleet(ctx context.Context, summaries map[string][]byte) error {
	var per [features.NumKinds][]detect.PopulationSummary
	bad := 0
	now := s.opts.Now()
	for _, b := range summaries {
		var sm summary
		if err := json.Unmarshal(b, &sm); err != nil {
			bad++
			continue
		}
		if now.Sub(sm.At) > summaryTTL {
			continue
		}
		for k := range sm.Kinds {
			per[k] = append(per[k], sm.Kinds[k])
		}
	}
	return s.do(ctx, func() {
		if bad != s.badSummaries {
			s.log.Warn().Int("summaries", bad).Msg("population summaries that cannot be read are left out")
			s.badSummaries = bad
		}
		for k := range per {
			s.fleet[k] = detect.MergePopulations(per[k])
			for _, t := range s.tasks {
				t.core.det.SetFleet(features.Kind(k), s.fleet[k])
			}
		}
	})
}

// partCheckpoint is a partition's learned state as saved.
type partCheckpoint struct {
	Saved    time.Time
	MaxEvent time.Time
	Features features.AggState
	Detect   detect.DetState
	Rejects  map[string]detect.RejectState
	Latest   map[string]time.Time
	// Contracts is added to version 1: gob leaves it empty in an older
	// state, which then counts from the restore.
	Contracts map[string]detect.ContractState
}

// partMagic and partVersion head an encoded partition state, so that a
// state written by another program or version is refused, not misread.
const (
	partMagic   = "sentinel-partition-state"
	partVersion = 1
)

func (t *task) encode(now time.Time) ([]byte, error) {
	cp := partCheckpoint{
		Saved: now.UTC(), MaxEvent: t.core.maxEvent,
		Features: t.core.agg.Snapshot(), Detect: t.core.det.Snapshot(),
		Rejects: t.core.rejects.Snapshot(), Latest: maps.Clone(t.core.clock.latest),
		Contracts: t.core.contracts.Snapshot(),
	}
	if cp.Detect.Forest != nil {
		// Retrained forests stay with the instance that trained them; the
		// next owner scores with the configured model until it retrains.
		cp.Detect.Forest.DropModels()
	}
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	for _, v := range []any{partMagic, partVersion, &cp} {
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("encoding the state of %s: %w", t.source, err)
		}
	}
	return buf.Bytes(), nil
}

func (t *task) restore(st *ingest.PartState) error {
	dec := gob.NewDecoder(bytes.NewReader(st.Data))
	var magic string
	var version int
	if err := dec.Decode(&magic); err != nil || magic != partMagic {
		return fmt.Errorf("saved state is not a sentinel partition state")
	}
	if err := dec.Decode(&version); err != nil || version != partVersion {
		return fmt.Errorf("saved state has version %d: this sentinel reads version %d", version, partVersion)
	}
	var cp partCheckpoint
	if err := dec.Decode(&cp); err != nil {
		return fmt.Errorf("decoding saved state: %w", err)
	}
	c := t.core
	if err := c.agg.Restore(cp.Features); err != nil {
		return fmt.Errorf("restoring windows: %w", err)
	}
	if err := c.det.Restore(cp.Detect); err != nil {
		return fmt.Errorf("restoring baselines: %w", err)
	}
	c.rejects.Restore(cp.Rejects)
	c.contracts.Restore(cp.Contracts)
	maps.Copy(c.clock.latest, cp.Latest)
	c.maxEvent = cp.MaxEvent
	t.next = st.Offset
	return nil
}
