package config

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// goTypeWords are what yaml.v3's own messages say and ours must not.
var goTypeWords = []string{"time.Duration", "config.", "ingest.", "float64", "[]string", "!!", "unmarshal"}

func TestDecodeMistakesNameThePath(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"misspelt source key", "sources:\n  - path: x\n    fromat: caddy\n",
			[]string{"sources[0].fromat (line 3): unknown key; allowed keys are path, kafka, format, mapping, pull"}},
		{"misspelt key in a source mapping", "sources:\n  - path: x\n    mapping:\n      tokn: [a]\n",
			[]string{"sources[0].mapping.tokn (line 4)", "allowed keys are time, token, key_id, ip,", "sample_rate_field"}},
		{"misspelt key in a mapping's time", "mapping:\n  time:\n    path: [ts]\n",
			[]string{"mapping.time.path (line 3)", "allowed keys are paths, layout"}},
		{"misspelt key in a source pull rule", "sources:\n  - path: x\n    pull:\n      - {method: GET}\n      - {methd: GET}\n",
			[]string{"sources[0].pull[1].methd (line 5)", "allowed keys are method, path, count"}},
		{"misspelt top-level pull key", "pull:\n  - cnt: one\n",
			[]string{"pull[0].cnt (line 2)", "allowed keys are method, path, count"}},
		{"misspelt sink key", "alerts:\n  sinks:\n    - type: stdout\n    - type: file\n      pth: a\n",
			[]string{"alerts.sinks[1].pth (line 5)", "allowed keys are type, name, path, url, headers, timeout"}},
		{"misspelt detect key", "detect:\n  zscore: 5\n",
			[]string{"detect.zscore (line 2)", "allowed keys are warmup, cooldown, half_life, z, ratio,"}},
		{"duration without unit", "state_dir: x\ncheckpoint_interval: 30\n",
			[]string{"checkpoint_interval (line 2): 30 is not a duration: give a unit, e.g. 30s, 5m, 1h"}},
		{"duration that is a word", "windows:\n  size: soon\n",
			[]string{"windows.size (line 2)", `"soon" is not a duration`, "30s, 5m, 1h"}},
		{"text where a number goes", "detect:\n  z: abc\n",
			[]string{"detect.z (line 2)", `"abc" is not a number`}},
		{"number too large", "detect:\n  z: -1e400\n",
			[]string{"detect.z (line 2): -1e400 is too large for a number: a number is at most about 1.8e+308 either way"}},
		{"quoted number", "detect:\n  min_messages: \"300\"\n",
			[]string{"detect.min_messages (line 2)", "expected a number, written without quotes"}},
		{"list where a map goes", "windows: [1m]\n",
			[]string{"windows (line 1): expected a map of keys (allowed keys are size, lateness), got a list"}},
		{"map where a list goes", "sources:\n  path: x\n",
			[]string{"sources (line 2)", "expected a list", "got a map of keys"}},
		{"single value where a list goes", "mapping:\n  token: request.headers.X-Key\n",
			[]string{"mapping.token (line 2)", "expected a list", "got a single value"}},
		{"list where a single value goes", "state_dir: [a, b]\n",
			[]string{"state_dir (line 1): expected a single value, got a list"}},
		{"list where headers go", "alerts:\n  sinks:\n    - type: webhook\n      headers: [a]\n",
			[]string{"alerts.sinks[0].headers (line 4): expected a map of keys, got a list"}},
		{"key given twice", "windows:\n  size: 1m\n  size: 2m\n",
			[]string{"windows.size (line 3): given twice (first on line 2)"}},
		{"not a map at all", "just some text\n",
			[]string{"configuration (line 1): expected a map of keys (allowed keys are state_dir,"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, w := range goTypeWords {
				if strings.Contains(msg, w) {
					t.Errorf("error %q speaks Go or YAML internals (%q)", msg, w)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Line == 0 {
				t.Errorf("error %v is not a FieldError with a line", err)
			}
		})
	}
}

// The allowed keys come from the struct tags, so a field added later is
// listed without anyone updating a message.
func TestAllowedKeysFollowTheTags(t *testing.T) {
	types := map[string]reflect.Type{
		"zz_unknown: 1\n":                          reflect.TypeFor[Config](),
		"sources:\n  - zz_unknown: 1\n":            reflect.TypeFor[Source](),
		"mapping:\n  zz_unknown: 1\n":              reflect.TypeFor[ingest.Mapping](),
		"pull:\n  - zz_unknown: 1\n":               reflect.TypeFor[ingest.PullRule](),
		"alerts:\n  sinks:\n    - zz_unknown: 1\n": reflect.TypeFor[Sink](),
		"detect:\n  zz_unknown: 1\n":               reflect.TypeFor[Detect](),
		"log:\n  zz_unknown: 1\n":                  reflect.TypeFor[Log](),
	}
	for doc, typ := range types {
		_, err := Parse([]byte(doc))
		if err == nil {
			t.Fatalf("%q accepted", doc)
		}
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "" {
				continue
			}
			if !regexp.MustCompile(`\b` + name + `\b`).MatchString(err.Error()) {
				t.Errorf("%s: error %q does not list the key %q", typ, err, name)
			}
		}
	}
}

