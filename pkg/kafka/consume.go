package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Handler is what a Consumer feeds: the engine's Stream. Its methods are
// called from the consumer's goroutines.
type Handler interface {
	// Assigned takes over partitions with their saved states (nil for
	// none) and returns, per partition, the offset to read from, or -1
	// to read from the group's committed offset.
	Assigned(ctx context.Context, states map[ingest.Partition]*ingest.PartState) (map[ingest.Partition]int64, error)
	// Apply applies a batch of one partition's lines, in order.
	Apply(ctx context.Context, b ingest.PartBatch) error
	// Snapshot returns the partitions' states, each covering every line
	// applied before the call; partitions with nothing applied yet are
	// left out.
	Snapshot(ctx context.Context, parts []ingest.Partition) (map[ingest.Partition]ingest.PartState, error)
	// Revoked gives partitions up.
	Revoked(ctx context.Context, parts []ingest.Partition) error
	// Urgent signals that the partitions should be saved soon (an alert
	// was raised).
	Urgent() <-chan struct{}
	// Fleet takes the latest summary of every partition of the fleet,
	// keyed by partition, as shared through the population topic.
	Fleet(ctx context.Context, summaries map[string][]byte) error
}

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	Conn   *Conn
	Group  string
	Topics []string
	// StateTopic keeps the partitions' states; see Store.
	StateTopic string
	// PopulationTopic shares the partitions' population baselines between
	// the instances; none when empty.
	PopulationTopic string
	// Latest starts a group with no committed offset at the end of the
	// topics rather than their beginning.
	Latest bool
	// SaveEvery is how often states are saved and offsets committed.
	SaveEvery time.Duration
	// StallAfter is how long a partition with lines waiting may go without
	// delivering one before its reader is replaced; default 30s.
	StallAfter time.Duration
	// Joined, when set, is called once the group assigned this instance
	// its first partitions (none, when the group has more instances than
	// partitions): the instance is then doing its share.
	Joined func()
	// Group timing; kafka-go's defaults when zero. Tests shorten them.
	SessionTimeout, HeartbeatInterval, RebalanceTimeout, JoinGroupBackoff time.Duration
	Logger                                                                zerolog.Logger
}

// Consumer reads topics in a consumer group and hands each assigned
// partition's lines to a Handler, saving the partitions' states to the
// state topic and committing offsets only after the states that cover
// them are acknowledged: an offset is never committed for lines that
// have not changed a saved state.
type Consumer struct {
	opts  ConsumerOptions
	store *Store
	pop   *exchange // nil without a population topic
	log   zerolog.Logger

	mu  sync.Mutex
	lag map[ingest.Partition]int64
	// stalls counts readers replaced because they stopped delivering,
	// skips the offsets never read (deleted by retention first).
	stalls, skips int64
	// unsaid and saidSkip rate-limit the warnings about skips.
	unsaid   map[ingest.Partition]int64
	saidSkip map[ingest.Partition]time.Time
	saves    Saves
	joined   sync.Once
}

// Saves says how saving the partitions' states goes.
type Saves struct {
	Last   time.Time     // wall clock of the last saved, zero before one
	Took   time.Duration // how long it took, snapshot to commit
	Bytes  int64         // the states' size, before compression
	Failed int64         // saves failed since start
}

// Saves returns how saving goes.
func (c *Consumer) Saves() Saves {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saves
}

// NewConsumer opens the state topic.
func NewConsumer(ctx context.Context, opts ConsumerOptions) (*Consumer, error) {
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = 30 * time.Second
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = 30 * time.Second
	}
	log := opts.Logger
	if err := waitForBrokers(ctx, opts.Conn, log); err != nil {
		return nil, err
	}
	if err := topicsExist(ctx, opts.Conn, opts.Topics); err != nil {
		return nil, err
	}
	store, err := NewStore(ctx, opts.Conn, opts.StateTopic)
	if err != nil {
		return nil, err
	}
	c := &Consumer{opts: opts, store: store, log: log, lag: map[ingest.Partition]int64{},
		unsaid: map[ingest.Partition]int64{}, saidSkip: map[ingest.Partition]time.Time{}}
	if opts.PopulationTopic != "" {
		if c.pop, err = newExchange(ctx, opts.Conn, opts.PopulationTopic, opts.Logger); err != nil {
			store.Close()
			return nil, err
		}
	}
	return c, nil
}

