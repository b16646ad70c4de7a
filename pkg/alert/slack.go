package alert

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Slack's documented limits. Texts are measured here in UTF-8 bytes, which
// is never less than the character count Slack applies, so a text within
// these bounds is within Slack's whatever it counts.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackFieldsMax  = 10
	slackBlocksMax  = 50
	slackTextMax    = 3000 // fallback text; Slack allows more, notifications show less
	slackListMax    = 5    // entries shown from TopIPs or TopTokens
	slackValueMax   = 100  // runes kept of one value before escaping
	slackSummaryMax = 500  // runes kept of the summary before escaping
)

// SlackOptions configures a Slack incoming-webhook sink.
type SlackOptions struct {
	// Name names the sink in logs and statistics; default "slack".
	Name string
	// URL is the incoming webhook URL. It is a secret: errors show only
	// its scheme and host.
	URL string
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// Version goes into the User-Agent header; default "dev".
	Version string
	// Client sends the requests; default a new http.Client. Redirects
	// are not followed.
	Client *http.Client
}

// Slack posts each alert to a Slack incoming webhook as a Block Kit
// message. Every value that can come from a log line is escaped so that it
// can neither mention anyone, link anywhere, nor break the layout; see
// docs/alerts.md.
type Slack struct {
	p         *poster
	userAgent string
}

// NewSlack checks the options and returns the sink.
func NewSlack(o SlackOptions) (*Slack, error) {
	if o.Name == "" {
		o.Name = "slack"
	}
	p, err := newPoster(o.Name, o.URL, nil, o.Timeout, o.Client)
	if err != nil {
		return nil, fmt.Errorf("configuring sink %s: %w", o.Name, err)
	}
	return &Slack{p: p, userAgent: userAgent(o.Version)}, nil
}

// Name returns the sink's name.
func (s *Slack) Name() string { return s.p.name }

// Send posts the alert. Errors are *SendError.
func (s *Slack) Send(ctx context.Context, a *Alert) error {
	return s.postMessage(ctx, slackMessage(a))
}

func (s *Slack) postMessage(ctx context.Context, m slackPayload) error {
	return s.p.postJSON(ctx, m, s.userAgent, "slack message")
}

type slackText struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Verbatim bool   `json:"verbatim,omitempty"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackPayload struct {
	Text        string       `json:"text"`
	Blocks      []slackBlock `json:"blocks"`
	UnfurlLinks bool         `json:"unfurl_links"`
	UnfurlMedia bool         `json:"unfurl_media"`
}

func slackMessage(a *Alert) slackPayload {
	summary := a.Summary
	if summary == "" {
		summary = Summarize(a)
	}
	summary = escapeProse(clip(summary, slackSummaryMax))
	if a.Status == StatusResolved {
		return resolvedMessage(a, summary)
	}
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: slackHeader(a)}},
		{Type: "section", Text: mrkdwn(summary, slackSectionMax)},
		{Type: "section", Fields: slackFields(a)},
		{Type: "context", Elements: []slackText{*mrkdwn(slackContext(a), slackFieldMax)}},
	}
	return slackPayload{
		Text:   truncBytes(capitalize(escapeProse(clip(a.Severity, 20)))+": "+summary, slackTextMax),
		Blocks: blocks[:min(len(blocks), slackBlocksMax)],
	}
}

// resolvedMessage is the back-to-normal notice: a header and the summary,
// which holds all it has to say.
func resolvedMessage(a *Alert, summary string) slackPayload {
	header := fmt.Sprintf("✅ Back to normal: %s %s", clip(a.Entity, 20), clip(a.Key, 64))
	return slackPayload{
		Text: truncBytes("Back to normal: "+summary, slackTextMax),
		Blocks: []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: truncBytes(plainSafe(header), slackHeaderMax)}},
			{Type: "section", Text: mrkdwn(summary, slackSectionMax)},
		},
	}
}

// mrkdwn makes a text object that Slack will not auto-link: verbatim
// stops bare URLs, #channel names and @mentions from becoming live.
func mrkdwn(text string, limit int) *slackText {
	if text == "" {
		text = "—"
	}
	return &slackText{Type: "mrkdwn", Text: truncBytes(text, limit), Verbatim: true}
}

func slackHeader(a *Alert) string {
	s := fmt.Sprintf("%s %s: %s %s", severityIcon(a.Severity), capitalize(clip(a.Severity, 20)),
		clip(a.Entity, 20), clip(a.Key, 64))
	return truncBytes(plainSafe(s), slackHeaderMax)
}

func slackFields(a *Alert) []slackText {
	fields := []slackText{
		field(keyTitle(a.Entity), keyValue(a)),
		field("Label", code(a.Label)),
		field("Observed / expected", fmt.Sprintf("%s / %s %s (%s)",
			formatNum(a.Observed), formatNum(a.Expected), escapeProse(clip(a.Feature, 40)), ratioText(a))),
		field("Since", timeText(a.Since)),
		field("Excess", formatNum(a.Excess)),
		field("Window", windowText(a.WindowStart, a.WindowEnd)),
	}
	if len(a.TopIPs) > 0 {
		fields = append(fields, field("Top addresses", codeList(a.TopIPs, slackFieldMax-50)))
	}
	if len(a.TopTokens) > 0 {
		fields = append(fields, field("Top tokens", codeList(a.TopTokens, slackFieldMax-50)))
	}
	return fields[:min(len(fields), slackFieldsMax)]
}

func field(title, value string) slackText {
	return *mrkdwn("*"+title+"*\n"+value, slackFieldMax)
}

func keyTitle(entity string) string {
	switch entity {
	case EntityToken:
		return "Token"
	case EntityIP:
		return "Address"
	case EntitySource:
		return "Source"
	}
	return "Key"
}

func keyValue(a *Alert) string {
	v := code(a.Key)
	if a.TokenHint != "" {
		v += " hint " + code("…"+a.TokenHint)
	}
	return v
}

func ratioText(a *Alert) string {
	if !(a.Expected > 0) {
		return "none usual"
	}
	return formatRatio(a.Observed / a.Expected)
}

// codeList shows up to slackListMax values as code, as many as fit in
// budget bytes, and says how many more there are. Cutting the list rather
// than the text keeps every code span closed.
func codeList(vs []string, budget int) string {
	var b strings.Builder
	for i, v := range vs {
		c := code(v)
		more := fmt.Sprintf("+%d more", len(vs)-i)
		if i == slackListMax || b.Len()+len(c)+len(more)+4 > budget {
			b.WriteString(more)
			break
		}
		b.WriteString(c)
		if i < len(vs)-1 {
			b.WriteString(", ")
		}
	}
	return b.String()
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func windowText(start, end time.Time) string {
	if start.IsZero() {
		return "—"
	}
	start, end = start.UTC(), end.UTC()
	layout := "15:04:05"
	if !sameDay(start, end) {
		layout = "2006-01-02 15:04:05"
	}
	return start.Format("2006-01-02 15:04:05") + "–" + end.Format(layout) + " UTC"
}

func slackContext(a *Alert) string {
	return fmt.Sprintf("id %s · detector %s · score %s · at %s",
		code(a.ID), code(a.Detector), formatNum(a.Score), timeText(a.At))
}

// code shows a value as inline code: inside it Slack applies no bold,
// italics or strike, so only the backtick that would end the span has to
// go. An empty value shows as a dash.
func code(v string) string {
	if v == "" {
		return "—"
	}
	v = escapeEntities(clip(v, slackValueMax))
	return "`" + strings.ReplaceAll(v, "`", "ˋ") + "`"
}

