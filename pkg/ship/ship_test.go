package ship

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sentinel-project/sentinel/internal/kafkatest"
	"github.com/sentinel-project/sentinel/internal/testlog"
	"github.com/sentinel-project/sentinel/internal/testwait"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/ingest"
	"github.com/sentinel-project/sentinel/pkg/kafka"
)

const topic = "requests"

// line is a canonical log line whose bytes field numbers it, so that
// every line shipped can be told apart in the topic.
func line(n int) string {
	return fmt.Sprintf(`{"ts":"2026-05-14T09:21:07Z","token":"pm-live-token-%02d","ip":"198.51.100.%d",`+
		`"method":"GET","path":"/messages","status":200,"bytes":%d,"messages":5,"ua":"t"}`, n%7, n%200, n)
}

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for n := from; n < to; n++ {
		if _, err := fmt.Fprintln(f, line(n)); err != nil {
			t.Fatal(err)
		}
	}
}

// shipped reads the topic with kcat and counts each line number
// (the record's bytes) shipped.
func shipped(t *testing.T, brokers []string) map[int64]int {
	t.Helper()
	m, err := ingest.Preset(ingest.FormatShipped)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ingest.NewParser(m, ingest.DefaultPullRules(ingest.FormatShipped))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	var rec ingest.Record
	for _, kv := range kafkatest.Consume(t, brokers, topic) {
		if err := p.Parse([]byte(kv.Value), &rec); err != nil {
			t.Fatalf("shipped record %q: %v", kv.Value, err)
		}
		if kv.Key != rec.Cred.FP {
			t.Fatalf("record %q keyed %q, want its fingerprint", kv.Value, kv.Key)
		}
		seen[rec.Bytes]++
	}
	return seen
}

// allOnce reports whether lines [0, n) were each shipped at least once.
func allIn(seen map[int64]int, n int) bool {
	for i := range n {
		if seen[int64(i)] == 0 {
			return false
		}
	}
	return true
}

type shipRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	stats  Stats
	err    error
}

func (r *shipRun) stop(t *testing.T) Stats {
	t.Helper()
	r.cancel()
	<-r.done
	if r.err != nil {
		t.Fatalf("ship.Run: %v", r.err)
	}
	return r.stats
}

func options(t *testing.T, brokers []string, stateDir string, paths ...string) Options {
	t.Helper()
	m, err := ingest.Preset(ingest.FormatCanonical)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.NewConn(&config.Kafka{Brokers: brokers, ClientID: "ship-test"})
	if err != nil {
		t.Fatal(err)
	}
	prod := kafka.NewProducer(conn)
	t.Cleanup(func() { prod.Close() })
	return Options{
		Sources: []engine.Source{{Paths: paths,
			Format: engine.Format{Mapping: m, Pull: ingest.DefaultPullRules(ingest.FormatCanonical)}}},
		Producer: prod, Topic: topic, StateDir: stateDir, Brokers: brokers, Logger: zerolog.Nop(),
		PollInterval: 10 * time.Millisecond, SaveEvery: 20 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	}
}

func start(o Options) *shipRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &shipRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.stats, r.err = Run(ctx, o)
	}()
	return r
}

