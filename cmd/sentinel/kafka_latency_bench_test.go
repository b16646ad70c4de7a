package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/internal/kafkatest"
)

// BenchmarkKafkaLineToAlert times a live line's way through Kafka: from
// the moment a producer sends a token's bulk download, until the alert is
// written to the alert file by a running sentinel, which had learnt the
// token's usual ten messages a minute.
//
//	go test -run X -bench KafkaLineToAlert -benchtime 10x -count 3 ./cmd/sentinel/
func BenchmarkKafkaLineToAlert(b *testing.B) {
	const tokens = 20
	if b.N > tokens {
		b.Skipf("at most %d iterations (one learnt token each): use -benchtime %dx or fewer", tokens, tokens)
	}
	kc := kafkatest.Start(b, kafkatest.Topic("requests", 4))
	brokers := strings.Join(kc.Addrs(), ",")
	start := time.Now().Add(-125 * time.Minute)
	var learn []trafficLine
	for i := range tokens {
		learn = append(learn, steadyLines(latencyToken(i), fmt.Sprintf("198.51.100.%d", i+1), start, 124)...)
	}
	slices.SortStableFunc(learn, func(a, b trafficLine) int { return a.at.Compare(b.at) })
	w := &kafkago.Writer{Addr: kafkago.TCP(kc.Addrs()...), Topic: "requests", Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	send := func(lines ...trafficLine) {
		msgs := make([]kafkago.Message, len(lines))
		for i, l := range lines {
			msgs[i] = kafkago.Message{Key: []byte(tokenOf(l.text)), Value: []byte(strings.TrimSuffix(l.text, "\n"))}
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
	}
	send(learn...)

	dir := b.TempDir()
	cfg, alerts := kafkaConfigWith(b, dir, brokers, "latency", true)
	d := startDaemon(b, dir, nil, "run", "--config", cfg)
	addr := d.waitLog(b, "admin listener: /metrics, /healthz, /readyz")["addr"].(string)
	eventually(b, 60*time.Second, "the learning read", func() bool { return linesRead(b, addr) == float64(len(learn)) })
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		tok := latencyToken(i)
		sent := time.Now()
		send(requestLine(tok, fmt.Sprintf("198.51.100.%d", i+1), sent, 5000))
		for !fileHas(alerts, fingerprintOf(tok)) {
			time.Sleep(time.Millisecond)
			if time.Since(sent) > 30*time.Second {
				b.Fatalf("no alert for token %d within 30s", i)
			}
		}
		total += time.Since(sent)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-alert")
	d.cmd.Process.Signal(os.Interrupt)
	d.cmd.Wait()
}

func latencyToken(i int) string { return fmt.Sprintf("tok_live_latencyTOKEN%04d", i) }
