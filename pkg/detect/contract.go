package detect

import (
	"net/netip"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Contract is what a token's owner declared the token is for. A breach
// of any clause alerts, whatever the token's baseline says: the owner
// said the token never does that.
type Contract struct {
	// PerHour and PerDay are the most messages the token may pull in one
	// calendar hour or day, UTC; negative declares no limit, and 0 a
	// token that pulls none (a sending key).
	PerHour, PerDay float64
	// Networks the token may be used from; empty allows any.
	Networks []netip.Prefix
	// Clients are the user agents it may be used with, as patterns in
	// which * matches any run of characters, compared without regard
	// to the case of ASCII letters; empty allows any. A request without
	// a user agent is matched as the empty string.
	Clients []string
	// Endpoints are the requests it may make; empty allows any.
	Endpoints []Endpoint
}

// Endpoint is a method and a path pattern. An empty or "*" method
// matches any; in Path, * matches any run of characters, slashes
// included, and the query string is not part of the path matched. The
// path is judged where it leads (see judgedPath), a trailing slash
// meaning nothing.
type Endpoint struct {
	Method, Path string
}

func (e Endpoint) String() string {
	m := e.Method
	if m == "" {
		m = "*"
	}
	return strings.ToUpper(m) + " " + e.Path
}

// Contract clauses, as alerts name them in their feature.
const (
	ClausePerHour  = "messages_per_hour"
	ClausePerDay   = "messages_per_day"
	ClauseNetwork  = "network"
	ClauseClient   = "client"
	ClauseEndpoint = "endpoint"
)

// clauses lists the clauses in the order of ContractState.Clauses.
var clauses = [...]string{ClausePerHour, ClausePerDay, ClauseNetwork, ClauseClient, ClauseEndpoint}

// maxBreachValue bounds, in runes, the client string or path a finding
// quotes: a user agent can be kilobytes long.
const maxBreachValue = 128

// ContractFinding is one breached clause of a token's contract.
type ContractFinding struct {
	Key, Hint string
	Clause    string // one of the Clause constants
	// Value is what breached a network, client or endpoint clause: the
	// address, the user agent (cut to 128 characters) or the method and
	// path; empty for a limit.
	Value string
	// Declared is the clause as declared, for a network, client or
	// endpoint clause.
	Declared []string
	// Observed is the messages pulled since Since for a limit, and 1
	// (the request) for the other clauses; Limit is the declared most
	// messages, 0 for the other clauses.
	Observed, Limit float64
	// Since is the start of the UTC hour or day a limit counts, and the
	// window's start for the other clauses; the window is the one the
	// breaching request fell in.
	Since, WindowStart, WindowEnd, At time.Time
	Score                             float64
	Severity                          string
}

// ContractOptions configures a ContractWatch.
type ContractOptions struct {
	// Window is the window findings are dated in (features' window
	// size); Cooldown is how long a clause stays quiet after it alerted,
	// unless a limit's count doubles. Zero takes 1m and 30m.
	Window, Cooldown time.Duration
}

// ContractWatch checks each request of a token that has a contract
// against it, and counts the messages its limits bound.
type ContractWatch struct {
	opts      ContractOptions
	contracts map[string]Contract
	states    map[string]*ContractState
}

// ContractState is one token's counts and per-clause cooldowns,
// exported so that the engine can checkpoint it.
type ContractState struct {
	Hour, Day                 time.Time // the UTC hour and day counted
	HourMessages, DayMessages float64
	Clauses                   [len(clauses)]ClauseState
}

// ClauseState is when a clause last alerted, and at what value.
type ClauseState struct {
	Window     time.Time // window of the last alert: one alert a window
	QuietUntil time.Time
	Alerted    float64 // an escalation must double it
}

// NewContractWatch returns a watch of contracts, keyed by token
// fingerprint.
func NewContractWatch(opts ContractOptions, contracts map[string]Contract) *ContractWatch {
	w := &ContractWatch{states: make(map[string]*ContractState)}
	w.SetCooldown(opts.Cooldown)
	w.opts.Window = opts.Window
	setDur(&w.opts.Window, time.Minute)
	w.SetContracts(contracts)
	return w
}

// SetCooldown changes the cooldown, as a reloaded configuration does;
// zero takes the default.
func (w *ContractWatch) SetCooldown(d time.Duration) {
	w.opts.Cooldown = d
	setDur(&w.opts.Cooldown, 30*time.Minute)
}

// SetContracts replaces the contracts, as a reloaded configuration
// does. The counts of tokens still declared are kept, whatever their
// new limits; those of tokens no longer declared are dropped.
func (w *ContractWatch) SetContracts(contracts map[string]Contract) {
	w.contracts = contracts
	for fp := range w.states {
		if _, ok := contracts[fp]; !ok {
			delete(w.states, fp)
		}
	}
}

// Snapshot returns the per-token state for a checkpoint.
func (w *ContractWatch) Snapshot() map[string]ContractState { return snapshotOf(w.states) }

// Restore replaces the state with a snapshot, keeping only the tokens
// that have a contract.
func (w *ContractWatch) Restore(snap map[string]ContractState) {
	w.states = make(map[string]*ContractState, len(snap))
	for k, s := range snap {
		if _, ok := w.contracts[k]; ok {
			w.states[k] = &s
		}
	}
}

// Check counts r against its token's contract and returns the clauses
// it breaches that may alert; nil for a token without a contract.
func (w *ContractWatch) Check(r *ingest.Record) []ContractFinding {
	c, ok := w.contracts[r.Cred.FP]
	if !ok {
		return nil
	}
	s := w.states[r.Cred.FP]
	if s == nil {
		s = &ContractState{}
		w.states[r.Cred.FP] = s
	}
	w.count(s, r)
	var out []ContractFinding
	add := func(i int, f ContractFinding) {
		if w.gate(&s.Clauses[i], r.Time, f.Observed, i < 2) {
			out = append(out, w.finding(r, &c, f))
		}
	}
	// A limit is breached by a request that pulls: one that pulls nothing
	// after the cooldown would repeat the last alert, count unchanged.
	pulled := r.Messages > 0
	if pulled && c.PerHour >= 0 && s.HourMessages > c.PerHour {
		add(0, ContractFinding{Clause: ClausePerHour, Observed: s.HourMessages, Limit: c.PerHour, Since: s.Hour})
	}
	if pulled && c.PerDay >= 0 && s.DayMessages > c.PerDay {
		add(1, ContractFinding{Clause: ClausePerDay, Observed: s.DayMessages, Limit: c.PerDay, Since: s.Day})
	}
	if len(c.Networks) > 0 && r.IP.IsValid() && !inNetworks(c.Networks, r.IP) {
		add(2, ContractFinding{Clause: ClauseNetwork, Value: r.IP.Unmap().String()})
	}
	if len(c.Clients) > 0 && !matchClient(c.Clients, r.UA) {
		add(3, ContractFinding{Clause: ClauseClient, Value: r.UA})
	}
	if len(c.Endpoints) > 0 {
		p, _, _ := strings.Cut(r.Path, "?")
		if !matchEndpoint(c.Endpoints, r.Method, judgedPath(p)) {
			add(4, ContractFinding{Clause: ClauseEndpoint, Value: strings.ToUpper(r.Method) + " " + p})
		}
	}
	return out
}

// count adds r's messages to the hour and the day it falls in. A
// record of an hour or day already passed counts in neither: its count
// is no longer judged.
func (w *ContractWatch) count(s *ContractState, r *ingest.Record) {
	at := r.Time.UTC()
	// Truncation counts from the zero time, a UTC midnight, so these
	// are calendar hours and days in UTC.
	hour, day := at.Truncate(time.Hour), at.Truncate(24*time.Hour)
	if hour.After(s.Hour) {
		s.Hour, s.HourMessages = hour, 0
	}
	if day.After(s.Day) {
		s.Day, s.DayMessages = day, 0
	}
	m := float64(r.Messages) * weight(r)
	if hour.Equal(s.Hour) {
		s.HourMessages += m
	}
	if day.Equal(s.Day) {
		s.DayMessages += m
	}
}

func weight(r *ingest.Record) float64 {
	if r.Weight > 0 {
		return r.Weight
	}
	return 1
}

// gate says whether a breach at may alert: once a window, and within
// the cooldown only when a limit's count has doubled since the last
// alert (escalates). An alert restarts the cooldown.
func (w *ContractWatch) gate(cs *ClauseState, at time.Time, observed float64, escalates bool) bool {
	win := at.Truncate(w.opts.Window)
	if !win.After(cs.Window) {
		return false // alerted in this window already, or at a later one
	}
	if at.Before(cs.QuietUntil) && !(escalates && observed >= 2*cs.Alerted) {
		return false
	}
	cs.Window, cs.QuietUntil, cs.Alerted = win, at.Add(w.opts.Cooldown), observed
	return true
}

// finding completes f, a breach of c by r that may alert.
func (w *ContractWatch) finding(r *ingest.Record, c *Contract, f ContractFinding) ContractFinding {
	f.Key, f.Hint, f.At = r.Cred.FP, r.Cred.Hint, r.Time
	f.WindowStart = r.Time.Truncate(w.opts.Window)
	f.WindowEnd = f.WindowStart.Add(w.opts.Window)
	f.Severity = "warning"
	switch f.Clause {
	case ClausePerHour, ClausePerDay:
		f.Score = f.Observed / max(f.Limit, 1)
		if f.Score >= 3 {
			f.Severity = "critical"
		}
		return f
	case ClauseNetwork:
		f.Declared = prefixStrings(c.Networks)
	case ClauseClient:
		f.Declared = c.Clients
	case ClauseEndpoint:
		f.Declared = endpointStrings(c.Endpoints)
	}
	f.Value = cut(f.Value)
	f.Observed, f.Since, f.Score = 1, f.WindowStart, 1
	return f
}

func inNetworks(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func matchClient(patterns []string, ua string) bool {
	for _, p := range patterns {
		if glob(p, ua, true) {
			return true
		}
	}
	return false
}

// matchEndpoint reports whether a request matches an endpoint; p is
// the judged path, without a trailing slash (but "/"), and matches a
// pattern either as it is or with one.
func matchEndpoint(eps []Endpoint, method, p string) bool {
	slashed := ""
	for _, e := range eps {
		if e.Method != "" && e.Method != "*" && !strings.EqualFold(e.Method, method) {
			continue
		}
		if glob(e.Path, p, false) {
			return true
		}
		if p != "/" {
			if slashed == "" {
				slashed = p + "/"
			}
			if glob(e.Path, slashed, false) {
				return true
			}
		}
	}
	return false
}

// pathSeparators decodes what a server may take for a dot or a slash.
var pathSeparators = strings.NewReplacer("%2e", ".", "%2E", ".", "%2f", "/", "%2F", "/", "%5c", "/", "%5C", "/", `\`, "/")

// judgedPath is the path (without its query string) an endpoint clause
// judges: percent-encoded dots and slashes decoded, a backslash taken
// for a slash, then dot segments, repeated slashes and a trailing slash
// resolved as path.Clean does. Otherwise * in a pattern, which matches
// slashes, would let GET /messages* allow /messages/../admin/keys, a
// request for /admin/keys. A path that does not start with / (an
// absolute URL, OPTIONS *) is judged as it is.
func judgedPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	if strings.ContainsAny(p, `%\`) {
		p = pathSeparators.Replace(p)
	}
	return path.Clean(p)
}

// glob reports whether s matches pattern, in which * matches any run of
// characters (none included) and every other character only itself,
// ASCII letters of either case when fold is set.
func glob(pattern, s string, fold bool) bool {
	star, resume := -1, 0
	p, i := 0, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, resume = p, i
			p++
		case p < len(pattern) && (pattern[p] == s[i] || fold && lower(pattern[p]) == lower(s[i])):
			p++
			i++
		case star >= 0:
			// Let the last * take one more byte and try again.
			resume++
			p, i = star+1, resume
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// cut shortens s to maxBreachValue runes, marking the cut with "…".
func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxBreachValue {
		return s
	}
	n := 0
	for i := range s {
		if n == maxBreachValue-1 {
			return strings.ToValidUTF8(s[:i], "") + "…"
		}
		n++
	}
	return s
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func endpointStrings(eps []Endpoint) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.String()
	}
	return out
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
