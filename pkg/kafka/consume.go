package kafka

import (
	"cmp"
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
	// Stalls counts readers replaced because they stopped delivering.
	stalls int64
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
	store, err := NewStore(ctx, opts.Conn, opts.StateTopic)
	if err != nil {
		return nil, err
	}
	c := &Consumer{opts: opts, store: store, log: log, lag: map[ingest.Partition]int64{}}
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
	failing := false
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// kafka-go retries joining by itself; say so once per outage.
			if !failing {
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
	done := make(chan struct{})
	gen.Start(func(gctx context.Context) {
		defer close(done)
		g := &genRun{c: c, gen: gen, h: h, parts: parts}
		starts, ok := g.restore(ctx, gctx)
		if !ok {
			return
		}
		for p, off := range starts {
			if off < 0 {
				starts[p] = committed[p]
			}
		}
		g.run(ctx, gctx, starts)
	})
	<-done
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
	slices.SortFunc(parts, comparePartitions)
	return parts, committed
}

func comparePartitions(a, b ingest.Partition) int {
	return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.ID, b.ID))
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
	c     *Consumer
	gen   *kafkago.Generation
	h     Handler
	parts []ingest.Partition
}

// restore loads the assigned partitions' states and hands them over,
// retrying while the state topic cannot be read: starting cold instead
// would silently forget every baseline. ok is false when the generation
// or the run ended first.
func (g *genRun) restore(ctx, gctx context.Context) (map[ingest.Partition]int64, bool) {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		states, err := g.c.store.Load(ctx, g.parts)
		var starts map[ingest.Partition]int64
		if err == nil {
			for _, p := range g.parts {
				if _, ok := states[p]; !ok {
					states[p] = nil // assigned, with no saved state
				}
			}
			starts, err = g.h.Assigned(ctx, states)
		}
		if err == nil {
			return starts, true
		}
		g.c.log.Error().Err(err).Dur("retry_in", wait).Msg("kafka: restoring the assigned partitions' state failed")
		select {
		case <-time.After(wait):
		case <-gctx.Done():
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

// run reads every assigned partition and saves periodically; at the end
// of the generation or the run it saves a last time.
func (g *genRun) run(ctx, gctx context.Context, starts map[ingest.Partition]int64) {
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range g.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.c.readPartition(rctx, p, starts[p], g.h)
		}()
	}
	tick := time.NewTicker(g.c.opts.SaveEvery)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			g.save(ctx)
		case <-g.h.Urgent():
			g.save(ctx)
		case <-gctx.Done():
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	wg.Wait()
	// The run's context may be done: the last save gets its own, bounded
	// by the group's rebalance timeout in practice.
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	g.save(sctx)
	if ctx.Err() != nil {
		if err := g.h.Revoked(sctx, g.parts); err != nil {
			g.c.log.Warn().Err(err).Msg("kafka: giving the partitions up")
		}
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
func (g *genRun) save(ctx context.Context) {
	states, err := g.h.Snapshot(ctx, g.parts)
	if err == nil {
		err = g.c.store.Save(ctx, states)
	}
	if err != nil {
		if ctx.Err() == nil { // a stop cut it short; the last save follows
			g.c.log.Error().Err(err).Msg("kafka: saving partition states failed; offsets not committed")
		}
		return
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
	if err := g.gen.CommitOffsets(offsets); err != nil {
		// The saved states hold the offsets too, and take precedence at
		// restore; a failed commit only makes the group's lag look worse.
		g.c.log.Warn().Err(err).Msg("kafka: committing offsets failed; the saved states keep them")
	}
}

// readPartition reads one partition from offset until ctx is done,
// replacing its reader whenever it stalls or fails: kafka-go's reader
// gives up after a few refused connections, and a broker that is down
// must only delay the partition, never end it.
func (c *Consumer) readPartition(ctx context.Context, p ingest.Partition, offset int64, h Handler) {
	offset, ok := c.resolve(ctx, p, offset)
	if !ok {
		return
	}
	failing := false
	for wait := time.Second; ctx.Err() == nil; {
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
	highWater int64
}

// batchFrom gathers m and whatever else is already waiting, up to
// maxBatch lines.
func batchFrom(p ingest.Partition, m kafkago.Message, msgs <-chan kafkago.Message) partBatch {
	b := partBatch{PartBatch: ingest.PartBatch{Partition: p, Lines: [][]byte{m.Value}, Next: m.Offset + 1}, highWater: m.HighWaterMark}
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
// so that a stall can be told from an idle partition, and sets the
// partition's lag; it retries while the brokers cannot say, and returns
// ok=false when ctx ends first.
func (c *Consumer) resolve(ctx context.Context, p ingest.Partition, offset int64) (int64, bool) {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		first, end, err := c.bounds(ctx, p)
		if err == nil {
			switch {
			case offset == kafkago.LastOffset:
				offset = end
			case offset < first:
				if offset >= 0 {
					// Retention deleted them before they were read.
					c.log.Warn().Str("partition", p.String()).Int64("lines", first-offset).
						Msg("kafka: lines deleted by retention before they were read; reading on from the oldest kept")
				}
				offset = first
			}
			c.setLag(p, end-offset)
			return offset, true
		}
		if ctx.Err() != nil {
			return offset, false
		}
		c.log.Warn().Err(err).Str("partition", p.String()).Msg("kafka: cannot learn where the partition begins and ends; retrying")
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return offset, false
		}
	}
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
	return end > pos
}

func (c *Consumer) setLag(p ingest.Partition, n int64) {
	c.mu.Lock()
	c.lag[p] = max(n, 0)
	c.mu.Unlock()
}
