package kafka

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// counter is a Handler that only counts the lines handed over: what is
// left is the consumer's own cost.
type counter struct{ n atomic.Int64 }

func (c *counter) Assigned(_ context.Context, states map[ingest.Partition]*ingest.PartState) (map[ingest.Partition]int64, error) {
	starts := map[ingest.Partition]int64{}
	for p := range states {
		starts[p] = -1
	}
	return starts, nil
}

func (c *counter) Apply(_ context.Context, b ingest.PartBatch) error {
	c.n.Add(int64(len(b.Lines)))
	return nil
}

func (c *counter) Snapshot(context.Context, []ingest.Partition) (map[ingest.Partition]ingest.PartState, error) {
	return nil, nil
}
func (c *counter) Revoked(context.Context, []ingest.Partition) error { return nil }
func (c *counter) Urgent() <-chan struct{}                           { return nil }
func (c *counter) Fleet(context.Context, map[string][]byte) error    { return nil }

// BenchmarkConsumerVsKcat times a Consumer with a Handler that only
// counts, reading 400,000 lines of 210 bytes over four partitions as a
// new group, next to kcat -C reading the same topic in the same
// iteration (skipped without kcat). Compare the ratio: the machine may
// be noisy.
//
//	go test -run X -bench ConsumerVsKcat -benchtime 3x -count 3 ./pkg/kafka/
func BenchmarkConsumerVsKcat(b *testing.B) {
	const total = 400_000
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "requests"), kfake.ListenFn(loopback))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kf.Close)
	addrs := kf.ListenAddrs()
	w := &kafkago.Writer{Addr: kafkago.TCP(addrs...), Topic: "requests", Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchSize: 10000, BatchBytes: 768 << 10, BatchTimeout: 5 * time.Millisecond}
	msgs := make([]kafkago.Message, total)
	pad := strings.Repeat("x", 180)
	for i := range msgs {
		msgs[i] = kafkago.Message{Key: fmt.Appendf(nil, "tok%d", i%300), Value: fmt.Appendf(nil, `{"n":%09d,"pad":"%s"}`, i, pad)}
	}
	for chunk := range slices.Chunk(msgs, 50000) {
		if err := w.WriteMessages(context.Background(), chunk...); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	_, kcatErr := exec.LookPath("kcat")
	var ours, theirs, ratio []float64
	i := 0
	for b.Loop() {
		i++
		h := &counter{}
		opts := fastGroup(addrs, fmt.Sprintf("bench-%d", i))
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		c, err := NewConsumer(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, h) }()
		for h.n.Load() < total {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("%d of %d lines in 2 minutes", h.n.Load(), total)
			}
			time.Sleep(time.Millisecond)
		}
		d := time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		ours = append(ours, total/d.Seconds())
		if kcatErr != nil {
			continue
		}
		var out newlines
		kcat := exec.Command("kcat", "-C", "-b", strings.Join(addrs, ","), "-t", "requests", "-o", "beginning", "-e", "-q")
		kcat.Stdout = &out
		ks := time.Now()
		if err := kcat.Run(); err != nil {
			b.Fatalf("kcat: %v", err)
		}
		kd := time.Since(ks)
		if n := out.n; n != total {
			b.Fatalf("kcat printed %d lines, want %d", n, total)
		}
		theirs, ratio = append(theirs, total/kd.Seconds()), append(ratio, kd.Seconds()/d.Seconds())
		b.Logf("consumer %v, kcat %v", d.Round(time.Millisecond), kd.Round(time.Millisecond))
	}
	b.ReportMetric(medianOf(ours), "consumer-lines/s")
	if len(theirs) > 0 {
		b.ReportMetric(medianOf(theirs), "kcat-lines/s")
		b.ReportMetric(medianOf(ratio), "consumer/kcat")
	}
}

func medianOf(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// newlines counts the newlines written to it, keeping nothing.
type newlines struct{ n int }

func (c *newlines) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}
