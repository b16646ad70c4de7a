package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// stestPair is one mapping parsed twice: through the line scanner and,
// with the scanner removed, through fastjson alone.
type stestPair struct {
	name       string
	fast, slow *Parser
}

func stestPairs(t testing.TB) []stestPair {
	t.Helper()
	flat := ptestPreset(t, FormatCanonical)
	// Flat but with every feature the scanner leaves to the text it
	// returns: |first, query:NAME credentials, a query field, a sample
	// rate field and several candidates per field.
	flat.Token = []string{"token", "auth", "query:sig"}
	flat.KeyID = []string{"kid"}
	flat.IP = []string{"xff|first", "ip"}
	flat.Query = []string{"q"}
	flat.SampleRateField = "rate"
	mappings := []struct {
		name string
		m    Mapping
		pull string
	}{
		{FormatCanonical, ptestPreset(t, FormatCanonical), FormatCanonical},
		{"flat", flat, FormatCanonical},
		{"traefik", ptestPreset(t, "traefik"), "traefik"},
		{"nginx", ptestPreset(t, "nginx"), "nginx"},
		{"apigw", ptestPreset(t, "apigw"), "apigw"},
	}
	var pairs []stestPair
	for _, mp := range mappings {
		fast := ptestParser(t, mp.m, DefaultPullRules(mp.pull))
		if fast.scan == nil {
			t.Fatalf("%s: mapping is flat but has no line scanner", mp.name)
		}
		slow := ptestParser(t, mp.m, DefaultPullRules(mp.pull))
		slow.scan = nil
		pairs = append(pairs, stestPair{mp.name, fast, slow})
	}
	return pairs
}

// stestCompare parses line on both parsers of a pair and describes any
// difference in record, error or reason; "" when they agree.
func stestCompare(pr stestPair, line []byte) string {
	in := bytes.Clone(line)
	var fr, sr Record
	ferr := pr.fast.Parse(line, &fr)
	serr := pr.slow.Parse(line, &sr)
	if !bytes.Equal(in, line) {
		return "the line was modified"
	}
	if (ferr == nil) != (serr == nil) {
		return fmt.Sprintf("errors differ: fast %v, fastjson %v", ferr, serr)
	}
	if ferr != nil {
		var fl, sl *LineError
		if !errors.As(ferr, &fl) || !errors.As(serr, &sl) || fl.Reason != sl.Reason || ferr.Error() != serr.Error() {
			return fmt.Sprintf("errors differ: fast %v, fastjson %v", ferr, serr)
		}
	}
	if fr != sr || fr.Time.Location() != sr.Time.Location() {
		return fmt.Sprintf("records differ:\nfast     %+v\nfastjson %+v", fr, sr)
	}
	return ""
}

// stestSeeds are lines aimed at the scanner's edges: escapes, duplicates,
// nesting, whitespace and fastjson's lenient literals.
var stestSeeds = []string{
	`{"ts":"2024-05-14T09:21:07.204Z","token":"tok_test_aaaa1111bbbb","ip":"203.0.113.5","method":"GET","path":"/messages/outbound?count=25","status":200,"bytes":4096,"messages":25,"ua":"Go-http-client/1.1"}`,
	` { "ts" : 1715678467 , "ua" : "a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00" } `,
	`{"ts":1715678467,"ua":"\ud83d","method":"\ud83dx\u12","path":"/\u002fa?b=\u0026"}`,
	`{"ts":1715678467,"ua":"\ud83d\u0041","token":"\ud800\udc00\q\u"}`,
	`{"ts":1715678467,"ts":"garbage","status":200,"status":{}}`,
	`{"ts":null,"ts":1715678467}`,
	// A repeat of the key the scanner expects next: token, then ts (which
	// makes token the expected key again), then token.
	`{"token":"tok_test_first1","ts":1715678467,"token":"tok_test_second2"}`,
	`{"ip":"1.2.3.4","ts":1715678467,"token":"tok_test_a1","ip":"5.6.7.8"}`,
	`{"ts":1715678467,"extra":{"a":[1,{"b":null},true,false,"x\"y"],"c":{}},"d":[],"ua":"-"}`,
	`{"ts":1715678467,"status":nan}`,
	`{"ts":1715678467,"status":NaN,"bytes":-inf}`,
	`{"ts":1715678467,"extra":+Inf}`,
	`{"ts":1715678467,"status":"2e2","bytes":1e3,"messages":"--"}`,
	`{"ts":1715678467,"bytes":-,"ua":"caf\xc3\xa9"}`,
	`{"ts":1715678467,"ua":"a\\x41"}`,
	`{"t\u0073":1715678467}`,
	`{"ts":1715678467,"u\u0061":"x","ua":"y"}`,
	`{"ts":1715678467,"token":["tok_test_arr1234"],"ip":["1.2.3.4"]}`,
	`{"ts":1715678467,"token":true}`,
	`{"ts":1715678467,"ua":"` + "\x01\x7f\xff" + `"}`,
	`{"ts":1715678467,"a":[` + strings.Repeat("[", 80) + strings.Repeat("]", 80) + `]}`,
	`{"ts":1715678467,"a":truex}`,
	`{"ts":1715678467,}`,
	`{"ts":1715678467,"a":[1,]}`,
	`{"ts":1715678467}` + "\t\r\n ",
	`{"ts":1715678467,"xff":"198.51.100.23, 10.0.0.9","ip":"10.0.0.9","auth":"Bearer tok_test_bbbb"}`,
	`{"ts":1715678467,"path":"/messages?sig=tok_test_sig1&count=3","q":"x=1","rate":"0.5","kid":"K1"}`,
	`{"StartUTC":"2024-05-14T09:21:07Z","RequestMethod":"GET","RequestPath":"/messages","DownstreamStatus":200}`,
	`{"msec":"1715678467.204","uri":"/messages","status":"200","arg_api_key":"tok_test_nginx1"}`,
	`{"requestTimeEpoch":1715678467204,"apiKeyId":"k1","httpMethod":"GET","resourcePath":"/messages"}`,
}

