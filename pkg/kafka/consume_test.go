package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sentinel-project/sentinel/internal/kafkatest"
	"github.com/sentinel-project/sentinel/internal/testwait"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// recorder is a Handler that keeps every line per partition; its state
// is the count of lines applied, so a restore can be checked.
type recorder struct {
	mu       sync.Mutex
	lines    map[ingest.Partition][]string
	next     map[ingest.Partition]int64
	restored map[ingest.Partition]*ingest.PartState
	fleet    map[string][]byte
	assigned []ingest.Partition
	name     string
	hold     chan struct{} // when set, Snapshot waits for it to close
	urgent   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{lines: map[ingest.Partition][]string{}, next: map[ingest.Partition]int64{},
		restored: map[ingest.Partition]*ingest.PartState{}, urgent: make(chan struct{})}
}

func (r *recorder) Assigned(_ context.Context, states map[ingest.Partition]*ingest.PartState) (map[ingest.Partition]int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	starts := map[ingest.Partition]int64{}
	r.assigned = nil
	for p, st := range states {
		r.assigned = append(r.assigned, p)
		starts[p] = -1
		if st != nil {
			r.restored[p] = st
			starts[p] = st.Offset
		}
	}
	return starts, nil
}

func (r *recorder) Apply(_ context.Context, b ingest.PartBatch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range b.Lines {
		r.lines[b.Partition] = append(r.lines[b.Partition], string(l))
	}
	r.next[b.Partition] = b.Next
	return nil
}

func (r *recorder) Snapshot(_ context.Context, parts []ingest.Partition) (map[ingest.Partition]ingest.PartState, error) {
	r.mu.Lock()
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[ingest.Partition]ingest.PartState{}
	for _, p := range parts {
		if n, ok := r.next[p]; ok {
			out[p] = ingest.PartState{Offset: n, Data: []byte(strconv.Itoa(len(r.lines[p])) + r.name),
				Summary: []byte("summary of " + p.String() + " by " + r.name)}
		}
	}
	return out, nil
}

func (r *recorder) Revoked(context.Context, []ingest.Partition) error { return nil }
func (r *recorder) Urgent() <-chan struct{}                           { return r.urgent }

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ls := range r.lines {
		n += len(ls)
	}
	return n
}

func startCluster(t *testing.T, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...),
		kfake.ListenFn(loopback))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func produce(t *testing.T, addrs []string, topic string, from, n int) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(addrs...), Topic: topic, Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafkago.Message, n)
	for i := range msgs {
		msgs[i] = kafkago.Message{Key: []byte(fmt.Sprintf("k%d", (from+i)%37)), Value: []byte(fmt.Sprintf("line %d", from+i))}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func fastGroup(addrs []string, group string) ConsumerOptions {
	return ConsumerOptions{
		Conn: &Conn{Brokers: addrs, ClientID: "test"}, Group: group, Topics: []string{"requests"},
		StateTopic: group + ".state", SaveEvery: time.Hour, StallAfter: 2 * time.Second,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		RebalanceTimeout: 5 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
	}
}

// consume runs a consumer until stop is called, which waits for it to
// return.
func consume(t *testing.T, opts ConsumerOptions, h Handler) (stop func()) {
	t.Helper()
	_, stop = startConsumer(t, opts, h)
	return stop
}

// startConsumer is consume, giving the consumer too, for its counts.
func startConsumer(t *testing.T, opts ConsumerOptions, h Handler) (*Consumer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := NewConsumer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	return c, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}
}

func TestConsumerAppliesEveryLineOnceAndResumesFromSavedState(t *testing.T) {
	c := startCluster(t, 4, "requests")
	addrs := c.ListenAddrs()
	produce(t, addrs, "requests", 0, 400)

	first := newRecorder()
	stop := consume(t, fastGroup(addrs, "g"), first)
	testwait.For(t, 20*time.Second, "400 lines applied", func() bool { return first.total() == 400 })
	stop()
	if len(first.lines) != 4 {
		t.Errorf("lines came from %d partitions, want 4", len(first.lines))
	}

	produce(t, addrs, "requests", 400, 100)
	second := newRecorder()
	stop = consume(t, fastGroup(addrs, "g"), second)
	testwait.For(t, 20*time.Second, "the 100 new lines applied", func() bool { return second.total() == 100 })
	stop()
	seen := map[string]bool{}
	for _, r := range []*recorder{first, second} {
		for _, ls := range r.lines {
			for _, l := range ls {
				if seen[l] {
					t.Errorf("%q applied twice", l)
				}
				seen[l] = true
			}
		}
	}
	if len(second.restored) != 4 {
		t.Fatalf("restored %d partition states, want 4", len(second.restored))
	}
	for p, st := range second.restored {
		if want := strconv.Itoa(len(first.lines[p])); string(st.Data) != want || st.Offset != first.next[p] {
			t.Errorf("%s restored %q at offset %d, want %q at %d", p, st.Data, st.Offset, want, first.next[p])
		}
	}
	assertCommitted(t, addrs, "g", maps.Clone(second.next))
}

