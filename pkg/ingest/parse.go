package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// Reasons a line is rejected, as LineError.Reason. They are fixed words so
// that rejections can be counted per reason.
const (
	ReasonEmpty = "empty" // blank line
	ReasonJSON  = "json"  // not a JSON object, even after Apache repairs
	ReasonTime  = "time"  // no event time, or one that cannot be read
	ReasonField = "field" // a field of a type or value that cannot be coerced
)

// LineError is why Parse rejected a line. Its message names the reason and
// the mapping field at fault, never the line or any value from it, so it
// can be logged or counted without leaking a credential.
type LineError struct {
	Reason string
	Err    error
}

// Error implements error.
func (e *LineError) Error() string {
	return "rejecting line: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

var (
	errEmptyLine = &LineError{Reason: ReasonEmpty, Err: errors.New("blank line")}
	errNULLine   = &LineError{Reason: ReasonJSON, Err: errors.New("NUL byte in line")}
	errBadJSON   = &LineError{Reason: ReasonJSON, Err: errors.New("invalid JSON")}
	errNotObject = &LineError{Reason: ReasonJSON, Err: errors.New("line is not a JSON object")}
	errNoTime    = &LineError{Reason: ReasonTime, Err: errors.New("no event time at any time path")}
)

// Cache bounds. The credential cache maps raw credentials to their
// fingerprints so repeated tokens are hashed once; it is cleared when
// full, which bounds memory whatever the number of distinct tokens.
const (
	credCacheSize  = 4096
	strCacheSize   = 4096
	maxInternBytes = 256
)

// Parser turns log lines into Records through a Mapping and pull rules.
// A Parser is not safe for concurrent use: make one per goroutine.
type Parser struct {
	m     *compiledMapping
	f     fields
	rules []pullRule
	json  fastjson.Parser
	// scan reads lines of a flat mapping without fastjson; nil when the
	// mapping has nested paths.
	scan *lineScanner
	// creds caches Credentials by raw credential: [0] tokens, [1] key ids.
	creds [2]map[string]Credential
	// strs interns methods and user agents, which repeat on most lines.
	strs map[string]string
	// Scratch buffers reused across lines.
	fixed   []byte // line after Apache repairs
	num     []byte // text of the last JSON number read
	rawPath []byte // path and query before redaction
	outPath []byte // path after redaction
	// rawCred is the last line's credential as it was read; see
	// RawCredential.
	rawCred []byte
}

// NewParser validates the mapping and rules and builds a Parser. With no
// rules no request counts messages; callers usually pass
// DefaultPullRules(format).
func NewParser(m Mapping, rules []PullRule) (*Parser, error) {
	cm, err := m.compile()
	if err != nil {
		return nil, fmt.Errorf("building parser: %w", err)
	}
	pr, err := compilePullRules(rules, cm)
	if err != nil {
		return nil, fmt.Errorf("building parser: %w", err)
	}
	p := &Parser{
		m:     cm,
		f:     newFields(cm),
		rules: pr,
		creds: [2]map[string]Credential{{}, {}},
		strs:  map[string]string{},
	}
	p.scan = newLineScanner(p.f.all())
	return p, nil
}

// pathList is the candidate paths of one mapping field.
type pathList struct {
	name  string // the field's YAML key, for errors
	paths []fieldPath
	// slots are the lineScanner slots of the paths, -1 for query paths;
	// set only when the mapping is flat.
	slots []int
}

// fields are the path lists of a compiled mapping.
type fields struct {
	time, token, keyID, ip, method, path, query pathList
	status, bytes, messages, ua, sampleAt       pathList
	weightAt, fp, hint                          pathList
}

func newFields(cm *compiledMapping) fields {
	return fields{
		time: pathList{name: "time", paths: cm.time}, token: pathList{name: "token", paths: cm.token},
		keyID: pathList{name: "key_id", paths: cm.keyID}, ip: pathList{name: "ip", paths: cm.ip},
		method: pathList{name: "method", paths: cm.method}, path: pathList{name: "path", paths: cm.path},
		query: pathList{name: "query", paths: cm.query}, status: pathList{name: "status", paths: cm.status},
		bytes: pathList{name: "bytes", paths: cm.bytes}, messages: pathList{name: "messages", paths: cm.messages},
		ua: pathList{name: "ua", paths: cm.ua}, sampleAt: pathList{name: "sample_rate_field", paths: cm.sampleAt},
		weightAt: pathList{name: "weight_field", paths: cm.weightAt},
		fp:       pathList{name: "fingerprint", paths: cm.fpAt}, hint: pathList{name: "hint", paths: cm.hintAt},
	}
}

func (f *fields) all() []*pathList {
	return []*pathList{&f.time, &f.token, &f.keyID, &f.ip, &f.method, &f.path, &f.query,
		&f.status, &f.bytes, &f.messages, &f.ua, &f.sampleAt, &f.weightAt, &f.fp, &f.hint}
}

// Parse fills rec from one line without its newline, resetting every
// field first. It returns a *LineError when the line is rejected, and rec
// is then zero. A line with no credential is not rejected: it is an
// anonymous request with a zero Cred.
//
// Apache's mod_log_config is handled: its \xhh escapes, which JSON does
// not have, become the raw byte (so UTF-8 sequences read as the
// characters they encode; control bytes become \u00hh), and a bare
// unquoted "-", which %b prints for an empty body, reads as null, that is
// absent.
func (p *Parser) Parse(line []byte, rec *Record) error {
	*rec = Record{}
	p.rawCred = p.rawCred[:0]
	var root *fastjson.Value
	if p.scan == nil || !p.scan.scan(line) {
		var lerr *LineError
		if root, lerr = p.parseJSON(line); lerr != nil {
			return lerr
		}
	}
	if err := p.fill(root, rec); err != nil {
		*rec = Record{}
		return err
	}
	p.redactPathSegments(rec)
	return nil
}

// minPathSecret is the shortest credential looked for in a path: a
// shorter one could be any word of it.
const minPathSecret = 8

// redactPathSegments replaces the line's credential by its fingerprint
// where the path carries it outside a credential query parameter, as
// APIs that put the key in the path do (/bot<key>/getUpdates), so that
// no alert quoting the path shows it. The raw path is searched, without
// allocating, and almost never holds it.
func (p *Parser) redactPathSegments(rec *Record) {
	if len(p.rawCred) < minPathSecret || isRedactedValue(p.rawCred) || !bytes.Contains(p.rawPath, p.rawCred) {
		return
	}
	rec.Path = strings.ReplaceAll(rec.Path, string(p.rawCred), "fp:"+rec.Cred.FP)
}

// RawCredential returns the credential of the line last parsed exactly
// as its fingerprint was taken ("Bearer " removed, a query parameter
// unescaped), empty when it carried none. It exists for redacting that
// line: the result is a secret, never to be logged or kept.
func (p *Parser) RawCredential() string { return string(p.rawCred) }

// parseJSON parses a line into an object, repairing Apache's pseudo-JSON
// only when the line needs it so clean lines pay one scan for `\x`.
func (p *Parser) parseJSON(line []byte) (*fastjson.Value, *LineError) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, errEmptyLine
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return nil, errNULLine
	}
	// fastjson accepts unknown escapes as literal text, so \x must be
	// looked for rather than waited for as a parse error.
	if bytes.Contains(line, []byte(`\x`)) {
		line = p.repairApache(line)
	}
	root, err := p.json.ParseBytes(line)
	if err != nil {
		fixed := p.repairApache(line)
		if bytes.Equal(fixed, line) {
			return nil, errBadJSON
		}
		if root, err = p.json.ParseBytes(fixed); err != nil {
			return nil, errBadJSON
		}
	}
	if root.Type() != fastjson.TypeObject {
		return nil, errNotObject
	}
	return root, nil
}

