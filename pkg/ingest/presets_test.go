package ingest

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The expected records below were written by reading each sample line in
// ../shared/formats: times converted by hand from the epoch or ISO text,
// fingerprints recomputed with sha256 in ptestFP.

func TestPresetNames(t *testing.T) {
	names := PresetNames()
	if !slices.IsSorted(names) {
		t.Errorf("PresetNames not sorted: %v", names)
	}
	for _, want := range []string{"canonical", "caddy", "traefik", "nginx", "envoy", "apigw", "shipped"} {
		if !slices.Contains(names, want) {
			t.Errorf("PresetNames lacks %q", want)
		}
	}
	for _, n := range names {
		m, err := Preset(n)
		if err != nil {
			t.Fatalf("Preset(%q): %v", n, err)
		}
		if err := m.Validate(); err != nil {
			t.Errorf("preset %s does not validate: %v", n, err)
		}
		if _, err := NewParser(m, DefaultPullRules(n)); err != nil {
			t.Errorf("preset %s with its default rules: %v", n, err)
		}
	}
	if _, err := Preset("nope"); err == nil || !strings.Contains(err.Error(), "caddy") {
		t.Errorf("Preset(nope) = %v, want an error listing the known formats", err)
	}
}

func TestPresetReturnsFreshMapping(t *testing.T) {
	a := ptestPreset(t, "caddy")
	a.Token[0] = "changed"
	if b := ptestPreset(t, "caddy"); b.Token[0] == "changed" {
		t.Error("changing a preset's Mapping changed the next Preset call")
	}
}

func TestPresetCaddySamples(t *testing.T) {
	dir := ptestSharedDir(t)
	tok := ptestTok("tok_test_9f2c41aa0b7e")
	want := []Record{
		{Time: ptestTime(9, 21, 7, 204356000), IP: ptestIP("203.0.113.10"), Method: "POST",
			Path: "/email/batch", Status: 200, Bytes: 612, UA: "curl/8.5.0", Weight: 1},
		{Time: ptestTime(9, 21, 7, 913002000), Cred: tok, IP: ptestIP("198.51.100.23"), Method: "POST",
			Path: "/email", Status: 200, Bytes: 198, UA: "python-requests/2.31.0", Weight: 1},
		{Time: ptestTime(9, 21, 8, 1417000), Cred: tok, IP: ptestIP("198.51.100.23"), Method: "POST",
			Path: "/email", Status: 429, Bytes: 74, Weight: 1},
		{Time: ptestTime(9, 21, 8, 557210000), IP: ptestIP("203.0.113.77"), Method: "GET",
			Path: "/messages/outbound?count=50&offset=0", Status: 401, Bytes: 61, UA: "Go-http-client/1.1", Weight: 1},
		{Time: ptestTime(9, 21, 9, 120944000), IP: ptestIP("203.0.113.10"), Method: "POST",
			Path: "/email/batch", Status: 502, Bytes: 0, Weight: 1},
		{Time: ptestTime(9, 21, 9, 402118000), IP: ptestIP("2001:db8::1f"), Method: "POST",
			Path: "/email", Status: 200, Bytes: 198, Weight: 1},
	}
	p := ptestParser(t, ptestPreset(t, "caddy"), DefaultPullRules("caddy"))
	ptestRun(t, p, filepath.Join(dir, "caddy.jsonl"), want, nil)
}

