// Package kafkatest runs an in-process Kafka broker (franz-go's kfake) on
// loopback for tests, so that the Kafka source can be tested against a
// real wire protocol without a JVM, a container or a network. It also
// drives Debian's kcat, a librdkafka client independent of the Go client
// under test, to produce and read topics from outside.
package kafkatest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASL mechanisms kfake and the helpers here understand.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// MinSessionTimeout is the smallest group session timeout the cluster
// accepts. kfake's default (6 s, like Kafka's) would make every test that
// waits for a dead member take seconds; FastGroup uses timeouts above it.
const MinSessionTimeout = 100 * time.Millisecond

type config struct {
	brokers int
	topics  map[string]int
	persist bool
	tls     bool
	mech    string
	user    string
	pass    string
	extra   []kfake.Opt
}

// Option configures Start.
type Option func(*config)

// Brokers sets the number of brokers (default 1). With 3, partition
// leaders and the group coordinator are spread over several ports, as on a
// real cluster.
func Brokers(n int) Option { return func(c *config) { c.brokers = n } }

// Topic seeds a topic with the given number of partitions. kfake seeds
// topics only into an empty data dir: after Restart they come from disk.
func Topic(name string, partitions int) Option {
	return func(c *config) { c.topics[name] = partitions }
}

// Persist keeps the cluster's log and group state in a t.TempDir(), so
// that Restart brings back what was produced and committed.
func Persist() Option { return func(c *config) { c.persist = true } }

// SASL requires clients to authenticate with mechanism (Plain,
// ScramSHA256 or ScramSHA512) as user/pass, a superuser.
func SASL(mechanism, user, pass string) Option {
	return func(c *config) { c.mech, c.user, c.pass = mechanism, user, pass }
}

// TLS makes the brokers speak TLS with a certificate for 127.0.0.1 signed
// by a CA made for this test; clients trust it through ClientTLS or CAFile.
func TLS() Option { return func(c *config) { c.tls = true } }

// Kfake passes options through to kfake.NewCluster, for what this package
// does not wrap.
func Kfake(opts ...kfake.Opt) Option {
	return func(c *config) { c.extra = append(c.extra, opts...) }
}

// Cluster is a running kfake cluster listening on 127.0.0.1.
type Cluster struct {
	cfg     config
	dataDir string
	ca      *testCA
	caFile  string

	mu      sync.Mutex
	kf      *kfake.Cluster
	addrs   []string
	stopped []int // ports, between Stop and Resume
	// cut is read by the connection-dropping control function, which
	// kfake runs on its own goroutine.
	cut     atomic.Bool
	dropped atomic.Int64
}

// Start starts a cluster and closes it when the test ends.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	cfg := config{brokers: 1, topics: map[string]int{}}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Cluster{cfg: cfg}
	if cfg.persist {
		c.dataDir = t.TempDir()
	}
	if cfg.tls {
		c.ca = newTestCA(t)
		c.caFile = c.ca.writeCAFile(t)
	}
	c.start(t, nil)
	t.Cleanup(c.close)
	return c
}

func (c *Cluster) start(t testing.TB, ports []int) {
	t.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(c.cfg.brokers),
		kfake.GroupMinSessionTimeout(MinSessionTimeout),
	}
	for name, n := range c.cfg.topics {
		opts = append(opts, kfake.SeedTopics(int32(n), name))
	}
	if ports != nil {
		opts = append(opts, kfake.Ports(ports...))
	}
	if c.dataDir != "" {
		opts = append(opts, kfake.DataDir(c.dataDir))
	}
	if c.cfg.mech != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(c.cfg.mech, c.cfg.user, c.cfg.pass))
	}
	if c.ca != nil {
		opts = append(opts, kfake.TLS(c.ca.serverConfig()))
	}
	opts = append(opts, c.cfg.extra...)
	kf, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kafkatest: starting kfake: %v", err)
	}
	// Every request passes this control first: while DropConnections is
	// in force it answers with an error, which makes kfake close the
	// client's connection; otherwise it lets kfake handle the request.
	kf.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		if c.cut.Load() {
			c.dropped.Add(1)
			return nil, errDropped, true
		}
		return nil, nil, false
	})
	c.mu.Lock()
	c.kf = kf
	c.addrs = kf.ListenAddrs()
	c.mu.Unlock()
}

type droppedError struct{}

func (droppedError) Error() string { return "kafkatest: connection dropped" }

var errDropped error = droppedError{}

func (c *Cluster) close() {
	c.mu.Lock()
	kf := c.kf
	c.mu.Unlock()
	kf.Close()
}

// Addrs returns the brokers' host:port addresses, all on 127.0.0.1. They
// stay the same across Restart.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.addrs...)
}

// Kfake returns the underlying kfake cluster, for its fault injection and
// introspection (Fault, GroupInfo, PartitionInfo...). It changes on Restart.
func (c *Cluster) Kfake() *kfake.Cluster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kf
}

