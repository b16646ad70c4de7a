package engine

import (
	"time"

	"github.com/rs/zerolog"
)

// RejectWarner logs rejected lines per source at most once per interval,
// with the counts since its last line, so a source that turns bad is
// visible at once without a log line per bad line. It is not safe for
// concurrent use.
type RejectWarner struct {
	log      zerolog.Logger
	every    time.Duration
	now      func() time.Time
	pending  map[string]Rejects
	lastSaid map[string]time.Time
}

// NewRejectWarner returns a warner that logs to log at most once per
// every per source.
func NewRejectWarner(log zerolog.Logger, every time.Duration, now func() time.Time) *RejectWarner {
	return &RejectWarner{log: log, every: every, now: now, pending: map[string]Rejects{}, lastSaid: map[string]time.Time{}}
}

// Add counts a batch's rejects and logs when the source's interval has
// passed since it last logged.
func (w *RejectWarner) Add(source string, r Rejects) {
	if len(r) == 0 {
		return
	}
	p := w.pending[source]
	if p == nil {
		p = make(Rejects)
		w.pending[source] = p
	}
	p.add(r)
	now := w.now()
	if now.Sub(w.lastSaid[source]) < w.every {
		return
	}
	w.lastSaid[source] = now
	ev := w.log.Warn().Str("source", source).Int64("rejected", p.Total())
	for reason, n := range p {
		ev = ev.Int64("reason_"+reason, n)
	}
	ev.Str("over", w.every.String()).Msg("rejected lines that could not be parsed")
	delete(w.pending, source)
}
