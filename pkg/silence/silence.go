// Package silence keeps the time-limited silences an operator sets on a
// running sentinel: while one is active, alerts about the token or the
// addresses it names are held back. Silences are saved in the state
// directory, so a restart keeps them, and expire by themselves.
package silence

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/ingest"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// Silence holds back the alerts about one token or a range of addresses
// until Until.
type Silence struct {
	ID string `json:"id"`
	// Token is a token fingerprint; Addresses an address or CIDR range.
	// Exactly one is set.
	Token     string    `json:"token,omitempty"`
	Addresses string    `json:"addresses,omitempty"`
	Until     time.Time `json:"until"`
	Reason    string    `json:"reason,omitempty"`
	Created   time.Time `json:"created"`
}

// MaxDuration bounds a silence: one forgotten must not hide a token's
// abuse for good. An allowlist entry in the configuration is the place
// for something permanent.
const MaxDuration = 30 * 24 * time.Hour

var fingerprint = regexp.MustCompile(`^[0-9a-f]{12}$`)

// ErrInvalid marks a silence refused for what it says.
var ErrInvalid = errors.New("invalid silence")

// Check says what is wrong with s, if anything, at now.
func (s *Silence) Check(now time.Time) error {
	switch {
	case (s.Token == "") == (s.Addresses == ""):
		return fmt.Errorf("%w: give either a token fingerprint or addresses", ErrInvalid)
	case s.Token != "" && !fingerprint.MatchString(s.Token):
		return fmt.Errorf("%w: the token must be its fingerprint, 12 hex characters (sentinel fingerprint)", ErrInvalid)
	case !s.Until.After(now):
		return fmt.Errorf("%w: it ends at %s, which is past", ErrInvalid, s.Until.Format(time.RFC3339))
	case s.Until.Sub(now) > MaxDuration:
		return fmt.Errorf("%w: it lasts %v; allowed is up to %v (use allow: in the configuration for good)",
			ErrInvalid, s.Until.Sub(now).Round(time.Minute), MaxDuration)
	}
	if s.Addresses != "" {
		if _, err := ingest.ParsePrefix(s.Addresses); err != nil {
			return fmt.Errorf("%w: %q is not an address or a CIDR range", ErrInvalid, s.Addresses)
		}
	}
	return nil
}

// matches reports whether s covers a.
func (s *Silence) matches(a *alert.Alert) bool {
	sc := Scope{}
	if s.Token != "" {
		sc.Tokens = []string{s.Token}
	}
	if p, err := ingest.ParsePrefix(s.Addresses); s.Addresses != "" && err == nil {
		sc.Nets = []netip.Prefix{p}
	}
	return sc.Covers(a)
}

// Scope names what is held back, by silences and by the configuration's
// allowlist alike: tokens by fingerprint, addresses by range.
type Scope struct {
	Tokens []string
	Nets   []netip.Prefix
}

// Covers reports whether a is about a token or an address the scope
// names. A token is covered only when named itself: a leaked token used
// from a named network still alerts.
func (sc Scope) Covers(a *alert.Alert) bool {
	switch a.Entity {
	case alert.EntityToken:
		return slices.Contains(sc.Tokens, a.Key)
	case alert.EntityIP:
		addr, err := netip.ParseAddr(a.Key)
		if err != nil {
			return false
		}
		return slices.ContainsFunc(sc.Nets, func(p netip.Prefix) bool { return p.Contains(addr) || p.Contains(addr.Unmap()) })
	}
	return false
}

// Store is the set of silences, saved to a file on every change. It is
// safe for concurrent use.
type Store struct {
	path string
	now  func() time.Time

	mu   sync.Mutex
	list []Silence
	held int64 // alerts held back since start
}

// Open loads the silences saved at path, if any; now is the wall clock
// (time.Now when nil).
func Open(path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{path: path, now: now}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading silences: %w", err)
	}
	if err := json.Unmarshal(data, &s.list); err != nil {
		return nil, fmt.Errorf("reading silences from %s: %w", path, err)
	}
	return s, nil
}

// Add checks s, gives it an id and saves it.
func (s *Store) Add(si Silence) (Silence, error) {
	now := s.now()
	if err := si.Check(now); err != nil {
		return Silence{}, err
	}
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Silence{}, fmt.Errorf("making a silence id: %w", err)
	}
	si.ID, si.Created = hex.EncodeToString(id[:]), now.UTC()
	si.Until = si.Until.UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	s.list = append(s.list, si)
	if err := s.save(); err != nil {
		s.list = s.list[:len(s.list)-1]
		return Silence{}, err
	}
	return si, nil
}

// ErrNotFound is returned by Remove for an unknown id.
var ErrNotFound = errors.New("no such silence")

// Remove ends the silence with id now.
func (s *Store) Remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.list, func(si Silence) bool { return si.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s.list = slices.Delete(s.list, i, i+1)
	return s.save()
}

// Active returns the silences in force, soonest to end first.
func (s *Store) Active() []Silence {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(s.now())
	out := slices.Clone(s.list)
	slices.SortFunc(out, func(a, b Silence) int { return a.Until.Compare(b.Until) })
	return out
}

// Holds reports whether an active silence covers a, and counts it.
func (s *Store) Holds(a *alert.Alert) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for i := range s.list {
		if s.list[i].Until.After(now) && s.list[i].matches(a) {
			s.held++
			return true
		}
	}
	return false
}

// Held is how many alerts silences held back since start.
func (s *Store) Held() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// prune drops expired silences from memory; the file follows at the
// next change.
func (s *Store) prune(now time.Time) {
	s.list = slices.DeleteFunc(s.list, func(si Silence) bool { return !si.Until.After(now) })
}

func (s *Store) save() error {
	// The admin listener starts before the engine creates the state
	// directory on a first start.
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return fmt.Errorf("saving silences: %w", err)
	}
	return state.WriteAtomic(s.path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s.list)
	})
}
