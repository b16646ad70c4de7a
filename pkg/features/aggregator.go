package features

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Options configures an Aggregator. Zero values take the defaults.
type Options struct {
	// Window is the length of a window; default one minute.
	Window time.Duration
	// Lateness is how far behind the latest event time a record may be
	// and still be counted in its window; default 30 seconds. The
	// aggregator does not use it itself: the engine subtracts it from the
	// latest event time to get the watermark it passes to Advance.
	Lateness time.Duration
	// Known reports whether the consumer already tracks an entity, such
	// as a token with a learned baseline; nil knows none. Only the open
	// windows of entities it does not know count against MaxNew, so a
	// flood of new keys never costs a known entity its window.
	Known func(k Kind, key string) bool
	// MaxNew bounds, per kind, the open windows of entities Known does
	// not report. A record that would open one more is refused for that
	// kind (its other key is still counted) and counted in Overflow.
	// Default 100,000: a flood of random keys within one window would
	// otherwise open a window for each before any closes.
	MaxNew int
	// Skip names the kinds not counted at all: an instance reading a
	// Kafka topic keyed by token sees only part of each address's
	// traffic, and must not judge addresses on it.
	Skip [NumKinds]bool
}

// Defaults of Options.
const (
	DefaultWindow   = time.Minute
	DefaultLateness = 30 * time.Second
	DefaultMaxNew   = 100_000
)

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Lateness <= 0 {
		o.Lateness = DefaultLateness
	}
	if o.MaxNew <= 0 {
		o.MaxNew = DefaultMaxNew
	}
	return o
}

// winKey finds an open window by a hash of its key and start. A uint64
// map key takes the runtime's fastest map path, and is much cheaper to
// compare than a string or an address (which holds a pointer); windows
// whose keys share a hash are chained through Window.next, so a
// collision costs time, never correctness.
type winKey = uint64

func makeKey(h uint64, start int64) winKey {
	return h ^ mix64(uint64(start))
}

// Aggregator counts records into the open windows of their token and
// address. It is not safe for concurrent use.
type Aggregator struct {
	opts  Options
	size  int64 // window length in nanoseconds
	wm    int64 // the watermark, in Unix nanoseconds, once hasWM
	hasWM bool
	late  int64

	open  map[winKey]*Window
	nOpen int
	// ends lists, in increasing order, the ends of the open windows, and
	// byEnd the open windows ending at each, so that Advance touches only
	// the windows it closes.
	ends  []int64
	byEnd map[int64][]*Window

	free  []*Window   // closed windows kept for reuse
	spare [][]*Window // emptied byEnd lists kept for reuse

	// fresh counts per kind the open windows of entities Known did not
	// report; overflow the records refused because fresh reached MaxNew,
	// in total and, in refused, per window end until taken.
	fresh    [NumKinds]int
	overflow [NumKinds]int64
	refused  []Refusal
}

// New returns an Aggregator with no open window.
func New(opts Options) *Aggregator {
	opts = opts.withDefaults()
	return &Aggregator{
		opts:  opts,
		size:  int64(opts.Window),
		open:  make(map[winKey]*Window),
		byEnd: make(map[int64][]*Window),
	}
}

// Options returns the options in effect, defaults applied.
func (a *Aggregator) Options() Options { return a.opts }

// Add counts r in the open window of its token (when r.Cred.FP is set)
// and of its address (when r.IP is valid), and returns those windows so
// the caller can judge them early; either is nil when r has no such key,
// or when opening its window would pass MaxNew (see Overflow).
// When r's window already closed, Add counts r as late and returns
// late=true with nil windows. Records must carry an event time: a zero
// Time simply lands in the window at the epoch.
//
// A weight that is not positive counts as 1.
func (a *Aggregator) Add(r *ingest.Record) (tok, ip *Window, late bool) {
	hasTok, hasIP := r.Cred.FP != "", r.IP.IsValid()
	countTok, countIP := hasTok && !a.opts.Skip[Token], hasIP && !a.opts.Skip[IP]
	if !countTok && !countIP {
		return nil, nil, false
	}
	start := floorTo(r.Time.UnixNano(), a.size)
	if a.hasWM && start+a.size <= a.wm {
		a.late++
		return nil, nil, true
	}
	wt := r.Weight
	if !(wt > 0) {
		wt = 1
	}
	var th, ih uint64
	if hasTok {
		th = hashString(r.Cred.FP)
	}
	if hasIP {
		ih = hashAddr(r.IP)
	}
	if countTok {
		tok = a.tokWindow(th, r.Cred.FP, start)
	}
	if tok != nil {
		a.addTok(tok, r, wt, ih)
	}
	if countIP {
		ip = a.ipWindow(ih, r.IP, start)
	}
	if ip != nil {
		a.addIP(ip, r, wt, th)
	}
	return tok, ip, false
}

