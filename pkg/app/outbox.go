package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/outbox"
)

// openOutbox opens the alert outbox in the state directory, creating the
// directory if this is the first start.
func openOutbox(stateDir string) (*outbox.Store, error) {
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	ob, err := outbox.Open(filepath.Join(stateDir, outbox.FileName), 0)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening the alert outbox in %s: another process holds it; is another sentinel running on this state directory?", stateDir)
	}
	return ob, err
}

// pendingAlerts counts the alerts d's sinks have still to deliver: at
// start, those in the outbox.
func pendingAlerts(d *alert.Dispatcher) int {
	n := 0
	for _, st := range d.Stats() {
		n += st.Queued
	}
	return n
}
