package detect

import (
	"net/netip"
	"time"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// NoveltyOptions configures the "novelty" detector, which alerts when a
// token with an established profile is used from a network and with a
// client it has never used, whatever the volume. A stolen key replayed
// from an attacker's machine pulls at ordinary volume as easily as in
// bulk; what gives it away is where and with what it is used.
type NoveltyOptions struct {
	// Off turns the detector off.
	Off bool
	// After is how long a token must have been known before its networks
	// and clients are judged. Default 24h: a day of use teaches a token's
	// servers and clients, and a new tenant's first day is all new.
	After time.Duration
	// Share is the share of a window's requests that must be new in both
	// network and client. Default 0.5: most of the window came from
	// someone else, not one odd request beside the token's usual traffic.
	Share float64
}

func (o NoveltyOptions) withDefaults() NoveltyOptions {
	setDur(&o.After, 24*time.Hour)
	setF(&o.Share, 0.5)
	return o
}

// noveltyFeature names what the detector judges: the share of a window's
// requests from a network and a client both new to the token.
const noveltyFeature = "new_network_and_client"

// alertedEpisode reports whether e is in an incident that a per-feature
// detector has alerted on: its windows are that alert's, and a second
// alert about the same traffic would say nothing new.
func (d *Detector) alertedEpisode(e *entity) bool {
	for _, ep := range e.ep {
		if ep.alerted() {
			return true
		}
	}
	return false
}

// judgeNovelty returns a finding when c's window came mostly from a
// network and a client new to its token. A new network alone is a tenant
// moving to new servers, a new client alone an upgrade; both at once is
// someone else holding the key. Windows already found anomalous by volume,
// or part of an incident that alerted, are left to that alert, which
// names the addresses.
func (d *Detector) judgeNovelty(c *closing) *Finding {
	e, w := c.e, c.w
	if !d.noveltyJudges(e, w) || c.anomalous != 0 || d.alertedEpisode(e) {
		return nil
	}
	nets, clients := e.prof.newShares(w)
	share := min(nets, clients)
	o := d.opts.Novelty
	if share < o.Share {
		return nil
	}
	at := w.Last.UnixNano()
	if e.nep != nil && e.nep.inCooldown(at, d.cooldown) {
		return nil
	}
	e.nep = &EpisodeState{LastAlert: at, Since: w.Start.UnixNano(), Severity: sevWarning, Worst: sevWarning, Hint: w.Hint}
	// The alert told of this network and client; the same party using the
	// key at its owner's pace for hours is the same incident, not one
	// alert per cooldown. Another new party still alerts.
	e.prof.establish(w)
	return &Finding{
		Kind: w.Kind, Key: w.Key, Hint: w.Hint,
		Detector:    "novelty",
		Feature:     noveltyFeature,
		Observed:    share,
		Expected:    float64(e.prof.Novelty),
		Threshold:   o.Share,
		Score:       share / o.Share,
		Severity:    severityName(sevWarning),
		WindowStart: w.Start, WindowEnd: w.End, At: w.Last,
		Since:    w.Start,
		TopPeers: w.TopPeers(d.opts.TopPeers),
		Judged:   d.judged(e, w),
	}
}

// noveltyJudges reports whether e's window w is judged for novelty: a
// ready token, known for Novelty.After, whose profile holds at least one
// established network and one established client to compare with.
func (d *Detector) noveltyJudges(e *entity, w *features.Window) bool {
	o := d.opts.Novelty
	if o.Off || w.Kind != features.Token || e.thrDet != detEWMA || e.prof == nil {
		return false
	}
	if w.Start.UnixNano()-e.first < int64(o.After) {
		return false
	}
	return e.prof.established()
}

// establish makes w's networks and clients the token's own at once.
func (p *profile) establish(w *features.Window) {
	now := uint32(w.End.Unix() / 60)
	w.EachPeerAddr(func(a netip.Addr, _ float64) {
		seeAs(p.Nets[:], netHash(a), now, knownAfter)
	})
	w.EachClient(func(h uint64, _ float64) {
		if h != 0 {
			seeAs(p.Clients[:], h, now, knownAfter)
		}
	})
}

// established reports whether the profile knows a network and a client.
func (p *profile) established() bool {
	return anyKnown(p.Nets[:]) && anyKnown(p.Clients[:])
}

func anyKnown(s []sighting) bool {
	for i := range s {
		if s[i].Windows >= knownAfter {
			return true
		}
	}
	return false
}

// profiles reports whether tokens' profiles are kept: the isolation
// forest and the novelty detector both read them.
func (d *Detector) profiles() bool {
	return d.forest.active() || !d.opts.Novelty.Off
}
