package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestRejectWarnerThrottlesAndCounts(t *testing.T) {
	var buf strings.Builder
	clk := &clock{}
	w := newRejectWarner(zerolog.New(&buf), time.Minute, clk.now)
	for range 100 {
		w.add("gw.log", Rejects{"json": 2, "time": 1})
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines for 100 bad batches in one minute, want 1:\n%s", n, buf.String())
	}
	clk.skip(61 * time.Second)
	w.add("gw.log", Rejects{"json": 1})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a second line after the interval, got:\n%s", buf.String())
	}
	// The second line counts everything since the first: 99 batches of
	// three, then one more.
	if !strings.Contains(lines[1], `"rejected":298`) || !strings.Contains(lines[1], `"reason_json":199`) {
		t.Fatalf("second line does not carry the counts since the first: %s", lines[1])
	}
	w.add("gw.log", nil)
	if strings.Count(buf.String(), "\n") != 2 {
		t.Fatal("a batch without rejects logged")
	}
}