// waitForBrokers waits until a broker accepts a connection: a cluster
// that is down when sentinel starts delays the start rather than failing
// it. A refused login or certificate is a mistake of the configuration
// that waiting does not mend, and is returned at once.
func waitForBrokers(ctx context.Context, conn *Conn, log zerolog.Logger) error {
	said := false
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := conn.Check(ctx)
		if err == nil {
			if said {
				log.Info().Msg("kafka: brokers reachable")
			}
			return nil
		}
		if permanent(err) || ctx.Err() != nil {
			return err
		}
		if !said {
			log.Warn().Err(err).Msg("kafka: no broker reachable; retrying until one is")
			said = true
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CheckSettings connects to the brokers and returns the errors that
// mean the settings are wrong (a refused login or certificate), nil for
// all others, such as brokers that are down.
func (c *Conn) CheckSettings(ctx context.Context) error {
	if err := c.Check(ctx); err != nil && permanent(err) {
		return err
	}
	return nil
}

// topicsExist refuses to start on a topic that does not exist: a
// consumer group on one assigns nothing, and kafka-go then rebalances
// without end, thousands of times a second.
func topicsExist(ctx context.Context, conn *Conn, topics []string) error {
	tr := conn.Transport()
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(conn.Brokers...), Transport: tr, Timeout: dialTimeout}
	resp, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("asking the brokers about the topics: %w", err)
	}
	var errs []error
	for _, t := range resp.Topics {
		switch {
		case errors.Is(t.Error, kafkago.UnknownTopicOrPartition):
			errs = append(errs, fmt.Errorf("topic %q does not exist: create it, or check its name", t.Name))
		case t.Error != nil:
			errs = append(errs, fmt.Errorf("topic %q: %w", t.Name, t.Error))
		case len(t.Partitions) == 0:
			errs = append(errs, fmt.Errorf("topic %q has no partition", t.Name))
		}
	}
	return errors.Join(errs...)
}

// permanent tells the errors of connecting that retrying does not mend.
func permanent(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.Is(err, kafkago.SASLAuthenticationFailed) || errors.Is(err, kafkago.UnsupportedSASLMechanism) ||
		errors.Is(err, kafkago.IllegalSASLState) || errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &verify)
}

// Lag returns, per partition owned, the lines written and not yet read.
func (c *Consumer) Lag() map[ingest.Partition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.lag)
}

// Stalls returns how many stalled readers were replaced.
func (c *Consumer) Stalls() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stalls
}

// Skipped returns how many offsets were never read, deleted by
// retention before their turn.
func (c *Consumer) Skipped() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skips
}

// Run consumes until ctx is done. Before it returns, the partitions'
// states are saved and their offsets committed, and the group is left so
// that the others take the partitions over at once.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	defer c.store.Close()
	if c.pop != nil {
		defer c.pop.Close()
		fctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); c.pop.follow(fctx, h.Fleet) }()
		defer func() { stop(); <-done }()
	}
	start := kafkago.FirstOffset
	if c.opts.Latest {
		start = kafkago.LastOffset
	}
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID: c.opts.Group, Brokers: c.opts.Conn.Brokers, Dialer: c.opts.Conn.Dialer(), Topics: c.opts.Topics,
		StartOffset: start, SessionTimeout: c.opts.SessionTimeout, HeartbeatInterval: c.opts.HeartbeatInterval,
		RebalanceTimeout: c.opts.RebalanceTimeout, JoinGroupBackoff: c.opts.JoinGroupBackoff,
		WatchPartitionChanges: true,
	})
	if err != nil {
		return fmt.Errorf("joining consumer group %s: %w", c.opts.Group, err)
	}
	defer cg.Close()
	// Closed as soon as the run ends, rather than once the generation's
	// work returned: kafka-go would otherwise join the group again
	// between the two, and the others would go through a generation that
	// still gives this instance partitions it will never read.
	stop := context.AfterFunc(ctx, func() { cg.Close() })
	defer stop()
	failing := false
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// kafka-go retries joining by itself; say so once per outage.
			// A rebalance in progress is how every join of another member
			// shows, not a failure.
			if !failing && !errors.Is(err, kafkago.RebalanceInProgress) {
				c.log.Warn().Err(err).Str("group", c.opts.Group).Msg("kafka: joining the consumer group failed; retrying")
			}
			failing = true
			continue
		}
		failing = false
		c.generation(ctx, gen, h)
	}
}