// TestStopMidFileLosesNothing stops the shipper while it is part way
// through a file and starts it again: every line arrives, and the lines
// acknowledged before the stop are not shipped again.
func TestStopMidFileLosesNothing(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic(topic, 3))
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	const n, batch = 3000, 100
	appendLines(t, path, 0, n)
	o := options(t, c.Addrs(), filepath.Join(dir, "state"), path)
	o.MaxBatch = batch
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Progress = func(s Stats) {
		if s.Shipped >= 1000 {
			cancel()
		}
	}
	first, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if first.Shipped < 1000 || first.Shipped >= n {
		t.Fatalf("the first run shipped %d lines, want a stop part way through the %d", first.Shipped, n)
	}
	o.Progress = nil
	r := start(o)
	defer r.stop(t)
	var seen map[int64]int
	testwait.For(t, 10*time.Second, "every line shipped after the restart", func() bool {
		seen = shipped(t, c.Addrs())
		return allIn(seen, n)
	})
	total := 0
	for _, k := range seen {
		total += k
	}
	if total > n+batch {
		t.Errorf("%d records for %d lines: the restart shipped again what was acknowledged before the stop", total, n)
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBrokerDownAtStart starts the shipper before the broker: the lines
// wait, and arrive once the broker listens. The outage and the
// connection are each logged once.
func TestBrokerDownAtStart(t *testing.T) {
	port := freePort(t)
	brokers := []string{"127.0.0.1:" + strconv.Itoa(port)}
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendLines(t, path, 0, 50)
	o := options(t, brokers, filepath.Join(dir, "state"), path)
	var log testlog.Buffer
	o.Logger = zerolog.New(&log)
	r := start(o)
	defer r.stop(t)
	testwait.For(t, 5*time.Second, "the outage to be logged", func() bool { return log.Count("Kafka unreachable") > 0 })
	c := kafkatest.Start(t, kafkatest.Topic(topic, 3), kafkatest.Kfake(kfake.Ports(port)))
	appendLines(t, path, 50, 100)
	testwait.For(t, 10*time.Second, "every line shipped once the broker is up", func() bool {
		return allIn(shipped(t, c.Addrs()), 100)
	})
	if n := log.Count("Kafka unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, log.String())
	}
	if n := log.Count("connected to Kafka"); n != 1 {
		t.Errorf("the connection was logged %d times, want once:\n%s", n, log.String())
	}
}

// TestBrokerRestart closes the broker while lines are being shipped and
// opens it again on the same port and data: the lines written meanwhile
// arrive.
func TestBrokerRestart(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic(topic, 3), kafkatest.Persist())
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendLines(t, path, 0, 50)
	r := start(options(t, c.Addrs(), filepath.Join(dir, "state"), path))
	defer r.stop(t)
	testwait.For(t, 10*time.Second, "the first lines shipped", func() bool { return allIn(shipped(t, c.Addrs()), 50) })
	c.Restart(t)
	appendLines(t, path, 50, 100)
	testwait.For(t, 10*time.Second, "the lines written across the restart shipped", func() bool {
		return allIn(shipped(t, c.Addrs()), 100)
	})
}

// TestRotatedFileKeepsShipping renames the file away, appends to it
// under its new name as a writer that has not reopened yet would, and
// starts a new file: every line of both arrives.
func TestRotatedFileKeepsShipping(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic(topic, 3))
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendLines(t, path, 0, 100)
	r := start(options(t, c.Addrs(), filepath.Join(dir, "state"), path))
	defer r.stop(t)
	testwait.For(t, 10*time.Second, "the first file shipped", func() bool { return allIn(shipped(t, c.Addrs()), 100) })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path+".1", 100, 110)
	appendLines(t, path, 110, 200)
	testwait.For(t, 10*time.Second, "the rotated and the new file shipped", func() bool {
		return allIn(shipped(t, c.Addrs()), 200)
	})
}

// TestStateDirIsLocked refuses a second shipper on the same positions.
func TestStateDirIsLocked(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic(topic, 1))
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendLines(t, path, 0, 1)
	o := options(t, c.Addrs(), filepath.Join(dir, "state"), path)
	r := start(o)
	defer r.stop(t)
	testwait.For(t, 10*time.Second, "the line shipped", func() bool { return allIn(shipped(t, c.Addrs()), 1) })
	if _, err := Run(context.Background(), o); err == nil {
		t.Fatal("a second shipper ran on a locked state directory")
	}
}

// TestTooLargeRecordIsCountedNotRetried ships a line whose record no
// broker takes: it is counted as rejected and the lines after it arrive.
func TestTooLargeRecordIsCountedNotRetried(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic(topic, 1))
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	huge := `{"ts":"2026-05-14T09:21:07Z","token":"pm-live-huge","bytes":999999,"ua":"` + strings.Repeat("x", 1<<20-100) + `"}`
	if err := os.WriteFile(path, []byte(huge+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, 0, 10)
	r := start(options(t, c.Addrs(), filepath.Join(dir, "state"), path))
	testwait.For(t, 10*time.Second, "the lines after the huge one shipped", func() bool { return allIn(shipped(t, c.Addrs()), 10) })
	if st := r.stop(t); st.Rejected[ReasonTooLarge] != 1 || st.Shipped != 10 {
		t.Errorf("stats %+v, want 10 shipped and 1 rejected as too large", st)
	}
}
