package alert

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxSummaryValue bounds, in runes, each value a summary quotes (key,
// label, address), so a crafted 5000-character label cannot turn the one
// sentence into a page.
const maxSummaryValue = 64

// activity says, for a feature, how to phrase its observed value and
// its usual one.
type activity struct {
	verb, one, many string // what it did: "pulled", "message", "messages"
	does            string // the same in the present, for the usual: "pulls"
	// idle, when set, replaces "where it usually <does> none" for a
	// feature whose zero means no activity at all.
	idle  string
	bytes bool
	// peers marks a count of distinct peers: the top list then gives
	// examples of what was counted rather than where it came from.
	peers bool
}

var activities = map[string]activity{
	"messages": {verb: "pulled", one: "message", many: "messages", does: "pulls"},
	"requests": {verb: "made", one: "request", many: "requests", does: "makes"},
	"bytes":    {verb: "downloaded", does: "downloads", bytes: true},
	"errors":   {verb: "got", one: "error response", many: "error responses", does: "gets"},
	"unauthorized": {verb: "had", one: "request refused (401/403)",
		many: "requests refused (401/403)", does: "has"},
	"distinct_ips": {verb: "was used from", one: "address", many: "distinct addresses",
		does: "is used from", idle: "is usually idle", peers: true},
	"distinct_tokens": {verb: "used", one: "token", many: "distinct tokens",
		does: "uses", peers: true},
	"rejected_lines": {verb: "had", one: "rejected log line", many: "rejected log lines",
		does: "has"},
	// The horizon sums, named base_duration such as "messages_30m".
	"unauthorized_tokens": {verb: "had", one: "refused token", many: "refused tokens",
		does: "has", peers: true},
}

// Summarize returns one sentence describing the alert for a person, such
// as "Token 3f9a1c0b2e4d (…a7b1, acme) pulled 4,812 messages in one minute
// from 203.0.113.9, 38× its usual 126; 9,340 messages above normal since
// 09:21 UTC." Numbers are rounded for reading; the exact values stay in
// the alert's other fields. Quoted values are shortened and kept on one
// line.
func Summarize(a *Alert) string {
	if a.Status == StatusResolved {
		return resolvedSummary(a)
	}
	if len(a.IsolatedBy) > 0 {
		return isolationSummary(a)
	}
	if a.Entity == EntityPopulation {
		return floodSummary(a)
	}
	if a.Feature == FeatureNewNetworkAndClient {
		return noveltySummary(a)
	}
	if a.Contract != nil {
		return contractSummary(a)
	}
	f := parseFeature(a)
	var b strings.Builder
	b.WriteString(subject(a))
	b.WriteString(" ")
	b.WriteString(observed(a, f))
	if w := f.span(a); w != "" {
		b.WriteString(" " + w)
	}
	b.WriteString(origin(a, f))
	b.WriteString(comparison(a, f))
	b.WriteString(excessPhrase(a))
	b.WriteString(".")
	return b.String()
}

// floodSummary describes a flood of new keys, such as "A flood of
// 120,000 new tokens in one minute, where usually almost none appear;
// tokens with a history are still judged, new ones past the configured
// limits are counted but not followed." The second half says what the
// flood costs: nothing for the entities sentinel knew.
func floodSummary(a *Alert) string {
	noun := "tokens"
	if a.Key == EntityIP {
		noun = "addresses"
	}
	usual := "usually almost none appear"
	if a.Expected >= 0.5 {
		usual = "usually " + formatNum(a.Expected) + " appear"
	}
	span := windowPhrase(a.WindowEnd.Sub(a.WindowStart))
	if span != "" {
		span = " " + span
	}
	return fmt.Sprintf("A flood of %s new %s%s, where %s; %s with a history are still judged, "+
		"new ones past the configured limits are counted but not followed.",
		formatNum(a.Observed), noun, span, usual, noun)
}

// resolvedSummary describes the end of an incident, such as "Token
// 3f9a1c0b2e4d (…a7b1, acme) is back to normal since 09:31 UTC; from
// 09:21 UTC it pulled 9,340 messages above normal."
func resolvedSummary(a *Alert) string {
	layout := "15:04 UTC"
	if !sameDay(a.Since.UTC(), a.At.UTC()) {
		layout = "2006-01-02 15:04 UTC"
	}
	s := fmt.Sprintf("%s is back to normal since %s", subject(a), a.At.UTC().Format(layout))
	if !(a.Excess > 0) {
		return s + "."
	}
	noun := " messages"
	if formatNum(a.Excess) == "1" {
		noun = " message"
	}
	return fmt.Sprintf("%s; from %s it pulled %s%s above normal.", s,
		a.Since.UTC().Format(layout), formatNum(a.Excess), noun)
}

// feature is an alert's feature as Summarize reads it.
type feature struct {
	name    string
	act     activity
	known   bool
	horizon time.Duration // for a horizon sum such as "messages_30m"
}

// parseFeature looks the feature up, reading a name such as
// "messages_30m" as the sum of "messages" over the last 30 minutes.
func parseFeature(a *Alert) feature {
	if act, ok := activities[a.Feature]; ok {
		return feature{name: a.Feature, act: act, known: true}
	}
	i := strings.LastIndexByte(a.Feature, '_')
	if i < 0 {
		return feature{name: a.Feature}
	}
	act, ok := activities[a.Feature[:i]]
	d, err := time.ParseDuration(a.Feature[i+1:])
	if !ok || err != nil || d <= 0 {
		return feature{name: a.Feature}
	}
	return feature{name: a.Feature[:i], act: act, known: true, horizon: d}
}

// span says what time the observed value covers.
func (f feature) span(a *Alert) string {
	if f.horizon == 0 {
		return windowPhrase(a.WindowEnd.Sub(a.WindowStart))
	}
	if f.horizon == 30*time.Minute {
		return "in the last half hour"
	}
	return "in the last " + strings.TrimPrefix(length(f.horizon), "one ")
}

func subject(a *Alert) string {
	s := capitalize(entityNoun(a)) + " " + clip(a.Key, maxSummaryValue)
	var extra []string
	if a.TokenHint != "" {
		extra = append(extra, "…"+clip(a.TokenHint, 8))
	}
	if a.Label != "" {
		extra = append(extra, clip(a.Label, maxSummaryValue))
	}
	if len(extra) == 0 {
		return s
	}
	return s + " (" + strings.Join(extra, ", ") + ")"
}

// entityNoun names the kind of entity in lower case.
func entityNoun(a *Alert) string {
	switch a.Entity {
	case EntityToken:
		return "token"
	case EntityIP:
		return "address"
	case EntitySource:
		return "log source"
	}
	return clip(a.Entity, maxSummaryValue)
}

func observed(a *Alert, f feature) string {
	if !f.known {
		name := strings.ReplaceAll(clip(a.Feature, maxSummaryValue), "_", " ")
		return "reached " + formatNum(a.Observed) + " " + name
	}
	if f.act.bytes {
		return f.act.verb + " " + formatBytes(a.Observed)
	}
	noun := f.act.many
	if a.Observed == 1 {
		noun = f.act.one
	}
	return f.act.verb + " " + formatNum(a.Observed) + " " + noun
}

// windowPhrase names a window length the way a person says it.
func windowPhrase(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return "in " + length(d)
}

// length writes a positive duration as "one minute", "5 minutes" or, when
// no unit divides it, Go's "1m30.5s".
func length(d time.Duration) string {
	units := []struct {
		d         time.Duration
		one, many string
	}{
		{24 * time.Hour, "one day", "days"},
		{time.Hour, "one hour", "hours"},
		{time.Minute, "one minute", "minutes"},
		{time.Second, "one second", "seconds"},
	}
	for _, u := range units {
		if d < u.d || d%u.d != 0 {
			continue
		}
		if n := d / u.d; n > 1 {
			return fmt.Sprintf("%d %s", n, u.many)
		}
		return u.one
	}
	return d.String()
}

// origin names the busiest addresses of a token or tokens of an
// address. For a count of distinct peers they are examples of what was
// counted, so they are not presented as its source.
func origin(a *Alert, f feature) string {
	top, one, many, lead := a.TopIPs, "address", "addresses", " from "
	if a.Entity == EntityIP {
		top, one, many, lead = a.TopTokens, "other", "others", " using token "
	}
	if a.Entity != EntityToken && a.Entity != EntityIP || len(top) == 0 {
		return ""
	}
	if f.act.peers {
		return ", including " + examples(top)
	}
	return lead + clip(top[0], maxSummaryValue) + others(len(top)-1, one, many)
}

// examples lists at most two values.
func examples(top []string) string {
	s := clip(top[0], maxSummaryValue)
	if len(top) == 1 {
		return s
	}
	return s + " and " + clip(top[1], maxSummaryValue)
}

func others(n int, one, many string) string {
	switch {
	case n <= 0:
		return ""
	case n == 1:
		return " and 1 other " + one
	}
	if one == "other" {
		return fmt.Sprintf(" and %d %s", n, many)
	}
	return fmt.Sprintf(" and %d other %s", n, many)
}

// comparison sets the observed value against the expected one: the
// entity's own usual, or for the population detector what a typical
// entity of its kind does, since the entity is too new for a baseline.
func comparison(a *Alert, f feature) string {
	whose := "its usual "
	if a.Detector == "population" {
		whose = "a typical " + entityNoun(a) + "'s "
	}
	usual := formatNum(a.Expected)
	if f.act.bytes {
		usual = formatBytes(a.Expected)
	}
	switch {
	case a.Expected <= 0 || math.IsNaN(a.Expected):
		return ", " + usualNone(a, f, "none")
	case f.known && a.Expected < 0.5:
		// "50,000× its usual 0.01" is exact and useless at a glance.
		return ", " + usualNone(a, f, "almost none")
	case a.Observed < a.Expected:
		return ", against " + whose + usual
	}
	return ", " + formatRatio(a.Observed/a.Expected) + " " + whose + usual
}

// usualNone says that the entity, or a typical one, usually shows
// amount ("none", "almost none") of the feature.
func usualNone(a *Alert, f feature, amount string) string {
	who, usually := "it", "usually "
	if a.Detector == "population" {
		who, usually = "a typical "+entityNoun(a), ""
	}
	switch {
	case !f.known:
		return "with no usual activity"
	case f.act.idle != "":
		return "where " + who + " " + f.act.idle
	case f.act.bytes:
		amount = strings.Replace(amount, "none", "nothing", 1)
	}
	return "where " + who + " " + usually + f.act.does + " " + amount
}

// excessPhrase gives the messages pulled above normal during the
// episode, whichever feature fired: that is what a leak costs.
func excessPhrase(a *Alert) string {
	if !(a.Excess > 0) {
		return ""
	}
	noun := " messages"
	if formatNum(a.Excess) == "1" {
		noun = " message"
	}
	s := "; " + formatNum(a.Excess) + noun + " above normal"
	if a.Since.IsZero() {
		return s
	}
	since := a.Since.UTC()
	layout := "15:04 UTC"
	if !sameDay(since, a.At.UTC()) {
		layout = "2006-01-02 15:04 UTC"
	}
	return s + " since " + since.Format(layout)
}

func sameDay(x, y time.Time) bool {
	return x.Year() == y.Year() && x.YearDay() == y.YearDay()
}

// formatRatio writes a ratio the way the eye compares it: whole numbers
// from 10 up, one decimal below.
func formatRatio(r float64) string {
	if math.IsInf(r, 0) || r >= 1e6 {
		return "over 1,000,000×"
	}
	if r >= 10 {
		return formatInt(math.Round(r)) + "×"
	}
	return trimZeros(strconv.FormatFloat(r, 'f', 1, 64)) + "×"
}

// formatNum rounds a value to what a person needs: integers with thousands
// separators from 100 up, one decimal from 10, two significant digits
// below.
func formatNum(v float64) string {
	abs := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "?"
	case math.IsInf(v, 0):
		return "∞"
	case abs >= 1e15:
		return strconv.FormatFloat(v, 'g', 3, 64)
	case abs >= 100:
		return formatInt(math.Round(v))
	case abs >= 10:
		return trimZeros(strconv.FormatFloat(v, 'f', 1, 64))
	case abs >= 1:
		return trimZeros(strconv.FormatFloat(v, 'f', 2, 64))
	case v == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

// formatInt writes a whole number below 1e15 with comma separators.
func formatInt(v float64) string {
	s := strconv.FormatInt(int64(math.Abs(v)), 10)
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func formatBytes(v float64) string {
	units := []string{"bytes", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for math.Abs(v) >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return formatNum(v) + " bytes"
	}
	return trimZeros(strconv.FormatFloat(v, 'f', 1, 64)) + " " + units[i]
}

func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// clip makes a value fit on one line within limit runes: control and
// line-breaking characters become spaces and a longer value is cut, at a
// rune boundary, with an ellipsis.
func clip(s string, limit int) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	n := 0
	for i := range s {
		if n == limit-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// oneLine replaces control characters, line and paragraph separators and
// bidirectional overrides by spaces, so a value cannot break a line or
// reorder the text around it. Invalid UTF-8 becomes U+FFFD.
func oneLine(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028' || r == '\u2029':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// isolationSummary describes an isolation-forest alert by the features
// that set the window apart, such as "Token 3f9a1c0b2e4d (…a7b1) had a
// minute unlike its usual from 203.0.113.9: new client share 1 (typically
// 0), new network share 1 (typically 0); score 0.74 above 0.69."
// FeatureNewNetworkAndClient is the feature of a "novelty" alert: the
// share of a window's requests from a network and with a client new to
// the token.
const FeatureNewNetworkAndClient = "new_network_and_client"

// noveltySummary says where a token was used from, which is the whole
// signal: the volume was ordinary.
func noveltySummary(a *Alert) string {
	var b strings.Builder
	b.WriteString(subject(a))
	b.WriteString(" was used from a network and with a client it has never used")
	b.WriteString(origin(a, feature{}))
	fmt.Fprintf(&b, " (%s of its requests in ", percent(a.Observed))
	if w := a.WindowEnd.Sub(a.WindowStart); w == time.Minute {
		b.WriteString("one minute")
	} else {
		b.WriteString(length(w))
	}
	b.WriteString(").")
	return b.String()
}

// percent writes a share as a whole percentage.
func percent(share float64) string {
	return strconv.Itoa(int(math.Round(100*share))) + "%"
}

func isolationSummary(a *Alert) string {
	var b strings.Builder
	b.WriteString(subject(a))
	b.WriteString(" had a")
	if w := a.WindowEnd.Sub(a.WindowStart); w == time.Minute {
		b.WriteString(" minute")
	} else {
		b.WriteString(" window of " + length(w))
	}
	b.WriteString(" unlike its usual")
	b.WriteString(origin(a, feature{}))
	b.WriteString(": ")
	for i, iso := range a.IsolatedBy {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(isolationPhrase(iso))
	}
	score, thr := a.Observed, a.Observed/a.Score
	digits := 2
	if strconv.FormatFloat(score, 'f', 2, 64) == strconv.FormatFloat(thr, 'f', 2, 64) {
		digits = 3 // "0.70 above 0.70" says nothing
	}
	fmt.Fprintf(&b, "; score %s above %s.", strconv.FormatFloat(score, 'f', digits, 64),
		strconv.FormatFloat(thr, 'f', digits, 64))
	return b.String()
}

// isolationPhrase says one feature of an isolation-forest alert in the
// units a person counts in: the forest's log-scale features as counts and
// ratios to the token's usual.
func isolationPhrase(iso Isolation) string {
	switch f := iso.Feature; f {
	case "log_messages", "log_distinct_ips":
		noun := "messages"
		if f == "log_distinct_ips" {
			noun = "distinct addresses"
		}
		return fmt.Sprintf("%s %s (typically %s)", formatNum(math.Expm1(iso.Value)), noun,
			formatNum(math.Expm1(iso.Typical)))
	case "messages_vs_usual", "requests_vs_usual", "bytes_vs_usual":
		return fmt.Sprintf("%s at %s its usual (typically %s)", strings.TrimSuffix(f, "_vs_usual"),
			formatRatio(math.Exp(iso.Value)), formatRatio(math.Exp(iso.Typical)))
	}
	name := strings.ReplaceAll(clip(iso.Feature, maxSummaryValue), "_", " ")
	return fmt.Sprintf("%s %s (typically %s)", name, formatNum(iso.Value), formatNum(iso.Typical))
}
