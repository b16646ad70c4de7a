package alert

import "time"

// Outbox keeps alerts durably until every sink they were meant for has
// finished with them. With one, a Dispatcher stores each alert before any
// sink sees it and delivers from the store, so that a sink that is down
// for hours, a full queue or a restart loses nothing: what is not
// delivered yet is delivered after the restart. Without one, alerts wait
// in bounded queues in memory.
type Outbox interface {
	// Put stores a for the named sinks and returns once it is durable.
	Put(a *Alert, sinks []string) error
	// Head returns the oldest entry sink has still to deliver.
	Head(sink string) (Stored, bool, error)
	// List returns the oldest n entries sink has still to deliver.
	List(sink string, n int) ([]Stored, error)
	// Remove marks entry seq finished for sink: delivered or given up.
	Remove(sink string, seq uint64) error
	// Pending returns how many entries sink has still to deliver.
	Pending(sink string) int
	// Forget drops the entries of every sink not in keep, those removed
	// from the configuration, and returns how many each had.
	Forget(keep []string) (map[string]int, error)
	// Claim waits until no other worker delivers sink's entries, or stop
	// is closed (ok false), and returns what ends the claim.
	Claim(sink string, stop <-chan struct{}) (release func(), ok bool)
}

// Stored is an alert in an Outbox.
type Stored struct {
	Seq      uint64
	Alert    Alert
	StoredAt time.Time
}
