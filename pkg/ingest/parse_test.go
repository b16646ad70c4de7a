package ingest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Expected records below were derived by hand from the lines in
// testdata/formats, which were written for these tests.

func TestParseCanonicalTestdata(t *testing.T) {
	want := []Record{
		{Time: ptestTime(9, 21, 7, 0), Cred: ptestTok("tok_test_aaaa1111bbbb"), IP: ptestIP("203.0.113.5"),
			Method: "GET", Path: "/messages/outbound?count=25", Status: 200, Bytes: 4096, Messages: 25,
			UA: "sentinel-test/1.0", Weight: 1},
		// Epoch seconds, Bearer prefix, port glued on, numbers as strings.
		{Time: ptestTime(9, 21, 8, 0), Cred: ptestTok("tok_test_aaaa1111bbbb"), IP: ptestIP("203.0.113.5"),
			Method: "GET", Path: "/messages/inbound", Status: 200, Bytes: 512, Messages: 3,
			UA: "sentinel-test/1.0", Weight: 1},
		// Epoch milliseconds as a string, bracketed IPv6 with port, "-" UA.
		{Time: ptestTime(9, 21, 9, 250000000), IP: ptestIP("2001:db8::7"),
			Method: "POST", Path: "/email", Status: 401, Bytes: 61, Weight: 1},
		// Offset converted to UTC; v4-mapped address unmapped; a 500 pulls nothing.
		{Time: ptestTime(9, 21, 10, 500000000), Cred: ptestTok("tok_test_cccc2222dddd"), IP: ptestIP("198.51.100.9"),
			Method: "GET", Path: "/messages/outbound", Status: 500, UA: "x", Weight: 1},
		// Credential from the query string, redacted in the path.
		{Time: ptestTime(9, 21, 11, 750000000), Cred: ptestTok("tok_test_eeee3333ffff"), IP: ptestIP("198.51.100.9"),
			Method: "GET", Path: "/messages?api_key=fp:" + ptestFP("tok_test_eeee3333ffff") + "&count=10",
			Status: 200, Bytes: 100, Messages: 10, UA: "curl/8.5.0", Weight: 1},
		// Nanosecond fraction; REDACTED is no credential; "unix:" no address.
		{Time: ptestTime(9, 21, 12, 123456789), Method: "HEAD", Path: "/health", Status: 204, Weight: 1},
		// Epoch nanoseconds; ALB-style unbracketed IPv6 with a 5-digit port.
		{Time: ptestTime(9, 21, 13, 0), Cred: Credential{FP: ptestFP("key_42"), Hint: "y_42"}, IP: ptestIP("2001:db8::40"),
			Method: "GET", Path: "/messages/outbound?count=5", Status: 206, Bytes: 12, Messages: 5,
			UA: "Go-http-client/1.1", Weight: 1},
	}
	p := ptestParser(t, ptestPreset(t, FormatCanonical), DefaultPullRules(FormatCanonical))
	ptestRun(t, p, filepath.Join("testdata", "formats", "canonical.jsonl"), want,
		[]string{"empty", "json", "time", "field"})
}

// ptestEdgeMapping describes testdata/formats/edge.jsonl, a made-up format
// that uses every path feature.
func ptestEdgeMapping() Mapping {
	return Mapping{
		Time:            TimeField{Paths: []string{"when"}},
		Token:           []string{"hdr.x-api-key", "query:sig"},
		KeyID:           []string{`key\.id`},
		IP:              []string{"hdr.x-forwarded-for|first", "peer"},
		Method:          []string{"req.0"},
		Path:            []string{"req.1"},
		Status:          []string{"code"},
		Bytes:           []string{"size"},
		UA:              []string{"agent"},
		SampleRateField: "sampling.rate",
	}
}

