package alert

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2025, 3, 1, 9, 20, 0, 0, time.UTC)

// sampleAlert is the alert of the package documentation's example.
func sampleAlert() *Alert {
	a := &Alert{
		At:     t0.Add(2 * time.Minute),
		Entity: EntityToken, Key: "3f9a1c0b2e4d", TokenHint: "a7b1", Label: "acme",
		Detector: "ewma", Feature: "messages",
		Observed: 4812, Expected: 126, Score: 14.2, Severity: SeverityCritical,
		WindowStart: t0, WindowEnd: t0.Add(time.Minute),
		Since: t0.Add(time.Minute), Excess: 9340,
		TopIPs: []string{"203.0.113.9"},
	}
	a.ID = NewID(a.Entity, a.Key, a.Detector, a.Feature, a.WindowStart)
	a.Summary = Summarize(a)
	return a
}

func TestAlertJSONFieldNames(t *testing.T) {
	a := sampleAlert()
	a.TopTokens = []string{"aaaaaaaaaaaa"}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	names := []string{"id", "at", "entity", "key", "token_hint", "label",
		"detector", "feature", "observed", "expected", "score", "severity",
		"window_start", "window_end", "since", "excess", "top_ips",
		"top_tokens", "summary", "status"}
	for _, n := range names {
		if _, ok := m[n]; !ok {
			t.Errorf("field %q missing from %s", n, b)
		}
	}
	if len(m) != len(names) {
		t.Errorf("got %d fields, want %d: %s", len(m), len(names), b)
	}
}

func TestAlertJSONOmitsEmptyLists(t *testing.T) {
	a := sampleAlert()
	a.TopIPs = nil
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "top_ips") || strings.Contains(string(b), "top_tokens") {
		t.Errorf("empty lists written: %s", b)
	}
}

func TestAlertJSONTimesInUTC(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	a := sampleAlert()
	a.At = time.Date(2025, 3, 1, 10, 22, 0, 500_000_000, cet)
	a.WindowStart = a.WindowStart.In(cet)
	a.WindowEnd = a.WindowEnd.In(cet)
	a.Since = a.Since.In(cet)
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"at":           "2025-03-01T09:22:00.5Z",
		"window_start": "2025-03-01T09:20:00Z",
		"window_end":   "2025-03-01T09:21:00Z",
		"since":        "2025-03-01T09:21:00Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %s", k, m[k], v)
		}
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.At.Equal(a.At) || back.Key != a.Key || back.Excess != a.Excess {
		t.Errorf("round trip changed the alert: %+v", back)
	}
}

func TestAlertJSONNonFinite(t *testing.T) {
	a := sampleAlert()
	a.Score = math.Inf(1)
	a.Expected = math.NaN()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("marshal with Inf score: %v", err)
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Score != math.MaxFloat64 || back.Expected != 0 {
		t.Errorf("score %v expected %v, want MaxFloat64 and 0", back.Score, back.Expected)
	}
}

func TestNewID(t *testing.T) {
	// Computed independently:
	// printf 'token\0003f9a1c0b2e4d\0ewma\0messages\0002025-03-01T09:20:00Z' | sha256sum
	const want = "9009ba9a31c51576"
	if got := NewID("token", "3f9a1c0b2e4d", "ewma", "messages", t0); got != want {
		t.Errorf("NewID = %s, want %s", got, want)
	}
	local := t0.In(time.FixedZone("X", -5*3600))
	if got := NewID("token", "3f9a1c0b2e4d", "ewma", "messages", local); got != want {
		t.Errorf("NewID depends on the time's location: %s", got)
	}
	differ := []string{
		NewID("ip", "3f9a1c0b2e4d", "ewma", "messages", t0),
		NewID("token", "3f9a1c0b2e4e", "ewma", "messages", t0),
		NewID("token", "3f9a1c0b2e4d", "population", "messages", t0),
		NewID("token", "3f9a1c0b2e4d", "ewma", "requests", t0),
		NewID("token", "3f9a1c0b2e4d", "ewma", "messages", t0.Add(time.Minute)),
		// Without a separator these two would hash the same bytes.
		NewID("token", "3f9a1c0b2e4de", "wma", "messages", t0),
	}
	for i, id := range differ {
		if id == want || len(id) != IDLen {
			t.Errorf("case %d: id %q should differ from %s and have %d chars", i, id, want, IDLen)
		}
	}
}

