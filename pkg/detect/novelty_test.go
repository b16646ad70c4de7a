package detect

import (
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// usedFrom returns the records of one minute of the token's ordinary
// use: four requests of ten messages from ip with client ua.
func usedFrom(m int, key, ip, ua string) []*ingest.Record {
	rs := minute(m, burst{fp: key, ip: ip, msgs: 40, per: 10})
	for _, r := range rs {
		r.UA = ua
	}
	return rs
}

// noveltyRig is a token used every minute for two days from one server
// with one client, and a neighbour token that is only a few hours old.
func noveltyRig(t *testing.T) (*pipeline, int) {
	t.Helper()
	p := newPipeline(Options{})
	const days = 2 * 24 * 60
	for m := range days {
		p.feed(usedFrom(m, fp("usual"), "192.0.2.10", "mailer/2.1"))
		if m >= days-180 {
			p.feed(usedFrom(m, fp("young"), "198.51.100.7", "crm/1.0"))
		}
	}
	if len(p.found) != 0 {
		t.Fatalf("ordinary use alerted:%s", describe(p.found))
	}
	return p, days
}

func noveltyFindings(fs []Finding) []Finding { return byDetector(fs, "novelty") }

func TestNoveltyNeedsNewNetworkAndNewClient(t *testing.T) {
	cases := []struct {
		name, ip, ua string
		alerts       bool
	}{
		{"new network and client", "203.0.113.50", "curl/8.5.0", true},
		{"new IPv6 network and client", "2001:db8:77::5", "curl/8.5.0", true},
		{"same /24, new client (an upgrade)", "192.0.2.99", "curl/8.5.0", false},
		{"new network, same client (a move)", "203.0.113.50", "mailer/2.1", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, m := noveltyRig(t)
			p.feed(usedFrom(m, fp("usual"), tc.ip, tc.ua))
			p.feed(usedFrom(m+1, fp("usual"), "192.0.2.10", "mailer/2.1"))
			p.flush()
			got := noveltyFindings(p.found)
			if !tc.alerts {
				if len(p.found) != 0 {
					t.Fatalf("alerted:%s", describe(p.found))
				}
				return
			}
			if len(got) != 1 || got[0].Key != fp("usual") || got[0].Feature != noveltyFeature ||
				got[0].Observed != 1 || len(got[0].TopPeers) == 0 || got[0].TopPeers[0] != tc.ip {
				t.Fatalf("want one novelty alert naming %s, got:%s", tc.ip, describe(p.found))
			}
		})
	}
}

func TestNoveltyWaitsForAKnownToken(t *testing.T) {
	p, m := noveltyRig(t)
	// Three hours old: ready for its baselines, too young for its profile.
	p.feed(usedFrom(m, fp("young"), "203.0.113.50", "curl/8.5.0"))
	p.flush()
	if len(p.found) != 0 {
		t.Fatalf("a token known for three hours alerted:%s", describe(p.found))
	}
}

func TestNoveltyCooldownSurvivesRestart(t *testing.T) {
	p, m := noveltyRig(t)
	p.feed(usedFrom(m, fp("usual"), "203.0.113.50", "curl/8.5.0"))
	p.advance(t0.Add(time.Duration(m+2) * time.Minute))
	if n := len(noveltyFindings(p.found)); n != 1 {
		t.Fatalf("%d novelty alerts before the restart, want 1", n)
	}
	q := p.restart(t, Options{})
	// Another new network and client ten minutes later, within the
	// cooldown: the same incident, not a new alert.
	q.feed(usedFrom(m+10, fp("usual"), "198.18.0.9", "python-requests/2.31"))
	q.flush()
	if len(q.found) != 0 {
		t.Fatalf("alerted again within the cooldown after a restart:%s", describe(q.found))
	}
}

func TestNoveltyOff(t *testing.T) {
	// The forest's reservoir keeps profiles learned, as in a daemon whose
	// forest is on: only the switch keeps the novelty detector quiet.
	p := newPipeline(Options{Novelty: NoveltyOptions{Off: true}, Forest: ForestOptions{Reservoir: 100}})
	for m := range 2 * 24 * 60 {
		p.feed(usedFrom(m, fp("usual"), "192.0.2.10", "mailer/2.1"))
	}
	p.feed(usedFrom(2*24*60, fp("usual"), "203.0.113.50", "curl/8.5.0"))
	p.flush()
	if len(p.found) != 0 {
		t.Fatalf("alerted with the detector off:%s", describe(p.found))
	}
}

func TestNoveltyAlertsOncePerParty(t *testing.T) {
	p, m := noveltyRig(t)
	// A thief using the key at its owner's pace, one minute an hour for
	// three hours, from one network and client: one incident.
	for h := range 3 {
		p.feed(usedFrom(m+60*h, fp("usual"), "203.0.113.50", "curl/8.5.0"))
		p.feed(usedFrom(m+60*h+1, fp("usual"), "192.0.2.10", "mailer/2.1"))
	}
	if n := len(noveltyFindings(p.found)); n != 1 {
		t.Fatalf("%d novelty alerts for one party, want 1:%s", n, describe(p.found))
	}
	// Someone else again, past the cooldown.
	p.feed(usedFrom(m+200, fp("usual"), "198.18.0.9", "python-requests/2.31"))
	p.flush()
	if n := len(noveltyFindings(p.found)); n != 2 {
		t.Fatalf("%d novelty alerts after a second party, want 2:%s", n, describe(p.found))
	}
}
