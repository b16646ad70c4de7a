package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Mapping says where a log format keeps each field of a Record. Every
// field except Time may be left empty, and the Record field then stays at
// its zero value.
//
// Each field lists candidate paths; the first that yields a usable value
// wins. A path is one of:
//
//   - dotted object keys, such as request.headers.X-Api-Key. A key that
//     contains a dot, a backslash or a pipe escapes it with a backslash
//     (labels.app\.kubernetes\.io/name). A decimal key indexes an array.
//   - the above followed by "|first": the text before the first comma,
//     trimmed, for lists such as X-Forwarded-For ("198.51.100.23, 10.0.0.9").
//   - query:NAME, the value of the query parameter NAME in the request
//     path (after Path and Query are resolved). Not allowed in Path and
//     Query themselves.
//
// Values are read leniently: an array yields its first element (Caddy
// logs headers as arrays of strings); null, "" and "-" mean absent;
// numbers may be JSON strings ("200"); "REDACTED" is absent for
// credentials; a "Bearer " prefix (any case) is removed from credentials.
// A value of a type that cannot be coerced (an object where a number is
// expected, "abc" as a status) rejects the line.
//
// An address with a port ("ip:port", "[v6]:port") yields the bare
// address. An unbracketed IPv6 address with a port, as AWS ALB writes it,
// is split on its last colon only when the whole does not parse as an
// address, the part after the colon is a decimal port and the part before
// parses: "2001:db8::40:51812" is 2001:db8::40, but "2001:db8::40:8080"
// is itself a valid address and is kept whole.
//
// A Path holding a full URL ("https://host/p?q") keeps only "/p?q".
// Credentials found in the query string are replaced in Record.Path by
// "fp:" and their fingerprint.
type Mapping struct {
	Time TimeField `yaml:"time"`
	// Token lists where the raw credential is logged; the Record keeps its
	// fingerprint and last four characters.
	Token []string `yaml:"token"`
	// KeyID lists where an identifier of the key is logged instead of the
	// key (API Gateway's apiKeyId): fingerprinted, no hint kept. Tried
	// after Token.
	KeyID  []string `yaml:"key_id"`
	IP     []string `yaml:"ip"`
	Method []string `yaml:"method"`
	// Path is the request path, with its query string when the log keeps
	// it there.
	Path []string `yaml:"path"`
	// Query lists where a log keeps the query string apart from the path
	// (Apache's %q, nginx's $args); it is appended to Path after a "?".
	Query  []string `yaml:"query"`
	Status []string `yaml:"status"`
	// Bytes is the response size sent to the client.
	Bytes []string `yaml:"bytes"`
	// Messages is the number of records the call returned, read by pull
	// rules whose count is "field".
	Messages []string `yaml:"messages"`
	UA       []string `yaml:"ua"`
	// QueryCredentials names the query parameters that carry a credential.
	// When neither Token nor KeyID yields one, the first parameter of the
	// request's query string with one of these names (any case) is the
	// credential. Nil means DefaultQueryCredentials; an empty list means
	// none. Whatever this says, the values of these parameters, of
	// DefaultQueryCredentials and of query:NAME paths under Token and KeyID
	// are replaced in Record.Path by "fp:" and their fingerprint, so that
	// no secret travels in a path.
	QueryCredentials []string `yaml:"query_credentials"`
	// SampleRate is the fraction of requests the source logs, in (0, 1];
	// 0 means unsampled. Record.Weight is 1/rate.
	SampleRate float64 `yaml:"sample_rate"`
	// SampleRateField is a path to a per-line sample rate, which overrides
	// SampleRate when present.
	SampleRateField string `yaml:"sample_rate_field"`
	// Fingerprint lists where a producer that fingerprinted the
	// credential itself logs the fingerprint (sentinel ship does, in the
	// shipped format). It is tried after Token and KeyID. A value that is
	// not exactly FingerprintLen lowercase hex characters rejects the
	// line: a raw credential put there by mistake must be neither kept
	// nor passed on as if it were a fingerprint.
	Fingerprint []string `yaml:"fingerprint"`
	// Hint lists where the hint that goes with Fingerprint is logged. It
	// is read only with a fingerprint, and a hint longer than 4 bytes
	// rejects the line, for the same reason.
	Hint []string `yaml:"hint"`
	// WeightField is a path to a per-line Record.Weight (1/sample rate, at
	// least 1), as shipped records carry it. It overrides SampleRate and
	// SampleRateField when present.
	WeightField string `yaml:"weight_field"`
}

