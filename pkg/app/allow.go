package app

import (
	"sync/atomic"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/silence"
)

// allowlist holds back the alerts of allowlisted entities. It is swapped
// whole on a reload, and read by the engine's loop.
type allowlist struct {
	cur     atomic.Pointer[silence.Scope]
	skipped atomic.Int64
}

func newAllowlist(a config.Allow) *allowlist {
	l := &allowlist{}
	l.set(a)
	return l
}

func (l *allowlist) set(a config.Allow) {
	l.cur.Store(&silence.Scope{Tokens: a.Tokens, Nets: a.Prefixes()})
}

// holds reports whether a is about an allowlisted entity, and counts it.
func (l *allowlist) holds(a *alert.Alert) bool {
	if !l.cur.Load().Covers(a) {
		return false
	}
	l.skipped.Add(1)
	return true
}

// holdBack passes an alert on to next unless holds says it is held back;
// a held-back alert is marked recorded at once, so that it is not raised
// again after a restart.
func holdBack(holds func(*alert.Alert) bool, next func(*alert.Alert, func())) func(*alert.Alert, func()) {
	return func(a *alert.Alert, recorded func()) {
		if holds(a) {
			recorded()
			return
		}
		next(a, recorded)
	}
}

// Skipped is how many alerts were held back.
func (l *allowlist) Skipped() int64 { return l.skipped.Load() }
