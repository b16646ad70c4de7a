// Package ship sends the requests of log files to Kafka: it follows the
// files as sentinel run does, parses each line in its source's format,
// and produces the canonical record (ingest.AppendShipped) keyed by the
// token's fingerprint. File positions move past a line only once the
// brokers have acknowledged it, so every line is delivered at least once
// across stops and crashes.
package ship

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/ingest"
	"github.com/sentinel-project/sentinel/pkg/kafka"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// Producer writes messages and returns once all are acknowledged, or
// returns those that were not; kafka.Producer is one.
type Producer interface {
	Produce(ctx context.Context, msgs []kafka.Message) ([]kafka.Message, error)
}

// Options configure Run.
type Options struct {
	// Sources are the files to ship, each with its format, as
	// app.Sources builds them for run. Standard input has no position to
	// resume from and is refused.
	Sources  []engine.Source
	Producer Producer
	// Topic receives every request, keyed by its token's fingerprint.
	Topic string
	// AddressTopic, when set, receives every request that has a client
	// address a second time, keyed by the address.
	AddressTopic string
	// StateDir keeps the file positions; it is locked while Run runs.
	StateDir string
	Logger   zerolog.Logger
	// Brokers names the destination in log lines.
	Brokers []string

	// PollInterval and MaxBatch are passed to ingest.Follow.
	PollInterval time.Duration
	MaxBatch     int
	// SaveEvery is how often positions are saved while lines are
	// shipped; 1s when zero. Lines acknowledged since the last save are
	// shipped again after a crash.
	SaveEvery time.Duration
	// RetryMin and RetryMax bound the wait between attempts while the
	// brokers are unreachable; 500ms and 30s when zero.
	RetryMin, RetryMax time.Duration
	// StopGrace is how long a stop waits for the brokers to acknowledge
	// the lines being written; 10s when zero.
	StopGrace time.Duration
	// Progress, when set, is called with the counts after each batch the
	// brokers acknowledged, from Run's goroutine.
	Progress func(Stats)
}

func (o *Options) withDefaults() {
	if o.SaveEvery <= 0 {
		o.SaveEvery = time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 500 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
}

// Stats count what a Run read and shipped.
type Stats struct {
	Lines    int64          // lines read
	Shipped  int64          // requests acknowledged on the topic
	Rejected engine.Rejects // lines that could not be parsed, by reason
	GapBytes int64          // bytes known lost before being read
}

// positionsFile holds the positions in the state directory.
const positionsFile = "positions"

// saved is what positionsFile holds.
type saved struct {
	Saved     time.Time
	Positions map[string]ingest.Position
}

// Run ships the sources' lines until ctx is done, then waits up to
// StopGrace for the lines being written, saves the positions of what was
// acknowledged and returns the counts. While the brokers are unreachable
// it holds the lines and retries: nothing is dropped.
func Run(ctx context.Context, o Options) (Stats, error) {
	o.withDefaults()
	files, err := filePaths(o.Sources)
	if err != nil {
		return Stats{}, err
	}
	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		return Stats{}, fmt.Errorf("creating ship state directory: %w", err)
	}
	unlock, err := state.Lock(o.StateDir)
	if err != nil {
		return Stats{}, fmt.Errorf("locking ship state directory %s: %w", o.StateDir, err)
	}
	defer unlock()
	var sv saved
	err = state.Load(filepath.Join(o.StateDir, positionsFile), &sv)
	if err != nil && !errors.Is(err, state.ErrNoCheckpoint) {
		return Stats{}, fmt.Errorf("loading ship positions: %w", err)
	}
	if sv.Positions == nil {
		sv.Positions = map[string]ingest.Position{}
	}
	s := &shipper{o: o, parser: engine.NewSourceParser(o.Sources), positions: sv.Positions,
		warner: engine.NewRejectWarner(o.Logger, time.Minute, time.Now),
		stats:  Stats{Rejected: engine.Rejects{}}}
	o.Logger.Info().Int("files", len(files)).Int("positions", len(sv.Positions)).Str("topic", o.Topic).
		Str("address_topic", o.AddressTopic).Strs("brokers", o.Brokers).Str("state_dir", o.StateDir).
		Msg("shipping started")
	err = s.run(ctx, files)
	if serr := s.save(); serr != nil && err == nil {
		err = serr
	}
	s.logStop()
	return s.stats, err
}

