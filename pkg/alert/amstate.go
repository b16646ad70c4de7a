package alert

import (
	"encoding/json"
	"fmt"
	"time"
)

// IncidentStore keeps an Alertmanager sink's firing incidents between
// runs, as an opaque document: the daemon keeps it in its state
// directory.
type IncidentStore interface {
	// Load returns what Save last stored, nil when nothing was.
	Load() ([]byte, error)
	// Save replaces what is stored, whole, so that a crash leaves the
	// old document or the new one.
	Save(doc []byte) error
}

// savedIncident is an incident as the Alertmanager sink stores it.
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
	if am.opts.Store == nil {
		return nil
	}
	data, err := am.opts.Store.Load()
	if err != nil || data == nil {
		return err
	}
	var saved []savedIncident
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("reading the firing alertmanager incidents: %w", err)
	}
	for _, s := range saved {
		if len(am.incidents) >= am.opts.MaxIncidents {
			break
		}
		am.incidents[s.Key] = &incident{alert: s.Alert, updated: s.Updated, lapse: s.Lapse}
	}
	return nil
}

// save stores the incidents. The lock is held; incidents change at an
// alert or when forgotten, rarely enough to store them each time.
func (am *Alertmanager) save() {
	if am.opts.Store == nil {
		return
	}
	saved := make([]savedIncident, 0, len(am.incidents))
	for k, inc := range am.incidents {
		saved = append(saved, savedIncident{Key: k, Alert: inc.alert, Updated: inc.updated, Lapse: inc.lapse})
	}
	data, err := json.Marshal(saved)
	if err == nil {
		err = am.opts.Store.Save(data)
	}
	if err == nil {
		am.unsaved = false
		return
	}
	if !am.unsaved {
		am.unsaved = true
		am.log.Error().Err(err).Msg("alertmanager: cannot save the firing incidents; a restart would let them lapse")
	}
}
