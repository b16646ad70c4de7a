package alert

import (
	"fmt"
	"strings"
)

// Breach is what breached a token's declared contract: the clause (as
// in the alert's feature) and, for a network, client or endpoint clause,
// the value that is not declared and the clause as declared. A limit's
// count and declared most are the alert's observed and expected.
type Breach struct {
	Clause   string   `json:"clause"`
	Value    string   `json:"value,omitempty"`
	Declared []string `json:"declared,omitempty"`
}

// maxDeclaredShown is how many of a clause's declared values a summary
// lists before saying how many more there are.
const maxDeclaredShown = 3

// contractSummary describes a contract breach, such as "Token
// 3f9a1c0b2e4d (…a7b1, acme) was used from 198.51.100.7, outside its
// declared networks 10.0.0.0/8." or "Token 3f9a1c0b2e4d (…a7b1) pulled
// 1,500 messages since 10:00 UTC, over the 1,000 an hour its contract
// declares."
func contractSummary(a *Alert) string {
	b := a.Contract
	var what string
	switch b.Clause {
	case "messages_per_hour", "messages_per_day":
		when, per := "since "+a.Since.UTC().Format("15:04 UTC"), "an hour"
		if b.Clause == "messages_per_day" {
			when, per = "on "+a.Since.UTC().Format("2006-01-02")+" (UTC)", "a day"
		}
		return fmt.Sprintf("%s pulled %s messages %s, over the %s %s its contract declares.",
			subject(a), formatNum(a.Observed), when, formatNum(a.Expected), per)
	case "network":
		what = "was used from " + clip(b.Value, maxSummaryValue) + ", outside its declared networks"
	case "client":
		ua := "no user agent"
		if b.Value != "" {
			ua = "client \"" + clip(b.Value, maxSummaryValue) + "\""
		}
		what = "was used with " + ua + ", none of its declared clients"
	case "endpoint":
		what = "requested " + clip(b.Value, maxSummaryValue) + ", none of its declared endpoints"
	default:
		what = "breached its contract's " + clip(b.Clause, maxSummaryValue) + " clause"
	}
	return subject(a) + " " + what + declaredList(b.Declared) + "."
}

func declaredList(ds []string) string {
	if len(ds) == 0 {
		return ""
	}
	n := min(len(ds), maxDeclaredShown)
	shown := make([]string, n)
	for i := range n {
		shown[i] = clip(ds[i], maxSummaryValue)
	}
	s := " " + strings.Join(shown, ", ")
	if more := len(ds) - n; more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}
