package ingest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestShippedRoundTrip encodes generated records, of every shape the
// parser produces, and parses each line back with the shipped preset: the
// record must come back unchanged, and the line must be JSON any reader
// accepts.
func TestShippedRoundTrip(t *testing.T) {
	m, err := Preset(FormatShipped)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewParser(m, DefaultPullRules(FormatShipped))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var line []byte
	for i := range 20000 {
		want := genRecord(rng)
		line = AppendShipped(line[:0], &want)
		if !json.Valid(line) {
			t.Fatalf("record %d: not valid JSON: %s", i, line)
		}
		var got Record
		if err := p.Parse(line, &got); err != nil {
			t.Fatalf("record %d: parsing %s: %v", i, line, err)
		}
		if !sameRecord(got, want) {
			t.Fatalf("record %d: round trip through\n%s\ngave %+v\nwant %+v", i, line, got, want)
		}
	}
}

func sameRecord(a, b Record) bool {
	return a.Time.Equal(b.Time) && a.Time.Location() == time.UTC && a.Cred == b.Cred && a.IP == b.IP &&
		a.Method == b.Method && a.Path == b.Path && a.Status == b.Status && a.Bytes == b.Bytes &&
		a.Messages == b.Messages && a.UA == b.UA && a.Weight == b.Weight
}

// genRecord returns a record such as the parser could have produced.
func genRecord(rng *rand.Rand) Record {
	r := Record{
		Time:   time.Unix(0, rng.Int64N(4e18)+1e18).UTC(),
		IP:     genAddr(rng),
		Method: pick(rng, "", "GET", "POST", "DELETE", "PROPFIND", "gEt"),
		Path:   genPath(rng),
		Status: rng.IntN(1000),
		// Counts of 19 digits and more are read as floats: no
		// response is that large.
		Bytes:  rng.Int64N(1e18),
		UA:     genText(rng),
		Weight: 1,
	}
	if r.Status >= 200 && r.Status <= 299 {
		r.Messages = rng.Int64N(1 << 40)
	}
	if rng.IntN(4) > 0 {
		r.Cred = Credential{FP: Fingerprint(fmt.Sprint(rng.Int64())), Hint: genHint(rng)}
	}
	switch rng.IntN(4) {
	case 0:
		r.Weight = 1 / (rng.Float64()*0.999 + 0.001)
	case 1:
		r.Weight = float64(rng.IntN(1000) + 1)
	}
	return r
}

func genAddr(rng *rand.Rand) netip.Addr {
	switch rng.IntN(5) {
	case 0:
		return netip.Addr{}
	case 1:
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[0] = 0x20 // never an IPv4-mapped address, which the parser unmaps
		return netip.AddrFrom16(b)
	case 2:
		return netip.MustParseAddr("fe80::1").WithZone(pick(rng, "eth0", `we"ird\zone`))
	}
	return netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
}

// pieces are the awkward parts of generated text: quotes, backslashes,
// control characters, multi-byte and astral characters, a redacted
// credential.
var pieces = []string{"a", "Z", " ", `"`, `\`, "/", "\n", "\t", "\x01", "\x1f", "\x7f", "é", "日本", "😀",
	"\u2028", "%20", "&", "=", "?", "-", "fp:", "<script>", "'"}

func genText(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(12) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	if s := b.String(); s != "-" {
		return s
	}
	return "--"
}

// genPath returns "" or an absolute path, sometimes with a query string
// holding a credential parameter as the parser leaves it: redacted.
func genPath(rng *rand.Rand) string {
	if rng.IntN(8) == 0 {
		return ""
	}
	p := "/" + genText(rng)
	if rng.IntN(3) == 0 {
		p += "?count=" + fmt.Sprint(rng.IntN(1000)) + "&token=fp:" + Fingerprint(genText(rng))
	}
	return p
}

func genHint(rng *rand.Rand) string {
	if rng.IntN(4) == 0 {
		return "" // a key id
	}
	const chars = `abcXYZ019_-."\`
	var b [4]byte
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b[:])
}

func pick(rng *rand.Rand, s ...string) string { return s[rng.IntN(len(s))] }

func TestShippedRejectsWhatIsNotAFingerprint(t *testing.T) {
	m, _ := Preset(FormatShipped)
	p, err := NewParser(m, DefaultPullRules(FormatShipped))
	if err != nil {
		t.Fatal(err)
	}
	const ts = `{"ts":"2024-05-14T09:21:07Z",`
	for _, tc := range []struct{ line, field string }{
		{ts + `"fp":"pm-live-3f2a9c0b1d4e9f3a"}`, "fingerprint"}, // a raw token
		{ts + `"fp":"3F2A9C0B1D4E"}`, "fingerprint"},
		{ts + `"fp":"3f2a9c0b1d4"}`, "fingerprint"},
		{ts + `"fp":"3f2a9c0b1d4g"}`, "fingerprint"},
		{ts + `"fp":"3f2a9c0b1d4e","hint":"live-9f3a"}`, "hint"},
		{ts + `"fp":"3f2a9c0b1d4e","weight":0.5}`, "weight_field"},
		{ts + `"fp":"3f2a9c0b1d4e","weight":"x"}`, "weight_field"},
	} {
		var rec Record
		err := p.Parse([]byte(tc.line), &rec)
		le, ok := err.(*LineError)
		if !ok || le.Reason != ReasonField || !strings.Contains(err.Error(), "field "+tc.field) {
			t.Errorf("%s: error %v, want a field rejection naming %s", tc.line, err, tc.field)
			continue
		}
		if strings.Contains(err.Error(), "pm-live") || strings.Contains(err.Error(), "3f2a") {
			t.Errorf("%s: error %q quotes the value", tc.line, err)
		}
	}
	var rec Record
	if err := p.Parse([]byte(ts+`"ip":"198.51.100.7","path":"/m?token=abc"}`), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Cred.FP != "" {
		t.Errorf("a query parameter was taken for the credential of a shipped record: %+v", rec.Cred)
	}
}

func TestRedactionKeepsARedactedValue(t *testing.T) {
	p, err := NewParser(mustPreset(t, FormatCanonical), nil)
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	line := `{"ts":1715678467,"path":"/m?token=fp:0123456789ab&key=secret-value"}`
	if err := p.Parse([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	want := "/m?token=fp:0123456789ab&key=fp:" + Fingerprint("secret-value")
	if rec.Path != want {
		t.Errorf("path = %q, want %q", rec.Path, want)
	}
}

func mustPreset(t *testing.T, name string) Mapping {
	t.Helper()
	m, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func BenchmarkAppendShipped(b *testing.B) {
	r := Record{Time: time.Now(), Cred: Credential{FP: "3f2a9c0b1d4e", Hint: "9f3a"},
		IP: netip.MustParseAddr("198.51.100.23"), Method: "GET", Path: "/messages?count=500",
		Status: 200, Bytes: 48213, Messages: 500, UA: "curl/8.5.0", Weight: 1}
	var buf []byte
	for b.Loop() {
		buf = AppendShipped(buf[:0], &r)
	}
}