// TimeField says where the event time is and how it is written.
type TimeField struct {
	Paths []string `yaml:"paths"`
	// Layout is auto (the default), unix, unix_ms, unix_us, unix_ns,
	// rfc3339, clf, or a Go reference layout. Auto accepts epoch numbers or
	// numeric strings (seconds, milliseconds, microseconds or nanoseconds,
	// chosen by magnitude, with an exact fraction), RFC 3339 with or
	// without fraction and with Z, ±hh:mm, ±hhmm or no zone (UTC), and the
	// common log format "14/May/2024:09:21:07 +0000". Times are always
	// converted to UTC.
	Layout string `yaml:"layout"`
}

// DefaultQueryCredentials are the query parameters read as credentials
// when Mapping.QueryCredentials is nil.
var DefaultQueryCredentials = []string{"api_key", "apikey", "key", "token", "access_token"}

// pathSyntax is appended to path errors so the message says what is
// allowed.
const pathSyntax = `a path is dotted keys (\. escapes a dot), optionally ending in |first, or query:NAME`

// fieldPath is one compiled candidate path.
type fieldPath struct {
	keys  []string // object keys or array indexes; nil for a query path
	query string   // query parameter name, for query:NAME
	first bool     // keep the text before the first comma
}

// compileFieldPath parses the path syntax described on Mapping.
func compileFieldPath(s string, allowQuery bool) (fieldPath, error) {
	if name, ok := strings.CutPrefix(s, "query:"); ok {
		if !allowQuery {
			return fieldPath{}, errors.New("query:NAME is not allowed here")
		}
		if name == "" || strings.ContainsAny(name, "&=#? ") {
			return fieldPath{}, errors.New("query:NAME needs a parameter name without &, =, #, ? or spaces")
		}
		return fieldPath{query: name}, nil
	}
	var fp fieldPath
	if rest, ok := strings.CutSuffix(s, "|first"); ok && !strings.HasSuffix(rest, `\`) {
		fp.first = true
		s = rest
	}
	keys, err := splitPathKeys(s)
	if err != nil {
		return fieldPath{}, err
	}
	fp.keys = keys
	return fp, nil
}

// splitPathKeys splits a dotted path, honouring backslash escapes.
func splitPathKeys(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("empty path")
	}
	var keys []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
		case '.':
			if cur.Len() == 0 {
				return nil, errors.New("empty key")
			}
			keys = append(keys, cur.String())
			cur.Reset()
		case '|':
			return nil, errors.New(`unknown modifier after "|"`)
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() == 0 {
		return nil, errors.New("empty key")
	}
	return append(keys, cur.String()), nil
}

// compiledMapping is a validated Mapping ready for the parser.
type compiledMapping struct {
	time       []fieldPath
	timeDec    timeDecoder
	token      []fieldPath
	keyID      []fieldPath
	ip         []fieldPath
	method     []fieldPath
	path       []fieldPath
	query      []fieldPath
	status     []fieldPath
	bytes      []fieldPath
	messages   []fieldPath
	ua         []fieldPath
	sampleRate float64
	sampleAt   []fieldPath
	weightAt   []fieldPath
	fpAt       []fieldPath
	hintAt     []fieldPath
	// queryCreds are the credential fallback parameters; redact also holds
	// the query:NAME parameters of token and keyID.
	queryCreds []string
	redact     []string
}

// Validate reports the first problem of each wrong field, naming the
// field by its YAML key and saying what is allowed.
func (m Mapping) Validate() error {
	_, err := m.compile()
	return err
}

// compileList compiles the paths of one mapping field into dst and
// returns the errors found.
func compileList(name string, paths []string, allowQuery bool, dst *[]fieldPath) error {
	for _, s := range paths {
		fp, err := compileFieldPath(s, allowQuery)
		if err != nil {
			return fmt.Errorf("mapping field %s: path %q: %w; %s", name, s, err, pathSyntax)
		}
		*dst = append(*dst, fp)
	}
	return nil
}

func (m Mapping) compile() (*compiledMapping, error) {
	c := &compiledMapping{sampleRate: m.SampleRate}
	errs := []error{m.compileTime(c)}
	lists := []struct {
		name       string
		paths      []string
		allowQuery bool
		dst        *[]fieldPath
	}{
		{"token", m.Token, true, &c.token},
		{"key_id", m.KeyID, true, &c.keyID},
		{"ip", m.IP, true, &c.ip},
		{"method", m.Method, true, &c.method},
		{"path", m.Path, false, &c.path},
		{"query", m.Query, false, &c.query},
		{"status", m.Status, true, &c.status},
		{"bytes", m.Bytes, true, &c.bytes},
		{"messages", m.Messages, true, &c.messages},
		{"ua", m.UA, true, &c.ua},
		{"fingerprint", m.Fingerprint, true, &c.fpAt},
		{"hint", m.Hint, true, &c.hintAt},
	}
	for _, l := range lists {
		errs = append(errs, compileList(l.name, l.paths, l.allowQuery, l.dst))
	}
	errs = append(errs, m.compileSampling(c), m.compileQueryCreds(c))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (m Mapping) compileTime(c *compiledMapping) error {
	if len(m.Time.Paths) == 0 {
		return errors.New("mapping field time.paths: at least one path is required")
	}
	dec, err := newTimeDecoder(m.Time.Layout)
	if err != nil {
		return fmt.Errorf("mapping field time.layout: %w", err)
	}
	c.timeDec = dec
	return compileList("time.paths", m.Time.Paths, false, &c.time)
}

func (m Mapping) compileSampling(c *compiledMapping) error {
	if m.SampleRate < 0 || m.SampleRate > 1 || m.SampleRate != m.SampleRate {
		return fmt.Errorf("mapping field sample_rate: %v is outside [0, 1] (0 means unsampled)", m.SampleRate)
	}
	if m.WeightField != "" {
		if err := compileList("weight_field", []string{m.WeightField}, false, &c.weightAt); err != nil {
			return err
		}
	}
	if m.SampleRateField == "" {
		return nil
	}
	return compileList("sample_rate_field", []string{m.SampleRateField}, false, &c.sampleAt)
}

func (m Mapping) compileQueryCreds(c *compiledMapping) error {
	names := m.QueryCredentials
	if names == nil {
		names = DefaultQueryCredentials
	}
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "&=#? ") {
			return fmt.Errorf("mapping field query_credentials: %q is not a query parameter name "+
				"(non-empty, without &, =, #, ? or spaces)", n)
		}
		c.queryCreds = append(c.queryCreds, n)
	}
	c.addRedact(DefaultQueryCredentials...)
	c.addRedact(c.queryCreds...)
	for _, fp := range append(append([]fieldPath(nil), c.token...), c.keyID...) {
		if fp.query != "" {
			c.addRedact(fp.query)
		}
	}
	return nil
}

// addRedact adds parameter names to redact, once each: every name costs a
// comparison per query parameter on every line.
func (c *compiledMapping) addRedact(names ...string) {
	for _, n := range names {
		if !slices.ContainsFunc(c.redact, func(r string) bool { return strings.EqualFold(r, n) }) {
			c.redact = append(c.redact, n)
		}
	}
}
