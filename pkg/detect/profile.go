package detect

import (
	"net/netip"

	"github.com/sentinel-project/sentinel/pkg/features"
)

// A token's profile is what the isolation forest needs beyond the
// per-feature baselines: the networks and clients it is used from, and
// the hours of the day it is busy. It is small and fixed in size, so a
// token costs the same whatever its history.
const (
	maxNets    = 8
	maxClients = 4
	// knownAfter is how many windows a network or client must have been
	// seen in, since it last took a place in the profile, before it is the
	// token's own. A tenant that moves to new servers, or an attacker,
	// looks new for that many busy minutes: long enough to alert, short
	// enough that a move does not alert for good.
	knownAfter = 5
	// hourCap bounds the per-hour counts: when one reaches it, all are
	// halved, so the profile follows a tenant whose hours change.
	hourCap = 255
)

// sighting is a network or client of a token: its hash, how many of the
// token's windows it was seen in (up to knownAfter), and the end of the
// last, in minutes since the epoch.
type sighting struct {
	H       uint64
	Windows uint16
	Last    uint32
}

// profile is a token's networks, clients and busy hours.
type profile struct {
	Nets    [maxNets]sighting
	Clients [maxClients]sighting
	Hours   [24]uint8
	// Novelty is a decaying mean of the share of the token's requests
	// that came from networks it did not know: high for a token used from
	// roaming clients, near zero for one behind fixed servers.
	Novelty float32
}

// netHash hashes an address's network: the /24 of an IPv4 address, the
// /48 of an IPv6 one. Addresses of one provider's pool count as one
// network, so a client whose address changes within it is not new.
func netHash(a netip.Addr) uint64 {
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return 0
	}
	b := p.Addr().As16()
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// find returns the index of h in s, or -1.
func find(s []sighting, h uint64) int {
	for i := range s {
		if s[i].Windows > 0 && s[i].H == h {
			return i
		}
	}
	return -1
}

// known reports whether h is an established network or client.
func known(s []sighting, h uint64) bool {
	i := find(s, h)
	return i >= 0 && s[i].Windows >= knownAfter
}

// see counts one window's sighting of h at minute now. When the set is
// full the sighting seen least recently gives way, the first on ties, so
// what is kept depends on nothing but the order of windows.
func see(s []sighting, h uint64, now uint32) { seeAs(s, h, now, 1) }

// seeAs counts n windows' sightings of h at minute now.
func seeAs(s []sighting, h uint64, now uint32, n uint16) {
	if i := find(s, h); i >= 0 {
		s[i].Windows = min(s[i].Windows+n, knownAfter)
		s[i].Last = now
		return
	}
	j := 0
	for i := range s {
		if s[i].Windows == 0 {
			j = i
			break
		}
		if s[i].Last < s[j].Last {
			j = i
		}
	}
	s[j] = sighting{H: h, Windows: min(n, knownAfter), Last: now}
}

// newShares returns the shares of w's requests from networks and from
// clients the token does not know yet.
func (p *profile) newShares(w *features.Window) (nets, clients float64) {
	total := w.V[features.Requests]
	if total <= 0 {
		return 0, 0
	}
	var newNet, tracked float64
	w.EachPeerAddr(func(a netip.Addr, reqs float64) {
		tracked += reqs
		if !known(p.Nets[:], netHash(a)) {
			newNet += reqs
		}
	})
	var newClient float64
	w.EachClient(func(h uint64, reqs float64) {
		if h == 0 || !known(p.Clients[:], h) {
			newClient += reqs
		}
	})
	if tracked == 0 {
		// No address at all: nothing says the network is new.
		return 0, min(newClient/total, 1)
	}
	return min(newNet/tracked, 1), min(newClient/total, 1)
}

// hourRarity returns how rarely the token was busy in the hour of day
// of start, Unix ns: 0 for its busiest hour, 1 for an hour it was never
// busy in.
func (p *profile) hourRarity(start int64) float64 {
	top := uint8(0)
	for _, c := range p.Hours {
		top = max(top, c)
	}
	if top == 0 {
		return 0
	}
	return 1 - float64(p.Hours[hourOf(start)])/float64(top)
}

func hourOf(ns int64) int {
	const hour = int64(3600e9)
	h := (ns / hour) % 24
	if h < 0 {
		h += 24
	}
	return int(h)
}

// learn takes w's networks, clients and hour into the profile. novelty
// is the window's new-network share.
func (p *profile) learn(w *features.Window, novelty float64) {
	now := uint32(w.End.Unix() / 60)
	w.EachPeerAddr(func(a netip.Addr, _ float64) {
		see(p.Nets[:], netHash(a), now)
	})
	w.EachClient(func(h uint64, _ float64) {
		if h != 0 {
			see(p.Clients[:], h, now)
		}
	})
	h := hourOf(w.Start.UnixNano())
	if p.Hours[h] == hourCap {
		for i := range p.Hours {
			p.Hours[i] /= 2
		}
	}
	p.Hours[h]++
	const keep = 0.99 // a time constant of about a hundred busy windows
	p.Novelty = float32(keep*float64(p.Novelty) + (1-keep)*novelty)
}
