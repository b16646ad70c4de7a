package alert

import (
	"encoding/json"
	"io"
	"testing"
)

func BenchmarkSummarize(b *testing.B) {
	a := sampleAlert()
	b.ReportAllocs()
	for b.Loop() {
		_ = Summarize(a)
	}
}

func BenchmarkSlackMessage(b *testing.B) {
	a := sampleAlert()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(slackMessage(a)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatcherSend measures what the detection path pays per alert:
// the copy and the enqueue, with a sink that keeps up.
func BenchmarkDispatcherSend(b *testing.B) {
	d := NewDispatcher([]SinkSpec{{Sink: NewWriterSink("discard", io.Discard)}},
		DispatchOptions{Horizon: -1, QueueLen: 1 << 16})
	a := sampleAlert()
	b.ReportAllocs()
	for b.Loop() {
		d.Send(a)
	}
	b.StopTimer()
	if err := d.Close(b.Context()); err != nil {
		b.Fatal(err)
	}
}