// assertCommitted checks the group's committed offsets, read by kafka-go's
// admin client, against want.
func assertCommitted(t *testing.T, addrs []string, group string, want map[ingest.Partition]int64) {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(addrs...)}
	req := &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{}}
	for p := range want {
		req.Topics[p.Topic] = append(req.Topics[p.Topic], p.ID)
	}
	resp, err := cl.OffsetFetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for topic, ps := range resp.Topics {
		for _, po := range ps {
			p := ingest.Partition{Topic: topic, ID: po.Partition}
			if po.CommittedOffset != want[p] {
				t.Errorf("%s: committed %d, want %d", p, po.CommittedOffset, want[p])
			}
		}
	}
}

// TestPopulationSummariesReachEveryInstance runs two instances in one
// group: each comes to know the summaries of the other's partitions, as
// the other published them.
func TestPopulationSummariesReachEveryInstance(t *testing.T) {
	c := startCluster(t, 4, "requests")
	addrs := c.ListenAddrs()
	opts := fastGroup(addrs, "g")
	opts.SaveEvery, opts.PopulationTopic = 200*time.Millisecond, "g.population"
	a, b := newRecorder(), newRecorder()
	a.name, b.name = "a", "b"
	stopA := consume(t, opts, a)
	defer stopA()
	stopB := consume(t, opts, b)
	defer stopB()
	testwait.For(t, 20*time.Second, "the instances to split the partitions", func() bool {
		return len(a.owned()) == 2 && len(b.owned()) == 2
	})
	produce(t, addrs, "requests", 0, 400)
	learnt := func(r, other *recorder) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range other.owned() {
			if string(r.fleet[p.String()]) != "summary of "+p.String()+" by "+other.name {
				return false
			}
		}
		return true
	}
	testwait.For(t, 20*time.Second, "each instance to know the other's summaries", func() bool {
		return learnt(a, b) && learnt(b, a)
	})
}

func (r *recorder) Fleet(_ context.Context, summaries map[string][]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fleet = summaries
	return nil
}

func (r *recorder) owned() []ingest.Partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.assigned)
}

// TestStalledReaderIsReplaced has the broker swallow every fetch for a
// while, answering nothing, as a kafka-go reader looks when it stalls
// after a rebalance or a broker restart: the consumer sees the lines
// waiting, replaces the reader, and reads them once the broker answers.
func TestStalledReaderIsReplaced(t *testing.T) {
	kc := kafkatest.Start(t, kafkatest.Topic("requests", 1))
	addrs := kc.Addrs()
	var swallowing atomic.Bool
	swallowing.Store(true)
	kc.Kfake().ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !swallowing.Load() {
			kc.Kfake().DropControl()
			return nil, nil, false
		}
		kc.Kfake().KeepControl()
		return nil, nil, true // handled, with no answer ever
	})
	produce(t, addrs, "requests", 0, 100)
	opts := fastGroup(addrs, "g")
	opts.StallAfter = 500 * time.Millisecond
	r := newRecorder()
	c, stop := startConsumer(t, opts, r)
	defer stop()
	testwait.For(t, 20*time.Second, "a stalled reader replaced", func() bool { return c.Stalls() >= 1 })
	if n := r.total(); n != 0 {
		t.Fatalf("%d lines read while every fetch was swallowed", n)
	}
	swallowing.Store(false)
	testwait.For(t, 20*time.Second, "the lines read by a fresh reader", func() bool { return r.total() == 100 })
}

