package alert

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// payloadOf builds the Slack message for a and decodes it as a receiver
// would, so the assertions see the JSON, not the Go structs.
func payloadOf(t *testing.T, a *Alert) (map[string]any, slackPayload) {
	t.Helper()
	b, err := json.Marshal(slackMessage(a))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	var p slackPayload
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return raw, p
}

func crafted() *Alert {
	long := strings.Repeat("<&*_~`é", 5000/7+1)
	a := sampleAlert()
	a.Key = "<http://evil.example|click>"
	a.Label = "<!channel> *bold* _it_ ~s~ `x`\nnext line <@U123>" + long
	a.TokenHint = "<!here>"
	a.TopIPs = []string{"<!channel>", "<http://evil.example|click>", "*bold*\n`", long, long, long, long}
	a.TopTokens = []string{"<@U123>", long}
	a.Detector = "<!subteam^S1>"
	a.Severity = "<!everyone>"
	a.Summary = Summarize(a) + " " + long
	return a
}

// entity matches the escapes Slack expects; any other '&' is a bug.
var entity = regexp.MustCompile(`&(amp|lt|gt);`)

// codeSpan matches one inline code span.
var codeSpan = regexp.MustCompile("`[^`]*`")

func TestSlackPayloadNeutralisesCraftedValues(t *testing.T) {
	raw, p := payloadOf(t, crafted())
	for _, k := range []string{"unfurl_links", "unfurl_media"} {
		if v, ok := raw[k]; !ok || v != false {
			t.Errorf("%s = %v, want false", k, v)
		}
	}
	if len(p.Blocks) > slackBlocksMax {
		t.Errorf("%d blocks", len(p.Blocks))
	}
	header := p.Blocks[0].Text
	if header.Type != "plain_text" || len(header.Text) > slackHeaderMax || strings.ContainsAny(header.Text, "<>&\n") {
		t.Errorf("header %q (%d bytes)", header.Text, len(header.Text))
	}
	checkMrkdwn(t, "fallback", p.Text, slackTextMax, false)
	for i, b := range p.Blocks[1:] {
		if b.Text != nil {
			checkProse(t, b.Text, slackSectionMax)
		}
		if len(b.Fields) > slackFieldsMax {
			t.Errorf("block %d has %d fields", i+1, len(b.Fields))
		}
		for _, f := range b.Fields {
			checkField(t, f)
		}
		for _, e := range b.Elements {
			checkMrkdwn(t, "context", e.Text, slackFieldMax, true)
		}
	}
	all := allTexts(p)
	for _, want := range []string{"&lt;!channel&gt;", "&lt;http://evil.example|click&gt;", "&lt;@U123&gt;", "&lt;!here&gt;"} {
		if !strings.Contains(all, want) {
			t.Errorf("escaped form %s not shown", want)
		}
	}
}