func TestSummarize(t *testing.T) {
	minute := func(a *Alert) *Alert {
		a.WindowStart, a.WindowEnd = t0, t0.Add(time.Minute)
		if a.At.IsZero() {
			a.At = t0.Add(time.Minute)
		}
		return a
	}
	ip := &Alert{
		At: t0.Add(5 * time.Minute), Entity: EntityIP, Key: "198.51.100.7",
		Feature: "distinct_tokens", Observed: 40, Expected: 1.5,
		WindowStart: t0, WindowEnd: t0.Add(5 * time.Minute),
		TopTokens: []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"},
	}
	source := &Alert{
		Entity: EntitySource, Key: "gw1", Detector: "rejects", Feature: "rejected_lines",
		Observed: 1, WindowStart: t0, WindowEnd: t0.Add(time.Hour),
	}
	overnight := &Alert{
		At: time.Date(2025, 3, 1, 0, 10, 0, 0, time.UTC), Entity: EntityToken,
		Key: "3f9a1c0b2e4d", Label: "acme", Feature: "error_rate",
		Observed: 0.4231, Expected: 0.02, Excess: 12,
		Since:       time.Date(2025, 2, 28, 23, 50, 0, 0, time.UTC),
		WindowStart: t0, WindowEnd: t0.Add(90 * time.Second),
	}
	tests := []struct {
		name string
		a    *Alert
		want string
	}{
		{"token", sampleAlert(), "Token 3f9a1c0b2e4d (…a7b1, acme) pulled 4,812 messages in one minute " +
			"from 203.0.113.9, 38× its usual 126; 9,340 messages above normal since 09:21 UTC."},
		{"distinct tokens are examples, not a source", ip, "Address 198.51.100.7 used 40 distinct tokens " +
			"in 5 minutes, including aaaaaaaaaaaa and bbbbbbbbbbbb, 27× its usual 1.5."},
		{"source from zero", source, "Log source gw1 had 1 rejected log line in one hour, where it usually has none."},
		{"unknown feature over midnight", overnight, "Token 3f9a1c0b2e4d (acme) reached 0.42 error rate " +
			"in 90 seconds, 21× its usual 0.02; 12 messages above normal since 2025-02-28 23:50 UTC."},
		{"unknown feature from zero", minute(&Alert{Entity: EntityToken, Key: "k", Feature: "odd_thing", Observed: 3}),
			"Token k reached 3 odd thing in one minute, with no usual activity."},
		{"bytes", minute(&Alert{Entity: EntityToken, Key: "3f9a1c0b2e4d", Feature: "bytes",
			Observed: 2.5e9, Expected: 1.2e7}),
			"Token 3f9a1c0b2e4d downloaded 2.5 GB in one minute, 208× its usual 12 MB."},
		{"bytes from zero", minute(&Alert{Entity: EntityToken, Key: "k", Feature: "bytes", Observed: 2e6}),
			"Token k downloaded 2 MB in one minute, where it usually downloads nothing."},
		{"population address", minute(&Alert{Entity: EntityIP, Key: "203.0.113.78", Detector: "population",
			Feature: "messages", Observed: 1500, Expected: 1.25, Excess: 1499, Since: t0,
			TopTokens: []string{"ee94a0fe62dc", "0c3bfe5139ef", "0fcc8c566da3"}}),
			"Address 203.0.113.78 pulled 1,500 messages in one minute using token ee94a0fe62dc " +
				"and 2 others, 1,200× a typical address's 1.25; 1,499 messages above normal since 09:20 UTC."},
		{"usual rounds to nothing", minute(&Alert{Entity: EntityToken, Key: "k", TokenHint: "akqf",
			Detector: "ewma", Feature: "messages", Observed: 500, Expected: 0.01, Excess: 500, Since: t0,
			TopIPs: []string{"203.0.113.78"}}),
			"Token k (…akqf) pulled 500 messages in one minute from 203.0.113.78, " +
				"where it usually pulls almost none; 500 messages above normal since 09:20 UTC."},
		{"half-hour sum of a new token", minute(&Alert{Entity: EntityToken, Key: "k", Detector: "population",
			Feature: "messages_30m", Observed: 2328.04, Excess: 498, Since: t0,
			TopIPs: []string{"2001:db8::af6"}}),
			"Token k pulled 2,328 messages in the last half hour from 2001:db8::af6, " +
				"where a typical token pulls none; 498 messages above normal since 09:20 UTC."},
		{"hour sum", minute(&Alert{Entity: EntityToken, Key: "k", Detector: "ewma",
			Feature: "messages_1h", Observed: 5000, Expected: 250}),
			"Token k pulled 5,000 messages in the last hour, 20× its usual 250."},
		{"two-hour sum", minute(&Alert{Entity: EntityToken, Key: "k", Feature: "messages_2h",
			Observed: 1, Expected: 4}),
			"Token k pulled 1 message in the last 2 hours, against its usual 4."},
		{"refused tokens", minute(&Alert{Entity: EntityIP, Key: "203.0.113.221", Detector: "population",
			Feature: "unauthorized_tokens_30m", Observed: 200.11,
			TopTokens: []string{"619676b8fb6b", "0c3bfe5139ef", "0fcc8c566da3", "113ed2e04231"}}),
			"Address 203.0.113.221 had 200 refused tokens in the last half hour, " +
				"including 619676b8fb6b and 0c3bfe5139ef, where a typical address has none."},
		{"401s", minute(&Alert{Entity: EntityToken, Key: "k", Detector: "ewma", Feature: "unauthorized",
			Observed: 40, Expected: 2, TopIPs: []string{"203.0.113.9"}}),
			"Token k had 40 requests refused (401/403) in one minute from 203.0.113.9, 20× its usual 2."},
		{"distinct addresses of an idle token", minute(&Alert{Entity: EntityToken, Key: "k",
			Feature: "distinct_ips", Observed: 12, Excess: 1, Since: t0, TopIPs: []string{"203.0.113.9"}}),
			"Token k was used from 12 distinct addresses in one minute, including 203.0.113.9, " +
				"where it is usually idle; 1 message above normal since 09:20 UTC."},
		{"distinct tokens of a new address", minute(&Alert{Entity: EntityIP, Key: "198.51.100.7",
			Detector: "population", Feature: "distinct_tokens", Observed: 41, Expected: 2}),
			"Address 198.51.100.7 used 41 distinct tokens in one minute, 21× a typical address's 2."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.a); got != tc.want {
				t.Errorf("\ngot  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSummarizeClipsCraftedValues(t *testing.T) {
	a := sampleAlert()
	a.Label = "evil\nline\u202e" + strings.Repeat("x", 5000)
	a.Key = strings.Repeat("k", 5000)
	s := Summarize(a)
	if strings.ContainsAny(s, "\n\u202e") {
		t.Errorf("summary keeps a line break or bidi override: %q", s)
	}
	if n := utf8.RuneCountInString(s); n > 300 {
		t.Errorf("summary is %d runes long", n)
	}
	if !strings.Contains(s, "evil line ") || !strings.Contains(s, "x…") {
		t.Errorf("label not shown clipped: %q", s)
	}
}

func TestFormatNum(t *testing.T) {
	tests := map[float64]string{
		0: "0", 4812: "4,812", 1234567.6: "1,234,568", 125.7: "126", 100: "100",
		12.04: "12", 12.36: "12.4", 3.456: "3.46", 2: "2", 0.004: "0.004",
		-1500: "-1,500", math.NaN(): "?", math.Inf(1): "∞", 999999: "999,999",
	}
	for v, want := range tests {
		if got := formatNum(v); got != want {
			t.Errorf("formatNum(%v) = %q, want %q", v, got, want)
		}
	}
}