func TestEveryMistakeIsReported(t *testing.T) {
	_, err := Parse([]byte("windoes: {}\ncheckpoint_interval: 30\ndetect:\n  zz: 1\n"))
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a heading and one line per mistake, got %q", err)
	}
	for i, field := range []string{"windoes (line 1)", "checkpoint_interval (line 2)", "detect.zz (line 4)"} {
		if !strings.Contains(lines[i+1], field) {
			t.Errorf("line %d = %q, want %q", i+1, lines[i+1], field)
		}
	}
	// Mistakes found after decoding are all reported too.
	_, err = Parse([]byte("log:\n  level: loud\nwindows:\n  size: 2h\n"))
	var fe *FieldError
	if err == nil || !errors.As(err, &fe) {
		t.Fatalf("got %v, want field errors", err)
	}
	for _, want := range []string{"windows.size (line 4)", "1s to 1h", "log.level (line 2)", "debug, info"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// A syntax error keeps the line yaml.v3 gives, whatever it is: for an
// indentation error, yaml.v3 names the start of the enclosing block.
func TestSyntaxErrorKeepsYAMLsLine(t *testing.T) {
	doc := []byte("sources:\n  - path: x\n   format: caddy\n")
	var n yaml.Node
	yerr := yaml.Unmarshal(doc, &n)
	m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(yerr.Error())
	if m == nil {
		t.Fatalf("yaml gave no line: %v", yerr)
	}
	_, err := Parse(doc)
	if err == nil || !strings.Contains(err.Error(), "near line "+m[1]+":") || !strings.Contains(err.Error(), "indentation") {
		t.Fatalf("got %v, want yaml's line %s and a hint", err, m[1])
	}
}

func TestLabelKeys(t *testing.T) {
	good := []string{"0123456789ab", "10.0.0.1", "::1", "2001:db8::7", "/var/log/caddy/access.log", "logs/api.log"}
	for _, key := range good {
		if _, err := Parse([]byte("labels:\n  " + yamlKey(key) + ": tenant\n")); err != nil {
			t.Errorf("labels key %q rejected: %v", key, err)
		}
	}
	bad := []string{"0123456789a", "0123456789abc", "0123456789AB", "10.0.0.300", "tenant-a", "-"}
	for _, key := range bad {
		_, err := Parse([]byte("log:\n  level: info\nlabels:\n  " + yamlKey(key) + ": tenant\n"))
		want := "labels." + key + " (line 4): not a token fingerprint (12 hex characters, see sentinel fingerprint), an address or a source path"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("labels key %q: got %v, want %q", key, err, want)
		}
	}
}

func yamlKey(k string) string { return `"` + k + `"` }

// A raw token pasted as a labels key is the mistake the check catches; the
// message must not repeat it, but may give its fingerprint.
func TestLabelKeyThatIsARawTokenIsNotPrinted(t *testing.T) {
	const token = "sk_live_51HqLyjWDarjtT1zdp7dcXYZ9"
	_, err := Parse([]byte("labels:\n  " + token + ": tenant\n"))
	if err == nil {
		t.Fatal("accepted a raw token as a labels key")
	}
	msg := err.Error()
	if strings.Contains(msg, "sk_live") || strings.Contains(msg, "51HqLy") {
		t.Fatalf("error reveals the token: %q", msg)
	}
	for _, want := range []string{"(line 2)", "…XYZ9", ingest.Fingerprint(token), "not a token fingerprint"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
}

// Values of the wrong type are not printed when they could be a secret
// put on the wrong line.
func TestMisplacedSecretIsNotPrinted(t *testing.T) {
	docs := []string{
		"alerts:\n  sinks:\n    - type: slack\n      url: [https://hooks.example.com/T000/XXXXSECRET]\n",
		"alerts:\n  sinks:\n    - type: slack\n      timeout: https://hooks.example.com/T000/XXXXSECRET\n",
	}
	for _, doc := range docs {
		_, err := Parse([]byte(doc))
		if err == nil {
			t.Fatalf("%q accepted", doc)
		}
		if strings.Contains(err.Error(), "XXXXSECRET") {
			t.Errorf("error reveals the value: %v", err)
		}
		if !strings.Contains(err.Error(), "alerts.sinks[0].") {
			t.Errorf("error %v does not name the field", err)
		}
	}
}

func TestMergeKeysAndAliasesAreFollowed(t *testing.T) {
	doc := "x-base: &base\n  timeout: 5s\n"
	if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "x-base") {
		t.Fatalf("unknown top-level key not reported: %v", err)
	}
	c, err := Parse([]byte("windows: &w\n  size: 2m\n"))
	if err != nil || c.Windows.Size.Minutes() != 2 {
		t.Fatalf("anchor: %v, %+v", err, c)
	}
	_, err = Parse([]byte("windows: &w\n  size: 2m\nalerts:\n  sinks:\n    - <<: *w\n      type: stdout\n"))
	if err == nil || !strings.Contains(err.Error(), "alerts.sinks[0].size") {
		t.Fatalf("merged unknown key not reported with its path: %v", err)
	}
}
