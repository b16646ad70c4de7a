package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentinel-project/sentinel/internal/kafkatest"
	"github.com/sentinel-project/sentinel/pkg/config"
)

func producer(t *testing.T, c *kafkatest.Cluster) *Producer {
	t.Helper()
	conn, err := NewConn(&config.Kafka{Brokers: c.Addrs(), ClientID: "produce-test"})
	if err != nil {
		t.Fatal(err)
	}
	p := NewProducer(conn)
	t.Cleanup(func() { p.Close() })
	return p
}

// TestProduceIsAcknowledged produces keyed messages and reads them with
// kcat as soon as Produce returns: all are there, each in the partition
// the Java client's partitioner (as franz-go implements it) picks.
func TestProduceIsAcknowledged(t *testing.T) {
	const topic, partitions = "t", 4
	c := kafkatest.Start(t, kafkatest.Topic(topic, partitions))
	var msgs []Message
	for i := range 200 {
		msgs = append(msgs, Message{Topic: topic, Key: fmt.Appendf(nil, "key-%d", i%17), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if failed, err := producer(t, c).Produce(context.Background(), msgs); err != nil || failed != nil {
		t.Fatalf("Produce: %v (%d not acknowledged)", err, len(failed))
	}
	got := kafkatest.Consume(t, c.Addrs(), topic)
	if len(got) != len(msgs) {
		t.Fatalf("%d messages in the topic right after Produce returned, want %d", len(got), len(msgs))
	}
	hash := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	for _, kv := range got {
		if want := hash.Partition(&kgo.Record{Key: []byte(kv.Key)}, partitions); kv.Partition != want {
			t.Errorf("key %q in partition %d, want %d", kv.Key, kv.Partition, want)
		}
	}
}

// TestProduceReturnsWhatFailed produces to a topic that does not exist:
// the error says what was being done, and every message comes back for
// a retry.
func TestProduceReturnsWhatFailed(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	msgs := []Message{{Topic: "missing", Key: []byte("k"), Value: []byte("v")}, {Topic: "missing", Value: []byte("w")}}
	failed, err := producer(t, c).Produce(context.Background(), msgs)
	if err == nil || !strings.Contains(err.Error(), "producing 2 messages to "+c.Addrs()[0]) {
		t.Fatalf("error %v, want one naming the write", err)
	}
	if len(failed) != len(msgs) {
		t.Fatalf("%d messages returned for retry, want %d", len(failed), len(msgs))
	}
}
