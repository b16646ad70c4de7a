package ingest

import (
	"fmt"
	"sort"
	"strings"
)

// FormatCanonical is the name of sentinel's own line schema: one JSON
// object per line with ts, token, ip, method, path, status, bytes,
// messages and ua.
const FormatCanonical = "canonical"

// FormatShipped is the name of the records `sentinel ship` produces: one
// JSON object per line with ts, fp, hint, ip, method, path, status,
// bytes, messages, ua and, for sampled sources, weight. The credential is
// already fingerprinted and the messages already counted by the pull
// rules of the shipper; see AppendShipped.
const FormatShipped = "shipped"

// presets builds each named mapping afresh, so that a caller may change
// the Mapping it gets without affecting the next caller.
var presets = map[string]func() Mapping{
	FormatCanonical: canonicalMapping,
	FormatShipped:   shippedMapping,
	"caddy":         caddyMapping,
	"traefik":       traefikMapping,
	"nginx":         nginxMapping,
	"envoy":         envoyMapping,
	"apigw":         apigwMapping,
	"gcplb":         gcplbMapping,
}

// Preset returns the field mapping of a known log format.
func Preset(name string) (Mapping, error) {
	build, ok := presets[name]
	if !ok {
		return Mapping{}, fmt.Errorf("unknown log format %q: known formats are %s",
			name, strings.Join(PresetNames(), ", "))
	}
	return build(), nil
}

// PresetNames returns the names Preset accepts, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func canonicalMapping() Mapping {
	return Mapping{
		Time:     TimeField{Paths: []string{"ts"}, Layout: LayoutAuto},
		Token:    []string{"token"},
		IP:       []string{"ip"},
		Method:   []string{"method"},
		Path:     []string{"path"},
		Status:   []string{"status"},
		Bytes:    []string{"bytes"},
		Messages: []string{"messages"},
		UA:       []string{"ua"},
	}
}

// shippedMapping reads what AppendShipped writes. No query parameter is
// taken for a credential: the shipper looked for one already, and what a
// path still holds there is a fingerprint ("fp:..."), not a credential.
func shippedMapping() Mapping {
	m := canonicalMapping()
	m.Time.Layout = LayoutRFC3339
	m.Token = nil
	m.Fingerprint, m.Hint = []string{"fp"}, []string{"hint"}
	m.QueryCredentials = []string{}
	m.WeightField = "weight"
	return m
}

// caddyMapping reads Caddy v2's http.log.access. Caddy redacts
// Authorization to ["REDACTED"] unless log_credentials is on, but logs
// custom token headers in clear, so those come first.
func caddyMapping() Mapping {
	const h = "request.headers."
	return Mapping{
		Time: TimeField{Paths: []string{"ts"}, Layout: LayoutAuto},
		Token: []string{
			h + "X-Postmark-Server-Token", h + "X-Postmark-Account-Token",
			h + "X-Api-Key", h + "Authorization",
		},
		IP:     []string{"request.client_ip", "request.remote_ip"},
		Method: []string{"request.method"},
		Path:   []string{"request.uri"},
		Status: []string{"status"},
		Bytes:  []string{"size"},
		UA:     []string{h + "User-Agent"},
	}
}

// traefikMapping reads Traefik's JSON access log. Headers appear only when
// fields.headers keeps them, flattened as request_<Header-Name>.
func traefikMapping() Mapping {
	return Mapping{
		Time: TimeField{Paths: []string{"StartUTC", "time"}, Layout: LayoutAuto},
		Token: []string{
			"request_X-Postmark-Server-Token", "request_X-Postmark-Account-Token",
			"request_X-Api-Key", "request_Authorization",
		},
		IP:     []string{"ClientHost", "ClientAddr"},
		Method: []string{"RequestMethod"},
		Path:   []string{"RequestPath"},
		Status: []string{"DownstreamStatus"},
		Bytes:  []string{"DownstreamContentSize"},
		UA:     []string{"request_User-Agent"},
	}
}

// nginxMapping reads the escape=json log_format given in the formats
// documentation. The client is $remote_addr, not the first hop of
// $http_x_forwarded_for: that hop is written by the client and anyone can
// forge it, while remote_addr is the TCP peer, or the real client once the
// operator has configured the real_ip module with trusted proxies. Behind
// an untrusted-by-nginx proxy, override ip with ["xff|first",
// "remote_addr"] knowingly.
func nginxMapping() Mapping {
	return Mapping{
		Time: TimeField{Paths: []string{"msec", "time"}, Layout: LayoutAuto},
		Token: []string{
			"server_token", "auth",
			"arg_api_key", "arg_apikey", "arg_key", "arg_token", "arg_access_token",
		},
		IP:     []string{"remote_addr"},
		Method: []string{"method"},
		Path:   []string{"uri"},
		Status: []string{"status"},
		Bytes:  []string{"body_bytes_sent"},
		UA:     []string{"ua"},
	}
}

// envoyMapping reads Istio's JSON key set. A sidecar's
// downstream_remote_address is the gateway, so the first
// X-Forwarded-For hop comes first.
func envoyMapping() Mapping {
	return Mapping{
		Time:   TimeField{Paths: []string{"start_time"}, Layout: LayoutAuto},
		Token:  []string{"x_postmark_server_token", "x_api_key", "authorization"},
		IP:     []string{"x_forwarded_for|first", "downstream_remote_address"},
		Method: []string{"method"},
		Path:   []string{"path"},
		Status: []string{"response_code"},
		Bytes:  []string{"bytes_sent"},
		UA:     []string{"user_agent"},
	}
}

// apigwMapping reads AWS API Gateway REST access logs written with the
// usual $context template, where every value is a string. apiKeyId names
// the key without revealing it. resourcePath, the route template without
// the stage prefix, groups requests by endpoint and is what pull rules
// such as /messages* expect; path is the fallback.
func apigwMapping() Mapping {
	return Mapping{
		Time:   TimeField{Paths: []string{"requestTimeEpoch", "requestTime"}, Layout: LayoutAuto},
		KeyID:  []string{"apiKeyId"},
		IP:     []string{"ip", "sourceIp"},
		Method: []string{"httpMethod"},
		Path:   []string{"resourcePath", "path"},
		Status: []string{"status"},
		Bytes:  []string{"responseLength"},
		UA:     []string{"userAgent"},
	}
}

// gcplbMapping reads Google Cloud external HTTP(S) load balancer request
// logs. No header is logged: a credential can only come from ?key= in
// requestUrl. Set SampleRate to the backend's logConfig.sampleRate.
func gcplbMapping() Mapping {
	return Mapping{
		Time:   TimeField{Paths: []string{"timestamp"}, Layout: LayoutAuto},
		IP:     []string{"httpRequest.remoteIp", "jsonPayload.remoteIp"},
		Method: []string{"httpRequest.requestMethod"},
		Path:   []string{"httpRequest.requestUrl"},
		Status: []string{"httpRequest.status"},
		Bytes:  []string{"httpRequest.responseSize"},
		UA:     []string{"httpRequest.userAgent"},
	}
}
