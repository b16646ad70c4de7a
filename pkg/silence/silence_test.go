package silence

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

func TestSilencesHoldExpireAndSurviveARestart(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "state", "silences.json") // no state directory yet
	s, err := Open(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Add(Silence{Token: "3f9a1c0b2e4d", Until: now.Add(time.Hour), Reason: "load test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(Silence{Addresses: "203.0.113.0/24", Until: now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	held := func(s *Store, entity, key string) bool { return s.Holds(&alert.Alert{Entity: entity, Key: key}) }
	if !held(s, alert.EntityToken, "3f9a1c0b2e4d") || held(s, alert.EntityToken, "aaaaaaaaaaaa") ||
		!held(s, alert.EntityIP, "203.0.113.77") || held(s, alert.EntityIP, "198.51.100.1") {
		t.Fatal("silences hold the wrong alerts")
	}
	if s.Held() != 2 {
		t.Errorf("held %d, want 2", s.Held())
	}

	// A restart reads them back.
	again, err := Open(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Active(); len(got) != 2 || got[0].ID != tok.ID || got[0].Reason != "load test" {
		t.Fatalf("after a restart: %+v", got)
	}
	// The token's silence ends after an hour; the range's goes on.
	now = now.Add(90 * time.Minute)
	if held(again, alert.EntityToken, "3f9a1c0b2e4d") || !held(again, alert.EntityIP, "203.0.113.77") {
		t.Error("an expired silence still holds, or a live one stopped")
	}
	if err := again.Remove(again.Active()[0].ID); err != nil {
		t.Fatal(err)
	}
	if len(again.Active()) != 0 || held(again, alert.EntityIP, "203.0.113.77") {
		t.Error("a removed silence still holds")
	}
	if err := again.Remove("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing an unknown id: %v", err)
	}
}

func TestSilencesRefuseWhatCannotBeRight(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "s.json"), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Silence{
		{Until: now.Add(time.Hour)},
		{Token: "3f9a1c0b2e4d", Addresses: "203.0.113.0/24", Until: now.Add(time.Hour)},
		{Token: "tok_live_rawTOKEN123", Until: now.Add(time.Hour)},
		{Addresses: "203.0.113.0/33", Until: now.Add(time.Hour)},
		{Token: "3f9a1c0b2e4d", Until: now.Add(-time.Minute)},
		{Token: "3f9a1c0b2e4d", Until: now.Add(MaxDuration + time.Hour)},
	} {
		if _, err := s.Add(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	if len(s.Active()) != 0 {
		t.Error("a refused silence was kept")
	}
}
