package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// ledger records which values the group members processed, counting a
// record only once its offset is committed, so that a record read again
// after a failed commit is not mistaken for a duplicate delivery.
type ledger struct {
	mu sync.Mutex
	n  map[string]int
}

func newLedger() *ledger { return &ledger{n: map[string]int{}} }

func (l *ledger) add(v string) {
	l.mu.Lock()
	l.n[v]++
	l.mu.Unlock()
}

func (l *ledger) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.n)
}

// dups returns the values processed more than once.
func (l *ledger) dups() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d []string
	for v, n := range l.n {
		if n > 1 {
			d = append(d, v)
		}
	}
	return d
}

type genInfo struct {
	id      int32
	parts   []int
	offsets map[int]int64
	at      time.Time
}

// member is a consumer group member built the way sentinel's source will
// be: kafka-go's low-level ConsumerGroup, a partition Reader per assigned
// partition started at the generation's offset, a commit per record.
type member struct {
	t     testing.TB
	name  string
	c     *Cluster
	topic string
	cg    *kafka.ConsumerGroup
	l     *ledger
	done  chan struct{}

	mu   sync.Mutex
	gens []genInfo
	errs []error
}

func startMember(t testing.TB, c *Cluster, name, group, topic string, l *ledger) *member {
	t.Helper()
	cg, err := kafka.NewConsumerGroup(c.FastGroup(t, group, topic))
	if err != nil {
		t.Fatalf("NewConsumerGroup: %v", err)
	}
	m := &member{t: t, name: name, c: c, topic: topic, cg: cg, l: l, done: make(chan struct{})}
	go m.run()
	t.Cleanup(m.close)
	return m
}

func (m *member) close() {
	_ = m.cg.Close()
	<-m.done
}

func (m *member) run() {
	defer close(m.done)
	for {
		gen, err := m.cg.Next(context.Background())
		if errors.Is(err, kafka.ErrGroupClosed) {
			return
		}
		if err != nil {
			m.mu.Lock()
			m.errs = append(m.errs, err)
			m.mu.Unlock()
			continue
		}
		gi := genInfo{id: gen.ID, offsets: map[int]int64{}, at: time.Now()}
		for _, a := range gen.Assignments[m.topic] {
			gi.parts = append(gi.parts, a.ID)
			gi.offsets[a.ID] = a.Offset
			gen.Start(func(ctx context.Context) { m.consume(ctx, gen, a) })
		}
		slices.Sort(gi.parts)
		m.mu.Lock()
		m.gens = append(m.gens, gi)
		m.mu.Unlock()
	}
}

func (m *member) consume(ctx context.Context, gen *kafka.Generation, a kafka.PartitionAssignment) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   m.c.Addrs(),
		Dialer:    m.c.Dialer(m.t),
		Topic:     m.topic,
		Partition: a.ID,
		MinBytes:  1,
		MaxBytes:  1 << 20,
		MaxWait:   100 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		m.fail(fmt.Errorf("partition %d: SetOffset(%d): %w", a.ID, a.Offset, err))
		return
	}
	// Commit what was read once the partition goes quiet for a moment or
	// 100 records wait, rather than per record: a commit per record is a
	// coordinator round trip each and made 500 records take seconds.
	var pending []string
	next := a.Offset
	commit := func() bool {
		if len(pending) == 0 {
			return true
		}
		if err := gen.CommitOffsets(map[string]map[int]int64{m.topic: {a.ID: next}}); err != nil {
			m.fail(fmt.Errorf("partition %d: commit %d: %w", a.ID, next, err))
			return false
		}
		for _, v := range pending {
			m.l.add(v)
		}
		pending = pending[:0]
		return true
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		msg, err := r.ReadMessage(rctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			if !commit() {
				return
			}
			continue
		case err != nil:
			m.fail(fmt.Errorf("partition %d: read: %w", a.ID, err))
			return
		}
		pending = append(pending, string(msg.Value))
		next = msg.Offset + 1
		if len(pending) >= 100 && !commit() {
			return
		}
	}
}

func (m *member) fail(err error) {
	m.mu.Lock()
	m.errs = append(m.errs, err)
	m.mu.Unlock()
}

// last returns the member's latest generation, ok false before the first.
func (m *member) last() (genInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.gens) == 0 {
		return genInfo{}, false
	}
	return m.gens[len(m.gens)-1], true
}

func (m *member) errors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.errs)
}

// committed fetches the group's committed offsets for topic's partitions
// through kafka-go's Client, -1 where none is committed.
func committed(t testing.TB, c *Cluster, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(c.Addrs()...), Transport: c.Transport(t)}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	if resp.Error != nil {
		t.Fatalf("OffsetFetch: %v", resp.Error)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("OffsetFetch partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// endOffsets counts kcat's view of the topic per partition: the offset
// after the last record.
func endOffsets(recs []KV) map[int]int64 {
	out := map[int]int64{}
	for _, r := range recs {
		out[r.Partition] = max(out[r.Partition], r.Offset+1)
	}
	return out
}

func keyed(prefix string, from, n, keys int) []KV {
	recs := make([]KV, n)
	for i := range recs {
		recs[i] = KV{Key: fmt.Sprintf("key-%d", (from+i)%keys), Value: fmt.Sprintf("%s-%d", prefix, from+i)}
	}
	return recs
}
