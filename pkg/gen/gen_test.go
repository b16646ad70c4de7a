package gen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// line is a parsed generated line, with the token's fingerprint.
type line struct {
	at       time.Time
	fp, ip   string
	token    string
	method   string
	path, ua string
	status   int
	messages int64
}

type corpus struct {
	truth *Truth
	lines []line
	byFP  map[string][]int // line indices of each token
	raw   []byte
}

var (
	sharedOnce sync.Once
	shared     *corpus
	sharedErr  error
)

// sample generates, once per test binary, five days of 150 tokens with
// every scenario, through a real file.
func sample(t *testing.T) *corpus {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = buildSample() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func buildSample() (*corpus, error) {
	dir, err := os.MkdirTemp("", "gen-test")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "traffic.jsonl")
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	opts := Options{Seed: 42, Tokens: 150, Duration: 5 * 24 * time.Hour, Attacks: true}
	tr, err := Generate(opts, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	c := &corpus{truth: tr, raw: raw, byFP: map[string][]int{}}
	return c, c.parse()
}

// parse decodes every line with encoding/json, so a line the
// hand-written formatter got wrong fails here, and checks that it holds
// exactly the canonical fields with their JSON types.
func (c *corpus) parse() error {
	fps := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(c.raw))
	for n := 1; sc.Scan(); n++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		l, err := canonical(m)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		tok := m["token"].(string)
		fp, ok := fps[tok]
		if !ok {
			fp = ingest.Fingerprint(tok)
			fps[tok] = fp
		}
		l.fp = fp
		c.byFP[fp] = append(c.byFP[fp], len(c.lines))
		c.lines = append(c.lines, l)
	}
	return sc.Err()
}

var (
	stringFields = []string{"ts", "token", "ip", "method", "path", "ua"}
	numberFields = []string{"status", "bytes", "messages"}
)

// canonical checks a decoded line's fields and returns it as a line.
func canonical(m map[string]any) (line, error) {
	if len(m) != len(stringFields)+len(numberFields) {
		return line{}, fmt.Errorf("%d fields, want the 9 canonical ones", len(m))
	}
	for _, k := range stringFields {
		if _, ok := m[k].(string); !ok {
			return line{}, fmt.Errorf("field %s missing or not a string", k)
		}
	}
	for _, k := range numberFields {
		if _, ok := m[k].(float64); !ok {
			return line{}, fmt.Errorf("field %s missing or not a number", k)
		}
	}
	at, err := time.Parse("2006-01-02T15:04:05.000Z", m["ts"].(string))
	if err != nil {
		return line{}, err
	}
	return line{at: at, ip: m["ip"].(string), method: m["method"].(string),
		path: m["path"].(string), ua: m["ua"].(string), token: m["token"].(string),
		status: int(m["status"].(float64)), messages: int64(m["messages"].(float64))}, nil
}

// tokenLines returns the token's lines in [from, to).
func (c *corpus) tokenLines(fp string, from, to time.Time) []line {
	var out []line
	for _, i := range c.byFP[fp] {
		l := c.lines[i]
		if !l.at.Before(from) && l.at.Before(to) {
			out = append(out, l)
		}
	}
	return out
}

func messages(ls []line) int64 {
	var n int64
	for _, l := range ls {
		n += l.messages
	}
	return n
}

// incidents returns the truth's incidents of a class, failing when
// there are none.
func (c *corpus) incidents(t *testing.T, class string) []Incident {
	t.Helper()
	var out []Incident
	for _, in := range c.truth.Incidents {
		if in.Class == class {
			out = append(out, in)
		}
	}
	if len(out) == 0 {
		t.Fatalf("truth has no %s incident", class)
	}
	return out
}

func TestDeterminism(t *testing.T) {
	opts := Options{Seed: 7, Tokens: 60, Duration: 4 * 24 * time.Hour, Attacks: true}
	run := func(o Options) ([]byte, []byte) {
		var log, truth bytes.Buffer
		tr, err := Generate(o, &log)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.WriteJSON(&truth); err != nil {
			t.Fatal(err)
		}
		return log.Bytes(), truth.Bytes()
	}
	log1, truth1 := run(opts)
	log2, truth2 := run(opts)
	if !bytes.Equal(log1, log2) || !bytes.Equal(truth1, truth2) {
		t.Fatal("two runs with the same seed differ")
	}
	opts.Seed = 8
	log3, truth3 := run(opts)
	if bytes.Equal(log1, log3) || bytes.Equal(truth1, truth3) {
		t.Fatal("a different seed gave the same output")
	}
}

// TestLinesAreCanonical relies on sample having checked every line's
// fields and types, and checks their values.
func TestLinesAreCanonical(t *testing.T) {
	c := sample(t)
	docNets := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8::/32")}
	for i, l := range c.lines {
		checkLine(t, i+1, l, docNets)
		if i > 0 && l.at.Before(c.lines[i-1].at) {
			t.Fatalf("line %d goes back in time", i+1)
		}
	}
	if len(c.lines) < 50_000 || len(c.lines) > 1_000_000 {
		t.Errorf("%d lines for 150 tokens over 5 days, want a modest volume", len(c.lines))
	}
	first, last := c.lines[0].at, c.lines[len(c.lines)-1].at
	if first.Before(c.truth.Start) || !last.Before(c.truth.End) {
		t.Errorf("lines span %v to %v, outside the truth's %v to %v", first, last, c.truth.Start, c.truth.End)
	}
}