// stestSeedLines gathers every seed: the testdata and bad lines, the
// scanner's edge lines, and mutations of a canonical line.
func stestSeedLines(t testing.TB) [][]byte {
	lines := ptestAllSeedLines(t)
	for _, s := range stestSeeds {
		lines = append(lines, []byte(s))
	}
	base := []byte(stestSeeds[0])
	for i := 0; i < len(base); i += 7 {
		for _, c := range []byte{'"', '\\', '{', '}', ',', ':', ' ', 0, 'x'} {
			m := bytes.Clone(base)
			m[i] = c
			lines = append(lines, m)
		}
		lines = append(lines, append(bytes.Clone(base[:i]), base[i+1:]...))
	}
	return lines
}

// TestFastPathMatchesFastjsonSeeds runs every seed through both paths,
// and checks that the scanner really takes the lines it was written for.
func TestFastPathMatchesFastjsonSeeds(t *testing.T) {
	pairs := stestPairs(t)
	for _, line := range stestSeedLines(t) {
		for _, pr := range pairs {
			if d := stestCompare(pr, line); d != "" {
				t.Errorf("%s: line %q: %s", pr.name, line, d)
			}
		}
	}
	scanned := 0
	for _, s := range stestSeeds {
		if pairs[1].fast.scan.scan([]byte(s)) {
			scanned++
		}
	}
	if scanned < len(stestSeeds)/2 {
		t.Errorf("the scanner read only %d of %d seed lines; the fast path is not being taken", scanned, len(stestSeeds))
	}
}

// TestScannerDefersToFastjson lists lines the scanner must leave to
// fastjson, because only the fastjson path (with its Apache repair) reads
// them right.
func TestScannerDefersToFastjson(t *testing.T) {
	p := ptestParser(t, ptestPreset(t, FormatCanonical), nil)
	for _, line := range []string{
		``, `   `, `[1]`, `"x"`, `{"ts":1`, `{"ts":1} x`,
		`{"ts":1,"bytes":-}`,          // Apache's bare dash
		`{"ts":1,"ua":"\x41"}`,        // Apache's \x escape
		`{"ts":1,"other":"\x41"}`,     // even in a key the mapping ignores
		`{"ts":1,"ua":"a` + "\x00\"}", // NUL
		`{"t\u0073":1}`,               // escaped key
		`{"ts":1,"status":nan}`,       // NaN
		`{"ts":1,"token":["t"]}`,      // array in a mapped key
		`{"ts":1,"a":` + strings.Repeat("[", scanMaxDepth+1) + strings.Repeat("]", scanMaxDepth+1) + `}`,
	} {
		if p.scan.scan([]byte(line)) {
			t.Errorf("scanner accepted %q", line)
		}
	}
}

// TestNestedMappingHasNoScanner checks that nested paths keep fastjson.
func TestNestedMappingHasNoScanner(t *testing.T) {
	for _, name := range []string{"caddy", "gcplb"} {
		if p := ptestParser(t, ptestPreset(t, name), nil); p.scan != nil {
			t.Errorf("%s: nested mapping got a line scanner", name)
		}
	}
	if p := ptestParser(t, ptestEdgeMapping(), nil); p.scan != nil {
		t.Error("edge mapping got a line scanner")
	}
}

