package report

import (
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// A close-up holds the alerted entity's windows from an hour before its
// incident to after its end, the silent ones as zeros, and nothing of
// other entities or of windows outside.
func TestZoomRecordsAroundTheIncident(t *testing.T) {
	alerts := sampleAlerts()
	z := NewZoom(alerts, nil)
	at := alerts[0].WindowStart
	for m := -180; m < 180; m++ {
		if m%10 != 0 && (m < 0 || m > 5) {
			continue // mostly silent, busy around the alert
		}
		start := at.Add(time.Duration(m) * time.Minute)
		z.Observe(alert.EntityToken, "tok0", start, start.Add(time.Minute), 100, 10, 50)
		z.Observe(alert.EntityToken, "quiet", start, start.Add(time.Minute), 100, 10, 50)
	}
	pts := z.series(alert.EntityToken, "tok0")
	if len(pts) == 0 || !pts[0].Start.Equal(at.Add(-ZoomBefore)) {
		t.Fatalf("close-up starts at %v, want an hour before the incident %v", pts[0].Start, at)
	}
	for i := 1; i < len(pts); i++ {
		if !pts[i].Start.Equal(pts[i-1].End) {
			t.Fatalf("gap in the close-up between %v and %v", pts[i-1].End, pts[i].Start)
		}
	}
	if last := pts[len(pts)-1].End; last.After(at.Add(ZoomSpan)) || !last.After(at.Add(time.Minute)) {
		t.Errorf("close-up ends at %v", last)
	}
	if z.series(alert.EntityToken, "quiet") != nil {
		t.Error("an entity that did not alert has a close-up")
	}
	html := render(t, Data{Alerts: alerts, Series: fleet(5, 180, 90), Zoom: z})
	if n := strings.Count(html, `class="chart zoom"`); n != 1 {
		t.Errorf("%d close-ups in the report, want tok0's", n)
	}
}
