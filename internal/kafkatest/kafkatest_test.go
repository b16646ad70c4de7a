package kafkatest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/internal/testwait"
)

const within = 15 * time.Second

// kcat writes, one kafka-go group member reads every record exactly once
// and commits up to the end of each partition; on one broker and on three,
// where partition leaders and the coordinator are on different ports.
func TestKcatToConsumerGroup(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("brokers=%d", n), func(t *testing.T) { kcatToConsumerGroup(t, n) })
	}
}

func kcatToConsumerGroup(t *testing.T, brokers int) {
	c := Start(t, Topic("events", 4), Brokers(brokers))
	if got := len(c.Addrs()); got != brokers {
		t.Fatalf("%d addresses, want %d", got, brokers)
	}
	recs := keyed("v", 0, 1000, 37)
	c.Produce(t, "events", recs)

	l := newLedger()
	m := startMember(t, c, "one", "g1", "events", l)
	testwait.For(t, within, "1000 records consumed", func() bool { return l.distinct() == 1000 })
	if d := l.dups(); len(d) > 0 {
		t.Fatalf("records processed twice: %v", d)
	}
	if g, _ := m.last(); len(g.parts) != 4 {
		t.Fatalf("single member assigned %v, want all 4 partitions", g.parts)
	}
	want := endOffsets(c.Consume(t, "events"))
	if got := committed(t, c, "g1", "events", 4); !maps.Equal(got, want) {
		t.Fatalf("committed %v, want the end offsets %v", got, want)
	}
	if errs := m.errors(); len(errs) > 0 {
		t.Fatalf("member errors: %v", errs)
	}
}

// Two members split the partitions; when one leaves, the other takes all
// of them over in the next generation from the committed offsets.
func TestConsumerGroupSplitAndTakeOver(t *testing.T) {
	c := Start(t, Topic("events", 4))
	l := newLedger()
	a := startMember(t, c, "a", "g2", "events", l)
	b := startMember(t, c, "b", "g2", "events", l)

	t0 := time.Now()
	testwait.For(t, within, "a and b sharing one generation", func() bool {
		ga, oka := a.last()
		gb, okb := b.last()
		return oka && okb && ga.id == gb.id && len(ga.parts) > 0 && len(gb.parts) > 0
	})
	ga, _ := a.last()
	gb, _ := b.last()
	t.Logf("two members stable after %v: generation %d, a %v, b %v", time.Since(t0), ga.id, ga.parts, gb.parts)
	all := slices.Sorted(slices.Values(append(slices.Clone(ga.parts), gb.parts...)))
	if !slices.Equal(all, []int{0, 1, 2, 3}) {
		t.Fatalf("a %v and b %v do not split partitions 0-3", ga.parts, gb.parts)
	}

	c.Produce(t, "events", keyed("v", 0, 500, 37))
	testwait.For(t, within, "500 records consumed by a and b", func() bool { return l.distinct() == 500 })
	t.Logf("500 consumed at %v", time.Since(t0))

	t1 := time.Now()
	b.close()
	t.Logf("b closed in %v", time.Since(t1))
	testwait.For(t, within, "a taking over all partitions", func() bool {
		g, _ := a.last()
		return len(g.parts) == 4
	})
	g, _ := a.last()
	t.Logf("a took over %v in generation %d, %v after b closed", g.parts, g.id, g.at.Sub(t1))
	ends := endOffsets(c.Consume(t, "events"))
	for _, p := range gb.parts {
		if g.offsets[p] != ends[p] {
			t.Errorf("a starts b's partition %d at %d, want b's committed %d", p, g.offsets[p], ends[p])
		}
	}

	c.Produce(t, "events", keyed("v", 500, 500, 37))
	testwait.For(t, within, "1000 records consumed", func() bool { return l.distinct() == 1000 })
	t.Logf("1000 consumed at %v", time.Since(t0))
	if d := l.dups(); len(d) > 0 {
		t.Fatalf("records processed twice: %v", d)
	}
	if errs := a.errors(); len(errs) > 0 {
		t.Logf("member a errors (generation ends): %v", errs)
	}
}

// A kafka-go Writer with acks=all and the hash balancer; kcat reads the
// topic back: every record there, each key in one partition.
func TestWriterToKcat(t *testing.T) {
	c := Start(t, Topic("out", 6), Brokers(3))
	w := &kafka.Writer{
		Addr:         kafka.TCP(c.Addrs()...),
		Topic:        "out",
		RequiredAcks: kafka.RequireAll,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 5 * time.Millisecond,
		Transport:    c.Transport(t),
	}
	defer w.Close()
	var msgs []kafka.Message
	for i := range 300 {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "k%d", i%25), Value: fmt.Appendf(nil, "v%d", i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	got := c.Consume(t, "out")
	if len(got) != 300 {
		t.Fatalf("kcat read %d records, want 300", len(got))
	}
	partOf := map[string]int{}
	values := map[string]bool{}
	for _, r := range got {
		if p, ok := partOf[r.Key]; ok && p != r.Partition {
			t.Fatalf("key %q in partitions %d and %d", r.Key, p, r.Partition)
		}
		partOf[r.Key] = r.Partition
		values[r.Value] = true
	}
	if len(values) != 300 || len(partOf) != 25 {
		t.Fatalf("kcat read %d distinct values and %d keys, want 300 and 25", len(values), len(partOf))
	}
	if used := len(slices.Compact(slices.Sorted(maps.Values(partOf)))); used < 2 {
		t.Fatalf("25 keys hashed into %d partition(s)", used)
	}
}
