package alert

import (
	"strings"
	"testing"
	"time"
)

func TestContractSummary(t *testing.T) {
	since := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	base := Alert{Entity: EntityToken, Key: "3f9a1c0b2e4d", TokenHint: "a7b1", Label: "acme", Detector: "contract", Since: since}
	for _, tc := range []struct {
		breach             Breach
		observed, expected float64
		want               string
	}{
		{Breach{Clause: "messages_per_hour"}, 1500, 1000,
			"Token 3f9a1c0b2e4d (…a7b1, acme) pulled 1,500 messages since 10:00 UTC, over the 1,000 an hour its contract declares."},
		{Breach{Clause: "messages_per_day"}, 4, 0,
			"Token 3f9a1c0b2e4d (…a7b1, acme) pulled 4 messages on 2026-03-02 (UTC), over the 0 a day its contract declares."},
		{Breach{Clause: "network", Value: "198.51.100.7", Declared: []string{"10.0.0.0/8", "2001:db8::/48", "a", "b", "c"}}, 1, 0,
			"Token 3f9a1c0b2e4d (…a7b1, acme) was used from 198.51.100.7, outside its declared networks 10.0.0.0/8, 2001:db8::/48, a and 2 more."},
		{Breach{Clause: "client", Value: "curl/8\nX-Injected: 1", Declared: []string{"acme-sync/*"}}, 1, 0,
			`Token 3f9a1c0b2e4d (…a7b1, acme) was used with client "curl/8 X-Injected: 1", none of its declared clients acme-sync/*.`},
		{Breach{Clause: "client", Declared: []string{"acme-sync/*"}}, 1, 0,
			"Token 3f9a1c0b2e4d (…a7b1, acme) was used with no user agent, none of its declared clients acme-sync/*."},
		{Breach{Clause: "endpoint", Value: "DELETE /messages/12", Declared: []string{"GET /messages*"}}, 1, 0,
			"Token 3f9a1c0b2e4d (…a7b1, acme) requested DELETE /messages/12, none of its declared endpoints GET /messages*."},
	} {
		a := base
		a.Contract, a.Observed, a.Expected = &tc.breach, tc.observed, tc.expected
		if got := Summarize(&a); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.breach.Clause, got, tc.want)
		}
	}
	a := base
	a.Contract = &Breach{Clause: "client", Value: strings.Repeat("x", 500)}
	if got := Summarize(&a); len([]rune(got)) > 200 {
		t.Errorf("a long client makes a summary of %d runes", len([]rune(got)))
	}
}
