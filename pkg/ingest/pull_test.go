package ingest

import (
	"fmt"
	"testing"
)

func TestPullRuleMatch(t *testing.T) {
	cases := []struct {
		rule         PullRule
		method, path string
		want         bool
	}{
		{PullRule{Path: "/messages*"}, "GET", "/messages", true},
		{PullRule{Path: "/messages*"}, "GET", "/messages/outbound/abc/details", true},
		{PullRule{Path: "/messages*"}, "GET", "/email", false},
		{PullRule{Method: "get", Path: "/messages*"}, "GET", "/messages", true},
		{PullRule{Method: "GET", Path: "/messages*"}, "POST", "/messages", false},
		{PullRule{Path: "/messages/*"}, "GET", "/messages/outbound", true},
		{PullRule{Path: "/messages/*"}, "GET", "/messages/outbound/x", true}, // trailing * takes any suffix
		{PullRule{Path: "/messages/*/x"}, "GET", "/messages/a/x", true},
		{PullRule{Path: "/messages/*/x"}, "GET", "/messages/a/b/x", false},
		{PullRule{Path: "/messages/*/details*"}, "GET", "/messages/abc/details/more", true},
		{PullRule{Path: "/messages/*/details*"}, "GET", "/messages/abc/other", false},
		{PullRule{Path: "/email"}, "POST", "/email", true},
		{PullRule{Path: "/email"}, "POST", "/email/batch", false},
		{PullRule{}, "DELETE", "/anything", true},
	}
	for _, tc := range cases {
		tc.rule.Count = "one"
		rules, err := compilePullRules([]PullRule{tc.rule}, &compiledMapping{})
		if err != nil {
			t.Fatalf("%+v: %v", tc.rule, err)
		}
		if got := rules[0].match(tc.method, tc.path); got != tc.want {
			t.Errorf("%+v match(%s %s) = %v, want %v", tc.rule, tc.method, tc.path, got, tc.want)
		}
	}
}

func TestPullRuleErrors(t *testing.T) {
	noMessages := &compiledMapping{}
	for _, r := range []PullRule{
		{Count: ""},
		{Count: "many"},
		{Count: "query:"},
		{Count: "field"}, // the mapping has no messages field
		{Count: "one", Path: "/messages/["},
		{Count: "one", Method: "GET /"},
	} {
		if _, err := compilePullRules([]PullRule{r}, noMessages); err == nil {
			t.Errorf("rule %+v accepted", r)
		}
	}
}

// TestPullCounting runs lines through rules: first match wins, only 2xx
// pull, count sources fall back in order.
func TestPullCounting(t *testing.T) {
	m := ptestPreset(t, FormatCanonical)
	rules := []PullRule{
		{Method: "GET", Path: "/messages/export*", Count: "field|one"},
		{Method: "GET", Path: "/messages*", Count: "query:count|one"},
		{Method: "GET", Path: "/stats", Count: "query:n"},
	}
	p := ptestParser(t, m, rules)
	cases := []struct {
		path, method string
		status       int
		messages     string
		want         int64
	}{
		{"/messages/outbound?count=50", "GET", 200, "null", 50},
		{"/messages/outbound?offset=3", "GET", 200, "null", 1},
		{"/messages/outbound?count=-4", "GET", 200, "null", 1},
		{"/messages/outbound?count=50", "GET", 401, "null", 0},
		{"/messages/outbound?count=50", "GET", 199, "null", 0},
		{"/messages/outbound?count=50", "POST", 200, "null", 0},
		{"/messages/export?count=50", "GET", 200, "900", 900}, // first rule wins
		{"/messages/export", "GET", 200, "null", 1},
		{"/stats?n=7", "GET", 204, "null", 7},
		{"/stats", "GET", 200, "null", 0}, // no source yields a value
		{"/email", "POST", 200, "500", 0}, // no rule matches
	}
	for _, tc := range cases {
		line := fmt.Sprintf(`{"ts":1715678467,"method":%q,"path":%q,"status":%d,"messages":%s}`,
			tc.method, tc.path, tc.status, tc.messages)
		var rec Record
		if err := p.Parse([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if rec.Messages != tc.want {
			t.Errorf("%s: messages %d, want %d", line, rec.Messages, tc.want)
		}
	}
}

func TestDefaultPullRules(t *testing.T) {
	if r := DefaultPullRules(FormatCanonical); len(r) != 1 || r[0].Count != "field" || r[0].Path != "" {
		t.Errorf("canonical default %+v", r)
	}
	r := DefaultPullRules("caddy")
	if len(r) != 1 || r[0].Method != "GET" || r[0].Path != "/messages*" || r[0].Count != "query:count|one" {
		t.Errorf("caddy default %+v", r)
	}
}