func TestPresetTraefikSamples(t *testing.T) {
	dir := ptestSharedDir(t)
	key := ptestTok("tok_test_4b7d0c2e91aa")
	want := []Record{
		{Time: ptestTime(9, 21, 7, 204355872), Cred: key, IP: ptestIP("203.0.113.21"), Method: "POST",
			Path: "/email", Status: 200, Bytes: 87, UA: "python-requests/2.31.0", Weight: 1},
		{Time: ptestTime(9, 21, 7, 251002113), Cred: key, IP: ptestIP("203.0.113.21"), Method: "POST",
			Path: "/email", Status: 429, Bytes: 18, UA: "python-requests/2.31.0", Weight: 1},
		// No header carries a credential: the api_key query parameter does,
		// and is replaced in the path by its fingerprint.
		{Time: ptestTime(9, 21, 7, 900118004), Cred: ptestTok("tok_test_00000000dead"), IP: ptestIP("198.51.100.8"),
			Method: "GET", Path: "/messages/outbound?count=500&api_key=fp:" + ptestFP("tok_test_00000000dead"),
			Status: 401, Bytes: 52, UA: "curl/8.5.0", Weight: 1},
		{Time: ptestTime(9, 21, 8, 10004441), Cred: ptestTok("tok_test_8e1f3a6b5c02"), IP: ptestIP("203.0.113.99"),
			Method: "POST", Path: "/email/batch", Status: 502, Bytes: 11, UA: "Go-http-client/1.1", Weight: 1},
	}
	p := ptestParser(t, ptestPreset(t, "traefik"), DefaultPullRules("traefik"))
	ptestRun(t, p, filepath.Join(dir, "traefik.jsonl"), want, nil)
}

func TestPresetNginxSamples(t *testing.T) {
	dir := ptestSharedDir(t)
	bearer := ptestTok("tok_test_71c0d9e2aa13")
	server := ptestTok("tok_test_9f2c41aa0b7e")
	want := []Record{
		{Time: ptestTime(9, 21, 7, 204000000), Cred: bearer, IP: ptestIP("203.0.113.31"), Method: "POST",
			Path: "/email/batch", Status: 200, Bytes: 612, UA: "curl/8.5.0", Weight: 1},
		// remote_addr, not the forgeable first X-Forwarded-For hop.
		{Time: ptestTime(9, 21, 7, 611000000), Cred: server, IP: ptestIP("10.0.0.4"), Method: "POST",
			Path: "/email", Status: 200, Bytes: 198, UA: "python-requests/2.31.0", Weight: 1},
		{Time: ptestTime(9, 21, 8, 2000000), Cred: server, IP: ptestIP("10.0.0.4"), Method: "POST",
			Path: "/email", Status: 429, Bytes: 74, UA: "python-requests/2.31.0", Weight: 1},
		{Time: ptestTime(9, 21, 8, 340000000), IP: ptestIP("203.0.113.88"), Method: "GET",
			Path: `/messages/outbound?count=50&offset=0&note=a"b\c`, Status: 401, Bytes: 61,
			UA: "scanner\x1b[31m/1.0", Weight: 1},
		{Time: ptestTime(9, 21, 38, 10000000), Cred: bearer, IP: ptestIP("203.0.113.31"), Method: "POST",
			Path: "/email/batch", Status: 504, Bytes: 160, UA: "curl/8.5.0", Weight: 1},
	}
	p := ptestParser(t, ptestPreset(t, "nginx"), DefaultPullRules("nginx"))
	ptestRun(t, p, filepath.Join(dir, "nginx_escape_json.jsonl"), want, nil)
}

func TestPresetEnvoySamples(t *testing.T) {
	dir := ptestSharedDir(t)
	want := []Record{
		{Time: ptestTime(9, 21, 7, 204000000), Cred: ptestTok("tok_test_5a0e77c1d3f9"), IP: ptestIP("203.0.113.30"),
			Method: "POST", Path: "/email/batch", Status: 200, Bytes: 612, UA: "Go-http-client/1.1", Weight: 1},
		{Time: ptestTime(9, 21, 7, 318000000), Cred: ptestTok("tok_test_9f2c41aa0b7e"), IP: ptestIP("198.51.100.23"),
			Method: "POST", Path: "/email", Status: 429, Bytes: 18, UA: "python-requests/2.31.0", Weight: 1},
		{Time: ptestTime(9, 21, 8, 10000000), Cred: ptestTok("tok_test_71c0d9e2aa13"), IP: ptestIP("203.0.113.31"),
			Method: "POST", Path: "/email/batch", Status: 0, Bytes: 0, UA: "curl/8.5.0", Weight: 1},
		{Time: ptestTime(9, 21, 9, 442000000), IP: ptestIP("203.0.113.30"), Method: "GET",
			Path: "/messages/outbound?count=50", Status: 503, Bytes: 91, UA: "Go-http-client/1.1", Weight: 1},
	}
	p := ptestParser(t, ptestPreset(t, "envoy"), DefaultPullRules("envoy"))
	ptestRun(t, p, filepath.Join(dir, "envoy.jsonl"), want, nil)
}

