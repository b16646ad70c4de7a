package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// savedIncident is an incident as the Alertmanager sink keeps it on disk.
type savedIncident struct {
	Key     string        `json:"key"`
	Alert   amAlert       `json:"alert"`
	Updated time.Time     `json:"updated"`
	Lapse   time.Duration `json:"lapse"`
}

// load reads the incidents a previous run of the sink, or the sink a
// reload replaced, left firing: without them a restart in the middle of
// an exfiltration would let Alertmanager resolve it after a few minutes,
// while it goes on.
func (am *Alertmanager) load() error {
	if am.opts.StateFile == "" {
		return nil
	}
	data, err := os.ReadFile(am.opts.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the firing alertmanager incidents: %w", err)
	}
	var saved []savedIncident
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("reading the firing alertmanager incidents from %s: %w", am.opts.StateFile, err)
	}
	for _, s := range saved {
		if len(am.incidents) >= am.opts.MaxIncidents {
			break
		}
		am.incidents[s.Key] = &incident{alert: s.Alert, updated: s.Updated, lapse: s.Lapse}
	}
	return nil
}

// save writes the incidents, replacing the file whole so that a crash
// leaves the old set or the new one. The lock is held; incidents change
// at an alert or when forgotten, rarely enough to write them each time.
func (am *Alertmanager) save() {
	if am.opts.StateFile == "" {
		return
	}
	saved := make([]savedIncident, 0, len(am.incidents))
	for k, inc := range am.incidents {
		saved = append(saved, savedIncident{Key: k, Alert: inc.alert, Updated: inc.updated, Lapse: inc.lapse})
	}
	err := writeFileAtomic(am.opts.StateFile, saved)
	if err == nil {
		am.unsaved = false
		return
	}
	if !am.unsaved {
		am.unsaved = true
		am.log.Error().Err(err).Msg("alertmanager: cannot save the firing incidents; a restart would let them lapse")
	}
}

func writeFileAtomic(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return nil
}
