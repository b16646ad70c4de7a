package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decode reads data into c strictly. The YAML is first walked as a node
// tree against c's type, so that a mistake is reported with its full
// field path, its line and what the field allows, in words rather than Go
// type names; yaml's own strict decoder then does the decoding. It
// returns the line of every key, so that later checks can name it too.
func decode(data []byte, c *Config) (map[string]int, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(err)
	}
	w := &walker{lines: map[string]int{}}
	w.check(&root, reflect.TypeFor[Config](), "")
	if err := joinErrors(w.errs); err != nil {
		return nil, err
	}
	// The walk should have caught everything; the strict decoder stays
	// as the backstop for what it does not model (custom unmarshalers).
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing configuration: %w", err)
	}
	return w.lines, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError rewords a YAML syntax error. yaml.v3 reports the line where
// the enclosing block starts (its context mark), else where it gave up,
// not always the line of the mistake: for a badly indented line 3 it may
// say line 1. The message says so rather than guess a better line.
func syntaxError(err error) error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("parsing configuration: %w", err)
	}
	return fmt.Errorf("parsing configuration: YAML syntax error near line %s: %s "+
		"(yaml names the start of the enclosing block, so look at the lines after it too; indentation is the usual cause)", m[1], m[2])
}

// walker checks a node tree against a Go type, collecting every mistake.
type walker struct {
	errs  []error
	lines map[string]int
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (w *walker) fail(path string, n *yaml.Node, format string, args ...any) {
	if path == "" {
		path = "configuration"
	}
	w.errs = append(w.errs, &FieldError{Field: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) check(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			continue
		}
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // null leaves any field at its zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pt := reflect.PointerTo(t)
	switch {
	case pt.Implements(yamlUnmarshaler) || pt.Implements(textUnmarshaler) || t == durationType:
		w.scalar(n, t, path)
	case t.Kind() == reflect.Struct:
		w.structure(n, t, path)
	case t.Kind() == reflect.Slice:
		w.list(n, t, path)
	case t.Kind() == reflect.Map:
		w.mapping(n, t, path)
	default:
		w.scalar(n, t, path)
	}
}

func (w *walker) structure(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	if n.Kind != yaml.MappingNode {
		w.fail(path, n, "expected a map of keys (allowed keys are %s), got %s", fieldNames(fields), kindWords(n))
		return
	}
	w.eachKey(n, path, func(key string, k, v *yaml.Node) {
		ft, ok := fieldType(fields, key)
		if !ok {
			w.fail(joinPath(path, key), k, "unknown key; allowed keys are %s", fieldNames(fields))
			return
		}
		w.check(v, ft, joinPath(path, key))
	})
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(path, n, "expected a map of keys, got %s", kindWords(n))
		return
	}
	w.eachKey(n, path, func(key string, k, v *yaml.Node) {
		before := len(w.errs)
		w.check(v, t.Elem(), shownPath(path, key))
		// A mistake under a contract keyed by a pasted raw token stops
		// the parse before validateContracts would offer its
		// fingerprint: offer it here.
		if path == "contracts" && len(w.errs) > before && !showLabelKey(key) {
			w.fail(shownPath(path, key), k, "%s", contractKeyMistake(key))
		}
	})
}

// eachKey calls f for every key of a mapping node, following merge keys
// (<<) and reporting keys that are not plain values or are given twice.
func (w *walker) eachKey(n *yaml.Node, path string, f func(key string, k, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			w.eachKey(resolveAlias(v), path, f)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.fail(path, k, "a key is %s: keys must be single values", kindWords(k))
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.fail(shownPath(path, k.Value), k, "given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		w.lines[p] = k.Line
		// What is below a key is found by the key as shown.
		w.lines[shownPath(path, k.Value)] = k.Line
		f(k.Value, k, v)
	}
}

func (w *walker) list(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.SequenceNode {
		w.fail(path, n, "expected a list (one \"- item\" per line, or [a, b]), got %s", kindWords(n))
		return
	}
	for i, el := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		w.lines[p] = el.Line
		w.check(el, t.Elem(), p)
	}
}

// scalar checks a single value by letting yaml decode it into the field's
// type, then says in words what the field expects.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		w.fail(path, n, "expected %s, got %s", typeWords(t), kindWords(n))
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err == nil {
		return
	}
	msg := scalarMistake(n, t)
	if allowed := fieldAllowed(path); allowed != "" {
		msg += "; allowed is " + allowed
	}
	w.fail(path, n, "%s", msg)
}

