package features

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

const (
	// smallPeers is how many distinct peers a window holds in a plain
	// slice; most windows never see more, and a linear scan of a few
	// hashes is cheaper than a map.
	smallPeers = 16
	// maxTracked bounds the peers a window keeps counts for. Beyond it
	// the window only remembers the hashes of the others (for the
	// distinct count), and the least active tracked peer makes room for
	// a newcomer (the space-saving algorithm), so any peer with more than
	// 1/maxTracked of the window's traffic stays tracked.
	maxTracked = 64
	// maxIndexed bounds the hashes a window remembers for its distinct
	// count. Past it, a peer dropped from the tracked ones is forgotten,
	// and counted again if it comes back: the count becomes an upper
	// bound, but only far above any threshold (tens), and one address
	// sending millions of random tokens in a minute costs a window 1024
	// hashes, not millions.
	maxIndexed = 1024
)

// peer is one tracked peer of a window: an address of a token window or a
// fingerprint of an ip window.
type peer struct {
	h    uint64
	fp   string
	addr netip.Addr
	msgs float64
	reqs float64
}

// above reports whether p ranks before q in TopPeers: more messages, then
// more requests.
func (p *peer) above(q *peer) bool {
	if p.msgs != q.msgs {
		return p.msgs > q.msgs
	}
	return p.reqs > q.reqs
}

// peerSet counts distinct peers by a 64-bit hash and keeps per-peer counts
// for at most maxTracked of them.
type peerSet struct {
	top []peer
	// idx maps every hash seen to its index in top, or -1 when it is not
	// tracked; nil until the window has more than smallPeers peers.
	idx map[uint64]int32
	n   int
}

func (s *peerSet) reset() {
	s.top = s.top[:0]
	s.n = 0
	if s.idx == nil {
		return
	}
	// A map that grew for a scanning address would pin its memory in
	// the free list for good: let such a map go.
	if len(s.idx) > 4*maxTracked {
		s.idx = nil
		return
	}
	clear(s.idx)
}

// add counts msgs and reqs for the peer p (whose counts are ignored).
func (s *peerSet) add(p peer, msgs, reqs float64) {
	if s.idx == nil {
		for i := range s.top {
			if s.top[i].h == p.h {
				s.top[i].msgs += msgs
				s.top[i].reqs += reqs
				return
			}
		}
		if len(s.top) < smallPeers {
			p.msgs, p.reqs = msgs, reqs
			s.top = append(s.top, p)
			s.n++
			return
		}
		s.index()
	}
	s.addIndexed(p, msgs, reqs)
}

func (s *peerSet) index() {
	s.idx = make(map[uint64]int32, 2*smallPeers)
	for i := range s.top {
		s.idx[s.top[i].h] = int32(i)
	}
}

func (s *peerSet) addIndexed(p peer, msgs, reqs float64) {
	i, seen := s.idx[p.h]
	if seen && i >= 0 {
		s.top[i].msgs += msgs
		s.top[i].reqs += reqs
		return
	}
	if !seen {
		s.n++
	}
	if len(s.top) < maxTracked {
		p.msgs, p.reqs = msgs, reqs
		s.idx[p.h] = int32(len(s.top))
		s.top = append(s.top, p)
		return
	}
	// Space-saving: the newcomer takes the least peer's slot and its
	// counts, which overestimates the newcomer but never loses a heavy
	// peer.
	j := s.least()
	if len(s.idx) >= maxIndexed {
		delete(s.idx, s.top[j].h)
	} else {
		s.idx[s.top[j].h] = -1
	}
	p.msgs = s.top[j].msgs + msgs
	p.reqs = s.top[j].reqs + reqs
	s.top[j] = p
	s.idx[p.h] = int32(j)
}

// least returns the index of the lowest ranked tracked peer, the first
// one on ties so that the choice does not depend on anything but order.
func (s *peerSet) least() int {
	j := 0
	for i := 1; i < len(s.top); i++ {
		if s.top[j].above(&s.top[i]) {
			j = i
		}
	}
	return j
}

func (s *peerSet) name(p *peer) string {
	if p.fp != "" {
		return p.fp
	}
	return p.addr.String()
}

// topPeers returns the names of the n highest ranked peers, ties broken
// by name.
func (s *peerSet) topPeers(n int) []string {
	if n <= 0 || len(s.top) == 0 {
		return nil
	}
	type named struct {
		p    *peer
		name string
	}
	all := make([]named, len(s.top))
	for i := range s.top {
		all[i] = named{&s.top[i], s.name(&s.top[i])}
	}
	slices.SortFunc(all, func(a, b named) int {
		if a.p.above(b.p) {
			return -1
		}
		if b.p.above(a.p) {
			return 1
		}
		return cmp.Compare(a.name, b.name)
	})
	out := make([]string, min(n, len(all)))
	for i := range out {
		out[i] = all[i].name
	}
	return out
}

// mix64 is the splitmix64 finaliser: cheap, and spreads nearby inputs
// (consecutive addresses) over the whole hash space.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashAddr hashes an address without allocating. A fixed function (no
// random seed) keeps hash collisions, however unlikely, reproducible.
func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	return mix64(hi ^ mix64(lo))
}

// hashString is FNV-1a followed by a final mix.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}
