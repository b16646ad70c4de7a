package kafka

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// exchange shares the partitions' summaries (their population baselines)
// through a small compacted topic that every instance of the group reads
// as a table: each instance publishes the summaries of the partitions it
// owns when it saves them, and hands the latest summary of every
// partition of the fleet to its Handler. So a population baseline forms
// across instances, each of which sees only some partitions.
type exchange struct {
	conn  *Conn
	topic string
	w     *kafkago.Writer
	log   zerolog.Logger
}

// publishEvery bounds how often the fleet's summaries are handed over:
// each hand-over costs every core a threshold refresh.
const publishEvery = time.Second

func newExchange(ctx context.Context, conn *Conn, topic string, log zerolog.Logger) (*exchange, error) {
	if err := createCompacted(ctx, conn, topic); err != nil {
		return nil, err
	}
	return &exchange{conn: conn, topic: topic, log: log,
		w: &kafkago.Writer{Addr: kafkago.TCP(conn.Brokers...), Topic: topic, Transport: conn.Transport(),
			RequiredAcks: kafkago.RequireAll, BatchTimeout: 5 * time.Millisecond, Balancer: &kafkago.LeastBytes{}}}, nil
}

func (x *exchange) Close() error { return x.w.Close() }

// publish writes the summaries of states that carry one.
func (x *exchange) publish(ctx context.Context, states map[ingest.Partition]ingest.PartState) error {
	var msgs []kafkago.Message
	for p, st := range states {
		if st.Summary != nil {
			msgs = append(msgs, kafkago.Message{Key: []byte(p.String()), Value: st.Summary})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := x.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publishing population summaries to %s: %w", x.topic, err)
	}
	return nil
}

// follow reads the topic from its start for as long as ctx lasts, and
// hands the latest summary of every partition to fleet, at most once a
// second. A reader that fails is replaced after a pause; the table is
// kept, and reading resumes after the last message read.
func (x *exchange) follow(ctx context.Context, fleet func(context.Context, map[string][]byte) error) {
	latest := map[string][]byte{}
	next := kafkago.FirstOffset
	failing := false
	for wait := time.Second; ctx.Err() == nil; {
		n, err := x.read(ctx, next, latest, fleet)
		if n > next {
			next, wait = n, time.Second
			if failing {
				x.log.Info().Msg("kafka: population summaries read again")
				failing = false
			}
		}
		if ctx.Err() != nil {
			return
		}
		if !failing {
			x.log.Warn().Err(err).Msg("kafka: reading population summaries failed; new tokens are judged against the last fleet population until it is read again")
			failing = true
		}
		select {
		case <-time.After(wait):
			wait = min(2*wait, 30*time.Second)
		case <-ctx.Done():
		}
	}
}

// read reads from offset with one reader until it fails, returning the
// offset to read from next.
func (x *exchange) read(ctx context.Context, offset int64, latest map[string][]byte,
	fleet func(context.Context, map[string][]byte) error) (int64, error) {
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: x.conn.Brokers, Topic: x.topic, Partition: 0,
		Dialer: x.conn.Dialer(), MaxBytes: 1 << 20, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return offset, err
	}
	msgs := make(chan kafkago.Message, 256)
	var fetchErr error
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go fetch(fctx, r, msgs, &fetchErr)
	tick := time.NewTicker(publishEvery)
	defer tick.Stop()
	changed := false
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return offset, fetchErr
			}
			if m.Value == nil {
				delete(latest, string(m.Key))
			} else {
				latest[string(m.Key)] = m.Value
			}
			offset, changed = m.Offset+1, true
		case <-tick.C:
			if !changed {
				continue
			}
			if err := fleet(ctx, maps.Clone(latest)); err != nil {
				return offset, err
			}
			changed = false
		case <-ctx.Done():
			return offset, ctx.Err()
		}
	}
}