func TestParseEdgeTestdata(t *testing.T) {
	sig := "tok_test_sig/slash99" // as sent, %2F-encoded
	want := []Record{
		// CLF with +0200; header array; first X-Forwarded-For hop; full URL;
		// 1/0.25 weight; count=7 from the query.
		{Time: ptestTime(7, 21, 7, 0), Cred: ptestTok("tok_test_1111aaaa2222"), IP: ptestIP("198.51.100.23"),
			Method: "GET", Path: "/messages/outbound?count=7", Status: 200, Bytes: 77, Messages: 7, UA: "a", Weight: 4},
		// +0000 without colon; escaped dot in a key; key id has no hint; no
		// count parameter counts one.
		{Time: ptestTime(9, 21, 8, 250000000), Cred: ptestKeyID("AKID42"), IP: ptestIP("2001:db8::9"),
			Method: "GET", Path: "/messages", Status: 200, Bytes: 10, Messages: 1, UA: "b", Weight: 1},
		// Space separator, no zone; query:sig credential, decoded, redacted;
		// a count that is not a number counts one.
		{Time: ptestTime(9, 21, 9, 0), Cred: ptestTok(sig), IP: ptestIP("203.0.113.9"),
			Method: "GET", Path: "/messages/x?sig=fp:" + ptestFP(sig) + "&count=abc", Status: 200, Messages: 1,
			UA: "c", Weight: 1},
		// CLF without zone (HAProxy); lowercase bearer with two spaces.
		{Time: ptestTime(9, 21, 10, 500000000), Cred: ptestTok("tok_test_lower0000"), IP: ptestIP("203.0.113.9"),
			Method: "POST", Path: "/email", Status: 202, Bytes: 1, UA: "d", Weight: 1},
		// Apache \x escapes and a bare -; the escaped backslash stays.
		{Time: ptestTime(9, 21, 11, 0), IP: ptestIP("203.0.113.10"), Method: "GET", Path: "/x", Status: 304,
			UA: "caf\u00e9 \x01 \\x41", Weight: 1},
	}
	p := ptestParser(t, ptestEdgeMapping(), DefaultPullRules("edge"))
	ptestRun(t, p, filepath.Join("testdata", "formats", "edge.jsonl"), want, []string{"field"})
}

// ptestBadLines are lines that must be rejected, with their reason. Some
// carry a secret that must not show in the error.
var ptestBadLines = []struct {
	name, line, reason string
}{
	{"empty", "", ReasonEmpty},
	{"blank", " \t\r", ReasonEmpty},
	{"not json", "GET /messages HTTP/1.1", ReasonJSON},
	{"truncated", `{"ts":1715678467,"token":"tok_test_secretA1234`, ReasonJSON},
	{"array", `[1,2]`, ReasonJSON},
	{"string", `"tok_test_secretB1234"`, ReasonJSON},
	{"raw NUL", "{\"ts\":1715678467,\"ua\":\"a\x00b\"}", ReasonJSON},
	{"only NUL", "\x00", ReasonJSON},
	{"deep", strings.Repeat("[", 5000), ReasonJSON},
	{"trailing", `{"ts":1715678467} {"ts":1}`, ReasonJSON},
	{"missing ts", `{"ip":"203.0.113.1","token":"tok_test_secretC1234"}`, ReasonTime},
	{"null ts", `{"ts":null}`, ReasonTime},
	{"words ts", `{"ts":"yesterday","token":"tok_test_secretD1234"}`, ReasonTime},
	{"object ts", `{"ts":{"s":1}}`, ReasonTime},
	{"bool ts", `{"ts":true}`, ReasonTime},
	{"huge float ts", `{"ts":1e30}`, ReasonTime},
	{"huge int ts", `{"ts":99999999999999999999999}`, ReasonTime},
	{"negative ts", `{"ts":-5}`, ReasonTime},
	{"month 13", `{"ts":"2024-13-01T00:00:00Z"}`, ReasonTime},
	{"feb 30", `{"ts":"2024-02-30T00:00:00Z"}`, ReasonTime},
	{"bad zone", `{"ts":"2024-05-14T09:21:07+25:00"}`, ReasonTime},
	{"status word", `{"ts":1715678467,"status":"abc"}`, ReasonField},
	{"status object", `{"ts":1715678467,"status":{}}`, ReasonField},
	{"status too big", `{"ts":1715678467,"status":1000}`, ReasonField},
	{"status huge", `{"ts":1715678467,"status":99999999999999999999}`, ReasonField},
	{"status nan", `{"ts":1715678467,"status":nan}`, ReasonField},
	{"bytes negative", `{"ts":1715678467,"bytes":-1}`, ReasonField},
	{"bytes huge", `{"ts":1715678467,"bytes":1e300}`, ReasonField},
	{"bytes fraction", `{"ts":1715678467,"bytes":1.5}`, ReasonField},
	{"messages object", `{"ts":1715678467,"messages":[{}]}`, ReasonField},
	{"token object", `{"ts":1715678467,"token":{"v":"tok_test_secretE1234"}}`, ReasonField},
	{"method bool", `{"ts":1715678467,"method":true,"token":"tok_test_secretF1234"}`, ReasonField},
}

