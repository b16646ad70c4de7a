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

// activity says, for a feature, how to phrase its observed value.
type activity struct {
	verb, one, many string
	bytes           bool
}

var activities = map[string]activity{
	"messages":        {verb: "pulled", one: "message", many: "messages"},
	"requests":        {verb: "made", one: "request", many: "requests"},
	"bytes":           {verb: "downloaded", bytes: true},
	"errors":          {verb: "got", one: "error response", many: "error responses"},
	"unauthorized":    {verb: "got", one: "401/403 rejection", many: "401/403 rejections"},
	"distinct_ips":    {verb: "was used from", one: "address", many: "distinct addresses"},
	"distinct_tokens": {verb: "used", one: "token", many: "distinct tokens"},
	"rejected_lines":  {verb: "had", one: "rejected line", many: "rejected lines"},
}

// Summarize returns one sentence describing the alert for a person, such
// as "Token 3f9a1c0b2e4d (…a7b1, acme) pulled 4,812 messages in one minute
// from 203.0.113.9, 38× its usual 126; 9,340 above normal since 09:21 UTC."
// Numbers are rounded for reading; the exact values stay in the alert's
// other fields. Quoted values are shortened and kept on one line.
func Summarize(a *Alert) string {
	var b strings.Builder
	b.WriteString(subject(a))
	b.WriteString(" ")
	b.WriteString(observed(a))
	if w := windowPhrase(a.WindowEnd.Sub(a.WindowStart)); w != "" {
		b.WriteString(" " + w)
	}
	b.WriteString(origin(a))
	b.WriteString(comparison(a))
	b.WriteString(excessPhrase(a))
	b.WriteString(".")
	return b.String()
}

func subject(a *Alert) string {
	var noun string
	switch a.Entity {
	case EntityToken:
		noun = "Token"
	case EntityIP:
		noun = "Address"
	case EntitySource:
		noun = "Source"
	default:
		noun = capitalize(clip(a.Entity, maxSummaryValue))
	}
	s := noun + " " + clip(a.Key, maxSummaryValue)
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

func observed(a *Alert) string {
	act, ok := activities[a.Feature]
	if !ok {
		feature := strings.ReplaceAll(clip(a.Feature, maxSummaryValue), "_", " ")
		return "reached " + formatNum(a.Observed) + " " + feature
	}
	if act.bytes {
		return act.verb + " " + formatBytes(a.Observed)
	}
	noun := act.many
	if a.Observed == 1 {
		noun = act.one
	}
	return act.verb + " " + formatNum(a.Observed) + " " + noun
}

// windowPhrase names a window length the way a person says it.
func windowPhrase(d time.Duration) string {
	units := []struct {
		d         time.Duration
		one, many string
	}{
		{24 * time.Hour, "one day", "days"},
		{time.Hour, "one hour", "hours"},
		{time.Minute, "one minute", "minutes"},
		{time.Second, "one second", "seconds"},
	}
	if d <= 0 {
		return ""
	}
	for _, u := range units {
		if d < u.d || d%u.d != 0 {
			continue
		}
		if n := d / u.d; n > 1 {
			return fmt.Sprintf("in %d %s", n, u.many)
		}
		return "in " + u.one
	}
	return "in " + d.String()
}

func origin(a *Alert) string {
	switch {
	case a.Entity == EntityToken && len(a.TopIPs) > 0:
		return " from " + clip(a.TopIPs[0], maxSummaryValue) +
			others(len(a.TopIPs)-1, "address", "addresses")
	case a.Entity == EntityIP && len(a.TopTokens) > 0:
		return " with token " + clip(a.TopTokens[0], maxSummaryValue) +
			others(len(a.TopTokens)-1, "other", "others")
	}
	return ""
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

func comparison(a *Alert) string {
	usual := formatNum(a.Expected)
	if a.Feature == "bytes" {
		usual = formatBytes(a.Expected)
	}
	switch {
	case a.Expected <= 0 || math.IsNaN(a.Expected):
		return ", against a usual of none"
	case a.Observed < a.Expected:
		return ", against its usual " + usual
	}
	return ", " + formatRatio(a.Observed/a.Expected) + " its usual " + usual
}

func excessPhrase(a *Alert) string {
	if !(a.Excess > 0) {
		return ""
	}
	s := "; " + formatNum(a.Excess) + " above normal"
	if a.Feature == "bytes" {
		s = "; " + formatBytes(a.Excess) + " above normal"
	}
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