func (a *Aggregator) addTok(w *Window, r *ingest.Record, wt float64, ih uint64) {
	w.add(r, wt)
	if r.Cred.Hint != "" {
		w.Hint = r.Cred.Hint
	}
	w.clients.add(ClientHash(r.UA), wt)
	if r.IP.IsValid() {
		w.addPeer(peer{h: ih, addr: r.IP}, r, wt)
	}
}

func (a *Aggregator) addIP(w *Window, r *ingest.Record, wt float64, th uint64) {
	w.add(r, wt)
	if r.Cred.FP != "" {
		w.addPeer(peer{h: th, fp: r.Cred.FP}, r, wt)
	}
}

// floorTo rounds t down to a multiple of size, also before the epoch.
func floorTo(t, size int64) int64 {
	q := t / size
	if t%size < 0 {
		q--
	}
	return q * size
}

// ipSalt tells the hashes of addresses from those of fingerprints, so
// both kinds share one map without sharing chains.
const ipSalt = 0x9e3779b97f4a7c15

func (a *Aggregator) tokWindow(h uint64, fp string, start int64) *Window {
	k := makeKey(h, start)
	for w := a.open[k]; w != nil; w = w.next {
		if w.start == start && w.Kind == Token && w.Key == fp {
			return w
		}
	}
	fresh := a.isFresh(Token, fp)
	if fresh && !a.admit(Token, start) {
		return nil
	}
	w := a.openWindow(Token, fp, start)
	a.markFresh(w, fresh)
	a.link(k, w)
	return w
}

func (a *Aggregator) ipWindow(h uint64, addr netip.Addr, start int64) *Window {
	k := makeKey(h^ipSalt, start)
	for w := a.open[k]; w != nil; w = w.next {
		if w.start == start && w.Kind == IP && w.addr == addr {
			return w
		}
	}
	key := addr.String()
	fresh := a.isFresh(IP, key)
	if fresh && !a.admit(IP, start) {
		return nil
	}
	w := a.openWindow(IP, key, start)
	w.addr = addr
	a.markFresh(w, fresh)
	a.link(k, w)
	return w
}

// isFresh reports whether a window of key would count against MaxNew.
// It is asked only when a window opens, not for every record.
func (a *Aggregator) isFresh(k Kind, key string) bool {
	return a.opts.Known == nil || !a.opts.Known(k, key)
}

// admit reports whether one more fresh window of kind k may open, and
// counts the record as refused for the window starting at start if not.
func (a *Aggregator) admit(k Kind, start int64) bool {
	if a.fresh[k] < a.opts.MaxNew {
		return true
	}
	a.overflow[k]++
	end := start + a.size
	for i := range a.refused {
		if a.refused[i].end == end {
			a.refused[i].N[k]++
			return false
		}
	}
	r := Refusal{End: time.Unix(0, end).UTC(), end: end}
	r.N[k] = 1
	a.refused = append(a.refused, r)
	return false
}

func (a *Aggregator) markFresh(w *Window, fresh bool) {
	w.fresh = fresh
	if fresh {
		a.fresh[w.Kind]++
	}
}

// Refusal counts, per kind, the records refused for windows ending at
// End because MaxNew windows of unknown entities were already open.
type Refusal struct {
	End time.Time
	N   [NumKinds]int64
	end int64
}

// TakeRefused returns, per kind, the records refused for windows ending
// at or before end, and forgets them: the consumer counts them with the
// windows that close there. Refusals are kept per window end, of which
// only the few still open exist, so this costs nothing.
func (a *Aggregator) TakeRefused(end time.Time) [NumKinds]int64 {
	t := end.UnixNano()
	var n [NumKinds]int64
	kept := a.refused[:0]
	for _, r := range a.refused {
		if r.end > t {
			kept = append(kept, r)
			continue
		}
		for k := range n {
			n[k] += r.N[k]
		}
	}
	clear(a.refused[len(kept):])
	a.refused = kept
	return n
}

