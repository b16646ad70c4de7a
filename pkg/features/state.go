package features

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// AggState is an Aggregator's state, open windows included, in a form
// encoding/gob can carry across a restart.
type AggState struct {
	Window       time.Duration
	Watermark    time.Time // meaningful when HasWatermark
	HasWatermark bool
	Late         int64
	Windows      []WindowState // in order of End, Kind, Key
	// Overflow and Refused are the records refused by MaxNew: in total
	// per kind, and per window end not yet taken (see TakeRefused).
	Overflow [NumKinds]int64
	Refused  []Refusal
}

// WindowState is an open window in an AggState.
type WindowState struct {
	Kind        Kind
	Key, Hint   string
	Start       time.Time
	V           Vector
	MaxMessages float64
	First, Last time.Time
	Marks       uint32
	// Fresh marks the window of an entity Options.Known did not know,
	// which counts against MaxNew.
	Fresh bool
	Peers []PeerState // tracked peers, in the window's order
	// Untracked holds the hashes of peers seen but no longer tracked,
	// sorted, so the distinct count survives the restart.
	Untracked []uint64
	// Forgotten counts the distinct peers seen past the index's bound
	// (maxIndexed), whose hashes were let go.
	Forgotten int
	// Clients holds a token window's requests per client hash (see
	// ClientHash), and OtherClients those of clients past the first few.
	Clients      []ClientState
	OtherClients float64
}

// ClientState is one client of a token window in a WindowState.
type ClientState struct {
	Hash     uint64
	Requests float64
}

// PeerState is a tracked peer of a window: Name is an address for a token
// window and a fingerprint for an ip window.
type PeerState struct {
	Hash               uint64
	Name               string
	Messages, Requests float64
}

// Snapshot returns a copy of the aggregator's state.
func (a *Aggregator) Snapshot() AggState {
	s := AggState{Window: a.opts.Window, HasWatermark: a.hasWM, Late: a.late,
		Overflow: a.overflow, Refused: slices.Clone(a.refused)}
	if a.hasWM {
		s.Watermark = time.Unix(0, a.wm).UTC()
	}
	open := make([]*Window, 0, a.Open())
	for _, head := range a.open {
		for w := head; w != nil; w = w.next {
			open = append(open, w)
		}
	}
	slices.SortFunc(open, compareWindows)
	s.Windows = make([]WindowState, len(open))
	for i, w := range open {
		s.Windows[i] = w.state()
	}
	return s
}

func (w *Window) state() WindowState {
	s := WindowState{
		Kind: w.Kind, Key: w.Key, Hint: w.Hint, Start: w.Start,
		V: w.V, MaxMessages: w.MaxMessages, First: w.First, Last: w.Last, Marks: w.Marks,
		Fresh: w.fresh, Peers: make([]PeerState, len(w.peers.top)),
	}
	for i := range w.peers.top {
		p := &w.peers.top[i]
		s.Peers[i] = PeerState{p.h, w.peers.name(p), p.msgs, p.reqs}
	}
	for h, i := range w.peers.idx {
		if i < 0 {
			s.Untracked = append(s.Untracked, h)
		}
	}
	slices.Sort(s.Untracked)
	s.Forgotten = w.peers.n - len(w.peers.top) - len(s.Untracked)
	for i := range w.clients.n {
		s.Clients = append(s.Clients, ClientState{w.clients.h[i], w.clients.reqs[i]})
	}
	s.OtherClients = w.clients.other
	return s
}

// Restore replaces the aggregator's state by s. It fails, leaving the
// aggregator empty, when s was taken with another window size or holds an
// address or window that cannot be read back.
func (a *Aggregator) Restore(s AggState) error {
	*a = *New(a.opts)
	if len(s.Windows) > 0 && s.Window != a.opts.Window {
		return fmt.Errorf("restoring windows: saved with window %v, configured %v",
			s.Window, a.opts.Window)
	}
	for i := range s.Windows {
		if err := a.restoreWindow(&s.Windows[i]); err != nil {
			*a = *New(a.opts)
			return fmt.Errorf("restoring window %d: %w", i, err)
		}
	}
	a.late = s.Late
	a.overflow = s.Overflow
	for _, r := range s.Refused {
		r.end = r.End.UnixNano()
		a.refused = append(a.refused, r)
	}
	a.hasWM = s.HasWatermark
	if s.HasWatermark {
		a.wm = s.Watermark.UnixNano()
	}
	return nil
}

func (a *Aggregator) restoreWindow(s *WindowState) error {
	start := s.Start.UnixNano()
	if floorTo(start, a.size) != start {
		return fmt.Errorf("start %v is not aligned to %v", s.Start, a.opts.Window)
	}
	w := new(Window)
	w.open(s.Kind, s.Key, start, a.size)
	w.Hint, w.V, w.First, w.Last, w.Marks = s.Hint, s.V, s.First, s.Last, s.Marks
	w.MaxMessages = s.MaxMessages
	if err := w.restorePeers(s); err != nil {
		return err
	}
	if len(s.Clients) > maxClients {
		return fmt.Errorf("%d clients, at most %d are kept", len(s.Clients), maxClients)
	}
	for _, c := range s.Clients {
		w.clients.add(c.Hash, c.Requests)
	}
	w.clients.other = s.OtherClients
	switch s.Kind {
	case Token:
		a.link(makeKey(hashString(s.Key), start), w)
	case IP:
		addr, err := netip.ParseAddr(s.Key)
		if err != nil {
			return fmt.Errorf("parsing address: %w", err)
		}
		w.addr = addr
		a.link(makeKey(hashAddr(addr)^ipSalt, start), w)
	default:
		return fmt.Errorf("unknown kind %d", s.Kind)
	}
	a.markFresh(w, s.Fresh)
	a.track(w)
	return nil
}

func (w *Window) restorePeers(s *WindowState) error {
	ps := &w.peers
	for _, p := range s.Peers {
		q := peer{h: p.Hash, msgs: p.Messages, reqs: p.Requests}
		if w.Kind == IP {
			q.fp = p.Name
		} else {
			addr, err := netip.ParseAddr(p.Name)
			if err != nil {
				return fmt.Errorf("parsing peer address: %w", err)
			}
			q.addr = addr
		}
		ps.top = append(ps.top, q)
	}
	ps.n = len(ps.top) + len(s.Untracked) + s.Forgotten
	if ps.n <= smallPeers {
		return nil
	}
	ps.index()
	for _, h := range s.Untracked {
		ps.idx[h] = -1
	}
	return nil
}
