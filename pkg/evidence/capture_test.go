package evidence

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// TestCaptureBounds offers more lines than the per-window cap and more
// windows than the budget holds: lines are redacted, the rest counted,
// the budget never exceeded, and released windows give it back.
func TestCaptureBounds(t *testing.T) {
	const tok = "tok_secret_0123456789"
	fp := ingest.Fingerprint(tok)
	c := NewCapture(CaptureOptions{MaxLines: 3, LineBytes: 64, Budget: 4096})
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	for i := range 5 {
		c.Add(0, fp, start, end, []byte(fmt.Sprintf(`{"token":"%s","i":%d}`, tok, i)), tok, fp)
	}
	lines, more, full := c.Lines(0, fp, start)
	if len(lines) != 3 || more != 2 || full {
		t.Fatalf("lines %d more %d full %v, want 3, 2, false", len(lines), more, full)
	}
	for _, l := range lines {
		if strings.Contains(l, tok) || !strings.Contains(l, fp) {
			t.Errorf("line not redacted: %s", l)
		}
	}
	long := `{"token":"` + tok + `","pad":"` + strings.Repeat("x", 500) + `"}`
	for i := range 200 {
		c.Add(1, fmt.Sprint(i), start, end, []byte(long), tok, fp)
		if c.Used() > 4096 {
			t.Fatalf("window %d: used %d, over the budget", i, c.Used())
		}
	}
	if l, _, _ := c.Lines(1, "0", start); len(l) != 1 || !strings.HasSuffix(l[0], "bytes cut]") || strings.Contains(l[0], tok) {
		t.Errorf("long line kept as %q", l)
	}
	if _, _, full := c.Lines(1, "199", start); !full {
		t.Error("a window refused for want of budget does not say so")
	}
	c.Release(end)
	if c.Used() != 0 {
		t.Errorf("after release, used %d", c.Used())
	}
}