// TestConsumerOverTLSAndSCRAM consumes from brokers that take only TLS
// with SCRAM-SHA-512, connecting from the settings a configuration gives;
// a wrong password is refused with an error that does not repeat it.
func TestConsumerOverTLSAndSCRAM(t *testing.T) {
	kc := kafkatest.Start(t, kafkatest.Topic("requests", 2), kafkatest.TLS(),
		kafkatest.SASL(kafkatest.ScramSHA512, "sentinel", "right-horse-battery"))
	w := &kafkago.Writer{Addr: kafkago.TCP(kc.Addrs()...), Topic: "requests", Transport: kc.Transport(t),
		Balancer: &kafkago.Hash{}, RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	for i := range 50 {
		if err := w.WriteMessages(context.Background(), kafkago.Message{Key: []byte(strconv.Itoa(i)), Value: []byte("line " + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	settings := func(password string) *config.Kafka {
		return &config.Kafka{Brokers: kc.Addrs(), ClientID: "sentinel",
			TLS:  &config.KafkaTLS{CAFile: kc.CAFile()},
			SASL: &config.KafkaSASL{Mechanism: "SCRAM-SHA-512", Username: "sentinel", Password: password}}
	}
	conn, err := NewConn(settings("right-horse-battery"))
	if err != nil {
		t.Fatal(err)
	}
	opts := fastGroup(kc.Addrs(), "g")
	opts.Conn = conn
	r := newRecorder()
	stop := consume(t, opts, r)
	testwait.For(t, 20*time.Second, "every line read over TLS and SCRAM", func() bool { return r.total() == 50 })
	stop()

	bad, err := NewConn(settings("wrong-password-here"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Conn = bad
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = NewConsumer(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "SASL Authentication Failed") {
		t.Errorf("a wrong password gave %v, want the brokers' SASL refusal", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong-password-here") {
		t.Error("the error repeats the password")
	}
}

// TestConsumerWaitsForBrokersDownAtStart starts a consumer while the
// brokers are down: it waits for them rather than failing, then reads.
func TestConsumerWaitsForBrokersDownAtStart(t *testing.T) {
	kc := kafkatest.Start(t, kafkatest.Topic("requests", 2), kafkatest.Persist())
	produce(t, kc.Addrs(), "requests", 0, 20)
	kc.Stop(t)
	r := newRecorder()
	started := make(chan func(), 1)
	go func() { started <- consume(t, fastGroup(kc.Addrs(), "g"), r) }()
	select {
	case <-started:
		t.Fatal("the consumer started with every broker down")
	case <-time.After(1500 * time.Millisecond): // a wait for nothing to happen
	}
	kc.Resume(t)
	stop := <-started
	defer stop()
	testwait.For(t, 20*time.Second, "the lines read once the brokers are back", func() bool { return r.total() == 20 })
}

// TestNewGroupStartsAtTheEndWhenTold starts a group with no committed offset
// at the end of the topic: the lines written before it are skipped, the
// ones after read. The default, the beginning, is what every other test
// here relies on.
func TestNewGroupStartsAtTheEndWhenTold(t *testing.T) {
	c := startCluster(t, 2, "requests")
	addrs := c.ListenAddrs()
	produce(t, addrs, "requests", 0, 50)
	opts := fastGroup(addrs, "late")
	opts.Latest = true
	r := newRecorder()
	cons, stop := startConsumer(t, opts, r)
	defer stop()
	// A partition's lag is known once its reader found where to start.
	testwait.For(t, 20*time.Second, "both partitions' readers placed", func() bool { return len(cons.Lag()) == 2 })
	produce(t, addrs, "requests", 50, 10)
	testwait.For(t, 20*time.Second, "the ten lines written after the start", func() bool { return r.total() >= 10 })
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ls := range r.lines {
		for _, l := range ls {
			if n, _ := strconv.Atoi(strings.TrimPrefix(l, "line ")); n < 50 {
				t.Errorf("read %q, written before the group started at the end", l)
			}
		}
	}
}

// TestMemberDroppedByTheGroupDoesNotOverwriteTheNewOwnersState holds an
// instance's save at a rebalance past the group's rebalance timeout, so
// that the group moves on without it and another takes its partitions
// and saves them. When its save comes, the coordinator's refusal keeps it
// from writing its stale states over the new owner's.
func TestMemberDroppedByTheGroupDoesNotOverwriteTheNewOwnersState(t *testing.T) {
	c := startCluster(t, 2, "requests")
	addrs := c.ListenAddrs()
	produce(t, addrs, "requests", 0, 100)
	opts := fastGroup(addrs, "g")
	opts.SaveEvery, opts.RebalanceTimeout = 200*time.Millisecond, time.Second
	a, b := newRecorder(), newRecorder()
	a.name, b.name = " by a", " by b"
	stopA := consume(t, opts, a)
	testwait.For(t, 20*time.Second, "a to read every line", func() bool { return a.total() == 100 })
	hold := make(chan struct{})
	a.mu.Lock()
	a.hold = hold
	a.mu.Unlock()
	stopB := consume(t, opts, b)
	testwait.For(t, 30*time.Second, "b to own both partitions", func() bool { return len(b.owned()) == 2 })
	produce(t, addrs, "requests", 100, 50)
	store, err := NewStore(context.Background(), &Conn{Brokers: addrs}, "g.state")
	if err != nil {
		t.Fatal(err)
	}
	parts := []ingest.Partition{{Topic: "requests", ID: 0}, {Topic: "requests", ID: 1}}
	byB := func() bool {
		states, _, err := store.Load(context.Background(), parts)
		if err != nil || len(states) != 2 {
			return false
		}
		for _, st := range states {
			if !strings.HasSuffix(string(st.Data), " by b") {
				return false
			}
		}
		return true
	}
	testwait.For(t, 30*time.Second, "b to save both partitions", byB)
	stopB() // nothing but a would write now
	close(hold)
	stopA()
	if !byB() {
		states, _, _ := store.Load(context.Background(), parts)
		for p, st := range states {
			t.Errorf("%s's saved state is %q at %d: the dropped member wrote over the new owner's", p, st.Data, st.Offset)
		}
	}
}

// TestMissingTopicIsRefused names a topic that does not exist: the
// consumer refuses to start, saying which, instead of rebalancing
// without end on a group that has nothing to assign.
func TestMissingTopicIsRefused(t *testing.T) {
	c := startCluster(t, 2, "requests")
	opts := fastGroup(c.ListenAddrs(), "g")
	opts.Topics = []string{"requests", "reqeusts"}
	_, err := NewConsumer(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), `topic "reqeusts" does not exist`) || strings.Contains(err.Error(), `"requests"`) {
		t.Errorf("a missing topic gave %v, want it named", err)
	}
}