// repairApache rewrites \xhh escapes inside strings and bare "-" values
// outside them into JSON. It returns a slice of p.fixed.
func (p *Parser) repairApache(line []byte) []byte {
	out := p.fixed[:0]
	inStr := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inStr && c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
			out = appendJSONByte(out, unhex(line[i+2])<<4|unhex(line[i+3]))
			i += 3
		case inStr && c == '\\' && i+1 < len(line):
			out = append(out, c, line[i+1])
			i++
		case c == '"':
			inStr = !inStr
			out = append(out, c)
		case !inStr && c == '-' && isBareDash(line, i):
			out = append(out, "null"...)
		default:
			out = append(out, c)
		}
	}
	p.fixed = out
	return out
}

func isHex(c byte) bool {
	return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// appendJSONByte appends byte b as it may appear inside a JSON string.
func appendJSONByte(out []byte, b byte) []byte {
	switch {
	case b < 0x20 || b == 0x7f:
		const hexDigits = "0123456789abcdef"
		return append(out, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
	case b == '"' || b == '\\':
		return append(out, '\\', b)
	}
	return append(out, b)
}

// isBareDash reports whether the '-' at i stands alone as a value.
func isBareDash(line []byte, i int) bool {
	j := i - 1
	for j >= 0 && isSpace(line[j]) {
		j--
	}
	if j < 0 || (line[j] != ':' && line[j] != ',' && line[j] != '[') {
		return false
	}
	k := i + 1
	for k < len(line) && isSpace(line[k]) {
		k++
	}
	return k == len(line) || line[k] == ',' || line[k] == '}' || line[k] == ']'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// fill reads every mapped field. The path comes first because query:NAME
// paths read its query string. A nil root means the line scanner read the
// line and holds its values.
func (p *Parser) fill(root *fastjson.Value, rec *Record) error {
	if err := p.fillPath(root, rec); err != nil {
		return err
	}
	if err := p.fillTime(root, rec); err != nil {
		return err
	}
	if err := p.fillStrings(root, rec); err != nil {
		return err
	}
	if err := p.fillIP(root, rec); err != nil {
		return err
	}
	if err := p.fillNumbers(root, rec); err != nil {
		return err
	}
	if err := p.fillCred(root, rec); err != nil {
		return err
	}
	if err := p.fillWeight(root, rec); err != nil {
		return err
	}
	return p.fillMessages(root, rec)
}

// valKind says what a mapped value was.
type valKind uint8

const (
	valAbsent valKind = iota
	valString
	valNumber
)

// valueText returns the text of a JSON value: the content of a string or
// the literal of a number. Arrays yield their first element; null, "" and
// "-" are absent. The result may alias p.num and is valid until the next
// call.
func (p *Parser) valueText(v *fastjson.Value) ([]byte, valKind, error) {
	if v == nil {
		return nil, valAbsent, nil
	}
	t := v.Type()
	if t == fastjson.TypeArray {
		a, _ := v.Array()
		if len(a) == 0 {
			return nil, valAbsent, nil
		}
		v, t = a[0], a[0].Type()
	}
	switch t {
	case fastjson.TypeNull:
		return nil, valAbsent, nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) == 0 || (len(b) == 1 && b[0] == '-') {
			return nil, valAbsent, nil
		}
		return b, valString, nil
	case fastjson.TypeNumber:
		p.num = v.MarshalTo(p.num[:0])
		return p.num, valNumber, nil
	}
	return nil, valAbsent, fmt.Errorf("a JSON %s cannot be read as text or number", t)
}

// textAt returns the text at the i-th candidate path of l.
func (p *Parser) textAt(root *fastjson.Value, l *pathList, i int) ([]byte, valKind, error) {
	fp := &l.paths[i]
	if fp.query != "" {
		b, ok := p.queryParam(fp.query)
		if !ok {
			return nil, valAbsent, nil
		}
		return b, valString, nil
	}
	var b []byte
	var k valKind
	var err error
	if root == nil {
		b, k = p.scan.text(l.slots[i])
	} else {
		b, k, err = p.valueText(root.Get(fp.keys...))
	}
	if err != nil || k == valAbsent || !fp.first {
		return b, k, err
	}
	if i := bytes.IndexByte(b, ','); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (len(b) == 1 && b[0] == '-') {
		return nil, valAbsent, nil
	}
	return b, k, nil
}

// firstText returns the text of the first candidate path that has one.
func (p *Parser) firstText(root *fastjson.Value, l *pathList) ([]byte, valKind, error) {
	for i := range l.paths {
		b, k, err := p.textAt(root, l, i)
		if err != nil {
			return nil, valAbsent, fieldError(l.name, err)
		}
		if k != valAbsent {
			return b, k, nil
		}
	}
	return nil, valAbsent, nil
}

func fieldError(name string, err error) *LineError {
	return &LineError{Reason: ReasonField, Err: fmt.Errorf("field %s: %w", name, err)}
}

func (p *Parser) fillTime(root *fastjson.Value, rec *Record) error {
	b, k, err := p.firstText(root, &p.f.time)
	if err != nil {
		// firstText only returns *LineError; a time of the wrong type is a
		// time rejection, not a field one.
		return &LineError{Reason: ReasonTime, Err: err.(*LineError).Err}
	}
	if k == valAbsent {
		return errNoTime
	}
	t, err := p.m.timeDec.decode(b, k == valNumber)
	if err != nil {
		return &LineError{Reason: ReasonTime, Err: fmt.Errorf("field time: %w", err)}
	}
	rec.Time = t
	return nil
}

func (p *Parser) fillStrings(root *fastjson.Value, rec *Record) error {
	b, _, err := p.firstText(root, &p.f.method)
	if err != nil {
		return err
	}
	rec.Method = p.internMethod(b)
	b, _, err = p.firstText(root, &p.f.ua)
	if err != nil {
		return err
	}
	rec.UA = p.intern(b)
	return nil
}

// commonMethods are returned without a map lookup.
var commonMethods = [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}

// internMethod is intern with a fast path for the usual methods.
func (p *Parser) internMethod(b []byte) string {
	for _, m := range commonMethods {
		if string(b) == m {
			return m
		}
	}
	return p.intern(b)
}

// intern returns a string equal to b, reusing one seen before when it can
// so that repeated values cost no allocation.
func (p *Parser) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxInternBytes {
		return string(b)
	}
	if s, ok := p.strs[string(b)]; ok {
		return s
	}
	if len(p.strs) >= strCacheSize {
		clear(p.strs)
	}
	s := string(b)
	p.strs[s] = s
	return s
}

func (p *Parser) fillIP(root *fastjson.Value, rec *Record) error {
	for i := range p.f.ip.paths {
		b, k, err := p.textAt(root, &p.f.ip, i)
		if err != nil {
			return fieldError("ip", err)
		}
		if k == valAbsent {
			continue
		}
		// An unreadable address falls through to the next candidate (nginx
		// logs "unix:" for socket peers); the request still counts.
		if addr, ok := parseHostAddr(b); ok {
			rec.IP = addr
			return nil
		}
	}
	return nil
}

// parseHostAddr reads an address, possibly with a port glued on; see
// Mapping for the rules. IPv4-mapped IPv6 addresses are unmapped so a
// client has one identity.
func parseHostAddr(b []byte) (netip.Addr, bool) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 || (end+1 < len(b) && !isPortSuffix(b[end+1:])) {
			return netip.Addr{}, false
		}
		return parseAddr(b[1:end])
	}
	if addr, ok := parseAddr(b); ok {
		return addr, true
	}
	i := bytes.LastIndexByte(b, ':')
	if i < 0 || !isPortSuffix(b[i:]) {
		return netip.Addr{}, false
	}
	return parseAddr(b[:i])
}

func parseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	addr, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// parseIPv4 reads dotted-quad IPv4 without allocating, with netip's
// rules: four decimal octets, no leading zeros. Anything else is left to
// netip.ParseAddr.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	field, digits, val := 0, 0, 0
	for i, c := range b {
		switch {
		case isDigit(c):
			if digits == 1 && val == 0 {
				return netip.Addr{}, false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && field < 3 && i+1 < len(b):
			a[field] = byte(val)
			field, digits, val = field+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	a[3] = byte(val)
	return netip.AddrFrom4(a), true
}

// isPortSuffix reports whether b is ":" and a decimal port.
func isPortSuffix(b []byte) bool {
	if len(b) < 2 || len(b) > 6 || b[0] != ':' {
		return false
	}
	n := 0
	for _, c := range b[1:] {
		if !isDigit(c) {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

func (p *Parser) fillNumbers(root *fastjson.Value, rec *Record) error {
	status, _, err := p.intField(root, &p.f.status)
	if err != nil {
		return err
	}
	if status > 999 {
		return fieldError("status", errors.New("not an HTTP status (0-999)"))
	}
	rec.Status = int(status)
	rec.Bytes, _, err = p.intField(root, &p.f.bytes)
	return err
}

// intField reads a non-negative integer written as a number or a string.
func (p *Parser) intField(root *fastjson.Value, l *pathList) (int64, bool, error) {
	b, k, err := p.firstText(root, l)
	if err != nil || k == valAbsent {
		return 0, false, err
	}
	n, err := parseCount(b)
	if err != nil {
		return 0, false, fieldError(l.name, err)
	}
	return n, true, nil
}

var errNotCount = errors.New("not a non-negative integer within range")

// parseCount reads a non-negative integer. Integral floats ("612.0",
// "1e3") are accepted, because some encoders write every number as a float.
func parseCount(b []byte) (int64, error) {
	if len(b) > 0 && len(b) <= 18 {
		var n int64
		for _, c := range b {
			if !isDigit(c) {
				return parseCountFloat(b)
			}
			n = n*10 + int64(c-'0')
		}
		return n, nil
	}
	return parseCountFloat(b)
}

func parseCountFloat(b []byte) (int64, error) {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil || v < 0 || v >= math.MaxInt64 || v != math.Trunc(v) {
		return 0, errNotCount
	}
	return int64(v), nil
}

// fillPath reads the path and query, drops a URL's scheme and host, and
// keeps the raw form in p.rawPath for query:NAME lookups.
func (p *Parser) fillPath(root *fastjson.Value, rec *Record) error {
	b, _, err := p.firstText(root, &p.f.path)
	if err != nil {
		return err
	}
	p.rawPath = append(p.rawPath[:0], stripURLHost(b)...)
	q, _, err := p.firstText(root, &p.f.query)
	if err != nil {
		return err
	}
	if q = bytes.TrimPrefix(q, []byte("?")); len(q) > 0 {
		sep := byte('?')
		if bytes.IndexByte(p.rawPath, '?') >= 0 {
			sep = '&'
		}
		p.rawPath = append(append(p.rawPath, sep), q...)
	}
	rec.Path = p.redactPath(p.rawPath)
	return nil
}

// stripURLHost turns "https://host/p?q" into "/p?q"; other paths are
// returned unchanged.
func stripURLHost(b []byte) []byte {
	if len(b) == 0 || b[0] == '/' {
		return b
	}
	i := bytes.Index(b, []byte("://"))
	if i <= 0 || bytes.IndexByte(b[:i], '/') >= 0 || bytes.IndexByte(b[:i], '?') >= 0 {
		return b
	}
	rest := b[i+3:]
	j := bytes.IndexAny(rest, "/?")
	switch {
	case j < 0:
		return []byte("/")
	case rest[j] == '?':
		return append([]byte("/"), rest[j:]...)
	}
	return rest[j:]
}

// redactPath returns the path with the value of every credential query
// parameter replaced by "fp:" and its fingerprint.
func (p *Parser) redactPath(raw []byte) string {
	qi := bytes.IndexByte(raw, '?')
	if qi < 0 || !p.hasRedacted(raw[qi+1:]) {
		return string(raw)
	}
	out := append(p.outPath[:0], raw[:qi+1]...)
	rest := raw[qi+1:]
	for len(rest) > 0 {
		param, tail, more := cutByte(rest, '&')
		rest = tail
		key, val, hasVal := cutByte(param, '=')
		if hasVal && len(val) > 0 && p.redacted(key) && !isRedactedValue(val) {
			out = append(out, key...)
			out = append(out, "=fp:"...)
			out = append(out, p.credential(unescapeQuery(val), false).FP...)
		} else {
			out = append(out, param...)
		}
		if more {
			out = append(out, '&')
		}
	}
	p.outPath = out
	return string(out)
}

// hasRedacted reports whether a query string holds a credential parameter
// with a value, so that most paths are returned without being rebuilt.
func (p *Parser) hasRedacted(query []byte) bool {
	for len(query) > 0 {
		var param []byte
		param, query, _ = cutByte(query, '&')
		key, val, hasVal := cutByte(param, '=')
		if hasVal && len(val) > 0 && p.redacted(key) && !isRedactedValue(val) {
			return true
		}
	}
	return false
}

// cutByte is bytes.Cut for a one-byte separator, which the path
// redaction calls twice per query parameter.
func cutByte(s []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range s {
		if c == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, nil, false
}

// redacted reports whether a query key carries a credential.
func (p *Parser) redacted(key []byte) bool {
	for _, name := range p.m.redact {
		if len(key) == len(name) && bytes.EqualFold(key, []byte(name)) {
			return true
		}
	}
	return false
}

// queryParam returns the URL-decoded value of the first query parameter
// named name (compared case-insensitively) in the raw path.
func (p *Parser) queryParam(name string) ([]byte, bool) {
	qi := bytes.IndexByte(p.rawPath, '?')
	if qi < 0 {
		return nil, false
	}
	rest := p.rawPath[qi+1:]
	for len(rest) > 0 {
		var param []byte
		param, rest, _ = bytes.Cut(rest, []byte("&"))
		key, val, _ := bytes.Cut(param, []byte("="))
		if len(key) == len(name) && bytes.EqualFold(key, []byte(name)) && len(val) > 0 {
			return unescapeQuery(val), true
		}
	}
	return nil, false
}

// unescapeQuery decodes %XX and '+' so that a credential fingerprints the
// same in a query string as in a header. Undecodable values stay raw.
func unescapeQuery(v []byte) []byte {
	if bytes.IndexByte(v, '%') < 0 && bytes.IndexByte(v, '+') < 0 {
		return v
	}
	s, err := url.QueryUnescape(string(v))
	if err != nil {
		return v
	}
	return []byte(s)
}

// fillCred reads the credential: token paths, then key id paths, then the
// first credential parameter of the query string.
func (p *Parser) fillCred(root *fastjson.Value, rec *Record) error {
	for _, l := range [...]struct {
		list  *pathList
		keyID bool
	}{{&p.f.token, false}, {&p.f.keyID, true}} {
		cred, err := p.credFrom(root, l.list, l.keyID)
		if err != nil || cred.FP != "" {
			rec.Cred = cred
			return err
		}
	}
	cred, err := p.fingerprinted(root)
	if err != nil || cred.FP != "" {
		rec.Cred = cred
		return err
	}
	if b, ok := p.queryCredential(); ok {
		rec.Cred = p.credential(b, false)
	}
	return nil
}

func (p *Parser) credFrom(root *fastjson.Value, l *pathList, keyID bool) (Credential, error) {
	for i := range l.paths {
		b, k, err := p.textAt(root, l, i)
		if err != nil {
			return Credential{}, fieldError(l.name, err)
		}
		if k == valAbsent {
			continue
		}
		b = StripBearer(b)
		if len(b) == 0 || bytes.EqualFold(b, []byte("REDACTED")) || (len(b) == 1 && b[0] == '-') {
			continue
		}
		return p.credential(b, keyID), nil
	}
	return Credential{}, nil
}

// fingerprinted reads a credential already fingerprinted by whoever wrote
// the line. The errors never quote the value: it may be the raw
// credential that the producer should have fingerprinted.
func (p *Parser) fingerprinted(root *fastjson.Value) (Credential, error) {
	fp, k, err := p.firstText(root, &p.f.fp)
	if err != nil || k == valAbsent {
		return Credential{}, err
	}
	if !isFingerprint(fp) {
		return Credential{}, fieldError("fingerprint", errNotFingerprint)
	}
	c := Credential{FP: p.intern(fp)}
	hint, _, err := p.firstText(root, &p.f.hint)
	if err != nil {
		return Credential{}, err
	}
	if len(hint) > hintLen {
		return Credential{}, fieldError("hint", errLongHint)
	}
	c.Hint = p.intern(hint)
	return c, nil
}

// hintLen is the length of Credential.Hint.
const hintLen = 4

var (
	errNotFingerprint = fmt.Errorf("not %d lowercase hex characters", FingerprintLen)
	errLongHint       = fmt.Errorf("longer than %d bytes", hintLen)
)

// isFingerprint reports whether b is a fingerprint: FingerprintLen
// lowercase hex characters.
func isFingerprint(b []byte) bool {
	if len(b) != FingerprintLen {
		return false
	}
	for _, c := range b {
		if !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isRedactedValue reports whether a query value is already "fp:" and a
// fingerprint, as redactPath writes it: redacting it again would replace
// the fingerprint of the credential by the fingerprint of the
// fingerprint, so that a path read back from a shipped record would no
// longer match the one read at the edge.
func isRedactedValue(v []byte) bool {
	fp, ok := bytes.CutPrefix(v, []byte("fp:"))
	return ok && isFingerprint(fp)
}

// queryCredential returns the first parameter of the query string named in
// the mapping's query credentials.
func (p *Parser) queryCredential() ([]byte, bool) {
	qi := bytes.IndexByte(p.rawPath, '?')
	if qi < 0 {
		return nil, false
	}
	rest := p.rawPath[qi+1:]
	for len(rest) > 0 {
		var param []byte
		param, rest, _ = bytes.Cut(rest, []byte("&"))
		key, val, _ := bytes.Cut(param, []byte("="))
		if len(val) == 0 {
			continue
		}
		for _, name := range p.m.queryCreds {
			if len(key) == len(name) && bytes.EqualFold(key, []byte(name)) {
				return unescapeQuery(val), true
			}
		}
	}
	return nil, false
}

// credential returns the Credential of raw, hashing it only the first time
// it is seen since the cache was last cleared.
func (p *Parser) credential(raw []byte, keyID bool) Credential {
	p.rawCred = append(p.rawCred[:0], raw...)
	idx := 0
	if keyID {
		idx = 1
	}
	cache := p.creds[idx]
	if c, ok := cache[string(raw)]; ok {
		return c
	}
	if len(cache) >= credCacheSize {
		clear(cache)
	}
	s := string(raw)
	c := NewCredential(s, keyID)
	cache[s] = c
	return c
}

func (p *Parser) fillWeight(root *fastjson.Value, rec *Record) error {
	rec.Weight = 1
	b, k, err := p.firstText(root, &p.f.weightAt)
	if err != nil {
		return err
	}
	if k != valAbsent {
		rec.Weight, err = parseWeight(b)
		return err
	}
	rate := p.m.sampleRate
	b, k, err = p.firstText(root, &p.f.sampleAt)
	if err != nil {
		return err
	}
	if k != valAbsent {
		r, perr := strconv.ParseFloat(string(b), 64)
		// A rate so small that its inverse overflows would make an
		// infinite weight, which no sum survives.
		if perr != nil || !(r > 0 && r <= 1) || math.IsInf(1/r, 1) {
			return fieldError("sample_rate_field", errors.New("not a sample rate in (0, 1]"))
		}
		rate = r
	}
	if rate > 0 {
		rec.Weight = 1 / rate
	}
	return nil
}

// parseWeight reads a record weight: a finite number of at least 1, the
// inverse of a sample rate in (0, 1].
func parseWeight(b []byte) (float64, error) {
	w, err := strconv.ParseFloat(string(b), 64)
	if err != nil || !(w >= 1) || math.IsInf(w, 1) {
		return 0, fieldError("weight_field", errors.New("not a weight of at least 1 (1/sample rate)"))
	}
	return w, nil
}

// fillMessages applies the first matching pull rule. The messages field
// is read on every line so that a malformed one is rejected whatever the
// status.
func (p *Parser) fillMessages(root *fastjson.Value, rec *Record) error {
	field, hasField, err := p.intField(root, &p.f.messages)
	if err != nil || rec.Status < 200 || rec.Status > 299 {
		return err
	}
	path := rec.Path
	if i := indexByteString(path, '?'); i >= 0 {
		path = path[:i]
	}
	for i := range p.rules {
		r := &p.rules[i]
		if r.match(rec.Method, path) {
			rec.Messages = p.count(r, field, hasField)
			return nil
		}
	}
	return nil
}

func indexByteString(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// count evaluates a rule's count sources in order. A query parameter that
// is not a count is skipped: the client wrote it, not the server.
func (p *Parser) count(r *pullRule, field int64, hasField bool) int64 {
	for _, src := range r.counts {
		switch src.kind {
		case countField:
			if hasField {
				return field
			}
		case countOne:
			return 1
		default:
			if b, ok := p.queryParam(src.param); ok {
				if n, err := parseCount(b); err == nil {
					return n
				}
			}
		}
	}
	return 0
}