// generation runs one generation of the group: restores the partitions
// assigned, reads them, and saves and commits until the group
// rebalances or ctx is done.
func (c *Consumer) generation(ctx context.Context, gen *kafkago.Generation, h Handler) {
	parts, committed := assignedParts(gen)
	c.log.Info().Int32("generation", gen.ID).Int("partitions", len(parts)).
		Str("assigned", partList(parts)).Msg("kafka: partitions assigned")
	if c.opts.Joined != nil {
		c.joined.Do(c.opts.Joined)
	}
	done := make(chan struct{})
	gen.Start(func(gctx context.Context) {
		defer close(done)
		// Everything of this generation stops with it or with the run.
		gctx, stop := mergeDone(ctx, gctx)
		defer stop()
		g := &genRun{c: c, gen: gen, h: h, parts: parts}
		starts, ok := g.restore(gctx)
		if !ok {
			g.giveUp() // what Assigned may have taken over
			return
		}
		for p, off := range starts {
			if off < 0 {
				starts[p] = committed[p]
			}
		}
		g.run(gctx, starts)
	})
	<-done
}

// mergeDone returns a context done when either a or b is.
func mergeDone(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}

func assignedParts(gen *kafkago.Generation) ([]ingest.Partition, map[ingest.Partition]int64) {
	var parts []ingest.Partition
	committed := map[ingest.Partition]int64{}
	for topic, as := range gen.Assignments {
		for _, a := range as {
			p := ingest.Partition{Topic: topic, ID: a.ID}
			parts = append(parts, p)
			committed[p] = a.Offset
		}
	}
	slices.SortFunc(parts, ingest.Partition.Compare)
	return parts, committed
}

func partList(parts []ingest.Partition) string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.String()
	}
	return strings.Join(names, ",")
}

// genRun is one generation's work.
type genRun struct {
	c        *Consumer
	gen      *kafkago.Generation
	h        Handler
	parts    []ingest.Partition
	lastSave time.Time
	// fence holds, per partition, an offset every line before which is
	// covered by a saved state (or deliberately skipped, by the start
	// setting): committing it again harms nothing, and the coordinator
	// refuses it from a member that is no longer the generation's; see
	// save.
	mu    sync.Mutex // guards fence, which readers extend
	fence map[string]map[int]int64
}

// fenceNow returns a copy of the fence.
func (g *genRun) fenceNow() map[string]map[int]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]map[int]int64, len(g.fence))
	for t, ps := range g.fence {
		out[t] = maps.Clone(ps)
	}
	return out
}

func (g *genRun) fenceAt(p ingest.Partition, off int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fence == nil {
		g.fence = map[string]map[int]int64{}
	}
	if g.fence[p.Topic] == nil {
		g.fence[p.Topic] = map[int]int64{}
	}
	g.fence[p.Topic][p.ID] = off
}

// restore loads the assigned partitions' states and hands them over,
// retrying while the state topic cannot be read: starting cold instead
// would silently forget every baseline. ok is false when the generation
// or the run ended first: nothing of the generation may run after it.
func (g *genRun) restore(ctx context.Context) (map[ingest.Partition]int64, bool) {
	lastErr := ""
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		starts, err := g.load(ctx)
		if ctx.Err() != nil {
			return nil, false
		}
		if err == nil {
			return starts, true
		}
		if err.Error() != lastErr {
			g.c.log.Error().Err(err).Msg("kafka: restoring the assigned partitions' state failed; retrying")
			lastErr = err.Error()
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, false
		}
	}
}

