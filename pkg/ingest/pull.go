package ingest

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// PullRule says which requests pull messages and how many each pulled.
// The parser applies the first rule whose method and path match; a
// request no rule matches, or that did not get a 2xx response, pulled 0.
type PullRule struct {
	// Method is matched case-insensitively; empty matches any.
	Method string `yaml:"method"`
	// Path is a glob on the request path without its query string, in
	// path.Match syntax, where a trailing "*" also matches any suffix
	// including slashes: "/messages*" matches "/messages/outbound".
	// Empty matches any path.
	Path string `yaml:"path"`
	// Count is one or more sources separated by "|", the first that yields
	// a value wins: "field" (the mapping's messages field), "query:NAME"
	// (a query parameter of the request, such as query:count) or "one".
	// When none yields a value the request counts 0.
	Count string `yaml:"count"`
}

// DefaultPullRules returns the pull rules used when the configuration
// gives none. The canonical format logs the messages each call returned,
// so every request counts its messages field. Every other format counts
// GET requests on /messages* paths by their count parameter, or one when
// the parameter is absent: that counts what was asked, which bounds what
// was returned. A shipped record's messages were counted by the
// shipper's rules, so they are taken as they are.
func DefaultPullRules(format string) []PullRule {
	if format == FormatCanonical || format == FormatShipped {
		return []PullRule{{Count: countField}}
	}
	return []PullRule{{Method: "GET", Path: "/messages*", Count: "query:count|one"}}
}

const (
	countField = "field"
	countOne   = "one"
)

// countSource is one alternative of PullRule.Count.
type countSource struct {
	kind  string // countField, countOne or "query"
	param string
}

// pullRule is a compiled PullRule.
type pullRule struct {
	method string
	// prefix is set when the glob is a literal followed by "*", the
	// common case, matched without path.Match.
	prefix    string
	glob      string
	anySuffix bool
	counts    []countSource
}

// compilePullRules checks rules against the mapping they count from.
func compilePullRules(rules []PullRule, m *compiledMapping) ([]pullRule, error) {
	out := make([]pullRule, 0, len(rules))
	for i, r := range rules {
		pr, err := compilePullRule(r, m)
		if err != nil {
			return nil, fmt.Errorf("pull rule %d: %w", i+1, err)
		}
		out = append(out, pr)
	}
	return out, nil
}

func compilePullRule(r PullRule, m *compiledMapping) (pullRule, error) {
	if strings.ContainsAny(r.Method, " \t/") {
		return pullRule{}, fmt.Errorf("method %q is not an HTTP method name", r.Method)
	}
	pr := pullRule{method: r.Method}
	if err := pr.compileGlob(r.Path); err != nil {
		return pullRule{}, err
	}
	counts, err := compileCount(r.Count, m)
	if err != nil {
		return pullRule{}, err
	}
	pr.counts = counts
	return pr, nil
}

func (pr *pullRule) compileGlob(glob string) error {
	if glob == "" {
		pr.prefix, pr.anySuffix = "", true
		return nil
	}
	if _, err := path.Match(glob, "/"); err != nil {
		return fmt.Errorf("path %q: %w (path.Match syntax, trailing * matches any suffix)", glob, err)
	}
	head, star := strings.CutSuffix(glob, "*")
	pr.anySuffix = star && !strings.HasSuffix(head, `\`)
	if !pr.anySuffix {
		pr.glob = glob
		return nil
	}
	if !strings.ContainsAny(head, `*?[\`) {
		pr.prefix = head
		return nil
	}
	pr.glob = head
	return nil
}

func compileCount(spec string, m *compiledMapping) ([]countSource, error) {
	if spec == "" {
		return nil, errors.New(`count is required: "field", "query:NAME" or "one", alternatives separated by "|"`)
	}
	var out []countSource
	for _, s := range strings.Split(spec, "|") {
		switch name, isQuery := strings.CutPrefix(s, "query:"); {
		case s == countField:
			if len(m.messages) == 0 {
				return nil, errors.New(`count "field" needs the mapping's messages field`)
			}
			out = append(out, countSource{kind: countField})
		case s == countOne:
			out = append(out, countSource{kind: countOne})
		case isQuery && name != "":
			out = append(out, countSource{kind: "query", param: name})
		default:
			return nil, fmt.Errorf(`count %q: want "field", "query:NAME" or "one", alternatives separated by "|"`, spec)
		}
	}
	return out, nil
}

// match reports whether the rule applies to a request; p has no query.
func (pr *pullRule) match(method, p string) bool {
	if pr.method != "" && !strings.EqualFold(pr.method, method) {
		return false
	}
	if pr.glob == "" {
		return strings.HasPrefix(p, pr.prefix)
	}
	if !pr.anySuffix {
		ok, _ := path.Match(pr.glob, p)
		return ok
	}
	// A glob before the trailing "*" must match some prefix of the path.
	for i := len(p); i >= 0; i-- {
		if ok, _ := path.Match(pr.glob, p[:i]); ok {
			return true
		}
	}
	return false
}
