package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Message is one record to produce.
type Message struct {
	Topic string
	// Key chooses the partition; nil keys all go to one partition.
	Key   []byte
	Value []byte
}

// Producer writes messages synchronously: Produce returns once the
// brokers have acknowledged every message, or says which were not.
type Producer struct {
	w         *kafkago.Writer
	transport *kafkago.Transport
	brokers   string
}

// Writer tuning. A synchronous caller hands over all it has in one call,
// so waiting for more to fill a batch only delays the acknowledgement:
// the batch timeout is as short as kafka-go allows to be useful.
// kafka-go retries a failed write itself a few times; the caller retries
// beyond that, with its own backoff and logging.
const (
	produceBatchSize    = 1000
	produceBatchTimeout = time.Millisecond
	produceAttempts     = 3
	produceTimeout      = 10 * time.Second
)

// NewProducer returns a producer to the cluster c describes. Every
// message names its topic.
func NewProducer(c *Conn) *Producer {
	t := c.Transport()
	w := &kafkago.Writer{
		Addr: kafkago.TCP(c.Brokers...),
		// The hash of the Java client's default partitioner (murmur2 of
		// the key, positive, modulo the number of partitions, all of
		// them whether available or not), so that gateways producing the
		// same keys with Java, librdkafka in its murmur2_random mode, or
		// franz-go put a token's requests in the same partition as the
		// shipper does, and one consumer sees all of them. Consistent
		// hashes nil keys as well, instead of spreading them at random.
		Balancer: &kafkago.Murmur2Balancer{Consistent: true},
		// A message acknowledged by the leader alone is lost if the
		// leader dies before its followers copy it; the shipper moves
		// its file positions past acknowledged lines only.
		RequiredAcks: kafkago.RequireAll,
		Transport:    t,
		BatchSize:    produceBatchSize,
		BatchTimeout: produceBatchTimeout,
		MaxAttempts:  produceAttempts,
		WriteTimeout: produceTimeout,
		ReadTimeout:  produceTimeout,
	}
	return &Producer{w: w, transport: t, brokers: strings.Join(c.Brokers, ",")}
}

// Produce writes msgs and returns nil once every one is acknowledged by
// all in-sync replicas. Otherwise it returns the messages that were not
// acknowledged, in order, for the caller to retry, with the error. When
// ctx ends first, the messages still being written count as not
// acknowledged, though the brokers may yet receive them: retrying them
// may produce them twice, never lose them.
func (p *Producer) Produce(ctx context.Context, msgs []Message) ([]Message, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	kms := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		kms[i] = kafkago.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
	}
	err := p.w.WriteMessages(ctx, kms...)
	if err == nil {
		return nil, nil
	}
	// kafka-go's transport keeps a failed metadata lookup (a broker
	// refusing connections, say) and answers every write with it until
	// its next refresh, at a random time within MetadataTTL, 6s by
	// default: a broker back up would wait that long for its lines.
	// Dropping the connection pools makes the next attempt look afresh.
	p.transport.CloseIdleConnections()
	var werrs kafkago.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		return msgs, fmt.Errorf("producing %d messages to %s: %w", len(msgs), p.brokers, err)
	}
	var failed []Message
	var first error
	for i, e := range werrs {
		if e == nil {
			continue
		}
		if first == nil {
			first = e
		}
		failed = append(failed, msgs[i])
	}
	// kafka-go's own message lists every error, one per message.
	return failed, fmt.Errorf("producing %d messages to %s: %d not acknowledged: %w",
		len(msgs), p.brokers, len(failed), first)
}

// Close waits for writes in flight and closes the connections.
func (p *Producer) Close() error {
	err := p.w.Close()
	p.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("closing the producer to %s: %w", p.brokers, err)
	}
	return nil
}