// proseReplacer escapes running text for mrkdwn. Slack has no escape for
// its formatting characters, so they are swapped for look-alikes that it
// does not interpret.
var proseReplacer = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	"*", "∗", "_", "ˍ", "~", "∼", "`", "ˋ",
)

var entityReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// plainReplacer keeps a plain_text header free of the characters Slack
// reserves, without relying on how it decodes entities there.
var plainReplacer = strings.NewReplacer("&", "＆", "<", "‹", ">", "›")

func escapeProse(s string) string    { return proseReplacer.Replace(oneLine(s)) }
func escapeEntities(s string) string { return entityReplacer.Replace(oneLine(s)) }
func plainSafe(s string) string      { return plainReplacer.Replace(oneLine(s)) }

// truncBytes cuts s to at most limit bytes, ending with an ellipsis. It
// cuts at a rune boundary and never inside an &amp;-style entity, so the
// result is valid UTF-8 and shows no broken escape.
func truncBytes(s string, limit int) string {
	const ellipsis = "…"
	if len(s) <= limit {
		return s
	}
	cut := max(limit-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	// The longest entity used, "&amp;", is 5 bytes: an '&' among the last
	// 4 bytes kept, with no ';' after it, starts an entity the cut splits.
	from := max(cut-4, 0)
	if amp := strings.LastIndexByte(s[from:cut], '&'); amp >= 0 &&
		!strings.Contains(s[from+amp:cut], ";") {
		cut = from + amp
	}
	return s[:cut] + ellipsis
}

// SendGroup posts related alerts as one message: a header naming the
// first alert's entity, then one line per alert. Errors are *SendError.
func (s *Slack) SendGroup(ctx context.Context, alerts []*Alert) error {
	return s.postMessage(ctx, slackGroupMessage(alerts))
}

func slackGroupMessage(alerts []*Alert) slackPayload {
	first, worst := alerts[0], alerts[0]
	for _, a := range alerts {
		if severityRank(a.Severity) > severityRank(worst.Severity) {
			worst = a
		}
	}
	header := fmt.Sprintf("%s %s: %d related alerts, %s %s", severityIcon(worst.Severity),
		capitalize(clip(worst.Severity, 20)), len(alerts), clip(first.Entity, 20), clip(first.Key, 64))
	blocks := []slackBlock{{Type: "header", Text: &slackText{Type: "plain_text", Text: truncBytes(plainSafe(header), slackHeaderMax)}}}
	ids := make([]string, 0, len(alerts))
	for _, a := range alerts {
		summary := a.Summary
		if summary == "" {
			summary = Summarize(a)
		}
		line := severityIcon(a.Severity) + " " + escapeProse(clip(summary, slackSummaryMax))
		blocks = append(blocks, slackBlock{Type: "section", Text: mrkdwn(line, slackSectionMax)})
		ids = append(ids, code(a.ID))
	}
	blocks = blocks[:min(len(blocks), slackBlocksMax-1)]
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{*mrkdwn("ids "+strings.Join(ids, " "), slackFieldMax)}})
	fallback := fmt.Sprintf("%s: %d related alerts: %s", capitalize(clip(worst.Severity, 20)), len(alerts), first.Summary)
	return slackPayload{Text: truncBytes(escapeProse(fallback), slackTextMax), Blocks: blocks}
}

func severityIcon(severity string) string {
	switch severity {
	case SeverityCritical:
		return "🔴"
	case SeverityWarning:
		return "🟠"
	}
	return "⚪"
}