func TestPresetAPIGatewaySamples(t *testing.T) {
	dir := ptestSharedDir(t)
	want := []Record{
		{Time: ptestTime(9, 21, 7, 204000000), Cred: ptestKeyID("k3y1d0test01"), IP: ptestIP("203.0.113.40"),
			Method: "POST", Path: "/email", Status: 200, Bytes: 87, Weight: 1},
		{Time: ptestTime(9, 21, 7, 611000000), Cred: ptestKeyID("k3y1d0test02"), IP: ptestIP("198.51.100.23"),
			Method: "POST", Path: "/email", Status: 429, Bytes: 44, Weight: 1},
		{Time: ptestTime(9, 21, 8, 340000000), IP: ptestIP("203.0.113.88"),
			Method: "GET", Path: "/messages/outbound", Status: 403, Bytes: 42, Weight: 1},
		{Time: ptestTime(9, 21, 38, 10000000), Cred: ptestKeyID("k3y1d0test01"), IP: ptestIP("2001:db8::40"),
			Method: "POST", Path: "/email/batch", Status: 504, Bytes: 41, Weight: 1},
	}
	p := ptestParser(t, ptestPreset(t, "apigw"), DefaultPullRules("apigw"))
	ptestRun(t, p, filepath.Join(dir, "aws_apigw_rest.jsonl"), want, nil)
}

func TestPresetGCPSamplesSampled(t *testing.T) {
	dir := ptestSharedDir(t)
	m := ptestPreset(t, "gcplb")
	m.SampleRate = 0.25
	want := []Record{
		{Time: ptestTime(9, 21, 7, 204356000), IP: ptestIP("203.0.113.60"), Method: "POST",
			Path: "/email/batch", Status: 200, Bytes: 981, UA: "curl/8.5.0", Weight: 4},
		{Time: ptestTime(9, 21, 8, 340112000), Cred: ptestTok("tok_test_00000000dead"), IP: ptestIP("198.51.100.23"),
			Method: "GET", Path: "/messages/outbound?count=50&key=fp:" + ptestFP("tok_test_00000000dead"),
			Status: 401, Bytes: 233, UA: "Go-http-client/1.1", Weight: 4},
		{Time: ptestTime(9, 21, 8, 10004000), IP: ptestIP("203.0.113.31"), Method: "POST",
			Path: "/email/batch", Status: 502, Bytes: 332, UA: "curl/8.5.0", Weight: 4},
	}
	p := ptestParser(t, m, DefaultPullRules("gcplb"))
	ptestRun(t, p, filepath.Join(dir, "gcp_https_lb.jsonl"), want, nil)
}

