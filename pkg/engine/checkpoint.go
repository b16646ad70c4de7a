package engine

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/state"
)

// checkpointWriter writes checkpoints on a goroutine of its own: encoding
// and syncing a few hundred thousand entities takes seconds, and the
// engine's loop must go on applying lines and pinging the watchdog
// meanwhile. Snapshots are taken on the loop, so each is consistent; if
// one is still being written when the next comes, the next waits, and a
// third replaces it: only the newest matters.
type checkpointWriter struct {
	dir  string
	log  zerolog.Logger
	work chan checkpoint // holds at most the one waiting
	done chan struct{}   // closed when the goroutine has returned
	once sync.Once       // closes work
	busy atomic.Bool     // a checkpoint is being written

	mu      sync.Mutex
	stats   Checkpoints
	lastErr error
}

func newCheckpointWriter(dir string, log zerolog.Logger) *checkpointWriter {
	w := &checkpointWriter{dir: dir, log: log, work: make(chan checkpoint, 1), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *checkpointWriter) run() {
	defer close(w.done)
	for cp := range w.work {
		w.busy.Store(true)
		w.write(cp)
		w.busy.Store(false)
	}
}

// writing reports whether a checkpoint is being written: a periodic save
// then waits for the next tick rather than copying the state a second
// time, which would cost the loop the copy and memory a third copy.
func (w *checkpointWriter) writing() bool { return w.busy.Load() || len(w.work) > 0 }

// submit queues cp, replacing a snapshot still waiting.
func (w *checkpointWriter) submit(cp checkpoint) {
	select {
	case <-w.work:
	default:
	}
	w.work <- cp
}

// finish writes cp after anything queued, stops the writer and returns
// the error of that last write.
func (w *checkpointWriter) finish(cp checkpoint) error {
	w.submit(cp)
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// stop waits for what is queued to be written and ends the goroutine.
func (w *checkpointWriter) stop() {
	w.once.Do(func() { close(w.work) })
	<-w.done
}

func (w *checkpointWriter) write(cp checkpoint) {
	start := time.Now()
	refs, err := storeModels(w.dir, cp.Detect.Forest)
	if err == nil {
		cp.Models = refs
		err = state.Save(filepath.Join(w.dir, checkpointFile), cp)
	}
	w.mu.Lock()
	w.lastErr = err
	if err != nil {
		w.stats.Failed++
	} else {
		w.stats.Last, w.stats.Took = cp.Saved, time.Since(start)
		if fi, err := os.Stat(filepath.Join(w.dir, checkpointFile)); err == nil {
			w.stats.Bytes = fi.Size()
		}
	}
	w.mu.Unlock()
	if err != nil {
		w.log.Error().Err(err).Msg("saving checkpoint")
		return
	}
	if err := pruneModels(w.dir, refs); err != nil {
		w.log.Warn().Err(err).Msg("removing the models of earlier checkpoints")
	}
}

// held records how long the last snapshot held the loop.
func (w *checkpointWriter) held(d time.Duration) {
	w.mu.Lock()
	w.stats.Held = d
	w.mu.Unlock()
}

// counts returns how saving has gone so far.
func (w *checkpointWriter) counts() Checkpoints {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}