// load reads the assigned partitions' states and hands them over. A
// partition whose state cannot be read starts from nothing, loudly,
// rather than holding up every other partition for good.
func (g *genRun) load(ctx context.Context) (map[ingest.Partition]int64, error) {
	states, bad, err := g.c.store.Load(ctx, g.parts)
	if err != nil {
		return nil, err
	}
	for p, err := range bad {
		g.c.log.Error().Err(err).Str("partition", p.String()).
			Msg("kafka: the partition's saved state cannot be read; it starts from nothing (docs/kafka.md, Recovering a partition's state)")
	}
	for _, p := range g.parts {
		if _, ok := states[p]; !ok {
			states[p] = nil // assigned, with no saved state
		}
	}
	return g.h.Assigned(ctx, states)
}

// urgentEvery bounds how often alerts make the partitions be saved: in
// an alert storm, one save a second covers them all.
const urgentEvery = time.Second

// run reads every assigned partition and saves periodically; at the end
// of the generation or the run it saves a last time and gives the
// partitions up, so that none is judged, even by the wall clock, while
// another instance may own it.
func (g *genRun) run(gctx context.Context, starts map[ingest.Partition]int64) {
	defer g.giveUp()
	var wg sync.WaitGroup
	for _, p := range g.parts {
		if starts[p] >= 0 {
			g.fenceAt(p, starts[p])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A partition placed only once read (a new group's "first"
			// or "last") joins the fence then.
			g.c.readPartition(gctx, p, starts[p], g.h, func(off int64) { g.fenceAt(p, off) })
		}()
	}
	tick := time.NewTicker(g.c.opts.SaveEvery)
	defer tick.Stop()
	var later <-chan time.Time // an urgent save held back by urgentEvery
loop:
	for {
		select {
		case <-tick.C:
			g.save(gctx)
		case <-g.h.Urgent():
			if wait := urgentEvery - time.Since(g.lastSave); wait > 0 {
				later = time.After(wait)
				continue
			}
			g.save(gctx)
		case <-later:
			later = nil
			g.save(gctx)
		case <-gctx.Done():
			break loop
		}
	}
	wg.Wait()
	// The generation's context is done: the last save gets its own. The
	// group waits for it up to its rebalance timeout; past that, the
	// fence refuses it.
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	g.save(sctx)
}

// giveUp hands the generation's partitions back, whichever way the
// generation ended, so that nothing of it runs after it.
func (g *genRun) giveUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.h.Revoked(ctx, g.parts); err != nil {
		g.c.log.Warn().Err(err).Msg("kafka: giving the partitions up")
	}
	g.c.mu.Lock()
	for _, p := range g.parts {
		delete(g.c.lag, p)
	}
	g.c.mu.Unlock()
}

// save saves the partitions' states, then commits the offsets they
// cover. A failure leaves the last saved state and offsets in place:
// lines since are read again by the next owner, and their alerts, raised
// again, carry the same ids.
//
// Before writing, the member commits again offsets already covered (the
// fence): the coordinator refuses that once the group has moved on
// without this member (it took longer than the rebalance timeout), and
// a member that no longer owns its partitions must not write their
// states over the new owner's. (A heartbeat would not do: a coordinator
// may answer one from a member it has dropped as if all were well.)
func (g *genRun) save(ctx context.Context) {
	start := time.Now()
	g.lastSave = start
	states, err := g.write(ctx)
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			g.c.saves.Failed++
		}
		return
	}
	g.c.saves.Last, g.c.saves.Took, g.c.saves.Bytes = time.Now(), time.Since(start), 0
	for _, st := range states {
		g.c.saves.Bytes += int64(len(st.Data))
	}
}

// errNotSaved is a save that failed and was logged as such.
var errNotSaved = errors.New("not saved")

