// Package eval scores a detector's alerts against the ground truth of a
// generated run (package gen): which attacks were caught and how fast,
// which look-alikes drew alerts, and how many false alert-hours were
// raised per thousand token-days.
package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Alert is the part of an alert that scoring needs. It reads the JSON
// that package alert writes and ignores the other fields.
type Alert struct {
	At       time.Time `json:"at"`     // event time
	Entity   string    `json:"entity"` // "token" or "ip"
	Key      string    `json:"key"`    // token fingerprint or address
	Detector string    `json:"detector"`
}

// ReadAlerts reads alerts written one JSON object per line. Blank lines
// are skipped; lines of any length are accepted.
func ReadAlerts(r io.Reader) ([]Alert, error) {
	dec := json.NewDecoder(r)
	var out []Alert
	for {
		var a Alert
		err := dec.Decode(&a)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading alert %d: %w", len(out)+1, err)
		}
		out = append(out, a)
	}
}
