package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/evidence"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// RunOptions configure a live run.
type RunOptions struct {
	Options
	Sources            []Source
	StateDir           string
	CheckpointInterval time.Duration
	// Warm lists historical files read, in the first source's format,
	// before following the live ones, when there is no checkpoint yet.
	Warm []string
	// Deliver receives each new alert, and calls recorded once the alert
	// is safely written where it is recorded (stdout, files), from any
	// goroutine (alert.Dispatcher.SendTracked does). Only then is it
	// marked raised in the journal: an alert lost to a crash before that
	// is raised again on restart rather than never written. Deliver is
	// called from the engine's goroutine and must not block.
	Deliver func(a *alert.Alert, recorded func())
	// WaitRecorded, when set, waits until every alert delivered so far is
	// recorded; a checkpoint waits for it, so that it never covers lines
	// whose alerts could still be lost.
	WaitRecorded func(ctx context.Context) error
	// Ready is called once state is restored and sources are open.
	Ready func()
	// Now is the wall clock; time.Now when nil.
	Now func() time.Time
	// QuietAfter is how long sources may be silent before windows are
	// closed by the passing of wall-clock time; default 5s.
	QuietAfter time.Duration
	// Stdin is read for the source "-"; os.Stdin when nil.
	Stdin io.Reader
	// Status, when set, receives the run's counts about once a second,
	// from the engine's own loop: a loop that stops turning stops
	// reporting, which is what a watchdog needs to see.
	Status func(*Status)
	// Retune receives settings to take over while running (a reloaded
	// configuration): labels and detection thresholds. Learned state is
	// kept.
	Retune <-chan Retune
	// Evidence, when set, keeps every alert's evidence in the state
	// directory's evidence log; see EvidenceOptions.
	Evidence *EvidenceOptions
}

func (o *RunOptions) stdin() io.Reader {
	if o.Stdin == nil {
		return os.Stdin
	}
	return o.Stdin
}

// checkpoint is everything a restart needs, saved together so that the
// file positions always match the state that their lines built.
type checkpoint struct {
	Saved     time.Time
	MaxEvent  time.Time
	Positions map[string]ingest.Position
	Features  features.AggState
	Detect    detect.DetState
	Rejects   map[string]detect.RejectState
	// Contracts are the counts of tokens with a declared contract.
	Contracts map[string]detect.ContractState
	// Latest is each source's latest event time, so that after a restart
	// the watermark waits for every source to catch up.
	Latest map[string]time.Time
	// Models names the files of the isolation forest's models.
	Models modelRefs
}

const (
	checkpointFile = "checkpoint"
	journalFile    = "alerts.journal"
)

// Run follows the sources until ctx is done, then saves state and returns.
// The lines since the last checkpoint are read again after a crash; the
// alert journal keeps their alerts from being delivered twice.
func Run(ctx context.Context, opts RunOptions) error {
	r, err := newRunner(opts)
	if err != nil {
		return err
	}
	defer r.close()
	if err := r.warm(ctx); err != nil {
		return err
	}
	defer r.logSummary()
	return r.follow(ctx)
}

// close waits for the checkpoint being written, then releases the
// journal and the state directory.
func (r *runner) close() {
	r.writer.stop()
	r.journal.Close()
	if r.evlog != nil {
		r.evlog.Close()
	}
	r.unlock()
}

// logSummary says, at stop, what this run read per source and raised.
func (r *runner) logSummary() {
	srcs := make(map[string]SourceStats, len(r.core.stats.Sources))
	for name, src := range r.core.stats.Sources {
		srcs[name] = *src
	}
	logSummary(r.log, srcs, r.core.stats.Alerts, r.duplicates)
}

func logSummary(log zerolog.Logger, sources map[string]SourceStats, alerts, repeats int64) {
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		src := sources[name]
		log.Info().Str("source", name).Int64("lines", src.Lines).
			Int64("with_credential", src.WithCred).Int64("rejected", src.Rejected.Total()).
			Str("rejected_by_reason", src.Rejected.String()).Int64("late", src.Late).
			Int64("gap_bytes", src.GapBytes).Msg("read since start")
	}
	log.Info().Int64("alerts", alerts).Int64("repeats_suppressed", repeats).Msg("alerts raised since start")
}