func TestParseBadLines(t *testing.T) {
	p := ptestParser(t, ptestPreset(t, FormatCanonical), DefaultPullRules(FormatCanonical))
	for _, tc := range ptestBadLines {
		t.Run(tc.name, func(t *testing.T) {
			rec := Record{Method: "stale", Weight: 3}
			err := p.Parse([]byte(tc.line), &rec)
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a *LineError", err)
			}
			if le.Reason != tc.reason {
				t.Errorf("reason %q (%v), want %q", le.Reason, err, tc.reason)
			}
			if rec != (Record{}) {
				t.Errorf("record not reset: %+v", rec)
			}
		})
	}
}

// TestParseAcceptsCoercibleValues is the other side of the bad lines:
// values that look odd but are valid.
func TestParseAcceptsCoercibleValues(t *testing.T) {
	p := ptestParser(t, ptestPreset(t, FormatCanonical), DefaultPullRules(FormatCanonical))
	cases := []struct {
		name, line string
		check      func(Record) bool
	}{
		{"integral float", `{"ts":1715678467,"bytes":612.0}`, func(r Record) bool { return r.Bytes == 612 }},
		{"exponent", `{"ts":1715678467,"bytes":1e3}`, func(r Record) bool { return r.Bytes == 1000 }},
		{"escaped NUL", `{"ts":1715678467,"ua":"a\u0000b"}`, func(r Record) bool { return r.UA == "a\x00b" }},
		{"epoch exponent", `{"ts":1.715678467e9}`, func(r Record) bool { return r.Time.Equal(ptestTime(9, 21, 7, 0)) }},
		{"token number", `{"ts":1715678467,"token":123456}`, func(r Record) bool { return r.Cred == ptestTok("123456") }},
		{"status zero", `{"ts":1715678467,"status":0}`, func(r Record) bool { return r.Status == 0 }},
		{"empty array", `{"ts":1715678467,"ua":[]}`, func(r Record) bool { return r.UA == "" }},
	}
	for _, tc := range cases {
		var rec Record
		if err := p.Parse([]byte(tc.line), &rec); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.check(rec) {
			t.Errorf("%s: unexpected record %+v", tc.name, rec)
		}
	}
}

var ptestTokenRE = regexp.MustCompile(`tok_test_[A-Za-z0-9_%]+`)

