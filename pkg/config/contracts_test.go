package config

import (
	"strings"
	"testing"
)

const goodContract = `
contracts:
  3f9a1c0b2e4d:
    messages_per_hour: 5000
    messages_per_day: 0
    networks: [203.0.113.0/24, 2001:db8::/48, 198.51.100.7]
    clients: ["acme-sync/*"]
    endpoints:
      - {method: GET, path: /messages*}
      - {path: /stats}
      - {method: delete, path: /messages/*}
      - {method: "*", path: /health}
`

func TestContractsParse(t *testing.T) {
	c, err := Parse([]byte(goodContract))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := c.Contracts["3f9a1c0b2e4d"]
	if !ok {
		t.Fatalf("contracts = %+v", c.Contracts)
	}
	if k.MessagesPerHour == nil || *k.MessagesPerHour != 5000 || k.MessagesPerDay == nil || *k.MessagesPerDay != 0 {
		t.Errorf("limits: hour %v, day %v; want 5000 and a declared 0", k.MessagesPerHour, k.MessagesPerDay)
	}
	if got := k.Prefixes(); len(got) != 3 || got[2].String() != "198.51.100.7/32" {
		t.Errorf("networks = %v", got)
	}
	if len(k.Endpoints) != 4 || k.Endpoints[0].Method != "GET" || k.Endpoints[1].Path != "/stats" {
		t.Errorf("endpoints = %+v", k.Endpoints)
	}
}

func TestContractMistakesNameTheField(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"bad cidr", "contracts:\n  3f9a1c0b2e4d:\n    networks: [10.0.0.0/33]\n",
			`contracts.3f9a1c0b2e4d.networks[0] (line 3): "10.0.0.0/33" is not an address or a CIDR range: allowed are`},
		{"bad fingerprint", "contracts:\n  3F9A1C0B2E4D:\n    messages_per_hour: 10\n",
			"contracts.3F9A1C0B2E4D (line 2): is not a token fingerprint (12 lowercase hex characters"},
		{"negative limit", "contracts:\n  3f9a1c0b2e4d:\n    messages_per_day: -1\n",
			"contracts.3f9a1c0b2e4d.messages_per_day (line 3): -1: allowed is 0 (a token that pulls no messages) or a positive number"},
		{"non-finite limit", "contracts:\n  3f9a1c0b2e4d:\n    messages_per_hour: .inf\n",
			"contracts.3f9a1c0b2e4d.messages_per_hour (line 3): +Inf: allowed is 0"},
		{"unknown field", "contracts:\n  3f9a1c0b2e4d:\n    messages_per_week: 10\n",
			"contracts.3f9a1c0b2e4d.messages_per_week (line 3): unknown key; allowed keys are messages_per_hour, messages_per_day, networks, clients, endpoints"},
		{"unknown endpoint field", "contracts:\n  3f9a1c0b2e4d:\n    endpoints: [{verb: GET, path: /x}]\n",
			"contracts.3f9a1c0b2e4d.endpoints[0].verb (line 3): unknown key; allowed keys are method, path"},
		{"bad method", "contracts:\n  3f9a1c0b2e4d:\n    endpoints: [{method: GET /x, path: /x}]\n",
			`contracts.3f9a1c0b2e4d.endpoints[0].method (line 3): "GET /x" is not a method`},
		{"unknown method", "contracts:\n  3f9a1c0b2e4d:\n    endpoints: [{method: FETCH, path: /x}]\n",
			`contracts.3f9a1c0b2e4d.endpoints[0].method (line 3): "FETCH" is not a method: allowed are GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, or * (or nothing) for any`},
		{"bad path", "contracts:\n  3f9a1c0b2e4d:\n    endpoints: [{method: GET}]\n",
			`contracts.3f9a1c0b2e4d.endpoints[0].path (line 3): "" is not a path pattern`},
		{"empty", "contracts:\n  3f9a1c0b2e4d: {}\n",
			"contracts.3f9a1c0b2e4d (line 2): declares nothing"},
		{"empty networks", "contracts:\n  3f9a1c0b2e4d:\n    messages_per_hour: 10\n    networks: []\n",
			"contracts.3f9a1c0b2e4d.networks (line 4): is empty, which would allow any networks rather than none: give at least one, or leave it out to allow any"},
		{"empty clients", "contracts:\n  3f9a1c0b2e4d:\n    clients: []\n",
			"contracts.3f9a1c0b2e4d.clients (line 3): is empty"},
		{"empty endpoints", "contracts:\n  3f9a1c0b2e4d:\n    messages_per_day: 10\n    endpoints:\n",
			"contracts.3f9a1c0b2e4d.endpoints (line 4): is empty"},
		{"empty endpoints list", "contracts:\n  3f9a1c0b2e4d:\n    endpoints: []\n",
			"contracts.3f9a1c0b2e4d.endpoints (line 3): is empty, which would allow any endpoints rather than none: give at least one, or leave it out to allow any"},
		{"limit too large", "contracts:\n  3f9a1c0b2e4d:\n    messages_per_hour: 1e400\n",
			"contracts.3f9a1c0b2e4d.messages_per_hour (line 3): 1e400 is too large for a number: a number is at most about 1.8e+308 either way; allowed is 0 (a token that pulls no messages) or a positive number; leave it out for no limit"},
		{"limit is a word", "contracts:\n  3f9a1c0b2e4d:\n    messages_per_day: lots\n",
			`contracts.3f9a1c0b2e4d.messages_per_day (line 3): "lots" is not a number; allowed is 0 (a token that pulls no messages) or a positive number; leave it out for no limit`},
		{"limit as text", "contracts:\n  3f9a1c0b2e4d:\n    messages_per_hour: lots\n",
			"contracts.3f9a1c0b2e4d.messages_per_hour (line 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestContractKeyNeverPrintsARawToken(t *testing.T) {
	const raw = "tok_live_pastedByMistake1234567890"
	for _, body := range []string{"messages_per_hour: 10", "messages_per_hour: -5", "networks: [nowhere]", "messages_per_hour: 10\n    bogus: 1",
		"messages_per_hour: abc", "networks: 10.0.0.0/8", "endpoints: [{method: [GET], path: /x}]"} {
		_, err := Parse([]byte("contracts:\n  " + raw + ":\n    " + body + "\n"))
		if body != "messages_per_hour: 10" && (err == nil || !strings.Contains(err.Error(), "(line 3)") && !strings.Contains(err.Error(), "(line 4)")) {
			t.Errorf("%q: the mistake is not given its line: %v", body, err)
		}
		if err == nil {
			t.Fatalf("%q: a raw token as a contract key was accepted", body)
		}
		msg := err.Error()
		if strings.Contains(msg, raw) || strings.Contains(msg, "pastedByMistake") {
			t.Errorf("the error shows the raw token: %v", msg)
		}
		if !strings.Contains(msg, "contracts.<key ending …7890>") {
			t.Errorf("the error does not say which key: %v", msg)
		}
		// Even when the mistake below it stops the parse.
		if !strings.Contains(msg, "contracts.<key ending …7890> (line 2): is not a token fingerprint") ||
			!strings.Contains(msg, "write its fingerprint") {
			t.Errorf("%q: no fingerprint offered: %v", body, msg)
		}
	}
	// A field left out is placed at the line of what holds it.
	_, err := Parse([]byte("contracts:\n  " + raw + ":\n    endpoints:\n      - {method: GET}\n"))
	if err == nil || !strings.Contains(err.Error(), "contracts.<key ending …7890>.endpoints[0].path (line 4)") {
		t.Errorf("a missing path: %v", err)
	}
	_, err = Parse([]byte("contracts:\n  " + raw + ":\n    messages_per_hour: 10\n"))
	if err == nil || !strings.Contains(err.Error(), "contracts.<key ending …7890> (line 2): is not a token fingerprint") ||
		!strings.Contains(err.Error(), "write its fingerprint") {
		t.Errorf("no fingerprint offered: %v", err)
	}
}

