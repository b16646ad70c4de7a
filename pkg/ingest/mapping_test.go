package ingest

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestMappingValidate(t *testing.T) {
	valid := func() Mapping { return ptestPreset(t, FormatCanonical) }
	cases := []struct {
		name   string
		change func(*Mapping)
		want   string // a word the message must hold
	}{
		{"no time", func(m *Mapping) { m.Time.Paths = nil }, "time.paths"},
		{"bad layout", func(m *Mapping) { m.Time.Layout = "epoch" }, "time.layout"},
		{"empty key", func(m *Mapping) { m.IP = []string{"a..b"} }, "field ip"},
		{"empty path", func(m *Mapping) { m.UA = []string{""} }, "field ua"},
		{"trailing backslash", func(m *Mapping) { m.Token = []string{`a\`} }, "field token"},
		{"unknown modifier", func(m *Mapping) { m.IP = []string{"xff|last"} }, "field ip"},
		{"query in path", func(m *Mapping) { m.Path = []string{"query:p"} }, "field path"},
		{"query without name", func(m *Mapping) { m.Token = []string{"query:"} }, "field token"},
		{"query in time", func(m *Mapping) { m.Time.Paths = []string{"query:t"} }, "time.paths"},
		{"sample rate", func(m *Mapping) { m.SampleRate = 1.5 }, "sample_rate"},
		{"negative sample rate", func(m *Mapping) { m.SampleRate = -0.1 }, "sample_rate"},
		{"sample field", func(m *Mapping) { m.SampleRateField = "a." }, "sample_rate_field"},
		{"query cred name", func(m *Mapping) { m.QueryCredentials = []string{"a=b"} }, "query_credentials"},
	}
	for _, tc := range cases {
		m := valid()
		tc.change(&m)
		err := m.Validate()
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q does not name %q", tc.name, err, tc.want)
		}
	}
	if err := valid().Validate(); err != nil {
		t.Errorf("canonical preset: %v", err)
	}
}

func TestFieldPathSyntax(t *testing.T) {
	cases := []struct {
		in    string
		keys  []string
		first bool
		query string
	}{
		{"a", []string{"a"}, false, ""},
		{"request.headers.X-Api-Key", []string{"request", "headers", "X-Api-Key"}, false, ""},
		{`labels.app\.kubernetes\.io/name`, []string{"labels", "app.kubernetes.io/name"}, false, ""},
		{"xff|first", []string{"xff"}, true, ""},
		{`a\|b`, []string{"a|b"}, false, ""},
		{`a\\.b`, []string{`a\`, "b"}, false, ""},
		{"query:api_key", nil, false, "api_key"},
	}
	for _, tc := range cases {
		fp, err := compileFieldPath(tc.in, true)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if strings.Join(fp.keys, "\x00") != strings.Join(tc.keys, "\x00") || fp.first != tc.first || fp.query != tc.query {
			t.Errorf("%q = %+v", tc.in, fp)
		}
	}
}

// TestMappingStrictYAML checks every field has a yaml tag, so strict
// decoding of a full mapping works with snake_case keys.
func TestMappingStrictYAML(t *testing.T) {
	doc := `
time: {paths: [ts], layout: auto}
token: [a]
key_id: [b]
ip: [c]
method: [d]
path: [e]
query: [f]
status: [g]
bytes: [h]
messages: [i]
ua: [j]
query_credentials: []
sample_rate: 0.5
sample_rate_field: k
`
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	var m Mapping
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	if m.KeyID[0] != "b" || m.SampleRateField != "k" || m.QueryCredentials == nil || len(m.QueryCredentials) != 0 {
		t.Errorf("decoded %+v", m)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