// TestNoRawTokenEscapes feeds every sample and bad line through every
// parser and checks that no token found in a line appears in an error or
// in any string of the Record.
func TestNoRawTokenEscapes(t *testing.T) {
	lines := ptestAllSeedLines(t)
	checked := 0
	for _, name := range PresetNames() {
		p := ptestParser(t, ptestPreset(t, name), DefaultPullRules(name))
		for _, line := range lines {
			var rec Record
			err := p.Parse(line, &rec)
			for _, tok := range ptestTokenRE.FindAllString(string(line), -1) {
				checked++
				if err != nil && strings.Contains(err.Error(), tok) {
					t.Errorf("%s: error %q carries a token", name, err)
				}
				for _, s := range []string{rec.Path, rec.UA, rec.Method, rec.Cred.FP, rec.Cred.Hint} {
					if strings.Contains(s, tok) {
						t.Errorf("%s: record field %q carries token %q", name, s, tok)
					}
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d token occurrences checked; the seed lines lost their tokens", checked)
	}
}

// ptestAllSeedLines gathers the testdata lines, the bad lines and, when
// present, the shared samples.
func ptestAllSeedLines(t testing.TB) [][]byte {
	var lines [][]byte
	for _, f := range []string{"canonical.jsonl", "edge.jsonl"} {
		lines = append(lines, ptestLines(t, filepath.Join("testdata", "formats", f))...)
	}
	for _, tc := range ptestBadLines {
		lines = append(lines, []byte(tc.line))
	}
	dir, err := ptestFindShared()
	if err != nil {
		return lines
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json*"))
	for _, f := range append(files, filepath.Join(dir, "aws_alb.log")) {
		lines = append(lines, ptestLines(t, f)...)
	}
	return lines
}

// ptestFindShared is ptestSharedDir without skipping.
func ptestFindShared() (string, error) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "formats"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}

func TestParseHostAddr(t *testing.T) {
	cases := []struct{ in, want string }{
		{"203.0.113.5", "203.0.113.5"},
		{"203.0.113.5:40112", "203.0.113.5"},
		{"[2001:db8::7]:443", "2001:db8::7"},
		{"[2001:db8::7]", "2001:db8::7"},
		{"2001:db8::1f", "2001:db8::1f"},
		{"2001:db8::40:51812", "2001:db8::40"},
		{"2001:db8::40:8080", "2001:db8::40:8080"}, // a valid address: kept whole
		{"2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::8a2e:370:7334"},
		{"::ffff:198.51.100.9", "198.51.100.9"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{" 198.51.100.23 ", "198.51.100.23"},
		{"203.0.113.5:99999", ""},
		{"203.0.113.5:", ""},
		{"01.2.3.4", ""},
		{"1.2.3", ""},
		{"1.2.3.4.", ""},
		{"256.1.1.1", ""},
		{"unix:", ""},
		{"[2001:db8::7]x", ""},
		{"", ""},
	}
	for _, tc := range cases {
		got, ok := parseHostAddr([]byte(tc.in))
		if tc.want == "" {
			if ok {
				t.Errorf("parseHostAddr(%q) = %v, want no address", tc.in, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("parseHostAddr(%q) = %v, %v, want %s", tc.in, got, ok, tc.want)
		}
	}
}

func TestParseQueryRedaction(t *testing.T) {
	m := ptestPreset(t, FormatCanonical)
	m.QueryCredentials = []string{"api_key"}
	m.Token = []string{"token", "query:sig"}
	p := ptestParser(t, m, nil)
	cases := []struct {
		name, path, wantPath string
		wantCred             Credential
	}{
		{"none", "/a?b=1&c", "/a?b=1&c", Credential{}},
		{"key case", "/a?API_KEY=tok_test_q1&x=1", "/a?API_KEY=fp:" + ptestFP("tok_test_q1") + "&x=1", ptestTok("tok_test_q1")},
		{"empty value", "/a?api_key=&x=1", "/a?api_key=&x=1", Credential{}},
		{"both", "/a?sig=tok_test_s2&api_key=tok_test_q2",
			"/a?sig=fp:" + ptestFP("tok_test_s2") + "&api_key=fp:" + ptestFP("tok_test_q2"), ptestTok("tok_test_s2")},
		{"not default", "/a?other=kept", "/a?other=kept", Credential{}},
		// key is no credential for this mapping but is still hashed in the path.
		{"default still redacted", "/a?key=tok_test_k3", "/a?key=fp:" + ptestFP("tok_test_k3"), Credential{}},
		{"plus decoded", "/a?api_key=a+b%2Bc", "/a?api_key=fp:" + ptestFP("a b+c"), ptestTok("a b+c")},
	}
	for _, tc := range cases {
		var rec Record
		line := fmt.Sprintf(`{"ts":1715678467,"path":%q}`, tc.path)
		if err := p.Parse([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rec.Path != tc.wantPath || rec.Cred != tc.wantCred {
			t.Errorf("%s: path %q cred %+v, want %q %+v", tc.name, rec.Path, rec.Cred, tc.wantPath, tc.wantCred)
		}
	}
}

// TestPathSegmentCredentialRedacted: an API that puts the key in the
// path (a bot API's /bot<key>/send) has it replaced there too, so no
// alert quoting the path shows it; a short credential is left alone,
// since it could be any word of a path.
func TestPathSegmentCredentialRedacted(t *testing.T) {
	p := ptestParser(t, ptestPreset(t, FormatCanonical), nil)
	const key = "tok_live_inpath_42"
	for _, tc := range []struct{ token, path, want string }{
		{key, "/bot" + key + "/messages?count=5", "/botfp:" + ptestFP(key) + "/messages?count=5"},
		{key, "/messages?count=5", "/messages?count=5"},
		{"abc", "/abc/messages", "/abc/messages"},
	} {
		var rec Record
		line := fmt.Sprintf(`{"ts":1715678467,"token":%q,"path":%q}`, tc.token, tc.path)
		if err := p.Parse([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Path != tc.want {
			t.Errorf("path %q with token %q: got %q, want %q", tc.path, tc.token, rec.Path, tc.want)
		}
	}
}

// TestHeaderCredentialWinsOverQuery checks the order: header first.
func TestHeaderCredentialWinsOverQuery(t *testing.T) {
	p := ptestParser(t, ptestPreset(t, FormatCanonical), nil)
	var rec Record
	line := `{"ts":1715678467,"token":"tok_test_hdr1","path":"/m?api_key=tok_test_qry1"}`
	if err := p.Parse([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Cred != ptestTok("tok_test_hdr1") || rec.Path != "/m?api_key=fp:"+ptestFP("tok_test_qry1") {
		t.Errorf("got cred %+v path %q", rec.Cred, rec.Path)
	}
}

func TestCredentialCacheIsBounded(t *testing.T) {
	p := ptestParser(t, ptestPreset(t, FormatCanonical), nil)
	var rec Record
	for i := range credCacheSize + 10 {
		tok := fmt.Sprintf("tok_test_cache%06d", i)
		if err := p.Parse([]byte(`{"ts":1715678467,"token":"`+tok+`"}`), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Cred != ptestTok(tok) {
			t.Fatalf("token %d: cred %+v, want %+v", i, rec.Cred, ptestTok(tok))
		}
		if n := len(p.creds[0]); n > credCacheSize {
			t.Fatalf("cache holds %d entries, bound is %d", n, credCacheSize)
		}
	}
}

func TestRepairApache(t *testing.T) {
	p := &Parser{}
	cases := []struct{ in, want string }{
		{`{"a":"x\x41y"}`, `{"a":"xAy"}`},
		{`{"a":"\xe2\x80\x94"}`, "{\"a\":\"\xe2\x80\x94\"}"},
		{`{"a":"\x22\x5c\x0a"}`, `{"a":"\"\\\u000a"}`},
		{`{"a":"\\x41"}`, `{"a":"\\x41"}`},
		{`{"a":-,"b":[1,-],"c":-}`, `{"a":null,"b":[1,null],"c":null}`},
		{`{"a":-1,"b":"-","c":"x-,y"}`, `{"a":-1,"b":"-","c":"x-,y"}`},
		{`{"a":"\x4"}`, `{"a":"\x4"}`},
	}
	for _, tc := range cases {
		if got := string(p.repairApache([]byte(tc.in))); got != tc.want {
			t.Errorf("repairApache(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzParse checks that no input panics, that rejections are LineErrors
// with a known reason and a reset record, and that accepted records keep
// their invariants.
func FuzzParse(f *testing.F) {
	for _, line := range ptestAllSeedLines(f) {
		f.Add(line)
	}
	parsers := []*Parser{
		ptestParser(f, ptestPreset(f, FormatCanonical), DefaultPullRules(FormatCanonical)),
		ptestParser(f, ptestEdgeMapping(), DefaultPullRules("edge")),
		ptestParser(f, ptestPreset(f, "caddy"), DefaultPullRules("caddy")),
	}
	reasons := map[string]bool{ReasonEmpty: true, ReasonJSON: true, ReasonTime: true, ReasonField: true}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, p := range parsers {
			var rec Record
			err := p.Parse(line, &rec)
			if err != nil {
				var le *LineError
				if !errors.As(err, &le) || !reasons[le.Reason] || rec != (Record{}) {
					t.Fatalf("bad rejection: %v, record %+v", err, rec)
				}
				continue
			}
			if rec.Time.Location().String() != "UTC" || rec.Weight < 1 || rec.Messages < 0 ||
				rec.Bytes < 0 || rec.Status < 0 || rec.Status > 999 {
				t.Fatalf("accepted record breaks invariants: %+v", rec)
			}
			if rec.Cred.FP != "" && len(rec.Cred.FP) != FingerprintLen {
				t.Fatalf("fingerprint %q", rec.Cred.FP)
			}
		}
	})
}
