// Package testwait lets a test wait for a condition that goroutines or
// processes under test bring about, by polling it with a deadline rather
// than sleeping for a guessed time.
package testwait

import (
	"testing"
	"time"
)

// For polls cond every few milliseconds until it holds, and fails the
// test, naming what it waited for, when within passes first.
func For(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}