func allTexts(p slackPayload) string {
	parts := []string{p.Text}
	for _, b := range p.Blocks {
		if b.Text != nil {
			parts = append(parts, b.Text.Text)
		}
		for _, f := range append(b.Fields, b.Elements...) {
			parts = append(parts, f.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// checkMrkdwn asserts what every mrkdwn text needs: within its limit,
// valid UTF-8, no '<' or '>' at all (sentinel writes none itself, so any
// would be a mention or link from a value), and '&' only in escapes.
func checkMrkdwn(t *testing.T, what, s string, limit int, codeOK bool) {
	t.Helper()
	if len(s) > limit || !utf8.ValidString(s) {
		t.Errorf("%s: %d bytes (limit %d), valid UTF-8 %v", what, len(s), limit, utf8.ValidString(s))
	}
	if strings.ContainsAny(s, "<>") {
		t.Errorf("%s holds a raw angle bracket: %.200q", what, s)
	}
	if strings.Contains(entity.ReplaceAllString(s, ""), "&") {
		t.Errorf("%s holds a bare '&': %.200q", what, s)
	}
	outside := s
	if codeOK {
		outside = codeSpan.ReplaceAllString(s, "")
	}
	if strings.ContainsAny(outside, "*_~`\n") {
		t.Errorf("%s: formatting characters outside code: %.200q", what, outside)
	}
}

func checkProse(t *testing.T, txt *slackText, limit int) {
	t.Helper()
	if txt.Type != "mrkdwn" || !txt.Verbatim {
		t.Errorf("section text %s verbatim %v", txt.Type, txt.Verbatim)
	}
	checkMrkdwn(t, "section", txt.Text, limit, false)
}

// checkField expects "*Title*\n" then a value whose only formatting is
// closed code spans.
func checkField(t *testing.T, f slackText) {
	t.Helper()
	title, value, ok := strings.Cut(f.Text, "\n")
	if !ok || !regexp.MustCompile(`^\*[A-Za-z /]+\*$`).MatchString(title) {
		t.Errorf("field %.100q has no plain title", f.Text)
	}
	if !f.Verbatim || len(f.Text) > slackFieldMax {
		t.Errorf("field %s: verbatim %v, %d bytes", title, f.Verbatim, len(f.Text))
	}
	checkMrkdwn(t, "field "+title, value, slackFieldMax, true)
}

func TestSlackPayloadReadable(t *testing.T) {
	a := sampleAlert()
	_, p := payloadOf(t, a)
	if got, want := p.Blocks[0].Text.Text, "🔴 Critical: token 3f9a1c0b2e4d"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if got := p.Blocks[1].Text.Text; got != a.Summary {
		t.Errorf("section %q, want the summary %q", got, a.Summary)
	}
	if !strings.HasPrefix(p.Text, "Critical: Token 3f9a1c0b2e4d") {
		t.Errorf("fallback %q", p.Text)
	}
	var fields []string
	for _, f := range p.Blocks[2].Fields {
		fields = append(fields, f.Text)
	}
	joined := strings.Join(fields, "|")
	for _, want := range []string{
		"*Token*\n`3f9a1c0b2e4d` hint `…a7b1`", "*Label*\n`acme`",
		"*Observed / expected*\n4,812 / 126 messages (38×)",
		"*Since*\n2025-03-01 09:21:00 UTC", "*Excess*\n9,340",
		"*Window*\n2025-03-01 09:20:00–09:21:00 UTC", "*Top addresses*\n`203.0.113.9`",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("fields lack %q:\n%s", want, joined)
		}
	}
}

func TestSlackBackToNormal(t *testing.T) {
	a := sampleAlert()
	a.Status, a.Observed, a.Feature = StatusResolved, 0, ""
	a.Summary = Summarize(a)
	_, p := payloadOf(t, a)
	if got, want := p.Blocks[0].Text.Text, "✅ Back to normal: token 3f9a1c0b2e4d"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if len(p.Blocks) != 2 || p.Blocks[1].Text.Text != a.Summary {
		t.Errorf("blocks %+v, want the header and the summary", p.Blocks)
	}
	if !strings.HasPrefix(p.Text, "Back to normal: Token 3f9a1c0b2e4d") {
		t.Errorf("fallback %q", p.Text)
	}
}

func TestSlackLongListSaysHowManyMore(t *testing.T) {
	a := sampleAlert()
	a.TopIPs = []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7"}
	got := codeList(a.TopIPs, 1000)
	want := "`192.0.2.1`, `192.0.2.2`, `192.0.2.3`, `192.0.2.4`, `192.0.2.5`, +2 more"
	if got != want {
		t.Errorf("codeList = %q, want %q", got, want)
	}
	if got := codeList(a.TopIPs, 30); got != "`192.0.2.1`, +6 more" {
		t.Errorf("codeList within 30 bytes = %q", got)
	}
}

func TestTruncBytes(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 8, "abcde…"},
		{"ééééé", 8, "éé…"},      // 10 bytes; 5 left for text: cut before the 3rd é
		{"ab&amp;cd", 8, "ab…"},  // would cut "&am"
		{"&lt;xyzw", 7, "&lt;…"}, // a whole entity stays
	}
	for _, tc := range tests {
		got := truncBytes(tc.in, tc.limit)
		if got != tc.want || len(got) > tc.limit || !utf8.ValidString(got) {
			t.Errorf("truncBytes(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func TestSlackSinkPosts(t *testing.T) {
	rec := newRecorder(t, status(http.StatusOK))
	s, err := NewSlack(SlackOptions{URL: rec.url(), Version: "1.2.3", Client: testClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), crafted()); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].header.Get("User-Agent") != "sentinel/1.2.3" {
		t.Fatalf("requests %+v", reqs)
	}
	var p slackPayload
	if err := json.Unmarshal(reqs[0].body, &p); err != nil || len(p.Blocks) == 0 {
		t.Fatalf("body %.200s: %v", reqs[0].body, err)
	}
}