type runner struct {
	opts RunOptions
	log  zerolog.Logger
	core *core
	*gate
	evlog     *evidence.Log // nil unless RunOptions.Evidence
	unlock    func()        // releases the state directory
	positions map[string]ingest.Position
	parsers   *parsers
	restored  bool

	lastArrival time.Time
	applyTime   time.Duration
	writer      *checkpointWriter
	warner      *RejectWarner
	noCredSaid  map[string]bool
}

func newRunner(opts RunOptions) (*runner, error) {
	liveDefaults(&opts.Now, &opts.QuietAfter)
	unlock, j, err := openStateDir(opts.StateDir)
	if err != nil {
		return nil, err
	}
	r := &runner{opts: opts, log: opts.Logger, gate: newGate(j, opts.Logger), unlock: unlock, positions: make(map[string]ingest.Position),
		writer:     newCheckpointWriter(opts.StateDir, opts.Logger),
		noCredSaid: map[string]bool{}}
	r.core = newCore(opts.Options, r.deliver)
	r.core.wallClock = opts.Now
	r.core.clock.enable()
	r.warner = NewRejectWarner(opts.Logger, time.Minute, opts.Now)
	fi := newFormatIndex(opts.Sources)
	r.parsers = newParsers(sourceFormats(opts.Sources), fi.of)
	if err := r.openEvidence(fi); err != nil {
		r.close()
		return nil, err
	}
	if err := r.restore(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// liveDefaults fills the wall clock and the quiet delay of a live run
// when left unset.
func liveDefaults(now *func() time.Time, quietAfter *time.Duration) {
	if *now == nil {
		*now = time.Now
	}
	if *quietAfter <= 0 {
		*quietAfter = 5 * time.Second
	}
}

// openStateDir creates the state directory, holds its lock and opens
// the alert journal in it.
func openStateDir(dir string) (unlock func(), j *state.Journal, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("creating state directory: %w", err)
	}
	if unlock, err = state.Lock(dir); err != nil {
		return nil, nil, err
	}
	if j, err = state.OpenJournal(filepath.Join(dir, journalFile), 0); err != nil {
		unlock()
		return nil, nil, err
	}
	return unlock, j, nil
}

func (r *runner) restore() error {
	var cp checkpoint
	err := state.Load(filepath.Join(r.opts.StateDir, checkpointFile), &cp)
	if errors.Is(err, state.ErrNoCheckpoint) {
		r.log.Info().Str("state_dir", r.opts.StateDir).Msg("no checkpoint: reading sources from their beginning")
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.core.agg.Restore(cp.Features); err != nil {
		return fmt.Errorf("restoring windows from checkpoint: %w", err)
	}
	err = loadModels(r.opts.StateDir, cp.Detect.Forest, cp.Models)
	if err == nil {
		err = r.core.det.Restore(cp.Detect)
	}
	if err != nil && cp.Detect.Forest != nil && (errors.Is(err, detect.ErrForestModel) || errors.Is(err, errModelFile)) {
		// Losing a retrained model costs a retraining, not the baselines.
		r.log.Warn().Err(err).Msg("isolation forest: scoring with the configured model until the next retraining")
		cp.Detect.Forest.DropModels()
		err = r.core.det.Restore(cp.Detect)
	}
	if err != nil {
		return fmt.Errorf("restoring baselines from checkpoint: %w", err)
	}
	r.core.rejects.Restore(cp.Rejects)
	r.core.contracts.Restore(cp.Contracts)
	for src, t := range cp.Latest {
		r.core.clock.latest[src] = t
	}
	r.core.maxEvent = cp.MaxEvent
	r.positions = cp.Positions
	r.restored = true
	r.log.Info().Time("saved", cp.Saved).Time("event_time", cp.MaxEvent).
		Int("files", len(cp.Positions)).Msg("restored checkpoint")
	return nil
}

// deliver passes on an alert not raised before; it is marked raised once
// recorded.
func (r *runner) deliver(a *alert.Alert) {
	r.deliverWith(a, nil)
}

// warm replays historical files before the first live run.
func (r *runner) warm(ctx context.Context) error {
	if len(r.opts.Warm) == 0 || r.restored || len(r.opts.Sources) == 0 {
		return nil
	}
	src := Source{Paths: r.opts.Warm, Format: r.opts.Sources[0].Format}
	ropts := ReplayOptions{Options: r.opts.Options, Sources: []Source{src}}
	start := time.Now()
	stats, err := replayInto(ctx, ropts, r.core)
	if err != nil {
		return fmt.Errorf("warming from history: %w", err)
	}
	lines, rejected, _ := stats.Lines()
	r.log.Info().Int64("lines", lines).Int64("rejected", rejected).
		Dur("took", time.Since(start)).Msg("warmed baselines from history")
	return nil
}

func (r *runner) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan ingest.Batch, 16)
	errc := make(chan error, len(r.opts.Sources)+1)
	r.expectSources()
	inputEnded := r.startSources(ctx, batches, errc)
	r.report()
	if r.opts.Ready != nil {
		r.opts.Ready()
	}

	save := time.NewTicker(r.opts.CheckpointInterval)
	defer save.Stop()
	quiet := time.NewTicker(time.Second)
	defer quiet.Stop()
	for {
		select {
		case b := <-batches:
			r.apply(b)
		case <-save.C:
			r.save()
		case <-quiet.C:
			r.core.tick(r.opts.Now())
			r.advanceQuiet()
			r.report()
		case rt := <-r.opts.Retune:
			r.core.retune(rt)
		case <-inputEnded:
			return r.finishInput(batches)
		case err := <-errc:
			r.saveFinal()
			return err
		case <-ctx.Done():
			return r.saveFinal()
		}
	}
}