func checkLine(t *testing.T, n int, l line, nets []netip.Prefix) {
	t.Helper()
	if !strings.HasPrefix(l.token, "tok_live_") || len(l.token) != len("tok_live_")+24 {
		t.Fatalf("line %d: token is not tok_live_ and 24 characters", n)
	}
	a, err := netip.ParseAddr(l.ip)
	if err != nil || !slices.ContainsFunc(nets, func(p netip.Prefix) bool { return p.Contains(a) }) {
		t.Fatalf("line %d: address %q is not in a documentation range", n, l.ip)
	}
	pull := strings.HasPrefix(l.path, "/messages/")
	if pull != (l.method == "GET") || (pull && !strings.Contains(l.path, "?count=")) {
		t.Fatalf("line %d: %s %s is neither a send nor a counted pull", n, l.method, l.path)
	}
	if l.messages > 0 && (!pull || l.status != 200) {
		t.Fatalf("line %d: %d messages on %s %s status %d", n, l.messages, l.method, l.path, l.status)
	}
}

func TestTruthRoundTrip(t *testing.T) {
	c := sample(t)
	var b bytes.Buffer
	if err := c.truth.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTruth(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seed != 42 || got.Tokens != 150 || len(got.Incidents) != len(c.truth.Incidents) {
		t.Fatalf("read back %+v", got)
	}
	for i, in := range got.Incidents {
		want := c.truth.Incidents[i]
		if !in.Start.Equal(want.Start) || !in.End.Equal(want.End) || in.Key != want.Key ||
			in.Class != want.Class || !slices.Equal(in.Related, want.Related) {
			t.Fatalf("incident %d read back as %+v, want %+v", i, in, want)
		}
	}
	// 150 tokens over five days, less the days before late tokens appear.
	if c.truth.TokenDays <= 600 || c.truth.TokenDays >= 750 {
		t.Errorf("token-days %.1f, want between 600 and 750", c.truth.TokenDays)
	}
}

func TestEveryClassOnce(t *testing.T) {
	c := sample(t)
	n := map[string]int{}
	for _, in := range c.truth.Incidents {
		n[in.Class]++
		if in.Start.Before(c.truth.Start) || in.End.After(c.truth.End) || !in.End.After(in.Start) {
			t.Errorf("%s %s window %v to %v is outside the run", in.Class, in.Key, in.Start, in.End)
		}
		if in.Attack && in.Class != ClassLowAndSlow && in.Class != ClassDormantWakeup &&
			in.Start.Before(c.truth.Start.Add(48*time.Hour)) {
			t.Errorf("%s starts at %v, before two days of baseline", in.Class, in.Start)
		}
	}
	for _, class := range []string{ClassBurstSmall, ClassBurstMedium, ClassBurstLarge, ClassLowAndSlow,
		ClassDormantWakeup, ClassNewTokenExfil, ClassIPManyTokens, ClassNewNetworkClient, ClassSurgeAll} {
		if n[class] != 1 {
			t.Errorf("%d %s incidents, want 1", n[class], class)
		}
	}
	for _, class := range []string{ClassNightlyExport, ClassOrganicGrowth, ClassNewTenant, ClassTenantMove} {
		if n[class] < 2 {
			t.Errorf("%d %s incidents, want several", n[class], class)
		}
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{
		{Tokens: -1},
		{Tokens: maxTokens + 1},
		{Duration: time.Minute},
		{Tokens: MinAttackTokens - 1, Attacks: true},
		{Tokens: 100, Duration: 3 * 24 * time.Hour, Attacks: true},
	} {
		if _, err := Generate(o, io.Discard); err == nil {
			t.Errorf("Generate(%+v) accepted the options", o)
		}
	}
}

func TestShapeAndGrowth(t *testing.T) {
	g := newGenerator(Options{Start: defaultStart, Duration: 7 * 24 * time.Hour})
	office, flat := &tenant{}, &tenant{flat: true}
	if night, noon := shape(office, 3*60), shape(office, 12*60); noon < 5*night {
		t.Errorf("office noon %.2f not well above night %.2f", noon, night)
	}
	if g.weekFactor(office, 5*minPerDay+600) >= g.weekFactor(office, 600) {
		t.Error("Saturday is not quieter than Monday")
	}
	if g.weekFactor(flat, 5*minPerDay) <= g.weekFactor(office, 5*minPerDay) {
		t.Error("a flat tenant's weekend dips as much as an office's")
	}
	// 02:00 UTC is 21:00 the day before at UTC-5: a Sunday, so quiet.
	west := &tenant{offset: -300}
	if g.localMinute(west, 120) != 21*60 || g.weekFactor(west, 120) == 1 {
		t.Errorf("local minute %d, week factor %.2f", g.localMinute(west, 120), g.weekFactor(west, 120))
	}
	k := &token{growth: 1}
	if g.growthAt(k, 0) != 1 || g.growthAt(k, g.minutes) != 2 {
		t.Errorf("growth runs from %.2f to %.2f, want 1 to 2", g.growthAt(k, 0), g.growthAt(k, g.minutes))
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	var lines int
	for b.Loop() {
		var c lineCount
		if _, err := Generate(Options{Seed: 1, Tokens: 300, Duration: 24 * time.Hour}, &c); err != nil {
			b.Fatal(err)
		}
		lines += c.n
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

type lineCount struct{ n int }

func (c *lineCount) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}