func TestContractsAreReloadable(t *testing.T) {
	old := reloadParse(t, goodContract)
	next := reloadParse(t, strings.Replace(goodContract, "5000", "6000", 1))
	if got := old.NeedRestart(next); len(got) != 0 {
		t.Fatalf("NeedRestart = %v, want contracts taken over at once", got)
	}
	if got := old.Changed(next); len(got) != 1 || got[0] != "contracts" {
		t.Fatalf("Changed = %v", got)
	}
}

func TestContractMappedNetworksAreIPv4(t *testing.T) {
	c, err := Parse([]byte("contracts:\n  3f9a1c0b2e4d:\n    networks: [\"::ffff:203.0.113.9\", \"::ffff:198.51.100.0/120\", \"::ffff:0:0/96\", \"2001:db8::/48\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.Contracts["3f9a1c0b2e4d"].Prefixes() {
		got = append(got, p.String())
	}
	if want := "203.0.113.9/32 198.51.100.0/24 0.0.0.0/0 2001:db8::/48"; strings.Join(got, " ") != want {
		t.Errorf("networks = %v, want %s", got, want)
	}
	for _, s := range []string{"::ffff:0:0/95", "::ffff:0:0/80"} {
		_, err := Parse([]byte("contracts:\n  3f9a1c0b2e4d:\n    networks: [\"" + s + "\"]\n"))
		want := `contracts.3f9a1c0b2e4d.networks[0] (line 3): "` + s + `" is an IPv4-mapped IPv6 range wider than /96`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", s, err, want)
		}
	}
}