// startSources starts a reader per kind of source. The returned channel
// is closed when standard input ends and it was the only source: the
// input is then all there is, as with a pipe from another program.
func (r *runner) startSources(ctx context.Context, out chan<- ingest.Batch, errc chan<- error) <-chan struct{} {
	ended := make(chan struct{})
	var files []string
	stdin := false
	for _, s := range r.opts.Sources {
		for _, p := range s.Paths {
			if p == "-" {
				stdin = true
				continue
			}
			files = append(files, p)
		}
	}
	if len(files) > 0 {
		fo := ingest.FollowOptions{Paths: files, Start: r.positions, Logger: r.log}
		go func() { errc <- ingest.Follow(ctx, fo, out) }()
	}
	if stdin {
		go func() {
			err := ingest.ReadStream(ctx, "-", r.opts.stdin(), out)
			if ctx.Err() != nil {
				return // a stop, not a failure of the input
			}
			if err != nil {
				errc <- fmt.Errorf("reading standard input: %w", err)
				return
			}
			if len(files) == 0 {
				close(ended)
			}
		}()
	}
	return ended
}

// expectSources registers every source known now (from the checkpoint,
// the files the configured paths match, standard input), so that the
// watermark waits for each to deliver, or to stay silent for a while,
// instead of running ahead with whichever is read first.
func (r *runner) expectSources() {
	now := r.opts.Now()
	r.core.clock.now = now
	for src := range r.core.clock.latest {
		r.core.clock.expect(src, now)
	}
	for _, s := range r.opts.Sources {
		for _, p := range s.Paths {
			if p == "-" {
				r.expect(p, now)
				continue
			}
			matches, _ := filepath.Glob(p)
			for _, m := range matches {
				r.expect(filepath.Clean(m), now)
			}
		}
	}
}

// expect registers a source with the watermark, and with the counts so
// that its metrics show from the start, at zero, rather than from its
// first line.
func (r *runner) expect(source string, now time.Time) {
	r.core.clock.expect(source, now)
	r.core.stats.source(source)
}

// finishInput applies the batches still queued once the only input has
// ended, judges the last windows as a replay would, and saves.
func (r *runner) finishInput(batches <-chan ingest.Batch) error {
	for {
		select {
		case b := <-batches:
			r.apply(b)
			continue
		default:
		}
		break
	}
	r.core.flush()
	r.log.Info().Msg("standard input ended")
	return r.saveFinal()
}

// report passes the run's counts to the Status callback.
func (r *runner) report() {
	if r.opts.Status != nil {
		r.opts.Status(r.status())
	}
}

