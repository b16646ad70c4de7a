package kafkatest

import (
	"context"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/internal/testwait"
)

// partitionReader reads one partition with a kafka-go Reader until the
// test ends, counting records. A Reader gives up after MaxAttempts (3) to
// reach a broker that is down and ReadMessage returns the dial error; it
// is retried here, as the Kafka source must.
func partitionReader(t *testing.T, c *Cluster, topic string, partition int) (n, errs *atomic.Int64) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.Addrs(), Dialer: c.Dialer(t), Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	n, errs = new(atomic.Int64), new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := r.ReadMessage(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				errs.Add(1)
				continue
			}
			n.Add(1)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; r.Close() })
	return n, errs
}

// With Persist, records and committed offsets survive Restart, and
// kafka-go clients running through it reconnect and go on.
func TestRestartKeepsDataAndOffsets(t *testing.T) {
	c := Start(t, Topic("r", 2), Persist())
	addrs := c.Addrs()
	c.Produce(t, "r", keyed("v", 0, 100, 7))
	before := c.Consume(t, "r")
	ends := endOffsets(before)

	l := newLedger()
	m := startMember(t, c, "m", "rg", "r", l)
	p0, p0errs := partitionReader(t, c, "r", 0)
	testwait.For(t, within, "100 records through the group", func() bool { return l.distinct() == 100 })
	testwait.For(t, within, "partition 0 read", func() bool { return p0.Load() == ends[0] })
	g0, _ := m.last()

	t0 := time.Now()
	c.Restart(t)
	t.Logf("restart took %v", time.Since(t0))
	if got := c.Addrs(); !slicesEqual(got, addrs) {
		t.Fatalf("addresses changed across restart: %v -> %v", addrs, got)
	}
	if after := c.Consume(t, "r"); len(after) != len(before) {
		t.Fatalf("kcat reads %d records after restart, %d before", len(after), len(before))
	}
	if got := committed(t, c, "rg", "r", 2); !maps.Equal(got, ends) {
		t.Fatalf("committed offsets after restart %v, want %v", got, ends)
	}

	// New records after the restart: both clients that ran through it
	// must pick them up.
	t1 := time.Now()
	c.Produce(t, "r", keyed("v", 100, 100, 7))
	ends = endOffsets(c.Consume(t, "r"))
	testwait.For(t, within, "200 records through the group", func() bool { return l.distinct() == 200 })
	t.Logf("group member resumed %v after the post-restart produce; generations %v -> %v",
		time.Since(t1), g0.id, lastID(m))
	testwait.For(t, within, "partition reader resuming", func() bool { return p0.Load() == ends[0] })
	t.Logf("partition reader resumed %v after the post-restart produce", time.Since(t1))
	if d := l.dups(); len(d) > 0 {
		t.Fatalf("records processed twice: %v", d)
	}
	t.Logf("member errors across restart: %v", m.errors())

	// A longer outage: down until the reader has given up on a fetch
	// (ReadMessage returns the dial error after MaxAttempts, about 2 s)
	// and the member's generation has ended with an error.
	e0 := p0errs.Load()
	c.Stop(t)
	t2 := time.Now()
	testwait.For(t, within, "the partition reader reporting the outage", func() bool { return p0errs.Load() > e0 })
	testwait.For(t, within, "the member reporting the outage", func() bool { return len(m.errors()) > 0 })
	t.Logf("outage reported by the reader after %v: member errors %d", time.Since(t2), len(m.errors()))
	c.Resume(t)
	t3 := time.Now()
	c.Produce(t, "r", keyed("v", 200, 100, 7))
	ends = endOffsets(c.Consume(t, "r"))
	testwait.For(t, within, "300 records through the group", func() bool { return l.distinct() == 300 })
	testwait.For(t, within, "partition reader resuming", func() bool { return p0.Load() == ends[0] })
	t.Logf("both resumed %v after Resume", time.Since(t3))
	if d := l.dups(); len(d) > 0 {
		t.Fatalf("records processed twice: %v", d)
	}
}

// DropConnections cuts every client; once restored, a group member and
// a partition reader carry on without losing or repeating records.
func TestDropConnections(t *testing.T) {
	c := Start(t, Topic("d", 2))
	c.Produce(t, "d", keyed("v", 0, 50, 5))
	l := newLedger()
	m := startMember(t, c, "m", "dg", "d", l)
	p0, _ := partitionReader(t, c, "d", 0)
	testwait.For(t, within, "50 records through the group", func() bool { return l.distinct() == 50 })
	g0, _ := m.last()

	restore := c.DropConnections()
	// Fetches (every 100 ms) hit the cut first; wait for the group's
	// heartbeat to hit it too, which ends the generation.
	testwait.For(t, within, "the group member hitting the cut", func() bool { return len(m.errors()) > 0 })
	restore()
	t0 := time.Now()
	c.Produce(t, "d", keyed("v", 50, 50, 5))
	ends := endOffsets(c.Consume(t, "d"))
	testwait.For(t, within, "100 records through the group", func() bool { return l.distinct() == 100 })
	testwait.For(t, within, "partition reader resuming", func() bool { return p0.Load() == ends[0] })
	t.Logf("resumed %v after restore, %d connections dropped; generation %d -> %d; member errors %v",
		time.Since(t0), c.Dropped(), g0.id, lastID(m), m.errors())
	if d := l.dups(); len(d) > 0 {
		t.Fatalf("records processed twice: %v", d)
	}
}

func lastID(m *member) int32 {
	g, _ := m.last()
	return g.id
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