// write takes the states, checks the member still owns them, writes
// them and commits their offsets.
func (g *genRun) write(ctx context.Context) (map[ingest.Partition]ingest.PartState, error) {
	states, err := g.h.Snapshot(ctx, g.parts)
	if err != nil {
		if ctx.Err() == nil { // a stop cut it short; the last save follows
			g.c.log.Error().Err(err).Msg("kafka: saving partition states failed; offsets not committed")
		}
		return nil, errNotSaved
	}
	// The fence goes just before the write, after the snapshot, which
	// may wait for alerts to be recorded.
	if err := g.commit(ctx, g.fenceNow()); err != nil {
		msg := "kafka: the coordinator cannot be reached to confirm this instance still owns its partitions; their states are not saved this time"
		if refused(err) {
			msg = "kafka: the group moved on without this instance; its partitions' states are not saved, and their next owners read again what it applied since its last save"
		}
		g.c.log.Warn().Err(err).Msg(msg)
		return nil, errNotSaved
	}
	if err := g.c.store.Save(ctx, states, int(g.gen.ID&1)); err != nil {
		if ctx.Err() == nil {
			g.c.log.Error().Err(err).Msg("kafka: saving partition states failed; offsets not committed")
		}
		return nil, errNotSaved
	}
	if g.c.pop != nil {
		if err := g.c.pop.publish(ctx, states); err != nil {
			// The states are saved; the fleet's population only lags.
			g.c.log.Warn().Err(err).Msg("kafka: sharing population summaries failed")
		}
	}
	offsets := map[string]map[int]int64{}
	for p, st := range states {
		if offsets[p.Topic] == nil {
			offsets[p.Topic] = map[int]int64{}
		}
		offsets[p.Topic][p.ID] = st.Offset
	}
	if err := g.commit(ctx, offsets); err != nil {
		// The saved states hold the offsets too, and take precedence at
		// restore; a failed commit only makes the group's lag look worse.
		g.c.log.Warn().Err(err).Msg("kafka: committing offsets failed; the saved states keep them")
		return states, nil
	}
	for p, st := range states {
		g.fenceAt(p, st.Offset)
	}
	return states, nil
}

// commit commits offsets in this generation's name. It goes through a
// client of its own rather than the generation's coordinator
// connection, which a broker restart breaks for good: the coordinator
// is found again, and judges whether the member still belongs.
func (g *genRun) commit(ctx context.Context, offsets map[string]map[int]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	req := &kafkago.OffsetCommitRequest{GroupID: g.gen.GroupID, GenerationID: int(g.gen.ID), MemberID: g.gen.MemberID,
		Topics: map[string][]kafkago.OffsetCommit{}}
	for topic, ps := range offsets {
		for id, off := range ps {
			req.Topics[topic] = append(req.Topics[topic], kafkago.OffsetCommit{Partition: id, Offset: off})
		}
	}
	return g.retry(ctx, func(cl *kafkago.Client) error {
		resp, err := cl.OffsetCommit(ctx, req)
		if err != nil {
			return fmt.Errorf("committing offsets: %w", err)
		}
		for _, ps := range resp.Topics {
			for _, p := range ps {
				if p.Error != nil {
					return fmt.Errorf("committing offsets: %w", p.Error)
				}
			}
		}
		return nil
	})
}