// Restart closes the cluster and starts it again on the same ports, as a
// broker restart looks to clients: every connection breaks and the
// addresses refuse connections until the new brokers listen. With Persist,
// kfake saves all of its state on Close and reloads it, so records and
// committed group offsets survive (no SyncWrites needed: the close is
// clean); without it the new cluster is empty but for the seeded topics.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.Stop(t)
	c.Resume(t)
}

// Stop closes the cluster, keeping its ports and data dir for Resume: a
// broker that is down for as long as the test wants, say until a client
// has reported the outage.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	kf, addrs := c.kf, c.addrs
	c.mu.Unlock()
	ports := make([]int, len(addrs))
	for i, a := range addrs {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatalf("kafkatest: address %q: %v", a, err)
		}
		if ports[i], err = strconv.Atoi(p); err != nil {
			t.Fatalf("kafkatest: address %q: %v", a, err)
		}
	}
	kf.Close()
	c.mu.Lock()
	c.stopped = ports
	c.mu.Unlock()
}

// Resume starts a stopped cluster again on its old ports.
func (c *Cluster) Resume(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	ports := c.stopped
	c.stopped = nil
	c.mu.Unlock()
	if ports == nil {
		t.Fatal("kafkatest: Resume without Stop")
	}
	c.start(t, ports)
}

// DropConnections closes every client connection as soon as it sends a
// request, and keeps doing so, reconnects included, until the returned
// function is called. kfake has no way to close idle connections, so a
// client that sends nothing in between notices only when it next does.
// Clients see an EOF or a reset, as when a broker's network goes away.
func (c *Cluster) DropConnections() (restore func()) {
	c.cut.Store(true)
	return func() { c.cut.Store(false) }
}

// Dropped counts the connections DropConnections has closed so far, so
// that a test can wait until a client has noticed the cut.
func (c *Cluster) Dropped() int64 { return c.dropped.Load() }

// CAPool returns the pool holding the test CA, nil without TLS.
func (c *Cluster) CAPool() *x509.CertPool {
	if c.ca == nil {
		return nil
	}
	return c.ca.pool
}

// CAFile is the test CA's certificate as a PEM file, for kcat and other
// processes; "" without TLS.
func (c *Cluster) CAFile() string { return c.caFile }

// ClientTLS returns a client TLS config trusting the test CA, nil without
// TLS.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.ca == nil {
		return nil
	}
	return &tls.Config{RootCAs: c.ca.pool, MinVersion: tls.VersionTLS12}
}

// SASLMechanism returns kafka-go's mechanism for the cluster's superuser,
// nil without SASL.
func (c *Cluster) SASLMechanism(t testing.TB) sasl.Mechanism {
	t.Helper()
	switch c.cfg.mech {
	case "":
		return nil
	case Plain:
		return plain.Mechanism{Username: c.cfg.user, Password: c.cfg.pass}
	case ScramSHA256, ScramSHA512:
		algo := scram.SHA256
		if c.cfg.mech == ScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.cfg.user, c.cfg.pass)
		if err != nil {
			t.Fatalf("kafkatest: scram: %v", err)
		}
		return m
	}
	t.Fatalf("kafkatest: unknown SASL mechanism %q", c.cfg.mech)
	return nil
}

// Dialer returns a kafka-go dialer with the cluster's TLS and SASL, for
// Readers, ConsumerGroups and Conns.
func (c *Cluster) Dialer(t testing.TB) *kafka.Dialer {
	t.Helper()
	return &kafka.Dialer{
		Timeout:       5 * time.Second,
		DualStack:     false,
		TLS:           c.ClientTLS(),
		SASLMechanism: c.SASLMechanism(t),
	}
}

// Transport returns a kafka-go transport with the cluster's TLS and SASL,
// for Writers and Clients. It is closed at test end.
func (c *Cluster) Transport(t testing.TB) *kafka.Transport {
	t.Helper()
	tr := &kafka.Transport{TLS: c.ClientTLS(), SASL: c.SASLMechanism(t)}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// FastGroup returns a consumer group config for the cluster with timings
// cut from kafka-go's defaults (3 s heartbeat, 30 s session and rebalance,
// 5 s join backoff) so that joins, rebalances and the loss of a member
// take tens of milliseconds to a second rather than most of a minute.
func (c *Cluster) FastGroup(t testing.TB, id string, topics ...string) kafka.ConsumerGroupConfig {
	t.Helper()
	return kafka.ConsumerGroupConfig{
		ID:                id,
		Brokers:           c.Addrs(),
		Dialer:            c.Dialer(t),
		Topics:            topics,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    time.Second,
		RebalanceTimeout:  2 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		Timeout:           5 * time.Second,
		StartOffset:       kafka.FirstOffset,
	}
}
