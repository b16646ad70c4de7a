package features

import (
	"net/netip"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Window holds the counts of one entity over one window of event time.
//
// The Aggregator reuses Window objects: a *Window returned by Add is valid
// until the next call to Advance, and one passed to Advance's emit
// function only during that call. Copy what must outlive it.
type Window struct {
	Kind Kind
	Key  string // token fingerprint, or address string
	Hint string // token hint, last seen; empty for an address
	// Start and End bound the window: Start <= event time < End.
	Start, End time.Time
	V          Vector // counts so far, weighted by Record.Weight
	// MaxMessages is the most messages any one record of the window
	// returned, unweighted: the page size the client pulls with. Counts
	// of messages come in requests of up to that many, which is what
	// their spread depends on.
	MaxMessages float64
	// First and Last are the earliest and latest event times of the
	// records counted so far.
	First, Last time.Time
	// Marks belongs to the window's consumer: the aggregator zeroes it
	// when the window opens, never reads it, and keeps it in snapshots.
	// The detector notes there which features it already reported early.
	Marks uint32
	// Ref belongs to the window's consumer too: the aggregator sets it to
	// nil when the window opens and never keeps it in snapshots. The
	// detector keeps there the entity's state, so that judging a record
	// needs no lookup.
	Ref any

	addr  netip.Addr // the address of an ip window
	start int64      // Start in Unix nanoseconds
	end   int64      // End in Unix nanoseconds
	hkey  winKey     // the window's key in Aggregator.open
	next  *Window    // the next open window with the same hkey
	fresh bool       // of an entity Options.Known did not know: counts against MaxNew
	peers peerSet
	// clients counts a token window's requests per user agent.
	clients clientSet
}

// TopPeers returns up to n peers, addresses for a token window and token
// fingerprints for an ip window, with the most messages, then the most
// requests, ties broken by name. In a window with more than 64 peers the
// counts of peers that arrived late are approximate (overestimated).
func (w *Window) TopPeers(n int) []string {
	return w.peers.topPeers(n)
}

// open prepares a recycled or new window.
func (w *Window) open(k Kind, key string, start, size int64) {
	peers := w.peers
	peers.reset()
	*w = Window{
		Kind:  k,
		Key:   key,
		start: start,
		end:   start + size,
		peers: peers,
	}
	w.Start = time.Unix(0, start).UTC()
	w.End = time.Unix(0, start+size).UTC()
}

// add counts r with weight wt.
func (w *Window) add(r *ingest.Record, wt float64) {
	switch {
	case w.V[Requests] == 0:
		w.First, w.Last = r.Time, r.Time
	case r.Time.Before(w.First):
		w.First = r.Time
	case r.Time.After(w.Last):
		w.Last = r.Time
	}
	w.V[Requests] += wt
	w.V[Messages] += float64(r.Messages) * wt
	w.MaxMessages = max(w.MaxMessages, float64(r.Messages))
	w.V[Bytes] += float64(r.Bytes) * wt
	if r.Status >= 400 && r.Status != 401 {
		w.V[Errors] += wt
	}
	if r.Status == 401 || r.Status == 403 {
		w.V[Unauthorized] += wt
	}
}

// addPeer counts the peer p for the record r with weight wt.
func (w *Window) addPeer(p peer, r *ingest.Record, wt float64) {
	w.peers.add(p, float64(r.Messages)*wt, wt)
	w.V[Peers] = float64(w.peers.n)
}
