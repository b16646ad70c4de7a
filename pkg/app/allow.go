package app

import (
	"net/netip"
	"sync/atomic"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/config"
)

// allowlist holds back the alerts of allowlisted entities. It is swapped
// whole on a reload, and read by the engine's loop.
type allowlist struct {
	cur     atomic.Pointer[allowed]
	skipped atomic.Int64
}

type allowed struct {
	tokens map[string]bool
	nets   []netip.Prefix
}

func newAllowlist(a config.Allow) *allowlist {
	l := &allowlist{}
	l.set(a)
	return l
}

func (l *allowlist) set(a config.Allow) {
	al := &allowed{tokens: make(map[string]bool, len(a.Tokens)), nets: a.Prefixes()}
	for _, fp := range a.Tokens {
		al.tokens[fp] = true
	}
	l.cur.Store(al)
}

// holds reports whether a is about an allowlisted entity, and counts it.
func (l *allowlist) holds(a *alert.Alert) bool {
	al := l.cur.Load()
	hit := false
	switch a.Entity {
	case alert.EntityToken:
		hit = al.tokens[a.Key]
	case alert.EntityIP:
		if addr, err := netip.ParseAddr(a.Key); err == nil {
			for _, p := range al.nets {
				if p.Contains(addr.Unmap()) || p.Contains(addr) {
					hit = true
					break
				}
			}
		}
	}
	if hit {
		l.skipped.Add(1)
	}
	return hit
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