// retry runs call with a client on a transport of its own (a pooled
// connection broken by a broker restart would fail the first request on
// it), again on a new one while the coordinator cannot be reached, for a
// few seconds; the coordinator's refusal is returned at once.
func (g *genRun) retry(ctx context.Context, call func(*kafkago.Client) error) error {
	var err error
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		tr := g.c.opts.Conn.Transport()
		err = call(&kafkago.Client{Addr: kafkago.TCP(g.c.opts.Conn.Brokers...), Transport: tr, Timeout: dialTimeout})
		tr.CloseIdleConnections()
		if err == nil || refused(err) || wait > 2*time.Second {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

// refused tells the coordinator's answers that a member is no longer
// the generation's from failures to reach it.
func refused(err error) bool {
	return errors.Is(err, kafkago.IllegalGeneration) || errors.Is(err, kafkago.UnknownMemberId) ||
		errors.Is(err, kafkago.RebalanceInProgress) || errors.Is(err, kafkago.FencedInstanceID) ||
		errors.Is(err, kafkago.GroupIdNotFound)
}

// readPartition reads one partition from offset until ctx is done,
// replacing its reader whenever it stalls or fails: kafka-go's reader
// gives up after a few refused connections, and a broker that is down
// must only delay the partition, never end it.
func (c *Consumer) readPartition(ctx context.Context, p ingest.Partition, offset int64, h Handler, placed func(int64)) {
	failing := false
	for wait := time.Second; ctx.Err() == nil; {
		// Placed again after each stall or failure: the partition may
		// have been truncated, recreated or cut by retention meanwhile.
		unplaced := offset < 0
		var ok bool
		if offset, ok = c.resolve(ctx, p, offset); !ok {
			return
		}
		if unplaced {
			placed(offset)
		}
		next, err := c.readUntilStall(ctx, p, offset, h)
		if next > offset && failing {
			c.log.Info().Str("partition", p.String()).Msg("kafka: partition read again")
			failing, wait = false, time.Second
		}
		offset = next
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errStalled):
			c.mu.Lock()
			c.stalls++
			c.mu.Unlock()
			c.log.Warn().Str("partition", p.String()).Int64("offset", offset).
				Msg("kafka: partition reader stalled with lines waiting; replacing it")
			continue
		case !failing:
			c.log.Warn().Err(err).Str("partition", p.String()).Msg("kafka: reading the partition failed; retrying until it can be read")
			failing = true
		}
		select {
		case <-time.After(wait):
			wait = min(2*wait, 30*time.Second)
		case <-ctx.Done():
		}
	}
}

// maxBatch bounds the lines handed over at once.
const maxBatch = 2000

var errStalled = errors.New("no line delivered while lines were waiting")

// readUntilStall reads p from offset through one kafka-go reader, until
// ctx is done or the reader stalls. kafka-go has reports of readers that
// stop delivering after a rebalance or a broker restart, so a reader
// that delivers nothing while the partition's end is past its position,
// or while that end cannot be learnt, is given up. It returns the offset
// to read from next.
func (c *Consumer) readUntilStall(ctx context.Context, p ingest.Partition, offset int64, h Handler) (int64, error) {
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.opts.Conn.Brokers, Topic: p.Topic, Partition: p.ID,
		Dialer: c.opts.Conn.Dialer(), MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond,
		ReadBackoffMin: 100 * time.Millisecond, ReadBackoffMax: time.Second})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return offset, fmt.Errorf("setting the offset of %s: %w", p, err)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan kafkago.Message, maxBatch)
	var fetchErr error // set before msgs is closed
	go fetch(fctx, r, msgs, &fetchErr)
	next := offset
	check := time.NewTicker(c.opts.StallAfter / 2)
	defer check.Stop()
	last := time.Now()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return next, fetchErr
			}
			b := batchFrom(p, m, msgs)
			if gap := b.first - next; gap > 0 {
				// kafka-go moves a reader whose offset retention deleted
				// to the oldest kept, silently.
				c.skipped(p, gap, "kafka: lines deleted by retention before they were read were skipped")
			}
			if err := h.Apply(ctx, b.PartBatch); err != nil {
				return next, err
			}
			next, last = b.Next, time.Now()
			c.setLag(p, b.highWater-b.Next)
		case <-check.C:
			if time.Since(last) < c.opts.StallAfter {
				continue
			}
			if c.stalled(ctx, p, next) {
				return next, errStalled
			}
			last = time.Now()
		case <-ctx.Done():
			return next, ctx.Err()
		}
	}
}

// fetch feeds a reader's messages to msgs until ctx is done or a fetch
// fails, then sets *errp and closes msgs.
func fetch(ctx context.Context, r *kafkago.Reader, msgs chan<- kafkago.Message, errp *error) {
	defer close(msgs)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			*errp = fmt.Errorf("fetching: %w", err)
			return
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return
		}
	}
}

type partBatch struct {
	ingest.PartBatch
	first     int64 // offset of the first line
	highWater int64
}

