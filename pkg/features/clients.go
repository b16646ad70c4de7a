package features

import "net/netip"

// maxClients bounds the clients (user agents) a token window keeps counts
// for. A token's traffic comes from one or two clients; the requests of
// any beyond the first few are counted together, as clients the window
// could not tell apart.
const maxClients = 4

// clientSet counts a token window's requests per client, by a hash of the
// user agent.
type clientSet struct {
	h     [maxClients]uint64
	reqs  [maxClients]float64
	n     int
	other float64 // requests of clients past the first maxClients
}

func (c *clientSet) add(h uint64, reqs float64) {
	for i := range c.n {
		if c.h[i] == h {
			c.reqs[i] += reqs
			return
		}
	}
	if c.n < maxClients {
		c.h[c.n], c.reqs[c.n] = h, reqs
		c.n++
		return
	}
	c.other += reqs
}

// ClientHash is the hash by which windows tell clients apart: a fixed
// function of the user agent, the same in every run, so that what a
// detector learns of a token's clients survives a restart. Digits and
// dots are left out, so that "mailapi-php/2.8.4" and "mailapi-php/2.9.0" are one
// client: a tenant upgrading its library is not a new client.
func ClientHash(ua string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(ua); i++ {
		if c := ua[i]; (c < '0' || c > '9') && c != '.' {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	return mix64(h)
}

// EachClient calls fn for each client (user agent, by ClientHash) of a
// token window, with its requests, weighted. Requests of clients past the
// first few are passed once with hash 0: a caller should treat them as
// coming from a client it does not know.
func (w *Window) EachClient(fn func(h uint64, reqs float64)) {
	c := &w.clients
	for i := range c.n {
		fn(c.h[i], c.reqs[i])
	}
	if c.other > 0 {
		fn(0, c.other)
	}
}

// EachPeerAddr calls fn for each tracked address of a token window with
// its requests, weighted. With more than 64 addresses in one window the
// counts are approximate, as for TopPeers.
func (w *Window) EachPeerAddr(fn func(addr netip.Addr, reqs float64)) {
	if w.Kind != Token {
		return
	}
	for i := range w.peers.top {
		p := &w.peers.top[i]
		fn(p.addr, p.reqs)
	}
}