// TestApacheSamplesCustomMapping describes the Apache recipe of the
// formats documentation with a hand-written Mapping, as a user would.
func TestApacheSamplesCustomMapping(t *testing.T) {
	dir := ptestSharedDir(t)
	m := Mapping{
		Time:   TimeField{Paths: []string{"time"}},
		Token:  []string{"auth"},
		IP:     []string{"client"},
		Method: []string{"method"},
		Path:   []string{"path"},
		Query:  []string{"query"},
		Status: []string{"status"},
		Bytes:  []string{"bytes"},
		UA:     []string{"ua"},
	}
	want := []Record{
		{Time: ptestTime(9, 21, 7, 204000000), Cred: ptestTok("tok_test_0c4e9d2a7b18"), IP: ptestIP("203.0.113.90"),
			Method: "POST", Path: "/email/batch", Status: 200, Bytes: 612, UA: "curl/8.5.0", Weight: 1},
		{Time: ptestTime(9, 21, 7, 611000000), IP: ptestIP("198.51.100.23"),
			Method: "POST", Path: "/email", Status: 429, Bytes: 74, UA: "python-requests/2.31.0", Weight: 1},
		{Time: ptestTime(9, 21, 8, 340000000), Cred: ptestTok("tok_test_00000000dead"), IP: ptestIP("203.0.113.88"),
			Method: "GET", Path: "/messages/outbound?count=50&api_key=fp:" + ptestFP("tok_test_00000000dead"),
			Status: 401, Bytes: 61, UA: "Go-http-client/1.1", Weight: 1},
		// \xe2\x80\x94 is the UTF-8 of an em dash; the bare - of %b is absent.
		{Time: ptestTime(9, 21, 9, 2000000), IP: ptestIP("203.0.113.91"),
			Method: "GET", Path: "/", Status: 304, Bytes: 0, UA: "Mozilla/5.0 \u2014 \"probe\"", Weight: 1},
	}
	p := ptestParser(t, m, DefaultPullRules("apache"))
	ptestRun(t, p, filepath.Join(dir, "apache_mod_log_config_json.jsonl"), want, nil)
}

// TestSyntheticGatewaySamples reads the email gateway sketch, which logs a
// token hash (a key id) and the message count, counted for every 2xx.
func TestSyntheticGatewaySamples(t *testing.T) {
	dir := ptestSharedDir(t)
	m := Mapping{
		Time:     TimeField{Paths: []string{"ts"}, Layout: LayoutRFC3339},
		KeyID:    []string{"auth.token_sha256_8"},
		IP:       []string{"client_ip"},
		Method:   []string{"method"},
		Path:     []string{"path"},
		Status:   []string{"status"},
		Bytes:    []string{"resp_bytes"},
		Messages: []string{"message_count"},
	}
	want := []Record{
		{Time: ptestTime(9, 21, 7, 204000000), Cred: ptestKeyID("5f1c0a9e"), IP: ptestIP("203.0.113.10"),
			Method: "POST", Path: "/email/batch", Status: 200, Bytes: 9012, Messages: 500, Weight: 1},
		{Time: ptestTime(9, 21, 7, 611000000), Cred: ptestKeyID("a17b33c0"), IP: ptestIP("198.51.100.23"),
			Method: "POST", Path: "/email", Status: 200, Bytes: 198, Messages: 1, Weight: 1},
		{Time: ptestTime(9, 21, 8, 2000000), Cred: ptestKeyID("a17b33c0"), IP: ptestIP("198.51.100.23"),
			Method: "POST", Path: "/email", Status: 429, Bytes: 74, Weight: 1},
		{Time: ptestTime(9, 21, 8, 340000000), IP: ptestIP("203.0.113.88"),
			Method: "POST", Path: "/email", Status: 401, Bytes: 61, Weight: 1},
		{Time: ptestTime(9, 21, 9, 20000000), Cred: ptestKeyID("5f1c0a9e"), IP: ptestIP("203.0.113.10"),
			Method: "POST", Path: "/email/batch", Status: 422, Bytes: 120, Weight: 1},
	}
	p := ptestParser(t, m, []PullRule{{Count: "field"}})
	ptestRun(t, p, filepath.Join(dir, "email_api_gateway_synthetic.jsonl"), want, nil)
}

// TestALBIsRejectedByEveryPreset checks that the one non-JSON sample is
// counted as rejected, line by line, never silently dropped.
func TestALBIsRejectedByEveryPreset(t *testing.T) {
	dir := ptestSharedDir(t)
	for _, name := range PresetNames() {
		t.Run(name, func(t *testing.T) {
			p := ptestParser(t, ptestPreset(t, name), DefaultPullRules(name))
			ptestRun(t, p, filepath.Join(dir, "aws_alb.log"), nil, []string{"json", "json", "json", "json"})
		})
	}
}
