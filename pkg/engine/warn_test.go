package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

func TestRejectWarnerThrottlesAndCounts(t *testing.T) {
	var buf strings.Builder
	clk := &clock{}
	w := NewRejectWarner(zerolog.New(&buf), time.Minute, clk.now)
	for range 100 {
		w.Add("gw.log", Rejects{"json": 2, "time": 1})
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines for 100 bad batches in one minute, want 1:\n%s", n, buf.String())
	}
	clk.skip(61 * time.Second)
	w.Add("gw.log", Rejects{"json": 1})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a second line after the interval, got:\n%s", buf.String())
	}
	// The second line counts everything since the first: 99 batches of
	// three, then one more.
	if !strings.Contains(lines[1], `"rejected":298`) || !strings.Contains(lines[1], `"reason_json":199`) {
		t.Fatalf("second line does not carry the counts since the first: %s", lines[1])
	}
	w.Add("gw.log", nil)
	if strings.Count(buf.String(), "\n") != 2 {
		t.Fatal("a batch without rejects logged")
	}
}

// TestFutureLinesAreRejectsLikeAnyOther: a live line dated far ahead of
// the wall clock is rejected; it must count as rejected for the warning
// (the batch's rejects), not as a line with a credential, so that
// lines_with_credential never exceeds lines_parsed.
func TestFutureLinesAreRejectsLikeAnyOther(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	c := newCore(testOptions(), func(*alert.Alert) {})
	c.wallClock = func() time.Time { return now }
	line := func(at time.Time) []byte {
		return fmt.Appendf(nil, `{"ts":%q,"token":"tok_x","ip":"192.0.2.1","method":"GET","path":"/","status":200,"bytes":1,"messages":0,"ua":"u"}`,
			at.Format(time.RFC3339))
	}
	b := ingest.Batch{Source: "gw", Lines: [][]byte{line(now.Add(-time.Second)), line(now.Add(48 * time.Hour)), []byte("not json")}}
	p, err := newParsers([]Format{canonicalSource().Format}, func(string) int { return 0 }).parse(b)
	if err != nil {
		t.Fatal(err)
	}
	c.applyParsed(p)
	src := c.stats.Sources["gw"]
	if src.Rejected[reasonFuture] != 1 || src.Rejected.Total() != 2 || src.WithCred != 1 {
		t.Errorf("source stats %+v: want 1 future, 2 rejected, 1 line with a credential", src)
	}
	if p.rejects[reasonFuture] != 1 || p.rejects.Total() != 2 {
		t.Errorf("batch rejects %v: want the future line among them", p.rejects)
	}
}