// batchFrom gathers m and whatever else is already waiting, up to
// maxBatch lines.
func batchFrom(p ingest.Partition, m kafkago.Message, msgs <-chan kafkago.Message) partBatch {
	b := partBatch{PartBatch: ingest.PartBatch{Partition: p, Lines: [][]byte{m.Value}, Next: m.Offset + 1},
		first: m.Offset, highWater: m.HighWaterMark}
	for len(b.Lines) < maxBatch {
		select {
		case m, ok := <-msgs:
			if !ok {
				return b
			}
			b.Lines = append(b.Lines, m.Value)
			b.Next, b.highWater = m.Offset+1, m.HighWaterMark
		default:
			return b
		}
	}
	return b
}

// resolve turns the group's "first" or "last" into an absolute offset,
// so that a stall can be told from an idle partition, moves an offset
// the partition no longer holds to one it does, and sets the partition's
// lag. It retries while the brokers cannot say, and returns ok=false
// when ctx ends first.
func (c *Consumer) resolve(ctx context.Context, p ingest.Partition, offset int64) (int64, bool) {
	said := false
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		first, end, err := c.bounds(ctx, p)
		if err == nil {
			offset = c.place(p, offset, first, end)
			c.setLag(p, end-offset)
			return offset, true
		}
		if ctx.Err() != nil {
			return offset, false
		}
		if !said {
			c.log.Warn().Err(err).Str("partition", p.String()).Msg("kafka: cannot learn where the partition begins and ends; retrying")
			said = true
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return offset, false
		}
	}
}

// place returns where to read p from, given the offset wanted and the
// partition's first offset and end.
func (c *Consumer) place(p ingest.Partition, offset, first, end int64) int64 {
	switch {
	case offset == kafkago.LastOffset:
		return end
	case offset == kafkago.FirstOffset:
		return first
	case offset < first:
		c.skipped(p, first-offset, "kafka: lines deleted by retention before they were read; reading on from the oldest kept")
		return first
	case offset > end:
		// Recreated or truncated (an unclean leader election): the
		// lines at offsets the state covers are gone. As Kafka's
		// auto.offset.reset, the group's start setting says where to go.
		c.log.Warn().Str("partition", p.String()).Int64("offset", offset).Int64("end", end).Bool("latest", c.opts.Latest).
			Msg("kafka: the saved offset is past the partition's end (recreated or truncated); reading from the start setting's end of it")
		if c.opts.Latest {
			return end
		}
		return first
	}
	return offset
}

// skipped counts offsets never read and warns about them, at most once
// a minute per partition.
func (c *Consumer) skipped(p ingest.Partition, n int64, msg string) {
	c.mu.Lock()
	c.skips += n
	c.unsaid[p] += n
	last := c.saidSkip[p]
	now := time.Now()
	if now.Sub(last) < time.Minute && !last.IsZero() {
		c.mu.Unlock()
		return
	}
	n, c.unsaid[p], c.saidSkip[p] = c.unsaid[p], 0, now
	c.mu.Unlock()
	c.log.Warn().Str("partition", p.String()).Int64("lines", n).Msg(msg)
}

// bounds returns p's first offset and its end.
func (c *Consumer) bounds(ctx context.Context, p ingest.Partition) (first, end int64, err error) {
	return listBounds(ctx, c.opts.Conn, p)
}

// stalled asks the brokers for p's end: a reader that sits before it
// without delivering, or one whose end cannot be learnt, is stalled.
// An idle partition read to its end is not.
func (c *Consumer) stalled(ctx context.Context, p ingest.Partition, pos int64) bool {
	_, end, err := c.bounds(ctx, p)
	if err != nil {
		return true
	}
	c.setLag(p, end-pos)
	// An end before the position is a partition truncated or recreated
	// under the reader, which kafka-go retries without end: resolve
	// places the next reader.
	return end != pos
}

func (c *Consumer) setLag(p ingest.Partition, n int64) {
	c.mu.Lock()
	c.lag[p] = max(n, 0)
	c.mu.Unlock()
}