// stestKeys and stestValues are the pieces stestRandomLine builds lines
// from: mapped and unmapped keys, escaped keys, and values of every kind
// fastjson reads, leniently or not.
var (
	stestKeys = []string{`"ts"`, `"token"`, `"ip"`, `"method"`, `"path"`, `"status"`, `"bytes"`,
		`"messages"`, `"ua"`, `"xff"`, `"auth"`, `"q"`, `"rate"`, `"kid"`, `"other"`, `"t\u0073"`, `"u\a"`, `""`}
	stestValues = []string{`1715678467`, `"2024-05-14T09:21:07.204Z"`, `"1715678467250"`, `1.715678467e9`,
		`"tok_test_aaaa1111bbbb"`, `"Bearer tok_test_x1234"`, `"REDACTED"`, `"203.0.113.5:80"`, `"[::1]:443"`,
		`"198.51.100.23, 10.0.0.9"`, `"GET"`, `"/messages?count=5&api_key=tok_test_q%2B1"`, `200`, `"200"`,
		`-1`, `1e3`, `"1.5"`, `"0.25"`, `"-"`, `""`, `null`, `true`, `false`, `nan`, `NaN`, `-Inf`, `+1`,
		`--`, `1e`, `.`, `[]`, `["x"]`, `[1,[2,{"a":null}]]`, `{}`, `{"a":{"b":[true]}}`, `"\u00e9\n\t"`,
		`"\ud83d\ude00"`, `"\ud83d"`, `"\u12"`, `"\q\/"`, `"\\x41"`, `"\x41"`, `-`, `"\u002d"`,
		`"a\"b"`, "\"\x01\xff\"", `nul`, `tru`, `"unterminated`}
	stestSpaces = []string{"", "", "", " ", "\t", "\r\n", "\v"}
	// stestBreakers are the bytes a random line is broken with.
	stestBreakers = "\"{}[],:-\\ x\x00"
)

// stestRandomLine builds a JSON-like object line, sometimes broken.
func stestRandomLine(r *rand.Rand) []byte {
	sp := func() string { return stestSpaces[r.IntN(len(stestSpaces))] }
	var b strings.Builder
	b.WriteString(sp() + "{")
	for i := range r.IntN(12) {
		if i > 0 {
			b.WriteString(sp() + ",")
		}
		b.WriteString(sp() + stestKeys[r.IntN(len(stestKeys))] + sp() + ":" + sp())
		b.WriteString(stestValues[r.IntN(len(stestValues))])
	}
	b.WriteString(sp() + "}" + sp())
	line := []byte(b.String())
	if len(line) > 0 && r.IntN(4) == 0 {
		i := r.IntN(len(line))
		switch r.IntN(3) {
		case 0:
			line = append(line[:i], line[i+1:]...)
		case 1:
			line[i] = stestBreakers[r.IntN(len(stestBreakers))]
		default:
			c := stestBreakers[r.IntN(len(stestBreakers))]
			line = append(line[:i], append([]byte{c}, line[i:]...)...)
		}
	}
	return line
}

// TestFastPathMatchesFastjsonRandom compares both paths on lines built
// from a grammar of tricky values, which byte-level fuzzing reaches only
// slowly. The seed is fixed so that a failure can be replayed.
func TestFastPathMatchesFastjsonRandom(t *testing.T) {
	pairs := stestPairs(t)
	r := rand.New(rand.NewPCG(1, 2))
	scanned := 0
	for range 20000 {
		line := stestRandomLine(r)
		if pairs[1].fast.scan.scan(line) {
			scanned++
		}
		for _, pr := range pairs {
			if d := stestCompare(pr, line); d != "" {
				t.Fatalf("%s: line %q: %s", pr.name, line, d)
			}
		}
	}
	if scanned < 1000 {
		t.Errorf("the scanner read only %d of 20000 lines; the comparison mostly tested fastjson against itself", scanned)
	}
}

// FuzzFastPathMatchesFastjson requires the line scanner and fastjson to
// give the same record and the same error for any line.
func FuzzFastPathMatchesFastjson(f *testing.F) {
	for _, line := range stestSeedLines(f) {
		f.Add(line)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		f.Add(stestRandomLine(r))
	}
	pairs := stestPairs(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, pr := range pairs {
			if d := stestCompare(pr, line); d != "" {
				t.Fatalf("%s: line %q: %s", pr.name, line, d)
			}
		}
	})
}

// BenchmarkScanCanonical measures the line scanner alone, without the
// field conversions that follow it.
func BenchmarkScanCanonical(b *testing.B) {
	p := ptestParser(b, ptestPreset(b, FormatCanonical), nil)
	line := []byte(stestSeeds[0])
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if !p.scan.scan(line) {
			b.Fatal("the scanner refused a canonical line")
		}
	}
}