func scalarMistake(n *yaml.Node, t reflect.Type) string {
	v := shownValue(n)
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	switch {
	case t == durationType && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float"):
		return v + " is not a duration: give a unit, e.g. 30s, 5m, 1h"
	case t == durationType:
		return v + " is not a duration: write a number and a unit, e.g. 30s, 5m, 1h"
	case quoted && t.Kind() != reflect.String:
		return fmt.Sprintf("%s is text in quotes: expected %s, written without quotes", v, typeWords(t))
	}
	if t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64 {
		// yaml takes a number too large for a float for text.
		if _, err := strconv.ParseFloat(n.Value, t.Bits()); errors.Is(err, strconv.ErrRange) {
			shown := n.Value
			if len(shown) > 20 {
				shown = "the value given"
			}
			return fmt.Sprintf("%s is too large for a number: a number is at most about %.1e either way", shown, maxFloat(t.Bits()))
		}
	}
	return fmt.Sprintf("%s is not %s", v, typeWords(t))
}

// shownValue quotes text. A long value is not shown: a secret pasted on
// the wrong line must not end up in a terminal or a log.
func shownValue(n *yaml.Node) string {
	if len(n.Value) > 20 {
		return "the value given"
	}
	if n.ShortTag() == "!!str" {
		return fmt.Sprintf("%q", n.Value)
	}
	return n.Value
}

func maxFloat(bits int) float64 {
	if bits == 32 {
		return math.MaxFloat32
	}
	return math.MaxFloat64
}

func typeWords(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s, 5m or 1h"
	}
	switch t.Kind() {
	case reflect.String:
		return "a single value"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map of keys"
	}
	return "a value of another kind"
}

func kindWords(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map of keys"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

type yamlField struct {
	name string
	typ  reflect.Type
}

// yamlFields lists the keys a struct accepts, in declaration order, the
// way yaml.v3 names them: the tag's name, else the lowercased field name.
func yamlFields(t reflect.Type) []yamlField {
	var out []yamlField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			out = append(out, yamlFields(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, yamlField{name: name, typ: f.Type})
	}
	return out
}

func fieldType(fields []yamlField, name string) (reflect.Type, bool) {
	for _, f := range fields {
		if f.name == name {
			return f.typ, true
		}
	}
	return nil, false
}

func fieldNames(fields []yamlField) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// shownPath is joinPath for messages: a labels or contracts key may be
// a raw token pasted by mistake, so long ones are not printed.
func shownPath(path, key string) string {
	if (path == "labels" || path == "contracts") && !showLabelKey(key) {
		return path + ".<key ending …" + key[len(key)-4:] + ">"
	}
	return joinPath(path, key)
}

// FieldErrors is several configuration mistakes, reported one per line.
type FieldErrors []error

func (e FieldErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d mistakes:", len(e))
	for _, err := range e {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the mistakes, for errors.Is and errors.As.
func (e FieldErrors) Unwrap() []error { return e }

// joinErrors returns nil for none, the error itself for one, and
// FieldErrors for several.
func joinErrors(errs []error) error {
	var out []error
	for _, err := range errs {
		many, ok := err.(FieldErrors)
		switch {
		case ok:
			out = append(out, many...)
		case err != nil:
			out = append(out, err)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return FieldErrors(out)
}