func (r *runner) apply(b ingest.Batch) {
	start := time.Now()
	defer func() { r.applyTime += time.Since(start) }()
	p, err := r.parsers.parse(b)
	if err != nil {
		r.log.Error().Err(err).Str("source", b.Source).Msg("parsing batch")
		return
	}
	r.core.applyParsed(p)
	r.warner.Add(b.Source, p.rejects)
	r.checkCredentials(b.Source)
	if b.Gap > 0 {
		// Rare (copytruncate's window, an over-long line) and each one a
		// loss the operator should hear of.
		r.log.Warn().Str("source", b.Source).Int64("bytes", b.Gap).
			Msg("bytes lost before this point: written between a copy and a truncate, or an over-long line")
	}
	if b.Pos.Path != "" {
		r.positions[b.Pos.Path] = b.Pos
	}
	r.lastArrival = r.opts.Now()
}

// checkCredentials warns, once per source, when a thousand lines were
// read and not one carried a credential: the format or mapping is most
// likely wrong, and every token's traffic is invisible.
func (r *runner) checkCredentials(source string) {
	src := r.core.stats.Sources[source]
	if src == nil || src.WithCred > 0 || src.Lines < 1000 || r.noCredSaid[source] {
		return
	}
	r.noCredSaid[source] = true
	r.log.Warn().Str("source", source).Int64("lines", src.Lines).Int64("rejected", src.Rejected.Total()).
		Msg("no line carried a credential: check the source's format and its mapping's token paths")
}

// advanceQuiet closes windows as wall-clock time passes while every
// source is silent: without it, the last minute before a lull would not be
// judged until the next line arrives. Event time is assumed to move with
// the wall clock from the last line received, but only while the lines are
// live (their event time close to now): after reading a backlog, a pause
// says nothing about event time, and closing windows then would turn
// lines written during a downtime into late ones.
func (r *runner) advanceQuiet() {
	advanceQuiet(r.core, r.lastArrival, r.opts.Now(), r.opts.QuietAfter)
}

func advanceQuiet(c *core, lastArrival, now time.Time, quietAfter time.Duration) {
	if lastArrival.IsZero() {
		return
	}
	idle := now.Sub(lastArrival)
	if idle < quietAfter || now.Sub(c.maxEvent) > liveWithin+idle {
		return
	}
	est := c.maxEvent.Add(idle)
	if est.Before(c.closeAt) {
		return
	}
	c.advance(est.Add(-c.opts.Features.Lateness))
}

// liveWithin is how close to the wall clock the latest event time must
// have been, when the sources fell quiet, for the lines to count as live.
const liveWithin = 10 * time.Minute

// save takes a snapshot of the state and hands it to the checkpoint
// writer, which encodes and syncs it off the loop; unless the last one
// is still being written, in which case the next tick saves.
func (r *runner) save() {
	if r.writer.writing() {
		return
	}
	r.writer.submit(r.snapshot())
}

// saveFinal saves the state and waits until it is on disk, as at a stop.
func (r *runner) saveFinal() error {
	return r.writer.finish(r.snapshot())
}

// snapshot copies everything a restart needs. Waiting for the alerts
// delivered so far to be recorded first means a checkpoint never covers
// lines whose alerts could still be lost.
func (r *runner) snapshot() checkpoint {
	if r.opts.WaitRecorded != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := r.opts.WaitRecorded(ctx)
		cancel()
		if err != nil {
			// Saving anyway: a sink stuck this long would otherwise stop
			// checkpoints altogether.
			r.log.Warn().Err(err).Msg("checkpoint saved with alerts not yet recorded")
		}
	}
	start := time.Now()
	defer func() { r.writer.held(time.Since(start)) }()
	return checkpoint{
		Saved:     r.opts.Now().UTC(),
		MaxEvent:  r.core.maxEvent,
		Positions: maps.Clone(r.positions),
		Features:  r.core.agg.Snapshot(),
		Detect:    r.core.det.Snapshot(),
		Rejects:   r.core.rejects.Snapshot(),
		Contracts: r.core.contracts.Snapshot(),
		Latest:    maps.Clone(r.core.clock.latest),
	}
}
