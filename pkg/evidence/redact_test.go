package evidence

import (
	"net/url"
	"strings"
	"testing"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// TestRedact checks each way a log can carry the token: every case must
// keep no trace of the raw token and show its fingerprint where it was.
func TestRedact(t *testing.T) {
	const tok = "sk_live_4f/A+b=9Zq"
	fp := ingest.Fingerprint(tok)
	cases := []struct {
		name, line, want string
	}{
		{"json field", `{"token":"` + tok + `","path":"/v1/messages"}`,
			`{"token":"` + fp + `","path":"/v1/messages"}`},
		{"bearer header", `{"headers":{"Authorization":"Bearer ` + tok + `"}}`,
			`{"headers":{"Authorization":"Bearer ` + fp + `"}}`},
		{"query string", `{"path":"/v1/messages?access_token=` + url.QueryEscape(tok) + `&limit=100"}`,
			`{"path":"/v1/messages?access_token=` + fp + `&limit=100"}`},
		{"path escaped", `{"path":"/v1/keys/` + url.PathEscape(tok) + `/messages"}`,
			`{"path":"/v1/keys/` + fp + `/messages"}`},
		{"lower-case percent", `{"path":"/m?access_token=sk_live_4f%2fA%2bb%3d9Zq"}`,
			`{"path":"/m?access_token=` + fp + `"}`},
		{"every byte percent-encoded", `{"q":"` + percentAll(tok) + `"}`, `{"q":"` + fp + `"}`},
		{"json escapes", `{"token":"sk_live_4f\/A\u002bb\u003d9Zq"}`, `{"token":"` + fp + `"}`},
		{"repeated", `{"token":"` + tok + `","path":"/m?access_token=` + tok + `","ua":"` + tok + tok + `"}`,
			`{"token":"` + fp + `","path":"/m?access_token=` + fp + `","ua":"` + fp + fp + `"}`},
		{"substring of another value", `{"token":"` + tok + `","note":"x` + tok + `y"}`,
			`{"token":"` + fp + `","note":"x` + fp + `y"}`},
		{"absent", `{"token":"other","path":"/v1"}`, `{"token":"other","path":"/v1"}`},
		{"prefix only", `{"token":"` + tok[:10] + `"}`, `{"token":"` + tok[:10] + `"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Redact([]byte(tc.line), tok, fp))
			if got != tc.want {
				t.Errorf("Redact:\n got %s\nwant %s", got, tc.want)
			}
			if strings.Contains(got, tok) || strings.Contains(got, url.QueryEscape(tok)) {
				t.Errorf("raw token left in %s", got)
			}
		})
	}
}

// TestRedactShortToken keeps a credential too short to be told from
// ordinary text as it is, rather than rewriting every "ab" of a line.
func TestRedactShortToken(t *testing.T) {
	line := []byte(`{"key_id":"ab","path":"/ab"}`)
	if got := Redact(line, "ab", "fp"); string(got) != string(line) {
		t.Errorf("short token rewrote the line: %s", got)
	}
}

func percentAll(s string) string {
	var b strings.Builder
	for i := range len(s) {
		b.WriteString("%")
		b.WriteString(strings.ToUpper(string("0123456789abcdef"[s[i]>>4]) + string("0123456789abcdef"[s[i]&15])))
	}
	return b.String()
}