// filePaths returns the paths and globs of the sources.
func filePaths(sources []engine.Source) ([]string, error) {
	var files []string
	for _, s := range sources {
		for _, p := range s.Paths {
			if p == "-" {
				return nil, errors.New("ship reads files: standard input has no position to resume from")
			}
			if strings.TrimSpace(p) == "" {
				return nil, errors.New("ship reads files: a source has no path (Kafka sources are read by run)")
			}
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, errors.New("ship: no files to read")
	}
	return files, nil
}

// shipper is the state of one Run.
type shipper struct {
	o         Options
	parser    *engine.SourceParser
	warner    *engine.RejectWarner
	positions map[string]ingest.Position
	dirty     bool
	stats     Stats
	// up is whether the last attempt to produce succeeded; down since
	// when it did not, zero when it did.
	up   bool
	down time.Time
}

// errStopped ends the retries of a batch when the shipper is stopped.
var errStopped = errors.New("stopped")

func (s *shipper) run(ctx context.Context, files []string) error {
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	batches := make(chan ingest.Batch, 16)
	errc := make(chan error, 1)
	fo := ingest.FollowOptions{Paths: files, Start: maps.Clone(s.positions), Logger: s.o.Logger,
		PollInterval: s.o.PollInterval, MaxBatch: s.o.MaxBatch}
	go func() { errc <- ingest.Follow(followCtx, fo, batches) }()
	produceCtx, stopProduce := graceContext(ctx, s.o.StopGrace)
	defer stopProduce()
	tick := time.NewTicker(s.o.SaveEvery)
	defer tick.Stop()
	for {
		select {
		case b := <-batches:
			if err := s.ship(ctx, produceCtx, b); err != nil {
				return nilIfStopped(err)
			}
		case <-tick.C:
			if err := s.save(); err != nil {
				// Saving again at the next tick; until then a crash
				// ships more lines twice, none fewer.
				s.o.Logger.Error().Err(err).Msg("saving ship positions")
			}
		case err := <-errc:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

func nilIfStopped(err error) error {
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

// graceContext returns a context that ends grace after parent does, so
// that a stop lets the write in flight be acknowledged and counted.
func graceContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-parent.Done():
		case <-ctx.Done():
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// ship parses a batch, produces its records until the brokers have them
// all, and only then moves the file's position past it.
func (s *shipper) ship(ctx, produceCtx context.Context, b ingest.Batch) error {
	recs, rejects, err := s.parser.Parse(b)
	if err != nil {
		// The formats were checked when the sources were built; this is
		// a bug, and holding the position would only stop the file.
		s.o.Logger.Error().Err(err).Str("source", b.Source).Msg("parsing batch")
		return nil
	}
	msgs, shipped := s.messages(recs, rejects)
	s.count(b, rejects)
	if err := s.produce(ctx, produceCtx, msgs); err != nil {
		return err
	}
	s.stats.Shipped += int64(shipped)
	if b.Pos.Path != "" {
		s.positions[b.Pos.Path] = b.Pos
		s.dirty = true
	}
	if s.o.Progress != nil {
		st := s.stats
		st.Rejected = maps.Clone(st.Rejected)
		s.o.Progress(st)
	}
	return nil
}

func (s *shipper) count(b ingest.Batch, rejects engine.Rejects) {
	s.stats.Lines += int64(len(b.Lines))
	for reason, n := range rejects {
		s.stats.Rejected[reason] += n
	}
	s.warner.Add(b.Source, rejects)
	if b.Gap > 0 {
		// Rare (copytruncate's window, an over-long line) and each one a
		// loss the operator should hear of.
		s.stats.GapBytes += b.Gap
		s.o.Logger.Warn().Str("source", b.Source).Int64("bytes", b.Gap).
			Msg("bytes lost before this point: written between a copy and a truncate, or an over-long line")
	}
}

// ReasonTooLarge counts the records too large to produce: kafka-go
// refuses a message larger than its 1 MiB batch, and brokers one larger
// than message.max.bytes, 1 MiB by default. Retrying such a record would
// stop the file for good.
const ReasonTooLarge = "too_large"

// maxRecordBytes leaves room under the 1 MiB limits for the key and
// kafka-go's accounting.
const maxRecordBytes = 1<<20 - 4<<10

// messages encodes the records into one buffer for the batch, leaving out
// those too large, which it counts in rejects. It returns the messages
// and the number of records they carry. The buffer is not reused: a
// write abandoned at a stop may still read it.
func (s *shipper) messages(recs []ingest.Record, rejects engine.Rejects) ([]kafka.Message, int) {
	var buf []byte
	ends := make([]int, len(recs))
	for i := range recs {
		buf = ingest.AppendShipped(buf, &recs[i])
		ends[i] = len(buf)
	}
	msgs := make([]kafka.Message, 0, len(recs))
	start, n := 0, 0
	for i := range recs {
		r := &recs[i]
		value := buf[start:ends[i]:ends[i]]
		start = ends[i]
		if len(value) > maxRecordBytes {
			rejects[ReasonTooLarge]++
			continue
		}
		n++
		msgs = append(msgs, kafka.Message{Topic: s.o.Topic, Key: tokenKey(r), Value: value})
		if s.o.AddressTopic != "" && r.IP.IsValid() {
			msgs = append(msgs, kafka.Message{Topic: s.o.AddressTopic, Key: []byte(r.IP.String()), Value: value})
		}
	}
	return msgs, n
}

// tokenKey is the key of a request on the token topic: its fingerprint.
// A request without a credential is still shipped, keyed by "ip:" and its
// address, so that the partition of an address holds all its anonymous
// requests: per-address detection needs them. One with neither has a nil
// key, and all such requests share a partition.
func tokenKey(r *ingest.Record) []byte {
	if r.Cred.FP != "" {
		return []byte(r.Cred.FP)
	}
	if r.IP.IsValid() {
		return []byte("ip:" + r.IP.String())
	}
	return nil
}

// produce writes msgs until all are acknowledged, retrying what was not
// with a growing backoff. Nothing is dropped: the file is not read on
// while its batch waits. It returns errStopped when ctx ends first.
func (s *shipper) produce(ctx, produceCtx context.Context, msgs []kafka.Message) error {
	wait := s.o.RetryMin
	for {
		failed, err := s.o.Producer.Produce(produceCtx, msgs)
		if err == nil {
			s.connected()
			return nil
		}
		s.unreachable(err)
		msgs = failed
		if ctx.Err() != nil {
			return errStopped
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errStopped
		}
		wait = min(2*wait, s.o.RetryMax)
	}
}

// connected logs the first acknowledgement, and each after an outage.
func (s *shipper) connected() {
	if s.up {
		return
	}
	ev := s.o.Logger.Info().Strs("brokers", s.o.Brokers)
	if !s.down.IsZero() {
		ev = ev.Str("down_for", time.Since(s.down).Round(time.Millisecond).String())
	}
	ev.Msg("connected to Kafka: shipping")
	s.up, s.down = true, time.Time{}
}

// unreachable logs the start of an outage once, not every retry. The
// cause is most often a broker down or out of reach, sometimes a topic
// that does not exist yet or a refused login: the error says which.
func (s *shipper) unreachable(err error) {
	if !s.down.IsZero() {
		return
	}
	s.up, s.down = false, time.Now()
	s.o.Logger.Warn().Err(err).Strs("brokers", s.o.Brokers).
		Msg("Kafka unreachable or refusing: holding lines and retrying until it acknowledges")
}

// save writes the positions when they moved since the last save.
func (s *shipper) save() error {
	if !s.dirty {
		return nil
	}
	sv := saved{Saved: time.Now().UTC(), Positions: s.positions}
	if err := state.Save(filepath.Join(s.o.StateDir, positionsFile), sv); err != nil {
		return fmt.Errorf("saving ship positions: %w", err)
	}
	s.dirty = false
	return nil
}

func (s *shipper) logStop() {
	s.o.Logger.Info().Int64("lines", s.stats.Lines).Int64("shipped", s.stats.Shipped).
		Int64("rejected", s.stats.Rejected.Total()).Str("rejected_by_reason", s.stats.Rejected.String()).
		Int64("gap_bytes", s.stats.GapBytes).Msg("shipping stopped: positions saved")
}