// Overflow returns how many records were refused for tokens and for
// addresses since the aggregator was made, because MaxNew windows of
// unknown entities of that kind were open. A known entity is never
// refused.
func (a *Aggregator) Overflow() (tokens, ips int64) {
	return a.overflow[Token], a.overflow[IP]
}

func (a *Aggregator) link(k winKey, w *Window) {
	w.hkey = k
	w.next = a.open[k]
	a.open[k] = w
	a.nOpen++
}

// unlink removes w from the open windows.
func (a *Aggregator) unlink(w *Window) {
	a.nOpen--
	head := a.open[w.hkey]
	if head == w {
		if w.next == nil {
			delete(a.open, w.hkey)
		} else {
			a.open[w.hkey] = w.next
		}
		w.next = nil
		return
	}
	for p := head; p != nil; p = p.next {
		if p.next == w {
			p.next = w.next
			break
		}
	}
	w.next = nil
}

func (a *Aggregator) openWindow(k Kind, key string, start int64) *Window {
	var w *Window
	if n := len(a.free); n > 0 {
		w = a.free[n-1]
		a.free[n-1] = nil
		a.free = a.free[:n-1]
	} else {
		w = new(Window)
	}
	w.open(k, key, start, a.size)
	a.track(w)
	return w
}

// track files w under its end.
func (a *Aggregator) track(w *Window) {
	list, ok := a.byEnd[w.end]
	if !ok {
		list = a.spareList()
		a.insertEnd(w.end)
	}
	a.byEnd[w.end] = append(list, w)
}

func (a *Aggregator) spareList() []*Window {
	n := len(a.spare)
	if n == 0 {
		return nil
	}
	l := a.spare[n-1]
	a.spare = a.spare[:n-1]
	return l
}

// insertEnd adds a new end; it is nearly always the latest, so the
// search starts from the back.
func (a *Aggregator) insertEnd(end int64) {
	i := len(a.ends)
	for i > 0 && a.ends[i-1] > end {
		i--
	}
	a.ends = slices.Insert(a.ends, i, end)
}

// Advance moves the watermark to wm and closes every window that ends at
// or before it, passing each to emit in order of End, then Kind, then Key.
// The *Window passed to emit is only valid during the call: it is reused
// afterwards. A watermark that does not move forward changes nothing.
func (a *Aggregator) Advance(wm time.Time, emit func(*Window)) {
	a.AdvanceAll(wm, func(ws []*Window) {
		for _, w := range ws {
			emit(w)
		}
	})
}

// AdvanceAll is Advance passing together the windows that end at the
// same time, in order of Kind, then Key, so that a consumer can work on
// them at once. The slice and its windows are valid only during the call.
func (a *Aggregator) AdvanceAll(wm time.Time, emit func([]*Window)) {
	t := wm.UnixNano()
	if a.hasWM && t <= a.wm {
		return
	}
	a.wm, a.hasWM = t, true
	for len(a.ends) > 0 && a.ends[0] <= t {
		end := a.ends[0]
		a.ends = slices.Delete(a.ends, 0, 1)
		list := a.byEnd[end]
		delete(a.byEnd, end)
		a.closeAll(list, emit)
	}
}

func (a *Aggregator) closeAll(list []*Window, emit func([]*Window)) {
	slices.SortFunc(list, compareWindows)
	for _, w := range list {
		a.unlink(w)
		if w.fresh {
			a.fresh[w.Kind]--
		}
	}
	emit(list)
	for i, w := range list {
		a.free = append(a.free, w)
		list[i] = nil
	}
	a.spare = append(a.spare, list[:0])
}

func compareWindows(x, y *Window) int {
	if c := cmp.Compare(x.end, y.end); c != 0 {
		return c
	}
	if c := cmp.Compare(x.Kind, y.Kind); c != 0 {
		return c
	}
	return cmp.Compare(x.Key, y.Key)
}

// Late returns how many records arrived after their window had closed.
func (a *Aggregator) Late() int64 { return a.late }

// Open returns the number of open windows.
func (a *Aggregator) Open() int { return a.nOpen }

// Watermark returns the latest watermark passed to Advance, and false
// before the first.
func (a *Aggregator) Watermark() (time.Time, bool) {
	if !a.hasWM {
		return time.Time{}, false
	}
	return time.Unix(0, a.wm).UTC(), true
}
