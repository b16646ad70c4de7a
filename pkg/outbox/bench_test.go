package outbox

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// discard is a push sink that takes every alert at once.
type discard struct{}

func (discard) Name() string                             { return "discard" }
func (discard) Send(context.Context, *alert.Alert) error { return nil }

// BenchmarkRaise measures what raising one alert costs the engine's
// goroutine, which calls SendTracked: with the outbox it waits for the
// alert to be on disk, without it only for a queue.
func BenchmarkRaise(b *testing.B) {
	for _, tc := range []struct {
		name   string
		outbox bool
	}{{"memory", false}, {"outbox", true}} {
		b.Run(tc.name, func(b *testing.B) {
			opts := alert.DispatchOptions{Horizon: -1, QueueLen: b.N + 1}
			if tc.outbox {
				s, err := Open(filepath.Join(b.TempDir(), FileName), 0)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				opts.Outbox = s
			}
			d := alert.NewDispatcher([]alert.SinkSpec{{Sink: discard{}, Push: true}}, opts)
			defer d.Close(context.Background())
			alerts := make([]*alert.Alert, b.N)
			for i := range alerts {
				alerts[i] = testAlert(i)
			}
			b.ResetTimer()
			for i := range b.N {
				d.SendTracked(alerts[i], nil)
			}
		})
	}
}
