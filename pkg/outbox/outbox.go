// Package outbox keeps alerts on disk until every sink they were meant for
// has finished with them, so that neither a sink that is down for a while
// nor a restart in between loses one. It is the alert.Outbox of a daemon
// with a state directory, kept in an embedded bbolt database: one file,
// transactions that are on disk when they return, and no server to run.
package outbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// FileName is the outbox's file in the state directory.
const FileName = "outbox.db"

// DefaultMaxSize bounds the file. Alerts are rare and small (about 2.4 KB
// each in the file), so this holds some hundred thousand: a store this
// full means a sink has been failing for days, and further alerts are
// then delivered from memory, as without an outbox, rather than filling
// the disk.
const DefaultMaxSize = 256 << 20

// Buckets. "alerts" maps a sequence number to the alert's JSON; each
// sink's bucket under "pending" maps the sequence numbers it has still to
// deliver to the time they were stored. An alert is deleted once no sink
// holds it.
var (
	alertsBucket  = []byte("alerts")
	pendingBucket = []byte("pending")
	// idsBucket maps an alert's id to its sequence number while it is
	// stored, so that an alert raised again (the lines read again after
	// a crash) is not stored, and delivered, twice.
	idsBucket = []byte("ids")
)

// Store is a bbolt outbox. It is safe for concurrent use.
type Store struct {
	db *bolt.DB

	mu      sync.Mutex
	pending map[string]int           // entries per sink, kept in step with the file
	claims  map[string]chan struct{} // one worker per sink at a time
}

// Open opens or creates the outbox at path. maxSize bounds the file;
// zero means DefaultMaxSize.
func Open(path string, maxSize int) (*Store, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	// The state directory is already locked by the daemon; the timeout
	// only keeps a stray second opener from waiting for ever.
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: 5 * time.Second, MaxSize: maxSize})
	if err != nil {
		return nil, fmt.Errorf("opening alert outbox %s: %w", path, err)
	}
	s := &Store{db: db, pending: map[string]int{}, claims: map[string]chan struct{}{}}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// init creates the buckets and counts what is pending.
func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{alertsBucket, idsBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("creating the outbox's %s: %w", name, err)
			}
		}
		p, err := tx.CreateBucketIfNotExists(pendingBucket)
		if err != nil {
			return fmt.Errorf("creating the outbox's pending lists: %w", err)
		}
		return p.ForEachBucket(func(name []byte) error {
			s.pending[string(name)] = p.Bucket(name).Stats().KeyN
			return nil
		})
	})
}

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing alert outbox: %w", err)
	}
	return nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// Put stores a for the named sinks and returns once it is on disk. An
// alert with the id of one still stored is not stored again.
func (s *Store) Put(a *alert.Alert, sinks []string) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding alert %s for the outbox: %w", a.ID, err)
	}
	stored := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
	repeat := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		ids := tx.Bucket(idsBucket)
		if repeat = ids.Get([]byte(a.ID)) != nil; repeat {
			return nil
		}
		all := tx.Bucket(alertsBucket)
		seq, err := all.NextSequence()
		if err != nil {
			return err
		}
		key := seqKey(seq)
		if err := all.Put(key, body); err != nil {
			return err
		}
		if err := ids.Put([]byte(a.ID), key); err != nil {
			return err
		}
		for _, name := range sinks {
			b, err := tx.Bucket(pendingBucket).CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put(key, stored); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing alert %s in the outbox: %w", a.ID, err)
	}
	if repeat {
		return nil
	}
	s.mu.Lock()
	for _, name := range sinks {
		s.pending[name]++
	}
	s.mu.Unlock()
	return nil
}

// Head returns the oldest alert sink has still to deliver.
func (s *Store) Head(sink string) (alert.Stored, bool, error) {
	list, err := s.List(sink, 1)
	if err != nil || len(list) == 0 {
		return alert.Stored{}, false, err
	}
	return list[0], true, nil
}

