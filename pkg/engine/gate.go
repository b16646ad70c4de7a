package engine

import (
	"sync"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/state"
)

// gate lets through each alert id once: the journal remembers the ids
// recorded by earlier runs, and inflight those delivered in this run but
// not yet recorded, so lines read again after a crash raise nothing new.
type gate struct {
	journal *state.Journal
	log     zerolog.Logger
	// duplicates counts the repeats suppressed; it is touched only from
	// the engine's goroutine.
	duplicates int64

	mu       sync.Mutex
	inflight map[string]bool
}

func newGate(j *state.Journal, log zerolog.Logger) *gate {
	return &gate{journal: j, log: log, inflight: map[string]bool{}}
}

// fresh reports whether the alert id was not raised before, and marks
// it in flight when so.
func (g *gate) fresh(id string) bool {
	g.mu.Lock()
	repeat := g.inflight[id] || g.journal.Seen(id)
	if !repeat {
		g.inflight[id] = true
	}
	g.mu.Unlock()
	if repeat {
		g.duplicates++
	}
	return !repeat
}

// recorded marks an alert raised; it runs on a sink's goroutine.
func (g *gate) recorded(id string) {
	if _, err := g.journal.Record(id); err != nil {
		// The alert is written; a repeat after a crash is the worst case.
		g.log.Error().Err(err).Msg("recording alert in journal")
	}
	g.mu.Lock()
	delete(g.inflight, id)
	g.mu.Unlock()
}
