package nab

import (
	"strings"
	"testing"
)

// TestWriteTable checks that thresholds print short yet distinct from 1,
// and that each threshold column names its profile.
func TestWriteTable(t *testing.T) {
	var b strings.Builder
	err := WriteTable(&b, []Evaluation{{Detector: "d", Results: []Result{
		{Normalized: 40.06, Threshold: 0.9999999999997738},
		{Normalized: 23.9, Threshold: 0.5},
		{Normalized: 47.7, Threshold: 1},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"standard thr", "reward_low_FP_rate thr", "reward_low_FN_rate thr", "40.1", "1-2.26e-13", "0.5", " 1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "0.9999999999997738") || strings.Contains(out, "\tthreshold") || strings.Contains(out, " threshold ") {
		t.Errorf("the table prints a threshold at full precision or an unnamed threshold column:\n%s", out)
	}
	for _, c := range []struct {
		v    float64
		want string
	}{{0.9999999999997738, "1-2.26e-13"}, {1 - 1e-12, "1-1e-12"}, {0.9999, "0.9999"}, {0.123456789, "0.123457"}, {1, "1"}} {
		if got := FormatThreshold(c.v); got != c.want {
			t.Errorf("FormatThreshold(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}