// List returns the oldest n alerts sink has still to deliver.
func (s *Store) List(sink string, n int) ([]alert.Stored, error) {
	var out []alert.Stored
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(pendingBucket).Bucket([]byte(sink))
		if b == nil {
			return nil
		}
		all := tx.Bucket(alertsBucket)
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			st := alert.Stored{
				Seq:      binary.BigEndian.Uint64(k),
				StoredAt: time.Unix(0, int64(binary.BigEndian.Uint64(v))),
			}
			body := all.Get(k)
			if body == nil {
				return fmt.Errorf("entry %d is pending but its alert is missing", st.Seq)
			}
			if err := json.Unmarshal(body, &st.Alert); err != nil {
				return fmt.Errorf("decoding entry %d: %w", st.Seq, err)
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the outbox of sink %s: %w", sink, err)
	}
	return out, nil
}

// Remove marks entry seq finished for sink, delivered or given up, and
// deletes the alert once no sink holds it.
func (s *Store) Remove(sink string, seq uint64) error {
	var removed bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		p := tx.Bucket(pendingBucket)
		b := p.Bucket([]byte(sink))
		key := seqKey(seq)
		if b == nil || b.Get(key) == nil {
			return nil
		}
		removed = true
		if err := b.Delete(key); err != nil {
			return err
		}
		return deleteIfDone(tx, key)
	})
	if err != nil {
		return fmt.Errorf("removing entry %d of sink %s from the outbox: %w", seq, sink, err)
	}
	if removed {
		s.mu.Lock()
		s.pending[sink]--
		s.mu.Unlock()
	}
	return nil
}

// deleteIfDone deletes the alert under key unless a sink still holds it.
// There are a handful of sinks, so asking each is cheap.
func deleteIfDone(tx *bolt.Tx, key []byte) error {
	p := tx.Bucket(pendingBucket)
	held := false
	err := p.ForEachBucket(func(name []byte) error {
		if p.Bucket(name).Get(key) != nil {
			held = true
		}
		return nil
	})
	if err != nil || held {
		return err
	}
	all := tx.Bucket(alertsBucket)
	var a struct{ ID string }
	if err := json.Unmarshal(all.Get(key), &a); err == nil {
		if err := tx.Bucket(idsBucket).Delete([]byte(a.ID)); err != nil {
			return err
		}
	}
	return all.Delete(key)
}

// Pending returns how many entries sink has still to deliver.
func (s *Store) Pending(sink string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[sink]
}

// Forget drops the pending entries of every sink not in keep, the sinks
// removed from the configuration, and returns how many each had. Without
// it their alerts would stay on disk for ever.
func (s *Store) Forget(keep []string) (map[string]int, error) {
	dropped := map[string]int{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		p := tx.Bucket(pendingBucket)
		var gone [][]byte
		err := p.ForEachBucket(func(name []byte) error {
			if !slices.Contains(keep, string(name)) {
				gone = append(gone, slices.Clone(name))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range gone {
			if err := forgetSink(tx, name, dropped); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dropping the outbox entries of removed sinks: %w", err)
	}
	s.mu.Lock()
	for name := range dropped {
		delete(s.pending, name)
	}
	s.mu.Unlock()
	return dropped, nil
}

// forgetSink deletes one sink's pending list, and the alerts only it held.
func forgetSink(tx *bolt.Tx, name []byte, dropped map[string]int) error {
	p := tx.Bucket(pendingBucket)
	var keys [][]byte
	err := p.Bucket(name).ForEach(func(k, _ []byte) error {
		keys = append(keys, slices.Clone(k))
		return nil
	})
	if err != nil {
		return err
	}
	if err := p.DeleteBucket(name); err != nil {
		return err
	}
	for _, k := range keys {
		if err := deleteIfDone(tx, k); err != nil {
			return err
		}
	}
	if len(keys) > 0 {
		dropped[string(name)] = len(keys)
	}
	return nil
}

// Claim waits until no other worker delivers sink's entries, or stop is
// closed, and returns the function that ends the claim. When a reload
// replaces the sinks, the old dispatcher's worker drains what it can and
// the new one takes over after it, instead of both sending the same
// entries.
func (s *Store) Claim(sink string, stop <-chan struct{}) (release func(), ok bool) {
	s.mu.Lock()
	c, found := s.claims[sink]
	if !found {
		c = make(chan struct{}, 1)
		s.claims[sink] = c
	}
	s.mu.Unlock()
	select {
	case c <- struct{}{}:
		return func() { <-c }, true
	case <-stop:
		return nil, false
	}
}
